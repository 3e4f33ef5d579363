//! The face detector on the tract runtime.

use std::path::Path;

use alloc::vec;
use alloc::vec::Vec;

use super::{decode, nms, ssd_anchors, Anchor, DetectError, Detection, Layout, Letterbox, NmsMode};
use crate::face::GrayFrame;
use crate::format::{DetectorPreprocessing, ModelKind, Preprocessing};
use crate::runtime::Model;

/// A face detector model with its anchors and thresholds.
///
/// ```no_run
/// # use emoedge_shared::detect::FaceDetector;
/// # use emoedge_shared::face::GrayFrame;
/// let detector = FaceDetector::load("models/face_detector.emo")?;
/// let pixels = vec![0u8; 320 * 240];
/// let frame = GrayFrame::packed(&pixels, 320, 240)?;
/// for face in detector.detect(&frame)? {
///     println!("{:?} {:.2}", face.bbox, face.score);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct FaceDetector {
    model: Model,
    pre: DetectorPreprocessing,
    anchors: Vec<Anchor>,
    min_score: f32,
    iou_threshold: f32,
    nms: NmsMode,
}

impl FaceDetector {
    /// Loads a face detector model file.
    pub fn load(path: impl AsRef<Path>) -> Result<FaceDetector, DetectError> {
        let model =
            Model::load_kind(path, ModelKind::FaceDetector).map_err(DetectError::Runtime)?;
        FaceDetector::new(model)
    }

    /// Wraps a loaded model: checks its kind, its preprocessing parameters
    /// and that its two outputs (box regressors, scores) match its anchors.
    /// The minimum score and IoU threshold start at the header's values.
    pub fn new(model: Model) -> Result<FaceDetector, DetectError> {
        let bad = |reason| DetectError::Model { reason };
        if model.header().kind != ModelKind::FaceDetector {
            return Err(bad("the model is not a face detector"));
        }
        let Preprocessing::Detector(pre) = &model.header().preprocessing else {
            return Err(bad("the model has no detector preprocessing parameters"));
        };
        let pre = pre.clone();
        let n = pre
            .anchor_count()
            .ok_or(bad("invalid detector parameters"))?;
        let per = 4 + 2 * usize::from(pre.keypoints);
        if usize::from(pre.keypoints) > super::MAX_KEYPOINTS {
            return Err(bad("more than 6 keypoints"));
        }
        let size = usize::from(pre.input_size);
        let expected_input = if pre.channels_last {
            [1, size, size, 3]
        } else {
            [1, 3, size, size]
        };
        if model.input_shape() != expected_input {
            return Err(bad(
                "the input shape does not match the detector input size and layout",
            ));
        }
        let len = |s: &Vec<usize>| s.iter().product::<usize>();
        let outs = model.output_shapes();
        if outs.len() != 2 || len(&outs[0]) != n * per || len(&outs[1]) != n {
            return Err(bad(
                "the outputs are not [1, anchors, 4 + 2 * keypoints] box regressors and [1, anchors, 1] scores",
            ));
        }
        let anchors = ssd_anchors(&pre);
        Ok(FaceDetector {
            min_score: pre.score_threshold,
            iou_threshold: pre.iou_threshold,
            model,
            pre,
            anchors,
            nms: NmsMode::Weighted,
        })
    }

    /// Sets the minimum score of a detection (default: the model header's,
    /// 0.5 for BlazeFace).
    pub fn with_min_score(mut self, min_score: f32) -> FaceDetector {
        self.min_score = min_score;
        self
    }

    /// Sets the IoU above which NMS merges boxes (default: the header's, 0.3).
    pub fn with_iou_threshold(mut self, iou: f32) -> FaceDetector {
        self.iou_threshold = iou;
        self
    }

    /// Sets the NMS mode (default [`NmsMode::Weighted`]).
    pub fn with_nms(mut self, nms: NmsMode) -> FaceDetector {
        self.nms = nms;
        self
    }

    /// Minimum score in use.
    pub fn min_score(&self) -> f32 {
        self.min_score
    }

    /// The model's detector parameters.
    pub fn preprocessing(&self) -> &DetectorPreprocessing {
        &self.pre
    }

    /// The underlying model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Letterboxes `frame` into the model input (see [`Letterbox::fill`]).
    pub fn prepare(&self, frame: &GrayFrame<'_>, input: &mut Vec<f32>) -> Letterbox {
        let lb = Letterbox::new(frame.width(), frame.height(), self.pre.input_size);
        input.clear();
        input.resize(lb.input_len(), 0.0);
        let layout = if self.pre.channels_last {
            Layout::Nhwc
        } else {
            Layout::Nchw
        };
        lb.fill(frame, self.pre.mean, self.pre.std, layout, input);
        lb
    }

    /// Detects the faces of `frame`, best score first, in frame pixels.
    pub fn detect(&self, frame: &GrayFrame<'_>) -> Result<Vec<Detection>, DetectError> {
        let mut input = vec![];
        let lb = self.prepare(frame, &mut input);
        let outputs = self.model.run_all(&input).map_err(DetectError::Runtime)?;
        let dets = decode(
            &self.pre,
            &self.anchors,
            &outputs[0],
            &outputs[1],
            self.min_score,
            &lb,
        )?;
        Ok(nms(dets, self.iou_threshold, self.nms))
    }
}
