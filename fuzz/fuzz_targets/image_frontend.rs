//! Fuzzes the image front end from file bytes to a model input: the image
//! decoder with its size limits (`io::load_gray_bytes`: PNG, JPEG, BMP,
//! GIF, PNM, TIFF, WebP, any pixel layout, converted to 8-bit luma), then
//! the face crop of the device (`face::preprocess_face_rotated`) on an
//! arbitrary box, angle, crop size and margin, and the whole-image resize
//! of the trainer (`face::preprocess_full`).
//!
//! Input layout: [`PARAMS`] bytes of crop parameters, then the image file.
//! Nothing may panic; an accepted image is within the limits and has one
//! luma byte per pixel; a crop either succeeds with every value between the
//! normalised black and white, or is refused for a bad box or angle.
#![no_main]

use emoedge_shared::face::{
    preprocess_face_rotated, preprocess_full, FaceBox, FaceError, FacePreprocessing, GrayFrame,
};
use emoedge_shared::io::{load_gray_bytes, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE};
use libfuzzer_sys::fuzz_target;

/// Parameter bytes before the image: box x, y, w, h and the rotation angle
/// (five little-endian `f32`), the crop side (1 + byte % 64) and the margin
/// (byte / 100).
pub const PARAMS: usize = 22;

fuzz_target!(|data: &[u8]| {
    if data.len() < PARAMS {
        return;
    }
    let (params, file) = data.split_at(PARAMS);
    let f = |i: usize| f32::from_le_bytes(params[i * 4..i * 4 + 4].try_into().unwrap());
    let bbox = FaceBox::new(f(0), f(1), f(2), f(3));
    let angle = f(4);
    let pre = FacePreprocessing {
        crop_size: 1 + u16::from(params[20]) % 64,
        margin: f32::from(params[21]) / 100.0,
        ..FacePreprocessing::default()
    };

    let Ok(img) = load_gray_bytes(file, "fuzz-input") else {
        return;
    };
    let (w, h) = (img.width as usize, img.height as usize);
    assert!(img.width > 0 && img.height > 0, "accepted a {w}x{h} image");
    assert!(
        img.width <= MAX_IMAGE_SIDE
            && img.height <= MAX_IMAGE_SIDE
            && (w * h) as u64 <= MAX_IMAGE_PIXELS,
        "accepted a {w}x{h} image above the limits"
    );
    assert_eq!(img.pixels.len(), w * h, "luma buffer size");
    let frame = GrayFrame::packed(&img.pixels, w, h).expect("a decoded image is a valid frame");

    let (lo, hi) = (pre.normalise(0.0), pre.normalise(255.0));
    let in_range = |v: &f32| v.is_finite() && *v >= lo - 1e-3 && *v <= hi + 1e-3;
    let mut out = vec![f32::NAN; pre.output_len()];
    match preprocess_face_rotated(&frame, bbox, angle, &pre, &mut out) {
        Ok(()) => assert!(
            out.iter().all(in_range),
            "crop of {bbox:?} at {angle} rad out of [{lo}, {hi}]"
        ),
        Err(FaceError::EmptyBox | FaceError::NonFiniteBox | FaceError::NonFiniteAngle) => {}
        Err(e) => panic!("crop of {bbox:?} refused: {e}"),
    }

    out.fill(f32::NAN);
    preprocess_full(&img.pixels, w, h, &pre, &mut out).expect("whole-image resize");
    assert!(out.iter().all(in_range), "whole-image resize out of range");
});
