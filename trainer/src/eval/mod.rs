//! `emoedge-train eval`: accuracy of a model file on a class-folder tree.
//!
//! The model file is loaded with [`emoedge_shared::runtime::Model::load`],
//! the exact bytes and inference path of the device. Its header decides the
//! path:
//!
//! - face classifier ([`face`]): every image is decoded with the shared
//!   loader and resized to the model input with the header's face
//!   preprocessing, exactly as in training;
//! - voice classifier ([`voice`]): every clip is decoded (WAV, FLAC, Ogg
//!   Vorbis, any rate), resampled to the model's rate, trimmed and cut into
//!   normalised windows by [`emoedge_shared::audio::clip_features`]; the
//!   class probabilities are averaged over the windows.
//!
//! A face detector is refused as the model; with `--detect FILE`
//! ([`EvalOptions::detect`]) it runs first on every image (full frames of
//! any size) and the face model sees the crop of the best face
//! ([`face::detected_face_input`]); an image without a face counts as a
//! wrong answer of its class, and the metrics carry `detected`, the
//! fraction of images with a face. Class probabilities are the model output
//! when the graph ends in a softmax, else the softmax of the logits divided
//! by the header's temperature.
//!
//! The data directory holds `<class>/<files>`; class folders are named by
//! the labels or a synonym in any case ([`Emotion::parse`]), other folders
//! are skipped with a warning, files of other types are ignored, unreadable
//! (and, for faces, blank) files are skipped and named in one warning.
//! Files are classified in parallel with rayon.
//!
//! [`compute_metrics`] turns the confusion matrix into per-class precision,
//! recall, F1 and support, accuracy and macro-F1; [`report`] prints the
//! table and writes the JSON and the confusion-matrix PNG.

pub mod face;
pub mod report;
pub mod voice;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use emoedge_shared::format::{self, ModelKind, Op, Preprocessing};
use emoedge_shared::runtime::{Model, RuntimeError};
use emoedge_shared::{Emotion, NUM_CLASSES};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Skipped;

/// Confusion matrix: `[true class][predicted class]` counts in label order.
pub type Confusion = [[u64; NUM_CLASSES]; NUM_CLASSES];

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Correct predictions of the class over all predictions of it (0 when
    /// it was never predicted).
    pub precision: f64,
    /// Correct predictions of the class over its samples (0 without samples).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of samples of the class.
    pub support: u64,
}

/// Everything eval measures; serialised as the `--json` file and
/// `metrics.json` of `--report`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Fraction of samples whose predicted class is the true class.
    pub accuracy: f64,
    /// Mean F1 over the classes with at least one sample (support > 0).
    pub macro_f1: f64,
    /// Number of evaluated samples.
    pub n: u64,
    /// The class names in label order.
    pub labels: Vec<String>,
    /// Metrics per class name (every label, also those without samples).
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// Confusion matrix, rows true class, columns predicted class, in label order.
    pub confusion: Vec<Vec<u64>>,
    /// With a face detector: fraction of the images with a detected face
    /// (the others count as wrong in accuracy, recall and support).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<f64>,
    /// With a face detector: images without a detected face, per class in
    /// label order (not in `confusion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_face: Option<Vec<u64>>,
}

impl EvalMetrics {
    /// Number of classes with support > 0 (those macro-F1 averages over).
    pub fn classes_present(&self) -> usize {
        self.per_class.values().filter(|m| m.support > 0).count()
    }
}

/// Builds a confusion matrix from `(true, predicted)` class indices.
pub fn confusion_from(pairs: impl IntoIterator<Item = (usize, usize)>) -> Confusion {
    let mut c = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    for (t, p) in pairs {
        c[t][p] += 1;
    }
    c
}

/// Per-class precision, recall, F1 and support, accuracy and macro-F1 of a
/// confusion matrix. Precision of a never-predicted class and recall of a
/// class without samples are 0; macro-F1 averages F1 over the classes with
/// support > 0 only (0 when there is no sample at all).
pub fn compute_metrics(confusion: &Confusion) -> EvalMetrics {
    let n: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut per_class = BTreeMap::new();
    let mut f1_sum = 0.0;
    let mut present = 0usize;
    for (c, name) in Emotion::NAMES.iter().enumerate() {
        let tp = confusion[c][c];
        let support: u64 = confusion[c].iter().sum();
        let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        if support > 0 {
            f1_sum += f1;
            present += 1;
        }
        per_class.insert(
            name.to_string(),
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            },
        );
    }
    EvalMetrics {
        accuracy: ratio(correct, n),
        macro_f1: if present == 0 {
            0.0
        } else {
            f1_sum / present as f64
        },
        n,
        labels: Emotion::NAMES.iter().map(|s| s.to_string()).collect(),
        per_class,
        confusion: confusion.iter().map(|row| row.to_vec()).collect(),
        detected: None,
        no_face: None,
    }
}

/// Metrics of a confusion matrix of the images with a detected face plus
/// `no_face[c]` images of class `c` without one, counted as wrong: they
/// add to the support and lower recall and accuracy (precision, which is
/// about predictions, is unchanged).
pub fn compute_metrics_with_misses(
    confusion: &Confusion,
    no_face: &[u64; NUM_CLASSES],
) -> EvalMetrics {
    let mut m = compute_metrics(confusion);
    let missed: u64 = no_face.iter().sum();
    let correct: u64 = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
    let total = m.n + missed;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (mut f1_sum, mut present) = (0.0, 0usize);
    for (c, name) in Emotion::NAMES.iter().enumerate() {
        let cm = m.per_class.get_mut(*name).expect("every label has metrics");
        cm.support += no_face[c];
        cm.recall = ratio(confusion[c][c], cm.support);
        cm.f1 = if cm.precision + cm.recall > 0.0 {
            2.0 * cm.precision * cm.recall / (cm.precision + cm.recall)
        } else {
            0.0
        };
        if cm.support > 0 {
            f1_sum += cm.f1;
            present += 1;
        }
    }
    m.accuracy = ratio(correct, total);
    m.macro_f1 = if present == 0 {
        0.0
    } else {
        f1_sum / present as f64
    };
    m.n = total;
    m.detected = Some(ratio(total - missed, total));
    m.no_face = Some(no_face.to_vec());
    m
}

/// Why eval could not run. Each message names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model file could not be loaded by the runtime.
    #[error("{0}")]
    Model(#[from] RuntimeError),
    /// The model file is not a classifier.
    #[error("model file {path} is a {}, not a face or voice classifier; eval measures classifiers (models/face.emo, models/voice.emo)", kind.name())]
    NotClassifier {
        /// The model file.
        path: PathBuf,
        /// Its kind.
        kind: ModelKind,
    },
    /// The model's labels or input do not fit what eval feeds it.
    #[error("model file {path}: {reason}")]
    Incompatible {
        /// The model file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The data directory could not be listed.
    #[error("cannot read data directory {path}: {source}; --data must be a directory of <class>/<files> folders")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Nothing could be evaluated.
    #[error("no {what} to evaluate in {path}{detail}; --data must hold class folders (angry, disgust, fear, happy, neutral, sad, surprise or a synonym, any case) of {what}")]
    Empty {
        /// The data directory.
        path: PathBuf,
        /// "images" or "audio files".
        what: &'static str,
        /// Why (skipped files or unknown folders), starting with "; ".
        detail: String,
    },
    /// Writing an output failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// How the model's first output becomes class probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutputKind {
    /// The graph ends in a softmax: the output already is probabilities.
    Probabilities,
    /// Logits: softmax of `logits / temperature`.
    Logits {
        /// The header's calibration temperature.
        temperature: f32,
    },
}

impl OutputKind {
    /// What the first output of `file` holds: probabilities when it is
    /// produced by a softmax (possibly followed by flatten or reshape).
    pub fn of(file: &format::ModelFile) -> OutputKind {
        let mut value = file.graph.outputs.first().copied().unwrap_or(0);
        while value > 0 {
            let node = &file.graph.nodes[value as usize - 1];
            match &node.op {
                Op::Softmax { .. } => return OutputKind::Probabilities,
                Op::Flatten | Op::Reshape { .. } if node.inputs.len() == 1 => {
                    value = node.inputs[0];
                }
                _ => break,
            }
        }
        OutputKind::Logits {
            temperature: file.header.temperature,
        }
    }
}

/// Softmax of `logits / temperature` (numerically stable).
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits
        .iter()
        .map(|&l| ((l - max) / temperature).exp())
        .collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

/// A classifier model file ready for eval: the runtime model, what its
/// output holds and the class of each output.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// The runtime model (the device's inference path).
    pub model: Model,
    /// What the first output holds.
    pub output: OutputKind,
    /// Emotion class of every model output, from the header's labels.
    pub classes: [Emotion; NUM_CLASSES],
    /// The model file.
    pub path: PathBuf,
}

impl Classifier {
    /// Loads a face or voice classifier; refuses detectors and models whose
    /// labels are not the seven emotions.
    pub fn load(path: &Path) -> Result<Classifier, EvalError> {
        let model = Model::load(path)?;
        let header = model.header();
        if !matches!(
            header.kind,
            ModelKind::FaceClassifier | ModelKind::VoiceClassifier
        ) {
            return Err(EvalError::NotClassifier {
                path: path.to_path_buf(),
                kind: header.kind,
            });
        }
        let incompatible = |reason: String| EvalError::Incompatible {
            path: path.to_path_buf(),
            reason,
        };
        let mut classes = [Emotion::Angry; NUM_CLASSES];
        let mut seen = [false; NUM_CLASSES];
        if header.labels.len() != NUM_CLASSES {
            return Err(incompatible(format!(
                "it has {} labels; eval needs the {NUM_CLASSES} emotions",
                header.labels.len()
            )));
        }
        for (i, label) in header.labels.iter().enumerate() {
            let e = Emotion::parse(label)
                .filter(|e| !seen[e.index()])
                .ok_or_else(|| {
                    incompatible(format!(
                        "label `{label}` is not one of the {NUM_CLASSES} emotions or repeats one"
                    ))
                })?;
            seen[e.index()] = true;
            classes[i] = e;
        }
        // The graph itself, to see whether it ends in a softmax (the model
        // above already validated these bytes).
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = format::decode(&bytes).map_err(|source| RuntimeError::Format {
            path: Some(path.to_path_buf()),
            source,
        })?;
        Ok(Classifier {
            output: OutputKind::of(&file),
            model,
            classes,
            path: path.to_path_buf(),
        })
    }

    /// Uncalibrated scores of one input in label order: the raw logits, or
    /// for a graph ending in a softmax the log of its probabilities
    /// (floored at the smallest positive `f32`); either way
    /// `softmax(scores / T)` is the model's prediction at temperature `T`.
    pub fn raw_scores(&self, input: &[f32]) -> Result<[f32; NUM_CLASSES], String> {
        let out = self.model.run(input).map_err(|e| e.to_string())?;
        let mut by_class = [0.0f32; NUM_CLASSES];
        for (v, class) in out.iter().zip(self.classes) {
            by_class[class.index()] = match self.output {
                OutputKind::Probabilities => v.max(f32::MIN_POSITIVE).ln(),
                OutputKind::Logits { .. } => *v,
            };
        }
        Ok(by_class)
    }

    /// Class probabilities of one input, in label order.
    pub fn probabilities(&self, input: &[f32]) -> Result<[f32; NUM_CLASSES], String> {
        let out = self.model.run(input).map_err(|e| e.to_string())?;
        let probs = match self.output {
            OutputKind::Probabilities => out,
            OutputKind::Logits { temperature } => softmax(&out, temperature),
        };
        let mut by_class = [0.0f32; NUM_CLASSES];
        for (p, class) in probs.iter().zip(self.classes) {
            by_class[class.index()] = *p;
        }
        Ok(by_class)
    }
}

/// Files of a class-folder tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassTree {
    /// Every file with an accepted extension, with its class, sorted by
    /// class then path.
    pub files: Vec<(PathBuf, Emotion)>,
    /// Folders whose name is no emotion class (skipped), sorted.
    pub unknown_folders: Vec<String>,
}

/// Lists the files of `dir/<class>/` whose extension (any case) is in
/// `extensions`. Folder names go through [`Emotion::parse`]; other folders
/// are reported in [`ClassTree::unknown_folders`]; loose files in `dir` and
/// files of other types are ignored.
pub fn list_class_files(dir: &Path, extensions: &[&str]) -> Result<ClassTree, EvalError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvalError::Io { path, source }
    };
    let mut tree = ClassTree::default();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(class) = Emotion::parse(&name) else {
            if !name.starts_with('.') {
                tree.unknown_folders.push(name);
            }
            continue;
        };
        for f in std::fs::read_dir(&path).map_err(io_err(&path))? {
            let p = f.map_err(io_err(&path))?.path();
            let accepted = p.extension().is_some_and(|e| {
                let e = e.to_string_lossy().to_ascii_lowercase();
                extensions.contains(&e.as_str())
            });
            if accepted && p.is_file() {
                tree.files.push((p, class));
            }
        }
    }
    tree.files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    tree.unknown_folders.sort();
    Ok(tree)
}

/// The result of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOutcome {
    /// Face or voice classifier.
    pub kind: ModelKind,
    /// The measurements.
    pub metrics: EvalMetrics,
    /// Files that could not be read (or blank images), with the reason.
    pub skipped: Vec<Skipped>,
    /// Folders of the data directory that name no class.
    pub unknown_folders: Vec<String>,
    /// Wall time of loading and classifying, seconds.
    pub seconds: f64,
}

/// Names shown in a warning before "and N more".
pub const WARN_NAMES: usize = 5;

impl EvalOutcome {
    /// One warning line for the skipped files and one for the unknown
    /// folders, when there are any.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.unknown_folders.is_empty() {
            w.push(format!(
                "warning: skipped {} folder(s) that name no emotion class: {}",
                self.unknown_folders.len(),
                self.unknown_folders.join(", ")
            ));
        }
        if let Some(s) = skipped_summary(&self.skipped) {
            w.push(format!("warning: {s}"));
        }
        w
    }
}

/// "skipped N unreadable or blank file(s): a (why), b (why) and K more",
/// or `None`.
fn skipped_summary(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let names: Vec<String> = skipped
        .iter()
        .take(WARN_NAMES)
        .map(|s| format!("{} ({})", s.source, s.reason))
        .collect();
    let more = skipped.len().saturating_sub(WARN_NAMES);
    Some(format!(
        "skipped {} unreadable or blank file(s): {}{}",
        skipped.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Classifies every file of `tree` in parallel with `classify` (class
/// probabilities in label order, or a short reason), returning the
/// confusion matrix and the skipped files in path order.
pub fn classify_files<F>(tree: &ClassTree, classify: F) -> (Confusion, Vec<Skipped>)
where
    F: Fn(&Path) -> Result<[f32; NUM_CLASSES], String> + Sync,
{
    let results: Vec<Result<usize, String>> = tree
        .files
        .par_iter()
        .map(|(path, _)| classify(path).map(|p| argmax(&p)))
        .collect();
    let mut confusion = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    let mut skipped = Vec::new();
    for ((path, class), r) in tree.files.iter().zip(results) {
        match r {
            Ok(pred) => confusion[class.index()][pred] += 1,
            Err(reason) => skipped.push(Skipped {
                source: path.display().to_string(),
                reason,
            }),
        }
    }
    (confusion, skipped)
}

/// Evaluates the classifier `model` on the class folders of `data`.
pub fn evaluate(model: &Path, data: &Path) -> Result<EvalOutcome, EvalError> {
    evaluate_with(model, data, None)
}

/// Like [`evaluate`]; with `detect`, a face detector model file, a face
/// model sees the best detected face of every image (see the module docs).
pub fn evaluate_with(
    model: &Path,
    data: &Path,
    detect: Option<&Path>,
) -> Result<EvalOutcome, EvalError> {
    let t = Instant::now();
    let clf = Classifier::load(model)?;
    let detector = match detect {
        Some(path) => Some(
            emoedge_shared::detect::FaceDetector::load(path).map_err(|e| {
                EvalError::Incompatible {
                    path: path.to_path_buf(),
                    reason: format!("not a usable face detector: {e}"),
                }
            })?,
        ),
        None => None,
    };
    let mut no_face = [0u64; NUM_CLASSES];
    let incompatible = |reason: String| EvalError::Incompatible {
        path: model.to_path_buf(),
        reason,
    };
    let (tree, (confusion, skipped), what) = match &clf.model.header().preprocessing {
        Preprocessing::Face(pre) => {
            if clf.model.input_len() != pre.output_len() {
                return Err(incompatible(format!(
                    "its input shape {:?} does not hold one {}x{} face crop",
                    clf.model.input_shape(),
                    pre.crop_size,
                    pre.crop_size
                )));
            }
            let tree = list_class_files(data, face::IMAGE_EXTENSIONS)?;
            let (confusion, mut skipped) = classify_files(&tree, |p| match &detector {
                None => face::face_input(p, pre).and_then(|x| clf.probabilities(&x)),
                Some(d) => face::detected_face_input(p, d, pre)?
                    .ok_or_else(|| face::NO_FACE.to_string())
                    .and_then(|x| clf.probabilities(&x)),
            });
            // Images without a face are misses, not skipped files.
            skipped.retain(|s| {
                if s.reason != face::NO_FACE {
                    return true;
                }
                let class = tree
                    .files
                    .iter()
                    .find(|(p, _)| p.display().to_string() == s.source)
                    .map(|(_, c)| c.index());
                if let Some(c) = class {
                    no_face[c] += 1;
                }
                false
            });
            (tree, (confusion, skipped), "images")
        }
        Preprocessing::Voice(pre) => {
            let header = clf.model.header();
            let layout =
                voice::VoiceLayout::of(header, clf.model.input_shape(), pre).ok_or_else(|| {
                    incompatible(format!(
                        "its input shape {:?} does not hold one window of {} frames x {} mel bands",
                        clf.model.input_shape(),
                        pre.frames,
                        pre.logmel.n_mels
                    ))
                })?;
            let tree = list_class_files(data, voice::AUDIO_EXTENSIONS)?;
            let result = classify_files(&tree, |p| voice::classify_clip(&clf, pre, layout, p));
            (tree, result, "audio files")
        }
        Preprocessing::Detector(_) => unreachable!("Classifier::load refuses detectors"),
    };
    if detector.is_some() && clf.model.header().kind != ModelKind::FaceClassifier {
        return Err(EvalError::Incompatible {
            path: model.to_path_buf(),
            reason: "--detect needs a face classifier".into(),
        });
    }
    let metrics = if detector.is_some() {
        compute_metrics_with_misses(&confusion, &no_face)
    } else {
        compute_metrics(&confusion)
    };
    if metrics.n == 0 {
        let mut detail = String::new();
        if let Some(s) = skipped_summary(&skipped) {
            detail.push_str("; ");
            detail.push_str(&s);
        }
        if !tree.unknown_folders.is_empty() {
            detail.push_str(&format!(
                "; folders naming no class: {}",
                tree.unknown_folders.join(", ")
            ));
        }
        return Err(EvalError::Empty {
            path: data.to_path_buf(),
            what,
            detail,
        });
    }
    Ok(EvalOutcome {
        kind: clf.model.header().kind,
        metrics,
        skipped,
        unknown_folders: tree.unknown_folders,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// What `emoedge-train eval` was asked to do.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The model file.
    pub model: PathBuf,
    /// The class-folder tree.
    pub data: PathBuf,
    /// Where to write the metrics JSON.
    pub json: Option<PathBuf>,
    /// Directory for `confusion.png` and `metrics.json`.
    pub report: Option<PathBuf>,
    /// Face detector model file: detect faces in full frames first.
    pub detect: Option<PathBuf>,
}

/// The `eval` command: evaluates, prints the warnings (stderr) and the
/// table (stdout), writes the requested files.
pub fn run(opts: &EvalOptions) -> Result<EvalOutcome, EvalError> {
    let outcome = evaluate_with(&opts.model, &opts.data, opts.detect.as_deref())?;
    for w in outcome.warnings() {
        eprintln!("{w}");
    }
    println!(
        "{} on {}: {} {}, {:.1} s",
        opts.model.display(),
        opts.data.display(),
        outcome.metrics.n,
        match outcome.kind {
            ModelKind::VoiceClassifier => "clips",
            _ => "images",
        },
        outcome.seconds
    );
    print!("{}", report::table(&outcome.metrics));
    if let Some(path) = &opts.json {
        report::write_json(path, &outcome.metrics)?;
    }
    if let Some(dir) = &opts.report {
        report::write_report(dir, &outcome.metrics)?;
    }
    Ok(outcome)
}
