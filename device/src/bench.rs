//! `emoedge bench`: the latency of each stage of the loop on this board,
//! single-threaded, with the board profile's model files, so that a Pi
//! owner measures their board with the installed binary alone (no Rust
//! toolchain, no data: every input is generated or built in).
//!
//! Stages ([`Stages::prepare`]; one missing model file skips the stages
//! that need it, with a note):
//!
//! | name | what one iteration does |
//! |---|---|
//! | `detect_320x240`, `detect_640x480` | face detector on a frame with one face: letterbox, network, decoding, NMS |
//! | `face_int8`, `face_f32` | the face expression model alone (`face.emo`, `face.f32.emo`) on one 48x48 input |
//! | `voice_int8`, `voice_f32` | the voice model alone (`voice.emo`, `voice.f32.emo`) on one log-mel window |
//! | `logmel_1s` | streaming log-mel features of one second of audio |
//! | `fusion_step` | one fusion step (face and voice logits → smoothed decision) |
//! | `frame_pipeline` | one 320x240 camera frame with one face through the loop's pipeline: detection, tracking, crop, face model, fusion, decision record |
//! | `voice_window` | one voice window from samples to probabilities: 16-bit samples → log-mel → normalisation → voice model → calibrated softmax |
//!
//! `frame_pipeline` and `voice_window` use the models the board's
//! `[models] precision` selects; the others measure both precisions. The
//! frame is a demo frame built into the binary (the astronaut of
//! `device/assets/demo`), doubled for 640x480.
//!
//! Each stage runs its warm-up iterations, then [`BenchOptions::iterations`]
//! timed ones; the [`BenchReport`] holds the median and the 99th
//! percentile (nearest rank) in milliseconds, the peak resident memory of
//! the process (`VmHWM`), the threads and the CPU. tract runs
//! single-threaded: the numbers are those of one core.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use emoedge_shared::audio::{LogMel, LogMelConfig, VoicePreprocessing};
use emoedge_shared::detect::FaceDetector;
use emoedge_shared::format::sample::pseudo_random;
use emoedge_shared::format::{
    Activation, Bias, Conv2d, Dense, Graph, Header, ModelFile, ModelKind, Op, Pool2d,
    Preprocessing, Tensor,
};
use emoedge_shared::fusion::{calibrate, FusionConfig, FusionEngine, Probs};
use emoedge_shared::quantize::{self, QuantizeOptions};
use emoedge_shared::runtime::Model;
use emoedge_shared::{Emotion, NUM_CLASSES};
use serde::Serialize;

use crate::board::{f32_variant, BoardProfile, Precision};
use crate::camera::Frame;
use crate::clock::SystemClock;
use crate::mic::i16_to_f32;
use crate::pipeline::faces::{CentreSquare, Detector, FaceFinder};
use crate::pipeline::models::{FaceClassifier, VoiceClassifier};
use crate::pipeline::{Pipeline, PipelineConfig, SourceState, Sources};

/// The demo frame built into the binary: 320x240 gray, the astronaut
/// (public domain, see `device/assets/demo/README.md`) facing the camera.
const FRAME_JPEG: &[u8] = include_bytes!("../assets/demo/frames/frame016.jpg");

/// Stage names, in the order they run and are printed.
pub const STAGE_NAMES: &[&str] = &[
    "detect_320x240",
    "detect_640x480",
    "face_int8",
    "face_f32",
    "voice_int8",
    "voice_f32",
    "logmel_1s",
    "fusion_step",
    "frame_pipeline",
    "voice_window",
];

/// Default timed iterations per stage.
pub const DEFAULT_ITERATIONS: usize = 200;

/// What and how long to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// Timed iterations per stage (at least 1).
    pub iterations: usize,
    /// Untimed iterations before them (caches, allocator, branch
    /// predictors, tract's lazily built kernels).
    pub warmup: usize,
    /// Only these stages (all when empty).
    pub only: Vec<String>,
}

impl BenchOptions {
    /// `iterations` timed iterations after a tenth as many warm-up ones
    /// (at least 2).
    pub fn new(iterations: usize) -> Self {
        let iterations = iterations.max(1);
        BenchOptions {
            iterations,
            warmup: (iterations / 10).max(2),
            only: Vec::new(),
        }
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions::new(DEFAULT_ITERATIONS)
    }
}

/// Latency of one stage, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StageTimes {
    /// Median.
    pub median_ms: f64,
    /// 99th percentile (nearest rank; the maximum below 100 iterations).
    pub p99_ms: f64,
}

impl StageTimes {
    /// Median and 99th percentile of `samples_ms` (not empty).
    pub fn from_samples(samples_ms: &mut [f64]) -> StageTimes {
        samples_ms.sort_by(f64::total_cmp);
        let n = samples_ms.len();
        if n == 0 {
            return StageTimes {
                median_ms: 0.0,
                p99_ms: 0.0,
            };
        }
        let median = if n % 2 == 1 {
            samples_ms[n / 2]
        } else {
            (samples_ms[n / 2 - 1] + samples_ms[n / 2]) / 2.0
        };
        // Nearest rank: the smallest value with at least 99 % of the
        // samples at or below it.
        let rank = (0.99 * n as f64).ceil() as usize;
        StageTimes {
            median_ms: round_ns(median),
            p99_ms: round_ns(samples_ms[rank.clamp(1, n) - 1]),
        }
    }
}

/// Milliseconds rounded to the nanosecond.
fn round_ns(ms: f64) -> f64 {
    (ms * 1e6).round() / 1e6
}

/// What `emoedge bench --json` writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// Per stage (see the [module docs](self)); stages whose model is
    /// missing are absent.
    pub stages: BTreeMap<String, StageTimes>,
    /// Peak resident memory of the process (`VmHWM`), MiB; 0 where
    /// `/proc/self/status` does not exist.
    pub peak_rss_mb: f64,
    /// Threads of the process while it measured (tract runs on the
    /// calling thread: 1).
    pub threads: usize,
    /// The CPU: `/proc/cpuinfo`'s model name, or on ARM its board model
    /// and core.
    pub cpu: String,
}

/// One stage: a name and one iteration of its work.
pub struct Stage {
    /// Stage name (one of [`STAGE_NAMES`]).
    pub name: &'static str,
    /// One iteration. Inputs are prepared beforehand, so this is only the
    /// work being measured.
    pub run: Box<dyn FnMut() -> Result<()>>,
}

/// The models to measure. Any may be absent: its stages are skipped.
#[derive(Clone, Debug, Default)]
pub struct BenchModels {
    /// Face detector.
    pub detector: Option<Model>,
    /// Face expression model, int8 weights (`face.emo`).
    pub face_int8: Option<Model>,
    /// Face expression model, f32 weights (`face.f32.emo`).
    pub face_f32: Option<Model>,
    /// Voice model, int8 weights (`voice.emo`).
    pub voice_int8: Option<Model>,
    /// Voice model, f32 weights (`voice.f32.emo`).
    pub voice_f32: Option<Model>,
    /// The weights `frame_pipeline` and `voice_window` use (the other
    /// precision when this one is missing).
    pub precision: Option<Precision>,
    /// The file each model stage was to load (`face_int8` →
    /// `models/face.emo`), for the notes about missing ones.
    pub files: BTreeMap<&'static str, PathBuf>,
    /// What was replaced, one line each.
    pub notes: Vec<String>,
}

impl BenchModels {
    /// The model files of `profile`: for each of face and voice the named
    /// file as the int8 model and its `<stem>.f32.emo` twin as the f32 one;
    /// the detector as named. A missing file is a note; a file that exists
    /// but does not load is an error. A named file without int8 layers
    /// counts as the f32 model.
    pub fn from_profile(profile: &BoardProfile) -> Result<BenchModels> {
        let mut named = profile.clone();
        named.models.precision = Precision::Int8;
        let paths = named.model_paths();
        let mut models = BenchModels {
            precision: Some(profile.models.precision),
            ..Default::default()
        };
        let load = |path: &Path, kind: ModelKind| {
            if !path.is_file() {
                return Ok(None);
            }
            Model::load_kind(path, kind)
                .map(Some)
                .with_context(|| format!("model file {}", path.display()))
        };
        for (slot, kind) in [
            ("face", ModelKind::FaceClassifier),
            ("voice", ModelKind::VoiceClassifier),
        ] {
            let path = if slot == "face" {
                &paths.face
            } else {
                &paths.voice
            };
            let twin = f32_variant(path);
            let int8 = load(path, kind)?;
            let f32 = load(&twin, kind)?;
            let (int8, f32) = match (int8, f32) {
                (Some(m), f32) if m.int8_layers() == 0 => {
                    models.notes.push(format!(
                        "{} has no int8 layers: measured as {slot}_f32",
                        path.display()
                    ));
                    (None, f32.or(Some(m)))
                }
                pair => pair,
            };
            if slot == "face" {
                models.face_int8 = int8;
                models.face_f32 = f32;
                models.files.insert("face_int8", path.clone());
                models.files.insert("face_f32", twin);
            } else {
                models.voice_int8 = int8;
                models.voice_f32 = f32;
                models.files.insert("voice_int8", path.clone());
                models.files.insert("voice_f32", twin);
            }
        }
        models.detector = load(&paths.detector, ModelKind::FaceDetector)?;
        models.files.insert("detect", paths.detector.clone());
        Ok(models)
    }

    /// The face model of the chosen precision, else the other one.
    fn face(&self) -> Option<(&Model, &'static str)> {
        pick(
            self.precision,
            self.face_int8.as_ref(),
            self.face_f32.as_ref(),
        )
    }

    /// The voice model of the chosen precision, else the other one.
    fn voice(&self) -> Option<(&Model, &'static str)> {
        pick(
            self.precision,
            self.voice_int8.as_ref(),
            self.voice_f32.as_ref(),
        )
    }
}

fn pick<'a>(
    precision: Option<Precision>,
    int8: Option<&'a Model>,
    f32: Option<&'a Model>,
) -> Option<(&'a Model, &'static str)> {
    let int8 = int8.map(|m| (m, "int8"));
    let f32 = f32.map(|m| (m, "f32"));
    match precision {
        Some(Precision::F32) => f32.or(int8),
        _ => int8.or(f32),
    }
}

/// The built-in 320x240 frame with one face.
pub fn frame_320x240() -> Result<Frame> {
    let img = image::load_from_memory_with_format(FRAME_JPEG, image::ImageFormat::Jpeg)
        .context("the built-in bench frame")?
        .to_luma8();
    Ok(Frame {
        width: img.width(),
        height: img.height(),
        gray: img.into_raw(),
        timestamp_ms: 0,
        sequence: 0,
    })
}

/// `frame` with every pixel doubled (640x480 from 320x240).
pub fn doubled(frame: &Frame) -> Frame {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut gray = vec![0u8; 4 * w * h];
    for (y, row) in gray.chunks_exact_mut(2 * w).enumerate() {
        let src = &frame.gray[(y / 2) * w..(y / 2 + 1) * w];
        for (x, px) in row.iter_mut().enumerate() {
            *px = src[x / 2];
        }
    }
    Frame {
        gray,
        width: 2 * frame.width,
        height: 2 * frame.height,
        ..Frame::default()
    }
}

/// `seconds` of 16-bit audio at `rate`: a voiced, vowel-like tone (a
/// 140 Hz harmonic series under a slow envelope) with some noise.
pub fn speechlike_samples(rate: u32, seconds: f32) -> Vec<i16> {
    let n = (rate as f32 * seconds) as usize;
    let noise = pseudo_random(3, n, 0.02);
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            let voiced: f32 = (1..=12)
                .map(|k| (2.0 * std::f32::consts::PI * 140.0 * k as f32 * t).sin() / k as f32)
                .sum();
            let v = 0.15 * env * voiced + noise[i];
            (v.clamp(-1.0, 1.0) * 32767.0) as i16
        })
        .collect()
}

/// The stages and what was skipped.
pub struct Stages {
    /// Stages to run, in [`STAGE_NAMES`] order.
    pub stages: Vec<Stage>,
    /// One line per skipped or degraded stage (and the models' notes).
    pub notes: Vec<String>,
}

impl Stages {
    /// Prepares every stage `models` allows; `profile` gives the loop's
    /// settings for `frame_pipeline`.
    pub fn prepare(models: &BenchModels, profile: &BoardProfile) -> Result<Stages> {
        let mut notes = models.notes.clone();
        let mut stages = Vec::new();
        let frame = frame_320x240()?;
        let missing = |stage: &str, key: &str| match models.files.get(key) {
            Some(p) => format!("{stage}: skipped (no model file {})", p.display()),
            None => format!("{stage}: skipped (no model)"),
        };

        match &models.detector {
            Some(m) => {
                let det =
                    FaceDetector::new(m.clone()).map_err(|e| anyhow!("face detector: {e}"))?;
                for (name, f) in [
                    ("detect_320x240", frame.clone()),
                    ("detect_640x480", doubled(&frame)),
                ] {
                    let det = det.clone();
                    let found = det
                        .detect(&f.view()?)
                        .map_err(|e| anyhow!("face detector: {e}"))?
                        .len();
                    if found != 1 {
                        notes.push(format!(
                            "{name}: the detector found {found} faces in the bench frame, not 1"
                        ));
                    }
                    stages.push(Stage {
                        name,
                        run: Box::new(move || {
                            let view = f.view()?;
                            let d = det
                                .detect(std::hint::black_box(&view))
                                .map_err(|e| anyhow!("face detector: {e}"))?;
                            std::hint::black_box(d);
                            Ok(())
                        }),
                    });
                }
            }
            None => notes.push(missing("detect_320x240, detect_640x480", "detect")),
        }

        let model_stage = |name: &'static str, model: &Option<Model>, notes: &mut Vec<String>| {
            let Some(model) = model.clone() else {
                notes.push(missing(name, name));
                return None;
            };
            let input = pseudo_random(11, model.input_len(), 1.0);
            Some(Stage {
                name,
                run: Box::new(move || {
                    std::hint::black_box(model.run(std::hint::black_box(&input))?);
                    Ok(())
                }),
            })
        };
        for (name, model) in [
            ("face_int8", &models.face_int8),
            ("face_f32", &models.face_f32),
            ("voice_int8", &models.voice_int8),
            ("voice_f32", &models.voice_f32),
        ] {
            stages.extend(model_stage(name, model, &mut notes));
        }

        let voice_pre = models
            .voice()
            .and_then(|(m, _)| match m.header().preprocessing {
                Preprocessing::Voice(p) => Some(p),
                _ => None,
            })
            .unwrap_or_default();
        stages.push(logmel_stage(voice_pre.logmel)?);
        stages.push(fusion_stage()?);

        match models.face() {
            Some((face, precision)) => {
                stages.push(frame_stage(models, face, profile, frame, &mut notes)?);
                if models.precision.is_some_and(|p| p.to_string() != precision) {
                    notes.push(format!(
                        "frame_pipeline: with the {precision} face model (the other one is missing)"
                    ));
                }
            }
            None => notes.push("frame_pipeline: skipped (no face model)".into()),
        }
        match models.voice() {
            Some((voice, precision)) => {
                stages.push(voice_window_stage(voice)?);
                if models.precision.is_some_and(|p| p.to_string() != precision) {
                    notes.push(format!(
                        "voice_window: with the {precision} voice model (the other one is missing)"
                    ));
                }
            }
            None => notes.push("voice_window: skipped (no voice model)".into()),
        }
        if models.detector.is_none() && models.face().is_some() {
            notes.push(format!(
                "frame_pipeline: no face detector, so with the fallback ({})",
                CentreSquare::default().describe()
            ));
        }
        Ok(Stages { stages, notes })
    }
}

fn logmel_stage(cfg: LogMelConfig) -> Result<Stage> {
    let mut logmel = LogMel::new(cfg).map_err(|e| anyhow!("log-mel: {e}"))?;
    let second: Vec<f32> = speechlike_samples(cfg.sample_rate, 1.0)
        .into_iter()
        .map(i16_to_f32)
        .collect();
    Ok(Stage {
        name: "logmel_1s",
        // Streaming, as the loop does: each iteration is the next second.
        run: Box::new(move || {
            let mut sum = 0.0f32;
            let frames = logmel.process(std::hint::black_box(&second), |f| sum += f[0]);
            std::hint::black_box((frames, sum));
            Ok(())
        }),
    })
}

fn fusion_stage() -> Result<Stage> {
    let mut engine =
        FusionEngine::new(FusionConfig::default()).map_err(|e| anyhow!("fusion: {e}"))?;
    let face: Probs = [0.2, -1.0, 0.1, 2.5, 0.8, -0.3, 0.4];
    let voice: Probs = [0.5, -0.7, 0.2, 1.1, 1.4, -0.2, 0.0];
    let mut now_ms = 0u64;
    Ok(Stage {
        name: "fusion_step",
        run: Box::new(move || {
            now_ms += 33;
            let d = engine.update(
                now_ms,
                Some(std::hint::black_box(&face)),
                Some(std::hint::black_box(&voice)),
            );
            std::hint::black_box(d);
            Ok(())
        }),
    })
}

fn frame_stage(
    models: &BenchModels,
    face: &Model,
    profile: &BoardProfile,
    frame: Frame,
    notes: &mut Vec<String>,
) -> Result<Stage> {
    let finder: Box<dyn FaceFinder> = match &models.detector {
        Some(m) => Box::new(Detector::new(
            FaceDetector::new(m.clone()).map_err(|e| anyhow!("face detector: {e}"))?,
        )),
        None => Box::new(CentreSquare::default()),
    };
    let face = FaceClassifier::new(face.clone())?;
    let mut cfg = PipelineConfig::from_profile(profile);
    // Every frame fully processed: detection and the face model each time.
    cfg.adaptive = false;
    let step_ms = (1000.0 / f64::from(cfg.budget.detect_hz.max(0.1))).ceil() as u64 + 1;
    let mut pipeline = Pipeline::new(cfg, Some(face), None, finder, SystemClock::new())?;
    let sources = Sources {
        camera: SourceState::Ok,
        mic: SourceState::None,
    };
    let mut frame = frame;
    let mut now_ms = 0u64;
    let mut step = move |frame: &mut Frame| {
        now_ms += step_ms;
        frame.sequence += 1;
        frame.timestamp_ms = now_ms;
        pipeline.on_frame(std::hint::black_box(frame), now_ms, 0.0, sources)
    };
    let first = step(&mut frame);
    if first.record.faces.len() != 1 || first.record.latency_ms.face.is_none() {
        notes.push(format!(
            "frame_pipeline: {} faces found in the bench frame, not 1",
            first.record.faces.len()
        ));
    }
    Ok(Stage {
        name: "frame_pipeline",
        run: Box::new(move || {
            std::hint::black_box(step(&mut frame));
            Ok(())
        }),
    })
}

fn voice_window_stage(voice: &Model) -> Result<Stage> {
    let temperature = voice.header().temperature;
    let mut classifier = VoiceClassifier::new(voice.clone())?;
    let pre = *classifier.preprocessing();
    let mut logmel = LogMel::new(pre.logmel).map_err(|e| anyhow!("log-mel: {e}"))?;
    // Exactly one window of audio: (frames - 1) hops and one window.
    let n = (usize::from(pre.frames) - 1) * pre.logmel.hop_length as usize
        + pre.logmel.win_length as usize;
    let seconds = n as f32 / pre.logmel.sample_rate as f32;
    let samples = speechlike_samples(pre.logmel.sample_rate, seconds);
    let mut float = Vec::with_capacity(samples.len());
    let mut frames = Vec::with_capacity(pre.window_len());
    Ok(Stage {
        name: "voice_window",
        run: Box::new(move || {
            float.clear();
            float.extend(
                std::hint::black_box(&samples)
                    .iter()
                    .map(|&s| i16_to_f32(s)),
            );
            frames.clear();
            logmel.reset();
            logmel.process(&float, |f| frames.extend_from_slice(f));
            let logits = classifier.classify(&frames)?;
            let probs =
                calibrate(&logits, temperature).map_err(|e| anyhow!("voice logits: {e:?}"))?;
            std::hint::black_box(probs);
            Ok(())
        }),
    })
}

/// Runs every stage: `opts.warmup` untimed iterations, then
/// `opts.iterations` timed ones each; `progress` is called before each
/// stage with its name.
pub fn measure(
    stages: &mut [Stage],
    opts: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<BTreeMap<String, StageTimes>> {
    let mut out = BTreeMap::new();
    let mut samples = Vec::with_capacity(opts.iterations);
    for stage in stages {
        progress(stage.name);
        for _ in 0..opts.warmup {
            (stage.run)().with_context(|| format!("stage {}", stage.name))?;
        }
        samples.clear();
        for _ in 0..opts.iterations.max(1) {
            let t0 = Instant::now();
            (stage.run)().with_context(|| format!("stage {}", stage.name))?;
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        out.insert(
            stage.name.to_string(),
            StageTimes::from_samples(&mut samples),
        );
    }
    Ok(out)
}

/// Prepares and measures every stage of `models`; the report and the
/// notes.
pub fn run(
    models: &BenchModels,
    profile: &BoardProfile,
    opts: &BenchOptions,
    progress: impl FnMut(&str),
) -> Result<(BenchReport, Vec<String>)> {
    if let Some(bad) = opts
        .only
        .iter()
        .find(|o| !STAGE_NAMES.contains(&o.as_str()))
    {
        bail!(
            "no stage {bad:?}; the stages are {}",
            STAGE_NAMES.join(", ")
        );
    }
    let Stages { mut stages, notes } = Stages::prepare(models, profile)?;
    if !opts.only.is_empty() {
        stages.retain(|s| opts.only.iter().any(|o| o == s.name));
    }
    let stages = measure(&mut stages, opts, progress)?;
    let report = BenchReport {
        stages,
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
        threads: process_threads().unwrap_or(1),
        cpu: cpu_name(),
    };
    Ok((report, notes))
}

/// A `/proc/self/status` field in kB, or a count.
fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_value(&status, name)
}

fn status_value(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Peak resident memory of this process so far (`VmHWM`), MiB.
pub fn peak_rss_mb() -> Option<f64> {
    status_field("VmHWM").map(|kb| (kb as f64 / 1024.0 * 10.0).round() / 10.0)
}

/// Threads of this process.
pub fn process_threads() -> Option<usize> {
    status_field("Threads").map(|n| n as usize)
}

/// The CPU, from `/proc/cpuinfo`: its `model name` (x86), else the
/// board's `Model` or `Hardware` line with the core named from `CPU
/// part` (ARM: `Raspberry Pi 4 Model B Rev 1.4 (Cortex-A72)`), else the
/// architecture.
pub fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu_from_cpuinfo(&info).unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// [`cpu_name`] from the text of `/proc/cpuinfo`.
pub fn cpu_from_cpuinfo(info: &str) -> Option<String> {
    let field = |name: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    };
    if let Some(m) = field("model name") {
        return Some(m);
    }
    let core = field("CPU part").and_then(|p| arm_core(&p));
    let board = field("Model").or_else(|| field("Hardware"));
    match (board, core) {
        (Some(b), Some(c)) => Some(format!("{b} ({c})")),
        (Some(b), None) => Some(b),
        (None, Some(c)) => Some(c.to_string()),
        (None, None) => None,
    }
}

/// Arm core names of the `CPU part` numbers of Raspberry Pi boards.
fn arm_core(part: &str) -> Option<&'static str> {
    Some(match part.trim().to_ascii_lowercase().as_str() {
        "0xd03" => "Cortex-A53",
        "0xd08" => "Cortex-A72",
        "0xd0b" => "Cortex-A76",
        "0xd05" => "Cortex-A55",
        "0xd07" => "Cortex-A57",
        "0xd0a" => "Cortex-A75",
        "0xd0d" => "Cortex-A77",
        "0xd41" => "Cortex-A78",
        _ => return None,
    })
}

/// The budget of the board profile a stage's latency is held against, if
/// one applies.
pub fn stage_budget_ms(profile: &BoardProfile, stage: &str) -> Option<f64> {
    let b = &profile.budget;
    let ms = match stage {
        s if s.starts_with("detect_") => b.detect_ms,
        "face_int8" | "face_f32" => b.face_ms,
        "voice_int8" | "voice_f32" | "voice_window" => b.voice_ms,
        "fusion_step" => b.fusion_ms,
        "frame_pipeline" => b.detect_ms + b.face_ms + b.fusion_ms,
        _ => return None,
    };
    Some(f64::from(ms))
}

/// A voice model shaped like `emoedge-train voice`'s `v16` preset (five
/// stages of one 3x3 conv with ReLU, widths 16-32-64-128-128, 2x2 max
/// pooling between them, global average pooling, a dense head) over the
/// default 200-frame x 64-band window, with pseudo-random weights; with
/// its int8 twin calibrated on pseudo-random windows. For benchmarks and
/// tests before the trained voice model is installed: same cost, no
/// meaning. Returns `(int8, f32)`.
pub fn stand_in_voice_model() -> Result<(ModelFile, ModelFile)> {
    let pre = VoicePreprocessing::default();
    let (frames, mels) = (u32::from(pre.frames), u32::from(pre.logmel.n_mels));
    let mut g = Graph::default();
    let mut x = 0;
    let mut c_in = 1u32;
    let widths = [16u32, 32, 64, 128, 128];
    for (s, &c) in widths.iter().enumerate() {
        let n = (c * c_in * 9) as usize;
        let conv = Op::Conv2d(Conv2d {
            weight: Tensor::f32(
                vec![c, c_in, 3, 3],
                pseudo_random(20 + s as u64, n, 1.7 / ((c_in * 9) as f32).sqrt()),
            ),
            bias: Some(Bias::F32(pseudo_random(40 + s as u64, c as usize, 0.1))),
            stride: [1, 1],
            dilation: [1, 1],
            padding: [1; 4],
            groups: 1,
            activation: Activation::Relu,
            input_quant: None,
        });
        x = g.push(format!("stage{}.conv1", s + 1), conv, vec![x]);
        if s + 1 < widths.len() {
            let pool = Pool2d {
                kernel: [2, 2],
                stride: [2, 2],
                padding: [0; 4],
            };
            x = g.push(format!("stage{}.pool", s + 1), Op::MaxPool(pool), vec![x]);
        }
        c_in = c;
    }
    x = g.push("gap", Op::GlobalAvgPool, vec![x]);
    x = g.push("flatten", Op::Flatten, vec![x]);
    let head = Op::Dense(Dense {
        weight: Tensor::f32(
            vec![NUM_CLASSES as u32, c_in],
            pseudo_random(60, NUM_CLASSES * c_in as usize, 0.2),
        ),
        bias: Some(Bias::F32(vec![0.0; NUM_CLASSES])),
        activation: Activation::None,
        input_quant: None,
    });
    g.outputs = vec![g.push("head", head, vec![x])];
    let f32_file = ModelFile {
        header: Header {
            kind: ModelKind::VoiceClassifier,
            name: "voice-v16-stand-in".into(),
            input_shape: vec![1, 1, frames, mels],
            labels: Emotion::NAMES.iter().map(|s| s.to_string()).collect(),
            preprocessing: Preprocessing::Voice(pre),
            temperature: 1.0,
            metadata: vec![(
                "note".into(),
                "pseudo-random weights shaped like the v16 voice preset, for benchmarks".into(),
            )],
        },
        graph: g,
    };
    let windows: Vec<Vec<f32>> = (0..4)
        .map(|i| pseudo_random(80 + i, pre.window_len(), 2.0))
        .collect();
    let calib = quantize::calibrate(&f32_file, windows.iter().map(Vec::as_slice))
        .map_err(|e| anyhow!("calibrating the stand-in voice model: {e:?}"))?;
    let int8 = quantize::quantize(&f32_file, &calib, &QuantizeOptions::default())
        .map_err(|e| anyhow!("quantising the stand-in voice model: {e:?}"))?;
    Ok((int8, f32_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=200).map(f64::from).collect();
        let t = StageTimes::from_samples(&mut v);
        assert_eq!(t.median_ms, 100.5);
        assert_eq!(t.p99_ms, 198.0);
        let mut v = vec![3.0, 1.0, 2.0];
        let t = StageTimes::from_samples(&mut v);
        assert_eq!((t.median_ms, t.p99_ms), (2.0, 3.0));
    }

    #[test]
    fn cpu_names_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n";
        assert_eq!(cpu_from_cpuinfo(x86).unwrap(), "AMD EPYC 9B14");
        let pi4 = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n\n\
                   Revision\t: c03114\nSerial\t\t: 100000001\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(
            cpu_from_cpuinfo(pi4).unwrap(),
            "Raspberry Pi 4 Model B Rev 1.4 (Cortex-A72)"
        );
        let old = "Hardware\t: BCM2835\nCPU part\t: 0xabc\n";
        assert_eq!(cpu_from_cpuinfo(old).unwrap(), "BCM2835");
        assert_eq!(cpu_from_cpuinfo(""), None);
    }

    #[test]
    fn status_fields_parse() {
        let s = "Name:\temoedge\nVmHWM:\t   40960 kB\nThreads:\t1\n";
        assert_eq!(status_value(s, "VmHWM"), Some(40960));
        assert_eq!(status_value(s, "Threads"), Some(1));
        assert_eq!(status_value(s, "VmRSS"), None);
    }

    #[test]
    fn the_built_in_frame_decodes_and_doubles() {
        let f = frame_320x240().unwrap();
        assert_eq!((f.width, f.height, f.gray.len()), (320, 240, 320 * 240));
        let d = doubled(&f);
        assert_eq!((d.width, d.height, d.gray.len()), (640, 480, 4 * 320 * 240));
        for (x, y) in [(0, 0), (3, 5), (639, 479), (200, 101)] {
            assert_eq!(d.gray[y * 640 + x], f.gray[(y / 2) * 320 + x / 2]);
        }
    }
}
