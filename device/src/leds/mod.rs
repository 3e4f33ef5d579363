//! LEDs: a small [`Leds`] trait with a real implementation on Raspberry Pi
//! GPIO ([`rppal`], feature `leds-rppal`), a terminal simulation that also
//! records every transition ([`sim`]) and a scripted mock ([`mock`]).

pub mod mock;
#[cfg(feature = "leds-rppal")]
pub mod rppal;
pub mod sim;

use std::fmt;

use emoedge_shared::Emotion;

use crate::kind::ErrorKind;

/// What the LEDs show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedState {
    /// Everything off.
    Off,
    /// Running, nothing to show (no face, no speech).
    Idle,
    /// A decision was made but it is not confident.
    Uncertain,
    /// A confident emotion.
    Emotion(Emotion),
    /// The device has a problem (camera or microphone lost).
    Fault,
}

/// An 8-bit RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl LedState {
    /// The colour an RGB LED shows for this state.
    pub const fn colour(self) -> Rgb {
        match self {
            LedState::Off => Rgb(0, 0, 0),
            LedState::Idle => Rgb(0, 0, 40),
            LedState::Uncertain => Rgb(40, 40, 40),
            LedState::Fault => Rgb(255, 0, 255),
            LedState::Emotion(e) => match e {
                Emotion::Angry => Rgb(255, 0, 0),
                Emotion::Disgust => Rgb(0, 160, 0),
                Emotion::Fear => Rgb(128, 0, 255),
                Emotion::Happy => Rgb(255, 200, 0),
                Emotion::Neutral => Rgb(255, 255, 255),
                Emotion::Sad => Rgb(0, 0, 255),
                Emotion::Surprise => Rgb(255, 100, 0),
            },
        }
    }

    /// Lower-case label, e.g. `happy`, `idle`.
    pub const fn label(self) -> &'static str {
        match self {
            LedState::Off => "off",
            LedState::Idle => "idle",
            LedState::Uncertain => "uncertain",
            LedState::Fault => "fault",
            LedState::Emotion(e) => e.name(),
        }
    }
}

impl fmt::Display for LedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why the LEDs could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum LedError {
    /// Not a Raspberry Pi (rppal could not identify the board).
    #[error("GPIO LEDs are unavailable: this machine is not a Raspberry Pi rppal knows ({reason}); use simulated LEDs (`--leds sim`) or set leds.mode = \"none\" in the board profile")]
    NotARaspberryPi {
        /// rppal's message.
        reason: String,
    },
    /// A pin is held by another program or by this one.
    #[error("GPIO {pin} is already in use; stop the program holding it (`gpioinfo` shows the owner) or pick another pin in the board profile")]
    PinBusy {
        /// BCM pin number.
        pin: u8,
    },
    /// The SoC has no such pin.
    #[error("GPIO {pin} does not exist on this board; pick a BCM pin between 0 and 27 in the board profile")]
    NoSuchPin {
        /// BCM pin number.
        pin: u8,
    },
    /// No access to the GPIO device.
    #[error("no permission to use the GPIO pins ({reason}); add the user to the `gpio` group (`sudo usermod -aG gpio $USER`, then log in again)")]
    Permission {
        /// rppal's message.
        reason: String,
    },
    /// The board profile has no LEDs to drive.
    #[error("the board profile has leds.mode = \"none\" or lacks pins for its mode; use simulated LEDs (`--leds sim`)")]
    NotConfigured,
    /// Any other GPIO failure.
    #[error("GPIO failure: {reason}")]
    Gpio {
        /// What failed.
        reason: String,
    },
    /// A scripted failure from [`mock::MockLeds`].
    #[error("mock LEDs: scripted {0} failure")]
    Scripted(ErrorKind),
}

impl LedError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LedError::Scripted(kind) => *kind,
            _ => ErrorKind::Other,
        }
    }
}

/// Something that shows a [`LedState`].
pub trait Leds {
    /// Short description for logs.
    fn describe(&self) -> String;

    /// Shows `state` (showing the current state again is cheap).
    fn show(&mut self, state: LedState) -> Result<(), LedError>;
}

impl<T: Leds + ?Sized> Leds for Box<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn show(&mut self, state: LedState) -> Result<(), LedError> {
        (**self).show(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emotion_has_its_own_colour() {
        let colours: std::collections::HashSet<Rgb> = Emotion::ALL
            .iter()
            .map(|e| LedState::Emotion(*e).colour())
            .chain(
                [
                    LedState::Off,
                    LedState::Idle,
                    LedState::Uncertain,
                    LedState::Fault,
                ]
                .map(LedState::colour),
            )
            .collect();
        assert_eq!(colours.len(), 11);
        assert_eq!(LedState::Emotion(Emotion::Sad).to_string(), "sad");
        assert_eq!(LedState::Idle.label(), "idle");
    }
}
