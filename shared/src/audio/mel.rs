//! HTK mel scale and a sparse triangular mel filterbank.
//!
//! The filterbank is librosa's `mel(sr, n_fft, n_mels, fmin, fmax,
//! htk=True, norm=None)`: `n_mels + 2` edge frequencies equally spaced on
//! the HTK mel scale `mel(f) = 2595 · log10(1 + f / 700)` between `f_min`
//! and `f_max`; band `m` is a triangle rising from edge `m` to 1 at edge
//! `m + 1` and falling to 0 at edge `m + 2`, evaluated at the FFT bin
//! frequencies `k · sample_rate / n_fft`, `k = 0..=n_fft/2`. There is no
//! area (Slaney) normalisation: every triangle peaks at 1, so overlapping
//! triangles sum to 1 between the first and last band centres.
//!
//! Weights are computed in `f64` and stored sparsely as one run of
//! non-zero weights per band.

use alloc::vec::Vec;

use super::{AudioConfigError, LogMelConfig};

/// HTK mel value of a frequency in Hz: `2595 · log10(1 + hz / 700)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * libm::log10(1.0 + hz / 700.0)
}

/// Frequency in Hz of an HTK mel value (inverse of [`hz_to_mel`]).
pub fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (libm::pow(10.0, mel / 2595.0) - 1.0)
}

/// The `n_mels + 2` band edge frequencies of a configuration, Hz: band `m`
/// spans `edges[m]..edges[m + 2]` and peaks at `edges[m + 1]`.
pub fn mel_band_edges(cfg: &LogMelConfig) -> Vec<f64> {
    let n = cfg.n_mels as usize + 2;
    let lo = hz_to_mel(cfg.f_min as f64);
    let hi = hz_to_mel(cfg.f_max as f64);
    (0..n)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n - 1) as f64))
        .collect()
}

/// One band of the sparse filterbank: weights `weights[offset..offset+len]`
/// apply to power bins `start..start+len`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Band {
    start: usize,
    offset: usize,
    len: usize,
}

/// Sparse triangular HTK mel filterbank (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct MelFilterbank {
    bands: Vec<Band>,
    weights: Vec<f32>,
    centers_hz: Vec<f32>,
    n_bins: usize,
}

impl MelFilterbank {
    /// Builds the filterbank of a configuration, which must already be
    /// valid per [`LogMelConfig::validate`]. Fails with
    /// [`AudioConfigError::EmptyMelBand`] when a band covers no FFT bin.
    pub fn new(cfg: &LogMelConfig) -> Result<Self, AudioConfigError> {
        cfg.validate()?;
        let n_fft = cfg.n_fft as usize;
        let n_bins = n_fft / 2 + 1;
        let edges = mel_band_edges(cfg);
        let sr = cfg.sample_rate as f64;
        let mut bands = Vec::with_capacity(cfg.n_mels as usize);
        let mut weights = Vec::new();
        let mut centers_hz = Vec::with_capacity(cfg.n_mels as usize);
        for m in 0..cfg.n_mels as usize {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let weight = |k: usize| {
                let f = k as f64 * sr / n_fft as f64;
                let lower = (f - lo) / (mid - lo);
                let upper = (hi - f) / (hi - mid);
                lower.min(upper).max(0.0)
            };
            let Some(start) = (0..n_bins).find(|&k| weight(k) > 0.0) else {
                return Err(AudioConfigError::EmptyMelBand { band: m as u16 });
            };
            let end = (start..n_bins)
                .rev()
                .find(|&k| weight(k) > 0.0)
                .unwrap_or(start);
            let offset = weights.len();
            weights.extend((start..=end).map(|k| weight(k) as f32));
            bands.push(Band {
                start,
                offset,
                len: weights.len() - offset,
            });
            centers_hz.push(mid as f32);
        }
        Ok(MelFilterbank {
            bands,
            weights,
            centers_hz,
            n_bins,
        })
    }

    /// Number of mel bands.
    pub fn n_bands(&self) -> usize {
        self.bands.len()
    }

    /// Number of power spectrum bins expected by [`apply`](Self::apply)
    /// (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// Centre (peak) frequency of each band, Hz.
    pub fn centers_hz(&self) -> &[f32] {
        &self.centers_hz
    }

    /// The non-zero weights of band `band` and the first power bin they
    /// apply to; `None` when `band` is out of range.
    pub fn band_weights(&self, band: usize) -> Option<(usize, &[f32])> {
        let b = self.bands.get(band)?;
        Some((b.start, &self.weights[b.offset..b.offset + b.len]))
    }

    /// Mel power of each band: `out[m] = Σ_k w[m][k] · power[k]`. Writes
    /// `min(out.len(), n_bands)` bands; missing power bins count as zero.
    #[inline]
    pub fn apply(&self, power: &[f32], out: &mut [f32]) {
        for (band, o) in self.bands.iter().zip(out.iter_mut()) {
            let w = &self.weights[band.offset..band.offset + band.len];
            let p = power.get(band.start..).unwrap_or(&[]);
            *o = w.iter().zip(p).map(|(w, p)| w * p).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 50.0, 700.0, 1000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
        // HTK: 1000 Hz is close to 1000 mel.
        assert!((hz_to_mel(1000.0) - 999.99).abs() < 0.1);
    }

    #[test]
    fn default_bank_is_sparse_and_triangular() {
        let fb = MelFilterbank::new(&LogMelConfig::default()).unwrap();
        assert_eq!(fb.n_bands(), 64);
        assert_eq!(fb.n_bins(), 257);
        for m in 0..64 {
            let (start, w) = fb.band_weights(m).unwrap();
            assert!(!w.is_empty());
            assert!(start + w.len() <= 257);
            assert!(w.iter().all(|&x| x > 0.0 && x <= 1.0));
        }
        assert!(fb.band_weights(64).is_none());
        // Centres increase.
        assert!(fb.centers_hz().windows(2).all(|c| c[0] < c[1]));
    }

    #[test]
    fn overlapping_triangles_sum_to_one_inside() {
        let cfg = LogMelConfig::default();
        let fb = MelFilterbank::new(&cfg).unwrap();
        let mut sum = [0.0f32; 257];
        for m in 0..fb.n_bands() {
            let (s, w) = fb.band_weights(m).unwrap();
            for (i, x) in w.iter().enumerate() {
                sum[s + i] += x;
            }
        }
        let lo = fb.centers_hz()[0];
        let hi = fb.centers_hz()[63];
        for (k, s) in sum.iter().enumerate() {
            let f = k as f32 * 16_000.0 / 512.0;
            if f > lo && f < hi {
                assert!((s - 1.0).abs() < 1e-4, "bin {k}: {s}");
            }
        }
    }

    #[test]
    fn too_many_bands_for_fft_is_rejected() {
        let cfg = LogMelConfig {
            n_fft: 256,
            win_length: 256,
            n_mels: 128,
            f_min: 0.0,
            ..LogMelConfig::default()
        };
        assert!(matches!(
            MelFilterbank::new(&cfg),
            Err(AudioConfigError::EmptyMelBand { .. })
        ));
    }
}
