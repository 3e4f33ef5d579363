//! Face images to model inputs, exactly as in training.
//!
//! [`face_input`] is the one place an image file becomes a face model
//! input: decoded with [`emoedge_shared::io::load_gray`] (any format and
//! size the `image` crate reads, BT.601 luma), blank images refused
//! ([`crate::data::is_blank`]), the whole image resized to the model's
//! crop with [`emoedge_shared::face::preprocess_full`] and the header's
//! [`FacePreprocessing`]. With the training preprocessing this is
//! [`crate::data::decode_image`] (the test `face_input_matches_training`
//! checks it). With a face detector, [`detected_face_input`] crops the
//! best detected face of a full frame instead.

use std::path::Path;

use emoedge_shared::detect::{crop_face, FaceDetector};
use emoedge_shared::face::{preprocess_full, FacePreprocessing, GrayFrame};
use emoedge_shared::io::{load_gray, ImageIoError};

use crate::data::is_blank;

/// File extensions read as images inside class folders (any case).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "bmp", "gif", "pgm", "ppm", "pnm", "tif", "tiff", "webp",
];

/// Decodes the image at `path` and preprocesses the whole image into the
/// normalised `crop_size x crop_size` model input of `pre`. Errors are a
/// short reason ("blank" for a blank image).
pub fn face_input(path: &Path, pre: &FacePreprocessing) -> Result<Vec<f32>, String> {
    let img = load_gray(path).map_err(|e| short_reason(&e))?;
    if is_blank(&img.pixels) {
        return Err("blank".into());
    }
    let mut out = vec![0.0f32; pre.output_len()];
    preprocess_full(
        &img.pixels,
        img.width as usize,
        img.height as usize,
        pre,
        &mut out,
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The reason [`detected_face_input`]'s caller gives for an image without
/// a face; eval counts such images as wrong, not as skipped.
pub const NO_FACE: &str = "no face detected";

/// Decodes the image at `path` (a full frame of any size), detects its
/// faces and crops the best (highest-score) one into the model input of
/// `pre` with its margin ([`emoedge_shared::detect::crop_face`], eye line
/// not levelled: it did not raise accuracy, see models/face_detector.md).
/// `Ok(None)` when no face is found.
pub fn detected_face_input(
    path: &Path,
    detector: &FaceDetector,
    pre: &FacePreprocessing,
) -> Result<Option<Vec<f32>>, String> {
    let img = load_gray(path).map_err(|e| short_reason(&e))?;
    if is_blank(&img.pixels) {
        return Err("blank".into());
    }
    let frame = GrayFrame::packed(&img.pixels, img.width as usize, img.height as usize)
        .map_err(|e| e.to_string())?;
    let faces = detector.detect(&frame).map_err(|e| e.to_string())?;
    let Some(best) = faces.first() else {
        return Ok(None);
    };
    let mut out = vec![0.0f32; pre.output_len()];
    crop_face(&frame, best, pre, false, &mut out).map_err(|e| e.to_string())?;
    Ok(Some(out))
}

/// A short reason for the skipped-files warning (the path is named there).
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
