//! Simulated LEDs: one line per change, a coloured block (24-bit ANSI
//! colour) and the label on a terminal, the plain label otherwise. Every
//! transition is recorded with its timestamp, so tests and `demo` can check
//! what was shown and when.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};

use super::{LedError, LedState, Leds};
use crate::clock::Clock;

/// Transitions kept in memory (older ones are forgotten).
pub const MAX_TRANSITIONS: usize = 4096;

/// One change of the shown state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When it happened, in milliseconds of the LEDs' clock.
    pub at_ms: u64,
    /// The new state.
    pub state: LedState,
}

/// LEDs drawn on a writer (the terminal by default).
pub struct SimLeds<C: Clock, W: Write> {
    out: W,
    ansi: bool,
    clock: C,
    current: Option<LedState>,
    transitions: VecDeque<Transition>,
    total: u64,
}

impl<C: Clock> SimLeds<C, std::io::Stdout> {
    /// LEDs drawn on standard output, in colour when it is a terminal.
    pub fn stdout(clock: C) -> Self {
        let out = std::io::stdout();
        let ansi = out.is_terminal();
        SimLeds::new(out, ansi, clock)
    }
}

impl<C: Clock, W: Write> SimLeds<C, W> {
    /// LEDs drawn on `out`, with ANSI colour when `ansi`.
    pub fn new(out: W, ansi: bool, clock: C) -> Self {
        SimLeds {
            out,
            ansi,
            clock,
            current: None,
            transitions: VecDeque::new(),
            total: 0,
        }
    }

    /// The recorded transitions, oldest first (at most [`MAX_TRANSITIONS`]).
    pub fn transitions(&self) -> impl ExactSizeIterator<Item = &Transition> + '_ {
        self.transitions.iter()
    }

    /// Number of transitions since creation (including forgotten ones).
    pub fn transition_count(&self) -> u64 {
        self.total
    }

    /// The state shown now.
    pub fn current(&self) -> Option<LedState> {
        self.current
    }

    /// The writer, e.g. to inspect what was drawn.
    pub fn writer(&self) -> &W {
        &self.out
    }
}

impl<C: Clock, W: Write> Leds for SimLeds<C, W> {
    fn describe(&self) -> String {
        format!(
            "simulated LEDs ({})",
            if self.ansi { "colour" } else { "text" }
        )
    }

    fn show(&mut self, state: LedState) -> Result<(), LedError> {
        if self.current == Some(state) {
            return Ok(());
        }
        let at_ms = self.clock.now_ms();
        self.current = Some(state);
        self.total += 1;
        if self.transitions.len() == MAX_TRANSITIONS {
            self.transitions.pop_front();
        }
        self.transitions.push_back(Transition { at_ms, state });
        let line = if self.ansi {
            let c = state.colour();
            format!(
                "\x1b[48;2;{};{};{}m      \x1b[0m {:<9} {:>8}.{:03} s\n",
                c.0,
                c.1,
                c.2,
                state.label(),
                at_ms / 1000,
                at_ms % 1000
            )
        } else {
            format!(
                "[leds] {:<9} {}.{:03} s\n",
                state.label(),
                at_ms / 1000,
                at_ms % 1000
            )
        };
        // A closed terminal must not stop the loop: drawing is best effort.
        if let Err(e) = self
            .out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.flush())
        {
            log::debug!("simulated LEDs: cannot draw: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use emoedge_shared::Emotion;

    #[test]
    fn records_transitions_with_timestamps_and_skips_repeats() {
        let clock = MockClock::default();
        let mut leds = SimLeds::new(Vec::new(), false, clock.clone());
        leds.show(LedState::Idle).unwrap();
        clock.advance_ms(250);
        leds.show(LedState::Idle).unwrap();
        leds.show(LedState::Emotion(Emotion::Happy)).unwrap();
        clock.advance_ms(1000);
        leds.show(LedState::Uncertain).unwrap();
        let got: Vec<(u64, &str)> = leds
            .transitions()
            .map(|t| (t.at_ms, t.state.label()))
            .collect();
        assert_eq!(got, vec![(0, "idle"), (250, "happy"), (1250, "uncertain")]);
        let text = String::from_utf8(leds.writer().clone()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("[leds] happy"), "{text}");
        assert!(!text.contains('\x1b'), "no ANSI codes when not a terminal");
    }

    #[test]
    fn ansi_mode_draws_the_state_colour() {
        let mut leds = SimLeds::new(Vec::new(), true, MockClock::default());
        leds.show(LedState::Emotion(Emotion::Angry)).unwrap();
        let text = String::from_utf8(leds.writer().clone()).unwrap();
        assert!(text.contains("\x1b[48;2;255;0;0m"), "{text:?}");
        assert!(text.contains("angry"));
    }

    #[test]
    fn memory_is_bounded() {
        let mut leds = SimLeds::new(std::io::sink(), false, MockClock::default());
        for i in 0..(MAX_TRANSITIONS + 10) {
            let s = if i % 2 == 0 {
                LedState::Idle
            } else {
                LedState::Off
            };
            leds.show(s).unwrap();
        }
        assert_eq!(leds.transitions().len(), MAX_TRANSITIONS);
        assert_eq!(leds.transition_count(), (MAX_TRANSITIONS + 10) as u64);
    }
}
