//! Real LEDs on Raspberry Pi GPIO through rppal (feature `leds-rppal`):
//! one RGB LED on three pins (software PWM or plain on/off), or one LED per
//! emotion, as the board profile says.
//!
//! rppal builds on any Linux machine; on one that is not a Raspberry Pi,
//! [`RppalLeds::open`] fails with [`LedError::NotARaspberryPi`] so the
//! caller can fall back to [`super::sim::SimLeds`].

use rppal::gpio::{Gpio, OutputPin};

use super::{LedError, LedState, Leds};
use crate::board::{LedMode, LedProfile, PwmMode};

enum Pins {
    Rgb(Box<[OutputPin; 3]>),
    PerEmotion(Box<[OutputPin; 7]>),
}

/// LEDs driven through GPIO pins.
pub struct RppalLeds {
    pins: Pins,
    numbers: Vec<u8>,
    pwm: PwmMode,
    pwm_hz: f64,
    brightness: f64,
    active_low: bool,
    current: Option<LedState>,
}

fn map_error(e: rppal::gpio::Error) -> LedError {
    use rppal::gpio::Error as E;
    match e {
        E::UnknownModel => LedError::NotARaspberryPi {
            reason: e.to_string(),
        },
        E::PinUsed(pin) => LedError::PinBusy { pin },
        E::PinNotAvailable(pin) => LedError::NoSuchPin { pin },
        E::PermissionDenied(path) => LedError::Permission { reason: path },
        e => LedError::Gpio {
            reason: e.to_string(),
        },
    }
}

impl RppalLeds {
    /// Claims the pins of `profile` as outputs, all LEDs off.
    pub fn open(profile: &LedProfile) -> Result<Self, LedError> {
        let numbers = profile.pins();
        if profile.mode == LedMode::None || numbers.is_empty() {
            return Err(LedError::NotConfigured);
        }
        let gpio = Gpio::new().map_err(map_error)?;
        let mut outs = Vec::with_capacity(numbers.len());
        for &n in &numbers {
            let pin = gpio.get(n).map_err(map_error)?;
            let out = if profile.active_low {
                pin.into_output_high()
            } else {
                pin.into_output_low()
            };
            outs.push(out);
        }
        let pins = match profile.mode {
            LedMode::Rgb => Pins::Rgb(Box::new(
                outs.try_into().map_err(|_| LedError::NotConfigured)?,
            )),
            LedMode::PerEmotion => Pins::PerEmotion(Box::new(
                outs.try_into().map_err(|_| LedError::NotConfigured)?,
            )),
            LedMode::None => return Err(LedError::NotConfigured),
        };
        log::info!("GPIO LEDs on BCM pins {numbers:?}");
        Ok(RppalLeds {
            pins,
            numbers,
            pwm: profile.pwm,
            pwm_hz: profile.pwm_hz,
            brightness: f64::from(profile.brightness),
            active_low: profile.active_low,
            current: None,
        })
    }

    /// Drives one pin at `level` in `[0, 1]` of full brightness.
    fn drive(
        pin: &mut OutputPin,
        level: f64,
        pwm: bool,
        pwm_hz: f64,
        active_low: bool,
    ) -> Result<(), LedError> {
        let level = level.clamp(0.0, 1.0);
        let full_on = |pin: &mut OutputPin, on: bool| -> Result<(), LedError> {
            pin.clear_pwm().map_err(map_error)?;
            if on != active_low {
                pin.set_high();
            } else {
                pin.set_low();
            }
            Ok(())
        };
        if !pwm || level <= 0.0 || level >= 1.0 {
            let on = if pwm { level > 0.0 } else { level >= 0.5 };
            return full_on(pin, on);
        }
        let duty = if active_low { 1.0 - level } else { level };
        pin.set_pwm_frequency(pwm_hz, duty).map_err(map_error)
    }
}

impl Leds for RppalLeds {
    fn describe(&self) -> String {
        let kind = match self.pins {
            Pins::Rgb(_) => "RGB LED",
            Pins::PerEmotion(_) => "one LED per emotion",
        };
        format!("GPIO {kind} on BCM pins {:?}", self.numbers)
    }

    fn show(&mut self, state: LedState) -> Result<(), LedError> {
        if self.current == Some(state) {
            return Ok(());
        }
        let (pwm_hz, active_low) = (self.pwm_hz, self.active_low);
        match &mut self.pins {
            Pins::Rgb(pins) => {
                let c = state.colour();
                let soft = self.pwm == PwmMode::Soft;
                for (pin, v) in pins.iter_mut().zip([c.0, c.1, c.2]) {
                    let level = f64::from(v) / 255.0 * if soft { self.brightness } else { 1.0 };
                    Self::drive(pin, level, soft, pwm_hz, active_low)?;
                }
            }
            Pins::PerEmotion(pins) => {
                let soft = self.brightness < 1.0;
                for (i, pin) in pins.iter_mut().enumerate() {
                    let on = match state {
                        LedState::Emotion(e) => e.index() == i,
                        LedState::Fault => true,
                        LedState::Off | LedState::Idle | LedState::Uncertain => false,
                    };
                    let level = if on { self.brightness } else { 0.0 };
                    Self::drive(pin, level, soft, pwm_hz, active_low)?;
                }
            }
        }
        self.current = Some(state);
        Ok(())
    }
}

impl Drop for RppalLeds {
    fn drop(&mut self) {
        if let Err(e) = self.show(LedState::Off) {
            log::warn!("switching the LEDs off failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{ReactionPolicy, RgbPins, UncertainPolicy};

    fn profile() -> LedProfile {
        LedProfile {
            mode: LedMode::Rgb,
            pwm: PwmMode::Soft,
            pwm_hz: 200.0,
            brightness: 1.0,
            active_low: false,
            rgb: Some(RgbPins {
                red: 17,
                green: 27,
                blue: 22,
            }),
            emotions: None,
            reaction: ReactionPolicy {
                uncertain: UncertainPolicy::Idle,
                idle_after_ms: 3000,
                min_show_ms: 500,
            },
        }
    }

    /// On a machine that is not a Raspberry Pi (CI, a laptop) rppal must
    /// report it as such, with the fall-back in the message; on a Pi the
    /// pins open.
    #[test]
    fn not_a_pi_is_reported_with_the_fall_back() {
        let on_a_pi = std::fs::read_to_string("/proc/device-tree/model")
            .map(|m| m.contains("Raspberry Pi"))
            .unwrap_or(false);
        match RppalLeds::open(&profile()) {
            Ok(leds) => assert!(on_a_pi, "opened GPIO LEDs on a non-Pi: {}", leds.describe()),
            Err(e) => {
                if !on_a_pi {
                    assert!(matches!(e, LedError::NotARaspberryPi { .. }), "{e:?}");
                    assert!(e.to_string().contains("--leds sim"), "{e}");
                }
            }
        }
    }

    #[test]
    fn mode_none_is_not_configured() {
        let mut p = profile();
        p.mode = LedMode::None;
        assert!(matches!(RppalLeds::open(&p), Err(LedError::NotConfigured)));
    }
}
