//! Time-aware exponential smoothing of probability vectors.

use super::calibrate::Probs;
use crate::labels::NUM_CLASSES;

/// Weight of a new sample after `dt_ms` with time constant `tau_ms`:
/// `1 - exp(-dt / tau)`. `tau_ms == 0` gives 1 (no smoothing).
///
/// Because the factor depends on the elapsed time, feeding the same signal
/// at irregular intervals gives the same smoothed value as feeding it at
/// regular ones: two steps of `dt` equal one step of `2 dt`.
pub fn smoothing_alpha(dt_ms: u64, tau_ms: u32) -> f32 {
    if tau_ms == 0 {
        return 1.0;
    }
    1.0 - libm::expf(-(dt_ms as f32) / tau_ms as f32)
}

/// Exponential smoother of a probability vector, driven by caller
/// timestamps.
///
/// The first sample (and the first after a gap longer than `reset_after_ms`)
/// is taken as is. A timestamp earlier than the previous one counts as
/// `dt = 0` (the sample then has no weight).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoother {
    tau_ms: u32,
    reset_after_ms: u32,
    state: Probs,
    last_ms: u64,
    primed: bool,
}

/// One smoothing step's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoothed {
    /// The smoothed vector.
    pub probs: Probs,
    /// True when this sample (re)started the smoother: first sample, after
    /// [`Smoother::reset`], or after a gap longer than `reset_after_ms`.
    pub restarted: bool,
}

impl Smoother {
    /// A smoother with time constant `tau_ms` that restarts after a gap of
    /// more than `reset_after_ms`.
    pub const fn new(tau_ms: u32, reset_after_ms: u32) -> Self {
        Smoother {
            tau_ms,
            reset_after_ms,
            state: [0.0; NUM_CLASSES],
            last_ms: 0,
            primed: false,
        }
    }

    /// Folds `sample` taken at `now_ms` into the state and returns it.
    pub fn update(&mut self, now_ms: u64, sample: &Probs) -> Smoothed {
        let dt = now_ms.saturating_sub(self.last_ms);
        let restarted = !self.primed || dt > u64::from(self.reset_after_ms);
        if restarted {
            self.state = *sample;
            self.primed = true;
        } else {
            let alpha = smoothing_alpha(dt, self.tau_ms);
            if alpha >= 1.0 {
                // Exactly the sample (no rounding from s + (x - s)).
                self.state = *sample;
            } else {
                for (s, &x) in self.state.iter_mut().zip(sample) {
                    *s += alpha * (x - *s);
                }
            }
        }
        self.last_ms = if restarted {
            now_ms
        } else {
            self.last_ms.max(now_ms)
        };
        Smoothed {
            probs: self.state,
            restarted,
        }
    }

    /// Forgets the state; the next sample is taken as is.
    pub fn reset(&mut self) {
        self.primed = false;
        self.state = [0.0; NUM_CLASSES];
    }

    /// The current smoothed vector, `None` before the first sample.
    pub fn state(&self) -> Option<&Probs> {
        self.primed.then_some(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::top_class;
    use crate::labels::Emotion;

    const A: Probs = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    const B: Probs = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];

    #[test]
    fn alpha_follows_the_time_constant() {
        assert_eq!(smoothing_alpha(0, 100), 0.0);
        assert!((smoothing_alpha(100, 100) - (1.0 - libm::expf(-1.0))).abs() < 1e-6);
        assert_eq!(smoothing_alpha(5, 0), 1.0);
        assert!(smoothing_alpha(1_000_000, 100) > 0.999_999);
    }

    #[test]
    fn irregular_intervals_match_the_analytic_decay() {
        // Start at A, then hold B: the A weight must be exp(-t / tau) at
        // every timestamp however irregular the steps.
        let mut s = Smoother::new(200, 10_000);
        assert!(s.update(1000, &A).restarted);
        for t in [1003u64, 1040, 1041, 1170, 1400, 1401, 1650] {
            let out = s.update(t, &B);
            assert!(!out.restarted);
            let expected = libm::expf(-((t - 1000) as f32) / 200.0);
            assert!((out.probs[0] - expected).abs() < 1e-5, "t={t}");
            assert!((out.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // The same signal sampled regularly ends at the same value.
        let mut r = Smoother::new(200, 10_000);
        r.update(1000, &A);
        let mut last = [0.0; NUM_CLASSES];
        for k in 1..=65 {
            last = r.update(1000 + 10 * k, &B).probs;
        }
        assert!((last[0] - s.state().unwrap()[0]).abs() < 1e-5);
    }

    #[test]
    fn a_single_outlier_frame_does_not_flip_the_top_class() {
        let mut s = Smoother::new(500, 10_000);
        let mut t = 0;
        for _ in 0..30 {
            s.update(t, &B);
            t += 33;
        }
        let out = s.update(t, &A); // one frame of a different class
        assert_eq!(top_class(&out.probs).0, Emotion::Happy);
        assert!(out.probs[0] < 0.1);
        t += 33;
        let out = s.update(t, &B);
        assert_eq!(top_class(&out.probs).0, Emotion::Happy);
    }

    #[test]
    fn long_gap_restarts_and_time_going_back_is_ignored() {
        let mut s = Smoother::new(500, 1000);
        s.update(0, &A);
        let out = s.update(900, &B);
        assert!(!out.restarted && out.probs[0] > 0.1);
        let out = s.update(2000, &B); // gap 1100 > 1000
        assert!(out.restarted);
        assert_eq!(out.probs, B);
        // Clock going backwards: dt = 0, state unchanged.
        let out = s.update(1500, &A);
        assert!(!out.restarted);
        assert_eq!(out.probs, B);
        s.reset();
        assert_eq!(s.state(), None);
        assert!(s.update(1600, &A).restarted);
    }

    #[test]
    fn zero_tau_is_pass_through() {
        let mut s = Smoother::new(0, 1000);
        s.update(0, &A);
        assert_eq!(s.update(10, &B).probs, B);
    }
}
