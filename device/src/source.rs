//! Command-line source specs (`--camera`, `--mic`, `--leds`) and opening
//! the devices they name.
//!
//! | flag | forms |
//! |---|---|
//! | `--camera` | `v4l2:/dev/videoN`, `replay:PATH[?fps=N\|max][&loop=true\|false]`, `none` |
//! | `--mic` | `alsa:NAME`, `replay:FILE[?realtime=true\|false][&loop=true\|false]`, `none` |
//! | `--leds` | `rppal`, `sim` |
//!
//! A replay camera defaults to the board's frame rate, looping a single
//! image and not looping a folder; a replay microphone defaults to real
//! time without looping.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::board::{BoardProfile, LedMode};
use crate::camera::replay::{ReplayCamera, ReplayOptions as CameraReplay};
use crate::camera::{Camera, CameraError};
use crate::clock::Clock;
use crate::leds::sim::SimLeds;
use crate::leds::{LedError, Leds};
use crate::mic::replay::{ReplayMicrophone, ReplayOptions as MicReplay};
use crate::mic::{MicError, Microphone};

/// A malformed source spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{spec}`: {reason}; expected {expected}")]
pub struct SpecError {
    what: &'static str,
    spec: String,
    reason: String,
    expected: &'static str,
}

const CAMERA_FORMS: &str = "v4l2:/dev/videoN, replay:PATH[?fps=N|max][&loop=true|false] or none";
const MIC_FORMS: &str = "alsa:NAME, replay:FILE[?realtime=true|false][&loop=true|false] or none";
const LEDS_FORMS: &str = "rppal or sim";

/// Where camera frames come from.
#[derive(Clone, Debug, PartialEq)]
pub enum CameraSpec {
    /// A V4L2 device node.
    V4l2(PathBuf),
    /// Image files.
    Replay {
        /// A folder of images or one image.
        path: PathBuf,
        /// `Some(None)`: as fast as possible; `None`: the board's rate.
        fps: Option<Option<f32>>,
        /// `None`: loop a single image, not a folder.
        looping: Option<bool>,
    },
    /// No camera (voice only).
    None,
}

/// Where microphone samples come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MicSpec {
    /// An ALSA PCM name.
    Alsa(String),
    /// An audio file.
    Replay {
        /// The file.
        path: PathBuf,
        /// Pace like a real microphone (default true).
        realtime: bool,
        /// Start again at the end (default false).
        looping: bool,
    },
    /// No microphone (face only).
    None,
}

/// Which LEDs to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedsSpec {
    /// GPIO LEDs from the board profile.
    Rppal,
    /// LEDs drawn in the terminal.
    Sim,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Splits `PATH?k=v&k=v` into the path and its options.
fn split_options(rest: &str) -> (&str, Vec<(&str, &str)>) {
    match rest.split_once('?') {
        Some((path, opts)) => (
            path,
            opts.split('&')
                .filter(|o| !o.is_empty())
                .map(|o| o.split_once('=').unwrap_or((o, "true")))
                .collect(),
        ),
        None => (rest, Vec::new()),
    }
}

impl FromStr for CameraSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let err = |reason: String| SpecError {
            what: "camera source",
            spec: s.into(),
            reason,
            expected: CAMERA_FORMS,
        };
        if s == "none" {
            return Ok(CameraSpec::None);
        }
        if let Some(dev) = s.strip_prefix("v4l2:") {
            if dev.is_empty() {
                return Err(err("the device path is empty".into()));
            }
            return Ok(CameraSpec::V4l2(dev.into()));
        }
        if let Some(rest) = s.strip_prefix("replay:") {
            let (path, opts) = split_options(rest);
            if path.is_empty() {
                return Err(err("the replay path is empty".into()));
            }
            let mut fps = None;
            let mut looping = None;
            for (k, v) in opts {
                match k {
                    "fps" if v == "max" => fps = Some(None),
                    "fps" => match v.parse::<f32>() {
                        Ok(f) if f.is_finite() && f > 0.0 && f <= 1000.0 => fps = Some(Some(f)),
                        _ => {
                            return Err(err(format!(
                                "fps `{v}` is not a rate in (0, 1000] or `max`"
                            )))
                        }
                    },
                    "loop" => {
                        looping = Some(
                            parse_bool(v)
                                .ok_or_else(|| err(format!("loop `{v}` is not true or false")))?,
                        )
                    }
                    _ => return Err(err(format!("unknown option `{k}`"))),
                }
            }
            return Ok(CameraSpec::Replay {
                path: path.into(),
                fps,
                looping,
            });
        }
        Err(err("unknown source kind".into()))
    }
}

impl FromStr for MicSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let err = |reason: String| SpecError {
            what: "microphone source",
            spec: s.into(),
            reason,
            expected: MIC_FORMS,
        };
        if s == "none" {
            return Ok(MicSpec::None);
        }
        if let Some(dev) = s.strip_prefix("alsa:") {
            if dev.trim().is_empty() {
                return Err(err("the ALSA device name is empty".into()));
            }
            return Ok(MicSpec::Alsa(dev.into()));
        }
        if let Some(rest) = s.strip_prefix("replay:") {
            let (path, opts) = split_options(rest);
            if path.is_empty() {
                return Err(err("the replay file is empty".into()));
            }
            let mut realtime = true;
            let mut looping = false;
            for (k, v) in opts {
                let b = parse_bool(v).ok_or_else(|| err(format!("{k} `{v}` is not true or false")));
                match k {
                    "realtime" => realtime = b?,
                    "loop" => looping = b?,
                    _ => return Err(err(format!("unknown option `{k}`"))),
                }
            }
            return Ok(MicSpec::Replay {
                path: path.into(),
                realtime,
                looping,
            });
        }
        Err(err("unknown source kind".into()))
    }
}

impl FromStr for LedsSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "rppal" => Ok(LedsSpec::Rppal),
            "sim" => Ok(LedsSpec::Sim),
            _ => Err(SpecError {
                what: "LED driver",
                spec: s.into(),
                reason: "unknown driver".into(),
                expected: LEDS_FORMS,
            }),
        }
    }
}

impl fmt::Display for CameraSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraSpec::V4l2(p) => write!(f, "v4l2:{}", p.display()),
            CameraSpec::Replay { path, .. } => write!(f, "replay:{}", path.display()),
            CameraSpec::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for MicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MicSpec::Alsa(d) => write!(f, "alsa:{d}"),
            MicSpec::Replay { path, .. } => write!(f, "replay:{}", path.display()),
            MicSpec::None => f.write_str("none"),
        }
    }
}

impl CameraSpec {
    /// The board's camera.
    pub fn from_profile(profile: &BoardProfile) -> CameraSpec {
        CameraSpec::V4l2(profile.camera.device.clone())
    }
}

impl MicSpec {
    /// The board's microphone.
    pub fn from_profile(profile: &BoardProfile) -> MicSpec {
        MicSpec::Alsa(profile.mic.device.clone())
    }
}

impl LedsSpec {
    /// GPIO LEDs when the board has some, simulated ones otherwise.
    pub fn from_profile(profile: &BoardProfile) -> LedsSpec {
        if profile.leds.mode == LedMode::None {
            LedsSpec::Sim
        } else {
            LedsSpec::Rppal
        }
    }
}

/// Opens the camera `spec` names with the board's settings; `Ok(None)` for
/// `none`.
pub fn open_camera<C: Clock + 'static>(
    spec: &CameraSpec,
    profile: &BoardProfile,
    clock: C,
) -> Result<Option<Box<dyn Camera>>, CameraError> {
    match spec {
        CameraSpec::None => Ok(None),
        CameraSpec::Replay { path, fps, looping } => {
            let options = CameraReplay {
                fps: fps.unwrap_or(Some(profile.camera.fps as f32)),
                looping: looping.unwrap_or(!path.is_dir()),
            };
            Ok(Some(Box::new(ReplayCamera::open(path, options, clock)?)))
        }
        #[cfg(feature = "camera-v4l2")]
        CameraSpec::V4l2(device) => {
            let c = &profile.camera;
            let config = crate::camera::v4l2::V4l2Config {
                device: device.clone(),
                formats: c.formats.clone(),
                width: c.width,
                height: c.height,
                fps: c.fps,
                timeout: std::time::Duration::from_millis(u64::from(c.timeout_ms)),
            };
            Ok(Some(Box::new(crate::camera::v4l2::V4l2Camera::open(
                &config, clock,
            )?)))
        }
        #[cfg(not(feature = "camera-v4l2"))]
        CameraSpec::V4l2(device) => Err(CameraError::Open {
            device: device.display().to_string(),
            reason: "this build has no V4L2 support".into(),
            fix: "rebuild with `--features camera-v4l2` or use `--camera replay:PATH`",
            kind: crate::kind::ErrorKind::Other,
        }),
    }
}

/// Opens the microphone `spec` names with the board's settings; `Ok(None)`
/// for `none`.
pub fn open_mic<C: Clock + 'static>(
    spec: &MicSpec,
    profile: &BoardProfile,
    clock: C,
) -> Result<Option<Box<dyn Microphone>>, MicError> {
    match spec {
        MicSpec::None => Ok(None),
        MicSpec::Replay {
            path,
            realtime,
            looping,
        } => {
            let options = MicReplay {
                realtime: *realtime,
                looping: *looping,
            };
            let mic = ReplayMicrophone::open(path, profile.mic.sample_rate, options, clock)?;
            Ok(Some(Box::new(mic)))
        }
        #[cfg(feature = "mic-alsa")]
        MicSpec::Alsa(device) => {
            let _ = clock;
            let m = &profile.mic;
            let config = crate::mic::alsa::AlsaConfig {
                device: device.clone(),
                sample_rate: m.sample_rate,
                period_ms: m.period_ms,
                timeout: std::time::Duration::from_millis(u64::from(m.timeout_ms)),
            };
            Ok(Some(Box::new(crate::mic::alsa::AlsaMicrophone::open(
                &config,
            )?)))
        }
        #[cfg(not(feature = "mic-alsa"))]
        MicSpec::Alsa(device) => {
            let _ = clock;
            Err(MicError::Open {
                device: device.clone(),
                reason: "this build has no ALSA support".into(),
                fix: "rebuild with `--features mic-alsa` or use `--mic replay:FILE`",
                kind: crate::kind::ErrorKind::Other,
            })
        }
    }
}

/// Opens the LEDs `spec` names: GPIO LEDs from the board profile, or
/// simulated LEDs on standard output.
pub fn open_leds<C: Clock + 'static>(
    spec: LedsSpec,
    profile: &BoardProfile,
    clock: C,
) -> Result<Box<dyn Leds>, LedError> {
    match spec {
        LedsSpec::Sim => Ok(Box::new(SimLeds::stdout(clock))),
        #[cfg(feature = "leds-rppal")]
        LedsSpec::Rppal => {
            let _ = clock;
            Ok(Box::new(crate::leds::rppal::RppalLeds::open(
                &profile.leds,
            )?))
        }
        #[cfg(not(feature = "leds-rppal"))]
        LedsSpec::Rppal => {
            let _ = (clock, profile);
            Err(LedError::Gpio {
                reason: "this build has no GPIO support; rebuild with `--features leds-rppal` or use `--leds sim`".into(),
            })
        }
    }
}

/// [`open_leds`], falling back to simulated LEDs (with a warning) when GPIO
/// LEDs cannot be used, e.g. on a machine that is not a Raspberry Pi.
pub fn open_leds_or_sim<C: Clock + Clone + 'static>(
    spec: LedsSpec,
    profile: &BoardProfile,
    clock: C,
) -> Box<dyn Leds> {
    match open_leds(spec, profile, clock.clone()) {
        Ok(leds) => leds,
        Err(e) => {
            log::warn!("{e}; showing the LEDs in the terminal instead");
            Box::new(SimLeds::stdout(clock))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_specs() {
        assert_eq!("none".parse::<CameraSpec>().unwrap(), CameraSpec::None);
        assert_eq!(
            "v4l2:/dev/video2".parse::<CameraSpec>().unwrap(),
            CameraSpec::V4l2("/dev/video2".into())
        );
        assert_eq!(
            "replay:frames/".parse::<CameraSpec>().unwrap(),
            CameraSpec::Replay {
                path: "frames/".into(),
                fps: None,
                looping: None
            }
        );
        assert_eq!(
            "replay:a b/c.png?fps=12.5&loop=false"
                .parse::<CameraSpec>()
                .unwrap(),
            CameraSpec::Replay {
                path: "a b/c.png".into(),
                fps: Some(Some(12.5)),
                looping: Some(false)
            }
        );
        assert_eq!(
            "replay:x?fps=max&loop".parse::<CameraSpec>().unwrap(),
            CameraSpec::Replay {
                path: "x".into(),
                fps: Some(None),
                looping: Some(true)
            }
        );
        for bad in [
            "",
            "v4l2:",
            "replay:",
            "usb:0",
            "replay:x?fps=0",
            "replay:x?speed=2",
            "replay:x?loop=maybe",
        ] {
            let e = bad.parse::<CameraSpec>().unwrap_err();
            assert!(e.to_string().contains("expected v4l2:"), "{bad}: {e}");
        }
    }

    #[test]
    fn mic_specs() {
        assert_eq!(
            "alsa:plughw:1,0".parse::<MicSpec>().unwrap(),
            MicSpec::Alsa("plughw:1,0".into())
        );
        assert_eq!(
            "replay:clip.flac".parse::<MicSpec>().unwrap(),
            MicSpec::Replay {
                path: "clip.flac".into(),
                realtime: true,
                looping: false
            }
        );
        assert_eq!(
            "replay:clip.wav?realtime=false&loop=yes"
                .parse::<MicSpec>()
                .unwrap(),
            MicSpec::Replay {
                path: "clip.wav".into(),
                realtime: false,
                looping: true
            }
        );
        assert_eq!("none".parse::<MicSpec>().unwrap(), MicSpec::None);
        for bad in ["alsa:", "pulse:x", "replay:", "replay:x?fast=1"] {
            let e = bad.parse::<MicSpec>().unwrap_err();
            assert!(e.to_string().contains("expected alsa:"), "{bad}: {e}");
        }
    }

    #[test]
    fn leds_specs() {
        assert_eq!("sim".parse::<LedsSpec>().unwrap(), LedsSpec::Sim);
        assert_eq!("rppal".parse::<LedsSpec>().unwrap(), LedsSpec::Rppal);
        assert!("gpio".parse::<LedsSpec>().is_err());
    }
}
