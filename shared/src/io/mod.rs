//! Decoding audio and image files on hosted targets (feature `io`).
//!
//! - [`load_audio`] decodes WAV (PCM and IEEE float), FLAC and Ogg Vorbis
//!   with symphonia and mixes any number of channels down to mono;
//!   [`load_audio_16k`] also resamples to 16 kHz with rubato, the rate every
//!   emoedge voice model expects. [`resample`] is the resampler on its own.
//! - [`load_gray`] decodes any image format the `image` crate reads (PNG,
//!   JPEG, BMP, GIF, PNM, TIFF, WebP) to 8-bit BT.601 luma, the same luma
//!   a camera delivers; [`gray_from_image`] converts an already decoded
//!   image the same way.
//!
//! Each has a `_bytes` twin ([`load_audio_bytes`], [`load_audio_16k_bytes`],
//! [`load_gray_bytes`]) that decodes a file already in memory by the same
//! code, with a name standing for the file in errors.
//!
//! Every error names the file and says what is wrong with it and what to
//! do, so a bad file in a data set of thousands can be found and fixed.

mod audio;
mod gray;
mod guard;
mod resample;

pub use audio::{
    load_audio, load_audio_16k, load_audio_16k_bytes, load_audio_bytes, Audio, AudioIoError,
    MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, TARGET_SAMPLE_RATE,
};
pub use gray::{
    gray_from_image, load_gray, load_gray_bytes, GrayImage, ImageIoError, MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
};
pub use resample::{resample, ResampleError};

/// A decoder's message on one line (some span several), so every error
/// stays one line naming the file.
pub(crate) fn one_line(reason: impl std::fmt::Display) -> std::string::String {
    let text = std::format!("{reason}");
    text.split_whitespace()
        .collect::<std::vec::Vec<_>>()
        .join(" ")
}
