//! `emoedge run` and `emoedge demo` from their command-line options: loads
//! the board profile and the models (degrading, with a warning each, when
//! the voice model or the face detector is missing), opens the sources and
//! the log, and runs the loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use emoedge_shared::fusion::FusionConfig;

use crate::board::{BoardProfile, ModelPaths};
use crate::clock::{Clock, MockClock, SystemClock};
use crate::leds::Leds;
use crate::log_writer::{LogConfig, LogWriter};
use crate::pipeline::faces::{CentreSquare, Detector, FaceFinder};
use crate::pipeline::models::{FaceClassifier, VoiceClassifier};
use crate::pipeline::record::{ModelsRecord, StartRecord, StopRecord};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::source::{open_camera, open_leds_or_sim, open_mic, CameraSpec, LedsSpec, MicSpec};

use super::report::Reporter;
use super::sources::{AudioFeed, CameraSlot, InlineFeed, ThreadedFeed};
use super::watchdog::Watchdog;
use super::{Pacing, RunOptions, Runner};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunSetup {
    /// Board profile name or file.
    pub board: String,
    /// Camera (default: the board's).
    pub camera: Option<CameraSpec>,
    /// Microphone (default: the board's).
    pub mic: Option<MicSpec>,
    /// LEDs (default: GPIO when the board has LEDs, else simulated).
    pub leds: Option<LedsSpec>,
    /// Log file (default: the board's `log.path`).
    pub log: Option<PathBuf>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Pacing.
    pub pacing: Pacing,
}

/// The models of a run and what is missing.
pub struct LoadedModels {
    /// Face classifier, if installed.
    pub face: Option<FaceClassifier>,
    /// Voice classifier, if installed.
    pub voice: Option<VoiceClassifier>,
    /// Face detector, or the centre-square fallback.
    pub finder: Box<dyn FaceFinder>,
    /// Fusion settings from the models directory's `fusion.toml`, or the
    /// defaults without it (the temperatures are the model files' own
    /// anyway, see [`PipelineConfig::fusion`]).
    pub fusion: FusionConfig,
    /// For the `start` record.
    pub record: ModelsRecord,
    /// One warning per degraded slot.
    pub warnings: Vec<String>,
}

/// Reads the fusion configuration `path` (TOML, as `emoedge-train fusion
/// calibrate` writes it; missing keys take the defaults): `None` when the
/// file does not exist, an error when it is unreadable or invalid.
pub fn load_fusion_config(path: &Path) -> Result<Option<FusionConfig>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: FusionConfig = toml::from_str(&text)
        .with_context(|| format!("fusion configuration {}", path.display()))?;
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("fusion configuration {}: {e}", path.display()))?;
    Ok(Some(cfg))
}

/// Loads the models named by `paths`. A missing voice model means face
/// only, a missing detector the centre-square fallback, a missing face
/// model voice only (each with a warning), a missing fusion configuration
/// the default settings; a file that exists but is broken or of the wrong
/// kind is an error, as is having neither classifier.
pub fn load_models(paths: &ModelPaths) -> Result<LoadedModels> {
    let mut warnings = paths.notes.clone();
    let mut record = ModelsRecord::default();
    let face = if paths.face.is_file() {
        record.face = Some(paths.face.display().to_string());
        Some(FaceClassifier::load(&paths.face)?)
    } else {
        warnings.push(format!(
            "no face model at {}: voice only (install face.emo or fix models.face in the board profile)",
            paths.face.display()
        ));
        None
    };
    let voice = if paths.voice.is_file() {
        record.voice = Some(paths.voice.display().to_string());
        Some(VoiceClassifier::load(&paths.voice)?)
    } else {
        warnings.push(format!(
            "no voice model at {}: face only (install voice.emo when it is trained)",
            paths.voice.display()
        ));
        None
    };
    if face.is_none() && voice.is_none() {
        bail!(
            "neither a face model ({}) nor a voice model ({}) is installed: nothing to recognise with",
            paths.face.display(),
            paths.voice.display()
        );
    }
    let finder = detector(paths, &mut record, &mut warnings)?;
    let fusion = match load_fusion_config(&paths.fusion)? {
        Some(cfg) => {
            log::info!("fusion settings from {}", paths.fusion.display());
            cfg
        }
        None => {
            log::info!("no {}: default fusion settings", paths.fusion.display());
            FusionConfig::default()
        }
    };
    Ok(LoadedModels {
        face,
        voice,
        finder,
        fusion,
        record,
        warnings,
    })
}

fn detector(
    paths: &ModelPaths,
    record: &mut ModelsRecord,
    warnings: &mut Vec<String>,
) -> Result<Box<dyn FaceFinder>> {
    if paths.detector.is_file() {
        record.detector = Some(paths.detector.display().to_string());
        return Ok(Box::new(Detector::load(&paths.detector)?));
    }
    let fallback = CentreSquare::default();
    warnings.push(format!(
        "no face detector at {}: {}",
        paths.detector.display(),
        fallback.describe()
    ));
    Ok(Box::new(fallback))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// Opens everything `setup` names and runs the loop; returns the `stop`
/// record. `reporter` prints while it runs.
pub fn run(
    setup: &RunSetup,
    reporter: Box<dyn Reporter>,
    stop: &'static std::sync::atomic::AtomicBool,
) -> Result<StopRecord> {
    let profile = BoardProfile::load(&setup.board)?;
    match setup.pacing {
        Pacing::Realtime => run_with(setup, &profile, SystemClock::new(), reporter, stop),
        Pacing::Fast => run_with(setup, &profile, MockClock::default(), reporter, stop),
    }
}

fn run_with<C: Clock + Clone + Send + 'static>(
    setup: &RunSetup,
    profile: &BoardProfile,
    clock: C,
    reporter: Box<dyn Reporter>,
    stop: &'static std::sync::atomic::AtomicBool,
) -> Result<StopRecord> {
    let camera_spec = setup
        .camera
        .clone()
        .unwrap_or_else(|| CameraSpec::from_profile(profile));
    let mic_spec = setup
        .mic
        .clone()
        .unwrap_or_else(|| MicSpec::from_profile(profile));
    if camera_spec == CameraSpec::None && mic_spec == MicSpec::None {
        bail!("both --camera and --mic are `none`: nothing to watch or listen to");
    }
    if setup.pacing == Pacing::Fast {
        if let CameraSpec::V4l2(d) = &camera_spec {
            bail!("--fast needs replayed input, but the camera is the live device {}; use --realtime or --camera replay:PATH", d.display());
        }
        if let MicSpec::Alsa(d) = &mic_spec {
            bail!("--fast needs replayed input, but the microphone is the live device {d}; use --realtime or --mic replay:FILE");
        }
    }

    let models = load_models(&profile.model_paths())?;
    let mut config = PipelineConfig::from_profile(profile);
    config.fusion = models.fusion;
    config.adaptive = setup.pacing == Pacing::Realtime;
    let pipeline = Pipeline::new(
        config,
        models.face,
        models.voice,
        models.finder,
        SystemClock::new(),
    )?;
    let mut warnings = models.warnings;

    // Sources, at the pipeline's sample rate; replays paced per --fast/--realtime.
    let mut profile = profile.clone();
    profile.mic.sample_rate = pipeline.sample_rate();
    let camera_spec = match camera_spec {
        CameraSpec::Replay { path, fps, looping } => CameraSpec::Replay {
            path,
            fps: match (setup.pacing, fps) {
                // A simulated clock needs a frame rate to advance by.
                (Pacing::Fast, Some(None)) => None,
                (_, fps) => fps,
            },
            looping,
        },
        other => other,
    };
    let mic_spec = match mic_spec {
        MicSpec::Replay { path, looping, .. } => MicSpec::Replay {
            path,
            realtime: setup.pacing == Pacing::Realtime,
            looping,
        },
        other => other,
    };
    let camera = if camera_spec == CameraSpec::None {
        None
    } else {
        let (spec, p, c) = (camera_spec.clone(), profile.clone(), clock.clone());
        let opener = Box::new(move || {
            open_camera(&spec, &p, c.clone())
                .map(|cam| cam.expect("a camera spec other than none opens a camera"))
        });
        let (slot, missing) = CameraSlot::open(opener)?;
        if let Some(e) = missing {
            warnings.push(format!("{e}; retrying, voice only meanwhile"));
        }
        Some(slot)
    };
    let mic: Option<Box<dyn AudioFeed>> = if mic_spec == MicSpec::None {
        None
    } else {
        let (spec, p, c) = (mic_spec.clone(), profile.clone(), clock.clone());
        let open = move || {
            open_mic(&spec, &p, c.clone())
                .map(|m| m.expect("a microphone spec other than none opens a microphone"))
        };
        let (feed, missing): (Box<dyn AudioFeed>, _) = match setup.pacing {
            Pacing::Fast => {
                let (f, e) = InlineFeed::open(Box::new(open))?;
                (Box::new(f), e)
            }
            Pacing::Realtime => {
                let period = (profile.mic.sample_rate as usize * profile.mic.period_ms as usize
                    / 1000)
                    .max(1);
                let (f, e) = ThreadedFeed::start(Box::new(open), clock.clone(), period)?;
                (Box::new(f), e)
            }
        };
        if let Some(e) = missing {
            warnings.push(format!("{e}; retrying, face only meanwhile"));
        }
        Some(feed)
    };
    let leds_spec = setup
        .leds
        .unwrap_or_else(|| LedsSpec::from_profile(&profile));
    let leds = open_leds_or_sim(leds_spec, &profile, clock.clone());

    let mut log_config = LogConfig::from_profile(&profile);
    if let Some(p) = &setup.log {
        log_config.path = p.clone();
    }
    let log_path = log_config.path.clone();
    let log = LogWriter::open(log_config, clock.clone())?;

    let start = StartRecord {
        t_ms: 0,
        unix_ms: unix_ms(),
        version: env!("CARGO_PKG_VERSION").into(),
        board: profile.name.clone(),
        camera: camera
            .as_ref()
            .map(|c| c.describe().to_string())
            .unwrap_or_else(|| "none".into()),
        mic: mic
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_else(|| "none".into()),
        leds: leds.describe(),
        pacing: setup.pacing.name().into(),
        models: models.record,
        budget_ms: [
            ("capture", profile.budget.capture_ms),
            ("detect", profile.budget.detect_ms),
            ("face", profile.budget.face_ms),
            ("fusion", profile.budget.fusion_ms),
            ("voice", profile.budget.voice_ms),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    };
    log::info!("event log: {}", log_path.display());
    let opts = RunOptions {
        pacing: setup.pacing,
        duration: setup.duration,
        tick: Duration::from_millis(100),
        frame_interval: Duration::from_secs_f64(profile.frame_interval_ms() / 1000.0),
        stop,
    };
    let mut runner = Runner::new(clock, pipeline, camera, mic, leds, log, reporter, opts)
        .with_watchdog(Watchdog::from_env());
    Ok(runner.run(start, warnings))
}

/// Where `emoedge demo` finds its bundled replay, in order:
/// `$EMOEDGE_DEMO_DIR`, `share/emoedge/demo` next to or above the
/// executable (an install prefix), `device/assets/demo` of the repository
/// the binary was built from.
pub fn demo_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("EMOEDGE_DEMO_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        for _ in 0..3 {
            let Some(d) = dir else { break };
            dirs.push(d.join("share/emoedge/demo"));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo"));
    dirs
}

/// The first demo directory holding `frames/` and `speech.flac`.
pub fn find_demo_assets(explicit: Option<&Path>) -> Result<PathBuf> {
    let ok = |d: &Path| d.join("frames").is_dir() && d.join("speech.flac").is_file();
    if let Some(d) = explicit {
        if ok(d) {
            return Ok(d.to_path_buf());
        }
        bail!("{} has no frames/ folder and speech.flac", d.display());
    }
    let dirs = demo_dirs();
    dirs.iter().find(|d| ok(d)).cloned().with_context(|| {
        format!(
            "the demo replay is not installed: looked for frames/ and speech.flac in {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
