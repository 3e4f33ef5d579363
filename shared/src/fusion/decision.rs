//! What the fusion engine reports for one update.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::calibrate::Probs;
use crate::labels::{Emotion, NUM_CLASSES};

/// The reported state of one update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// A confident, stable label.
    Emotion(Emotion),
    /// Some modality is present but the smoothed top probability is below
    /// the uncertainty threshold.
    Uncertain,
    /// Neither modality has a fresh observation.
    NoDecision,
}

impl Outcome {
    /// The emotion, if the outcome is one.
    pub const fn emotion(self) -> Option<Emotion> {
        match self {
            Outcome::Emotion(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Emotion(e) => e.fmt(f),
            Outcome::Uncertain => f.write_str("uncertain"),
            Outcome::NoDecision => f.write_str("no decision"),
        }
    }
}

/// Which modalities contributed to a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sources {
    /// A fresh face observation with a non-zero weight was fused.
    pub face: bool,
    /// A fresh voice observation with a non-zero weight was fused.
    pub voice: bool,
}

impl Sources {
    /// No modality.
    pub const NONE: Sources = Sources {
        face: false,
        voice: false,
    };

    /// Whether at least one modality contributed.
    pub const fn any(self) -> bool {
        self.face || self.voice
    }
}

/// The result of one [`FusionEngine::update`](super::FusionEngine::update).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision {
    /// The reported label.
    pub label: Outcome,
    /// Smoothed probability of the reported emotion; for
    /// [`Outcome::Uncertain`] the smoothed top probability; 0 for
    /// [`Outcome::NoDecision`].
    pub confidence: f32,
    /// Smoothed fused probabilities (all zero for
    /// [`Outcome::NoDecision`]).
    pub probs: Probs,
    /// Modalities fused into this decision.
    pub sources: Sources,
}

impl Decision {
    /// The "neither modality present" decision.
    pub const NO_DECISION: Decision = Decision {
        label: Outcome::NoDecision,
        confidence: 0.0,
        probs: [0.0; NUM_CLASSES],
        sources: Sources::NONE,
    };

    /// The reported emotion, if any.
    pub const fn emotion(&self) -> Option<Emotion> {
        self.label.emotion()
    }
}
