//! Finding faces in a camera frame, behind the small [`FaceFinder`] trait:
//! the BlazeFace detector model ([`Detector`]) when it is installed, else
//! the documented [`CentreSquare`] fallback.

use std::path::Path;

use emoedge_shared::detect::FaceDetector;
use emoedge_shared::face::FaceBox;

use crate::camera::Frame;

/// One face found in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Found {
    /// Face box in frame pixels.
    pub bbox: FaceBox,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
}

/// Something that finds faces in a grayscale frame.
pub trait FaceFinder {
    /// Short description for logs.
    fn describe(&self) -> String;

    /// The faces in `frame`, best first. An error skips detection for this
    /// frame (the previous boxes are kept).
    fn find(&mut self, frame: &Frame) -> Result<Vec<Found>, String>;
}

impl<T: FaceFinder + ?Sized> FaceFinder for Box<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn find(&mut self, frame: &Frame) -> Result<Vec<Found>, String> {
        (**self).find(frame)
    }
}

/// The face detector model (`models/face_detector.emo`, BlazeFace short
/// range) through `emoedge_shared::detect`.
pub struct Detector {
    detector: FaceDetector,
    name: String,
}

impl Detector {
    /// Loads a face detector model file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let detector = FaceDetector::load(path)
            .map_err(|e| anyhow::anyhow!("face detector {}: {e}", path.display()))?;
        Ok(Self::new(detector))
    }

    /// Wraps a detector.
    pub fn new(detector: FaceDetector) -> Self {
        let name = detector.model().header().name.clone();
        Detector { detector, name }
    }
}

impl FaceFinder for Detector {
    fn describe(&self) -> String {
        format!(
            "face detector {} (min score {:.2})",
            self.name,
            self.detector.min_score()
        )
    }

    fn find(&mut self, frame: &Frame) -> Result<Vec<Found>, String> {
        let view = frame.view().map_err(|e| format!("bad frame: {e}"))?;
        let dets = self.detector.detect(&view).map_err(|e| e.to_string())?;
        Ok(dets
            .into_iter()
            .map(|d| Found {
                bbox: d.bbox,
                score: d.score,
            })
            .collect())
    }
}

/// The fallback when no face detector model is installed: the centre
/// square of the frame (side [`CentreSquare::side_fraction`] of the shorter
/// side) is taken as the face, as at a kiosk where visitors stand on a
/// marked spot in front of the camera.
///
/// A frame whose centre square is almost uniform (standard deviation of
/// its pixels below [`CentreSquare::min_std`]: a covered lens, a dark room,
/// an empty wall) has no face, so visits still start and end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CentreSquare {
    /// Side of the square as a fraction of the frame's shorter side.
    pub side_fraction: f32,
    /// Minimum pixel standard deviation (0-255 scale) for a face.
    pub min_std: f32,
}

impl Default for CentreSquare {
    fn default() -> Self {
        CentreSquare {
            side_fraction: 0.75,
            min_std: 8.0,
        }
    }
}

impl CentreSquare {
    /// The centre square of a `width x height` frame.
    pub fn square(&self, width: u32, height: u32) -> FaceBox {
        let side = width.min(height) as f32 * self.side_fraction;
        FaceBox::new(
            (width as f32 - side) / 2.0,
            (height as f32 - side) / 2.0,
            side,
            side,
        )
    }
}

/// Standard deviation of the pixels of `b` in `frame` (every second pixel
/// of every second row).
fn region_std(frame: &Frame, b: &FaceBox) -> f32 {
    let w = frame.width as usize;
    let x0 = b.x.max(0.0) as usize;
    let y0 = b.y.max(0.0) as usize;
    let x1 = ((b.x + b.w) as usize).min(w);
    let y1 = ((b.y + b.h) as usize).min(frame.height as usize);
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for y in (y0..y1).step_by(2) {
        let row = &frame.gray[y * w..y * w + w];
        for &p in row[x0..x1].iter().step_by(2) {
            let p = f64::from(p);
            n += 1.0;
            sum += p;
            sq += p * p;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    ((sq / n - mean * mean).max(0.0)).sqrt() as f32
}

impl FaceFinder for CentreSquare {
    fn describe(&self) -> String {
        format!(
            "centre-square fallback (no face detector model; the centre {:.0} % of the frame is the face)",
            self.side_fraction * 100.0
        )
    }

    fn find(&mut self, frame: &Frame) -> Result<Vec<Found>, String> {
        if frame.width == 0
            || frame.height == 0
            || frame.gray.len() < frame.width as usize * frame.height as usize
        {
            return Err(format!(
                "frame {}x{} with {} bytes",
                frame.width,
                frame.height,
                frame.gray.len()
            ));
        }
        let bbox = self.square(frame.width, frame.height);
        if region_std(frame, &bbox) < self.min_std {
            return Ok(Vec::new());
        }
        Ok(vec![Found { bbox, score: 1.0 }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_square_finds_a_face_only_in_a_textured_centre() {
        let mut f = CentreSquare::default();
        let flat = Frame::filled(320, 240, 90);
        assert!(f.find(&flat).unwrap().is_empty());
        let mut textured = Frame::filled(320, 240, 90);
        for (i, p) in textured.gray.iter_mut().enumerate() {
            *p = ((i * 37) % 200) as u8;
        }
        let found = f.find(&textured).unwrap();
        assert_eq!(found.len(), 1);
        let b = found[0].bbox;
        assert_eq!((b.x, b.y, b.w, b.h), (70.0, 30.0, 180.0, 180.0));
        assert!(f.find(&Frame::default()).is_err());
    }

    #[test]
    fn the_shipped_detector_finds_the_demo_faces_and_not_the_sky() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = root.join("../models/face_detector.emo");
        if !model.is_file() {
            eprintln!("skipped: {} is not installed", model.display());
            return;
        }
        let mut d = Detector::load(&model).unwrap();
        let frame = |n: u32| {
            let img = emoedge_shared::io::load_gray(
                root.join(format!("assets/demo/frames/frame{n:03}.jpg")),
            )
            .unwrap();
            Frame {
                gray: img.pixels,
                width: img.width,
                height: img.height,
                timestamp_ms: 0,
                sequence: 0,
            }
        };
        assert!(d.find(&frame(0)).unwrap().is_empty(), "the sky");
        for n in [10, 30, 50] {
            let found = d.find(&frame(n)).unwrap();
            assert_eq!(found.len(), 1, "frame {n}: {found:?}");
            let b = found[0].bbox;
            let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
            assert!(
                (100.0..220.0).contains(&cx) && (60.0..180.0).contains(&cy),
                "frame {n}: {b:?}"
            );
        }
    }
}
