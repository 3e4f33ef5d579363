//! `face from-model` end to end on generated images: a trained tiny run is
//! exported, the f32 file is rebuilt into a checkpoint, and that checkpoint
//! exports to the same predictions and fine-tunes with `--init` like any
//! other. The int8 file is refused by name.

mod common;

use emoedge_shared::format;
use emoedge_trainer::export::{export_checkpoint, runtime_accuracy};
use emoedge_trainer::train::{self, checkpoint, compute_device, TrainConfig};

#[test]
fn a_shipped_f32_model_becomes_a_checkpoint_that_exports_and_fine_tunes() {
    let data = common::synthetic_data(16, 6);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run");
    let trained =
        train::train(&data, common::tiny_config(3), &common::quiet(&run, None)).expect("trains");
    let shipped = dir.path().join("models/face.emo");
    let files =
        export_checkpoint(&run.join(train::BEST_DIR), Some(&data), 32, &shipped).expect("exports");
    let f32_path = files.f32_model.expect("an f32 file beside the int8 one");
    let f32_acc = files.report.f32_val_acc.expect("f32 accuracy");
    assert!(f32_acc > 0.5, "the tiny run learns: {f32_acc}");

    let rebuilt = dir.path().join("rebuilt/best");
    let device = compute_device();
    let config = train::from_model::from_model_to(&f32_path, &data.train, None, &rebuilt, &device)
        .expect("rebuilds");
    assert_eq!(config, trained.config.model);

    // The rebuilt checkpoint exports to the same function: every
    // validation prediction of the original f32 file is kept.
    let again =
        export_checkpoint(&rebuilt, None, 0, &dir.path().join("again.emo")).expect("exports again");
    let read =
        |p: &std::path::Path| format::decode(&std::fs::read(p).expect("reads")).expect("decodes");
    let (acc_a, pred_a) = runtime_accuracy(&read(&f32_path), &data.val).expect("runs");
    let (acc_b, pred_b) = runtime_accuracy(&read(&again.model), &data.val).expect("runs");
    assert_eq!(pred_a, pred_b, "same predictions");
    assert_eq!(acc_a, acc_b);
    assert!((acc_a - f32_acc).abs() < 1e-9);

    // It warm-starts a fine-tune: the first epoch starts from the trained
    // network, well above chance, not from a random one.
    let tuned = train::train(
        &data,
        TrainConfig {
            init: Some(rebuilt.clone()),
            lr: 1e-4,
            ..common::tiny_config(1)
        },
        &common::quiet(&dir.path().join("tuned"), None),
    )
    .expect("fine-tunes");
    assert!(
        tuned.history[0].val_acc > 0.5,
        "fine-tune from the rebuilt model: {}",
        tuned.history[0].val_acc
    );
    let state = checkpoint::load_state(&rebuilt).expect("state");
    assert!(state.data.contains("face.f32.emo"), "{}", state.data);

    // The int8 file is refused with the fix.
    let err = train::from_model::from_model_to(
        &shipped,
        &data.train,
        None,
        &dir.path().join("int8"),
        &device,
    )
    .expect_err("int8")
    .to_string();
    assert!(
        err.contains("face.emo") && err.contains("f32 file"),
        "{err}"
    );
}
