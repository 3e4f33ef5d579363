//! Scripted LEDs for tests of the loop: they record every call and fail
//! when the script says so.

use std::collections::VecDeque;

use super::{LedError, LedState, Leds};
use crate::kind::ErrorKind;

/// LEDs that record every [`Leds::show`] call. Each call consumes one
/// scripted outcome; once the script is empty every call succeeds.
#[derive(Debug, Default)]
pub struct MockLeds {
    script: VecDeque<Result<(), ErrorKind>>,
    /// Every state passed to `show`, failed calls included, in order.
    pub calls: Vec<LedState>,
    /// The last state shown successfully.
    pub current: Option<LedState>,
}

impl MockLeds {
    /// LEDs playing `script` (one outcome per call).
    pub fn new(script: impl IntoIterator<Item = Result<(), ErrorKind>>) -> Self {
        MockLeds {
            script: script.into_iter().collect(),
            ..Default::default()
        }
    }
}

impl Leds for MockLeds {
    fn describe(&self) -> String {
        "mock LEDs".into()
    }

    fn show(&mut self, state: LedState) -> Result<(), LedError> {
        self.calls.push(state);
        match self.script.pop_front() {
            Some(Err(kind)) => Err(LedError::Scripted(kind)),
            _ => {
                self.current = Some(state);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::Emotion;

    #[test]
    fn records_calls_and_plays_failures() {
        let mut leds = MockLeds::new([Ok(()), Err(ErrorKind::Other)]);
        leds.show(LedState::Idle).unwrap();
        let err = leds.show(LedState::Emotion(Emotion::Happy)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(leds.current, Some(LedState::Idle));
        leds.show(LedState::Fault).unwrap();
        assert_eq!(
            leds.calls,
            vec![
                LedState::Idle,
                LedState::Emotion(Emotion::Happy),
                LedState::Fault
            ]
        );
        assert_eq!(leds.current, Some(LedState::Fault));
    }
}
