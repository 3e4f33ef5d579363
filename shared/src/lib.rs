//! emoedge shared core, used by both the trainer (host) and the device.
//!
//! `no_std` (with `alloc`) by default so the same code builds for bare-metal
//! targets; the `std` feature adds `std::error::Error` impls and `log`
//! diagnostics, `runtime` adds tract-core inference of model files.
//!
//! Modules:
//! - [`labels`]: the seven emotion classes and their synonyms.
//! - [`format`](mod@format): the versioned, checksummed model file format.
//! - [`audio`]: streaming log-mel features and voice activity detection.
//! - [`face`]: face crop, resize and normalisation.
//! - [`detect`]: face detection (letterbox, anchors, NMS; the model run with `runtime`) and an IoU tracker.
//! - [`fusion`]: late fusion, smoothing, hysteresis.
//! - [`reference`](mod@reference): plain-Rust interpreter of model files (f32 and exact int8).
//! - [`quantize`]: post-training int8 calibration and quantisation.
//! - `runtime` (feature `runtime`): tract-core inference of a model file.
//! - `io` (feature `io`): audio and image file decoding (symphonia, rubato, image).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod audio;
pub mod detect;
pub mod face;
pub mod format;
pub mod fusion;
#[cfg(feature = "io")]
pub mod io;
pub mod labels;
pub mod quantize;
pub mod reference;
#[cfg(feature = "runtime")]
pub mod runtime;

pub use labels::{Emotion, NUM_CLASSES};
