//! Label hysteresis: a stable reported label from a smoothed probability
//! vector.

use super::calibrate::{top_class, Probs};
use super::decision::Outcome;
use crate::labels::Emotion;

/// Turns smoothed probabilities into a reported label that does not
/// flicker.
///
/// - With no current label, the top class is adopted immediately once its
///   probability reaches the uncertainty threshold.
/// - Afterwards the label only changes to a challenger (the top class) whose
///   probability exceeds the current label's by at least `margin`, and
///   reaches the uncertainty threshold, continuously for at least
///   `min_dwell_ms`. The dwell timer restarts whenever either condition
///   fails or the challenger changes.
/// - The outcome is [`Outcome::Uncertain`] whenever the top probability is
///   below `uncertain_threshold`; the current label is kept internally, so a
///   brief uncertain spell does not reset it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hysteresis {
    margin: f32,
    min_dwell_ms: u32,
    uncertain_threshold: f32,
    current: Option<Emotion>,
    challenger: Option<(Emotion, u64)>,
}

impl Hysteresis {
    /// A hysteresis with no current label. Parameters are used as given
    /// (validate them with [`FusionConfig::validate`](super::FusionConfig::validate)).
    pub const fn new(margin: f32, min_dwell_ms: u32, uncertain_threshold: f32) -> Self {
        Hysteresis {
            margin,
            min_dwell_ms,
            uncertain_threshold,
            current: None,
            challenger: None,
        }
    }

    /// The current (internally held) label.
    pub fn current(&self) -> Option<Emotion> {
        self.current
    }

    /// Forgets the current label and any pending challenger.
    pub fn reset(&mut self) {
        self.current = None;
        self.challenger = None;
    }

    /// Feeds the smoothed probabilities at `now_ms` and returns the outcome
    /// with its confidence (the reported label's probability, or the top
    /// probability when uncertain).
    pub fn update(&mut self, now_ms: u64, probs: &Probs) -> (Outcome, f32) {
        let (top, p_top) = top_class(probs);
        // `>=` is false for NaN, so a NaN top probability counts as uncertain.
        let confident = p_top >= self.uncertain_threshold;
        match self.current {
            None => {
                self.challenger = None;
                if confident {
                    self.current = Some(top);
                }
            }
            Some(cur) if cur == top => self.challenger = None,
            Some(cur) => {
                if confident && p_top - probs[cur.index()] >= self.margin {
                    let since = match self.challenger {
                        Some((c, since)) if c == top => since,
                        _ => now_ms,
                    };
                    if now_ms.saturating_sub(since) >= u64::from(self.min_dwell_ms) {
                        self.current = Some(top);
                        self.challenger = None;
                    } else {
                        self.challenger = Some((top, since));
                    }
                } else {
                    self.challenger = None;
                }
            }
        }
        match self.current {
            Some(cur) if confident => (Outcome::Emotion(cur), probs[cur.index()]),
            _ => (Outcome::Uncertain, p_top),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::NUM_CLASSES;

    /// A vector with `hi` on `a`, `lo` on `b`, the rest spread evenly.
    fn two(a: Emotion, hi: f32, b: Emotion, lo: f32) -> Probs {
        let rest = (1.0 - hi - lo) / (NUM_CLASSES - 2) as f32;
        let mut p = [rest; NUM_CLASSES];
        p[a.index()] = hi;
        p[b.index()] = lo;
        p
    }

    #[test]
    fn alternating_near_tie_does_not_flicker() {
        let mut h = Hysteresis::new(0.1, 0, 0.3);
        let happy = two(Emotion::Happy, 0.45, Emotion::Sad, 0.40);
        let sad = two(Emotion::Sad, 0.45, Emotion::Happy, 0.40);
        for k in 0..100u64 {
            let p = if k % 2 == 0 { happy } else { sad };
            let (o, _) = h.update(k * 33, &p);
            assert_eq!(o, Outcome::Emotion(Emotion::Happy), "frame {k}");
        }
        // A clear lead (0.55 vs 0.30 >= margin) switches at once with dwell 0.
        let (o, c) = h.update(4000, &two(Emotion::Sad, 0.55, Emotion::Happy, 0.30));
        assert_eq!((o, c), (Outcome::Emotion(Emotion::Sad), 0.55));
    }

    #[test]
    fn switch_needs_the_lead_for_the_dwell_time() {
        let mut h = Hysteresis::new(0.1, 300, 0.3);
        let happy = two(Emotion::Happy, 0.7, Emotion::Sad, 0.1);
        let sad = two(Emotion::Sad, 0.6, Emotion::Happy, 0.2);
        assert_eq!(h.update(0, &happy).0, Outcome::Emotion(Emotion::Happy));
        // Lead starts at 100; at 399 it has held 299 ms: no switch yet.
        for t in [100, 200, 300, 399] {
            let (o, c) = h.update(t, &sad);
            assert_eq!(o, Outcome::Emotion(Emotion::Happy), "t={t}");
            assert_eq!(c, 0.2);
        }
        assert_eq!(h.update(400, &sad).0, Outcome::Emotion(Emotion::Sad));

        // An interruption restarts the dwell timer.
        let mut h = Hysteresis::new(0.1, 300, 0.3);
        h.update(0, &happy);
        h.update(100, &sad);
        h.update(250, &happy); // lead lost
        assert_eq!(h.update(300, &sad).0, Outcome::Emotion(Emotion::Happy));
        assert_eq!(h.update(500, &sad).0, Outcome::Emotion(Emotion::Happy));
        assert_eq!(h.update(600, &sad).0, Outcome::Emotion(Emotion::Sad));

        // A change of challenger restarts it too.
        let mut h = Hysteresis::new(0.1, 300, 0.3);
        let fear = two(Emotion::Fear, 0.6, Emotion::Happy, 0.2);
        h.update(0, &happy);
        h.update(100, &sad);
        h.update(300, &fear);
        assert_eq!(h.update(450, &fear).0, Outcome::Emotion(Emotion::Happy));
        assert_eq!(h.update(600, &fear).0, Outcome::Emotion(Emotion::Fear));
    }

    #[test]
    fn uncertain_below_threshold_keeps_the_label() {
        let mut h = Hysteresis::new(0.1, 0, 0.4);
        let flat = two(Emotion::Angry, 0.3, Emotion::Fear, 0.25);
        assert_eq!(h.update(0, &flat), (Outcome::Uncertain, 0.3));
        assert_eq!(h.current(), None);
        let happy = two(Emotion::Happy, 0.8, Emotion::Sad, 0.1);
        assert_eq!(h.update(10, &happy).0, Outcome::Emotion(Emotion::Happy));
        assert_eq!(h.update(20, &flat), (Outcome::Uncertain, 0.3));
        assert_eq!(h.current(), Some(Emotion::Happy));
        h.reset();
        assert_eq!(h.current(), None);
        let mut nan = happy;
        nan[0] = f32::NAN;
        nan[3] = f32::NAN;
        assert_eq!(h.update(30, &nan).0, Outcome::Uncertain);
    }
}
