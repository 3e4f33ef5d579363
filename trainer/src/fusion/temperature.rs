//! Temperature scaling: one temperature per model, fitted by minimising the
//! negative log-likelihood (NLL) of `softmax(z / T)` on validation data,
//! and the expected calibration error (ECE) to judge it.
//!
//! # The fit
//!
//! With `b = 1 / T` the mean NLL of labelled logits `z_i` (label `y_i`)
//!
//! `f(b) = mean_i [ logsumexp(b z_i) - b z_i[y_i] ]`
//!
//! is convex in `b`: its derivative `f'(b) = mean_i (E_p[z_i] - z_i[y_i])`
//! (expectation under `p = softmax(b z_i)`) is non-decreasing because
//! `f''(b) = mean_i Var_p[z_i] >= 0`. So the optimum is the one root of
//! `f'` (or an end of the allowed range when `f'` does not change sign in
//! it), found by Newton steps with the exact first and second derivatives,
//! safeguarded by a bisection bracket on the sign of `f'`: a Newton step
//! that leaves the bracket (or a flat `f''`) is replaced by the bracket's
//! geometric midpoint. The problem is one-dimensional, so no linear
//! algebra library is involved. Temperatures are kept in
//! [`MIN_TEMPERATURE`]..=[`MAX_TEMPERATURE`].

use emoedge_shared::fusion::{calibrate, Probs};
use emoedge_shared::NUM_CLASSES;

/// Uncalibrated per-class scores of one sample, in label order.
pub type Logits = [f32; NUM_CLASSES];

/// Smallest temperature a fit returns.
pub const MIN_TEMPERATURE: f64 = 0.05;
/// Largest temperature a fit returns.
pub const MAX_TEMPERATURE: f64 = 20.0;

/// Bins of the expected calibration error (the usual 15).
pub const ECE_BINS: usize = 15;

/// Mean NLL and its first and second derivatives with respect to
/// `b = 1 / T`, in f64.
fn nll_derivatives(logits: &[Logits], labels: &[usize], b: f64) -> (f64, f64, f64) {
    let (mut f, mut g, mut h) = (0.0, 0.0, 0.0);
    for (z, &y) in logits.iter().zip(labels) {
        let s: Vec<f64> = z.iter().map(|&v| b * f64::from(v)).collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|&v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let (mut mean, mut sq) = (0.0, 0.0);
        for (&ei, &zi) in e.iter().zip(z) {
            let (p, zi) = (ei / sum, f64::from(zi));
            mean += p * zi;
            sq += p * zi * zi;
        }
        f += max + sum.ln() - s[y];
        g += mean - f64::from(z[y]);
        h += (sq - mean * mean).max(0.0);
    }
    let n = logits.len().max(1) as f64;
    (f / n, g / n, h / n)
}

/// Mean negative log-likelihood of `softmax(logits / temperature)` at the
/// true classes `labels` (class indices).
pub fn nll(logits: &[Logits], labels: &[usize], temperature: f64) -> f64 {
    nll_derivatives(logits, labels, 1.0 / temperature).0
}

/// A fitted temperature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TemperatureFit {
    /// The NLL-minimising temperature.
    pub temperature: f32,
    /// Mean NLL at `T = 1`.
    pub nll_before: f64,
    /// Mean NLL at the fitted temperature.
    pub nll_after: f64,
    /// Newton or bisection steps taken.
    pub iterations: usize,
}

/// Fits the temperature minimising the mean NLL of `softmax(z / T)` (see
/// the module docs). Without samples the temperature is 1.
pub fn fit_temperature(logits: &[Logits], labels: &[usize]) -> TemperatureFit {
    assert_eq!(logits.len(), labels.len(), "one label per sample");
    let nll_before = nll(logits, labels, 1.0);
    let done = |b: f64, iterations| {
        let temperature = (1.0 / b) as f32;
        TemperatureFit {
            temperature,
            nll_before,
            nll_after: nll(logits, labels, f64::from(temperature)),
            iterations,
        }
    };
    if logits.is_empty() {
        return done(1.0, 0);
    }
    let (mut lo, mut hi) = (1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE);
    if nll_derivatives(logits, labels, lo).1 >= 0.0 {
        return done(lo, 0);
    }
    if nll_derivatives(logits, labels, hi).1 <= 0.0 {
        return done(hi, 0);
    }
    // f'(lo) < 0 < f'(hi): the root is inside.
    let mut b: f64 = 1.0;
    let mut iterations = 0;
    while iterations < 100 {
        iterations += 1;
        let (_, g, h) = nll_derivatives(logits, labels, b);
        if g.abs() < 1e-12 {
            break;
        }
        if g < 0.0 {
            lo = b;
        } else {
            hi = b;
        }
        let newton = b - g / h;
        let next = if h > 1e-300 && newton > lo && newton < hi {
            newton
        } else {
            (lo * hi).sqrt()
        };
        let converged = (next - b).abs() <= 1e-10 * b || (hi - lo) <= 1e-12 * b;
        b = next;
        if converged {
            break;
        }
    }
    done(b, iterations)
}

/// Calibrated probabilities of `logits` at `temperature`: the shared
/// [`calibrate`] the device's fusion engine applies. Non-finite scores give
/// a uniform vector.
pub fn probabilities(logits: &Logits, temperature: f32) -> Probs {
    calibrate(logits, temperature).unwrap_or([1.0 / NUM_CLASSES as f32; NUM_CLASSES])
}

/// Expected calibration error with `bins` equal-width confidence bins:
/// `sum_b (n_b / N) |accuracy_b - mean confidence_b|`, where a sample's
/// confidence is its top probability and it is right when its top class
/// (the first on ties) is its label. A confidence of exactly 1 falls in
/// the last bin; empty bins add nothing; no samples give 0.
pub fn expected_calibration_error(probs: &[Probs], labels: &[usize], bins: usize) -> f64 {
    assert_eq!(probs.len(), labels.len(), "one label per sample");
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf = vec![0.0f64; bins];
    let mut right = vec![0usize; bins];
    for (p, &y) in probs.iter().zip(labels) {
        let (top, c) =
            p.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
        let c = f64::from(c).clamp(0.0, 1.0);
        let bin = ((c * bins as f64) as usize).min(bins - 1);
        count[bin] += 1;
        conf[bin] += c;
        right[bin] += usize::from(top == y);
    }
    let n = probs.len();
    if n == 0 {
        return 0.0;
    }
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let k = count[b] as f64;
            (k / n as f64) * (right[b] as f64 / k - conf[b] / k).abs()
        })
        .sum()
}

/// NLL and ECE of a model's validation scores at one temperature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibrationQuality {
    /// The temperature.
    pub temperature: f32,
    /// Mean negative log-likelihood.
    pub nll: f64,
    /// Expected calibration error ([`ECE_BINS`] bins).
    pub ece: f64,
    /// Top-class accuracy (the same at every temperature).
    pub accuracy: f64,
}

/// [`CalibrationQuality`] of `logits` at `temperature`.
pub fn quality(logits: &[Logits], labels: &[usize], temperature: f32) -> CalibrationQuality {
    let probs: Vec<Probs> = logits
        .iter()
        .map(|z| probabilities(z, temperature))
        .collect();
    let right = probs
        .iter()
        .zip(labels)
        .filter(|(p, &y)| emoedge_shared::fusion::top_class(p).0.index() == y)
        .count();
    CalibrationQuality {
        temperature,
        nll: nll(logits, labels, f64::from(temperature)),
        ece: expected_calibration_error(&probs, labels, ECE_BINS),
        accuracy: right as f64 / labels.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `n` samples from a perfectly calibrated model (labels drawn from
    /// `softmax(u)`), whose logits are then multiplied by `scale`: an
    /// over-confident model for `scale > 1`, under-confident below 1. The
    /// NLL-optimal temperature is `scale`.
    fn synthetic(n: usize, scale: f32, seed: u64) -> (Vec<Logits>, Vec<usize>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut logits = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let mut u = [0.0f32; NUM_CLASSES];
            let peak = rng.random_range(0..NUM_CLASSES);
            for (i, v) in u.iter_mut().enumerate() {
                *v = rng.random_range(-1.5f32..1.5) + if i == peak { 2.0 } else { 0.0 };
            }
            let p = calibrate(&u, 1.0).unwrap();
            let mut r = rng.random_range(0.0f32..1.0);
            let mut y = NUM_CLASSES - 1;
            for (i, &pi) in p.iter().enumerate() {
                if r < pi {
                    y = i;
                    break;
                }
                r -= pi;
            }
            logits.push(u.map(|v| v * scale));
            labels.push(y);
        }
        (logits, labels)
    }

    #[test]
    fn fit_recovers_the_known_temperature() {
        for (scale, seed) in [(2.5f32, 1u64), (0.4, 2), (1.0, 3), (6.0, 4)] {
            let (z, y) = synthetic(20_000, scale, seed);
            let fit = fit_temperature(&z, &y);
            let rel = (fit.temperature / scale - 1.0).abs();
            assert!(rel < 0.05, "scale {scale}: fitted {fit:?}");
            assert!(fit.nll_after <= fit.nll_before + 1e-12, "{fit:?}");
            if scale != 1.0 {
                assert!(fit.nll_after < fit.nll_before - 1e-3, "{fit:?}");
            }
            // A minimum: nudging T either way does not lower the NLL.
            let t = f64::from(fit.temperature);
            for d in [0.97, 1.03] {
                assert!(nll(&z, &y, t * d) >= fit.nll_after - 1e-9);
            }
            // And the ECE improves (or stays tiny) at the fitted T.
            let before = quality(&z, &y, 1.0);
            let after = quality(&z, &y, fit.temperature);
            assert!(after.ece < 0.02, "scale {scale}: {after:?}");
            if scale != 1.0 {
                assert!(after.ece < before.ece, "{before:?} -> {after:?}");
            }
            assert_eq!(after.accuracy, before.accuracy);
            assert!(fit.iterations <= 40, "{fit:?}");
        }
    }

    #[test]
    fn fit_stays_in_range_on_degenerate_data() {
        // Always right by a wide margin: sharper is always better, the
        // smallest temperature is returned.
        let z = vec![[5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]; 10];
        let fit = fit_temperature(&z, &[0; 10]);
        assert!((f64::from(fit.temperature) - MIN_TEMPERATURE).abs() < 1e-6);
        // Always wrong: flatter is always better, the largest.
        let fit = fit_temperature(&z, &[1; 10]);
        assert!((f64::from(fit.temperature) - MAX_TEMPERATURE).abs() < 1e-3);
        // Constant logits: every T is the same (derivative 0): stays in range.
        let fit = fit_temperature(&[[1.0; NUM_CLASSES]; 3], &[0, 1, 2]);
        assert!(fit.temperature.is_finite() && fit.temperature > 0.0);
        assert_eq!(fit_temperature(&[], &[]).temperature, 1.0);
    }

    #[test]
    fn ece_of_a_hand_computed_case() {
        let p = |top: usize, c: f32| {
            let mut v = [(1.0 - c) / 6.0; NUM_CLASSES];
            v[top] = c;
            v
        };
        // Bin [0.8667, 0.9333): two samples at 0.9, one right -> |0.5 - 0.9|.
        // Bin [0.6, 0.6667): one at 0.6, right -> |1 - 0.6|.
        // Last bin: confidence 1.0, right -> 0.
        let probs = [p(0, 0.9), p(1, 0.9), p(2, 0.6), p(3, 1.0)];
        let labels = [0, 0, 2, 3];
        let e = expected_calibration_error(&probs, &labels, 15);
        let want = 0.5 * 0.4 + 0.25 * 0.4;
        assert!((e - want).abs() < 1e-6, "{e} vs {want}");
        // One bin: |accuracy - mean confidence| overall = |0.75 - 0.85|.
        let e1 = expected_calibration_error(&probs, &labels, 1);
        assert!((e1 - 0.1).abs() < 1e-6, "{e1}");
        assert_eq!(expected_calibration_error(&[], &[], 15), 0.0);
        // A perfectly calibrated bin gives 0.
        let probs = [p(0, 0.5), p(0, 0.5)];
        assert!(expected_calibration_error(&probs, &[0, 1], 15).abs() < 1e-7);
    }

    #[test]
    fn probabilities_are_the_device_calibration() {
        let z = [2.0, -1.0, 0.5, 3.0, 1.0, -2.0, 0.0];
        assert_eq!(probabilities(&z, 1.7), calibrate(&z, 1.7).unwrap());
        let mut bad = z;
        bad[0] = f32::NAN;
        assert!(probabilities(&bad, 1.0).iter().all(|&p| p == 1.0 / 7.0));
    }
}
