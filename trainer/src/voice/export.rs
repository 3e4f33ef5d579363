//! Exporting a voice checkpoint: f32 file, int8 calibrated on un-augmented
//! training windows, both measured per clip (probabilities averaged over
//! a clip's windows) on the validation split through the shared runtime.

use std::path::{Path, PathBuf};

use emoedge_shared::format::{ModelFile, ModelKind, Preprocessing};
use emoedge_shared::quantize::{self, QuantizeOptions};
use emoedge_shared::runtime::Model;
use emoedge_shared::NUM_CLASSES;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::corpora::Corpus;
use super::data::VoiceData;
use super::VoiceAugmentConfig;
use crate::export::{argmax, classifier_file, utc_date, write_model, ExportError};
use crate::model::FaceNet;
use crate::train::{
    average_groups, checkpoint, compute_device, softmax_rows, TrainConfig, TrainError,
};

/// Per-clip validation result of a model file.
#[derive(Clone, Debug)]
pub struct ClipAccuracy {
    /// Accuracy over all validation clips.
    pub overall: f64,
    /// Mean of the per-corpus accuracies.
    pub corpus_mean: f64,
    /// (corpus, correct, clips).
    pub per_corpus: Vec<(Corpus, usize, usize)>,
    /// Predicted class per clip.
    pub predictions: Vec<usize>,
}

/// Per-clip accuracy of `file` on the validation split of `data`, through
/// the shared tract runtime.
pub fn runtime_clip_accuracy(
    file: &ModelFile,
    data: &VoiceData,
) -> Result<ClipAccuracy, ExportError> {
    use crate::train::TrainTask;
    let model = Model::from_model(file).map_err(|e| ExportError::Runtime(e.to_string()))?;
    let len = data.input_len();
    let mut logits = Vec::with_capacity(data.val_inputs().len() / len * NUM_CLASSES);
    for w in data.val_inputs().chunks_exact(len) {
        logits.extend(
            model
                .run(w)
                .map_err(|e| ExportError::Runtime(e.to_string()))?,
        );
    }
    let labels = data.val_labels();
    let probs = average_groups(
        &softmax_rows(&logits),
        data.val_groups().unwrap_or(&[]),
        labels.len(),
    );
    let predictions: Vec<usize> = probs.chunks_exact(NUM_CLASSES).map(argmax).collect();
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    let per_corpus = data.corpus_accuracy(&predictions);
    let corpus_mean = per_corpus
        .iter()
        .map(|(_, k, n)| *k as f64 / (*n).max(1) as f64)
        .sum::<f64>()
        / per_corpus.len().max(1) as f64;
    Ok(ClipAccuracy {
        overall: correct as f64 / labels.len().max(1) as f64,
        corpus_mean,
        per_corpus,
        predictions,
    })
}

/// `count` un-augmented windows of training clips (seeded choice).
pub fn calibration_windows(data: &VoiceData, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut idx: Vec<usize> = (0..data.train.len()).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    idx.truncate(count);
    let cfg = TrainConfig {
        voice_augment: VoiceAugmentConfig::none(),
        ..TrainConfig::default()
    };
    let n = data.pre.window_len();
    idx.into_iter()
        .map(|i| {
            let mut w = vec![0f32; n];
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ i as u64);
            data.train_window(i, &cfg, &mut rng, &mut w);
            w
        })
        .collect()
}

/// What [`export_voice_checkpoint`] wrote and measured.
#[derive(Clone, Debug)]
pub struct VoiceExport {
    /// The device model (int8, or f32 without data).
    pub model: PathBuf,
    /// The f32 twin, when `model` is int8.
    pub f32_model: Option<PathBuf>,
    /// f32 validation accuracy.
    pub f32_acc: Option<ClipAccuracy>,
    /// int8 validation accuracy.
    pub int8_acc: Option<ClipAccuracy>,
}

fn acc_meta(prefix: &str, a: &ClipAccuracy, meta: &mut Vec<(String, String)>) {
    meta.push((format!("val_acc_{prefix}"), format!("{:.4}", a.overall)));
    for (c, k, n) in &a.per_corpus {
        meta.push((
            format!("val_acc_{prefix}_{}", c.name()),
            format!("{:.4} ({k}/{n})", *k as f64 / (*n).max(1) as f64),
        ));
    }
}

/// Exports the voice checkpoint `ckpt` to `out` (int8 with data, its f32
/// twin as `<stem>.f32.emo`; f32 only without data).
pub fn export_voice_checkpoint(
    ckpt: &Path,
    data: Option<&VoiceData>,
    calib_windows: usize,
    out: &Path,
) -> Result<VoiceExport, TrainError> {
    let ex = |e: ExportError| TrainError::Export(e.to_string());
    let dir = checkpoint::checkpoint_dir(ckpt);
    let state = checkpoint::load_state(&dir)?;
    let model: FaceNet = checkpoint::load_model(&dir, &state, &compute_device())?;
    let cfg = &state.config;
    let pre = data.map(|d| d.pre).unwrap_or_default();
    if cfg.model.input_hw != [usize::from(pre.frames), usize::from(pre.logmel.n_mels)] {
        return Err(TrainError::Config(format!(
            "checkpoint {} expects {:?} windows, the front end gives {} frames x {} bands",
            dir.display(),
            cfg.model.input_hw,
            pre.frames,
            pre.logmel.n_mels
        )));
    }
    let meta: Vec<(String, String)> = vec![
        ("date".into(), utc_date()),
        ("trainer".into(), format!("emoedge-trainer {}", env!("CARGO_PKG_VERSION"))),
        ("architecture".into(), format!("{:?}", cfg.model)),
        ("params".into(), burn::module::Module::num_params(&model).to_string()),
        ("macs".into(), cfg.model.macs().to_string()),
        ("epochs".into(), state.epoch.to_string()),
        ("best_epoch".into(), state.best_epoch.to_string()),
        ("seed".into(), cfg.seed.to_string()),
        ("data".into(), state.data.clone()),
        ("vad".into(), "trimmed with emoedge_shared::audio::VadConfig::default()".into()),
        (
            "data_license".into(),
            "RAVDESS CC BY-NC-SA 4.0; TESS CC BY-NC-ND 4.0; SAVEE research use; audio not redistributed".into(),
        ),
    ];
    let shape = vec![1, 1, u32::from(pre.frames), u32::from(pre.logmel.n_mels)];
    let f32_file = classifier_file(
        &model,
        ModelKind::VoiceClassifier,
        "voice-cnn",
        shape.clone(),
        Preprocessing::Voice(pre),
        meta.clone(),
    )
    .map_err(ex)?;
    let Some(data) = data else {
        write_model(out, &f32_file).map_err(ex)?;
        return Ok(VoiceExport {
            model: out.to_path_buf(),
            f32_model: None,
            f32_acc: None,
            int8_acc: None,
        });
    };
    quantize_voice_file(f32_file, data, calib_windows, cfg.seed, out).map_err(ex)
}

/// Measures the f32 voice model `f32_file` on the validation split,
/// quantises it to int8 with `calib_windows` training windows (seeded
/// choice), measures the int8 model and writes both: int8 to `out`, f32
/// to `<stem>.f32.emo`, each with its accuracies in its metadata.
pub fn quantize_voice_file(
    mut f32_file: ModelFile,
    data: &VoiceData,
    calib_windows: usize,
    seed: u64,
    out: &Path,
) -> Result<VoiceExport, ExportError> {
    let f32_acc = runtime_clip_accuracy(&f32_file, data)?;
    acc_meta("f32", &f32_acc, &mut f32_file.header.metadata);
    let calib = calibration_windows(data, calib_windows, seed);
    let calib_refs: Vec<&[f32]> = calib.iter().map(Vec::as_slice).collect();
    let calibration =
        crate::export::calibrate_parallel(&f32_file, &calib_refs).map_err(ExportError::Quantize)?;
    let mut int8 = quantize::quantize(&f32_file, &calibration, &QuantizeOptions::default())
        .map_err(ExportError::Quantize)?;
    let int8_acc = runtime_clip_accuracy(&int8, data)?;
    let mut meta = Vec::new();
    acc_meta("int8", &int8_acc, &mut meta);
    int8.header.metadata.extend(meta);
    int8.header
        .metadata
        .push(("calibration_windows".into(), calib.len().to_string()));
    int8.validate()?;
    let f32_path = out.with_extension("f32.emo");
    write_model(&f32_path, &f32_file)?;
    write_model(out, &int8)?;
    Ok(VoiceExport {
        model: out.to_path_buf(),
        f32_model: Some(f32_path),
        f32_acc: Some(f32_acc),
        int8_acc: Some(int8_acc),
    })
}
