//! Voice training augmentation, applied to training clips only, after the
//! split: speed perturbation (tempo and pitch together), gain, additive
//! noise at a random SNR, a random 2 s crop (time shift), then SpecAugment
//! masks on the normalised log-mel window.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Augmentation parameters (saved with each checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceAugmentConfig {
    /// Probability of a speed change.
    pub speed_prob: f32,
    /// Largest relative speed change (0.1 = 0.9x..1.1x; pitch moves with it,
    /// about ±1.7 semitones).
    pub max_speed: f32,
    /// Largest gain change in dB (either way).
    pub max_gain_db: f32,
    /// Probability of additive noise.
    pub noise_prob: f32,
    /// SNR range of the noise in dB.
    pub snr_db: [f32; 2],
    /// Number of frequency masks.
    pub freq_masks: usize,
    /// Widest frequency mask in mel bands.
    pub max_freq_mask: usize,
    /// Number of time masks.
    pub time_masks: usize,
    /// Widest time mask in frames.
    pub max_time_mask: usize,
}

impl Default for VoiceAugmentConfig {
    fn default() -> Self {
        VoiceAugmentConfig {
            speed_prob: 0.6,
            max_speed: 0.12,
            max_gain_db: 6.0,
            noise_prob: 0.5,
            snr_db: [8.0, 35.0],
            freq_masks: 2,
            max_freq_mask: 8,
            time_masks: 2,
            max_time_mask: 20,
        }
    }
}

impl VoiceAugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        VoiceAugmentConfig {
            speed_prob: 0.0,
            max_speed: 0.0,
            max_gain_db: 0.0,
            noise_prob: 0.0,
            snr_db: [30.0, 30.0],
            freq_masks: 0,
            max_freq_mask: 0,
            time_masks: 0,
            max_time_mask: 0,
        }
    }
}

/// Resamples `x` by linear interpolation so it plays `factor` times faster
/// (`factor` > 1 shortens it and raises the pitch).
pub fn change_speed(x: &[f32], factor: f32) -> Vec<f32> {
    if x.len() < 2 || factor.is_nan() || factor <= 0.0 {
        return x.to_vec();
    }
    let n = ((x.len() - 1) as f32 / factor).floor() as usize + 1;
    (0..n)
        .map(|i| {
            let t = i as f32 * factor;
            let j = (t as usize).min(x.len() - 2);
            let f = t - j as f32;
            x[j] * (1.0 - f) + x[j + 1] * f
        })
        .collect()
}

/// Speed, gain and noise on a clip's samples (in place where possible),
/// then a random crop of at most `crop_len` samples.
pub fn augment_wave<R: Rng>(
    x: &[f32],
    crop_len: usize,
    cfg: &VoiceAugmentConfig,
    rng: &mut R,
) -> Vec<f32> {
    let mut y = if cfg.speed_prob > 0.0 && rng.random::<f32>() < cfg.speed_prob {
        let f = 1.0 + rng.random_range(-cfg.max_speed..=cfg.max_speed);
        change_speed(x, f)
    } else {
        x.to_vec()
    };
    if y.len() > crop_len {
        let start = rng.random_range(0..=y.len() - crop_len);
        y.drain(..start);
        y.truncate(crop_len);
    }
    let gain = if cfg.max_gain_db > 0.0 {
        10f32.powf(rng.random_range(-cfg.max_gain_db..=cfg.max_gain_db) / 20.0)
    } else {
        1.0
    };
    if cfg.noise_prob > 0.0 && rng.random::<f32>() < cfg.noise_prob && !y.is_empty() {
        let power = y.iter().map(|v| v * v).sum::<f32>() / y.len() as f32;
        let snr = rng.random_range(cfg.snr_db[0]..=cfg.snr_db[1].max(cfg.snr_db[0]));
        let noise_rms = (power / 10f32.powf(snr / 10.0)).sqrt();
        // White or brown-ish (integrated, then leaky) noise.
        let brown = rng.random::<bool>();
        let mut state = 0f32;
        // Unit-variance uniform noise: U(-√3, √3).
        let a = 3f32.sqrt();
        for v in y.iter_mut() {
            let w = rng.random_range(-a..a);
            let n = if brown {
                state = 0.98 * state + 0.2 * w;
                state
            } else {
                w
            };
            *v += noise_rms * n;
        }
    }
    if gain != 1.0 {
        y.iter_mut().for_each(|v| *v = (*v * gain).clamp(-1.0, 1.0));
    }
    y
}

/// SpecAugment: zeroes random bands and frame spans of a normalised window
/// (`frames × n_mels`, row-major; zero is the per-band mean after
/// normalisation).
pub fn spec_augment<R: Rng>(
    window: &mut [f32],
    frames: usize,
    n_mels: usize,
    cfg: &VoiceAugmentConfig,
    rng: &mut R,
) {
    for _ in 0..cfg.freq_masks {
        let w = rng.random_range(0..=cfg.max_freq_mask.min(n_mels));
        let b0 = rng.random_range(0..=n_mels - w);
        for row in window.chunks_exact_mut(n_mels) {
            row[b0..b0 + w].fill(0.0);
        }
    }
    for _ in 0..cfg.time_masks {
        let w = rng.random_range(0..=cfg.max_time_mask.min(frames));
        let t0 = rng.random_range(0..=frames - w);
        window[t0 * n_mels..(t0 + w) * n_mels].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn speed_change_scales_length_and_frequency() {
        let x: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin()).collect();
        let y = change_speed(&x, 1.25);
        assert_eq!(y.len(), 12_800);
        // 1.25x faster: one period of the sine spans 1/1.25 the samples.
        let zero_crossings = |v: &[f32]| v.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        let (a, b) = (zero_crossings(&x[..12_800]), zero_crossings(&y));
        assert!((b as f32 / a as f32 - 1.25).abs() < 0.02, "{a} vs {b}");
        assert_eq!(change_speed(&x, 1.0), x);
    }

    #[test]
    fn noise_hits_the_requested_snr_and_crop_the_length() {
        let x: Vec<f32> = (0..40_000).map(|i| 0.3 * (i as f32 * 0.07).sin()).collect();
        let cfg = VoiceAugmentConfig {
            speed_prob: 0.0,
            max_gain_db: 0.0,
            noise_prob: 1.0,
            snr_db: [10.0, 10.0],
            ..VoiceAugmentConfig::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let y = augment_wave(&x, x.len(), &cfg, &mut rng);
        assert_eq!(y.len(), x.len());
        let signal_power = 0.045f32; // 0.3² / 2
        let noise = y.iter().zip(&x).map(|(p, q)| (p - q).powi(2)).sum::<f32>() / y.len() as f32;
        let snr = 10.0 * (signal_power / noise).log10();
        assert!((snr - 10.0).abs() < 1.5, "SNR {snr} dB");
        // A crop is a contiguous piece of the clip.
        let none = VoiceAugmentConfig::none();
        let c = augment_wave(&x, 32_240, &none, &mut rng);
        assert_eq!(c.len(), 32_240);
        let start = x.iter().position(|v| *v == c[0]).unwrap();
        assert_eq!(&x[start..start + 32_240], &c[..]);
    }

    #[test]
    fn spec_augment_masks_bands_and_frames() {
        let cfg = VoiceAugmentConfig {
            freq_masks: 1,
            max_freq_mask: 8,
            time_masks: 1,
            max_time_mask: 20,
            ..VoiceAugmentConfig::default()
        };
        let mut zeroed_any = false;
        for seed in 0..20 {
            let mut w = vec![1.0f32; 200 * 64];
            spec_augment(
                &mut w,
                200,
                64,
                &cfg,
                &mut rand::rngs::StdRng::seed_from_u64(seed),
            );
            let zeros = w.iter().filter(|v| **v == 0.0).count();
            assert!(zeros <= 8 * 200 + 20 * 64);
            zeroed_any |= zeros > 0;
        }
        assert!(zeroed_any);
    }
}
