//! The emoedge model file format (`.emo`).
//!
//! A model file is a 20-byte little-endian envelope followed by a
//! [postcard](https://docs.rs/postcard) payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `\x89EMO\r\n\x1a\n` |
//! | 8 | 2 | format version ([`FORMAT_VERSION`]) |
//! | 10 | 2 | flags, must be 0 |
//! | 12 | 4 | payload length in bytes |
//! | 16 | 4 | CRC-32 (ISO-HDLC, as zlib) of the payload |
//! | 20 | n | postcard-encoded [`ModelFile`] |
//!
//! The payload holds a [`Header`] (model kind, fixed input shape, labels,
//! preprocessing parameters, calibration temperature, free-form metadata)
//! and a [`Graph`] of layers. Weights are either f32 or int8 with one scale
//! and zero point per tensor (tract fuses requantisation into its matmul
//! kernels only for a scalar scale); biases of int8 layers are i32 in the
//! accumulator scale. Every int8 layer carries the calibrated quantisation
//! parameters of its input and output activations.
//!
//! [`decode`] checks everything before it returns a model: magic, version,
//! checksum, length, that every tensor holds as many values as its shape
//! says and that shapes agree through the whole graph. Bad bytes give a
//! typed [`FormatError`], never a panic.

mod error;
mod graph;
pub mod sample;
mod shapes;

pub use error::FormatError;
pub use graph::*;
pub use shapes::infer_shapes;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::audio::VoicePreprocessing;
use crate::face::FacePreprocessing;

/// First eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"\x89EMO\r\n\x1a\n";
/// Format version written by this build; files with a higher version are
/// refused with [`FormatError::UnsupportedVersion`].
pub const FORMAT_VERSION: u16 = 1;
/// Size of the fixed envelope before the payload.
pub const ENVELOPE_LEN: usize = 20;
/// Largest payload accepted (64 MiB): protects against absurd lengths.
pub const MAX_PAYLOAD_LEN: usize = 64 << 20;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// What a model does; the device refuses a model in the wrong slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ModelKind {
    /// Facial expression classifier: face crop -> 7 logits.
    FaceClassifier,
    /// Voice emotion classifier: log-mel window -> 7 logits.
    VoiceClassifier,
    /// Face detector: RGB image -> boxes and scores.
    FaceDetector,
}

impl ModelKind {
    /// Human-readable name used in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            ModelKind::FaceClassifier => "face classifier",
            ModelKind::VoiceClassifier => "voice classifier",
            ModelKind::FaceDetector => "face detector",
        }
    }
}

/// Face detector preprocessing and decoding parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorPreprocessing {
    /// Side of the square model input (128 for BlazeFace short range).
    pub input_size: u16,
    /// Pixel normalisation `(p / 255 - mean) / std` (BlazeFace: mean 0.5, std 0.5).
    pub mean: f32,
    pub std: f32,
    /// Input layout is channels-last (NHWC) when true, else NCHW.
    pub channels_last: bool,
    /// Anchor strides and anchors per cell (BlazeFace: [8, 16] and [2, 6]).
    pub strides: Vec<u16>,
    pub anchors_per_cell: Vec<u16>,
    /// Box coordinate scale of the regressor outputs (BlazeFace: 128).
    pub box_scale: f32,
    /// Keypoints per detection (BlazeFace: 6).
    pub keypoints: u16,
    /// Minimum sigmoid score of a detection.
    pub score_threshold: f32,
    /// IoU above which a lower-scoring box is suppressed.
    pub iou_threshold: f32,
}

impl DetectorPreprocessing {
    /// Total number of anchors of a square input of `input_size` pixels:
    /// for every stride, `(input_size / stride)^2` cells times its anchors
    /// per cell (896 for BlazeFace short range). `None` when the
    /// parameters are invalid (see [`DetectorPreprocessing::validate`]).
    pub fn anchor_count(&self) -> Option<usize> {
        self.validate().ok()?;
        self.strides
            .iter()
            .zip(&self.anchors_per_cell)
            .try_fold(0usize, |acc, (&s, &a)| {
                let cells = (self.input_size / s) as usize;
                acc.checked_add(cells.checked_mul(cells)?.checked_mul(a as usize)?)
            })
    }

    /// Checks the parameters: non-zero input size, finite normalisation
    /// with a positive `std`, one anchor count per stride, non-zero strides
    /// that divide the input size, positive box scale, thresholds in `[0, 1]`.
    pub fn validate(&self) -> Result<(), FormatError> {
        let bad = |reason| Err(FormatError::InvalidHeader { reason });
        if self.input_size == 0 {
            return bad("detector input size is zero");
        }
        if !self.mean.is_finite() || !self.std.is_finite() || self.std <= 0.0 {
            return bad("detector normalisation must be finite with a positive std");
        }
        if self.strides.is_empty() || self.strides.len() != self.anchors_per_cell.len() {
            return bad("detector needs one anchors-per-cell count per stride");
        }
        if self
            .strides
            .iter()
            .any(|&s| s == 0 || !self.input_size.is_multiple_of(s))
        {
            return bad("detector strides must be non-zero and divide the input size");
        }
        if !self.box_scale.is_finite() || self.box_scale <= 0.0 {
            return bad("detector box scale must be finite and positive");
        }
        let unit = |x: f32| (0.0..=1.0).contains(&x);
        if !unit(self.score_threshold) || !unit(self.iou_threshold) {
            return bad("detector score and IoU thresholds must lie in [0, 1]");
        }
        Ok(())
    }
}

/// Preprocessing parameters, one variant per model kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Preprocessing {
    Face(FacePreprocessing),
    Voice(VoicePreprocessing),
    Detector(DetectorPreprocessing),
}

/// Everything about a model except its layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub kind: ModelKind,
    /// Short name, e.g. `face-resnet-v1`.
    pub name: String,
    /// Fixed input shape, batch first (`[1, 1, 48, 48]` for NCHW faces).
    pub input_shape: Vec<u32>,
    /// Output labels in output order (the 7 emotions for classifiers).
    pub labels: Vec<String>,
    pub preprocessing: Preprocessing,
    /// Softmax temperature fitted on validation data (1.0 = uncalibrated).
    pub temperature: f32,
    /// Free-form key/value pairs: training data, accuracy, licence, ...
    pub metadata: Vec<(String, String)>,
}

impl Header {
    /// Value of a metadata key.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A complete model: header and layer graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub header: Header,
    pub graph: Graph,
}

impl ModelFile {
    /// Checks the model's internal consistency: tensor sizes, graph wiring
    /// and shapes from the header's input shape to every output.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.header.input_shape.is_empty() || self.header.input_shape.contains(&0) {
            return Err(FormatError::InconsistentShapes {
                node: None,
                reason: "input shape is empty or has a zero dimension",
            });
        }
        if !self.header.temperature.is_finite() || self.header.temperature <= 0.0 {
            return Err(FormatError::InvalidHeader {
                reason: "temperature must be finite and positive",
            });
        }
        let kind_matches = matches!(
            (&self.header.kind, &self.header.preprocessing),
            (ModelKind::FaceClassifier, Preprocessing::Face(_))
                | (ModelKind::VoiceClassifier, Preprocessing::Voice(_))
                | (ModelKind::FaceDetector, Preprocessing::Detector(_))
        );
        if !kind_matches {
            return Err(FormatError::InvalidHeader {
                reason: "preprocessing parameters do not match the model kind",
            });
        }
        if let Preprocessing::Detector(d) = &self.header.preprocessing {
            d.validate()?;
        }
        let shapes = infer_shapes(&self.graph, &self.header.input_shape)?;
        if matches!(
            self.header.kind,
            ModelKind::FaceClassifier | ModelKind::VoiceClassifier
        ) {
            let out = self
                .graph
                .outputs
                .first()
                .ok_or(FormatError::InvalidGraph {
                    node: None,
                    reason: "graph has no output",
                })?;
            let n: u64 = shapes[*out as usize].iter().map(|&d| d as u64).product();
            if n != self.header.labels.len() as u64 {
                return Err(FormatError::InconsistentShapes {
                    node: None,
                    reason: "classifier output size differs from the number of labels",
                });
            }
        }
        Ok(())
    }

    /// Checks that this model can serve in a slot expecting `kind`.
    pub fn expect_kind(&self, kind: ModelKind) -> Result<(), FormatError> {
        if self.header.kind == kind {
            Ok(())
        } else {
            Err(FormatError::WrongKind {
                expected: kind,
                found: self.header.kind,
            })
        }
    }

    /// Total number of weight values (parameters) in the graph.
    pub fn parameter_count(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .map(|n| n.op.parameter_count())
            .sum()
    }
}

/// Encodes a model into file bytes (envelope + payload). Validates first,
/// so a file this writes always decodes.
pub fn encode(model: &ModelFile) -> Result<Vec<u8>, FormatError> {
    model.validate()?;
    let payload = postcard::to_allocvec(model).map_err(|_| FormatError::Encode)?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(FormatError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    let mut out = Vec::with_capacity(ENVELOPE_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&CRC32.checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads only the envelope: returns the format version and payload slice
/// after checking magic, version, flags, length and checksum.
pub fn open_envelope(bytes: &[u8]) -> Result<(u16, &[u8]), FormatError> {
    if bytes.len() < MAGIC.len() {
        if MAGIC.starts_with(bytes) {
            return Err(FormatError::Truncated {
                needed: ENVELOPE_LEN,
                available: bytes.len(),
            });
        }
        return Err(FormatError::BadMagic);
    }
    if bytes[..8] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    if bytes.len() < ENVELOPE_LEN {
        return Err(FormatError::Truncated {
            needed: ENVELOPE_LEN,
            available: bytes.len(),
        });
    }
    let word = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let dword = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let version = word(8);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if word(10) != 0 {
        return Err(FormatError::InvalidHeader {
            reason: "reserved flags are set",
        });
    }
    let len = dword(12) as usize;
    if len > MAX_PAYLOAD_LEN {
        return Err(FormatError::TooLarge {
            len,
            max: MAX_PAYLOAD_LEN,
        });
    }
    let available = bytes.len() - ENVELOPE_LEN;
    if available < len {
        return Err(FormatError::Truncated {
            needed: ENVELOPE_LEN + len,
            available: bytes.len(),
        });
    }
    if available > len {
        return Err(FormatError::TrailingBytes {
            extra: available - len,
        });
    }
    let payload = &bytes[ENVELOPE_LEN..];
    let expected = dword(16);
    let found = CRC32.checksum(payload);
    if expected != found {
        return Err(FormatError::ChecksumMismatch { expected, found });
    }
    Ok((version, payload))
}

/// Decodes and fully validates model file bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelFile, FormatError> {
    let (_, payload) = open_envelope(bytes)?;
    let (model, rest): (ModelFile, &[u8]) =
        postcard::take_from_bytes(payload).map_err(FormatError::from_postcard)?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes { extra: rest.len() });
    }
    model.validate()?;
    Ok(model)
}

#[cfg(test)]
mod tests;
