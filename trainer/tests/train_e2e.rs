//! End-to-end training on generated images: the loop learns, resumes the
//! same run from a checkpoint, and exports a model that decodes.

mod common;

use emoedge_shared::{format, reference, Emotion};
use emoedge_trainer::data::FaceData;
use emoedge_trainer::export::export_checkpoint;
use emoedge_trainer::train::{self, checkpoint, TrainOptions, BEST_DIR, LAST_DIR};

/// burn's random generator (dropout) is process-wide: tests that train
/// take turns so their seeded runs stay reproducible.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn learns_resumes_and_exports() {
    let _turn = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::synthetic_data(24, 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("run");

    // Two epochs, then "interrupted".
    let opts = common::quiet(&out, Some(2));
    let state = train::train(&data, common::tiny_config(8), &opts).expect("first part trains");
    assert_eq!(state.epoch, 2);
    assert_eq!(state.history.len(), 2);
    let ckpt = out.join(LAST_DIR);
    assert!(ckpt.join("optim.bpk").is_file(), "optimizer state is saved");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    assert_eq!(csv.lines().count(), 3, "header + 2 epochs");
    assert!(out.join("curves.png").is_file());

    // Resume explicitly from the checkpoint: the epoch counter continues.
    let opts = TrainOptions {
        out: out.clone(),
        resume: Some(ckpt.clone()),
        quiet: true,
        ..TrainOptions::default()
    };
    let state = train::train(&data, common::tiny_config(8), &opts).expect("resumed run trains");
    assert_eq!(state.epoch, 8);
    let epochs: Vec<usize> = state.history.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, (1..=8).collect::<Vec<_>>());
    let csv = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    assert_eq!(csv.lines().count(), 9, "metrics continue after resume");
    assert!(
        state.best_val_acc > 0.5,
        "7-class synthetic val accuracy {:.3} should be well above chance",
        state.best_val_acc
    );
    // The resumed training kept improving on the first two epochs' loss.
    assert!(state.history[7].train_loss < state.history[0].train_loss);

    // A finished run resumed again does nothing more.
    let again = train::train(&data, common::tiny_config(8), &opts).expect("finished run");
    assert_eq!(again.epoch, 8);

    // The best checkpoint has no optimizer state: resuming it is refused.
    let from_best = TrainOptions {
        out: dir.path().join("other"),
        resume: Some(out.join(BEST_DIR)),
        quiet: true,
        ..TrainOptions::default()
    };
    let err =
        train::train(&data, common::tiny_config(9), &from_best).expect_err("best is not resumable");
    assert!(err.to_string().contains("optimizer state"), "{err}");

    check_export(&data, &out);

    // The weight average of the best and the last checkpoint of the run
    // is a checkpoint that exports and still classifies.
    let soup = dir.path().join("soup");
    train::average::average_to(
        &[out.join(BEST_DIR), out.join(LAST_DIR)],
        &soup,
        &train::compute_device(),
    )
    .expect("averages");
    let files = export_checkpoint(&soup, Some(&data), 64, &dir.path().join("soup.emo"))
        .expect("the average exports");
    let acc = files.report.f32_val_acc.expect("f32 acc");
    assert!(acc > 0.5, "averaged model val accuracy {acc:.3}");
}

/// Exports the best checkpoint: the f32 file decodes and gives the burn
/// model's argmax through the reference interpreter; the int8 file runs in
/// the shared runtime and mostly agrees with f32.
fn check_export(data: &FaceData, out: &std::path::Path) {
    let best = out.join(BEST_DIR);
    let state = checkpoint::load_state(&best).expect("best state");
    let model =
        checkpoint::load_model(&best, &state, &train::compute_device()).expect("best model");
    let target = out.join("export/face.emo");
    let files = export_checkpoint(&best, Some(data), 64, &target).expect("export");
    let f32_path = files
        .f32_model
        .clone()
        .expect("an f32 file next to the int8 one");

    let f32_file =
        format::decode(&std::fs::read(&f32_path).expect("read f32")).expect("f32 decodes");
    assert_eq!(f32_file.header.kind, format::ModelKind::FaceClassifier);
    assert_eq!(f32_file.header.input_shape, vec![1, 1, 48, 48]);
    assert_eq!(f32_file.header.labels, Emotion::NAMES.to_vec());
    assert!(f32_file.header.meta("date").is_some() && f32_file.header.meta("val_acc").is_some());
    assert!(f32_file.graph.nodes.iter().all(|n| !n.op.is_int8()));

    let burn_logits = train::predict_logits(
        &model,
        &data.val.pixels,
        [1, 48, 48],
        &train::compute_device(),
    )
    .expect("burn logits");
    for i in 0..data.val.len() {
        let out =
            reference::run_reference_outputs(&f32_file, data.val.image(i)).expect("reference runs");
        let row = &burn_logits[i * 7..(i + 1) * 7];
        for (a, b) in out[0].iter().zip(row) {
            assert!(
                (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                "image {i}: reference {a} vs burn {b}"
            );
        }
    }

    let int8_file =
        format::decode(&std::fs::read(&target).expect("read int8")).expect("int8 decodes");
    assert!(int8_file.graph.nodes.iter().any(|n| n.op.is_int8()));
    let r = &files.report;
    let (f32_acc, int8_acc) = (
        r.f32_val_acc.expect("f32 acc"),
        r.int8_val_acc.expect("int8 acc"),
    );
    assert!(
        (f32_acc - state.best_val_acc).abs() < 0.02,
        "runtime f32 {f32_acc} vs burn {}",
        state.best_val_acc
    );
    assert!(int8_acc > f32_acc - 0.1, "int8 {int8_acc} vs f32 {f32_acc}");
    assert!(r.agreement.expect("agreement") > 0.85);
}

#[test]
fn resume_restores_the_exact_run() {
    let _turn = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::synthetic_data(24, 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let quiet = common::quiet;
    let a =
        train::train(&data, common::tiny_config(2), &quiet(&straight, None)).expect("straight run");
    train::train(&data, common::tiny_config(2), &quiet(&split, Some(1))).expect("first epoch");
    // Auto-resume from <out>/checkpoint.
    let b =
        train::train(&data, common::tiny_config(2), &quiet(&split, None)).expect("second epoch");
    assert_eq!(b.epoch, 2);
    let (ma, mb) = (&a.history[1], &b.history[1]);
    // Same data order, augmentation, dropout seeds, optimizer moments and
    // schedule: the resumed second epoch matches the uninterrupted one.
    assert!(
        (ma.train_loss - mb.train_loss).abs() < 1e-4,
        "epoch 2 loss straight {} vs resumed {}",
        ma.train_loss,
        mb.train_loss
    );
    assert!((ma.val_acc - mb.val_acc).abs() < 1e-9);
    assert_eq!(ma.lr, mb.lr);
}
