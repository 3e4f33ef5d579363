//! Voice model end to end on generated speech-like clips named like
//! RAVDESS: loading (with a corrupt file and a 48 kHz file), the
//! speaker-independent split, a short training run that must learn, resume
//! state, and the int8 export measured through the shared runtime.

use std::path::Path;

use emoedge_shared::format::{ModelKind, Preprocessing};
use emoedge_shared::runtime::Model;
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{self, TrainConfig, TrainOptions, TrainTask};
use emoedge_trainer::voice::{
    export_voice_checkpoint, load_voice_data, quantize_voice_file, Corpus, VoiceAugmentConfig,
    VoiceDataOptions,
};
use rand::{Rng, SeedableRng};

/// A vowel-like clip: 0.3 s silence, `secs` of a harmonic tone whose pitch
/// and formant depend on the class, 0.3 s silence.
fn clip(class: usize, rate: u32, secs: f32, rng: &mut impl Rng) -> Vec<i16> {
    let f0 = 110.0 * 1.22f32.powi(class as i32) * rng.random_range(0.97..1.03);
    let formant = 500.0 + 350.0 * class as f32;
    let n_sil = (0.3 * rate as f32) as usize;
    let n = (secs * rate as f32) as usize;
    let mut out = vec![0i16; n_sil];
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let env = (std::f32::consts::PI * i as f32 / n as f32).sin();
        let mut v = 0.0;
        for h in 1..=12 {
            let f = f0 * h as f32;
            let gain = (-((f - formant) / 400.0).powi(2)).exp() + 0.1 / h as f32;
            v += gain * (2.0 * std::f32::consts::PI * f * t).sin();
        }
        v = 0.25 * env * v + rng.random_range(-0.003..0.003);
        out.push((v.clamp(-1.0, 1.0) * 32767.0) as i16);
    }
    out.extend(std::iter::repeat_n(0i16, n_sil));
    out
}

fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// RAVDESS-named clips of actors 1..=4 (actor 4 validates), all 7 classes
/// (emotion codes 01 and 03-08), plus a corrupt file.
fn make_corpus(dir: &Path) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let codes = ["05", "07", "06", "03", "01", "04", "08"]; // our class order
    for actor in 1..=4u32 {
        for (class, code) in codes.iter().enumerate() {
            for rep in 1..=3u32 {
                let rate = if actor == 2 && rep == 1 {
                    48_000
                } else {
                    16_000
                };
                let samples = clip(class, rate, 1.0 + 0.2 * rep as f32, &mut rng);
                let name = format!("Actor_{actor:02}/03-01-{code}-01-01-{rep:02}-{actor:02}.wav");
                write_wav(&dir.join(name), rate, &samples);
            }
        }
    }
    std::fs::write(
        dir.join("Actor_01/03-01-05-02-02-02-01.wav"),
        b"RIFF....not audio",
    )
    .unwrap();
}

fn options() -> VoiceDataOptions {
    let mut o = VoiceDataOptions::default();
    o.split.ravdess_actors = vec![4];
    o
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        model: FaceNetConfig::voice_preset("tiny", 200, 64).unwrap(),
        epochs,
        batch_size: 16,
        lr: 4e-3,
        weight_decay: 1e-4,
        warmup_epochs: 0.5,
        patience: 100,
        voice_augment: VoiceAugmentConfig {
            noise_prob: 0.3,
            snr_db: [20.0, 35.0],
            ..VoiceAugmentConfig::default()
        },
        seed: 5,
        ..TrainConfig::default()
    }
}

#[test]
fn voice_model_trains_exports_and_splits_by_speaker() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("speech");
    make_corpus(&data_dir);
    let data = load_voice_data(&data_dir, &options()).expect("data loads");

    // The corrupt file is skipped and named; the 48 kHz file is resampled.
    assert_eq!(data.skipped.len(), 1, "{:?}", data.skipped);
    assert!(data.skipped[0].0.ends_with("03-01-05-02-02-02-01.wav"));
    assert!(data
        .skipped_warning()
        .unwrap()
        .contains("03-01-05-02-02-02-01.wav"));
    assert_eq!(data.train.len(), 3 * 7 * 3);
    assert_eq!(data.val_files.len(), 7 * 3);
    assert!(data
        .val_files
        .iter()
        .all(|f| f.speaker.as_deref() == Some("04") && f.corpus == Corpus::Ravdess));
    // RAVDESS clips appear twice per epoch.
    assert_eq!(data.train_index.len(), 2 * data.train.len());
    // Trimming removed most of the 0.6 s of silence around each clip.
    let c = &data.train[0];
    assert!(
        c.samples.len() < (1.2 * 16_000.0 + 0.45 * 16_000.0) as usize,
        "{}",
        c.samples.len()
    );
    assert_eq!(data.input_dims(), [1, 200, 64]);

    let out = tmp.path().join("run");
    let opts = TrainOptions {
        out: out.clone(),
        quiet: true,
        data_dir: Some(data_dir.clone()),
        ..TrainOptions::default()
    };
    let state = train::train(&data, config(8), &opts).expect("training runs");
    assert_eq!(state.epoch, 8);
    assert!(
        state.best_val_acc > 0.6,
        "voice model did not learn: best val acc {:.3} (chance 0.14)",
        state.best_val_acc
    );

    let model_path = out.join("voice.emo");
    let e = export_voice_checkpoint(&out.join(train::BEST_DIR), Some(&data), 40, &model_path)
        .expect("export");
    let (f32_acc, int8_acc) = (e.f32_acc.unwrap(), e.int8_acc.unwrap());
    assert!(
        (f32_acc.overall - state.best_val_acc).abs() < 0.1,
        "runtime f32 {} vs burn {}",
        f32_acc.overall,
        state.best_val_acc
    );
    assert!(
        int8_acc.overall >= f32_acc.overall - 0.15,
        "int8 {} f32 {}",
        int8_acc.overall,
        f32_acc.overall
    );
    let model = Model::load(&model_path).expect("exported model loads");
    assert_eq!(model.header().kind, ModelKind::VoiceClassifier);
    assert_eq!(model.input_shape(), &[1, 1, 200, 64]);
    assert!(matches!(
        model.header().preprocessing,
        Preprocessing::Voice(_)
    ));
    assert!(model.int8_layers() > 0);
    let f32_path = e.f32_model.unwrap();
    assert!(f32_path.exists());

    // An ensemble of the model with itself: one file, the same clip
    // predictions in f32 (the summed logits have the same argmax).
    let f32_file = emoedge_shared::format::decode(&std::fs::read(&f32_path).unwrap()).unwrap();
    let merged = emoedge_trainer::ensemble::ensemble(
        &[("a".into(), f32_file.clone()), ("b".into(), f32_file)],
        false,
    )
    .expect("voice models merge");
    assert_eq!(merged.header.kind, ModelKind::VoiceClassifier);
    let ens_path = tmp.path().join("ens").join("voice.emo");
    std::fs::create_dir_all(ens_path.parent().unwrap()).unwrap();
    let ens = quantize_voice_file(merged, &data, 40, 5, &ens_path).expect("ensemble export");
    assert_eq!(ens.f32_acc.unwrap().predictions, f32_acc.predictions);
    let ens_model = Model::load(&ens_path).expect("ensemble loads");
    assert!(ens_model.int8_layers() > 2 * model.int8_layers() - 1);
}
