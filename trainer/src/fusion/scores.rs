//! The uncalibrated scores of every validation file, computed once per file
//! and then reused by the temperature fit, the pairing, the weight fit and
//! the evaluation.
//!
//! - Faces: `<class>/<images>` ([`crate::eval::list_class_files`]); each
//!   image goes through [`crate::eval::face::face_input`] (the training and
//!   `eval` preprocessing) and the face model.
//! - Voice: either `<class>/<audio files>` folders, used whole, or a corpus
//!   tree named the RAVDESS/TESS/SAVEE/CREMA-D way
//!   ([`crate::voice::corpora::scan`]), of which only the validation clips of
//!   the speaker-independent split ([`SplitConfig`], as in training) are
//!   used. Every clip is cut into model windows like `emoedge-train eval`
//!   does ([`crate::eval::voice::window_scores`]); the clip's scores are
//!   `ln(mean over windows of softmax(window logits))`, i.e. `eval`'s
//!   window-averaged probabilities in log space, so that the fusion engine
//!   can apply the voice temperature to them like to any logits.

use std::path::{Path, PathBuf};

use emoedge_shared::format::Preprocessing;
use emoedge_shared::Emotion;
use emoedge_shared::NUM_CLASSES;
use rayon::prelude::*;

use crate::data::Skipped;
use crate::eval::{self, face, voice, Classifier, EvalError};
use crate::voice::corpora::{self, Corpus};
use crate::voice::SplitConfig;

use super::temperature::Logits;

/// One scored file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// The file.
    pub path: PathBuf,
    /// Its true class.
    pub class: Emotion,
    /// The model's uncalibrated scores, in label order.
    pub logits: Logits,
}

/// How the voice clips were chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum VoiceSelection {
    /// `<class>/<files>` folders, every clip.
    ClassFolders,
    /// A corpus tree: only the validation clips of [`SplitConfig`]; the
    /// count of clips used and left out (training split) per corpus.
    ValidationSplit {
        /// `(corpus, validation clips, training clips left out)`.
        corpora: Vec<(Corpus, usize, usize)>,
        /// The split used.
        split: SplitConfig,
    },
}

impl VoiceSelection {
    /// One line saying which clips were used.
    pub fn describe(&self) -> String {
        match self {
            VoiceSelection::ClassFolders => "class folders, every clip".into(),
            VoiceSelection::ValidationSplit { corpora, split } => {
                let parts: Vec<String> = corpora
                    .iter()
                    .map(|(c, val, train)| {
                        let who = match c {
                            Corpus::Ravdess => format!(
                                " (actors {})",
                                split
                                    .ravdess_actors
                                    .iter()
                                    .map(u32::to_string)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ),
                            Corpus::Savee => {
                                format!(" (speakers {})", split.savee_speakers.join(","))
                            }
                            Corpus::Tess => {
                                format!(
                                    " ({:.0} % of the words, picked by the seed)",
                                    split.tess_word_fraction * 100.0
                                )
                            }
                            _ => String::new(),
                        };
                        format!("{} {val}{who}, {train} training clips left out", c.name())
                    })
                    .collect();
                format!(
                    "corpus tree, only the validation clips of the voice model's training split (SplitConfig::default(), seed {}): {}",
                    split.seed,
                    parts.join("; ")
                )
            }
        }
    }
}

/// The scored files of one modality.
#[derive(Clone, Debug, Default)]
pub struct ScoreSet {
    /// Scored files, sorted by class then path.
    pub items: Vec<Scored>,
    /// Files that could not be read (or blank images).
    pub skipped: Vec<Skipped>,
    /// Folders naming no class (class-folder trees only).
    pub unknown_folders: Vec<String>,
}

impl ScoreSet {
    /// Logits and class indices, for the temperature fit.
    pub fn logits_and_labels(&self) -> (Vec<Logits>, Vec<usize>) {
        self.items
            .iter()
            .map(|s| (s.logits, s.class.index()))
            .unzip()
    }

    /// Number of files per class, in label order.
    pub fn per_class(&self) -> [usize; NUM_CLASSES] {
        let mut n = [0; NUM_CLASSES];
        for s in &self.items {
            n[s.class.index()] += 1;
        }
        n
    }

    /// Warning lines for the skipped files and unknown folders, naming
    /// `what` (e.g. "face data").
    pub fn warnings(&self, what: &str) -> Vec<String> {
        let mut w = Vec::new();
        if !self.unknown_folders.is_empty() {
            w.push(format!(
                "warning: {what}: skipped {} folder(s) that name no emotion class: {}",
                self.unknown_folders.len(),
                self.unknown_folders.join(", ")
            ));
        }
        if !self.skipped.is_empty() {
            let names: Vec<String> = self
                .skipped
                .iter()
                .take(eval::WARN_NAMES)
                .map(|s| format!("{} ({})", s.source, s.reason))
                .collect();
            let more = self.skipped.len().saturating_sub(eval::WARN_NAMES);
            w.push(format!(
                "warning: {what}: skipped {} unreadable or blank file(s): {}{}",
                self.skipped.len(),
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        w
    }
}

/// Scores `files` in parallel with `score`, keeping the order; failures go
/// to `skipped`.
fn score_all<F>(files: Vec<(PathBuf, Emotion)>, score: F) -> (Vec<Scored>, Vec<Skipped>)
where
    F: Fn(&Path) -> Result<Logits, String> + Sync,
{
    let results: Vec<Result<Logits, String>> = files.par_iter().map(|(p, _)| score(p)).collect();
    let mut items = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    for ((path, class), r) in files.into_iter().zip(results) {
        match r {
            Ok(logits) => items.push(Scored {
                path,
                class,
                logits,
            }),
            Err(reason) => skipped.push(Skipped {
                source: path.display().to_string(),
                reason,
            }),
        }
    }
    (items, skipped)
}

fn incompatible(clf: &Classifier, reason: String) -> EvalError {
    EvalError::Incompatible {
        path: clf.path.clone(),
        reason,
    }
}

/// Scores every image of the `<class>/<images>` tree `dir` with the face
/// classifier `clf`.
pub fn face_scores(clf: &Classifier, dir: &Path) -> Result<ScoreSet, EvalError> {
    let Preprocessing::Face(pre) = &clf.model.header().preprocessing else {
        return Err(incompatible(clf, "not a face classifier".into()));
    };
    if clf.model.input_len() != pre.output_len() {
        return Err(incompatible(
            clf,
            format!(
                "its input shape {:?} does not hold one {}x{} face crop",
                clf.model.input_shape(),
                pre.crop_size,
                pre.crop_size
            ),
        ));
    }
    let tree = eval::list_class_files(dir, face::IMAGE_EXTENSIONS)?;
    let (items, skipped) = score_all(tree.files, |p| {
        face::face_input(p, pre).and_then(|x| clf.raw_scores(&x))
    });
    let set = ScoreSet {
        items,
        skipped,
        unknown_folders: tree.unknown_folders,
    };
    if set.items.is_empty() {
        return Err(EvalError::Empty {
            path: dir.to_path_buf(),
            what: "images",
            detail: detail(&set),
        });
    }
    Ok(set)
}

fn detail(set: &ScoreSet) -> String {
    let mut d = String::new();
    if !set.skipped.is_empty() {
        d.push_str(&format!("; {} unreadable file(s)", set.skipped.len()));
    }
    if !set.unknown_folders.is_empty() {
        d.push_str(&format!(
            "; folders naming no class: {}",
            set.unknown_folders.join(", ")
        ));
    }
    d
}

/// The voice clips chosen from a directory.
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceFiles {
    /// Clips and their classes, sorted by class then path.
    pub files: Vec<(PathBuf, Emotion)>,
    /// How they were chosen.
    pub selection: VoiceSelection,
    /// Folders naming no class (class-folder trees only).
    pub unknown_folders: Vec<String>,
}

/// The voice clips of `dir` and how they were chosen: `<class>/<files>`
/// folders whole when `dir` has any, else the validation clips (`split`)
/// of the corpus tree.
pub fn voice_files(dir: &Path, split: &SplitConfig) -> Result<VoiceFiles, EvalError> {
    let tree = eval::list_class_files(dir, voice::AUDIO_EXTENSIONS)?;
    if !tree.files.is_empty() {
        return Ok(VoiceFiles {
            files: tree.files,
            selection: VoiceSelection::ClassFolders,
            unknown_folders: tree.unknown_folders,
        });
    }
    let (found, _unlabelled) = corpora::scan(dir).map_err(|source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut counts: Vec<(Corpus, usize, usize)> = Vec::new();
    let mut files = Vec::new();
    for f in found {
        let ext_ok = f.path.extension().is_some_and(|e| {
            voice::AUDIO_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        });
        if !ext_ok {
            continue;
        }
        let val = split.is_val(&f);
        let at = match counts.iter().position(|c| c.0 == f.corpus) {
            Some(i) => i,
            None => {
                counts.push((f.corpus, 0, 0));
                counts.len() - 1
            }
        };
        if val {
            counts[at].1 += 1;
            files.push((f.path, f.label));
        } else {
            counts[at].2 += 1;
        }
    }
    counts.sort_by_key(|c| c.0);
    files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(VoiceFiles {
        files,
        selection: VoiceSelection::ValidationSplit {
            corpora: counts,
            split: split.clone(),
        },
        unknown_folders: Vec::new(),
    })
}

/// Scores every chosen clip of `dir` ([`voice_files`]) with the voice
/// classifier `clf`: `ln(mean_w softmax(z_w))` over the clip's windows.
pub fn voice_scores(
    clf: &Classifier,
    dir: &Path,
    split: &SplitConfig,
) -> Result<(ScoreSet, VoiceSelection), EvalError> {
    let header = clf.model.header();
    let Preprocessing::Voice(pre) = &header.preprocessing else {
        return Err(incompatible(clf, "not a voice classifier".into()));
    };
    let layout = voice::VoiceLayout::of(header, clf.model.input_shape(), pre).ok_or_else(|| {
        incompatible(
            clf,
            format!(
                "its input shape {:?} does not hold one window of {} frames x {} mel bands",
                clf.model.input_shape(),
                pre.frames,
                pre.logmel.n_mels
            ),
        )
    })?;
    let VoiceFiles {
        files,
        selection,
        unknown_folders,
    } = voice_files(dir, split)?;
    let (items, skipped) = score_all(files, |p| {
        voice::window_scores(clf, pre, layout, p).map(|w| clip_logits(&w))
    });
    let set = ScoreSet {
        items,
        skipped,
        unknown_folders,
    };
    if set.items.is_empty() {
        return Err(EvalError::Empty {
            path: dir.to_path_buf(),
            what: "audio files",
            detail: detail(&set),
        });
    }
    Ok((set, selection))
}

/// `ln(mean_w softmax(z_w))`: a clip's scores from its windows' (uniform
/// for no window).
pub fn clip_logits(windows: &[Logits]) -> Logits {
    let mut mean = [0.0f64; NUM_CLASSES];
    for z in windows {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = z.iter().map(|&v| f64::from(v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        for (m, v) in mean.iter_mut().zip(e) {
            *m += v / sum;
        }
    }
    let n = windows.len().max(1) as f64;
    mean.map(|m| {
        let p = if windows.is_empty() {
            1.0 / NUM_CLASSES as f64
        } else {
            m / n
        };
        p.max(1e-30).ln() as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::fusion::calibrate;

    #[test]
    fn clip_logits_average_window_probabilities() {
        let a = [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let b = [0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0];
        // One window: the same softmax.
        let one = calibrate(&clip_logits(&[a]), 1.0).unwrap();
        let want = calibrate(&a, 1.0).unwrap();
        for (x, y) in one.iter().zip(want) {
            assert!((x - y).abs() < 1e-6);
        }
        // Two: the mean of the two softmaxes.
        let two = calibrate(&clip_logits(&[a, b]), 1.0).unwrap();
        let (pa, pb) = (calibrate(&a, 1.0).unwrap(), calibrate(&b, 1.0).unwrap());
        for i in 0..NUM_CLASSES {
            assert!((two[i] - (pa[i] + pb[i]) / 2.0).abs() < 1e-6);
        }
        let none = calibrate(&clip_logits(&[]), 1.0).unwrap();
        assert!(none.iter().all(|&p| (p - 1.0 / 7.0).abs() < 1e-6));
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn corpus_trees_give_validation_clips_class_folders_everything() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("speech");
        // RAVDESS actor 01 trains, 17 validates; SAVEE DC validates, JE trains.
        touch(&corpus.join("ravdess/Actor_01/03-01-05-01-01-01-01.flac"));
        touch(&corpus.join("ravdess/Actor_17/03-01-05-01-01-01-17.flac"));
        touch(&corpus.join("ravdess/Actor_17/03-01-03-01-01-01-17.flac"));
        touch(&corpus.join("savee/DC_a01.ogg"));
        touch(&corpus.join("savee/JE_a01.ogg"));
        let VoiceFiles {
            files,
            selection: sel,
            ..
        } = voice_files(&corpus, &SplitConfig::default()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "03-01-05-01-01-01-17.flac",
                "DC_a01.ogg",
                "03-01-03-01-01-01-17.flac"
            ]
        );
        assert_eq!(files[0].1, Emotion::Angry);
        assert_eq!(files[2].1, Emotion::Happy);
        let VoiceSelection::ValidationSplit { corpora, .. } = &sel else {
            panic!("{sel:?}")
        };
        assert_eq!(
            corpora,
            &vec![(Corpus::Ravdess, 2, 1), (Corpus::Savee, 1, 1)]
        );
        let d = sel.describe();
        assert!(
            d.contains("validation clips of the voice model's training split")
                && d.contains("actors 17,18,19,20")
        );

        // Class folders are used whole, corpus-style names or not.
        let folders = dir.path().join("folders");
        touch(&folders.join("angry/03-01-05-01-01-01-01.wav"));
        touch(&folders.join("Happiness/x.wav"));
        touch(&folders.join("other/y.wav"));
        let v = voice_files(&folders, &SplitConfig::default()).unwrap();
        assert_eq!(v.files.len(), 2);
        assert_eq!(v.selection, VoiceSelection::ClassFolders);
        assert_eq!(v.unknown_folders, vec!["other".to_string()]);
    }
}
