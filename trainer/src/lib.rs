//! emoedge trainer: trains the face expression and voice emotion CNNs with burn (flex CPU
//! backend, or wgpu with the `wgpu` feature) and exports it to the emoedge
//! model format.
//!
//! Modules:
//! - [`data`]: data layouts (Kaggle folders, class-folder tree, fer2013.csv),
//!   decoding and preprocessing into memory.
//! - [`augment`]: on-the-fly augmentation.
//! - [`model`]: the CNN and its architecture presets.
//! - [`train`]: the training loop, checkpoints, metrics and curves.
//! - [`bench`](mod@bench): training/inference throughput measurement of architectures.
//! - [`voice`]: voice corpora, speaker-independent split, augmentation and
//!   export of the voice model (trained by the same loop).
//! - [`ensemble`]: several face models (and their mirrored input) summed
//!   into one model file.
//! - [`eval`]: accuracy, per-class metrics and report of a model file on class folders.
//! - [`fusion`]: temperature calibration, fusion weight and threshold on
//!   paired face/voice validation sets, and their evaluation.

pub mod augment;
pub mod bench;
pub mod data;
pub mod ensemble;
pub mod eval;
pub mod export;
pub mod fullframe;
pub mod fusion;
pub mod import;
pub mod model;
pub mod train;
pub mod voice;
