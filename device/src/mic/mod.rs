//! Microphones: a small [`Microphone`] trait with a real implementation
//! ([`alsa`], feature `mic-alsa`), a replay of an audio file ([`replay`])
//! and a scripted mock for tests ([`mock`]).
//!
//! Every microphone delivers mono signed 16-bit samples at its
//! [`Microphone::sample_rate`] (16 kHz for the voice models).

#[cfg(feature = "mic-alsa")]
pub mod alsa;
pub mod mock;
pub mod replay;

use crate::kind::ErrorKind;

/// Why a microphone could not deliver samples. [`MicError::kind`] tells
/// the loop whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum MicError {
    /// The microphone could not be opened.
    #[error("cannot open microphone {device}: {reason}; {fix}")]
    Open {
        /// ALSA device name or source description.
        device: String,
        /// What failed.
        reason: String,
        /// What to do about it.
        fix: &'static str,
        /// Failure kind.
        kind: ErrorKind,
    },
    /// The device cannot record in the wanted format.
    #[error("microphone {device} cannot record {wanted}: {reason}; use a `plughw:` or `default` device so ALSA converts, or change `mic.sample_rate` in the board profile")]
    Unsupported {
        /// ALSA device name.
        device: String,
        /// The wanted format, e.g. `16000 Hz mono S16`.
        wanted: String,
        /// What the device said.
        reason: String,
    },
    /// Reading samples failed.
    #[error("microphone {device}: read failed ({kind}): {reason}{}", hint(*.kind))]
    Read {
        /// ALSA device name.
        device: String,
        /// What failed.
        reason: String,
        /// Failure kind.
        kind: ErrorKind,
    },
    /// A replay has no more samples.
    #[error("microphone {device}: end of replay after {samples} samples")]
    EndOfStream {
        /// Replay source.
        device: String,
        /// Samples delivered.
        samples: u64,
    },
    /// A scripted failure from [`mock::MockMicrophone`].
    #[error("mock microphone: scripted {0} failure")]
    Scripted(ErrorKind),
}

fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Overrun => "; samples were lost because they were not read in time (the stream was restarted): the loop is too slow or was paused",
        ErrorKind::Disconnected => "; the microphone was unplugged: check the cable and `arecord -l`",
        ErrorKind::Timeout => "; no samples arrived in time: the device may be stalled",
        _ => "",
    }
}

impl MicError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MicError::Open { kind, .. } | MicError::Read { kind, .. } => *kind,
            MicError::Unsupported { .. } => ErrorKind::Other,
            MicError::EndOfStream { .. } => ErrorKind::EndOfStream,
            MicError::Scripted(kind) => *kind,
        }
    }
}

/// A source of mono 16-bit samples.
pub trait Microphone {
    /// Short description for logs, e.g. `alsa:plughw:1,0 16000 Hz`.
    fn describe(&self) -> String;

    /// Samples per second of what [`read`](Self::read) returns.
    fn sample_rate(&self) -> u32;

    /// Reads up to `out.len()` samples, waiting (at most the source's
    /// timeout) until at least one is available; returns how many were
    /// written (> 0 on success when `out` is not empty).
    fn read(&mut self, out: &mut [i16]) -> Result<usize, MicError>;
}

impl<T: Microphone + ?Sized> Microphone for Box<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn sample_rate(&self) -> u32 {
        (**self).sample_rate()
    }
    fn read(&mut self, out: &mut [i16]) -> Result<usize, MicError> {
        (**self).read(out)
    }
}

/// Converts a `[-1, 1]` float sample to `i16` (clamped, rounded).
pub fn f32_to_i16(x: f32) -> i16 {
    if x.is_nan() {
        return 0;
    }
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Converts an `i16` sample to `[-1, 1)` float.
pub fn i16_to_f32(x: i16) -> f32 {
    f32::from(x) / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_conversions() {
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(1.0), 32767);
        assert_eq!(f32_to_i16(-2.0), -32767);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(i16_to_f32(-32768), -1.0);
        assert!((i16_to_f32(f32_to_i16(0.25)) - 0.25).abs() < 1e-4);
    }

    #[test]
    fn kinds_and_hints() {
        let e = MicError::Read {
            device: "hw:1,0".into(),
            reason: "Broken pipe".into(),
            kind: ErrorKind::Overrun,
        };
        assert_eq!(e.kind(), ErrorKind::Overrun);
        assert!(e.to_string().contains("not read in time"), "{e}");
        assert_eq!(
            MicError::Scripted(ErrorKind::Timeout).kind(),
            ErrorKind::Timeout
        );
    }
}
