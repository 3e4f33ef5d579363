//! Late fusion of face and voice emotion scores, with temporal smoothing and
//! hysteresis. `no_std`, no allocation: a [`FusionEngine`] is a small `Copy`
//! value, so the device can keep one per tracked face.
//!
//! # Pipeline (one [`FusionEngine::update`] call)
//!
//! 1. **Calibration** ([`calibrate`]): each modality's logits go through a
//!    temperature-scaled softmax (`T > 1` flattens over-confident models,
//!    `T < 1` sharpens), so the two modalities' probabilities are comparable
//!    before they are mixed. Scores containing NaN or infinity are rejected
//!    and count as "no new observation".
//! 2. **Freshness**: the engine remembers each modality's latest calibrated
//!    observation and its timestamp. A modality whose latest observation is
//!    older than [`FusionConfig::stale_after_ms`] (or that never produced
//!    one, or was cleared with [`FusionEngine::clear_face`] /
//!    [`FusionEngine::clear_voice`]) is *missing*. This lets a slow modality
//!    (voice, one window per second) be fused with a fast one (face, every
//!    frame) without dropping out between its own updates.
//! 3. **Fusion** ([`fuse`], sum rule): with both modalities present the
//!    fused vector is `w * face + (1 - w) * voice`
//!    (`w` = [`FusionConfig::face_weight`]).
//! 4. **Smoothing** ([`Smoother`]): exponential smoothing with a time-aware
//!    factor `alpha = 1 - exp(-dt / tau)`, so irregular frame intervals
//!    weigh each frame by the time it stands for.
//! 5. **Hysteresis** ([`Hysteresis`]): the reported label only changes when
//!    a challenger's smoothed probability beats the current label's by
//!    [`FusionConfig::hysteresis_margin`] for at least
//!    [`FusionConfig::min_dwell_ms`]; [`Outcome::Uncertain`] when the
//!    smoothed top probability is below
//!    [`FusionConfig::uncertain_threshold`].
//!
//! # Missing modalities
//!
//! - **No face** (no face in view, face tracker lost, face observation
//!   stale): the voice probabilities are used alone, with weight 1.
//! - **No voice** (silence, VAD reports no speech, voice observation stale):
//!   the face probabilities are used alone, with weight 1.
//! - **Neither**: no fused vector exists; the engine returns
//!   [`Outcome::NoDecision`] with all-zero probabilities and leaves its
//!   smoothing and hysteresis state untouched. If the gap before the next
//!   decision exceeds [`FusionConfig::stale_after_ms`], smoothing and
//!   hysteresis restart from scratch (the old state describes a moment that
//!   is no longer relevant).
//!
//! The weights are therefore relative: a single modality is never scaled
//! down by its weight, so its confidence is not artificially lowered when
//! the other one is absent. [`Decision::sources`] says which modalities
//! contributed to a decision.
//!
//! # Time
//!
//! Nothing here reads a clock or sleeps: every call takes `now_ms`, a
//! monotonic millisecond timestamp (see [`Clock`], and [`MockClock`] for
//! tests). A timestamp earlier than the previous one is treated as no time
//! having passed.

mod calibrate;
mod clock;
mod config;
mod decision;
mod engine;
mod hysteresis;
mod smoothing;

pub use calibrate::{calibrate, calibrate_probs, top_class, CalibrationError, Probs, Scores};
#[cfg(feature = "std")]
pub use clock::StdClock;
pub use clock::{Clock, MockClock};
pub use config::{FusionConfig, FusionConfigError, Modality};
pub use decision::{Decision, Outcome, Sources};
pub use engine::{fuse, Fused, FusionEngine};
pub use hysteresis::Hysteresis;
pub use smoothing::{smoothing_alpha, Smoothed, Smoother};
