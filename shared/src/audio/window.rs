//! Model windows: splitting a clip's log-mel frames into windows of
//! `VoicePreprocessing::frames` frames, padding short clips, and
//! normalising a window for the voice model.
//!
//! All frame buffers are row-major `frames × n_mels`.
//!
//! Padding: a clip shorter than one window is *repeat-padded*: its frames
//! are tiled cyclically (`0, 1, .., n-1, 0, 1, ..`) until the window is full,
//! which keeps the window's per-band statistics those of the clip (padding
//! with the floor value `ln(log_floor)` would dominate the per-window
//! normalisation). A clip with no frames at all pads to the floor value
//! (digital silence).

use super::{AudioConfigError, AudioError, FeatureNorm, VoicePreprocessing};

/// Added to the standard deviation before dividing in
/// [`FeatureNorm::PerWindow`] normalisation.
pub const NORM_EPS: f32 = 1e-5;

fn check_len(buffer: &'static str, expected: usize, got: usize) -> Result<(), AudioError> {
    if expected == got {
        Ok(())
    } else {
        Err(AudioError::BufferLength {
            buffer,
            expected,
            got,
        })
    }
}

/// Normalises one window of `pre.frames` log-mel frames (`frames`, row-major
/// `pre.frames × n_mels`) into `out` (same length) per `pre.norm`:
///
/// - [`FeatureNorm::PerWindow`]: subtract each mel band's mean over the
///   window, then divide by `std + NORM_EPS` where `std` is the standard
///   deviation of the whole mean-removed window (all frames and bands), so
///   the output has zero mean per band and unit RMS.
/// - [`FeatureNorm::Global`]: `(x - mean) / std`.
pub fn window_features(
    pre: &VoicePreprocessing,
    frames: &[f32],
    out: &mut [f32],
) -> Result<(), AudioError> {
    pre.validate()?;
    let n = pre.window_len();
    check_len("frames", n, frames.len())?;
    check_len("out", n, out.len())?;
    match pre.norm {
        FeatureNorm::Global { mean, std } => {
            let inv = 1.0 / std;
            for (o, x) in out.iter_mut().zip(frames) {
                *o = (x - mean) * inv;
            }
        }
        FeatureNorm::PerWindow => {
            let n_mels = pre.logmel.n_mels as usize;
            let t = pre.frames as f32;
            out.copy_from_slice(frames);
            for b in 0..n_mels {
                let mean = out[b..].iter().step_by(n_mels).sum::<f32>() / t;
                for v in out[b..].iter_mut().step_by(n_mels) {
                    *v -= mean;
                }
            }
            let var = out.iter().map(|v| v * v).sum::<f32>() / n as f32;
            let inv = 1.0 / (libm::sqrtf(var) + NORM_EPS);
            for v in out.iter_mut() {
                *v *= inv;
            }
        }
    }
    Ok(())
}

/// Start frames of the model windows of a clip of `frames_total` frames:
/// `0, hop_frames, 2·hop_frames, ..` while the window fits, plus one last
/// window aligned to the clip's end when the regular starts leave a tail
/// uncovered. A clip of `1..=frames` frames gives the single start 0 (the
/// window is padded, see [`pad_frames`]); an empty clip gives none. A zero
/// `frames` gives no windows and a zero `hop_frames` is taken as 1
/// ([`VoicePreprocessing::validate`] rejects both).
pub fn clip_windows(pre: &VoicePreprocessing, frames_total: usize) -> impl Iterator<Item = usize> {
    let win = pre.frames as usize;
    let hop = (pre.hop_frames as usize).max(1);
    let (regular, tail) = if win == 0 || frames_total == 0 {
        (0, None)
    } else if frames_total <= win {
        (1, None)
    } else {
        let span = frames_total - win;
        (span / hop + 1, (!span.is_multiple_of(hop)).then_some(span))
    };
    (0..regular).map(move |i| i * hop).chain(tail)
}

/// Fills `out` (`pre.frames × n_mels` values) from the frames in `frames`
/// (row-major, a whole number of frames): copies them and repeat-pads if
/// there are fewer than `pre.frames` (see the module documentation);
/// frames beyond `pre.frames` are ignored. With no frames, `out` is set to
/// the floor value `ln(log_floor)`.
pub fn pad_frames(
    pre: &VoicePreprocessing,
    frames: &[f32],
    out: &mut [f32],
) -> Result<(), AudioError> {
    let n_mels = pre.logmel.n_mels as usize;
    if n_mels == 0 {
        return Err(AudioConfigError::Zero { field: "n_mels" }.into());
    }
    check_len("out", pre.window_len(), out.len())?;
    if !frames.len().is_multiple_of(n_mels) {
        return Err(AudioError::BufferLength {
            buffer: "frames",
            expected: frames.len() / n_mels * n_mels,
            got: frames.len(),
        });
    }
    let have = (frames.len() / n_mels).min(pre.frames as usize);
    if have == 0 {
        out.fill(pre.logmel.floor_value());
        return Ok(());
    }
    let src = &frames[..have * n_mels];
    for chunk in out.chunks_mut(src.len()) {
        chunk.copy_from_slice(&src[..chunk.len()]);
    }
    Ok(())
}

/// Copies the window starting at frame `start` of a clip (`clip`, row-major
/// frames) into `out` (`pre.frames × n_mels`), repeat-padding with
/// [`pad_frames`] when the clip ends before the window does.
pub fn extract_window(
    pre: &VoicePreprocessing,
    clip: &[f32],
    start: usize,
    out: &mut [f32],
) -> Result<(), AudioError> {
    let n_mels = pre.logmel.n_mels as usize;
    if n_mels == 0 {
        return Err(AudioConfigError::Zero { field: "n_mels" }.into());
    }
    let total = clip.len() / n_mels;
    let from = start.min(total);
    let to = start.saturating_add(pre.frames as usize).min(total);
    let whole = &clip[..total * n_mels];
    if clip.len() != whole.len() {
        return Err(AudioError::BufferLength {
            buffer: "clip",
            expected: whole.len(),
            got: clip.len(),
        });
    }
    pad_frames(pre, &whole[from * n_mels..to * n_mels], out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::LogMelConfig;
    use alloc::vec;
    use alloc::vec::Vec;

    fn pre(frames: u16, hop: u16, n_mels: u16, norm: FeatureNorm) -> VoicePreprocessing {
        VoicePreprocessing {
            logmel: LogMelConfig {
                n_mels,
                ..LogMelConfig::default()
            },
            frames,
            hop_frames: hop,
            norm,
        }
    }

    #[test]
    fn windows_cover_a_long_clip() {
        let p = pre(200, 50, 64, FeatureNorm::PerWindow);
        let starts: Vec<usize> = clip_windows(&p, 420).collect();
        assert_eq!(starts, vec![0, 50, 100, 150, 200, 220]);
        let exact: Vec<usize> = clip_windows(&p, 400).collect();
        assert_eq!(exact, vec![0, 50, 100, 150, 200]);
        assert_eq!(clip_windows(&p, 200).collect::<Vec<_>>(), vec![0]);
        assert_eq!(clip_windows(&p, 30).collect::<Vec<_>>(), vec![0]);
        assert_eq!(clip_windows(&p, 0).count(), 0);
        assert_eq!(
            clip_windows(&pre(0, 50, 64, FeatureNorm::PerWindow), 500).count(),
            0
        );
        assert_eq!(
            clip_windows(&pre(10, 0, 64, FeatureNorm::PerWindow), 12).count(),
            3
        );
    }

    #[test]
    fn short_clip_is_repeat_padded() {
        let p = pre(5, 1, 2, FeatureNorm::PerWindow);
        let clip = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0f32; 10];
        pad_frames(&p, &clip, &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]);
        pad_frames(&p, &[], &mut out).unwrap();
        let floor = p.logmel.floor_value();
        assert!(out.iter().all(|&v| v == floor));
        assert!(pad_frames(&p, &[1.0, 2.0, 3.0], &mut out).is_err());
        assert!(pad_frames(&p, &clip, &mut [0.0; 9]).is_err());
    }

    #[test]
    fn extract_window_takes_the_right_frames() {
        let p = pre(3, 1, 2, FeatureNorm::PerWindow);
        let clip: Vec<f32> = (0..10).map(|v| v as f32).collect(); // 5 frames
        let mut out = [0.0f32; 6];
        extract_window(&p, &clip, 1, &mut out).unwrap();
        assert_eq!(out, [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        extract_window(&p, &clip, 4, &mut out).unwrap();
        assert_eq!(out, [8.0, 9.0, 8.0, 9.0, 8.0, 9.0]);
        assert!(extract_window(&p, &clip[..9], 0, &mut out).is_err());
    }

    #[test]
    fn per_window_norm_zero_band_mean_unit_rms() {
        let p = pre(50, 10, 8, FeatureNorm::PerWindow);
        let frames: Vec<f32> = (0..400)
            .map(|i| libm::sinf(i as f32 * 0.7) * (1 + i % 8) as f32 - 5.0 + (i % 8) as f32)
            .collect();
        let mut out = vec![0.0f32; 400];
        window_features(&p, &frames, &mut out).unwrap();
        for b in 0..8 {
            let m: f32 = out[b..].iter().step_by(8).sum::<f32>() / 50.0;
            assert!(m.abs() < 1e-5, "band {b} mean {m}");
        }
        let rms = libm::sqrtf(out.iter().map(|v| v * v).sum::<f32>() / 400.0);
        assert!((rms - 1.0).abs() < 1e-3, "rms {rms}");
        // Invariant to a gain (a constant offset in the log domain).
        let shifted: Vec<f32> = frames.iter().map(|v| v + 3.0).collect();
        let mut out2 = vec![0.0f32; 400];
        window_features(&p, &shifted, &mut out2).unwrap();
        let d = out
            .iter()
            .zip(&out2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-4, "{d}");
    }

    #[test]
    fn constant_window_stays_finite() {
        let p = pre(4, 1, 3, FeatureNorm::PerWindow);
        let mut out = [1.0f32; 12];
        window_features(&p, &[-13.8; 12], &mut out).unwrap();
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn global_norm() {
        let p = pre(
            2,
            1,
            2,
            FeatureNorm::Global {
                mean: 1.0,
                std: 2.0,
            },
        );
        let mut out = [0.0f32; 4];
        window_features(&p, &[1.0, 3.0, -1.0, 5.0], &mut out).unwrap();
        assert_eq!(out, [0.0, 1.0, -1.0, 2.0]);
        let bad = pre(
            2,
            1,
            2,
            FeatureNorm::Global {
                mean: 0.0,
                std: 0.0,
            },
        );
        assert_eq!(
            window_features(&bad, &[0.0; 4], &mut out),
            Err(AudioError::Config(AudioConfigError::GlobalNorm {
                mean: 0.0,
                std: 0.0
            }))
        );
        assert!(matches!(
            window_features(&p, &[0.0; 3], &mut out),
            Err(AudioError::BufferLength {
                buffer: "frames",
                ..
            })
        ));
    }
}
