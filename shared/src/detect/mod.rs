//! Face detection in camera frames: BlazeFace (or any detector model file
//! with the same output convention), from a grayscale frame to face boxes
//! with six keypoints, plus an IoU tracker and the crop for the expression
//! model.
//!
//! Pipeline ([`FaceDetector::detect`], feature `runtime`):
//!
//! 1. [`Letterbox`]: the gray frame is scaled to fit the square detector
//!    input (128 px for BlazeFace short range), centred, padded with
//!    black, normalised with the model's mean/std and replicated to the
//!    three RGB channels;
//! 2. the detector model runs through [`crate::runtime::Model`]; its
//!    outputs are the box regressors `[1, anchors, 4 + 2 * keypoints]` and
//!    the raw scores `[1, anchors, 1]`;
//! 3. [`decode`]: SSD anchors ([`ssd_anchors`]: strides 8 and 16 with 2 and
//!    6 anchors per cell, 896 in all), box = offset / 128 + anchor centre
//!    (MediaPipe's `TensorsToDetectionsCalculator` with every scale 128),
//!    scores clipped to ±100 and passed through a sigmoid, kept from the
//!    minimum score on (0.5 by default);
//! 4. [`nms`]: weighted (MediaPipe's default for faces) or plain NMS at
//!    IoU 0.3;
//! 5. boxes and keypoints are mapped back to frame pixels.
//!
//! Everything except the model run is `no_std` + `alloc`; [`Tracker`]
//! gives stable IDs across frames and [`crop_face`] cuts the face out for
//! the expression model with [`crate::face`]'s cropping.

mod decode;
#[cfg(feature = "runtime")]
mod detector;
mod letterbox;
pub mod track;

use core::fmt;

pub use decode::{decode, iou, nms, sigmoid, ssd_anchors, Anchor, NmsMode, SCORE_CLIP};
#[cfg(feature = "runtime")]
pub use detector::FaceDetector;
pub use letterbox::{Layout, Letterbox};
pub use track::{Track, TrackEvent, Tracker, TrackerConfig};

use crate::face::{
    eye_line_angle, preprocess_face_rotated, FaceBox, FaceError, FacePreprocessing, GrayFrame,
};

/// Keypoints a [`Detection`] holds (BlazeFace's six).
pub const MAX_KEYPOINTS: usize = 6;

/// Index of BlazeFace's keypoints in [`Detection::keypoints`]. "Right" and
/// "left" are the person's: the right eye appears on the image's left in
/// an unmirrored camera frame.
pub mod keypoint {
    pub const RIGHT_EYE: usize = 0;
    pub const LEFT_EYE: usize = 1;
    pub const NOSE_TIP: usize = 2;
    pub const MOUTH: usize = 3;
    pub const RIGHT_EAR: usize = 4;
    pub const LEFT_EAR: usize = 5;
}

/// One detected face, in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Face box (top-left corner and size).
    pub bbox: FaceBox,
    /// Sigmoid score in `[0, 1]`.
    pub score: f32,
    /// Keypoints `(x, y)`, see [`keypoint`]; unused ones are `(0, 0)`.
    pub keypoints: [(f32, f32); MAX_KEYPOINTS],
}

impl Detection {
    /// Angle of the eye line (image-left eye to image-right eye), for
    /// [`preprocess_face_rotated`]: 0 for level eyes.
    pub fn eye_angle(&self) -> f32 {
        let a = self.keypoints[keypoint::RIGHT_EYE];
        let b = self.keypoints[keypoint::LEFT_EYE];
        if a.0 <= b.0 {
            eye_line_angle(a, b)
        } else {
            eye_line_angle(b, a)
        }
    }
}

/// Crops `det` out of `frame` for the expression model: the box expanded by
/// `pre.margin` on each side, made square, resized to `pre.crop_size` and
/// normalised (see [`crate::face`]); with `align`, rotated so the eye line
/// is level.
pub fn crop_face(
    frame: &GrayFrame<'_>,
    det: &Detection,
    pre: &FacePreprocessing,
    align: bool,
    out: &mut [f32],
) -> Result<(), FaceError> {
    let angle = if align { det.eye_angle() } else { 0.0 };
    preprocess_face_rotated(frame, det.bbox, angle, pre, out)
}

/// Why detection failed.
#[derive(Debug)]
pub enum DetectError {
    /// The model file is not a usable face detector.
    Model { reason: &'static str },
    /// A model output holds another number of values than its anchors need.
    OutputSize { expected: usize, found: usize },
    /// The frame is unusable (see [`FaceError`]).
    Frame(FaceError),
    /// Loading or running the model failed.
    #[cfg(feature = "runtime")]
    Runtime(crate::runtime::RuntimeError),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Model { reason } => {
                write!(f, "not a usable face detector model: {reason}; use models/face_detector.emo")
            }
            DetectError::OutputSize { expected, found } => write!(
                f,
                "detector output has {found} values where its anchors need {expected}; the model does not match its header"
            ),
            DetectError::Frame(e) => write!(f, "bad frame: {e}"),
            #[cfg(feature = "runtime")]
            DetectError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DetectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DetectError::Frame(e) => Some(e),
            #[cfg(feature = "runtime")]
            DetectError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FaceError> for DetectError {
    fn from(e: FaceError) -> Self {
        DetectError::Frame(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn eye_angle_does_not_depend_on_which_eye_is_first() {
        let mut d = Detection {
            bbox: FaceBox::new(0.0, 0.0, 10.0, 10.0),
            score: 1.0,
            keypoints: [(0.0, 0.0); MAX_KEYPOINTS],
        };
        d.keypoints[keypoint::RIGHT_EYE] = (10.0, 10.0);
        d.keypoints[keypoint::LEFT_EYE] = (20.0, 20.0);
        let a = d.eye_angle();
        assert!((a - core::f32::consts::FRAC_PI_4).abs() < 1e-6);
        d.keypoints.swap(0, 1);
        assert_eq!(d.eye_angle(), a);
    }

    #[test]
    fn crop_face_uses_the_box_and_margin() {
        // A bright 20x20 square in a dark 64x64 frame: a crop of exactly
        // the box (margin 0) is all bright.
        let mut data = vec![0u8; 64 * 64];
        for y in 20..40 {
            data[y * 64 + 20..y * 64 + 40].fill(255);
        }
        let frame = GrayFrame::packed(&data, 64, 64).unwrap();
        let det = Detection {
            bbox: FaceBox::new(20.0, 20.0, 20.0, 20.0),
            score: 1.0,
            keypoints: [
                (25.0, 25.0),
                (35.0, 25.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
            ],
        };
        let pre = FacePreprocessing {
            crop_size: 10,
            margin: 0.0,
            mean: 0.0,
            std: 1.0,
        };
        let mut out = vec![0f32; 100];
        crop_face(&frame, &det, &pre, true, &mut out).unwrap();
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-5));
        let wide = FacePreprocessing { margin: 0.5, ..pre };
        crop_face(&frame, &det, &wide, false, &mut out).unwrap();
        assert!(out[0] < 0.01 && (out[55] - 1.0).abs() < 1e-5);
    }
}
