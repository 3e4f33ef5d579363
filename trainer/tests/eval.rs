//! `emoedge-train eval`: the metrics on a hand-computed confusion matrix,
//! and end to end on generated class folders with small face and voice
//! model files whose predictions are known (face: mean brightness; voice:
//! energy in low vs high mel bands).

use std::collections::BTreeSet;
use std::path::Path;

use emoedge_shared::audio::VoicePreprocessing;
use emoedge_shared::face::FacePreprocessing;
use emoedge_shared::format::{
    Activation, Bias, Dense, DetectorPreprocessing, Graph, Header, ModelFile, ModelKind, Op,
    Preprocessing, Tensor,
};
use emoedge_shared::{Emotion, NUM_CLASSES};
use emoedge_trainer::data::{decode_image, face_preprocessing};
use emoedge_trainer::eval::{
    self, compute_metrics, confusion_from, face::face_input, voice::VoiceLayout, EvalError,
    EvalOptions, OutputKind,
};

mod common;
use common::files::*;

const ANGRY: usize = 0;
const FEAR: usize = 2;
const HAPPY: usize = 3;
const NEUTRAL: usize = 4;
const SAD: usize = 5;
const SURPRISE: usize = 6;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn metrics_match_a_hand_computed_confusion_matrix() {
    // angry: 3 samples, 2 right, 1 taken for happy; happy: 2 samples, 1
    // right, 1 taken for angry; sad: 2 samples, 1 right, 1 taken for fear
    // (a class with no samples). 7 samples, 4 right.
    let pairs = [
        (ANGRY, ANGRY),
        (ANGRY, ANGRY),
        (ANGRY, HAPPY),
        (HAPPY, HAPPY),
        (HAPPY, ANGRY),
        (SAD, SAD),
        (SAD, FEAR),
    ];
    let c = confusion_from(pairs);
    assert_eq!(c[ANGRY][HAPPY], 1);
    assert_eq!(c[SAD][FEAR], 1);
    let m = compute_metrics(&c);
    assert_eq!(m.n, 7);
    assert!(close(m.accuracy, 4.0 / 7.0), "{}", m.accuracy);
    let angry = m.per_class["angry"];
    // 2 of the 3 angry predictions are right, 2 of the 3 angry samples found.
    assert!(close(angry.precision, 2.0 / 3.0) && close(angry.recall, 2.0 / 3.0));
    assert!(close(angry.f1, 2.0 / 3.0));
    assert_eq!(angry.support, 3);
    let happy = m.per_class["happy"];
    assert!(close(happy.precision, 0.5) && close(happy.recall, 0.5) && close(happy.f1, 0.5));
    let sad = m.per_class["sad"];
    // Precision 1, recall 1/2: F1 = 2 * 0.5 / 1.5.
    assert!(close(sad.precision, 1.0) && close(sad.recall, 0.5));
    assert!(close(sad.f1, 2.0 / 3.0));
    assert_eq!(sad.support, 2);
    // Fear was predicted once and never right, with no sample: all 0, and
    // it is left out of macro-F1 (which would be 11/24 with it).
    let fear = m.per_class["fear"];
    assert_eq!(
        (fear.precision, fear.recall, fear.f1, fear.support),
        (0.0, 0.0, 0.0, 0)
    );
    assert_eq!(m.classes_present(), 3);
    assert!(close(m.macro_f1, 11.0 / 18.0), "{}", m.macro_f1);
    assert_eq!(m.labels, Emotion::NAMES.to_vec());
    assert_eq!(m.per_class.len(), NUM_CLASSES);
    assert_eq!(m.confusion.len(), NUM_CLASSES);
    assert_eq!(m.confusion[ANGRY], vec![2, 0, 0, 1, 0, 0, 0]);
    assert_eq!(m.confusion[SAD], vec![0, 0, 1, 0, 0, 1, 0]);

    let empty = compute_metrics(&confusion_from([]));
    assert_eq!((empty.n, empty.accuracy, empty.macro_f1), (0, 0.0, 0.0));
}

#[test]
fn table_states_the_macro_f1_convention() {
    let m = compute_metrics(&confusion_from([(ANGRY, ANGRY), (HAPPY, ANGRY)]));
    let t = eval::report::table(&m);
    for name in Emotion::NAMES {
        assert!(t.contains(name), "{t}");
    }
    assert!(t.contains("accuracy") && t.contains("50.00 %"), "{t}");
    assert!(t.contains("over the 2 classes with support > 0"), "{t}");
}

// ---------------------------------------------------------------- models

/// Face model: global average of the normalised pixels `m`, then logits
/// angry `-4m`, happy `4m`, neutral `1`, others `-10`: dark images are
/// angry, mid-gray ones neutral, bright ones happy. `order[i]` is the
/// class of output `i`; `softmax` appends a softmax.
fn face_model(order: [usize; NUM_CLASSES], softmax: bool) -> ModelFile {
    let slope = |c: usize| match c {
        ANGRY => -4.0,
        HAPPY => 4.0,
        _ => 0.0,
    };
    let offset = |c: usize| match c {
        ANGRY | HAPPY => 0.0,
        NEUTRAL => 1.0,
        _ => -10.0,
    };
    let mut g = Graph::default();
    let gap = g.push("gap", Op::GlobalAvgPool, vec![0]);
    let flat = g.push("flatten", Op::Flatten, vec![gap]);
    let mut out = g.push(
        "head",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![7, 1], order.iter().map(|&c| slope(c)).collect()),
            bias: Some(Bias::F32(order.iter().map(|&c| offset(c)).collect())),
            activation: Activation::None,
            input_quant: None,
        }),
        vec![flat],
    );
    if softmax {
        out = g.push("softmax", Op::Softmax { axis: 1 }, vec![out]);
    }
    g.outputs = vec![out];
    ModelFile {
        header: Header {
            kind: ModelKind::FaceClassifier,
            name: "brightness".into(),
            input_shape: vec![1, 1, 48, 48],
            labels: order
                .iter()
                .map(|&c| Emotion::NAMES[c].to_string())
                .collect(),
            preprocessing: Preprocessing::Face(FacePreprocessing::default()),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: g,
    }
}

/// Mel bands below this one are "low".
const SPLIT_BAND: usize = 26;

/// Voice model over `[1, 1, frames, n_mels]` windows (`[1, 1, n_mels,
/// frames]` when `mels_by_frames`): squares the window (`Mul(x, x)`), then
/// neutral = mean energy of the low mel bands, surprise = mean energy of the
/// high ones, others 0. A low tone is neutral, a high one surprise.
fn voice_model(mels_by_frames: bool) -> ModelFile {
    let pre = VoicePreprocessing::default();
    let (frames, n_mels) = (pre.frames as usize, pre.logmel.n_mels as usize);
    let n = frames * n_mels;
    let mut w = vec![0.0f32; NUM_CLASSES * n];
    for t in 0..frames {
        for m in 0..n_mels {
            let (class, bands) = if m < SPLIT_BAND {
                (NEUTRAL, SPLIT_BAND)
            } else {
                (SURPRISE, n_mels - SPLIT_BAND)
            };
            let at = if mels_by_frames {
                m * frames + t
            } else {
                t * n_mels + m
            };
            w[class * n + at] = 1.0 / (bands * frames) as f32;
        }
    }
    let mut g = Graph::default();
    let sq = g.push("square", Op::Mul, vec![0, 0]);
    let flat = g.push("flatten", Op::Flatten, vec![sq]);
    let head = g.push(
        "head",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![7, n as u32], w),
            bias: Some(Bias::F32(vec![0.0; 7])),
            activation: Activation::None,
            input_quant: None,
        }),
        vec![flat],
    );
    g.outputs = vec![head];
    ModelFile {
        header: Header {
            kind: ModelKind::VoiceClassifier,
            name: "band-energy".into(),
            input_shape: if mels_by_frames {
                vec![1, 1, n_mels as u32, frames as u32]
            } else {
                vec![1, 1, frames as u32, n_mels as u32]
            },
            labels: labels(),
            preprocessing: Preprocessing::Voice(pre),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: g,
    }
}

fn detector_model() -> ModelFile {
    let mut g = Graph::default();
    let r = g.push("relu", Op::Relu, vec![0]);
    g.outputs = vec![r];
    ModelFile {
        header: Header {
            kind: ModelKind::FaceDetector,
            name: "detector".into(),
            input_shape: vec![1, 3, 8, 8],
            labels: vec![],
            preprocessing: Preprocessing::Detector(DetectorPreprocessing {
                input_size: 128,
                mean: 0.5,
                std: 0.5,
                channels_last: false,
                strides: vec![8, 16],
                anchors_per_cell: vec![2, 6],
                box_scale: 128.0,
                keypoints: 6,
                score_threshold: 0.5,
                iou_threshold: 0.3,
            }),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: g,
    }
}

// ---------------------------------------------------------------- data

/// Face class folders (synonyms, any case, several formats and sizes):
/// 6 usable images, one corrupt and one blank image, an unknown folder and
/// non-image files.
fn face_tree(root: &Path) {
    save(&textured(48, 48, DARK), &root.join("Anger/a1.png"));
    save(&textured(100, 80, DARK), &root.join("Anger/a2.JPG"));
    save(&textured(64, 64, BRIGHT), &root.join("Anger/a3_bright.bmp"));
    save(&textured(48, 48, BRIGHT), &root.join("HAPPINESS/h1.png"));
    save(&textured(30, 40, BRIGHT), &root.join("HAPPINESS/h2.tiff"));
    save(&textured(48, 48, GRAY), &root.join("neutral/n1.png"));
    put(
        &root.join("neutral/corrupt.png"),
        b"\x89PNG\r\n\x1a\nthis is not a png",
    );
    save(
        &image::GrayImage::from_pixel(48, 48, image::Luma([90])),
        &root.join("neutral/blank.png"),
    );
    put(&root.join("neutral/notes.txt"), b"not an image");
    save(&textured(48, 48, DARK), &root.join("contempt/c1.png"));
    put(&root.join("README.txt"), b"class folders");
}

/// Voice class folders: 5 usable clips at 16, 44.1 and 48 kHz (one stereo,
/// one shorter than a window), a corrupt WAV, an unknown folder, other files.
fn voice_tree(root: &Path) {
    write_wav(
        &root.join("Calm/low_16k.wav"),
        16_000,
        1,
        &pulsed_tone(LOW_HZ, 3.0, 16_000),
    );
    write_wav(
        &root.join("Calm/low_44k_stereo.WAV"),
        44_100,
        2,
        &pulsed_tone(LOW_HZ, 2.5, 44_100),
    );
    write_wav(
        &root.join("SURPRISED/high_48k.wav"),
        48_000,
        1,
        &pulsed_tone(HIGH_HZ, 3.0, 48_000),
    );
    write_wav(
        &root.join("SURPRISED/high_short.wav"),
        16_000,
        1,
        &pulsed_tone(HIGH_HZ, 0.9, 16_000),
    );
    put(
        &root.join("SURPRISED/broken.wav"),
        b"RIFF\x10\0\0\0WAVEjunkjunk",
    );
    write_wav(
        &root.join("sad/low_sad.wav"),
        16_000,
        1,
        &pulsed_tone(LOW_HZ, 2.0, 16_000),
    );
    put(
        &root.join("sad/transcript.txt"),
        b"kids are talking by the door",
    );
    write_wav(
        &root.join("noise/n.wav"),
        16_000,
        1,
        &pulsed_tone(HIGH_HZ, 1.0, 16_000),
    );
}

fn opts(model: &Path, data: &Path) -> EvalOptions {
    EvalOptions {
        model: model.to_path_buf(),
        data: data.to_path_buf(),
        json: None,
        report: None,
        detect: None,
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn face_input_matches_training() {
    let dir = tempfile::tempdir().unwrap();
    for (name, img) in [
        ("a.png", textured(48, 48, DARK)),
        ("b.jpg", textured(97, 61, BRIGHT)),
    ] {
        let p = dir.path().join(name);
        save(&img, &p);
        let x = face_input(&p, &face_preprocessing()).expect("readable");
        assert_eq!(x, decode_image(&p).expect("readable"), "{name}");
        assert_eq!(x.len(), 48 * 48);
    }
    let blank = dir.path().join("blank.png");
    save(
        &image::GrayImage::from_pixel(20, 20, image::Luma([7])),
        &blank,
    );
    assert_eq!(
        face_input(&blank, &face_preprocessing()),
        Err("blank".into())
    );
}

#[test]
fn face_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("faces");
    face_tree(&data);
    let model = write_model(
        dir.path(),
        "face.emo",
        &face_model([0, 1, 2, 3, 4, 5, 6], false),
    );
    let json = dir.path().join("out/eval.json");
    let report = dir.path().join("report");
    let outcome = eval::run(&EvalOptions {
        json: Some(json.clone()),
        report: Some(report.clone()),
        ..opts(&model, &data)
    })
    .expect("eval runs");
    assert_eq!(outcome.kind, ModelKind::FaceClassifier);
    let m = &outcome.metrics;
    assert_eq!(m.n, 6);
    // Synonym and any-case folders: Anger -> angry, HAPPINESS -> happy.
    let mut want = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    want[ANGRY][ANGRY] = 2;
    want[ANGRY][HAPPY] = 1;
    want[HAPPY][HAPPY] = 2;
    want[NEUTRAL][NEUTRAL] = 1;
    let want: Vec<Vec<u64>> = want.iter().map(|r| r.to_vec()).collect();
    assert_eq!(m.confusion, want);
    assert!(close(m.accuracy, 5.0 / 6.0));
    // angry P 1 R 2/3 F1 0.8; happy P 2/3 R 1 F1 0.8; neutral 1.
    assert!(close(m.per_class["angry"].f1, 0.8) && close(m.per_class["happy"].f1, 0.8));
    assert!(close(m.macro_f1, 2.6 / 3.0), "{}", m.macro_f1);

    // The corrupt and the blank image are skipped and named; the unknown
    // folder is reported; text files are ignored.
    let skipped: Vec<&str> = outcome.skipped.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].ends_with("blank.png") && skipped[1].ends_with("corrupt.png"));
    assert_eq!(outcome.skipped[0].reason, "blank");
    assert_eq!(outcome.unknown_folders, vec!["contempt".to_string()]);
    let warnings = outcome.warnings().join("\n");
    assert!(
        warnings.contains("skipped 2 unreadable or blank file(s)"),
        "{warnings}"
    );
    assert!(warnings.contains("corrupt.png") && warnings.contains("contempt"));

    // JSON: exactly the contract's fields.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "accuracy",
        "macro_f1",
        "n",
        "labels",
        "per_class",
        "confusion",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(v["n"], 6);
    assert!((v["accuracy"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-12);
    assert_eq!(
        v["labels"],
        serde_json::json!(["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"])
    );
    let per_class = v["per_class"].as_object().unwrap();
    assert_eq!(per_class.len(), 7);
    for (name, c) in per_class {
        let fields: BTreeSet<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            ["precision", "recall", "f1", "support"].into(),
            "{name}"
        );
    }
    assert_eq!(v["per_class"]["happy"]["support"], 2);
    assert_eq!(v["confusion"], serde_json::json!(want));

    // Report: the same JSON and a PNG picture.
    assert_eq!(
        std::fs::read(report.join("metrics.json")).unwrap(),
        std::fs::read(&json).unwrap()
    );
    let png = std::fs::read(report.join("confusion.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
    let pic = image::open(report.join("confusion.png")).unwrap();
    assert!(pic.width() > 500 && pic.height() > 500);
}

#[test]
fn face_eval_follows_the_header_labels_and_softmax_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("faces");
    face_tree(&data);
    let plain = eval::evaluate(
        &write_model(
            dir.path(),
            "plain.emo",
            &face_model([0, 1, 2, 3, 4, 5, 6], false),
        ),
        &data,
    )
    .unwrap();
    // Outputs in another order, named by the header's labels, and a graph
    // that ends in a softmax: the same predictions.
    let order = [6, 4, 3, 5, 0, 2, 1];
    let file = face_model(order, true);
    assert_eq!(OutputKind::of(&file), OutputKind::Probabilities);
    assert_eq!(
        OutputKind::of(&face_model(order, false)),
        OutputKind::Logits { temperature: 1.0 }
    );
    let permuted = eval::evaluate(&write_model(dir.path(), "perm.emo", &file), &data).unwrap();
    assert_eq!(permuted.metrics, plain.metrics);
    assert_eq!(permuted.metrics.confusion[ANGRY][ANGRY], 2);
}

#[test]
fn voice_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("voice");
    voice_tree(&data);
    let model = write_model(dir.path(), "voice.emo", &voice_model(false));
    let json = dir.path().join("voice.json");
    let outcome = eval::run(&EvalOptions {
        json: Some(json.clone()),
        ..opts(&model, &data)
    })
    .expect("eval runs");
    assert_eq!(outcome.kind, ModelKind::VoiceClassifier);
    let m = &outcome.metrics;
    assert_eq!(m.n, 5, "{:?}", outcome.skipped);
    let mut want = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    // Calm -> neutral (16 kHz mono and 44.1 kHz stereo), SURPRISED ->
    // surprise (48 kHz and a clip shorter than a window), sad (a low tone,
    // taken for neutral).
    want[NEUTRAL][NEUTRAL] = 2;
    want[SURPRISE][SURPRISE] = 2;
    want[SAD][NEUTRAL] = 1;
    let want: Vec<Vec<u64>> = want.iter().map(|r| r.to_vec()).collect();
    assert_eq!(m.confusion, want);
    assert!(close(m.accuracy, 0.8));
    assert_eq!(outcome.skipped.len(), 1);
    assert!(outcome.skipped[0].source.ends_with("broken.wav"));
    assert_eq!(outcome.unknown_folders, vec!["noise".to_string()]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["n"], 5);
    assert_eq!(v["per_class"]["surprise"]["support"], 2);

    // A model taking the window as [n_mels, frames] gets it transposed, as
    // on the device: the same predictions.
    let transposed = write_model(dir.path(), "voice_t.emo", &voice_model(true));
    let t = eval::evaluate(&transposed, &data).expect("eval runs");
    assert_eq!(t.metrics.confusion, want);
}

#[test]
fn voice_layout_follows_the_device_rule() {
    let pre = VoicePreprocessing::default();
    let mut header = voice_model(false).header;
    let of = |h: &Header, shape: &[usize]| VoiceLayout::of(h, shape, &pre);
    assert_eq!(
        of(&header, &[1, 1, 200, 64]),
        Some(VoiceLayout::FramesByMels)
    );
    assert_eq!(of(&header, &[1, 200, 64]), Some(VoiceLayout::FramesByMels));
    assert_eq!(
        of(&header, &[1, 1, 64, 200]),
        Some(VoiceLayout::MelsByFrames)
    );
    assert_eq!(of(&header, &[1, 1, 100, 128]), None);
    assert_eq!(of(&header, &[1, 1, 64, 100]), None);
    header
        .metadata
        .push(("input_layout".into(), "mels_frames".into()));
    assert_eq!(
        of(&header, &[1, 1, 200, 64]),
        Some(VoiceLayout::MelsByFrames)
    );
    // Transposing puts frame t, band b at b * frames + t.
    let window: Vec<f32> = (0..pre.window_len()).map(|i| i as f32).collect();
    let x = VoiceLayout::MelsByFrames.arrange(&pre, &window);
    assert_eq!(x[3 * 200 + 5], window[5 * 64 + 3]);
    assert_eq!(VoiceLayout::FramesByMels.arrange(&pre, &window), window);
}

#[test]
fn skipped_files_warning_names_the_first_few_and_counts_all() {
    let outcome = eval::EvalOutcome {
        kind: ModelKind::FaceClassifier,
        metrics: compute_metrics(&confusion_from([(HAPPY, HAPPY)])),
        skipped: (0..8)
            .map(|i| emoedge_trainer::data::Skipped {
                source: format!("faces/happy/bad{i}.png"),
                reason: "corrupt".into(),
            })
            .collect(),
        unknown_folders: vec![],
        seconds: 0.0,
    };
    let w = outcome.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("warning: skipped 8 unreadable or blank file(s): "));
    assert!(w[0].contains("bad0.png (corrupt)") && w[0].contains("bad4.png"));
    assert!(
        !w[0].contains("bad5.png") && w[0].ends_with(" and 3 more"),
        "{}",
        w[0]
    );
}

#[test]
fn detector_models_and_empty_sets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("faces");
    face_tree(&data);
    let det = write_model(dir.path(), "my_detector.emo", &detector_model());
    let e = eval::evaluate(&det, &data).unwrap_err();
    assert!(matches!(e, EvalError::NotClassifier { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("my_detector.emo") && msg.contains("face detector"),
        "{msg}"
    );

    // A face model on audio folders, and folders that name no class.
    let face = write_model(
        dir.path(),
        "face.emo",
        &face_model([0, 1, 2, 3, 4, 5, 6], false),
    );
    let voice = dir.path().join("voice");
    voice_tree(&voice);
    let e = eval::evaluate(&face, &voice).unwrap_err();
    assert!(matches!(e, EvalError::Empty { .. }), "{e:?}");
    assert!(e.to_string().contains("no images"), "{e}");
    let unknown = dir.path().join("unknown");
    save(&textured(48, 48, DARK), &unknown.join("contempt/x.png"));
    put(&unknown.join("happy/broken.png"), b"junk");
    let msg = eval::evaluate(&face, &unknown).unwrap_err().to_string();
    assert!(
        msg.contains("contempt") && msg.contains("broken.png"),
        "{msg}"
    );

    // A missing data directory and a missing model file name the path.
    let msg = eval::evaluate(&face, &dir.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nowhere"), "{msg}");
    let msg = eval::evaluate(&dir.path().join("missing.emo"), &data)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.emo"), "{msg}");
}
