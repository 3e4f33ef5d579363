//! Import of externally trained models into the emoedge model format
//! (`emoedge-train import ...`).
//!
//! - [`onnx`]: mapping of an ONNX graph (read with tract-onnx) onto our ops.
//! - [`blazeface`]: the BlazeFace short-range face detector.

pub mod blazeface;
pub mod onnx;
