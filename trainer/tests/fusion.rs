//! `emoedge-train fusion calibrate` and `fusion eval` end to end, on small
//! generated models whose mistakes are complementary:
//!
//! - the face model tells dark (angry) from bright faces, but takes the
//!   bright sad faces for happy (a near tie, happy slightly ahead);
//! - the voice model tells low tones (angry, happy) from high ones (sad),
//!   but takes the low happy clips for angry (a near tie, angry ahead).
//!
//! Alone each gets 2 of the 3 paired classes right; fused, the near ties
//! are settled by the other modality and every pair is right.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use emoedge_shared::audio::VoicePreprocessing;
use emoedge_shared::face::FacePreprocessing;
use emoedge_shared::format::{
    self, Activation, Bias, Dense, Graph, Header, ModelFile, ModelKind, Op, Preprocessing, Tensor,
};
use emoedge_shared::{Emotion, NUM_CLASSES};
use emoedge_trainer::fusion::{
    self, files, CalibrateOptions, FusionEvalOptions, ModelFiles, DEFAULT_MAX_UNCERTAIN,
};

mod common;
use common::files::*;

const ANGRY: usize = 0;
const HAPPY: usize = 3;
const SAD: usize = 5;

/// Face model: the mean `m` of the normalised pixels; logits angry `-4m`,
/// happy `4m + 0.1`, sad `4m`, neutral 1, others -10.
fn face_model() -> ModelFile {
    scaled_face_model(1.0)
}

/// [`face_model`] with its logits multiplied by `scale`.
fn scaled_face_model(scale: f32) -> ModelFile {
    let slope = [-4.0, 0.0, 0.0, 4.0, 0.0, 4.0, 0.0].map(|v: f32| v * scale);
    let offset = [0.0, -10.0, -10.0, 0.1, 1.0, 0.0, -10.0].map(|v: f32| v * scale);
    let mut g = Graph::default();
    let gap = g.push("gap", Op::GlobalAvgPool, vec![0]);
    let flat = g.push("flatten", Op::Flatten, vec![gap]);
    let out = g.push(
        "head",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![7, 1], slope.to_vec()),
            bias: Some(Bias::F32(offset.to_vec())),
            activation: Activation::None,
            input_quant: None,
        }),
        vec![flat],
    );
    g.outputs = vec![out];
    ModelFile {
        header: Header {
            kind: ModelKind::FaceClassifier,
            name: "brightness".into(),
            input_shape: vec![1, 1, 48, 48],
            labels: labels(),
            preprocessing: Preprocessing::Face(FacePreprocessing::default()),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: g,
    }
}

/// Mel bands below this one are "low".
const SPLIT_BAND: usize = 26;

/// Voice model over `[1, 1, frames, n_mels]` windows: with `d` the mean
/// squared feature of the low mel bands minus that of the high ones,
/// logits angry `4d + 0.1`, happy `4d`, sad `-4d`, others -10.
fn voice_model() -> ModelFile {
    let pre = VoicePreprocessing::default();
    let (frames, n_mels) = (pre.frames as usize, pre.logmel.n_mels as usize);
    let n = frames * n_mels;
    let mut w = vec![0.0f32; NUM_CLASSES * n];
    for t in 0..frames {
        for m in 0..n_mels {
            let d = if m < SPLIT_BAND {
                1.0 / (SPLIT_BAND * frames) as f32
            } else {
                -1.0 / ((n_mels - SPLIT_BAND) * frames) as f32
            };
            let at = t * n_mels + m;
            w[ANGRY * n + at] = 4.0 * d;
            w[HAPPY * n + at] = 4.0 * d;
            w[SAD * n + at] = -4.0 * d;
        }
    }
    let mut g = Graph::default();
    let sq = g.push("square", Op::Mul, vec![0, 0]);
    let flat = g.push("flatten", Op::Flatten, vec![sq]);
    let head = g.push(
        "head",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![7, n as u32], w),
            bias: Some(Bias::F32(vec![0.1, -10.0, -10.0, 0.0, -10.0, 0.0, -10.0])),
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
            input_shape: vec![1, 1, frames as u32, n_mels as u32],
            labels: labels(),
            preprocessing: Preprocessing::Voice(pre),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: g,
    }
}

/// Faces: angry dark, happy and sad bright (4 each), neutral gray (2, no
/// voice clips). Voice: angry and happy low tones, sad high (2 each),
/// surprise high (1, no faces), and a broken clip.
fn data(root: &Path) -> (PathBuf, PathBuf) {
    let faces = root.join("faces");
    for i in 0..4 {
        let j = i * 4;
        save(
            &textured(48, 48, DARK + j),
            &faces.join(format!("angry/a{i}.png")),
        );
        save(
            &textured(48, 48, BRIGHT - j),
            &faces.join(format!("happy/h{i}.png")),
        );
        save(
            &textured(48, 48, BRIGHT + j),
            &faces.join(format!("sad/s{i}.png")),
        );
    }
    for i in 0..2 {
        save(
            &textured(48, 48, GRAY),
            &faces.join(format!("neutral/n{i}.png")),
        );
    }
    let voice = root.join("voice");
    for i in 0..2 {
        let len = 2.0 + i as f32 * 0.5;
        let low = pulsed_tone(LOW_HZ, len, 16_000);
        let high = pulsed_tone(HIGH_HZ, len, 16_000);
        write_wav(&voice.join(format!("angry/a{i}.wav")), 16_000, 1, &low);
        write_wav(&voice.join(format!("happy/h{i}.wav")), 16_000, 1, &low);
        write_wav(&voice.join(format!("sad/s{i}.wav")), 16_000, 1, &high);
    }
    let high = pulsed_tone(HIGH_HZ, 2.0, 16_000);
    write_wav(&voice.join("surprise/x.wav"), 16_000, 1, &high);
    put(&voice.join("sad/broken.wav"), b"RIFF\x10\0\0\0WAVEjunk");
    (faces, voice)
}

fn model_files(dir: &Path) -> ModelFiles {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    ModelFiles {
        face: write_model(&models, "face.emo", &face_model()),
        voice: write_model(&models, "voice.emo", &voice_model()),
        fusion: models.join("fusion.toml"),
    }
}

fn header_temperature(path: &Path) -> f32 {
    format::decode(&std::fs::read(path).unwrap())
        .unwrap()
        .header
        .temperature
}

#[test]
fn calibrate_then_eval_the_shipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let (faces, voice) = data(dir.path());
    let files = model_files(dir.path());
    let face_before = format::decode(&std::fs::read(&files.face).unwrap()).unwrap();
    // An f32 twin beside the face model (here one with half the logits: its
    // own temperature, half the face model's, is fitted).
    let twin_path = write_model(
        files.face.parent().unwrap(),
        "face.f32.emo",
        &scaled_face_model(0.5),
    );

    let cal = fusion::calibrate(&CalibrateOptions {
        face_data: faces.clone(),
        voice_data: voice.clone(),
        files: files.clone(),
        pairs_per_clip: 3,
        seed: 1,
        max_uncertain: DEFAULT_MAX_UNCERTAIN,
        dry_run: false,
        split_seed: None,
    })
    .expect("calibrate runs");
    assert_eq!(cal.face.n, 14);
    assert_eq!(cal.voice.n, 7, "the broken clip is skipped");
    // NLL never rises with the fitted temperature.
    for c in [&cal.face, &cal.voice] {
        assert!(c.calibrated.nll <= c.uncalibrated.nll + 1e-9, "{c:?}");
    }
    // The weight keeps both modalities: every fitting pair is right.
    let w = cal.config.face_weight;
    assert!(w > 0.05 && w < 0.95, "{w}");
    assert_eq!(cal.metrics.fused_accuracy, 1.0);
    assert!(cal.metrics.uncertain_rate <= DEFAULT_MAX_UNCERTAIN);

    // Written: the temperatures into the headers (nothing else changed),
    // the configuration beside the models.
    assert_eq!(header_temperature(&files.face), cal.face.fit.temperature);
    assert_eq!(header_temperature(&files.voice), cal.voice.fit.temperature);
    let mut face_after = format::decode(&std::fs::read(&files.face).unwrap()).unwrap();
    face_after.header.temperature = face_before.header.temperature;
    assert_eq!(face_after, face_before);
    assert_eq!(cal.twins.len(), 1);
    assert_eq!(cal.twins[0].0, twin_path);
    let twin_t = cal.twins[0].1.fit.temperature;
    assert_eq!(header_temperature(&twin_path), twin_t);
    let ratio = twin_t / cal.face.fit.temperature;
    assert!(
        (ratio - 0.5).abs() < 1e-3,
        "{twin_t} vs {}",
        cal.face.fit.temperature
    );
    let written = files::read_fusion_config(&files.fusion).unwrap();
    assert_eq!(written, cal.config);
    let text = std::fs::read_to_string(&files.fusion).unwrap();
    assert!(text.starts_with("# emoedge fusion configuration"), "{text}");

    // Eval of the shipped files, other pairs (another seed).
    let json = dir.path().join("out/fusion.json");
    let out = fusion::evaluate(&FusionEvalOptions {
        face_data: faces.clone(),
        voice_data: voice.clone(),
        files: files.clone(),
        pairs_per_clip: 3,
        seed: 99,
        json: Some(json.clone()),
        split_seed: None,
    })
    .expect("eval runs");
    let m = out.metrics;
    // 6 pairable clips (angry, happy, sad) x 3 faces.
    assert_eq!(m.n, 18);
    assert!((m.face_accuracy - 2.0 / 3.0).abs() < 1e-9, "{m:?}");
    assert!((m.voice_accuracy - 2.0 / 3.0).abs() < 1e-9, "{m:?}");
    assert!(
        m.fused_accuracy >= m.face_accuracy.max(m.voice_accuracy) + 0.3,
        "{m:?}"
    );
    assert_eq!(m.fused_accuracy, 1.0);
    // The engine ran with the file's weight and the headers' temperatures.
    assert_eq!(out.config.face_weight, w);
    assert_eq!(out.config.face_temperature, cal.face.fit.temperature);
    // Classes missing on one side are skipped and reported.
    assert_eq!(out.pairs.no_voice, vec![(Emotion::Neutral, 2)]);
    assert_eq!(out.pairs.no_face, vec![(Emotion::Surprise, 1)]);
    assert_eq!(out.selection, fusion::scores::VoiceSelection::ClassFolders);

    // JSON: exactly the contract's fields.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "n",
        "face_accuracy",
        "voice_accuracy",
        "fused_accuracy",
        "uncertain_rate",
    ]
    .into();
    assert_eq!(keys, want);
    assert_eq!(v["n"], 18);
    assert_eq!(v["fused_accuracy"].as_f64(), Some(1.0));
    assert!((v["face_accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);

    // Eval follows the file: a face weight of 0 is the voice alone.
    std::fs::write(&files.fusion, "face_weight = 0.0\n").unwrap();
    let voice_only = fusion::evaluate(&FusionEvalOptions {
        face_data: faces,
        voice_data: voice,
        files,
        pairs_per_clip: 3,
        seed: 99,
        json: None,
        split_seed: None,
    })
    .unwrap();
    assert_eq!(
        voice_only.metrics.fused_accuracy,
        voice_only.metrics.voice_accuracy
    );
}

#[test]
fn dry_run_writes_nothing_and_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (faces, voice) = data(dir.path());
    let files = model_files(dir.path());
    let before = std::fs::read(&files.voice).unwrap();
    let opts = CalibrateOptions {
        face_data: faces.clone(),
        voice_data: voice.clone(),
        files: files.clone(),
        pairs_per_clip: 2,
        seed: 1,
        max_uncertain: 0.1,
        dry_run: true,
        split_seed: None,
    };
    fusion::calibrate(&opts).unwrap();
    assert_eq!(std::fs::read(&files.voice).unwrap(), before);
    assert!(!files.fusion.exists());

    // Without fusion.toml, eval uses the device's defaults.
    let out = fusion::evaluate(&FusionEvalOptions {
        face_data: faces.clone(),
        voice_data: voice.clone(),
        files: files.clone(),
        pairs_per_clip: 2,
        seed: 3,
        json: None,
        split_seed: None,
    })
    .unwrap();
    assert_eq!(
        out.config,
        emoedge_shared::fusion::FusionConfig::default(),
        "defaults with the headers' temperatures (1)"
    );

    // A missing model names the file; swapped models are refused.
    let missing = ModelFiles {
        voice: dir.path().join("models/nope.emo"),
        ..files.clone()
    };
    let e = format!(
        "{:#}",
        fusion::calibrate(&CalibrateOptions {
            files: missing,
            ..opts.clone()
        })
        .unwrap_err()
    );
    assert!(e.contains("nope.emo"), "{e}");
    let swapped = ModelFiles {
        face: files.voice.clone(),
        voice: files.face.clone(),
        ..files
    };
    let e = format!(
        "{:#}",
        fusion::calibrate(&CalibrateOptions {
            files: swapped,
            ..opts
        })
        .unwrap_err()
    );
    assert!(e.contains("not a face classifier"), "{e}");
}

#[test]
fn the_voice_split_seed_is_the_training_seed() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_model(dir.path(), "plain.emo", &voice_model());
    let mut trained = voice_model();
    trained.header.metadata.push(("seed".into(), "42".into()));
    let trained = write_model(dir.path(), "trained.emo", &trained);
    let load = |p: &Path| emoedge_trainer::eval::Classifier::load(p).unwrap();
    // No seed recorded: the split's default; recorded: the training seed
    // (`voice train --seed`, which picks the TESS words); --split-seed wins.
    assert_eq!(fusion::voice_split(&load(&plain), None).seed, 7);
    assert_eq!(fusion::voice_split(&load(&trained), None).seed, 42);
    assert_eq!(fusion::voice_split(&load(&trained), Some(3)).seed, 3);
    let split = fusion::voice_split(&load(&trained), None);
    assert_eq!(split.ravdess_actors, vec![17, 18, 19, 20]);
}
