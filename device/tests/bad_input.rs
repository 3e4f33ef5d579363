//! Bad input through the `emoedge` binary (and, where every variant of a
//! file is tried, through the library it runs): model files (every
//! truncation, flipped bytes, a newer format version, the wrong kind for
//! the slot, shapes the loop cannot use), audio and image replays, board
//! profiles and command-line values.
//!
//! Each must give a clear one-line error naming the file and the problem,
//! a non-zero exit status where the command cannot go on, and never a
//! panic; input the loop can use (odd sample rates, 8 channels, any pixel
//! layout) must simply work.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use emoedge_device::board::BoardProfile;
use emoedge_device::check::{check_model, Status};
use emoedge_device::runner::setup::load_models;
use emoedge_shared::format::sample::tiny_classifier;
use emoedge_shared::format::{encode, Bias, ModelFile, ModelKind, Op, Tensor};
use emoedge_shared::io::resample;

use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the binary, killing it (and failing) if it has not exited after
/// `limit`: a bad input must never leave it retrying forever.
fn emoedge_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after {limit:?}:\n{}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn emoedge(args: &[&str]) -> Output {
    emoedge_within(args, Duration::from_secs(120))
}

/// A failed command: non-zero status, exactly one line on standard error
/// holding every `needle`, no panic.
fn assert_one_line_error(out: &Output, what: &str, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "{what}: succeeded\n{}",
        text(&out.stdout)
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{what}: not one line: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{what}: no {n:?} in: {err}");
    }
    err
}

/// A tree `root/{boards,models}` with working models (face, voice), 2 s of
/// replay frames and a speech clip; returns the profile.
struct Setup {
    root: PathBuf,
    profile: String,
}

impl Setup {
    fn new(root: &Path) -> Setup {
        let profile = board(root, true);
        let pattern: Vec<bool> = (0..20).map(|n| (3..17).contains(&n)).collect();
        write_frames(&root.join("frames"), &pattern);
        write_speech(&root.join("speech.wav"), 0.2, 0.2);
        Setup {
            root: root.to_path_buf(),
            profile: profile.display().to_string(),
        }
    }

    fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    fn frames(&self) -> String {
        format!("replay:{}?fps=10", self.root.join("frames").display())
    }

    fn mic(&self) -> String {
        format!("replay:{}", self.root.join("speech.wav").display())
    }

    fn log(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// `emoedge run --fast` with the replays and `extra` arguments after.
    fn run(&self, camera: &str, mic: &str) -> Output {
        let log = self.log();
        emoedge(&[
            "run",
            "--board",
            &self.profile,
            "--camera",
            camera,
            "--mic",
            mic,
            "--leds",
            "sim",
            "--fast",
            "--quiet",
            "--log",
            log.to_str().unwrap(),
        ])
    }

    /// `emoedge check` with the replays.
    fn check(&self) -> Output {
        let image = self.root.join("frames/frame005.png");
        emoedge(&[
            "check",
            "--board",
            &self.profile,
            "--camera",
            &format!("replay:{}", image.display()),
            "--mic",
            &format!("{}?realtime=false", self.mic()),
            "--leds",
            "sim",
        ])
    }
}

// ---- model files ----

fn face_model() -> Vec<u8> {
    encode(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap()
}

/// Every prefix and every byte inverted: the check fails with one line
/// naming the file, and loading the models for a run is an error naming
/// it, never a panic. (The decoder's own tests flip every bit.)
#[test]
fn every_truncation_and_flipped_byte_of_a_model_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let profile = BoardProfile::load_file(&board(dir.path(), true)).unwrap();
    let paths = profile.model_paths();
    let good = face_model();
    let refused = |bytes: &[u8], what: &str| {
        std::fs::write(&paths.face, bytes).unwrap();
        let l = check_model("face", &paths.face, ModelKind::FaceClassifier);
        assert_eq!(l.status, Status::Fail, "{what}: {l}");
        assert!(
            l.detail.contains("face.emo") && !l.detail.contains('\n'),
            "{what}: {l}"
        );
        let err = match load_models(&paths) {
            Ok(_) => panic!("{what}: the models loaded"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("face.emo") && !err.contains('\n'),
            "{what}: {err}"
        );
    };
    for len in 0..good.len() {
        refused(&good[..len], &format!("cut to {len} bytes"));
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xFF;
        refused(&bad, &format!("byte {i} inverted"));
    }
    // Extra bytes at the end are refused too.
    let mut long = good.clone();
    long.extend_from_slice(b"\n");
    refused(&long, "one byte appended");
    std::fs::write(&paths.face, &good).unwrap();
    assert_eq!(
        check_model("face", &paths.face, ModelKind::FaceClassifier).status,
        Status::Ok
    );
}

/// The tiny classifier answering `n` classes (and naming `n` labels).
fn classifier_with_outputs(kind: ModelKind, n: usize) -> ModelFile {
    let mut m = tiny_classifier(kind, 5);
    for node in &mut m.graph.nodes {
        if let Op::Dense(d) = &mut node.op {
            d.weight = Tensor::f32(vec![n as u32, 16], vec![0.01; n * 16]);
            d.bias = Some(Bias::F32(vec![0.0; n]));
        }
    }
    m.header.labels = (0..n).map(|i| format!("class{i}")).collect();
    m
}

/// What a broken slot file holds and what its error must say.
struct BadModel {
    what: &'static str,
    file: &'static str,
    bytes: Vec<u8>,
    says: &'static str,
}

fn bad_models() -> Vec<BadModel> {
    let face = face_model();
    let voice = encode(&tiny_classifier(ModelKind::VoiceClassifier, 2)).unwrap();
    let mut newer = face.clone();
    newer[8..10].copy_from_slice(&2u16.to_le_bytes());
    let mut flipped = face.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let mut face64 = tiny_classifier(ModelKind::FaceClassifier, 1);
    face64.header.input_shape = vec![1, 1, 64, 64]; // its crop is 48x48
    let mut short_voice = tiny_classifier(ModelKind::VoiceClassifier, 2);
    short_voice.header.input_shape = vec![1, 1, 64, 100]; // its window is 200 frames
    vec![
        BadModel {
            what: "empty file",
            file: "face.emo",
            bytes: Vec::new(),
            says: "face.emo",
        },
        BadModel {
            what: "cut inside the envelope",
            file: "face.emo",
            bytes: face[..15].to_vec(),
            says: "truncated",
        },
        BadModel {
            what: "cut in half",
            file: "face.emo",
            bytes: face[..face.len() / 2].to_vec(),
            says: "truncated",
        },
        BadModel {
            what: "one bit flipped",
            file: "face.emo",
            bytes: flipped,
            says: "checksum mismatch",
        },
        BadModel {
            what: "newer format version",
            file: "face.emo",
            bytes: newer,
            says: "model format version 2 is not supported",
        },
        BadModel {
            what: "not a model at all",
            file: "face.emo",
            bytes: b"#!/bin/sh\necho not a model\n".to_vec(),
            says: "not an emoedge model file",
        },
        BadModel {
            what: "voice model in the face slot",
            file: "face.emo",
            bytes: voice.clone(),
            says: "model is needed here",
        },
        BadModel {
            what: "face model in the voice slot",
            file: "voice.emo",
            bytes: face.clone(),
            says: "model is needed here",
        },
        BadModel {
            what: "face model as the detector",
            file: "face_detector.emo",
            bytes: face,
            says: "model is needed here",
        },
        BadModel {
            what: "face input shape not its crop",
            file: "face.emo",
            bytes: encode(&face64).unwrap(),
            says: "does not match its 48x48 face crop",
        },
        BadModel {
            what: "voice input shape not its window",
            file: "voice.emo",
            bytes: encode(&short_voice).unwrap(),
            says: "does not match its 200 frames x 64 mel bands window",
        },
        BadModel {
            what: "face model with 5 classes",
            file: "face.emo",
            bytes: encode(&classifier_with_outputs(ModelKind::FaceClassifier, 5)).unwrap(),
            says: "5 outputs, not the 7 emotions",
        },
        BadModel {
            what: "voice model with 9 classes",
            file: "voice.emo",
            bytes: encode(&classifier_with_outputs(ModelKind::VoiceClassifier, 9)).unwrap(),
            says: "9 outputs, not the 7 emotions",
        },
    ]
}

#[test]
fn bad_model_files_fail_check_and_stop_run_with_one_line_naming_them() {
    for bad in bad_models() {
        let dir = tempfile::tempdir().unwrap();
        let s = Setup::new(dir.path());
        let path = s.models().join(bad.file);
        std::fs::write(&path, &bad.bytes).unwrap();
        let path_s = path.display().to_string();

        // check: one FAIL line for the slot, naming the file and the problem.
        let out = s.check();
        let stdout = text(&out.stdout);
        assert!(
            !out.status.success(),
            "{}: check passed:\n{stdout}",
            bad.what
        );
        assert!(!text(&out.stderr).contains("panicked"), "{}", bad.what);
        let slot = match bad.file {
            "face.emo" => "model face",
            "voice.emo" => "model voice",
            _ => "model detector",
        };
        let line = stdout
            .lines()
            .find(|l| l.contains(slot))
            .unwrap_or_else(|| panic!("{}: no {slot} line in:\n{stdout}", bad.what));
        assert!(line.starts_with("FAIL"), "{}: {line}", bad.what);
        assert!(
            line.contains(&path_s) && line.contains(bad.says),
            "{}: {line}",
            bad.what
        );

        // run: refuses to start, one line on stderr, nothing logged.
        let out = s.run(&s.frames(), &s.mic());
        let err = assert_one_line_error(&out, bad.what, &[&path_s, bad.says]);
        assert_eq!(
            err.matches(bad.says).count(),
            1,
            "{}: said twice: {err}",
            bad.what
        );
        assert!(!s.log().exists(), "{}: a log was started", bad.what);
    }
}

// ---- audio replays ----

fn write_wav<S: hound::Sample + Copy>(
    path: &Path,
    rate: u32,
    channels: u16,
    bits: u16,
    format: hound::SampleFormat,
    interleaved: &[S],
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in interleaved {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// The speech fixture (with 0.3 s of silence around it) at `rate`, as f32.
fn speech_at(rate: u32) -> Vec<f32> {
    let mut x = vec![0.0f32; 4800];
    x.extend(speech_samples().iter().map(|&s| f32::from(s) / 32768.0));
    x.extend(vec![0.0f32; 4800]);
    resample(&x, 16_000, rate).unwrap()
}

#[test]
fn unusable_audio_replays_stop_run_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let speech = std::fs::read(dir.path().join("speech.wav")).unwrap();
    let zero = audio.join("zero.wav");
    write_wav::<i16>(&zero, 16_000, 1, 16, hound::SampleFormat::Int, &[]);
    // An MPEG layer 3 format tag in a WAV header, PCM-looking data.
    let mut mp3_in_wav = speech.clone();
    mp3_in_wav[20..22].copy_from_slice(&0x0055u16.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.wav", Vec::new(), "is empty"),
        ("half.wav", speech[..speech.len() / 2].to_vec(), "truncated"),
        ("header-cut.wav", speech[..30].to_vec(), "audio file"),
        ("codec.wav", mp3_in_wav, "audio file"),
        (
            "notes.wav",
            b"shopping list: eggs\n".repeat(10),
            "not in a supported format",
        ),
        (
            "picture.flac",
            std::fs::read(dir.path().join("frames/frame000.png")).unwrap(),
            "not in a supported format",
        ),
    ];
    for (name, bytes, says) in &cases {
        let path = audio.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = s.run("none", &format!("replay:{}", path.display()));
        assert_one_line_error(&out, name, &[&path.display().to_string(), says]);
    }
    let out = s.run("none", &format!("replay:{}", zero.display()));
    assert_one_line_error(&out, "zero.wav", &["zero.wav", "zero length"]);
    // A missing file is a wrong path, not an unplugged microphone: it
    // stops at once instead of retrying forever.
    let missing = audio.join("missing.wav");
    let out = s.run(&s.frames(), &format!("replay:{}", missing.display()));
    assert_one_line_error(&out, "missing.wav", &["missing.wav", "No such file"]);
}

#[test]
fn odd_rates_bit_depths_and_eight_channels_replay_fine() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let mut files = Vec::new();

    // 11.025 kHz stereo 16-bit, the speech on the left only.
    let x = speech_at(11_025);
    let stereo: Vec<i16> = x.iter().flat_map(|&v| [(v * 32767.0) as i16, 0]).collect();
    let p = audio.join("speech-11k-stereo.wav");
    write_wav(&p, 11_025, 2, 16, hound::SampleFormat::Int, &stereo);
    files.push(p);

    // 44.1 kHz, 8 channels of 32-bit float, the speech on all of them.
    let x = speech_at(44_100);
    let eight: Vec<f32> = x.iter().flat_map(|&v| [v; 8]).collect();
    let p = audio.join("speech-44k1-8ch.wav");
    write_wav(&p, 44_100, 8, 32, hound::SampleFormat::Float, &eight);
    files.push(p);

    // 8 kHz, 8-bit.
    let x = speech_at(8_000);
    let u8s: Vec<i8> = x.iter().map(|&v| (v * 127.0) as i8).collect();
    let p = audio.join("speech-8k-8bit.wav");
    write_wav(&p, 8_000, 1, 8, hound::SampleFormat::Int, &u8s);
    files.push(p);

    for path in files {
        let _ = std::fs::remove_file(s.log());
        let out = s.run("none", &format!("replay:{}", path.display()));
        let what = path.display().to_string();
        assert!(
            out.status.success(),
            "{what}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let log = read_log(&s.log());
        let stop = log.last().unwrap();
        assert_eq!(stop["reason"], "end of input", "{what}: {stop}");
        assert!(
            stop["voice_windows"].as_u64().unwrap() >= 2,
            "{what}: {stop}"
        );
        assert!(
            of_type(&log, "decision")
                .iter()
                .any(|d| d["label"] == "surprise"),
            "{what}: the voice model decided"
        );
    }
}

// ---- image replays ----

/// A 96x72 face-like frame in another pixel layout.
fn frame_as(layout: &str, n: u32) -> image::DynamicImage {
    let g = frame_image(true, n);
    match layout {
        "rgba" => image::DynamicImage::ImageRgba8(image::DynamicImage::ImageLuma8(g).into_rgba8()),
        "rgb" => image::DynamicImage::ImageRgb8(image::DynamicImage::ImageLuma8(g).into_rgb8()),
        "gray16" => {
            image::DynamicImage::ImageLuma16(image::DynamicImage::ImageLuma8(g).into_luma16())
        }
        _ => image::DynamicImage::ImageLuma8(g),
    }
}

#[test]
fn bad_frames_in_a_replay_folder_are_skipped_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let frames = dir.path().join("mixed");
    std::fs::create_dir_all(&frames).unwrap();
    let good = std::fs::read(dir.path().join("frames/frame005.png")).unwrap();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("f01-truncated.png", good[..good.len() / 2].to_vec()),
        ("f03-zero.pgm", b"P5\n0 4\n255\n".to_vec()),
        ("f05-huge.pgm", b"P5\n100000 100000\n255\n".to_vec()),
        ("f07-empty.png", Vec::new()),
        ("f09-text.png", b"not a picture".to_vec()),
    ];
    for (name, bytes) in &bad {
        std::fs::write(frames.join(name), bytes).unwrap();
    }
    let good_frames = [
        ("f00-gray.png", "gray"),
        ("f02-rgba.png", "rgba"),
        ("f04-gray16.png", "gray16"),
        ("f06-rgb.jpg", "rgb"),
        ("f08-rgb.bmp", "rgb"),
        ("f10-gray.tif", "gray"),
    ];
    for (n, (name, layout)) in good_frames.iter().enumerate() {
        frame_as(layout, n as u32).save(frames.join(name)).unwrap();
    }
    // A frame of another size goes through as well.
    image::GrayImage::from_pixel(40, 30, image::Luma([90]))
        .save(frames.join("f11-small.png"))
        .unwrap();

    let camera = format!("replay:{}?fps=10", frames.display());
    let out = s.run(&camera, "none");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"));
    let log = read_log(&s.log());
    let stop = log.last().unwrap();
    assert_eq!(stop["reason"], "end of input", "{stop}");
    assert_eq!(stop["frames"], 7, "the good frames only: {stop}");
    // The first bad frame is logged, naming the file and the problem (more
    // within 10 s are counted, not logged, so a broken camera cannot flood
    // the log).
    let glitches = of_type(&log, "source");
    let first = glitches
        .iter()
        .find(|r| r["state"] == "glitch")
        .unwrap_or_else(|| panic!("no glitch logged: {glitches:?}"));
    let detail = first["detail"].as_str().unwrap();
    assert!(
        detail.contains("f01-truncated.png") && detail.contains("corrupt or truncated"),
        "{detail}"
    );
    assert!(
        of_type(&log, "decision")
            .iter()
            .any(|d| d["label"] == "happy"),
        "the good frames were classified"
    );
}

#[test]
fn a_single_bad_replay_image_stops_run_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let good = std::fs::read(dir.path().join("frames/frame005.png")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut.png",
            good[..good.len() / 3].to_vec(),
            "corrupt or truncated",
        ),
        ("zero.pgm", b"P5\n0 4\n255\n".to_vec(), "zero.pgm"),
        (
            "huge.pgm",
            b"P5\n100000 100000\n255\n".to_vec(),
            "above the limit",
        ),
        ("empty.png", Vec::new(), "is empty"),
        ("words.png", b"hello".to_vec(), "cannot be decoded"),
        ("words.dat", b"hello".to_vec(), "not in a supported format"),
    ];
    for (name, bytes, says) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = s.run(&format!("replay:{}", path.display()), "none");
        assert_one_line_error(&out, name, &[&path.display().to_string(), says]);
    }
    let missing = dir.path().join("no-such-frames");
    let out = s.run(&format!("replay:{}", missing.display()), &s.mic());
    assert_one_line_error(&out, "missing folder", &["no-such-frames"]);
    let empty = dir.path().join("empty-folder");
    std::fs::create_dir_all(&empty).unwrap();
    let out = s.run(&format!("replay:{}", empty.display()), "none");
    assert_one_line_error(&out, "empty folder", &["empty-folder", "no image files"]);
}

// ---- board profiles and command-line values ----

#[test]
fn bad_board_profiles_stop_run_and_check_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let good = std::fs::read_to_string(&s.profile).unwrap();
    let pi4 =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/pi4.toml"))
            .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown-key.toml",
            good.replace("fps = 30", "fps = 30\nframerate = 30"),
            "framerate",
        ),
        (
            "no-pins.toml",
            pi4.replace("rgb = { red = 17, green = 27, blue = 22 }", ""),
            "leds.rgb",
        ),
        (
            "budget.toml",
            good.replace("detect_ms = 12", "detect_ms = 40"),
            "budget",
        ),
        (
            "zero-budget.toml",
            good.replace("face_ms = 8", "face_ms = 0"),
            "budget.face_ms",
        ),
        (
            "not-toml.toml",
            "[camera\nfps = ".to_string(),
            "not-toml.toml",
        ),
    ];
    for (name, body, says) in &cases {
        assert_ne!(body, &good, "{name}: the edit applies");
        let path = dir.path().join("boards").join(name);
        std::fs::write(&path, body).unwrap();
        let path_s = path.display().to_string();
        let out = emoedge(&[
            "run",
            "--board",
            &path_s,
            "--camera",
            &s.frames(),
            "--mic",
            "none",
            "--fast",
        ]);
        assert_one_line_error(&out, name, &[&path_s, says]);
        let out = emoedge(&["check", "--board", &path_s]);
        let stdout = text(&out.stdout);
        assert!(!out.status.success(), "{name}: {stdout}");
        assert_eq!(
            stdout.lines().next().map(|l| l.starts_with("FAIL")),
            Some(true),
            "{stdout}"
        );
        assert!(
            stdout.contains(&path_s) && stdout.contains(says),
            "{name}: {stdout}"
        );
    }
    let out = emoedge(&["run", "--board", "no-such-board", "--mic", "none"]);
    assert_one_line_error(&out, "unknown board", &["no-such-board"]);
}

#[test]
fn bad_command_line_values_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path());
    let base = ["run", "--board", &s.profile, "--fast"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--duration=-5"], "--duration"),
        (vec!["--duration", "-5"], "'-5'"),
        (vec!["--duration", "nan"], "--duration"),
        (vec!["--duration", "soon"], "--duration"),
        (vec!["--duration", "inf"], "--duration"),
        (vec!["--mic", "usb:1"], "expected alsa:"),
        (vec!["--mic", "replay:x.wav?loop=maybe"], "loop"),
        (vec!["--mic", "replay:x.wav?speed=2"], "speed"),
        (vec!["--camera", "replay:x?fps=0"], "fps"),
        (vec!["--camera", "replay:x?fps=-3"], "fps"),
        (vec!["--camera", "webcam"], "expected v4l2:"),
        (vec!["--leds", "purple"], "purple"),
        (vec!["--realtime"], "--realtime"),
        (vec!["--log"], "--log"),
        (vec!["--frobnicate"], "--frobnicate"),
    ];
    for (extra, says) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(&extra);
        let out = emoedge(&args);
        assert_one_line_error(&out, &format!("{extra:?}"), &[says]);
    }
    let out = emoedge(&["log", "summary"]);
    assert_one_line_error(&out, "summary without files", &["<FILE>"]);
    let out = emoedge(&["bogus"]);
    assert_one_line_error(&out, "unknown command", &["bogus"]);
    // Help and version still print in full, successfully.
    let out = emoedge(&["run", "--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).lines().count() > 10);
}
