//! `emoedge-train eval --detect`: full frames through the committed face
//! detector, then the committed face model on the best face; images
//! without a face count as wrong and `detected` reports the face rate.

use std::path::{Path, PathBuf};

use emoedge_shared::{Emotion, NUM_CLASSES};
use emoedge_trainer::eval::{self, compute_metrics_with_misses, EvalOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn astronaut() -> PathBuf {
    root().join("shared/tests/fixtures/astronaut_320x240.png")
}

/// happy: the astronaut portrait (smiling) and a face-free gradient;
/// surprise: the astronaut again.
fn data(dir: &Path) -> PathBuf {
    let data = dir.join("frames");
    for class in ["happy", "surprise"] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        std::fs::copy(astronaut(), data.join(class).join("astronaut.png")).unwrap();
    }
    let gradient: Vec<u8> = (0..320 * 240)
        .map(|i| ((i % 320) * 255 / 320) as u8)
        .collect();
    image::GrayImage::from_raw(320, 240, gradient)
        .unwrap()
        .save(data.join("happy/empty_room.png"))
        .unwrap();
    data
}

#[test]
fn detect_counts_frames_without_a_face_as_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let json = dir.path().join("eval.json");
    let outcome = eval::run(&EvalOptions {
        model: root().join("models/face.emo"),
        data: data.clone(),
        json: Some(json.clone()),
        report: None,
        detect: Some(root().join("models/face_detector.emo")),
    })
    .expect("eval --detect runs");
    let m = &outcome.metrics;
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    assert_eq!(m.n, 3);
    assert!((m.detected.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let mut no_face = vec![0u64; NUM_CLASSES];
    no_face[Emotion::Happy.index()] = 1;
    assert_eq!(m.no_face.as_deref(), Some(no_face.as_slice()));
    assert_eq!(m.per_class["happy"].support, 2);
    // The two detected frames are in the confusion matrix, the miss is not.
    assert_eq!(m.confusion.iter().flatten().sum::<u64>(), 2);
    // The same astronaut crop gets one answer: at most one of its two
    // labels is right, so at most 1 of 3 frames is correct.
    assert!(m.accuracy <= 1.0 / 3.0 + 1e-9);
    let text = std::fs::read_to_string(&json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!((v["detected"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);

    // Without a detector the frames are resized whole: no "detected".
    let plain = eval::run(&EvalOptions {
        model: root().join("models/face.emo"),
        data,
        json: Some(json.clone()),
        report: None,
        detect: None,
    })
    .unwrap();
    assert_eq!(plain.metrics.detected, None);
    assert_eq!(plain.metrics.n, 3);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v.get("detected").is_none());
}

#[test]
fn misses_lower_recall_and_accuracy_not_precision() {
    let mut confusion = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    let (h, s) = (Emotion::Happy.index(), Emotion::Sad.index());
    confusion[h][h] = 2;
    confusion[s][h] = 2;
    let mut no_face = [0u64; NUM_CLASSES];
    no_face[h] = 2;
    let m = compute_metrics_with_misses(&confusion, &no_face);
    assert_eq!(m.n, 6);
    assert!((m.accuracy - 2.0 / 6.0).abs() < 1e-12);
    assert!((m.detected.unwrap() - 4.0 / 6.0).abs() < 1e-12);
    let happy = m.per_class["happy"];
    assert_eq!(happy.support, 4);
    assert!((happy.recall - 0.5).abs() < 1e-12);
    assert!((happy.precision - 0.5).abs() < 1e-12);
    assert_eq!(m.per_class["sad"].recall, 0.0);
}

#[test]
fn detect_refuses_a_detector_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let err = eval::run(&EvalOptions {
        model: root().join("models/face.emo"),
        data,
        json: None,
        report: None,
        detect: Some(root().join("models/face.emo")),
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("face detector"), "{err}");
}
