//! Audio front end shared by trainer and device: DC removal, streaming
//! log-mel features (microfft), voice activity detection.
//!
//! Pipeline: samples in `[-1, 1]` → [`InputFilter`] (DC blocker +
//! pre-emphasis) → [`LogMel`] (periodic Hann window, real FFT, power
//! spectrum, HTK mel filterbank, `ln(mel + log_floor)`) → log-mel frames.
//! Frames feed both the [`Vad`] (speech gating and [`trim`]) and the voice
//! model through [`clip_windows`], [`extract_window`] and
//! [`window_features`]. The trainer computes its features offline with
//! [`logmel_frames`], which runs the same streaming code as the device.

use serde::{Deserialize, Serialize};

mod clip;
mod dc;
mod error;
mod logmel;
mod mel;
mod vad;
mod window;

pub use clip::{clip_features, frames_to_windows, speech_frames, ClipFeatures, SpeechFrames};
pub use dc::{dc_blocker_pole, DcBlocker, InputFilter, PreEmphasis, DC_CUTOFF_HZ};
pub use error::{AudioConfigError, AudioError};
pub use logmel::{frame_count, logmel_frames, LogMel};
pub use mel::{hz_to_mel, mel_band_edges, mel_to_hz, MelFilterbank};
pub use vad::{trim, Vad, VadConfig, VadFrame};
pub use window::{clip_windows, extract_window, pad_frames, window_features, NORM_EPS};

/// Log-mel front end parameters. Stored in every voice model file, so the
/// device computes exactly the features the model was trained on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogMelConfig {
    /// Sample rate of the input samples, Hz (16 000).
    pub sample_rate: u32,
    /// FFT size (a power of two supported by microfft, 512).
    pub n_fft: u16,
    /// Analysis window length in samples (Hann), at most `n_fft` (400 = 25 ms).
    pub win_length: u16,
    /// Hop between frames in samples (160 = 10 ms).
    pub hop_length: u16,
    /// Number of mel bands (64).
    pub n_mels: u16,
    /// Lowest mel filter edge, Hz.
    pub f_min: f32,
    /// Highest mel filter edge, Hz (at most sample_rate / 2).
    pub f_max: f32,
    /// Pre-emphasis coefficient (0.97); 0 disables it.
    pub pre_emphasis: f32,
    /// Floor added to the mel power before the logarithm.
    pub log_floor: f32,
}

impl LogMelConfig {
    /// FFT sizes the front end supports (microfft real FFTs compiled in).
    pub const SUPPORTED_FFT_SIZES: [u16; 3] = [256, 512, 1024];

    /// Checks the parameters: `n_fft` in [`Self::SUPPORTED_FFT_SIZES`],
    /// `0 < win_length <= n_fft`, `hop_length > 0`, `n_mels > 0`,
    /// `sample_rate > 0`, `0 <= f_min < f_max <= sample_rate / 2`,
    /// `0 <= pre_emphasis < 1`, `log_floor > 0`. Whether every mel band
    /// covers an FFT bin is checked by [`MelFilterbank::new`] (and so by
    /// [`LogMel::new`]).
    pub fn validate(&self) -> Result<(), AudioConfigError> {
        if self.sample_rate == 0 {
            return Err(AudioConfigError::Zero {
                field: "sample_rate",
            });
        }
        if !Self::SUPPORTED_FFT_SIZES.contains(&self.n_fft) {
            return Err(AudioConfigError::UnsupportedFftSize { n_fft: self.n_fft });
        }
        if self.win_length == 0 {
            return Err(AudioConfigError::Zero {
                field: "win_length",
            });
        }
        if self.win_length > self.n_fft {
            return Err(AudioConfigError::WindowLongerThanFft {
                win_length: self.win_length,
                n_fft: self.n_fft,
            });
        }
        if self.hop_length == 0 {
            return Err(AudioConfigError::Zero {
                field: "hop_length",
            });
        }
        if self.n_mels == 0 {
            return Err(AudioConfigError::Zero { field: "n_mels" });
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        let range_ok = self.f_min.is_finite()
            && self.f_max.is_finite()
            && self.f_min >= 0.0
            && self.f_min < self.f_max
            && self.f_max <= nyquist;
        if !range_ok {
            return Err(AudioConfigError::FrequencyRange {
                f_min: self.f_min,
                f_max: self.f_max,
                nyquist,
            });
        }
        if !(self.pre_emphasis >= 0.0 && self.pre_emphasis < 1.0) {
            return Err(AudioConfigError::PreEmphasis {
                value: self.pre_emphasis,
            });
        }
        if !(self.log_floor.is_finite() && self.log_floor > 0.0) {
            return Err(AudioConfigError::LogFloor {
                value: self.log_floor,
            });
        }
        Ok(())
    }

    /// The log-mel value of a band with no power: `ln(log_floor)`.
    pub fn floor_value(&self) -> f32 {
        libm::logf(self.log_floor)
    }
}

impl Default for LogMelConfig {
    fn default() -> Self {
        LogMelConfig {
            sample_rate: 16_000,
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            n_mels: 64,
            f_min: 50.0,
            f_max: 8_000.0,
            pre_emphasis: 0.97,
            log_floor: 1e-6,
        }
    }
}

/// How a window of log-mel frames is normalised before the voice model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FeatureNorm {
    /// Subtract the window's own mean per mel band and divide by the
    /// window's global standard deviation (robust to gain and channel).
    PerWindow,
    /// Fixed mean and standard deviation measured on the training set.
    Global { mean: f32, std: f32 },
}

/// Voice model preprocessing: log-mel parameters and the model window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VoicePreprocessing {
    pub logmel: LogMelConfig,
    /// Frames per model window (200 frames = 2 s at a 10 ms hop).
    pub frames: u16,
    /// Frames between the starts of consecutive windows of a long clip.
    pub hop_frames: u16,
    pub norm: FeatureNorm,
}

impl VoicePreprocessing {
    /// Checks the log-mel parameters, `frames > 0`, `hop_frames > 0` and,
    /// for [`FeatureNorm::Global`], a finite mean and a finite positive std.
    pub fn validate(&self) -> Result<(), AudioConfigError> {
        self.logmel.validate()?;
        if self.frames == 0 {
            return Err(AudioConfigError::Zero { field: "frames" });
        }
        if self.hop_frames == 0 {
            return Err(AudioConfigError::Zero {
                field: "hop_frames",
            });
        }
        if let FeatureNorm::Global { mean, std } = self.norm {
            if !(mean.is_finite() && std.is_finite() && std > 0.0) {
                return Err(AudioConfigError::GlobalNorm { mean, std });
            }
        }
        Ok(())
    }

    /// Number of values in one model window: `frames * n_mels`.
    pub fn window_len(&self) -> usize {
        self.frames as usize * self.logmel.n_mels as usize
    }
}

impl Default for VoicePreprocessing {
    fn default() -> Self {
        VoicePreprocessing {
            logmel: LogMelConfig::default(),
            frames: 200,
            hop_frames: 50,
            norm: FeatureNorm::PerWindow,
        }
    }
}
