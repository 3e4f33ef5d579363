//! Quantisation-aware training end to end on generated images: the
//! validation accuracy a `--qat` run reports is the accuracy of the int8
//! file its checkpoint exports to (same calibration images), a resumed run
//! repeats the straight one, and the exported file records the QAT.

mod common;

use emoedge_shared::format;
use emoedge_trainer::export::export_checkpoint;
use emoedge_trainer::train::{self, TrainConfig};

const CALIB: usize = 24;

fn qat(epochs: usize) -> TrainConfig {
    TrainConfig {
        qat_calib_images: Some(CALIB),
        ..common::tiny_config(epochs)
    }
}

/// Mean cross-entropy of `file` on the validation set, through the runtime.
fn val_loss(file: &format::ModelFile, data: &emoedge_trainer::data::FaceData) -> f64 {
    let model = emoedge_shared::runtime::Model::from_model(file).expect("loads");
    let mut loss = 0f64;
    for i in 0..data.val.len() {
        let logits = model.run(data.val.image(i)).expect("runs");
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        let label = usize::from(data.val.labels[i]);
        loss -= f64::from(logits[label] - max) - sum.ln();
    }
    loss / data.val.len() as f64
}

#[test]
fn qat_validates_the_int8_export_and_resumes() {
    let data = common::synthetic_data(12, 6);
    let dir = tempfile::tempdir().expect("temp dir");

    let straight = dir.path().join("straight");
    let a = train::train(&data, qat(2), &common::quiet(&straight, None)).expect("qat run");
    assert_eq!(a.epoch, 2);
    assert_eq!(a.config.qat_calib_images, Some(CALIB));
    let plain = train::train(
        &data,
        common::tiny_config(2),
        &common::quiet(&dir.path().join("plain"), None),
    )
    .expect("plain run");
    assert!(
        (a.history[0].train_loss - plain.history[0].train_loss).abs() > 1e-4,
        "the simulated int8 forward pass changes the loss"
    );

    // What validation measured is what the int8 file scores.
    let files = export_checkpoint(
        &straight.join(train::LAST_DIR),
        Some(&data),
        CALIB,
        &dir.path().join("m.emo"),
    )
    .expect("export");
    let int8 = files.report.int8_val_acc.expect("int8 accuracy");
    assert!(
        (int8 - a.history[1].val_acc).abs() < 1e-9,
        "int8 file {int8} vs validation {}",
        a.history[1].val_acc
    );
    let file = format::decode(&std::fs::read(&files.model).expect("read")).expect("decodes");
    // So is the validation loss, which the f32 network's is not.
    let f32_path = files.f32_model.as_ref().expect("f32 file");
    let f32_file = format::decode(&std::fs::read(f32_path).expect("read")).expect("decodes");
    let (int8_loss, f32_loss) = (val_loss(&file, &data), val_loss(&f32_file, &data));
    let seen = a.history[1].val_loss;
    // (Here 9e-9 apart, the f32 network's 1.9e-4.)
    assert!(
        (int8_loss - seen).abs() < 1e-6 && (f32_loss - seen).abs() > 1e-5,
        "validation {seen}: int8 file {int8_loss}, f32 {f32_loss}"
    );
    assert!(file
        .header
        .meta("qat")
        .is_some_and(|m| m.contains(&format!("{CALIB} training images"))));

    // Interrupted after one epoch and resumed: the same second epoch.
    let split = dir.path().join("split");
    train::train(&data, qat(2), &common::quiet(&split, Some(1))).expect("first epoch");
    let b = train::train(&data, qat(2), &common::quiet(&split, None)).expect("resumed");
    assert_eq!(b.epoch, 2);
    let (ma, mb) = (&a.history[1], &b.history[1]);
    assert!(
        (ma.train_loss - mb.train_loss).abs() < 1e-4 && ma.val_acc == mb.val_acc,
        "epoch 2 straight {ma:?} vs resumed {mb:?}"
    );
}

#[test]
fn qat_needs_calibration_images() {
    let data = common::synthetic_data(4, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = TrainConfig {
        qat_calib_images: Some(0),
        ..common::tiny_config(1)
    };
    let err = train::train(&data, cfg, &common::quiet(dir.path(), None)).unwrap_err();
    assert!(err.to_string().contains("calibration image"), "{err}");
}
