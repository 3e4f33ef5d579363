//! Whole-clip features for the voice model: the offline path the trainer
//! and `emoedge-train eval` use on audio files, built from the same
//! streaming pieces the device runs (log-mel, VAD, windows).
//!
//! Clip (16 kHz samples) → [`logmel_frames`] → [`trim`] to the speech span
//! (the whole clip when the VAD finds no speech, so a quiet acted clip is
//! still classified) → windows per [`clip_windows`] → each padded by
//! [`extract_window`] and normalised by [`window_features`]. The model's
//! probabilities are averaged over the windows.

use alloc::vec;
use alloc::vec::Vec;

use super::{
    clip_windows, extract_window, logmel_frames, trim, window_features, AudioError, VadConfig,
    VoicePreprocessing,
};

/// Model-ready windows of one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipFeatures {
    /// `count` normalised windows, each `pre.window_len()` values,
    /// row-major `frames × n_mels`.
    pub windows: Vec<f32>,
    /// Number of windows (at least 1).
    pub count: usize,
    /// Log-mel frames in the clip.
    pub frames_total: usize,
    /// Speech span `(start, end)` in frames found by the VAD, `None` when it
    /// found none (then the whole clip was used).
    pub speech: Option<(usize, usize)>,
}

impl ClipFeatures {
    /// The `i`-th window.
    pub fn window(&self, i: usize) -> &[f32] {
        let n = self.windows.len() / self.count.max(1);
        &self.windows[i * n..(i + 1) * n]
    }
}

/// Trimmed log-mel frames, the speech span found and the clip's frame count.
pub type SpeechFrames = (Vec<f32>, Option<(usize, usize)>, usize);

/// Trimmed, un-normalised log-mel frames of a clip (row-major
/// `frames × n_mels`), the speech span found (per the module
/// documentation) and the number of frames of the whole clip. The trainer
/// augments the samples of the span before windowing.
pub fn speech_frames(
    pre: &VoicePreprocessing,
    vad: &VadConfig,
    samples: &[f32],
) -> Result<SpeechFrames, AudioError> {
    pre.validate()?;
    let n_mels = pre.logmel.n_mels as usize;
    let mut frames = logmel_frames(&pre.logmel, samples)?;
    let total = frames.len() / n_mels;
    let span = trim(&pre.logmel, vad, &frames)?;
    if let Some((start, end)) = span {
        frames.truncate(end * n_mels);
        frames.drain(..start * n_mels);
    }
    Ok((frames, span, total))
}

/// Normalised model windows of already trimmed frames (row-major
/// `frames × n_mels`); a clip shorter than one window gives one padded
/// window, an empty one a single floor-valued window.
pub fn frames_to_windows(
    pre: &VoicePreprocessing,
    frames: &[f32],
) -> Result<(Vec<f32>, usize), AudioError> {
    pre.validate()?;
    let n_mels = pre.logmel.n_mels as usize;
    let n = pre.window_len();
    let mut starts: Vec<usize> = clip_windows(pre, frames.len() / n_mels).collect();
    if starts.is_empty() {
        starts.push(0);
    }
    let mut windows = vec![0.0f32; n * starts.len()];
    let mut raw = vec![0.0f32; n];
    for (&start, out) in starts.iter().zip(windows.chunks_exact_mut(n)) {
        extract_window(pre, frames, start, &mut raw)?;
        window_features(pre, &raw, out)?;
    }
    Ok((windows, starts.len()))
}

/// Model windows of a whole clip of samples at `pre.logmel.sample_rate`.
pub fn clip_features(
    pre: &VoicePreprocessing,
    vad: &VadConfig,
    samples: &[f32],
) -> Result<ClipFeatures, AudioError> {
    let (frames, speech, frames_total) = speech_frames(pre, vad, samples)?;
    let (windows, count) = frames_to_windows(pre, &frames)?;
    Ok(ClipFeatures {
        windows,
        count,
        frames_total,
        speech,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The espeak-ng speech fixture (16 kHz mono S16) as samples.
    fn speech() -> Vec<f32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_16k.wav");
        let mut r = hound::WavReader::open(path).unwrap();
        r.samples::<i16>()
            .map(|s| s.unwrap() as f32 / 32768.0)
            .collect()
    }

    #[test]
    fn long_clip_gives_several_normalised_windows() {
        let pre = VoicePreprocessing::default();
        let speech = speech();
        let mut s = vec![0.0f32; 16_000];
        s.extend_from_slice(&speech);
        s.extend(vec![0.0f32; 16_000]);
        let f = clip_features(&pre, &VadConfig::default(), &s).unwrap();
        let speech_frames = speech.len() / 160;
        assert_eq!(f.frames_total, s.len().saturating_sub(400) / 160 + 1);
        let (a, b) = f.speech.expect("speech detected");
        // Trimmed to the speech: the second of leading silence is gone, and
        // so is the trailing one.
        assert!((90..=130).contains(&a), "start {a}");
        assert!(
            b <= 100 + speech_frames + 30 && b > a + speech_frames / 2,
            "end {b}"
        );
        let expected = clip_windows(&pre, b - a).count();
        assert_eq!(f.count, expected);
        assert_eq!(f.windows.len(), f.count * pre.window_len());
        let rms = (f.window(0).iter().map(|v| v * v).sum::<f32>() / pre.window_len() as f32).sqrt();
        assert!((rms - 1.0).abs() < 1e-2, "rms {rms}");
    }

    #[test]
    fn silence_and_empty_clips_still_give_one_window() {
        let pre = VoicePreprocessing::default();
        let f = clip_features(&pre, &VadConfig::default(), &vec![0.0; 8_000]).unwrap();
        assert_eq!(f.count, 1);
        assert_eq!(f.speech, None);
        let e = clip_features(&pre, &VadConfig::default(), &[]).unwrap();
        assert_eq!(e.count, 1);
        assert!(e.windows.iter().all(|v| v.is_finite()));
    }
}
