//! Typed errors of the model file format.

use core::fmt;

use super::ModelKind;

/// Why model bytes were refused. Each message names the cause and the fix.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FormatError {
    /// The bytes do not start with the emoedge magic.
    BadMagic,
    /// The file was written by a newer (or unknown) format version.
    UnsupportedVersion { found: u16, supported: u16 },
    /// The payload checksum differs from the one in the envelope.
    ChecksumMismatch { expected: u32, found: u32 },
    /// The file ends before the data it announces.
    Truncated { needed: usize, available: usize },
    /// Extra bytes after the payload.
    TrailingBytes { extra: usize },
    /// The payload is larger than the format allows.
    TooLarge { len: usize, max: usize },
    /// The payload names an operation (or other enum value) this build does not know.
    UnknownOp,
    /// The payload is not a valid postcard encoding of a model.
    Malformed,
    /// A header field is invalid.
    InvalidHeader { reason: &'static str },
    /// The layer graph is wired wrongly (dangling input, wrong input count, ...).
    InvalidGraph {
        node: Option<u32>,
        reason: &'static str,
    },
    /// Tensor or activation shapes do not agree.
    InconsistentShapes {
        node: Option<u32>,
        reason: &'static str,
    },
    /// The model is of another kind than the slot it was loaded into.
    WrongKind {
        expected: ModelKind,
        found: ModelKind,
    },
    /// Serialisation failed (only on encode).
    Encode,
}

impl FormatError {
    pub(crate) fn from_postcard(e: postcard::Error) -> FormatError {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => FormatError::Truncated {
                needed: 0,
                available: 0,
            },
            // serde's derived enum visitors report an out-of-range variant
            // index as a custom error: with our types that is the only
            // source of custom errors, so it means an unknown op or kind.
            postcard::Error::DeserializeBadEnum | postcard::Error::SerdeDeCustom => {
                FormatError::UnknownOp
            }
            _ => FormatError::Malformed,
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::BadMagic => write!(f, "not an emoedge model file (bad magic bytes); pass a .emo file written by emoedge-train"),
            FormatError::UnsupportedVersion { found, supported } => write!(
                f,
                "model format version {found} is not supported (this build reads version {supported}); upgrade emoedge or re-export the model"
            ),
            FormatError::ChecksumMismatch { expected, found } => write!(
                f,
                "checksum mismatch (stored {expected:#010x}, computed {found:#010x}): the file is corrupt; copy it again"
            ),
            FormatError::Truncated { needed, available } if *needed > 0 => write!(
                f,
                "file is truncated ({available} bytes, needs {needed}); copy it again"
            ),
            FormatError::Truncated { .. } => write!(f, "model payload is truncated; copy the file again"),
            FormatError::TrailingBytes { extra } => write!(
                f,
                "{extra} unexpected bytes after the model payload: the file is corrupt; copy it again"
            ),
            FormatError::TooLarge { len, max } => write!(
                f,
                "model payload of {len} bytes exceeds the {max}-byte limit: the file is corrupt or not a model"
            ),
            FormatError::UnknownOp => write!(
                f,
                "model uses an operation or field value this build does not know; upgrade emoedge"
            ),
            FormatError::Malformed => write!(f, "model payload is malformed: the file is corrupt; copy it again"),
            FormatError::InvalidHeader { reason } => write!(f, "invalid model header: {reason}"),
            FormatError::InvalidGraph { node: Some(n), reason } => {
                write!(f, "invalid layer graph at node {n}: {reason}")
            }
            FormatError::InvalidGraph { node: None, reason } => write!(f, "invalid layer graph: {reason}"),
            FormatError::InconsistentShapes { node: Some(n), reason } => {
                write!(f, "inconsistent shapes at node {n}: {reason}")
            }
            FormatError::InconsistentShapes { node: None, reason } => {
                write!(f, "inconsistent shapes: {reason}")
            }
            FormatError::WrongKind { expected, found } => write!(
                f,
                "this is a {} model but a {} model is needed here; check which file goes in which slot",
                found.name(),
                expected.name()
            ),
            FormatError::Encode => write!(f, "could not serialise the model"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}
