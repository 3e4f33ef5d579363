//! `emoedge bench`: the JSON shape (never the timings) with the shipped
//! host profile and with generated models, and the skipped stages.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::{ModelFile, ModelKind};
use emoedge_shared::quantize::{calibrate, quantize, QuantizeOptions};
use serde_json::Value;

fn emoedge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks the documented shape: exactly `stages`, `peak_rss_mb`,
/// `threads` and `cpu`; each stage exactly `median_ms` <= `p99_ms`, both
/// non-negative numbers. Returns the stage names.
fn check_shape(json: &Value) -> Vec<String> {
    let obj = json.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cpu", "peak_rss_mb", "stages", "threads"], "{json}");
    assert!(!json["cpu"].as_str().unwrap().is_empty());
    assert!(json["threads"].as_u64().unwrap() >= 1);
    assert!(json["peak_rss_mb"].as_f64().unwrap() >= 0.0);
    let stages = json["stages"].as_object().unwrap();
    for (name, t) in stages {
        let t = t.as_object().unwrap();
        let mut k: Vec<&str> = t.keys().map(String::as_str).collect();
        k.sort_unstable();
        assert_eq!(k, ["median_ms", "p99_ms"], "{name}");
        let (m, p) = (
            t["median_ms"].as_f64().unwrap(),
            t["p99_ms"].as_f64().unwrap(),
        );
        assert!(m >= 0.0 && p >= m, "{name}: {m} {p}");
    }
    stages.keys().cloned().collect()
}

#[test]
fn bench_writes_every_stage_of_the_shipped_models_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = emoedge(&[
        "bench",
        "--board",
        "host",
        "--iterations",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stages = check_shape(&report);
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut expected = vec![
        "detect_320x240",
        "detect_640x480",
        "face_int8",
        "face_f32",
        "logmel_1s",
        "fusion_step",
        "frame_pipeline",
    ];
    if models.join("voice.emo").is_file() {
        // int8 as named, or f32 when the file has no int8 layers.
        expected.push("voice_window");
        assert!(
            stages.iter().any(|n| n == "voice_int8" || n == "voice_f32"),
            "{stages:?}"
        );
    } else {
        assert!(
            stdout.contains("note: voice_int8: skipped (no model file"),
            "{stdout}"
        );
        assert!(stdout.contains("note: voice_window: skipped"), "{stdout}");
    }
    if models.join("voice.f32.emo").is_file() {
        expected.push("voice_f32");
    }
    for s in expected {
        assert!(stages.iter().any(|n| n == s), "no {s} in {stages:?}");
        assert!(stdout.contains(s), "no {s} line in:\n{stdout}");
    }
    assert!(stdout.contains("peak RSS:"), "{stdout}");
    assert!(
        !stdout.contains("faces found"),
        "one face in the frame: {stdout}"
    );
}

fn int8_of(m: &ModelFile) -> ModelFile {
    let len: usize = m.header.input_shape.iter().map(|&d| d as usize).product();
    let samples: Vec<Vec<f32>> = (0..4).map(|i| pseudo_random(50 + i, len, 1.0)).collect();
    let calib = calibrate(m, samples.iter().map(Vec::as_slice)).unwrap();
    quantize(m, &calib, &QuantizeOptions::default()).unwrap()
}

#[test]
fn bench_runs_generated_models_and_skips_the_detector_without_one() {
    let dir = tempfile::tempdir().unwrap();
    // A host profile over generated face and voice models; no detector.
    let profile = board(dir.path(), false);
    let models = dir.path().join("models");
    let face = tiny_classifier(ModelKind::FaceClassifier, 3);
    let voice = tiny_classifier(ModelKind::VoiceClassifier, 4);
    write_model(&models.join("face.emo"), &int8_of(&face));
    write_model(&models.join("face.f32.emo"), &face);
    write_model(&models.join("voice.emo"), &int8_of(&voice));
    write_model(&models.join("voice.f32.emo"), &voice);

    let out = emoedge(&[
        "bench",
        "--board",
        profile.to_str().unwrap(),
        "--iterations",
        "2",
        "--json",
        "-",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // With `--json -` standard output is the JSON alone.
    let report: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let mut stages = check_shape(&report);
    stages.sort();
    assert_eq!(
        stages,
        [
            "face_f32",
            "face_int8",
            "frame_pipeline",
            "fusion_step",
            "logmel_1s",
            "voice_f32",
            "voice_int8",
            "voice_window"
        ]
    );
    assert!(
        stderr.contains("note: detect_320x240, detect_640x480: skipped (no model file"),
        "{stderr}"
    );
    assert!(stderr.contains("centre"), "the fallback finder: {stderr}");
}

#[test]
fn bench_measures_only_the_stages_asked_for() {
    let out = emoedge(&[
        "bench",
        "--board",
        "host",
        "--stages",
        "fusion_step,logmel_1s",
        "--iterations",
        "2",
        "--json",
        "-",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(check_shape(&report), ["fusion_step", "logmel_1s"]);
    let out = emoedge(&["bench", "--board", "host", "--stages", "nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no stage \"nope\""));
}

#[test]
fn bench_refuses_zero_iterations_and_unknown_boards() {
    let out = emoedge(&["bench", "--iterations", "0"]);
    assert!(!out.status.success());
    let out = emoedge(&["bench", "--board", "no-such-board", "--iterations", "1"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
