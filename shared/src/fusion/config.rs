//! Fusion parameters and their validation.

use core::fmt;

use serde::{Deserialize, Serialize};

/// One input modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Modality {
    /// Facial expression from the camera.
    Face,
    /// Speech emotion from the microphone.
    Voice,
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Modality::Face => "face",
            Modality::Voice => "voice",
        })
    }
}

/// Late-fusion, smoothing and hysteresis parameters.
///
/// Missing fields take their [`Default`] values when deserialising from a
/// self-describing format (JSON, TOML).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default)]
pub struct FusionConfig {
    /// Softmax temperature for face logits (`> 0`; 1 = uncalibrated,
    /// `> 1` flattens an over-confident model).
    pub face_temperature: f32,
    /// Softmax temperature for voice logits (`> 0`).
    pub voice_temperature: f32,
    /// Weight of the face in `[0, 1]` when both modalities are present; the
    /// voice gets `1 - face_weight`.
    pub face_weight: f32,
    /// Minimum smoothed top probability in `[0, 1]` for a label to be
    /// reported; below it the outcome is "uncertain".
    pub uncertain_threshold: f32,
    /// Time constant of the exponential smoothing in milliseconds
    /// (0 = no smoothing).
    pub smoothing_tau_ms: u32,
    /// Lead in smoothed probability, in `[0, 1]`, that a challenger needs
    /// over the current label to replace it.
    pub hysteresis_margin: f32,
    /// How long in milliseconds the challenger must keep that lead before
    /// the label switches (0 = as soon as the lead appears).
    pub min_dwell_ms: u32,
    /// A modality whose latest observation is older than this many
    /// milliseconds counts as missing; a gap longer than this between two
    /// decisions restarts smoothing and hysteresis.
    pub stale_after_ms: u32,
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig {
            face_temperature: 1.0,
            voice_temperature: 1.0,
            face_weight: 0.6,
            uncertain_threshold: 0.4,
            smoothing_tau_ms: 500,
            hysteresis_margin: 0.1,
            min_dwell_ms: 300,
            stale_after_ms: 1500,
        }
    }
}

impl FusionConfig {
    /// Weight of the voice when both modalities are present.
    pub fn voice_weight(&self) -> f32 {
        1.0 - self.face_weight
    }

    /// Temperature of one modality.
    pub fn temperature(&self, modality: Modality) -> f32 {
        match modality {
            Modality::Face => self.face_temperature,
            Modality::Voice => self.voice_temperature,
        }
    }

    /// Checks every field; the first invalid one is reported.
    pub fn validate(&self) -> Result<(), FusionConfigError> {
        for m in [Modality::Face, Modality::Voice] {
            let t = self.temperature(m);
            if !t.is_finite() || t <= 0.0 {
                return Err(FusionConfigError::Temperature {
                    modality: m,
                    value: t,
                });
            }
        }
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if !unit(self.face_weight) {
            return Err(FusionConfigError::FaceWeight(self.face_weight));
        }
        if !unit(self.uncertain_threshold) {
            return Err(FusionConfigError::UncertainThreshold(
                self.uncertain_threshold,
            ));
        }
        if !unit(self.hysteresis_margin) {
            return Err(FusionConfigError::HysteresisMargin(self.hysteresis_margin));
        }
        Ok(())
    }
}

/// An invalid [`FusionConfig`] field.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FusionConfigError {
    /// A temperature is not finite and positive.
    Temperature { modality: Modality, value: f32 },
    /// `face_weight` is outside `[0, 1]` or NaN.
    FaceWeight(f32),
    /// `uncertain_threshold` is outside `[0, 1]` or NaN.
    UncertainThreshold(f32),
    /// `hysteresis_margin` is outside `[0, 1]` or NaN.
    HysteresisMargin(f32),
}

impl fmt::Display for FusionConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FusionConfigError::Temperature { modality, value } => write!(
                f,
                "{modality}_temperature is {value}; use a finite value > 0 (1.0 = uncalibrated)"
            ),
            FusionConfigError::FaceWeight(v) => write!(
                f,
                "face_weight is {v}; use a value in [0, 1] (the voice gets 1 - face_weight)"
            ),
            FusionConfigError::UncertainThreshold(v) => write!(
                f,
                "uncertain_threshold is {v}; use a probability in [0, 1] (0 = never uncertain)"
            ),
            FusionConfigError::HysteresisMargin(v) => write!(
                f,
                "hysteresis_margin is {v}; use a probability difference in [0, 1] (0 = no margin)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FusionConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        let c = FusionConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert!((c.voice_weight() - 0.4).abs() < 1e-6);
    }

    #[test]
    fn each_bad_field_is_reported() {
        let d = FusionConfig::default();
        let cases = [
            (
                FusionConfig {
                    face_temperature: 0.0,
                    ..d
                },
                FusionConfigError::Temperature {
                    modality: Modality::Face,
                    value: 0.0,
                },
            ),
            (
                FusionConfig {
                    voice_temperature: -2.0,
                    ..d
                },
                FusionConfigError::Temperature {
                    modality: Modality::Voice,
                    value: -2.0,
                },
            ),
            (
                FusionConfig {
                    voice_temperature: f32::INFINITY,
                    ..d
                },
                FusionConfigError::Temperature {
                    modality: Modality::Voice,
                    value: f32::INFINITY,
                },
            ),
            (
                FusionConfig {
                    face_weight: 1.5,
                    ..d
                },
                FusionConfigError::FaceWeight(1.5),
            ),
            (
                FusionConfig {
                    face_weight: -0.1,
                    ..d
                },
                FusionConfigError::FaceWeight(-0.1),
            ),
            (
                FusionConfig {
                    uncertain_threshold: 1.01,
                    ..d
                },
                FusionConfigError::UncertainThreshold(1.01),
            ),
            (
                FusionConfig {
                    hysteresis_margin: -0.5,
                    ..d
                },
                FusionConfigError::HysteresisMargin(-0.5),
            ),
        ];
        for (c, e) in cases {
            assert_eq!(c.validate(), Err(e));
        }
        // NaN compares unequal to itself: match the variant.
        for c in [
            FusionConfig {
                face_temperature: f32::NAN,
                ..d
            },
            FusionConfig {
                face_weight: f32::NAN,
                ..d
            },
            FusionConfig {
                uncertain_threshold: f32::NAN,
                ..d
            },
            FusionConfig {
                hysteresis_margin: f32::NAN,
                ..d
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
        // The edges of the ranges are valid.
        for c in [
            FusionConfig {
                face_weight: 0.0,
                uncertain_threshold: 1.0,
                ..d
            },
            FusionConfig {
                face_weight: 1.0,
                hysteresis_margin: 0.0,
                ..d
            },
        ] {
            assert_eq!(c.validate(), Ok(()));
        }
    }

    #[test]
    fn error_messages_name_the_field() {
        extern crate alloc;
        use alloc::string::ToString;
        let e = FusionConfigError::Temperature {
            modality: Modality::Voice,
            value: 0.0,
        };
        assert!(e.to_string().starts_with("voice_temperature is 0"));
        assert!(FusionConfigError::FaceWeight(2.0)
            .to_string()
            .contains("face_weight"));
    }

    #[test]
    fn serde_round_trip_and_defaults() {
        let c = FusionConfig {
            face_weight: 0.7,
            min_dwell_ms: 120,
            ..Default::default()
        };
        let bytes = postcard::to_allocvec(&c).unwrap();
        let back: FusionConfig = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, c);
    }
}
