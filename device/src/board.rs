//! Board profiles: everything that differs between a Raspberry Pi 3B+, 4,
//! 5, Zero 2 W and a development host, in one TOML file per board under
//! `boards/`.
//!
//! A profile is found by name ([`BoardProfile::load`] with `pi4` looks for
//! `pi4.toml` in [`search_dirs`]) or given as a file path. Unknown keys are
//! refused, and [`BoardProfile::validate`] checks the values (LED pins for
//! the chosen LED mode, latency budgets that fit the frame interval, ...);
//! every error names the file and the field.
//!
//! Relative paths inside a profile (models, log) are relative to the
//! directory holding the profile file.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use emoedge_shared::Emotion;
use serde::Deserialize;

use crate::camera::PixelFormat;

/// Environment variable naming an extra directory searched first for
/// profiles by name.
pub const BOARDS_DIR_ENV: &str = "EMOEDGE_BOARDS_DIR";
/// System-wide profile directory.
pub const SYSTEM_BOARDS_DIR: &str = "/etc/emoedge/boards";
/// Highest BCM GPIO number on the 40-pin header.
pub const MAX_GPIO: u8 = 27;

/// A complete board profile.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// Short name, e.g. `pi4`.
    pub name: String,
    /// One line about the board and its peripherals.
    #[serde(default)]
    pub description: String,
    /// Camera settings.
    pub camera: CameraProfile,
    /// Microphone settings.
    pub mic: MicProfile,
    /// LED wiring and reaction policy.
    pub leds: LedProfile,
    /// Latency budget per stage.
    pub budget: BudgetProfile,
    /// Which model files to load.
    pub models: ModelProfile,
    /// Offline event log.
    pub log: LogProfile,
    /// The file this profile was read from (empty for a string).
    #[serde(skip)]
    pub source: PathBuf,
}

/// Camera settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraProfile {
    /// V4L2 device node.
    pub device: PathBuf,
    /// Pixel formats in order of preference (`GREY`, `YUYV`, `MJPG`).
    pub formats: Vec<PixelFormat>,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Wait for a frame at most this long before a timeout error.
    #[serde(default = "default_camera_timeout_ms")]
    pub timeout_ms: u32,
}

fn default_camera_timeout_ms() -> u32 {
    2000
}

/// Microphone settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicProfile {
    /// ALSA PCM name (`arecord -L`), e.g. `plughw:1,0`.
    pub device: String,
    /// Samples per second (16000 for the voice models).
    pub sample_rate: u32,
    /// ALSA period in milliseconds.
    #[serde(default = "default_period_ms")]
    pub period_ms: u32,
    /// Wait for samples at most this long before a timeout error.
    #[serde(default = "default_mic_timeout_ms")]
    pub timeout_ms: u32,
}

fn default_period_ms() -> u32 {
    20
}

fn default_mic_timeout_ms() -> u32 {
    1000
}

/// How the LEDs are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LedMode {
    /// One RGB LED on three pins (`leds.rgb`), colour per emotion.
    Rgb,
    /// One LED per emotion (`leds.emotions`).
    PerEmotion,
    /// No LEDs wired; `emoedge` shows them in the terminal instead.
    None,
}

/// How RGB LED pins are driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PwmMode {
    /// Software PWM (rppal), any pin: full colours and brightness.
    Soft,
    /// Plain on/off: eight colours, full brightness.
    Off,
}

/// The three pins of an RGB LED (BCM numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RgbPins {
    /// Red anode/cathode pin.
    pub red: u8,
    /// Green pin.
    pub green: u8,
    /// Blue pin.
    pub blue: u8,
}

/// One pin per emotion (BCM numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmotionPins {
    /// Angry LED pin.
    pub angry: u8,
    /// Disgust LED pin.
    pub disgust: u8,
    /// Fear LED pin.
    pub fear: u8,
    /// Happy LED pin.
    pub happy: u8,
    /// Neutral LED pin.
    pub neutral: u8,
    /// Sad LED pin.
    pub sad: u8,
    /// Surprise LED pin.
    pub surprise: u8,
}

impl EmotionPins {
    /// The pin of an emotion.
    pub fn pin(&self, e: Emotion) -> u8 {
        self.all()[e.index()]
    }

    /// All seven pins in class order.
    pub fn all(&self) -> [u8; 7] {
        [
            self.angry,
            self.disgust,
            self.fear,
            self.happy,
            self.neutral,
            self.sad,
            self.surprise,
        ]
    }
}

/// What the LEDs show when the fused decision is uncertain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UncertainPolicy {
    /// Show the idle colour.
    Idle,
    /// Switch the LEDs off.
    Off,
    /// Keep showing the last confident emotion.
    Hold,
}

/// How the LEDs react to decisions.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionPolicy {
    /// What to show for an uncertain decision.
    pub uncertain: UncertainPolicy,
    /// Show idle after this long without any decision (no face, no speech).
    pub idle_after_ms: u32,
    /// Keep a shown emotion at least this long before changing it.
    pub min_show_ms: u32,
}

/// LED wiring and reaction policy.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedProfile {
    /// How the LEDs are wired.
    pub mode: LedMode,
    /// How RGB pins are driven.
    #[serde(default = "default_pwm")]
    pub pwm: PwmMode,
    /// Software PWM frequency in Hz.
    #[serde(default = "default_pwm_hz")]
    pub pwm_hz: f64,
    /// Maximum brightness, `(0, 1]`.
    #[serde(default = "default_brightness")]
    pub brightness: f32,
    /// LEDs light when their pin is low (common-anode RGB LEDs).
    #[serde(default)]
    pub active_low: bool,
    /// Pins for [`LedMode::Rgb`].
    pub rgb: Option<RgbPins>,
    /// Pins for [`LedMode::PerEmotion`].
    pub emotions: Option<EmotionPins>,
    /// How the LEDs react to decisions.
    pub reaction: ReactionPolicy,
}

fn default_pwm() -> PwmMode {
    PwmMode::Soft
}

fn default_pwm_hz() -> f64 {
    200.0
}

fn default_brightness() -> f32 {
    1.0
}

impl LedProfile {
    /// Every GPIO pin the LEDs use, for the configured mode.
    pub fn pins(&self) -> Vec<u8> {
        match self.mode {
            LedMode::Rgb => self
                .rgb
                .map(|p| vec![p.red, p.green, p.blue])
                .unwrap_or_default(),
            LedMode::PerEmotion => self.emotions.map(|p| p.all().to_vec()).unwrap_or_default(),
            LedMode::None => Vec::new(),
        }
    }
}

/// Latency budget per stage, in milliseconds, and the detection rate.
///
/// The camera-side stages (`capture_ms + detect_ms + face_ms + fusion_ms`)
/// run once per frame in the worst case and must fit in one frame interval
/// (`1000 / camera.fps`). The voice classifier runs on its own cadence, once
/// every `voice_interval_ms`, and must fit in that.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetProfile {
    /// Getting and converting one frame.
    pub capture_ms: u32,
    /// One face detector pass.
    pub detect_ms: u32,
    /// Face crop, preprocessing and classifier.
    pub face_ms: u32,
    /// Fusion, smoothing, LEDs and log.
    pub fusion_ms: u32,
    /// Log-mel and voice classifier for one window.
    pub voice_ms: u32,
    /// Time between two voice classifications.
    pub voice_interval_ms: u32,
    /// Face detector passes per second (between passes the last face box
    /// is reused); at most `camera.fps`.
    pub detect_hz: f32,
}

impl BudgetProfile {
    /// Worst-case milliseconds of the camera-side stages for one frame.
    pub fn frame_ms(&self) -> u64 {
        u64::from(self.capture_ms)
            + u64::from(self.detect_ms)
            + u64::from(self.face_ms)
            + u64::from(self.fusion_ms)
    }
}

/// Model weight precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Quantised int8 weights: smaller and faster on the Pi's CPU.
    Int8,
    /// Full-precision weights.
    F32,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Int8 => "int8",
            Precision::F32 => "f32",
        })
    }
}

/// Which model files to load.
///
/// The names are those of the int8 files (`face.emo`); with
/// `precision = "f32"` the f32 twin `<stem>.f32.emo` (`face.f32.emo`, as
/// `emoedge-train face export` writes it) is loaded instead when it exists,
/// else the named file, with a note (see [`ModelPaths::notes`]).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProfile {
    /// Which weights to load.
    pub precision: Precision,
    /// Directory of the model files (relative to the profile's directory).
    pub dir: PathBuf,
    /// Face expression classifier file name (required by `emoedge check`;
    /// without it `emoedge run` is voice only).
    pub face: String,
    /// Voice emotion classifier file name (without it the loop is face
    /// only).
    pub voice: String,
    /// Face detector file name (without it the loop takes the centre
    /// square of each frame as the face).
    pub detector: String,
}

/// Resolved model file paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    /// Face expression classifier.
    pub face: PathBuf,
    /// Voice emotion classifier.
    pub voice: PathBuf,
    /// Face detector.
    pub detector: PathBuf,
    /// Fusion configuration (`fusion.toml` in the models directory, as
    /// `emoedge-train fusion calibrate` writes it); the defaults without it.
    pub fusion: PathBuf,
    /// One line per slot where `precision = "f32"` asked for an f32 twin
    /// that is not installed, so the named (int8) file is used.
    pub notes: Vec<String>,
}

/// Name of the fusion configuration file in the models directory.
pub const FUSION_FILE: &str = "fusion.toml";

/// The f32 twin of a model file: `face.emo` -> `face.f32.emo`.
pub fn f32_variant(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "emo".into());
    path.with_file_name(format!("{stem}.f32.{ext}"))
}

/// Offline event log settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogProfile {
    /// JSON Lines file (relative to the profile's directory).
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub rotate_bytes: u64,
    /// Rotated files kept (`file.1` .. `file.keep`).
    pub keep: u32,
    /// fsync after this many records...
    pub fsync_every: u32,
    /// ...or this many milliseconds, whichever comes first.
    pub fsync_interval_ms: u32,
}

/// Why a profile could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A profile name with characters other than `a-z 0-9 _ -`.
    #[error("`{name}` is not a board profile name (only a-z, 0-9, `_` and `-`); give a name like `pi4` or a path to a .toml file")]
    BadName {
        /// The name given.
        name: String,
    },
    /// No file for this name in any search directory.
    #[error("no board profile `{name}`: looked for {name}.toml in {}; pass a path to the .toml file or set {BOARDS_DIR_ENV}", fmt_dirs(.searched))]
    NotFound {
        /// The name given.
        name: String,
        /// Directories searched.
        searched: Vec<PathBuf>,
    },
    /// The file could not be read.
    #[error("cannot read board profile {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not valid TOML, a missing or unknown key, a value of the wrong type.
    #[error("board profile {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and the line).
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("board profile {path}: `{field}` {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `budget.detect_ms`.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// The parser's message on one line with where it is and the line itself
/// (`line 13, column 7 (`fps = "fast"`): invalid type ...`), instead of
/// its multi-line excerpt with a caret.
fn one_line_toml_error(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.len() - line_start + 1;
            let source: String = text[line_start..]
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .chars()
                .take(80)
                .collect();
            if source.is_empty() {
                format!("line {line}, column {column}: {message}")
            } else {
                format!("line {line}, column {column} (`{source}`): {message}")
            }
        }
        None => message,
    }
}

fn fmt_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Directories searched for a profile by name, in order: `$EMOEDGE_BOARDS_DIR`,
/// `boards/` next to the executable and up to two levels above it (an
/// install prefix, or the repository when run from `target/<profile>/`),
/// `./boards`, the repository's `boards/` this binary was built from, and
/// [`SYSTEM_BOARDS_DIR`].
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(BOARDS_DIR_ENV) {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        for _ in 0..3 {
            let Some(d) = dir else { break };
            dirs.push(d.join("boards"));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    dirs.push(PathBuf::from("boards"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards"));
    dirs.push(PathBuf::from(SYSTEM_BOARDS_DIR));
    let mut seen = HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

impl BoardProfile {
    /// Loads a profile by name (searched in [`search_dirs`]) or, when
    /// `spec` contains a `/` or ends in `.toml`, from that file; then
    /// validates it.
    pub fn load(spec: &str) -> Result<BoardProfile, BoardError> {
        if spec.contains('/') || spec.ends_with(".toml") {
            Self::load_file(Path::new(spec))
        } else {
            Self::load_named(spec, &search_dirs())
        }
    }

    /// Loads the profile `name` from the first of `dirs` that has
    /// `name.toml`; then validates it.
    pub fn load_named(name: &str, dirs: &[PathBuf]) -> Result<BoardProfile, BoardError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(BoardError::BadName { name: name.into() });
        }
        let file = format!("{name}.toml");
        match dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) {
            Some(path) => Self::load_file(&path),
            None => Err(BoardError::NotFound {
                name: name.into(),
                searched: dirs.to_vec(),
            }),
        }
    }

    /// Reads, parses and validates a profile file.
    pub fn load_file(path: &Path) -> Result<BoardProfile, BoardError> {
        let text = std::fs::read_to_string(path).map_err(|source| BoardError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates profile text; `path` is used in errors and to
    /// resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<BoardProfile, BoardError> {
        let mut profile: BoardProfile = toml::from_str(text).map_err(|e| BoardError::Parse {
            path: path.to_path_buf(),
            message: one_line_toml_error(&e, text),
        })?;
        profile.source = path.to_path_buf();
        profile.validate()?;
        Ok(profile)
    }

    /// Milliseconds between two frames at `camera.fps`.
    pub fn frame_interval_ms(&self) -> f64 {
        1000.0 / f64::from(self.camera.fps.max(1))
    }

    /// The directory relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalise(&self.base_dir().join(p))
        }
    }

    /// Model file paths, relative paths resolved; with `precision = "f32"`
    /// the f32 twins ([`f32_variant`]), each replaced by the named file
    /// (with a note) when only the named one exists.
    pub fn model_paths(&self) -> ModelPaths {
        let m = &self.models;
        let dir = self.resolve(&m.dir);
        let mut notes = Vec::new();
        let mut file = |slot: &str, name: &str| {
            let named = dir.join(name);
            if m.precision == Precision::Int8 {
                return named;
            }
            let twin = f32_variant(&named);
            if twin.is_file() || !named.is_file() {
                twin
            } else {
                notes.push(format!(
                    "precision = \"f32\" but the {slot} model's f32 twin {} is not installed; using {}",
                    twin.display(),
                    named.display()
                ));
                named
            }
        };
        let face = file("face", &m.face);
        let voice = file("voice", &m.voice);
        let detector = file("detector", &m.detector);
        ModelPaths {
            face,
            voice,
            detector,
            fusion: dir.join(FUSION_FILE),
            notes,
        }
    }

    /// The event log path, relative paths resolved.
    pub fn log_path(&self) -> PathBuf {
        self.resolve(&self.log.path)
    }

    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), BoardError> {
        let bad = |field: &str, reason: String| {
            Err(BoardError::Invalid {
                path: self.source.clone(),
                field: field.into(),
                reason,
            })
        };
        if self.name.trim().is_empty() {
            return bad("name", "is empty; name the board, e.g. `pi4`".into());
        }

        let c = &self.camera;
        if c.device.as_os_str().is_empty() {
            return bad(
                "camera.device",
                "is empty; give the V4L2 node, e.g. /dev/video0".into(),
            );
        }
        if c.formats.is_empty() {
            return bad(
                "camera.formats",
                "is empty; list at least one of \"GREY\", \"YUYV\", \"MJPG\"".into(),
            );
        }
        for (field, v) in [("camera.width", c.width), ("camera.height", c.height)] {
            if v == 0 || v > 4096 {
                return bad(field, format!("= {v} is not in 1..=4096 pixels"));
            }
        }
        if c.fps == 0 || c.fps > 120 {
            return bad("camera.fps", format!("= {} is not in 1..=120", c.fps));
        }
        if c.timeout_ms == 0 {
            return bad(
                "camera.timeout_ms",
                "= 0 ms: a read could never succeed; use e.g. 2000".into(),
            );
        }

        let m = &self.mic;
        if m.device.trim().is_empty() {
            return bad(
                "mic.device",
                "is empty; give an ALSA name from `arecord -L`, e.g. plughw:1,0".into(),
            );
        }
        if !(8_000..=192_000).contains(&m.sample_rate) {
            return bad(
                "mic.sample_rate",
                format!("= {} Hz is not in 8000..=192000", m.sample_rate),
            );
        }
        if m.period_ms == 0 || m.period_ms > 1000 {
            return bad(
                "mic.period_ms",
                format!("= {} is not in 1..=1000 ms", m.period_ms),
            );
        }
        if m.timeout_ms == 0 {
            return bad(
                "mic.timeout_ms",
                "= 0 ms: a read could never succeed; use e.g. 1000".into(),
            );
        }

        self.validate_leds()?;
        self.validate_budget()?;

        let md = &self.models;
        for (field, v) in [
            ("models.face", &md.face),
            ("models.voice", &md.voice),
            ("models.detector", &md.detector),
        ] {
            if v.trim().is_empty() {
                return bad(
                    field,
                    "is empty; name the model file, e.g. \"face.emo\"".into(),
                );
            }
        }

        let l = &self.log;
        if l.path.as_os_str().is_empty() {
            return bad(
                "log.path",
                "is empty; give a file such as /var/lib/emoedge/events.jsonl".into(),
            );
        }
        if l.rotate_bytes < 4096 {
            return bad(
                "log.rotate_bytes",
                format!("= {} is below the minimum of 4096 bytes", l.rotate_bytes),
            );
        }
        if l.keep == 0 || l.keep > 100 {
            return bad(
                "log.keep",
                format!("= {} is not in 1..=100 rotated files", l.keep),
            );
        }
        if l.fsync_every == 0 {
            return bad(
                "log.fsync_every",
                "= 0 records; use 1 to sync after every record".into(),
            );
        }
        if l.fsync_interval_ms == 0 {
            return bad(
                "log.fsync_interval_ms",
                "= 0 ms; use a positive interval such as 1000".into(),
            );
        }
        Ok(())
    }

    fn validate_leds(&self) -> Result<(), BoardError> {
        let bad = |field: &str, reason: String| {
            Err(BoardError::Invalid {
                path: self.source.clone(),
                field: field.into(),
                reason,
            })
        };
        let l = &self.leds;
        match l.mode {
            LedMode::Rgb if l.rgb.is_none() => {
                return bad(
                    "leds.rgb",
                    "is missing but leds.mode = \"rgb\"; add `rgb = { red = 17, green = 27, blue = 22 }` or set mode = \"none\"".into(),
                )
            }
            LedMode::PerEmotion if l.emotions.is_none() => {
                return bad(
                    "leds.emotions",
                    "is missing but leds.mode = \"per-emotion\"; add one pin per emotion (angry, disgust, fear, happy, neutral, sad, surprise) or set mode = \"none\"".into(),
                )
            }
            _ => {}
        }
        let named: Vec<(String, u8)> = match l.mode {
            LedMode::Rgb => {
                let p = l.rgb.unwrap_or(RgbPins {
                    red: 0,
                    green: 0,
                    blue: 0,
                });
                vec![
                    ("leds.rgb.red".into(), p.red),
                    ("leds.rgb.green".into(), p.green),
                    ("leds.rgb.blue".into(), p.blue),
                ]
            }
            LedMode::PerEmotion => {
                let p = l.emotions.unwrap_or(EmotionPins {
                    angry: 0,
                    disgust: 0,
                    fear: 0,
                    happy: 0,
                    neutral: 0,
                    sad: 0,
                    surprise: 0,
                });
                Emotion::ALL
                    .iter()
                    .map(|e| (format!("leds.emotions.{}", e.name()), p.pin(*e)))
                    .collect()
            }
            LedMode::None => Vec::new(),
        };
        let mut seen: Vec<(String, u8)> = Vec::new();
        for (field, pin) in named {
            if pin > MAX_GPIO {
                return bad(
                    &field,
                    format!("= {pin} is not a header GPIO (BCM 0..={MAX_GPIO})"),
                );
            }
            if let Some((other, _)) = seen.iter().find(|(_, p)| *p == pin) {
                return bad(
                    &field,
                    format!("= {pin} is already used by `{other}`; every LED needs its own pin"),
                );
            }
            seen.push((field, pin));
        }
        if !(l.brightness > 0.0 && l.brightness <= 1.0) {
            return bad(
                "leds.brightness",
                format!("= {} is not in (0, 1]", l.brightness),
            );
        }
        if l.mode == LedMode::Rgb
            && l.pwm == PwmMode::Soft
            && !(l.pwm_hz > 0.0 && l.pwm_hz <= 10_000.0)
        {
            return bad(
                "leds.pwm_hz",
                format!("= {} is not in (0, 10000] Hz", l.pwm_hz),
            );
        }
        if l.reaction.idle_after_ms == 0 {
            return bad(
                "leds.reaction.idle_after_ms",
                "= 0 ms would show idle between every two decisions; use e.g. 3000".into(),
            );
        }
        Ok(())
    }

    fn validate_budget(&self) -> Result<(), BoardError> {
        let bad = |field: &str, reason: String| {
            Err(BoardError::Invalid {
                path: self.source.clone(),
                field: field.into(),
                reason,
            })
        };
        let b = &self.budget;
        for (field, v) in [
            ("budget.capture_ms", b.capture_ms),
            ("budget.detect_ms", b.detect_ms),
            ("budget.face_ms", b.face_ms),
            ("budget.fusion_ms", b.fusion_ms),
            ("budget.voice_ms", b.voice_ms),
            ("budget.voice_interval_ms", b.voice_interval_ms),
        ] {
            if v == 0 {
                return bad(
                    field,
                    "= 0 ms is impossible; give the measured worst case of the stage".into(),
                );
            }
        }
        let interval = self.frame_interval_ms();
        if b.frame_ms() as f64 > interval {
            return bad(
                "budget",
                format!(
                    "capture_ms + detect_ms + face_ms + fusion_ms = {} ms exceeds the frame interval of {interval:.1} ms at camera.fps = {}; lower camera.fps or the budgets",
                    b.frame_ms(),
                    self.camera.fps
                ),
            );
        }
        if b.voice_ms > b.voice_interval_ms {
            return bad(
                "budget.voice_ms",
                format!(
                    "= {} ms exceeds budget.voice_interval_ms = {} ms: voice windows would pile up",
                    b.voice_ms, b.voice_interval_ms
                ),
            );
        }
        if !(b.detect_hz.is_finite() && b.detect_hz > 0.0 && b.detect_hz <= self.camera.fps as f32)
        {
            return bad(
                "budget.detect_hz",
                format!(
                    "= {} is not in (0, camera.fps = {}]",
                    b.detect_hz, self.camera.fps
                ),
            );
        }
        Ok(())
    }
}

/// Removes `.` and `name/..` pairs lexically (without touching the file
/// system), so messages show `/opt/emoedge/models/face.emo` rather than
/// `/opt/emoedge/boards/../models/face.emo`.
fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// The profile name for a device-tree model string such as
/// `Raspberry Pi 4 Model B Rev 1.4`; `host` for anything else.
pub fn profile_for_model(model: &str) -> &'static str {
    if model.contains("Raspberry Pi 5") || model.contains("Compute Module 5") {
        "pi5"
    } else if model.contains("Raspberry Pi 4")
        || model.contains("Raspberry Pi 400")
        || model.contains("Compute Module 4")
    {
        "pi4"
    } else if model.contains("Raspberry Pi Zero 2") {
        "zero2w"
    } else if model.contains("Raspberry Pi 3") {
        "pi3bplus"
    } else {
        "host"
    }
}

/// The profile name for this machine, from `/proc/device-tree/model`.
pub fn detect_profile_name() -> &'static str {
    let model = std::fs::read("/proc/device-tree/model").unwrap_or_default();
    profile_for_model(&String::from_utf8_lossy(&model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_map_to_profiles() {
        assert_eq!(profile_for_model("Raspberry Pi 4 Model B Rev 1.4\0"), "pi4");
        assert_eq!(profile_for_model("Raspberry Pi 5 Model B Rev 1.0"), "pi5");
        assert_eq!(
            profile_for_model("Raspberry Pi 3 Model B Plus Rev 1.3"),
            "pi3bplus"
        );
        assert_eq!(profile_for_model("Raspberry Pi Zero 2 W Rev 1.0"), "zero2w");
        assert_eq!(profile_for_model(""), "host");
        assert_eq!(profile_for_model("QEMU Virtual Machine"), "host");
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(
            normalise(Path::new("/a/boards/../models/f.emo")),
            Path::new("/a/models/f.emo")
        );
        assert_eq!(
            normalise(Path::new("boards/./../models")),
            Path::new("models")
        );
        assert_eq!(normalise(Path::new("../models")), Path::new("../models"));
        assert_eq!(normalise(Path::new("boards/..")), Path::new("."));
    }

    #[test]
    fn bad_names_are_refused_before_touching_the_disk() {
        for name in ["../etc/passwd", "Pi4", "", "pi 4"] {
            assert!(matches!(
                BoardProfile::load_named(name, &[]),
                Err(BoardError::BadName { .. })
            ));
        }
    }
}
