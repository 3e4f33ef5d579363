//! The face and voice classifiers the loop runs: a model file plus its
//! preprocessing, with the input buffer allocated once.

use std::path::Path;

use anyhow::{bail, Context, Result};
use emoedge_shared::audio::{pad_frames, window_features, VoicePreprocessing};
use emoedge_shared::face::{preprocess_face, FaceBox, FacePreprocessing, GrayFrame};
use emoedge_shared::format::{ModelKind, Preprocessing};
use emoedge_shared::fusion::Probs;
use emoedge_shared::runtime::Model;
use emoedge_shared::NUM_CLASSES;

fn logits(out: Vec<f32>, what: &str) -> Result<Probs> {
    let n = out.len();
    out.try_into()
        .map_err(|_| anyhow::anyhow!("the {what} model gave {n} outputs, not {NUM_CLASSES}"))
}

/// The face expression classifier.
#[derive(Debug)]
pub struct FaceClassifier {
    model: Model,
    pre: FacePreprocessing,
    input: Vec<f32>,
}

impl FaceClassifier {
    /// Loads and checks a face classifier file.
    pub fn load(path: &Path) -> Result<Self> {
        let model = Model::load_kind(path, ModelKind::FaceClassifier)?;
        Self::new(model).with_context(|| format!("model file {}", path.display()))
    }

    /// Wraps a loaded model, checking its input shape against its
    /// preprocessing (`[1, 1, crop, crop]`) and its output (7 classes).
    pub fn new(model: Model) -> Result<Self> {
        let Preprocessing::Face(pre) = model.header().preprocessing else {
            bail!("not a face classifier (its preprocessing is not a face crop)");
        };
        let c = usize::from(pre.crop_size);
        if model.input_shape() != [1, 1, c, c] {
            bail!(
                "input shape {:?} does not match its {c}x{c} face crop",
                model.input_shape()
            );
        }
        check_outputs(&model)?;
        Ok(FaceClassifier {
            input: vec![0.0; pre.output_len()],
            model,
            pre,
        })
    }

    /// Calibration temperature stored in the model file.
    pub fn temperature(&self) -> f32 {
        self.model.header().temperature
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.model.header().name
    }

    /// Logits for the face in `bbox` of `frame`.
    pub fn classify(&mut self, frame: &GrayFrame<'_>, bbox: FaceBox) -> Result<Probs> {
        preprocess_face(frame, bbox, &self.pre, &mut self.input)
            .map_err(|e| anyhow::anyhow!("face crop: {e}"))?;
        logits(self.model.run(&self.input)?, "face")
    }
}

fn check_outputs(model: &Model) -> Result<()> {
    let out: usize = model
        .output_shapes()
        .first()
        .map(|s| s.iter().product())
        .unwrap_or(0);
    if out != NUM_CLASSES {
        bail!("the model has {out} outputs, not the {NUM_CLASSES} emotions");
    }
    Ok(())
}

/// How a voice window (`frames x n_mels`, row-major, as
/// `emoedge_shared::audio::window_features` writes it) is laid out in the
/// model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceLayout {
    /// `[1, 1, n_mels, frames]`: mel bands as rows, time as columns (an
    /// image of the spectrogram); the window is transposed.
    MelsByFrames,
    /// `[1, 1, frames, n_mels]` (as `emoedge-train voice` exports it) or
    /// `[1, frames, n_mels]`: the window as is.
    FramesByMels,
}

/// The voice emotion classifier.
#[derive(Debug)]
pub struct VoiceClassifier {
    model: Model,
    pre: VoicePreprocessing,
    layout: VoiceLayout,
    padded: Vec<f32>,
    features: Vec<f32>,
    input: Vec<f32>,
}

impl VoiceClassifier {
    /// Loads and checks a voice classifier file.
    pub fn load(path: &Path) -> Result<Self> {
        let model = Model::load_kind(path, ModelKind::VoiceClassifier)?;
        Self::new(model).with_context(|| format!("model file {}", path.display()))
    }

    /// Wraps a loaded model, working out its input layout from its input
    /// shape (a square window is taken as `[frames, n_mels]` unless a
    /// metadata entry `input_layout = mels_frames` says otherwise).
    pub fn new(model: Model) -> Result<Self> {
        let Preprocessing::Voice(pre) = model.header().preprocessing else {
            bail!("not a voice classifier (its preprocessing is not a log-mel window)");
        };
        pre.validate()
            .map_err(|e| anyhow::anyhow!("voice preprocessing: {e}"))?;
        let m = usize::from(pre.logmel.n_mels);
        let f = usize::from(pre.frames);
        let shape = model.input_shape().to_vec();
        let layout = match model.header().meta("input_layout") {
            Some("mels_frames") => VoiceLayout::MelsByFrames,
            Some("frames_mels") => VoiceLayout::FramesByMels,
            // `emoedge-train voice` exports [1, 1, frames, n_mels].
            _ if shape == [1, 1, f, m] || shape == [1, f, m] => VoiceLayout::FramesByMels,
            _ if shape == [1, 1, m, f] => VoiceLayout::MelsByFrames,
            _ => {
                bail!("input shape {shape:?} does not match its {f} frames x {m} mel bands window")
            }
        };
        check_outputs(&model)?;
        let n = pre.window_len();
        Ok(VoiceClassifier {
            model,
            pre,
            layout,
            padded: vec![0.0; n],
            features: vec![0.0; n],
            input: vec![0.0; n],
        })
    }

    /// The model's preprocessing (log-mel parameters, window length).
    pub fn preprocessing(&self) -> &VoicePreprocessing {
        &self.pre
    }

    /// Calibration temperature stored in the model file.
    pub fn temperature(&self) -> f32 {
        self.model.header().temperature
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.model.header().name
    }

    /// The input layout in use.
    pub fn layout(&self) -> VoiceLayout {
        self.layout
    }

    /// Logits for the most recent log-mel frames `frames` (row-major, at
    /// most one window; fewer are repeat-padded).
    pub fn classify(&mut self, frames: &[f32]) -> Result<Probs> {
        pad_frames(&self.pre, frames, &mut self.padded)
            .map_err(|e| anyhow::anyhow!("voice window: {e}"))?;
        window_features(&self.pre, &self.padded, &mut self.features)
            .map_err(|e| anyhow::anyhow!("voice window: {e}"))?;
        match self.layout {
            VoiceLayout::FramesByMels => self.input.copy_from_slice(&self.features),
            VoiceLayout::MelsByFrames => {
                let m = usize::from(self.pre.logmel.n_mels);
                let f = usize::from(self.pre.frames);
                for t in 0..f {
                    for b in 0..m {
                        self.input[b * f + t] = self.features[t * m + b];
                    }
                }
            }
        }
        logits(self.model.run(&self.input)?, "voice")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::format::sample::tiny_classifier;

    #[test]
    fn sample_models_load_and_classify() {
        let face = Model::from_model(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap();
        let mut face = FaceClassifier::new(face).unwrap();
        let pixels = vec![100u8; 64 * 48];
        let frame = GrayFrame::packed(&pixels, 64, 48).unwrap();
        let l = face
            .classify(&frame, FaceBox::new(8.0, 4.0, 40.0, 40.0))
            .unwrap();
        assert!(l.iter().all(|v| v.is_finite()));

        let voice = Model::from_model(&tiny_classifier(ModelKind::VoiceClassifier, 2)).unwrap();
        let mut voice = VoiceClassifier::new(voice).unwrap();
        assert_eq!(voice.layout(), VoiceLayout::MelsByFrames);
        let frames: Vec<f32> = (0..64 * 30).map(|i| (i % 17) as f32 * 0.1).collect();
        assert!(voice
            .classify(&frames)
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));

        // The trainer's layout: time as rows.
        let mut rows = tiny_classifier(ModelKind::VoiceClassifier, 2);
        rows.header.input_shape = vec![1, 1, 200, 64];
        let mut rows = VoiceClassifier::new(Model::from_model(&rows).unwrap()).unwrap();
        assert_eq!(rows.layout(), VoiceLayout::FramesByMels);
        assert!(rows
            .classify(&frames)
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));

        // A face model in the voice slot is refused.
        let wrong = Model::from_model(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap();
        assert!(VoiceClassifier::new(wrong).is_err());
    }
}
