//! Voice training data in memory: training clips as trimmed 16 kHz samples
//! (augmented and turned into a log-mel window on the fly, with the shared
//! front end), validation clips as their fixed model windows (exactly what
//! `emoedge-train eval` and the device compute).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use emoedge_shared::audio::{
    clip_features, extract_window, logmel_frames, speech_frames, window_features, VadConfig,
    VoicePreprocessing,
};
use emoedge_shared::io::load_audio_16k;
use emoedge_shared::NUM_CLASSES;
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::augment::{augment_wave, spec_augment};
use super::corpora::{scan, Corpus, VoiceFile};
use super::split::SplitConfig;
use crate::data::DataError;
use crate::train::{TrainConfig, TrainTask};

/// A training clip: its speech, trimmed by the VAD.
#[derive(Clone, Debug)]
pub struct TrainClip {
    /// Class index.
    pub label: u8,
    /// Corpus.
    pub corpus: Corpus,
    /// Trimmed samples at the front end's sample rate.
    pub samples: Vec<f32>,
}

/// Options of [`load_voice_data`].
#[derive(Clone, Debug)]
pub struct VoiceDataOptions {
    /// Front end and window.
    pub pre: VoicePreprocessing,
    /// Voice activity detector for trimming.
    pub vad: VadConfig,
    /// Validation split.
    pub split: SplitConfig,
    /// Times each training clip of a corpus appears per epoch (others 1),
    /// so the small corpora are not drowned by TESS.
    pub repeats: Vec<(Corpus, usize)>,
    /// Keep at most this many clips per class and split (tests, quick runs).
    pub max_per_class: Option<usize>,
}

impl Default for VoiceDataOptions {
    fn default() -> Self {
        VoiceDataOptions {
            pre: VoicePreprocessing::default(),
            vad: VadConfig::default(),
            split: SplitConfig::default(),
            repeats: vec![
                (Corpus::Ravdess, 2),
                (Corpus::Savee, 2),
                (Corpus::CremaD, 1),
            ],
            max_per_class: None,
        }
    }
}

/// Voice training and validation data.
#[derive(Clone, Debug)]
pub struct VoiceData {
    /// Front end and window.
    pub pre: VoicePreprocessing,
    /// Training clips.
    pub train: Vec<TrainClip>,
    /// Training example → clip (clips of small corpora appear repeatedly).
    pub train_index: Vec<usize>,
    train_labels: Vec<u8>,
    /// Validation clips.
    pub val_files: Vec<VoiceFile>,
    val_labels: Vec<u8>,
    val_inputs: Vec<f32>,
    val_groups: Vec<usize>,
    /// Files that could not be decoded, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Audio files whose label could not be told from their name or folder.
    pub unlabelled: Vec<PathBuf>,
    /// Where the data came from.
    pub source: PathBuf,
}

/// A file that could not be read, with the reason.
type Failed = (PathBuf, String);

fn limit(files: Vec<VoiceFile>, max: Option<usize>) -> Vec<VoiceFile> {
    let Some(max) = max else { return files };
    let mut seen = [0usize; NUM_CLASSES];
    files
        .into_iter()
        .filter(|f| {
            let c = &mut seen[f.label.index()];
            *c += 1;
            *c <= max
        })
        .collect()
}

/// Reads every labelled clip under `dir` (see [`super::corpora`]), splits
/// by speaker and prepares both splits. Undecodable files are skipped and
/// listed in [`VoiceData::skipped`].
pub fn load_voice_data(dir: &Path, opts: &VoiceDataOptions) -> Result<VoiceData, DataError> {
    opts.pre.validate().map_err(|e| DataError::Speech {
        path: dir.display().to_string(),
        reason: format!("invalid voice preprocessing: {e}"),
    })?;
    let (files, unlabelled) = scan(dir).map_err(|e| DataError::Speech {
        path: dir.display().to_string(),
        reason: format!("cannot list it: {e}"),
    })?;
    let (train_files, val_files) = opts.split.split(files);
    let train_files = limit(train_files, opts.max_per_class);
    let val_files = limit(val_files, opts.max_per_class);
    let pre = opts.pre;
    let vad = opts.vad;

    let train_results: Vec<Result<TrainClip, Failed>> = train_files
        .par_iter()
        .map(|f| {
            let audio = load_audio_16k(&f.path).map_err(|e| (f.path.clone(), e.to_string()))?;
            let (_, span, total) = speech_frames(&pre, &vad, &audio.samples)
                .map_err(|e| (f.path.clone(), e.to_string()))?;
            let hop = usize::from(pre.logmel.hop_length);
            let win = usize::from(pre.logmel.win_length);
            let (a, b) = span.unwrap_or((0, total));
            let from = (a * hop).min(audio.samples.len());
            let to = ((b.max(1) - 1) * hop + win)
                .min(audio.samples.len())
                .max(from);
            Ok(TrainClip {
                label: f.label.index() as u8,
                corpus: f.corpus,
                samples: audio.samples[from..to].to_vec(),
            })
        })
        .collect();
    let val_results: Vec<Result<(Vec<f32>, usize), Failed>> = val_files
        .par_iter()
        .map(|f| {
            let audio = load_audio_16k(&f.path).map_err(|e| (f.path.clone(), e.to_string()))?;
            let feats = clip_features(&pre, &vad, &audio.samples)
                .map_err(|e| (f.path.clone(), e.to_string()))?;
            Ok((feats.windows, feats.count))
        })
        .collect();

    let mut skipped = Vec::new();
    let mut train = Vec::new();
    for r in train_results {
        match r {
            Ok(c) => train.push(c),
            Err(e) => skipped.push(e),
        }
    }
    let mut kept_val = Vec::new();
    let (mut val_inputs, mut val_groups, mut val_labels) = (Vec::new(), Vec::new(), Vec::new());
    for (f, r) in val_files.into_iter().zip(val_results) {
        match r {
            Ok((windows, count)) => {
                val_inputs.extend(windows);
                val_groups.extend(std::iter::repeat_n(kept_val.len(), count));
                val_labels.push(f.label.index() as u8);
                kept_val.push(f);
            }
            Err(e) => skipped.push(e),
        }
    }
    if train.is_empty() {
        return Err(DataError::EmptySplit("training"));
    }
    if kept_val.is_empty() {
        return Err(DataError::EmptySplit("validation"));
    }
    let mut train_index = Vec::new();
    for (i, c) in train.iter().enumerate() {
        let reps = opts
            .repeats
            .iter()
            .find(|(corpus, _)| *corpus == c.corpus)
            .map_or(1, |(_, r)| (*r).max(1));
        train_index.extend(std::iter::repeat_n(i, reps));
    }
    let train_labels = train_index.iter().map(|&i| train[i].label).collect();
    Ok(VoiceData {
        pre,
        train,
        train_index,
        train_labels,
        val_files: kept_val,
        val_labels,
        val_inputs,
        val_groups,
        skipped,
        unlabelled,
        source: dir.to_path_buf(),
    })
}

impl VoiceData {
    /// One warning line naming the skipped files (the first ten), or `None`.
    pub fn skipped_warning(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let list: Vec<String> = self
            .skipped
            .iter()
            .take(10)
            .map(|(p, why)| format!("{} ({why})", p.display()))
            .collect();
        Some(format!(
            "warning: skipped {} unreadable audio file(s): {}{}",
            self.skipped.len(),
            list.join("; "),
            if self.skipped.len() > 10 { "; ..." } else { "" }
        ))
    }

    /// Validation accuracy per corpus: (corpus, correct, total).
    pub fn corpus_accuracy(&self, predictions: &[usize]) -> Vec<(Corpus, usize, usize)> {
        let mut by: BTreeMap<Corpus, (usize, usize)> = BTreeMap::new();
        for ((f, &p), &l) in self.val_files.iter().zip(predictions).zip(&self.val_labels) {
            let e = by.entry(f.corpus).or_default();
            e.0 += usize::from(p == usize::from(l));
            e.1 += 1;
        }
        by.into_iter().map(|(c, (k, n))| (c, k, n)).collect()
    }

    /// Samples one training window covers.
    pub fn crop_len(&self) -> usize {
        (usize::from(self.pre.frames) - 1) * usize::from(self.pre.logmel.hop_length)
            + usize::from(self.pre.logmel.win_length)
    }

    /// The normalised window of training clip `clip` after augmentation.
    pub fn train_window(&self, clip: usize, cfg: &TrainConfig, rng: &mut StdRng, dst: &mut [f32]) {
        let c = &self.train[clip];
        let wave = augment_wave(&c.samples, self.crop_len(), &cfg.voice_augment, rng);
        let n = self.pre.window_len();
        let mut raw = vec![0f32; n];
        let ok = logmel_frames(&self.pre.logmel, &wave)
            .map_err(|e| e.to_string())
            .and_then(|frames| {
                extract_window(&self.pre, &frames, 0, &mut raw).map_err(|e| e.to_string())?;
                window_features(&self.pre, &raw, dst).map_err(|e| e.to_string())
            });
        if ok.is_err() {
            // Unreachable with a validated configuration; train on silence
            // rather than abort a long run.
            dst.fill(0.0);
            return;
        }
        spec_augment(
            dst,
            usize::from(self.pre.frames),
            usize::from(self.pre.logmel.n_mels),
            &cfg.voice_augment,
            rng,
        );
    }
}

impl TrainTask for VoiceData {
    fn input_dims(&self) -> [usize; 3] {
        [
            1,
            usize::from(self.pre.frames),
            usize::from(self.pre.logmel.n_mels),
        ]
    }

    fn train_labels(&self) -> &[u8] {
        &self.train_labels
    }

    fn train_example(&self, i: usize, cfg: &TrainConfig, rng: &mut StdRng, dst: &mut [f32]) {
        self.train_window(self.train_index[i], cfg, rng, dst);
    }

    fn val_inputs(&self) -> &[f32] {
        &self.val_inputs
    }

    fn val_labels(&self) -> &[u8] {
        &self.val_labels
    }

    fn val_groups(&self) -> Option<&[usize]> {
        Some(&self.val_groups)
    }

    fn val_item_weights(&self) -> Option<Vec<f64>> {
        // Every corpus counts equally in the validation accuracy that picks
        // the best checkpoint (TESS would dominate otherwise).
        let mut per: BTreeMap<Corpus, usize> = BTreeMap::new();
        for f in &self.val_files {
            *per.entry(f.corpus).or_default() += 1;
        }
        let k = per.len() as f64;
        Some(
            self.val_files
                .iter()
                .map(|f| 1.0 / (k * per[&f.corpus] as f64))
                .collect(),
        )
    }

    fn describe(&self) -> String {
        let mut train: BTreeMap<Corpus, usize> = BTreeMap::new();
        for c in &self.train {
            *train.entry(c.corpus).or_default() += 1;
        }
        let mut val: BTreeMap<Corpus, usize> = BTreeMap::new();
        for f in &self.val_files {
            *val.entry(f.corpus).or_default() += 1;
        }
        let list = |m: &BTreeMap<Corpus, usize>| {
            m.iter()
                .map(|(c, n)| format!("{} {n}", c.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{}: train {} clips ({}; {} examples per epoch), val {} clips ({}; {} windows), speaker-independent; class counts train {:?}",
            self.source.display(),
            self.train.len(),
            list(&train),
            self.train_index.len(),
            self.val_files.len(),
            list(&val),
            self.val_groups.len(),
            self.train_class_counts(),
        )
    }

    fn val_report(&self, predictions: &[usize]) -> Option<String> {
        let parts: Vec<String> = self
            .corpus_accuracy(predictions)
            .iter()
            .map(|(c, k, n)| {
                format!(
                    "{} {:.4} ({k}/{n})",
                    c.name(),
                    *k as f64 / (*n).max(1) as f64
                )
            })
            .collect();
        Some(format!("val accuracy per corpus: {}", parts.join(", ")))
    }
}
