//! Image decoding and conversion to the 48x48 normalised model input.

use std::path::{Path, PathBuf};

use emoedge_shared::face::preprocess_full;
use emoedge_shared::io::{load_gray, ImageIoError};
use rayon::prelude::*;

use super::{face_preprocessing, FaceSet, FACE_PIXELS};

/// An image file with its class index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledFile {
    /// Image path.
    pub path: PathBuf,
    /// Class index (0..7).
    pub label: u8,
}

/// An image that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// File path or `csv:<line>`.
    pub source: String,
    /// Short reason ("blank", or the decoder error).
    pub reason: String,
}

/// Smallest spread between the darkest and brightest pixel of a usable
/// image; below it the image is "blank" (FER-2013 holds a few all-black
/// placeholders).
pub const MIN_PIXEL_SPREAD: u8 = 10;

/// True when a grayscale image is blank: empty, or its brightest and
/// darkest pixels differ by less than [`MIN_PIXEL_SPREAD`].
pub fn is_blank(gray: &[u8]) -> bool {
    let (min, max) = gray
        .iter()
        .fold((u8::MAX, u8::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    gray.is_empty() || max.saturating_sub(min) < MIN_PIXEL_SPREAD
}

/// Decodes an image file of any supported format and size with the shared
/// loader ([`emoedge_shared::io::load_gray`], as eval and the device do),
/// and preprocesses it to normalised 48x48 pixels. Errors are a short
/// reason ("blank" for blank images).
pub fn decode_image(path: &Path) -> Result<Vec<f32>, String> {
    let img = load_gray(path).map_err(|e| short_reason(&e))?;
    gray_to_input(&img.pixels, img.width as usize, img.height as usize)
}

fn short_reason(e: &ImageIoError) -> String {
    match e {
        ImageIoError::Read { source, .. } => format!("unreadable: {source}"),
        ImageIoError::Empty { .. } => "empty file".into(),
        ImageIoError::UnknownFormat { .. } => "unknown format".into(),
        ImageIoError::ZeroSize { .. } => "zero size".into(),
        ImageIoError::TooLarge { width, height, .. } => format!("too large ({width}x{height})"),
        ImageIoError::Decode { reason, .. } => format!("corrupt: {reason}"),
    }
}

/// Preprocesses a packed grayscale image to the normalised model input;
/// refuses blank images.
pub fn gray_to_input(gray: &[u8], width: usize, height: usize) -> Result<Vec<f32>, String> {
    if is_blank(gray) {
        return Err("blank".into());
    }
    let mut out = vec![0.0f32; FACE_PIXELS];
    preprocess_full(gray, width, height, &face_preprocessing(), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes `files` in parallel into a [`FaceSet`] (in the given order),
/// returning the files that were unreadable or blank.
pub fn load_labelled_files(files: &[LabelledFile]) -> (FaceSet, Vec<Skipped>) {
    let decoded: Vec<Result<Vec<f32>, String>> =
        files.par_iter().map(|f| decode_image(&f.path)).collect();
    let mut set = FaceSet::default();
    let mut skipped = Vec::new();
    for (f, result) in files.iter().zip(decoded) {
        let source = f.path.display().to_string();
        match result {
            Ok(px) => set.push(&px, f.label, source),
            Err(reason) => skipped.push(Skipped { source, reason }),
        }
    }
    (set, skipped)
}
