//! `emoedge check` through the library, with replay sources and simulated
//! LEDs so it runs on any machine, and through the binary for its exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use emoedge_device::check::{run_checks, CheckOptions, Status};
use emoedge_device::clock::MockClock;
use emoedge_device::source::{CameraSpec, LedsSpec, MicSpec};
use emoedge_shared::format::{encode, sample::tiny_classifier, ModelKind};

fn boards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")
}

/// A copy of the host profile in `root/boards/`, so its `../models` is
/// `root/models`; a face image and a WAV file next to it.
fn setup(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(root.join("boards")).unwrap();
    std::fs::create_dir_all(root.join("models")).unwrap();
    let profile = root.join("boards/host.toml");
    std::fs::copy(boards_dir().join("host.toml"), &profile).unwrap();
    let image = root.join("face.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([128]))
        .save(&image)
        .unwrap();
    let wav = root.join("voice.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..16_000 {
        w.write_sample(((i % 100) * 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    (profile, image, wav)
}

fn options(profile: &Path, image: &Path, wav: &Path) -> CheckOptions {
    CheckOptions {
        board: profile.display().to_string(),
        camera: Some(format!("replay:{}", image.display()).parse().unwrap()),
        mic: Some(
            format!("replay:{}?realtime=false", wav.display())
                .parse()
                .unwrap(),
        ),
        leds: Some(LedsSpec::Sim),
    }
}

fn status_of(lines: &[emoedge_device::check::CheckLine], name: &str) -> Status {
    lines
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no `{name}` line in {lines:?}"))
        .status
}

#[test]
fn missing_models_are_reported_as_missing_and_sources_work() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, image, wav) = setup(dir.path());
    let lines = run_checks(&options(&profile, &image, &wav), MockClock::default());
    assert_eq!(status_of(&lines, "board"), Status::Ok);
    for model in ["model face", "model voice", "model detector"] {
        assert_eq!(status_of(&lines, model), Status::Missing, "{lines:#?}");
    }
    let face = lines.iter().find(|l| l.name == "model face").unwrap();
    assert!(
        face.detail.contains("face.emo") && face.detail.contains("does not exist"),
        "{face}"
    );
    assert_eq!(status_of(&lines, "camera"), Status::Ok, "{lines:#?}");
    assert!(lines.iter().any(|l| l.detail.contains("64x48")));
    assert_eq!(status_of(&lines, "microphone"), Status::Ok, "{lines:#?}");
    assert_eq!(status_of(&lines, "leds"), Status::Ok);
}

#[test]
fn valid_models_pass_and_a_model_in_the_wrong_slot_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, image, wav) = setup(dir.path());
    let models = dir.path().join("models");
    let face = encode(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap();
    let voice = encode(&tiny_classifier(ModelKind::VoiceClassifier, 2)).unwrap();
    std::fs::write(models.join("face.emo"), &face).unwrap();
    std::fs::write(models.join("voice.emo"), &voice).unwrap();
    std::fs::write(models.join("face_detector.emo"), &face).unwrap();
    let lines = run_checks(&options(&profile, &image, &wav), MockClock::default());
    assert_eq!(status_of(&lines, "model face"), Status::Ok, "{lines:#?}");
    assert_eq!(status_of(&lines, "model voice"), Status::Ok, "{lines:#?}");
    assert_eq!(
        status_of(&lines, "model detector"),
        Status::Fail,
        "{lines:#?}"
    );

    // A corrupt file is a failure, not a crash.
    let mut bad = voice.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF;
    std::fs::write(models.join("voice.emo"), &bad).unwrap();
    let lines = run_checks(&options(&profile, &image, &wav), MockClock::default());
    assert_eq!(status_of(&lines, "model voice"), Status::Fail, "{lines:#?}");
}

#[test]
fn bad_board_stops_after_one_line_and_absent_camera_fails() {
    let lines = run_checks(
        &CheckOptions {
            board: "no-such-board".into(),
            camera: None,
            mic: None,
            leds: None,
        },
        MockClock::default(),
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].status, Status::Fail);

    let dir = tempfile::tempdir().unwrap();
    let (profile, _image, _wav) = setup(dir.path());
    let lines = run_checks(
        &CheckOptions {
            board: profile.display().to_string(),
            camera: Some(CameraSpec::V4l2(dir.path().join("video7"))),
            mic: Some(MicSpec::None),
            leds: Some(LedsSpec::Sim),
        },
        MockClock::default(),
    );
    let cam = lines.iter().find(|l| l.name == "camera").unwrap();
    assert_eq!(cam.status, Status::Fail);
    assert!(cam.detail.contains("video7"), "{cam}");
    assert_eq!(status_of(&lines, "microphone"), Status::Skip);
}

#[test]
fn binary_exit_code_follows_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, image, wav) = setup(dir.path());
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_emoedge"))
            .arg("check")
            .arg("--board")
            .arg(&profile)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let camera = format!("replay:{}", image.display());
    let mic = format!("replay:{}?realtime=false", wav.display());
    let (ok, out) = run(&["--camera", &camera, "--mic", &mic, "--leds", "sim"]);
    assert!(!ok, "models are missing: {out}");
    assert!(
        out.contains("MISSING") && out.contains("3 check(s) failed"),
        "{out}"
    );

    let models = dir.path().join("models");
    std::fs::write(
        models.join("face.emo"),
        encode(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        models.join("voice.emo"),
        encode(&tiny_classifier(ModelKind::VoiceClassifier, 1)).unwrap(),
    )
    .unwrap();
    let (ok, out) = run(&["--camera", &camera, "--mic", &mic, "--leds", "sim"]);
    assert!(!ok, "no detector yet: {out}");
    assert!(out.contains("1 check(s) failed"), "{out}");

    let bad = Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args(["check", "--camera", "usb:0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected v4l2:"));
}
