//! Audio clips to voice model windows and clip probabilities.
//!
//! A clip is decoded with [`emoedge_shared::io::load_audio_16k`] (WAV,
//! FLAC, Ogg Vorbis, any channel count and rate; resampled with rubato) or,
//! for a model at another rate, [`emoedge_shared::io::load_audio`] and
//! [`emoedge_shared::io::resample`]; then
//! [`emoedge_shared::audio::clip_features`] with the default
//! [`VadConfig`] gives the trimmed, normalised model windows (the same code
//! the trainer and the device use). The model runs on every window and the
//! class probabilities are averaged over the windows.
//!
//! A window is `frames x n_mels` row-major; like the device, a model whose
//! input is `[1, 1, n_mels, frames]` (or whose metadata says
//! `input_layout = mels_frames`) gets it transposed ([`VoiceLayout`]).

use std::path::Path;

use emoedge_shared::audio::{clip_features, ClipFeatures, VadConfig, VoicePreprocessing};
use emoedge_shared::format::Header;
use emoedge_shared::io::{load_audio, load_audio_16k, resample, AudioIoError, TARGET_SAMPLE_RATE};
use emoedge_shared::NUM_CLASSES;

use super::Classifier;

/// File extensions read as audio inside class folders (any case).
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "ogg", "oga"];

/// How a voice window (`frames x n_mels`, row-major) is laid out in the
/// model input; the same rule as the device's voice pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceLayout {
    /// `[1, 1, frames, n_mels]` (as `emoedge-train voice` exports it) or
    /// `[1, frames, n_mels]`: the window as is.
    FramesByMels,
    /// `[1, 1, n_mels, frames]`: the window is transposed.
    MelsByFrames,
}

impl VoiceLayout {
    /// The layout of a model with `header` and input `shape`: the metadata
    /// entry `input_layout` (`frames_mels` or `mels_frames`) when present,
    /// else the shape (a square window is taken as `[frames, n_mels]`).
    /// `None` when the shape holds no window of `pre`.
    pub fn of(header: &Header, shape: &[usize], pre: &VoicePreprocessing) -> Option<VoiceLayout> {
        let (f, m) = (usize::from(pre.frames), usize::from(pre.logmel.n_mels));
        if shape.iter().product::<usize>() != f * m {
            return None;
        }
        match header.meta("input_layout") {
            Some("mels_frames") => Some(VoiceLayout::MelsByFrames),
            Some("frames_mels") => Some(VoiceLayout::FramesByMels),
            _ if shape == [1, 1, f, m] || shape == [1, f, m] => Some(VoiceLayout::FramesByMels),
            _ if shape == [1, 1, m, f] => Some(VoiceLayout::MelsByFrames),
            _ => None,
        }
    }

    /// The model input for one window.
    pub fn arrange(self, pre: &VoicePreprocessing, window: &[f32]) -> Vec<f32> {
        match self {
            VoiceLayout::FramesByMels => window.to_vec(),
            VoiceLayout::MelsByFrames => {
                let (f, m) = (usize::from(pre.frames), usize::from(pre.logmel.n_mels));
                let mut out = vec![0.0f32; window.len()];
                for t in 0..f {
                    for b in 0..m {
                        out[b * f + t] = window[t * m + b];
                    }
                }
                out
            }
        }
    }
}

/// Mono samples of the clip at `path` at the model's sample rate.
pub fn clip_samples(path: &Path, pre: &VoicePreprocessing) -> Result<Vec<f32>, String> {
    let rate = pre.logmel.sample_rate;
    if rate == TARGET_SAMPLE_RATE {
        return Ok(load_audio_16k(path).map_err(|e| short_reason(&e))?.samples);
    }
    let audio = load_audio(path).map_err(|e| short_reason(&e))?;
    if audio.sample_rate == rate {
        return Ok(audio.samples);
    }
    resample(&audio.samples, audio.sample_rate, rate).map_err(|e| e.to_string())
}

/// The model windows of the clip at `path`.
pub fn clip_windows(path: &Path, pre: &VoicePreprocessing) -> Result<ClipFeatures, String> {
    let samples = clip_samples(path, pre)?;
    clip_features(pre, &VadConfig::default(), &samples).map_err(|e| e.to_string())
}

/// Class probabilities of the clip at `path` (label order): the mean of the
/// probabilities of its windows.
pub fn classify_clip(
    clf: &Classifier,
    pre: &VoicePreprocessing,
    layout: VoiceLayout,
    path: &Path,
) -> Result<[f32; NUM_CLASSES], String> {
    let features = clip_windows(path, pre)?;
    let mut mean = [0.0f32; NUM_CLASSES];
    for i in 0..features.count {
        let p = clf.probabilities(&layout.arrange(pre, features.window(i)))?;
        for (m, v) in mean.iter_mut().zip(p) {
            *m += v;
        }
    }
    let count = features.count.max(1) as f32;
    mean.iter_mut().for_each(|m| *m /= count);
    Ok(mean)
}

/// Uncalibrated scores ([`Classifier::raw_scores`]) of every model window
/// of the clip at `path`, in window order.
pub fn window_scores(
    clf: &Classifier,
    pre: &VoicePreprocessing,
    layout: VoiceLayout,
    path: &Path,
) -> Result<Vec<[f32; NUM_CLASSES]>, String> {
    let features = clip_windows(path, pre)?;
    (0..features.count)
        .map(|i| clf.raw_scores(&layout.arrange(pre, features.window(i))))
        .collect()
}

/// A short reason for the skipped-files warning (the path is named there).
fn short_reason(e: &AudioIoError) -> String {
    match e {
        AudioIoError::Read { source, .. } => format!("unreadable: {source}"),
        AudioIoError::Empty { .. } => "empty file".into(),
        AudioIoError::UnknownFormat { reason, .. } => format!("unknown format: {reason}"),
        AudioIoError::NoAudioTrack { .. } => "no audio track".into(),
        AudioIoError::UnsupportedCodec { reason, .. } => format!("unsupported codec: {reason}"),
        AudioIoError::BadSampleRate { rate, .. } => format!("bad sample rate {rate} Hz"),
        AudioIoError::Truncated {
            expected, decoded, ..
        } => format!("truncated ({decoded} of {expected} frames)"),
        AudioIoError::Corrupt { reason, .. } => format!("corrupt: {reason}"),
        AudioIoError::ZeroLength { .. } => "no samples".into(),
        AudioIoError::Resample { source, .. } => format!("resampling failed: {source}"),
    }
}
