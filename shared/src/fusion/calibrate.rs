//! Temperature-scaled softmax calibration of per-modality scores.

use core::fmt;

use crate::labels::{Emotion, NUM_CLASSES};

/// A probability vector over the seven classes, in [`Emotion`] index order.
pub type Probs = [f32; NUM_CLASSES];

/// Raw per-class scores from one modality's model.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scores {
    /// Unnormalised logits (the model's last layer before softmax).
    Logits(Probs),
    /// Probabilities (the model already applied a softmax). Negative values
    /// count as 0; the vector need not sum exactly to 1.
    Probs(Probs),
}

impl Scores {
    /// Calibrated probabilities: [`calibrate`] or [`calibrate_probs`].
    pub fn calibrate(&self, temperature: f32) -> Result<Probs, CalibrationError> {
        match self {
            Scores::Logits(l) => calibrate(l, temperature),
            Scores::Probs(p) => calibrate_probs(p, temperature),
        }
    }
}

/// Why scores could not be calibrated.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CalibrationError {
    /// The temperature is not finite and positive.
    InvalidTemperature(f32),
    /// A score is NaN or infinite.
    NonFiniteScores,
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CalibrationError::InvalidTemperature(t) => write!(
                f,
                "temperature {t} is invalid; use a finite value > 0 (1.0 = no calibration)"
            ),
            CalibrationError::NonFiniteScores => f.write_str(
                "scores contain NaN or infinity; the model output is broken, skip this observation",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CalibrationError {}

fn check(scores: &Probs, temperature: f32) -> Result<(), CalibrationError> {
    if !temperature.is_finite() || temperature <= 0.0 {
        return Err(CalibrationError::InvalidTemperature(temperature));
    }
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(CalibrationError::NonFiniteScores);
    }
    Ok(())
}

/// Temperature-scaled softmax of `logits`: `softmax(logits / T)`.
///
/// Numerically stable (the maximum is subtracted before `exp`, so the
/// largest term is exactly 1 and the sum never under- or overflows). The
/// result sums to 1 (up to rounding).
pub fn calibrate(logits: &Probs, temperature: f32) -> Result<Probs, CalibrationError> {
    check(logits, temperature)?;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0.0; NUM_CLASSES];
    let mut sum = 0.0;
    for (o, &l) in out.iter_mut().zip(logits) {
        // l - max <= 0; may be -inf for extreme spreads, exp(-inf) = 0.
        *o = libm::expf((l - max) / temperature);
        sum += *o;
    }
    // sum >= 1: the maximum contributes exp(0) = 1.
    for o in &mut out {
        *o /= sum;
    }
    Ok(out)
}

/// Temperature scaling of probabilities: `softmax(ln(p) / T)`, i.e.
/// `p^(1/T)` renormalised. With `T = 1` this only renormalises. Values are
/// floored at the smallest positive `f32` before the logarithm, so zeros
/// and negatives are allowed.
pub fn calibrate_probs(probs: &Probs, temperature: f32) -> Result<Probs, CalibrationError> {
    check(probs, temperature)?;
    let mut logits = [0.0; NUM_CLASSES];
    for (l, &p) in logits.iter_mut().zip(probs) {
        *l = libm::logf(p.max(f32::MIN_POSITIVE));
    }
    calibrate(&logits, temperature)
}

/// The most probable class and its probability. Ties go to the lower class
/// index; NaN entries are never chosen over a number.
pub fn top_class(probs: &Probs) -> (Emotion, f32) {
    let mut best = 0;
    for (i, &p) in probs.iter().enumerate().skip(1) {
        if p > probs[best] || probs[best].is_nan() {
            best = i;
        }
    }
    (Emotion::ALL[best], probs[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGITS: Probs = [2.0, -1.0, 0.5, 3.0, 1.0, -2.0, 0.0];

    fn sum(p: &Probs) -> f32 {
        p.iter().sum()
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        for t in [0.25, 0.5, 1.0, 2.0, 10.0] {
            let p = calibrate(&LOGITS, t).unwrap();
            assert!((sum(&p) - 1.0).abs() < 1e-6, "T={t}");
            assert_eq!(top_class(&p).0, Emotion::Happy);
            for i in 0..NUM_CLASSES {
                for j in 0..NUM_CLASSES {
                    if LOGITS[i] > LOGITS[j] {
                        assert!(p[i] > p[j]);
                    }
                }
            }
        }
        // T = 1 is the plain softmax.
        let p = calibrate(&LOGITS, 1.0).unwrap();
        let z: f32 = LOGITS.iter().map(|&l| libm::expf(l)).sum();
        for (pi, &l) in p.iter().zip(&LOGITS) {
            assert!((pi - libm::expf(l) / z).abs() < 1e-6);
        }
    }

    #[test]
    fn high_temperature_flattens_low_sharpens() {
        let base = calibrate(&LOGITS, 1.0).unwrap();
        let flat = calibrate(&LOGITS, 3.0).unwrap();
        let sharp = calibrate(&LOGITS, 0.3).unwrap();
        let top = Emotion::Happy.index();
        assert!(flat[top] < base[top] && base[top] < sharp[top]);
        let bottom = Emotion::Sad.index();
        assert!(flat[bottom] > base[bottom] && base[bottom] > sharp[bottom]);
        // Entropy ordering.
        let entropy = |p: &Probs| -> f32 {
            p.iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| -x * libm::logf(x))
                .sum()
        };
        assert!(entropy(&flat) > entropy(&base) && entropy(&base) > entropy(&sharp));
    }

    #[test]
    fn stable_for_extreme_logits() {
        let p = calibrate(&[1e30, -1e30, 0.0, 0.0, 0.0, 0.0, 0.0], 1.0).unwrap();
        assert_eq!(p[0], 1.0);
        assert!((sum(&p) - 1.0).abs() < 1e-6);
        let p = calibrate(&[1000.0; NUM_CLASSES], 1e-20).unwrap();
        assert!(p.iter().all(|&x| (x - 1.0 / 7.0).abs() < 1e-6));
        let p = calibrate(&[f32::MAX, -f32::MAX, 0.0, 0.0, 0.0, 0.0, 0.0], 0.5).unwrap();
        assert_eq!(p[0], 1.0);
    }

    #[test]
    fn probability_input_round_trips_at_t1() {
        let p = calibrate(&LOGITS, 1.0).unwrap();
        let q = calibrate_probs(&p, 1.0).unwrap();
        for (a, b) in p.iter().zip(&q) {
            assert!((a - b).abs() < 1e-6);
        }
        // Zeros and negatives are allowed, and T < 1 sharpens.
        let r = calibrate_probs(&[0.6, 0.4, 0.0, -0.1, 0.0, 0.0, 0.0], 0.5).unwrap();
        assert!((r[0] - 0.36 / 0.52).abs() < 1e-5);
        assert!((sum(&r) - 1.0).abs() < 1e-6);
        assert_eq!(Scores::Probs(p).calibrate(1.0).unwrap(), q);
        assert_eq!(Scores::Logits(LOGITS).calibrate(1.0).unwrap(), p);
    }

    #[test]
    fn bad_input_is_rejected() {
        assert_eq!(
            calibrate(&LOGITS, 0.0),
            Err(CalibrationError::InvalidTemperature(0.0))
        );
        assert_eq!(
            calibrate(&LOGITS, -1.0),
            Err(CalibrationError::InvalidTemperature(-1.0))
        );
        assert!(matches!(
            calibrate(&LOGITS, f32::NAN),
            Err(CalibrationError::InvalidTemperature(_))
        ));
        let mut bad = LOGITS;
        bad[3] = f32::NAN;
        assert_eq!(calibrate(&bad, 1.0), Err(CalibrationError::NonFiniteScores));
        bad[3] = f32::INFINITY;
        assert_eq!(
            calibrate_probs(&bad, 1.0),
            Err(CalibrationError::NonFiniteScores)
        );
    }

    #[test]
    fn top_class_ties_and_nan() {
        assert_eq!(
            top_class(&[0.2, 0.3, 0.3, 0.1, 0.1, 0.0, 0.0]),
            (Emotion::Disgust, 0.3)
        );
        let (e, p) = top_class(&[f32::NAN, 0.1, 0.5, 0.1, 0.1, 0.1, 0.1]);
        assert_eq!((e, p), (Emotion::Fear, 0.5));
    }
}
