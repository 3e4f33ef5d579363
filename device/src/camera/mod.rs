//! Cameras: a small [`Camera`] trait with a real implementation
//! ([`v4l2`], feature `camera-v4l2`), a replay of image files
//! ([`replay`]) and a scripted mock for tests ([`mock`]).
//!
//! Every camera delivers 8-bit grayscale frames, which is all the face
//! detector and classifier need.

pub mod convert;
pub mod mock;
pub mod replay;
#[cfg(feature = "camera-v4l2")]
pub mod v4l2;

use std::fmt;

use serde::Deserialize;

use crate::kind::ErrorKind;

/// Pixel formats the V4L2 camera can negotiate, in board-profile spelling
/// (the V4L2 fourcc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum PixelFormat {
    /// 8-bit grayscale: used as is.
    #[serde(rename = "GREY")]
    Grey,
    /// Packed YUV 4:2:2: the Y (luma) bytes are kept.
    #[serde(rename = "YUYV")]
    Yuyv,
    /// Motion JPEG: each frame is decoded to luma.
    #[serde(rename = "MJPG")]
    Mjpeg,
}

impl PixelFormat {
    /// The V4L2 fourcc code.
    pub const fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
        }
    }

    /// The format with this fourcc, if supported.
    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg]
            .into_iter()
            .find(|f| f.fourcc() == code)
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.fourcc();
        f.write_str(std::str::from_utf8(&code).unwrap_or("????"))
    }
}

/// One grayscale camera frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// `width * height` luma bytes, row-major, no padding.
    pub gray: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// When the frame was captured, in milliseconds of the camera's clock.
    pub timestamp_ms: u64,
    /// Frame counter of this camera, from 0.
    pub sequence: u64,
}

impl Frame {
    /// A frame of `width * height` pixels all equal to `value`.
    pub fn filled(width: u32, height: u32, value: u8) -> Frame {
        Frame {
            gray: vec![value; width as usize * height as usize],
            width,
            height,
            timestamp_ms: 0,
            sequence: 0,
        }
    }

    /// The shared face-preprocessing view of this frame.
    pub fn view(
        &self,
    ) -> Result<emoedge_shared::face::GrayFrame<'_>, emoedge_shared::face::FaceError> {
        emoedge_shared::face::GrayFrame::packed(
            &self.gray,
            self.width as usize,
            self.height as usize,
        )
    }
}

/// Why a camera could not deliver a frame. [`CameraError::kind`] tells the
/// loop whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The camera could not be opened.
    #[error("cannot open camera {device}: {reason}; {fix}")]
    Open {
        /// Device path or source description.
        device: String,
        /// What failed.
        reason: String,
        /// What to do about it.
        fix: &'static str,
        /// Failure kind.
        kind: ErrorKind,
    },
    /// The camera offers none of the wanted pixel formats or sizes.
    #[error("camera {device} cannot deliver {wanted}: {reason}; pick another format or resolution in the board profile (`v4l2-ctl -d {device} --list-formats-ext` lists what it supports)")]
    Unsupported {
        /// Device path.
        device: String,
        /// The wanted mode, e.g. `640x480 GREY/YUYV/MJPG @ 15 fps`.
        wanted: String,
        /// What the device said.
        reason: String,
    },
    /// Capturing a frame failed.
    #[error("camera {device}: capture failed ({kind}): {reason}{}", hint(*.kind))]
    Capture {
        /// Device path.
        device: String,
        /// What failed.
        reason: String,
        /// Failure kind.
        kind: ErrorKind,
    },
    /// A frame could not be decoded (bad MJPEG data, unreadable image).
    #[error("camera {device}: frame {sequence} is corrupt ({reason}); it is skipped")]
    Corrupt {
        /// Device path or replay file.
        device: String,
        /// Frame counter.
        sequence: u64,
        /// The decoder's message.
        reason: String,
    },
    /// A replay has no more frames.
    #[error("camera {device}: end of replay after {frames} frames")]
    EndOfStream {
        /// Replay source.
        device: String,
        /// Frames delivered.
        frames: u64,
    },
    /// A scripted failure from [`mock::MockCamera`].
    #[error("mock camera: scripted {0} failure")]
    Scripted(ErrorKind),
}

fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Disconnected => {
            "; the camera was unplugged or its driver stopped: check the cable and `dmesg`"
        }
        ErrorKind::Timeout => {
            "; no frame arrived in time: the camera may be stalled or too dark for its exposure"
        }
        _ => "",
    }
}

impl CameraError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CameraError::Open { kind, .. } | CameraError::Capture { kind, .. } => *kind,
            CameraError::Unsupported { .. } => ErrorKind::Other,
            CameraError::Corrupt { .. } => ErrorKind::Corrupt,
            CameraError::EndOfStream { .. } => ErrorKind::EndOfStream,
            CameraError::Scripted(kind) => *kind,
        }
    }
}

/// A source of grayscale frames.
pub trait Camera {
    /// Short description for logs, e.g. `v4l2:/dev/video0 640x480 YUYV @ 15 fps`.
    fn describe(&self) -> String;

    /// Captures the next frame into `frame`, reusing its buffer (no
    /// allocation once the buffer has grown to the frame size).
    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError>;

    /// Captures the next frame into a new [`Frame`].
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let mut frame = Frame::default();
        self.read_frame(&mut frame)?;
        Ok(frame)
    }
}

impl<T: Camera + ?Sized> Camera for Box<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError> {
        (**self).read_frame(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_round_trip_and_display() {
        for f in [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg] {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"RGB3"), None);
        assert_eq!(PixelFormat::Mjpeg.to_string(), "MJPG");
    }

    #[test]
    fn error_kinds_and_messages() {
        let e = CameraError::Capture {
            device: "/dev/video2".into(),
            reason: "No such device".into(),
            kind: ErrorKind::Disconnected,
        };
        assert_eq!(e.kind(), ErrorKind::Disconnected);
        let msg = e.to_string();
        assert!(
            msg.contains("/dev/video2") && msg.contains("unplugged"),
            "{msg}"
        );
        assert_eq!(
            CameraError::EndOfStream {
                device: "x".into(),
                frames: 3
            }
            .kind(),
            ErrorKind::EndOfStream
        );
    }

    #[test]
    fn frame_view_matches_the_shared_type() {
        let f = Frame::filled(4, 3, 7);
        let v = f.view().unwrap();
        assert_eq!((v.width(), v.height()), (4, 3));
        assert_eq!(v.get(3, 2), Some(7));
    }
}
