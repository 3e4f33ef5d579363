//! Face training data: in-memory datasets and the supported on-disk layouts.
//!
//! Every image is decoded once, converted to 48x48 grayscale through
//! [`emoedge_shared::face::preprocess_full`] (the exact path the device
//! uses) and kept in memory as normalised `f32` pixels.

mod decode;
mod layout;

pub use decode::{
    decode_image, gray_to_input, is_blank, load_labelled_files, LabelledFile, Skipped,
    MIN_PIXEL_SPREAD,
};
pub use layout::{
    class_tree_files, detect_layout, load_face_data, parse_fer_csv, stratified_split, FaceData,
    FerCsv, Layout, FER_CSV_TO_EMOEDGE,
};

use emoedge_shared::face::FacePreprocessing;
use emoedge_shared::NUM_CLASSES;

/// Side of the square face input in pixels.
pub const FACE_SIZE: usize = 48;
/// Pixels per face input.
pub const FACE_PIXELS: usize = FACE_SIZE * FACE_SIZE;

/// The face preprocessing used for training and written into exported models.
pub fn face_preprocessing() -> FacePreprocessing {
    FacePreprocessing {
        crop_size: FACE_SIZE as u16,
        margin: 0.1,
        mean: 0.5,
        std: 0.25,
    }
}

/// Errors while reading face data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data directory (or file) does not exist or cannot be listed.
    #[error(
        "cannot read {path}: {source}; check that --data/--val point at an existing directory"
    )]
    Io {
        /// Path that failed.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// No supported layout was recognised.
    #[error("{0}: no face data found; expected DIR/train/<class>/*.jpg (with DIR/val or DIR/test), DIR/<class>/*.jpg, or fer2013.csv")]
    NoLayout(String),
    /// The CSV file is malformed.
    #[error("{path} line {line}: {reason}; expected the fer2013.csv columns emotion,pixels,Usage")]
    Csv {
        /// CSV path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Speech data trouble (unlistable directory, bad front-end settings).
    #[error("{path}: {reason}")]
    Speech {
        /// Path involved.
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A split ended up empty.
    #[error(
        "the {0} split has no usable images; check the data directory and its class folder names"
    )]
    EmptySplit(&'static str),
}

/// A set of preprocessed 48x48 faces with labels, all in memory.
#[derive(Clone, Debug, Default)]
pub struct FaceSet {
    /// Normalised pixels, `FACE_PIXELS` per image, row-major.
    pub pixels: Vec<f32>,
    /// Class index per image.
    pub labels: Vec<u8>,
    /// Source of each image (file path, or `csv:<line>`), for messages.
    pub sources: Vec<String>,
}

impl FaceSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The normalised pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * FACE_PIXELS..(i + 1) * FACE_PIXELS]
    }

    /// Appends one preprocessed image.
    pub fn push(&mut self, pixels: &[f32], label: u8, source: String) {
        debug_assert_eq!(pixels.len(), FACE_PIXELS);
        self.pixels.extend_from_slice(pixels);
        self.labels.push(label);
        self.sources.push(source);
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// A subset with the given image indices, in that order.
    pub fn subset(&self, indices: &[usize]) -> FaceSet {
        let mut out = FaceSet {
            pixels: Vec::with_capacity(indices.len() * FACE_PIXELS),
            labels: Vec::with_capacity(indices.len()),
            sources: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            out.push(self.image(i), self.labels[i], self.sources[i].clone());
        }
        out
    }

    /// Keeps at most `max` images per class (the first ones, in order).
    pub fn limit_per_class(&self, max: usize) -> FaceSet {
        let mut seen = [0usize; NUM_CLASSES];
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| {
                let c = &mut seen[usize::from(self.labels[i])];
                *c += 1;
                *c <= max
            })
            .collect();
        self.subset(&keep)
    }

    /// Indices of the images of `self` whose pixels are identical to an
    /// image of `other` (e.g. validation images duplicated in training).
    pub fn duplicates_of(&self, other: &FaceSet) -> Vec<usize> {
        use std::collections::HashSet;
        let key = |img: &[f32]| -> Vec<u32> { img.iter().map(|v| v.to_bits()).collect() };
        let seen: HashSet<Vec<u32>> = (0..other.len()).map(|i| key(other.image(i))).collect();
        (0..self.len())
            .filter(|&i| seen.contains(&key(self.image(i))))
            .collect()
    }
}
