//! The real camera: Video4Linux2 memory-mapped streaming (feature
//! `camera-v4l2`). Works with USB (UVC) webcams and with the Raspberry Pi
//! camera through its V4L2 driver.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::convert::{grey_to_gray, mjpeg_to_gray, yuyv_to_gray, ConvertError};
use super::{Camera, CameraError, Frame, PixelFormat};
use crate::clock::Clock;
use crate::kind::ErrorKind;

/// Number of memory-mapped buffers requested from the driver.
const BUFFERS: u32 = 4;

/// What to ask the camera for.
#[derive(Clone, Debug, PartialEq)]
pub struct V4l2Config {
    /// Device node, e.g. `/dev/video0`.
    pub device: PathBuf,
    /// Pixel formats in order of preference.
    pub formats: Vec<PixelFormat>,
    /// Wanted frame size; the driver may pick the nearest it supports.
    pub width: u32,
    /// Wanted frame height.
    pub height: u32,
    /// Wanted frame rate.
    pub fps: u32,
    /// How long to wait for a frame before reporting [`ErrorKind::Timeout`].
    pub timeout: Duration,
}

/// A V4L2 capture device delivering grayscale frames.
pub struct V4l2Camera<C: Clock> {
    device: String,
    // The stream holds its own reference to the device handle. In an
    // `Option` so `Drop` can contain the panic v4l raises when stopping a
    // stream fails with anything but `ENODEV`.
    stream: Option<Stream<'static>>,
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    fps: u32,
    clock: C,
    sequence: u64,
}

fn open_error(device: &Path, e: &io::Error) -> CameraError {
    let kind = ErrorKind::from_io(e);
    let fix = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "add the user to the `video` group (`sudo usermod -aG video $USER`, then log in again)"
        }
        Some(libc::EBUSY) => "another program is using the camera; stop it",
        _ if kind == ErrorKind::Disconnected => {
            "is the camera plugged in? `v4l2-ctl --list-devices` lists the cameras; \
             set `camera.device` in the board profile or pass `--camera v4l2:/dev/videoN`"
        }
        _ => "check `dmesg` for driver errors",
    };
    CameraError::Open {
        device: device.display().to_string(),
        reason: e.to_string(),
        fix,
        kind,
    }
}

impl<C: Clock> V4l2Camera<C> {
    /// Opens the device and negotiates the first of `config.formats` it
    /// supports at (or near) the wanted size and rate.
    ///
    /// A missing device (`ENOENT`, `ENODEV`) gives an error of kind
    /// [`ErrorKind::Disconnected`] naming the device and the fix.
    pub fn open(config: &V4l2Config, clock: C) -> Result<Self, CameraError> {
        let path = config.device.as_path();
        let name = path.display().to_string();
        let wanted = format!(
            "{}x{} {} @ {} fps",
            config.width,
            config.height,
            config
                .formats
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            config.fps
        );
        let unsupported = |reason: String| CameraError::Unsupported {
            device: name.clone(),
            wanted: wanted.clone(),
            reason,
        };
        let dev = Device::with_path(path).map_err(|e| open_error(path, &e))?;
        let caps = dev.query_caps().map_err(|e| open_error(path, &e))?;
        if !caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_CAPTURE)
        {
            return Err(unsupported(format!(
                "{} ({}) is not a video capture device",
                caps.card, caps.driver
            )));
        }
        let offered: Vec<PixelFormat> = dev
            .enum_formats()
            .map_err(|e| open_error(path, &e))?
            .iter()
            .filter_map(|d| PixelFormat::from_fourcc(d.fourcc.repr))
            .collect();
        let format = config
            .formats
            .iter()
            .copied()
            .find(|f| offered.contains(f))
            .ok_or_else(|| {
                unsupported(format!(
                    "it offers {}",
                    if offered.is_empty() {
                        "none of GREY, YUYV, MJPG".to_string()
                    } else {
                        offered
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            })?;
        let want = v4l::Format::new(config.width, config.height, FourCC::new(&format.fourcc()));
        let got = dev.set_format(&want).map_err(|e| open_error(path, &e))?;
        if got.fourcc != want.fourcc {
            return Err(unsupported(format!(
                "the driver switched to {}",
                got.fourcc
            )));
        }
        if got.width != config.width || got.height != config.height {
            log::warn!(
                "camera {name}: asked for {}x{}, the driver chose {}x{}",
                config.width,
                config.height,
                got.width,
                got.height
            );
        }
        let params = dev
            .set_params(&v4l::video::capture::Parameters::with_fps(config.fps))
            .map_err(|e| open_error(path, &e))?;
        let fps = params
            .interval
            .denominator
            .checked_div(params.interval.numerator)
            .unwrap_or(config.fps);
        if fps != config.fps {
            log::warn!(
                "camera {name}: asked for {} fps, the driver chose {fps}",
                config.fps
            );
        }
        let stride = match format {
            PixelFormat::Grey => (got.stride as usize).max(got.width as usize),
            PixelFormat::Yuyv => (got.stride as usize).max(2 * got.width as usize),
            PixelFormat::Mjpeg => 0,
        };
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, BUFFERS)
            .map_err(|e| open_error(path, &e))?;
        stream.set_timeout(config.timeout);
        log::info!(
            "camera {name}: {} ({}), {}x{} {format} @ {fps} fps",
            caps.card,
            caps.driver,
            got.width,
            got.height
        );
        Ok(V4l2Camera {
            device: name,
            stream: Some(stream),
            format,
            width: got.width,
            height: got.height,
            stride,
            fps,
            clock,
            sequence: 0,
        })
    }

    /// The negotiated pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The negotiated frame size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl<C: Clock> Camera for V4l2Camera<C> {
    fn describe(&self) -> String {
        format!(
            "v4l2:{} {}x{} {} @ {} fps",
            self.device, self.width, self.height, self.format, self.fps
        )
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError> {
        let stream = self.stream.as_mut().ok_or_else(|| CameraError::Capture {
            device: self.device.clone(),
            reason: "the stream is closed".into(),
            kind: ErrorKind::Disconnected,
        })?;
        let (buf, meta) = stream.next().map_err(|e| CameraError::Capture {
            device: self.device.clone(),
            reason: e.to_string(),
            kind: ErrorKind::from_io(&e),
        })?;
        let timestamp_ms = self.clock.now_ms();
        let sequence = self.sequence;
        self.sequence += 1;
        let used = (meta.bytesused as usize).min(buf.len());
        let data = if used > 0 { &buf[..used] } else { buf };
        let corrupt = |e: ConvertError| CameraError::Corrupt {
            device: self.device.clone(),
            sequence,
            reason: e.to_string(),
        };
        let (width, height) = match self.format {
            PixelFormat::Grey => {
                grey_to_gray(data, self.width, self.height, self.stride, &mut frame.gray)
                    .map_err(corrupt)?;
                (self.width, self.height)
            }
            PixelFormat::Yuyv => {
                yuyv_to_gray(data, self.width, self.height, self.stride, &mut frame.gray)
                    .map_err(corrupt)?;
                (self.width, self.height)
            }
            PixelFormat::Mjpeg => mjpeg_to_gray(data, &mut frame.gray).map_err(corrupt)?,
        };
        frame.width = width;
        frame.height = height;
        frame.timestamp_ms = timestamp_ms;
        frame.sequence = sequence;
        Ok(())
    }
}

impl<C: Clock> Drop for V4l2Camera<C> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            let stopped =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(stream)));
            if stopped.is_err() {
                log::warn!("camera {}: stopping the stream failed", self.device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;

    fn config(device: &str) -> V4l2Config {
        V4l2Config {
            device: device.into(),
            formats: vec![PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg],
            width: 640,
            height: 480,
            fps: 15,
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn missing_device_is_disconnected_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("video9");
        let err = V4l2Camera::open(&config(path.to_str().unwrap()), MockClock::default())
            .err()
            .expect("a missing device must not open");
        assert_eq!(err.kind(), ErrorKind::Disconnected);
        let msg = err.to_string();
        assert!(msg.contains("video9"), "{msg}");
        assert!(msg.contains("plugged in"), "{msg}");
    }

    #[test]
    fn dev_video0_absent_or_present_never_panics() {
        match V4l2Camera::open(&config("/dev/video0"), MockClock::default()) {
            Ok(cam) => assert!(cam.describe().starts_with("v4l2:/dev/video0")),
            Err(e) => {
                if !Path::new("/dev/video0").exists() {
                    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
                }
                assert!(e.to_string().contains("/dev/video0"), "{e}");
            }
        }
    }

    #[test]
    fn a_regular_file_is_not_a_camera() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = V4l2Camera::open(&config(file.path().to_str().unwrap()), MockClock::default())
            .err()
            .expect("a regular file is not a camera");
        assert_ne!(err.kind(), ErrorKind::Disconnected);
        assert!(err.to_string().contains(file.path().to_str().unwrap()));
    }
}
