//! A camera that replays image files: every image of a folder in name
//! order, or a single image, at a fixed frame rate or as fast as possible.

use std::path::{Path, PathBuf};
use std::time::Duration;

use emoedge_shared::io::{load_gray, GrayImage};

use super::{Camera, CameraError, Frame};
use crate::clock::Clock;
use crate::kind::ErrorKind;

/// File extensions a replay folder is scanned for (case-insensitive).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "bmp", "gif", "pgm", "ppm", "pnm", "tif", "tiff", "webp",
];

/// How a replay is paced and whether it loops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayOptions {
    /// Frames per second; `None` delivers frames as fast as they are read.
    pub fps: Option<f32>,
    /// Start again from the first image after the last one. A replay that
    /// does not loop reports [`ErrorKind::EndOfStream`] at its end.
    pub looping: bool,
}

enum Source {
    /// Folder images, decoded one by one as they are replayed.
    Files(Vec<PathBuf>),
    /// A single image, decoded once.
    Single(GrayImage),
}

/// Replays image files as camera frames.
///
/// Frame `n` is due `n / fps` seconds after the first read; the camera
/// waits on its [`Clock`] until then and stamps the frame with the due time
/// (or the current time when the reader is late). No frame is ever
/// skipped, so a slow reader sees every image, later than real time.
pub struct ReplayCamera<C: Clock> {
    name: String,
    source: Source,
    options: ReplayOptions,
    clock: C,
    next: usize,
    sequence: u64,
    start: Option<Duration>,
}

impl<C: Clock> ReplayCamera<C> {
    /// Opens `path`: a folder (every image file in it, sorted by file name;
    /// zero-pad numbers so `frame010.png` sorts after `frame009.png`) or a
    /// single image file.
    pub fn open(path: &Path, options: ReplayOptions, clock: C) -> Result<Self, CameraError> {
        let name = path.display().to_string();
        let open_err = |reason: String, fix: &'static str, kind: ErrorKind| CameraError::Open {
            device: format!("replay:{name}"),
            reason,
            fix,
            kind,
        };
        if let Some(fps) = options.fps {
            if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
                return Err(open_err(
                    format!("frame rate {fps} is not in (0, 1000]"),
                    "give a positive fps, e.g. `replay:frames/?fps=15`",
                    ErrorKind::Other,
                ));
            }
        }
        // A missing replay is a wrong path, not an unplugged device that
        // may come back: `Other`, so the loop stops instead of retrying.
        let meta = std::fs::metadata(path)
            .map_err(|e| open_err(e.to_string(), "check the replay path", ErrorKind::Other))?;
        let source = if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| {
                open_err(
                    e.to_string(),
                    "check the folder's permissions",
                    ErrorKind::Other,
                )
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
            if files.is_empty() {
                return Err(open_err(
                    "the folder contains no image files".into(),
                    "put PNG/JPEG/BMP/PGM... frames in it, or give a single image",
                    ErrorKind::Other,
                ));
            }
            Source::Files(files)
        } else {
            let img = load_gray(path).map_err(|e| {
                open_err(
                    e.to_string(),
                    "give a readable image file",
                    ErrorKind::Other,
                )
            })?;
            Source::Single(img)
        };
        Ok(ReplayCamera {
            name,
            source,
            options,
            clock,
            next: 0,
            sequence: 0,
            start: None,
        })
    }

    /// Number of distinct images in the replay.
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Files(f) => f.len(),
            Source::Single(_) => 1,
        }
    }

    /// Always `false`: an empty replay cannot be opened.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Waits until frame `sequence` is due; returns its timestamp.
    fn pace(&mut self) -> Duration {
        let now = self.clock.now();
        let start = *self.start.get_or_insert(now);
        match self.options.fps {
            Some(fps) => {
                let due = start + Duration::from_secs_f64(self.sequence as f64 / f64::from(fps));
                self.clock.sleep_until(due);
                due.max(now)
            }
            None => now,
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        .unwrap_or(false)
}

impl<C: Clock> Camera for ReplayCamera<C> {
    fn describe(&self) -> String {
        let pace = match self.options.fps {
            Some(fps) => format!("{fps} fps"),
            None => "as fast as possible".into(),
        };
        let looping = if self.options.looping {
            ", looping"
        } else {
            ""
        };
        format!(
            "replay:{} ({} images, {pace}{looping})",
            self.name,
            self.len()
        )
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError> {
        if self.next >= self.len() {
            if !self.options.looping {
                return Err(CameraError::EndOfStream {
                    device: format!("replay:{}", self.name),
                    frames: self.sequence,
                });
            }
            self.next = 0;
        }
        let index = self.next;
        self.next += 1;
        let timestamp = self.pace();
        let sequence = self.sequence;
        self.sequence += 1;
        match &self.source {
            Source::Single(img) => {
                frame.gray.clear();
                frame.gray.extend_from_slice(&img.pixels);
                frame.width = img.width;
                frame.height = img.height;
            }
            Source::Files(files) => {
                let img = load_gray(&files[index]).map_err(|e| CameraError::Corrupt {
                    device: format!("replay:{}", files[index].display()),
                    sequence,
                    reason: e.to_string(),
                })?;
                frame.gray = img.pixels;
                frame.width = img.width;
                frame.height = img.height;
            }
        }
        frame.timestamp_ms = u64::try_from(timestamp.as_millis()).unwrap_or(u64::MAX);
        frame.sequence = sequence;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;

    fn write_png(dir: &Path, name: &str, value: u8, w: u32, h: u32) -> PathBuf {
        let path = dir.join(name);
        image::GrayImage::from_pixel(w, h, image::Luma([value]))
            .save(&path)
            .unwrap();
        path
    }

    #[test]
    fn folder_is_replayed_in_name_order_at_the_given_rate() {
        let dir = tempfile::tempdir().unwrap();
        write_png(dir.path(), "frame002.png", 20, 4, 3);
        write_png(dir.path(), "frame000.png", 0, 4, 3);
        write_png(dir.path(), "frame001.png", 10, 4, 3);
        std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
        let clock = MockClock::new(Duration::from_millis(1000));
        let mut cam = ReplayCamera::open(
            dir.path(),
            ReplayOptions {
                fps: Some(10.0),
                looping: false,
            },
            clock.clone(),
        )
        .unwrap();
        assert_eq!(cam.len(), 3);
        let mut seen = Vec::new();
        let mut f = Frame::default();
        for _ in 0..3 {
            cam.read_frame(&mut f).unwrap();
            seen.push((f.gray[0], f.timestamp_ms, f.sequence));
        }
        assert_eq!(seen, vec![(0, 1000, 0), (10, 1100, 1), (20, 1200, 2)]);
        assert_eq!(clock.now_ms(), 1200, "the replay waited on the clock");
        let end = cam.read_frame(&mut f).unwrap_err();
        assert_eq!(end.kind(), ErrorKind::EndOfStream);
    }

    #[test]
    fn a_late_reader_is_not_made_to_wait() {
        let dir = tempfile::tempdir().unwrap();
        let img = write_png(dir.path(), "one.png", 77, 2, 2);
        let clock = MockClock::default();
        let mut cam = ReplayCamera::open(
            &img,
            ReplayOptions {
                fps: Some(20.0),
                looping: true,
            },
            clock.clone(),
        )
        .unwrap();
        let a = cam.next_frame().unwrap();
        clock.advance_ms(500); // the loop was slow
        let b = cam.next_frame().unwrap();
        assert_eq!((a.timestamp_ms, b.timestamp_ms), (0, 500));
        let c = cam.next_frame().unwrap();
        assert_eq!(c.timestamp_ms, 500, "frame 2 was due at 100 ms: no wait");
        assert_eq!(c.gray, vec![77; 4]);
        assert_eq!(c.sequence, 2);
    }

    #[test]
    fn single_image_without_loop_is_one_frame_and_fast_mode_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let img = write_png(dir.path(), "one.png", 5, 3, 3);
        let clock = MockClock::default();
        let mut cam = ReplayCamera::open(
            &img,
            ReplayOptions {
                fps: None,
                looping: false,
            },
            clock.clone(),
        )
        .unwrap();
        assert_eq!(cam.next_frame().unwrap().gray, vec![5; 9]);
        assert_eq!(cam.next_frame().unwrap_err().kind(), ErrorKind::EndOfStream);
        assert_eq!(clock.now_ms(), 0);
    }

    #[test]
    fn looping_folder_restarts_and_bad_files_are_corrupt_frames() {
        let dir = tempfile::tempdir().unwrap();
        write_png(dir.path(), "a.png", 1, 2, 2);
        std::fs::write(dir.path().join("b.png"), b"broken").unwrap();
        let mut cam = ReplayCamera::open(
            dir.path(),
            ReplayOptions {
                fps: None,
                looping: true,
            },
            MockClock::default(),
        )
        .unwrap();
        assert_eq!(cam.next_frame().unwrap().gray[0], 1);
        let bad = cam.next_frame().unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::Corrupt);
        assert!(bad.to_string().contains("b.png"), "{bad}");
        assert_eq!(cam.next_frame().unwrap().gray[0], 1, "looped back");
    }

    #[test]
    fn bad_sources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReplayOptions {
            fps: None,
            looping: false,
        };
        let empty = ReplayCamera::open(dir.path(), opts, MockClock::default())
            .err()
            .unwrap();
        assert!(empty.to_string().contains("no image files"), "{empty}");
        let missing = ReplayCamera::open(&dir.path().join("nope"), opts, MockClock::default())
            .err()
            .unwrap();
        assert_eq!(
            missing.kind(),
            ErrorKind::Other,
            "a wrong path, not an unplugged device"
        );
        write_png(dir.path(), "a.png", 1, 2, 2);
        let bad_fps = ReplayCamera::open(
            dir.path(),
            ReplayOptions {
                fps: Some(0.0),
                looping: false,
            },
            MockClock::default(),
        )
        .err()
        .unwrap();
        assert!(bad_fps.to_string().contains("frame rate"), "{bad_fps}");
    }
}
