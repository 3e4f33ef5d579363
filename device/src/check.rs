//! `emoedge check`: a self-test of everything the loop needs, one line per
//! check: the board profile, the model files, the camera, the microphone
//! and the LEDs.

use std::fmt;
use std::path::Path;

use emoedge_shared::format::{self, ModelKind};

use crate::board::BoardProfile;
use crate::camera::Frame;
use crate::clock::Clock;
use crate::pipeline::faces::Detector;
use crate::pipeline::models::{FaceClassifier, VoiceClassifier};
use crate::source::{open_camera, open_leds, open_mic, CameraSpec, LedsSpec, MicSpec};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// A required file is absent.
    Missing,
    /// Broken.
    Fail,
    /// Not checked (source set to `none`).
    Skip,
}

impl Status {
    /// Whether this outcome makes the self-test fail.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Missing | Status::Fail)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        })
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckLine {
    /// What was checked, e.g. `camera`, `model face`.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} {:<14} {}", self.status, self.name, self.detail)
    }
}

/// What to check. `None` sources come from the board profile.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOptions {
    /// Profile name or file.
    pub board: String,
    /// Camera override.
    pub camera: Option<CameraSpec>,
    /// Microphone override.
    pub mic: Option<MicSpec>,
    /// LED driver override.
    pub leds: Option<LedsSpec>,
}

fn line(name: &str, status: Status, detail: impl Into<String>) -> CheckLine {
    CheckLine {
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

/// Checks one model file: present, decodes and verifies, right kind, and
/// loads as `emoedge run` loads it (shapes the loop needs).
pub fn check_model(slot: &str, path: &Path, kind: ModelKind) -> CheckLine {
    let name = format!("model {slot}");
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return line(
                &name,
                Status::Missing,
                format!(
                    "{} does not exist; train and export it with `emoedge-train`, copy it there, or change models.* in the board profile",
                    path.display()
                ),
            )
        }
        Err(e) => return line(&name, Status::Fail, format!("cannot read {}: {e}", path.display())),
    };
    let model = match format::decode(&bytes) {
        Ok(m) => m,
        Err(e) => return line(&name, Status::Fail, format!("{}: {e}", path.display())),
    };
    if let Err(e) = model.expect_kind(kind) {
        return line(&name, Status::Fail, format!("{}: {e}", path.display()));
    }
    // What `emoedge run` checks on top when it loads the model: an input
    // shape that matches the preprocessing, the 7 emotions out, a
    // detector's outputs that match its anchors, a graph tract can build.
    let fits = match kind {
        ModelKind::FaceClassifier => FaceClassifier::load(path).map(drop),
        ModelKind::VoiceClassifier => VoiceClassifier::load(path).map(drop),
        ModelKind::FaceDetector => Detector::load(path).map(drop),
    };
    if let Err(e) = fits {
        return line(&name, Status::Fail, format!("{e:#}"));
    }
    line(
        &name,
        Status::Ok,
        format!(
            "{} ({}, {} parameters)",
            path.display(),
            model.header.name,
            model.parameter_count()
        ),
    )
}

/// Runs every check; the report stops after the board line when the
/// profile cannot be used.
pub fn run_checks<C: Clock + Clone + 'static>(opts: &CheckOptions, clock: C) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let profile = match BoardProfile::load(&opts.board) {
        Ok(p) => {
            lines.push(line(
                "board",
                Status::Ok,
                format!("{} ({})", p.name, p.source.display()),
            ));
            p
        }
        Err(e) => {
            lines.push(line("board", Status::Fail, e.to_string()));
            return lines;
        }
    };

    let paths = profile.model_paths();
    for (slot, path, kind, without) in [
        (
            "face",
            &paths.face,
            ModelKind::FaceClassifier,
            "`emoedge run` is voice only without it",
        ),
        (
            "voice",
            &paths.voice,
            ModelKind::VoiceClassifier,
            "`emoedge run` is face only without it",
        ),
        (
            "detector",
            &paths.detector,
            ModelKind::FaceDetector,
            "`emoedge run` takes the centre square of each frame as the face without it",
        ),
    ] {
        let mut l = check_model(slot, path, kind);
        if l.status == Status::Missing {
            l.detail = format!("{} ({without})", l.detail);
        }
        let marker = format!("the {slot} model");
        if let Some(note) = paths.notes.iter().find(|n| n.contains(&marker)) {
            l.detail = format!("{} [{note}]", l.detail);
        }
        lines.push(l);
    }

    let camera = opts
        .camera
        .clone()
        .unwrap_or_else(|| CameraSpec::from_profile(&profile));
    lines.push(match open_camera(&camera, &profile, clock.clone()) {
        Ok(None) => line("camera", Status::Skip, "camera source is `none`"),
        Ok(Some(mut cam)) => {
            let mut frame = Frame::default();
            match cam.read_frame(&mut frame) {
                Ok(()) => line(
                    "camera",
                    Status::Ok,
                    format!(
                        "{}: got a {}x{} frame",
                        cam.describe(),
                        frame.width,
                        frame.height
                    ),
                ),
                Err(e) => line("camera", Status::Fail, format!("{}: {e}", cam.describe())),
            }
        }
        Err(e) => line("camera", Status::Fail, e.to_string()),
    });

    let mic = opts
        .mic
        .clone()
        .unwrap_or_else(|| MicSpec::from_profile(&profile));
    lines.push(match open_mic(&mic, &profile, clock.clone()) {
        Ok(None) => line("microphone", Status::Skip, "microphone source is `none`"),
        Ok(Some(mut m)) => {
            // One period's worth of samples.
            let mut buf = vec![
                0i16;
                (m.sample_rate() as usize * profile.mic.period_ms as usize / 1000)
                    .max(1)
            ];
            match m.read(&mut buf) {
                Ok(n) => line(
                    "microphone",
                    Status::Ok,
                    format!("{}: read {n} samples", m.describe()),
                ),
                Err(e) => line("microphone", Status::Fail, format!("{}: {e}", m.describe())),
            }
        }
        Err(e) => line("microphone", Status::Fail, e.to_string()),
    });

    let leds = opts
        .leds
        .unwrap_or_else(|| LedsSpec::from_profile(&profile));
    lines.push(match leds {
        LedsSpec::Sim => line("leds", Status::Ok, "simulated LEDs in the terminal"),
        LedsSpec::Rppal => match open_leds(leds, &profile, clock) {
            Ok(mut l) => match l.show(crate::leds::LedState::Off) {
                Ok(()) => line(
                    "leds",
                    Status::Ok,
                    format!("{}: pins free and driven", l.describe()),
                ),
                Err(e) => line("leds", Status::Fail, e.to_string()),
            },
            Err(e) => line("leds", Status::Fail, e.to_string()),
        },
    });
    lines
}
