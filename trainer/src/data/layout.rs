//! Recognises and reads the supported data layouts:
//!
//! - Kaggle folders: `DIR/train/<class>/*` with `DIR/val/<class>/*` (or
//!   `DIR/test/<class>/*`);
//! - one class-folder tree `DIR/<class>/*`, from which a stratified
//!   validation split is carved with a fixed seed;
//! - the original `fer2013.csv` (`emotion,pixels,Usage`), as the file itself
//!   or inside `DIR`.
//!
//! Class folder names go through [`Emotion::parse`] (synonyms, any case);
//! other folders and non-image files are ignored.

use std::path::{Path, PathBuf};

use emoedge_shared::{Emotion, NUM_CLASSES};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::decode::{gray_to_input, load_labelled_files, LabelledFile, Skipped};
use super::{DataError, FaceSet};

/// File extensions read as images inside class folders.
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "bmp", "gif", "pgm", "ppm", "pnm", "tif", "tiff", "webp",
];

/// Class index of the `emotion` column of `fer2013.csv`
/// (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral) in
/// the emoedge order.
pub const FER_CSV_TO_EMOEDGE: [Emotion; NUM_CLASSES] = [
    Emotion::Angry,
    Emotion::Disgust,
    Emotion::Fear,
    Emotion::Happy,
    Emotion::Sad,
    Emotion::Surprise,
    Emotion::Neutral,
];

/// The layout a data directory was read as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `train/` and `val/` (or `test/`) class-folder trees.
    Kaggle {
        /// The training tree.
        train: PathBuf,
        /// The validation tree.
        val: PathBuf,
    },
    /// One class-folder tree; validation carved out of it.
    ClassTree(PathBuf),
    /// The original `fer2013.csv`.
    Csv(PathBuf),
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layout::Kaggle { train, val } => write!(
                f,
                "class folders: train {} / val {}",
                train.display(),
                val.display()
            ),
            Layout::ClassTree(p) => {
                write!(f, "class-folder tree {} (stratified split)", p.display())
            }
            Layout::Csv(p) => write!(f, "fer2013 csv {}", p.display()),
        }
    }
}

/// Training and validation faces with what was skipped on the way.
#[derive(Clone, Debug)]
pub struct FaceData {
    /// Training faces.
    pub train: FaceSet,
    /// Validation faces.
    pub val: FaceSet,
    /// Unreadable or blank images that were left out.
    pub skipped: Vec<Skipped>,
    /// How the data directory was read.
    pub layout: Layout,
    /// Indices into `val` of images whose pixels also occur in `train`.
    pub val_duplicates: Vec<usize>,
}

impl FaceData {
    /// One warning line naming every skipped image, or `None`.
    pub fn skipped_warning(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let list: Vec<String> = self
            .skipped
            .iter()
            .map(|s| format!("{} ({})", s.source, s.reason))
            .collect();
        Some(format!(
            "warning: skipped {} unreadable or blank image(s): {}",
            self.skipped.len(),
            list.join(", ")
        ))
    }
}

/// Reads face data from `data` (any supported layout). `val` overrides the
/// validation source with a class-folder tree. `val_fraction` of each class
/// is held out (seeded by `seed`) when the layout has no validation split.
pub fn load_face_data(
    data: &Path,
    val: Option<&Path>,
    seed: u64,
    val_fraction: f64,
) -> Result<FaceData, DataError> {
    let layout = detect_layout(data, val)?;
    let mut skipped = Vec::new();
    let (train, val) = match &layout {
        Layout::Kaggle { train, val } => {
            let (t, s1) = load_labelled_files(&class_tree_files(train)?);
            let (v, s2) = load_labelled_files(&class_tree_files(val)?);
            skipped.extend(s1);
            skipped.extend(s2);
            (t, v)
        }
        Layout::ClassTree(dir) => {
            let (all, s) = load_labelled_files(&class_tree_files(dir)?);
            skipped.extend(s);
            stratified_split(&all, val_fraction, seed)
        }
        Layout::Csv(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let csv = parse_fer_csv(&text, &path.display().to_string())?;
            skipped.extend(csv.skipped);
            match val {
                Some(val_dir) => {
                    let (v, s) = load_labelled_files(&class_tree_files(val_dir)?);
                    skipped.extend(s);
                    let mut train = csv.train;
                    for i in 0..csv.val.len() {
                        train.push(
                            csv.val.image(i),
                            csv.val.labels[i],
                            csv.val.sources[i].clone(),
                        );
                    }
                    (train, v)
                }
                None if csv.val.is_empty() => stratified_split(&csv.train, val_fraction, seed),
                None => (csv.train, csv.val),
            }
        }
    };
    if train.is_empty() {
        return Err(DataError::EmptySplit("training"));
    }
    if val.is_empty() {
        return Err(DataError::EmptySplit("validation"));
    }
    let val_duplicates = val.duplicates_of(&train);
    Ok(FaceData {
        train,
        val,
        skipped,
        layout,
        val_duplicates,
    })
}

/// Works out the layout of `data` (see the module docs).
pub fn detect_layout(data: &Path, val: Option<&Path>) -> Result<Layout, DataError> {
    if data.is_file() {
        return Ok(Layout::Csv(data.to_path_buf()));
    }
    if !data.is_dir() {
        return Err(DataError::Io {
            path: data.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let train_dir = data.join("train");
    if has_class_folders(&train_dir) {
        let val = match val {
            Some(v) => v.to_path_buf(),
            None => ["val", "validation", "test"]
                .iter()
                .map(|n| data.join(n))
                .find(|p| has_class_folders(p))
                .ok_or_else(|| {
                    DataError::NoLayout(format!(
                        "{}: has train/ but no val/ or test/ class folders (pass --val DIR)",
                        data.display()
                    ))
                })?,
        };
        return Ok(Layout::Kaggle {
            train: train_dir,
            val,
        });
    }
    if has_class_folders(data) {
        return Ok(match val {
            Some(v) => Layout::Kaggle {
                train: data.to_path_buf(),
                val: v.to_path_buf(),
            },
            None => Layout::ClassTree(data.to_path_buf()),
        });
    }
    let csv = data.join("fer2013.csv");
    if csv.is_file() {
        return Ok(Layout::Csv(csv));
    }
    Err(DataError::NoLayout(data.display().to_string()))
}

fn has_class_folders(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                e.path().is_dir() && Emotion::parse(&e.file_name().to_string_lossy()).is_some()
            })
        })
        .unwrap_or(false)
}

/// Lists the image files of every class folder of `dir`, sorted by class
/// then path. Folders that name no class and non-image files are ignored.
pub fn class_tree_files(dir: &Path) -> Result<Vec<LabelledFile>, DataError> {
    let io_err = |source| DataError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let Some(class) = Emotion::parse(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if !path.is_dir() {
            continue;
        }
        let mut class_files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|source| DataError::Io {
                path: path.display().to_string(),
                source,
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && is_image_path(p))
            .collect();
        class_files.sort();
        files.extend(class_files.into_iter().map(|path| LabelledFile {
            path,
            label: class.index() as u8,
        }));
    }
    files.sort_by(|a, b| (a.label, &a.path).cmp(&(b.label, &b.path)));
    Ok(files)
}

fn is_image_path(p: &Path) -> bool {
    p.extension()
        .map(|e| {
            let e = e.to_string_lossy().to_ascii_lowercase();
            IMAGE_EXTENSIONS.contains(&e.as_str())
        })
        .unwrap_or(false)
}

/// Splits `all` into (train, val), holding out `fraction` of every class
/// (at least one image of classes with two or more), shuffled by `seed`.
pub fn stratified_split(all: &FaceSet, fraction: f64, seed: u64) -> (FaceSet, FaceSet) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5EED_5B11);
    let mut train_idx = Vec::new();
    let mut val_idx = Vec::new();
    for class in 0..NUM_CLASSES {
        let mut idx: Vec<usize> = (0..all.len())
            .filter(|&i| usize::from(all.labels[i]) == class)
            .collect();
        idx.shuffle(&mut rng);
        let n_val = if idx.len() >= 2 {
            ((idx.len() as f64 * fraction).round() as usize).clamp(1, idx.len() - 1)
        } else {
            0
        };
        val_idx.extend_from_slice(&idx[..n_val]);
        train_idx.extend_from_slice(&idx[n_val..]);
    }
    train_idx.sort_unstable();
    val_idx.sort_unstable();
    (all.subset(&train_idx), all.subset(&val_idx))
}

/// The rows of a `fer2013.csv`, by `Usage`.
#[derive(Clone, Debug, Default)]
pub struct FerCsv {
    /// `Training` rows (and rows without a `Usage` column).
    pub train: FaceSet,
    /// `PublicTest` rows.
    pub val: FaceSet,
    /// `PrivateTest` rows left out (the held-out test split).
    pub private_test: usize,
    /// Blank or malformed pixel rows.
    pub skipped: Vec<Skipped>,
}

/// Parses the text of a `fer2013.csv` (`emotion,pixels[,Usage]`, header
/// required, columns in any order). Labels are remapped to the emoedge
/// order with [`FER_CSV_TO_EMOEDGE`]. `PrivateTest` rows are counted and
/// left out. Rows with blank or malformed pixels are skipped and reported;
/// a malformed header or label is an error.
pub fn parse_fer_csv(text: &str, path: &str) -> Result<FerCsv, DataError> {
    let csv_err = |line: usize, reason: String| DataError::Csv {
        path: path.to_string(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| csv_err(1, "the file is empty".into()))?;
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(emotion_col), Some(pixels_col)) = (col("emotion"), col("pixels")) else {
        return Err(csv_err(
            1,
            format!("header `{header}` lacks emotion and pixels columns"),
        ));
    };
    let usage_col = col("usage");
    let mut out = FerCsv::default();
    for (i, line) in lines {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |c: usize| {
            fields
                .get(c)
                .copied()
                .ok_or_else(|| csv_err(line_no, format!("missing column {}", c + 1)))
        };
        let emotion: usize = field(emotion_col)?
            .parse()
            .map_err(|_| csv_err(line_no, "emotion is not an integer".into()))?;
        let class = *FER_CSV_TO_EMOEDGE
            .get(emotion)
            .ok_or_else(|| csv_err(line_no, format!("emotion {emotion} is not in 0..=6")))?;
        let usage = match usage_col {
            Some(c) => field(c)?,
            None => "Training",
        };
        let source = format!("{path}:{line_no}");
        let pixels: Result<Vec<u8>, _> = field(pixels_col)?
            .split_whitespace()
            .map(str::parse::<u8>)
            .collect();
        let side = pixels
            .as_ref()
            .map(|p| (p.len() as f64).sqrt() as usize)
            .unwrap_or(0);
        let input = match pixels {
            Ok(p) if side > 0 && side * side == p.len() => gray_to_input(&p, side, side),
            Ok(p) => Err(format!("{} pixels is not a square image", p.len())),
            Err(e) => Err(format!("bad pixel value: {e}")),
        };
        let input = match input {
            Ok(v) => v,
            Err(reason) => {
                out.skipped.push(Skipped { source, reason });
                continue;
            }
        };
        let label = class.index() as u8;
        match usage.to_ascii_lowercase().as_str() {
            "privatetest" => out.private_test += 1,
            "publictest" => out.val.push(&input, label, source),
            _ => out.train.push(&input, label, source),
        }
    }
    Ok(out)
}
