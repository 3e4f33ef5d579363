//! What the LEDs show, from the decisions, per the board profile's
//! `[leds.reaction]` policy:
//!
//! - a confident emotion is shown, but a shown emotion stays at least
//!   `min_show_ms` before anything replaces it;
//! - an uncertain decision shows idle, switches the LEDs off, or holds the
//!   last emotion (`uncertain = "idle" | "off" | "hold"`);
//! - without any decision (no face, no speech) the last state stays for
//!   `idle_after_ms`, then idle, or the fault colour while a source is
//!   lost.

use emoedge_shared::fusion::Outcome;
use emoedge_shared::Emotion;

use crate::board::{ReactionPolicy, UncertainPolicy};
use crate::leds::LedState;

/// The reaction state machine.
#[derive(Clone, Debug)]
pub struct Reaction {
    policy: ReactionPolicy,
    shown: LedState,
    shown_since_ms: u64,
    last_decision_ms: Option<u64>,
    last_emotion: Option<Emotion>,
}

impl Reaction {
    /// Starts showing idle.
    pub fn new(policy: ReactionPolicy) -> Self {
        Reaction {
            policy,
            shown: LedState::Idle,
            shown_since_ms: 0,
            last_decision_ms: None,
            last_emotion: None,
        }
    }

    /// What is shown now.
    pub fn shown(&self) -> LedState {
        self.shown
    }

    /// The state to show at `now_ms` after a step whose decision was
    /// `outcome`; `fault` when a source is lost.
    pub fn update(&mut self, now_ms: u64, outcome: Outcome, fault: bool) -> LedState {
        let p = &self.policy;
        let wanted = match outcome {
            Outcome::Emotion(e) => {
                self.last_decision_ms = Some(now_ms);
                self.last_emotion = Some(e);
                LedState::Emotion(e)
            }
            Outcome::Uncertain => {
                self.last_decision_ms = Some(now_ms);
                match p.uncertain {
                    UncertainPolicy::Idle => LedState::Idle,
                    UncertainPolicy::Off => LedState::Off,
                    UncertainPolicy::Hold => self
                        .last_emotion
                        .map(LedState::Emotion)
                        .unwrap_or(LedState::Idle),
                }
            }
            Outcome::NoDecision => {
                let quiet = self
                    .last_decision_ms
                    .map(|t| now_ms.saturating_sub(t) >= u64::from(p.idle_after_ms))
                    .unwrap_or(true);
                if !quiet {
                    self.shown
                } else if fault {
                    LedState::Fault
                } else {
                    LedState::Idle
                }
            }
        };
        if wanted != self.shown {
            let held = now_ms.saturating_sub(self.shown_since_ms);
            let keep = matches!(self.shown, LedState::Emotion(_))
                && held < u64::from(p.min_show_ms)
                && wanted != LedState::Fault;
            if !keep {
                self.shown = wanted;
                self.shown_since_ms = now_ms;
            }
        }
        self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(uncertain: UncertainPolicy) -> ReactionPolicy {
        ReactionPolicy {
            uncertain,
            idle_after_ms: 1000,
            min_show_ms: 300,
        }
    }

    const HAPPY: Outcome = Outcome::Emotion(Emotion::Happy);
    const SAD: Outcome = Outcome::Emotion(Emotion::Sad);

    #[test]
    fn emotions_are_held_for_the_minimum_time() {
        let mut r = Reaction::new(policy(UncertainPolicy::Idle));
        assert_eq!(r.shown(), LedState::Idle);
        assert_eq!(r.update(0, HAPPY, false), LedState::Emotion(Emotion::Happy));
        assert_eq!(r.update(100, SAD, false), LedState::Emotion(Emotion::Happy));
        assert_eq!(r.update(300, SAD, false), LedState::Emotion(Emotion::Sad));
        assert_eq!(
            r.update(400, Outcome::Uncertain, false),
            LedState::Emotion(Emotion::Sad)
        );
        assert_eq!(r.update(600, Outcome::Uncertain, false), LedState::Idle);
    }

    #[test]
    fn uncertain_policies() {
        let mut off = Reaction::new(policy(UncertainPolicy::Off));
        off.update(0, HAPPY, false);
        assert_eq!(off.update(500, Outcome::Uncertain, false), LedState::Off);
        let mut hold = Reaction::new(policy(UncertainPolicy::Hold));
        assert_eq!(hold.update(0, Outcome::Uncertain, false), LedState::Idle);
        hold.update(10, HAPPY, false);
        assert_eq!(
            hold.update(5000, Outcome::Uncertain, false),
            LedState::Emotion(Emotion::Happy)
        );
    }

    #[test]
    fn idle_or_fault_after_a_quiet_spell() {
        let mut r = Reaction::new(policy(UncertainPolicy::Idle));
        r.update(0, HAPPY, false);
        assert_eq!(
            r.update(999, Outcome::NoDecision, false),
            LedState::Emotion(Emotion::Happy)
        );
        assert_eq!(r.update(1000, Outcome::NoDecision, false), LedState::Idle);
        assert_eq!(r.update(1100, Outcome::NoDecision, true), LedState::Fault);
        // A fault shows at once, even over a fresh emotion's minimum time.
        let mut r = Reaction::new(policy(UncertainPolicy::Idle));
        assert_eq!(r.update(0, Outcome::NoDecision, true), LedState::Fault);
        r.update(10, SAD, true);
        assert_eq!(
            r.update(20, Outcome::NoDecision, true),
            LedState::Emotion(Emotion::Sad)
        );
    }
}
