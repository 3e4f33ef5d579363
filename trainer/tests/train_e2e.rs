//! End-to-end training on generated images: the loop learns, resumes the
//! same run from a checkpoint, and exports a model that decodes.

mod common;

use emoedge_trainer::augment::AugmentConfig;
use emoedge_trainer::data::{FaceData, Layout};
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{self, TrainConfig, TrainOptions, LAST_DIR};

fn tiny_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        model: FaceNetConfig::preset("tiny").expect("tiny preset"),
        epochs,
        batch_size: 16,
        lr: 5e-3,
        weight_decay: 1e-4,
        warmup_epochs: 0.5,
        patience: 100,
        augment: AugmentConfig {
            erase_prob: 0.0,
            ..AugmentConfig::default()
        },
        seed: 7,
        ..TrainConfig::default()
    }
}

fn synthetic_data() -> FaceData {
    FaceData {
        train: common::synthetic_set(24, 1),
        val: common::synthetic_set(8, 2),
        skipped: Vec::new(),
        layout: Layout::ClassTree("synthetic".into()),
        val_duplicates: Vec::new(),
    }
}

#[test]
fn learns_resumes_and_exports() {
    let data = synthetic_data();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("run");

    // Two epochs, then "interrupted".
    let opts = TrainOptions {
        out: out.clone(),
        stop_after: Some(2),
        quiet: true,
        ..TrainOptions::default()
    };
    let state = train::train(&data, tiny_config(8), &opts).expect("first part trains");
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
    let state = train::train(&data, tiny_config(8), &opts).expect("resumed run trains");
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
    let again = train::train(&data, tiny_config(8), &opts).expect("finished run");
    assert_eq!(again.epoch, 8);
}

#[test]
fn resume_restores_the_exact_run() {
    let data = synthetic_data();
    let dir = tempfile::tempdir().expect("temp dir");
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let quiet = |out: &std::path::Path, stop_after| TrainOptions {
        out: out.to_path_buf(),
        stop_after,
        quiet: true,
        ..TrainOptions::default()
    };
    let a = train::train(&data, tiny_config(2), &quiet(&straight, None)).expect("straight run");
    train::train(&data, tiny_config(2), &quiet(&split, Some(1))).expect("first epoch");
    // Auto-resume from <out>/checkpoint.
    let b = train::train(&data, tiny_config(2), &quiet(&split, None)).expect("second epoch");
    assert_eq!(b.epoch, 2);
    let (ma, mb) = (&a.history[1], &b.history[1]);
    // Same data order, augmentation, dropout seeds and optimizer moments:
    // the second epoch must match closely (threads may reorder float sums).
    assert!(
        (ma.train_loss - mb.train_loss).abs() < 2e-3,
        "epoch 2 loss straight {} vs resumed {}",
        ma.train_loss,
        mb.train_loss
    );
    assert!((ma.val_acc - mb.val_acc).abs() < 0.05);
}
