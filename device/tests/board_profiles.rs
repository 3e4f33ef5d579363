//! Every shipped board profile parses and validates, and every validation
//! rule rejects what it should, naming the file and the field.

use std::path::{Path, PathBuf};

use emoedge_device::board::{BoardError, BoardProfile, LedMode, Precision};

fn boards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")
}

const PROFILES: &[&str] = &["pi3bplus", "pi4", "pi5", "zero2w", "host"];

#[test]
fn every_shipped_profile_loads_by_name_and_by_path() {
    for name in PROFILES {
        let p = BoardProfile::load_named(name, &[boards_dir()])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, *name);
        assert!(p.source.ends_with(format!("{name}.toml")));
        let path = boards_dir().join(format!("{name}.toml"));
        let q = BoardProfile::load(path.to_str().unwrap()).unwrap();
        assert_eq!(p, q);
        // Camera stages fit the frame interval, as validated.
        assert!(p.budget.frame_ms() as f64 <= p.frame_interval_ms());
        let models = p.model_paths();
        // The shipped profiles name the int8 files; f32 boards load the
        // `.f32.emo` twin when it is installed, else the int8 file.
        let face = models.face.file_name().unwrap().to_str().unwrap();
        assert!(face == "face.emo" || face == "face.f32.emo", "{models:?}");
        let repo_models = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("models");
        assert_eq!(
            models.face.parent(),
            Some(repo_models.as_path()),
            "relative to the profile"
        );
        let voice = models.voice.file_name().unwrap().to_str().unwrap();
        assert!(
            voice.starts_with("voice.") && voice.ends_with(".emo"),
            "{models:?}"
        );
        assert!(models.detector.to_string_lossy().contains("face_detector."));
    }
}

#[test]
fn profiles_differ_where_the_boards_do() {
    let load = |n| BoardProfile::load_named(n, &[boards_dir()]).unwrap();
    let (pi3, pi4, pi5, zero, host) = (
        load("pi3bplus"),
        load("pi4"),
        load("pi5"),
        load("zero2w"),
        load("host"),
    );
    assert_eq!(pi3.leds.mode, LedMode::PerEmotion);
    assert_eq!(pi4.leds.mode, LedMode::Rgb);
    assert_eq!(host.leds.mode, LedMode::None);
    assert_eq!(pi4.models.precision, Precision::Int8);
    assert_eq!(pi5.models.precision, Precision::F32);
    assert!(zero.camera.fps < pi4.camera.fps && pi4.camera.fps < pi5.camera.fps);
    assert_eq!(pi3.leds.pins().len(), 7);
    assert_eq!(pi4.leds.pins(), vec![17, 27, 22]);
}

fn pi4_text() -> String {
    std::fs::read_to_string(boards_dir().join("pi4.toml")).unwrap()
}

/// Parses `text` as `/test/boards/edited.toml` and expects an error whose
/// message names that file and `field`.
fn expect_invalid(text: &str, field: &str) -> String {
    let path = Path::new("/test/boards/edited.toml");
    let err = BoardProfile::parse(text, path).expect_err(&format!("`{field}` must be refused"));
    let msg = err.to_string();
    assert!(msg.contains("/test/boards/edited.toml"), "{msg}");
    assert!(msg.contains(field), "expected `{field}` in: {msg}");
    msg
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture lacks `{from}`");
    text.replacen(from, to, 1)
}

#[test]
fn unknown_keys_are_refused() {
    let t = replace(&pi4_text(), "fps = 15", "fps = 15\nframerate = 15");
    let msg = expect_invalid(&t, "framerate");
    assert!(msg.contains("unknown field"), "{msg}");
    let t = format!("{}\n[extras]\nfoo = 1\n", pi4_text());
    expect_invalid(&t, "extras");
    let t = replace(
        &pi4_text(),
        "rgb = { red = 17,",
        "rgb = { white = 4, red = 17,",
    );
    expect_invalid(&t, "white");
}

#[test]
fn missing_keys_and_wrong_types_are_refused() {
    let t = replace(&pi4_text(), "fps = 15\n", "");
    expect_invalid(&t, "fps");
    let t = replace(&pi4_text(), "fps = 15", "fps = \"fast\"");
    expect_invalid(&t, "fps");
    let t = replace(&pi4_text(), "precision = \"int8\"", "precision = \"int4\"");
    expect_invalid(&t, "int4");
    let t = replace(&pi4_text(), "[\"GREY\", \"YUYV\", \"MJPG\"]", "[\"RGB3\"]");
    expect_invalid(&t, "RGB3");
}

#[test]
fn led_mode_needs_its_pins() {
    let t = replace(&pi4_text(), "rgb = { red = 17, green = 27, blue = 22 }", "");
    let msg = expect_invalid(&t, "leds.rgb");
    assert!(msg.contains("missing"), "{msg}");
    let t = replace(&pi4_text(), "mode = \"rgb\"", "mode = \"per-emotion\"");
    expect_invalid(&t, "leds.emotions");
    // mode = "none" needs no pins at all.
    let t = replace(&pi4_text(), "mode = \"rgb\"", "mode = \"none\"");
    let t = replace(&t, "rgb = { red = 17, green = 27, blue = 22 }", "");
    BoardProfile::parse(&t, Path::new("x.toml")).unwrap();
}

#[test]
fn bad_pins_are_refused() {
    let t = replace(&pi4_text(), "blue = 22", "blue = 40");
    let msg = expect_invalid(&t, "leds.rgb.blue");
    assert!(msg.contains("BCM"), "{msg}");
    let t = replace(&pi4_text(), "blue = 22", "blue = 17");
    let msg = expect_invalid(&t, "leds.rgb.blue");
    assert!(msg.contains("leds.rgb.red"), "{msg}");
    let pi3 = std::fs::read_to_string(boards_dir().join("pi3bplus.toml")).unwrap();
    let t = replace(&pi3, "surprise = 20", "surprise = 5");
    expect_invalid(&t, "leds.emotions.surprise");
}

#[test]
fn impossible_budgets_are_refused() {
    let t = replace(&pi4_text(), "detect_ms = 30", "detect_ms = 0");
    let msg = expect_invalid(&t, "budget.detect_ms");
    assert!(msg.contains("0 ms"), "{msg}");
    // 6 + 60 + 20 + 3 = 89 ms > 66.7 ms at 15 fps.
    let t = replace(&pi4_text(), "detect_ms = 30", "detect_ms = 60");
    let msg = expect_invalid(&t, "budget");
    assert!(msg.contains("89 ms") && msg.contains("66.7"), "{msg}");
    // The same stages fit at 10 fps.
    let t = replace(&t, "fps = 15", "fps = 10");
    let t = replace(&t, "detect_hz = 7.5", "detect_hz = 5.0");
    BoardProfile::parse(&t, Path::new("x.toml")).unwrap();
    let t = replace(&pi4_text(), "voice_ms = 80", "voice_ms = 600");
    expect_invalid(&t, "budget.voice_ms");
    let t = replace(&pi4_text(), "detect_hz = 7.5", "detect_hz = 30.0");
    expect_invalid(&t, "budget.detect_hz");
    let t = replace(&pi4_text(), "detect_hz = 7.5", "detect_hz = 0.0");
    expect_invalid(&t, "budget.detect_hz");
}

#[test]
fn out_of_range_values_are_refused() {
    for (from, to, field) in [
        ("fps = 15", "fps = 0", "camera.fps"),
        ("width = 640", "width = 0", "camera.width"),
        ("height = 480", "height = 100000", "camera.height"),
        ("timeout_ms = 2000", "timeout_ms = 0", "camera.timeout_ms"),
        (
            "formats = [\"GREY\", \"YUYV\", \"MJPG\"]",
            "formats = []",
            "camera.formats",
        ),
        ("device = \"/dev/video0\"", "device = \"\"", "camera.device"),
        ("device = \"plughw:1,0\"", "device = \" \"", "mic.device"),
        (
            "sample_rate = 16000",
            "sample_rate = 100",
            "mic.sample_rate",
        ),
        ("period_ms = 20", "period_ms = 0", "mic.period_ms"),
        ("brightness = 0.8", "brightness = 1.5", "leds.brightness"),
        ("pwm_hz = 200.0", "pwm_hz = 0.0", "leds.pwm_hz"),
        (
            "idle_after_ms = 3000",
            "idle_after_ms = 0",
            "leds.reaction.idle_after_ms",
        ),
        ("face = \"face.emo\"", "face = \"\"", "models.face"),
        (
            "path = \"/var/lib/emoedge/events.jsonl\"",
            "path = \"\"",
            "log.path",
        ),
        (
            "rotate_bytes = 8388608",
            "rotate_bytes = 100",
            "log.rotate_bytes",
        ),
        ("keep = 5", "keep = 0", "log.keep"),
        ("fsync_every = 20", "fsync_every = 0", "log.fsync_every"),
        (
            "fsync_interval_ms = 2000",
            "fsync_interval_ms = 0",
            "log.fsync_interval_ms",
        ),
        ("name = \"pi4\"", "name = \"\"", "name"),
    ] {
        let t = replace(&pi4_text(), from, to);
        expect_invalid(&t, field);
    }
}

#[test]
fn not_found_lists_the_directories_searched() {
    let dir = tempfile::tempdir().unwrap();
    let err = BoardProfile::load_named("pi9", &[dir.path().to_path_buf()]).unwrap_err();
    assert!(matches!(err, BoardError::NotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("pi9.toml") && msg.contains(&dir.path().display().to_string()),
        "{msg}"
    );
    let err = BoardProfile::load(dir.path().join("nope.toml").to_str().unwrap()).unwrap_err();
    assert!(matches!(err, BoardError::Read { .. }), "{err:?}");
}

#[test]
fn first_directory_with_the_profile_wins() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let edited = replace(&pi4_text(), "fps = 15", "fps = 10");
    std::fs::write(b.path().join("pi4.toml"), &edited).unwrap();
    let p = BoardProfile::load_named(
        "pi4",
        &[a.path().to_path_buf(), b.path().to_path_buf(), boards_dir()],
    )
    .unwrap();
    assert_eq!(p.camera.fps, 10);
    assert_eq!(p.base_dir(), b.path());
    assert_eq!(
        p.log_path(),
        Path::new("/var/lib/emoedge/events.jsonl"),
        "absolute paths are kept"
    );
}

#[test]
fn f32_boards_load_the_f32_twin_when_present_else_the_named_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("boards")).unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    let text = std::fs::read_to_string(boards_dir().join("pi5.toml")).unwrap();
    let profile = dir.path().join("boards/pi5.toml");
    std::fs::write(&profile, text).unwrap();
    let p = BoardProfile::load_file(&profile).unwrap();
    assert_eq!(p.models.precision, Precision::F32);
    let models = dir.path().join("models");

    // Nothing installed: the wanted f32 files are reported as such.
    let paths = p.model_paths();
    assert!(paths.face.ends_with("face.f32.emo"), "{paths:?}");
    assert!(paths.notes.is_empty());

    // Only the int8 file: used, with a note.
    std::fs::write(models.join("face.emo"), b"x").unwrap();
    let paths = p.model_paths();
    assert!(paths.face.ends_with("models/face.emo"), "{paths:?}");
    assert_eq!(paths.notes.len(), 1);
    assert!(paths.notes[0].contains("face.f32.emo"), "{paths:?}");

    // Both: the f32 twin wins.
    std::fs::write(models.join("face.f32.emo"), b"x").unwrap();
    let paths = p.model_paths();
    assert!(paths.face.ends_with("face.f32.emo"), "{paths:?}");
    assert!(paths.notes.is_empty());
    assert_eq!(
        emoedge_device::board::f32_variant(Path::new("/m/voice.emo")),
        Path::new("/m/voice.f32.emo")
    );
}
