//! Knowledge distillation end to end on generated images: a tiny exported
//! model teaches a second tiny run, the checkpoint records the teacher, a
//! resumed run recomputes the same soft targets from it (and names the file
//! when it is gone), and the exported student records its teacher.

mod common;

use emoedge_shared::format;
use emoedge_trainer::export::export_checkpoint;
use emoedge_trainer::train::{self, checkpoint, DistillConfig, TrainConfig};

fn distilled(teacher: &std::path::Path, epochs: usize) -> TrainConfig {
    TrainConfig {
        distill: Some(DistillConfig {
            teacher: teacher.to_path_buf(),
            alpha: 0.5,
            temperature: 4.0,
            online: false,
        }),
        ..common::tiny_config(epochs)
    }
}

#[test]
fn distils_from_a_model_file_records_the_teacher_and_resumes() {
    let data = common::synthetic_data(12, 4);
    let dir = tempfile::tempdir().expect("temp dir");

    // The teacher: two plain epochs, exported to int8 (+ f32) model files.
    let teacher_run = dir.path().join("teacher");
    let plain = train::train(
        &data,
        common::tiny_config(2),
        &common::quiet(&teacher_run, None),
    )
    .expect("teacher");
    let teacher = dir.path().join("models/teacher.emo");
    export_checkpoint(
        &teacher_run.join(train::BEST_DIR),
        Some(&data),
        32,
        &teacher,
    )
    .expect("teacher exports");

    // Uninterrupted distilled run.
    let straight = dir.path().join("straight");
    let a = train::train(
        &data,
        distilled(&teacher, 2),
        &common::quiet(&straight, None),
    )
    .expect("distilled run");
    assert_eq!(a.epoch, 2);
    assert_eq!(a.config.distill, distilled(&teacher, 2).distill);
    // Same init, data order and augmentation as the teacher's own first
    // epoch: only the distillation term differs.
    assert!(
        (a.history[0].train_loss - plain.history[0].train_loss).abs() > 1e-3,
        "distilled loss {} vs plain {}",
        a.history[0].train_loss,
        plain.history[0].train_loss
    );

    // The same run interrupted after one epoch; the teacher is a copy that
    // is then moved away.
    let copy = dir.path().join("copy.emo");
    std::fs::copy(&teacher, &copy).expect("copy teacher");
    let split = dir.path().join("split");
    train::train(&data, distilled(&copy, 2), &common::quiet(&split, Some(1))).expect("first epoch");
    let json = std::fs::read_to_string(split.join(train::LAST_DIR).join("state.json"))
        .expect("state.json");
    assert!(
        json.contains("\"distill\"") && json.contains("copy.emo"),
        "state.json records the teacher: {json}"
    );
    let saved = checkpoint::load_state(&split.join(train::LAST_DIR)).expect("state loads");
    assert_eq!(saved.config.distill, distilled(&copy, 2).distill);

    let moved = dir.path().join("moved.emo");
    std::fs::rename(&copy, &moved).expect("move teacher");
    // Resumed with plain command-line options: the checkpoint's teacher counts.
    let err = train::train(&data, common::tiny_config(2), &common::quiet(&split, None))
        .expect_err("the teacher is gone");
    let msg = err.to_string();
    assert!(
        msg.contains("copy.emo") && msg.contains("does not exist"),
        "{msg}"
    );
    std::fs::rename(&moved, &copy).expect("restore teacher");
    let b = train::train(&data, common::tiny_config(2), &common::quiet(&split, None))
        .expect("resumed run");
    assert_eq!(b.epoch, 2);
    assert_eq!(b.config.distill, distilled(&copy, 2).distill);
    let (ma, mb) = (&a.history[1], &b.history[1]);
    assert!(
        (ma.train_loss - mb.train_loss).abs() < 1e-4,
        "epoch 2 loss straight {} vs resumed {}",
        ma.train_loss,
        mb.train_loss
    );

    // The student's model file names its teacher.
    let student = dir.path().join("student.emo");
    let files =
        export_checkpoint(&straight.join(train::BEST_DIR), None, 0, &student).expect("export");
    let file = format::decode(&std::fs::read(&files.model).expect("read")).expect("decodes");
    assert_eq!(file.header.meta("teacher"), Some("teacher.emo"));
    assert_eq!(file.header.meta("distill_alpha"), Some("0.5"));
    assert_eq!(file.header.meta("distill_temperature"), Some("4"));

    // A model file of another kind is refused by name.
    let mut voice = file.clone();
    voice.header.kind = format::ModelKind::VoiceClassifier;
    voice.header.preprocessing = format::Preprocessing::Voice(Default::default());
    let bad = dir.path().join("voice.emo");
    std::fs::write(&bad, format::encode(&voice).expect("encodes")).expect("write");
    let err = train::train(
        &data,
        distilled(&bad, 1),
        &common::quiet(&dir.path().join("bad"), None),
    )
    .expect_err("not a face model");
    assert!(err.to_string().contains("voice.emo"), "{err}");

    // Online: the teacher labels every augmented batch. Same init, order and
    // augmentation as the offline run, so only the soft targets (and the
    // loss) differ; an interrupted online run resumes to the same epoch 2,
    // and the student records how it was taught.
    let mut cfg = distilled(&teacher, 2);
    if let Some(d) = cfg.distill.as_mut() {
        d.online = true;
    }
    let online = dir.path().join("online");
    let o = train::train(&data, cfg.clone(), &common::quiet(&online, None)).expect("online run");
    assert_eq!(o.config.distill, cfg.distill);
    assert!(
        (o.history[0].train_loss - a.history[0].train_loss).abs() > 1e-4,
        "online loss {} vs offline {}",
        o.history[0].train_loss,
        a.history[0].train_loss
    );
    let parted = dir.path().join("online-resumed");
    train::train(&data, cfg.clone(), &common::quiet(&parted, Some(1))).expect("first epoch");
    let r = train::train(&data, common::tiny_config(2), &common::quiet(&parted, None))
        .expect("resumed");
    assert_eq!(r.config.distill, cfg.distill, "the checkpoint keeps online");
    assert!(
        (r.history[1].train_loss - o.history[1].train_loss).abs() < 1e-4,
        "epoch 2 loss straight {} vs resumed {}",
        o.history[1].train_loss,
        r.history[1].train_loss
    );
    let files = export_checkpoint(
        &online.join(train::BEST_DIR),
        None,
        0,
        &dir.path().join("online.emo"),
    )
    .expect("export");
    let file = format::decode(&std::fs::read(&files.model).expect("read")).expect("decodes");
    assert_eq!(file.header.meta("distill_online"), Some("true"));
    assert_eq!(meta_online(&student), None, "offline students say nothing");
}

fn meta_online(path: &std::path::Path) -> Option<String> {
    let file = format::decode(&std::fs::read(path).expect("read")).expect("decodes");
    file.header.meta("distill_online").map(str::to_owned)
}
