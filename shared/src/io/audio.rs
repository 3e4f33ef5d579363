//! Audio file decoding (WAV, FLAC, Ogg Vorbis) to mono `f32`, from a file
//! or from bytes in memory.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::guard::{check_metadata, wave_zero_rate};
use super::one_line;
use super::resample::{resample, ResampleError};

/// Sample rate of every emoedge voice model input.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;
/// Lowest sample rate accepted from a file (Hz); anything lower is a broken
/// header rather than audio.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest sample rate accepted from a file (Hz).
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// A decoded mono signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Mono samples in `[-1, 1]` (the mean of all channels).
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f32 {
        self.samples.len() as f32 / self.sample_rate as f32
    }
}

/// Why an audio file could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioIoError {
    /// The file could not be opened or read.
    #[error("cannot read audio file {path}: {source}; check that the path exists and is readable")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file holds no bytes at all.
    #[error(
        "audio file {path} is empty (0 bytes); the copy or recording was interrupted, re-create it"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Not a container symphonia recognises.
    #[error(
        "audio file {path} is not in a supported format ({reason}); \
         convert it to WAV, FLAC or Ogg Vorbis (e.g. `sox in.xyz out.wav`)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// symphonia's message.
        reason: String,
    },
    /// The container holds no decodable audio track.
    #[error("audio file {path} contains no audio track; it may be a video or metadata-only file")]
    NoAudioTrack {
        /// The file.
        path: PathBuf,
    },
    /// The container is known but its codec is not (e.g. MP3 in WAV, Opus).
    #[error(
        "audio file {path} uses an unsupported codec ({reason}); \
         re-encode it as PCM WAV, FLAC or Ogg Vorbis"
    )]
    UnsupportedCodec {
        /// The file.
        path: PathBuf,
        /// symphonia's message.
        reason: String,
    },
    /// The header's sample rate is missing or absurd.
    #[error(
        "audio file {path} declares a sample rate of {rate} Hz, outside \
         {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz; its header is corrupt, re-create the file"
    )]
    BadSampleRate {
        /// The file.
        path: PathBuf,
        /// The declared rate (0 when missing).
        rate: u32,
    },
    /// The file ends before the number of frames its header declares.
    #[error(
        "audio file {path} is truncated: its header declares {expected} frames but only \
         {decoded} could be decoded; the copy or download was interrupted, re-create it"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Frames declared by the header.
        expected: u64,
        /// Frames actually decoded.
        decoded: u64,
    },
    /// The stream holds corrupt data.
    #[error("audio file {path} is corrupt ({reason}); re-create it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// The file is valid but holds no samples.
    #[error("audio file {path} has zero length (a valid header but no samples); remove it from the data set")]
    ZeroLength {
        /// The file.
        path: PathBuf,
    },
    /// Resampling failed.
    #[error("audio file {path}: {source}")]
    Resample {
        /// The file.
        path: PathBuf,
        /// The resampler's error.
        source: ResampleError,
    },
}

/// Decodes a WAV, FLAC or Ogg Vorbis file and mixes all channels to mono.
///
/// The file's own sample rate is kept; see [`load_audio_16k`]. Refuses
/// empty, truncated and zero-length files, unknown formats and codecs,
/// files without an audio track, sample rates outside
/// [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`], and metadata (Vorbis
/// comments, FLAC pictures, WAV `INFO` entries) declaring more bytes than
/// the file holds, which would make the decoder allocate them first.
pub fn load_audio(path: impl AsRef<Path>) -> Result<Audio, AudioIoError> {
    let path = path.as_ref();
    // The whole file in memory (compressed audio is smaller than the
    // samples decoded from it), so its metadata can be checked first.
    let bytes = std::fs::read(path).map_err(|source| AudioIoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_audio_bytes(bytes, path)
}

/// [`load_audio`] on the bytes of a file already in memory. `name` stands
/// for the file in error messages and its extension, if any, helps to
/// recognise the format (as a file's does).
pub fn load_audio_bytes(
    bytes: impl Into<Vec<u8>>,
    name: impl AsRef<Path>,
) -> Result<Audio, AudioIoError> {
    let bytes = bytes.into();
    let path = name.as_ref();
    let p = || path.to_path_buf();
    if bytes.is_empty() {
        return Err(AudioIoError::Empty { path: p() });
    }
    // Headers the demuxer would panic on, metadata fields that would make
    // it allocate more than the file holds (see `guard`).
    if wave_zero_rate(&bytes) {
        return Err(AudioIoError::BadSampleRate { path: p(), rate: 0 });
    }
    check_metadata(&bytes).map_err(|reason| AudioIoError::Corrupt { path: p(), reason })?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions {
                // Trim encoder delay and end padding (Ogg granule positions).
                enable_gapless: true,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                AudioIoError::Corrupt {
                    path: p(),
                    reason: "the file ends inside its header (truncated)".into(),
                }
            }
            SymError::IoError(source) => AudioIoError::Read { path: p(), source },
            e => AudioIoError::UnknownFormat {
                path: p(),
                reason: one_line(e),
            },
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioIoError::NoAudioTrack { path: p() })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let declared_frames = params.n_frames;
    if let Some(rate) = params.sample_rate {
        check_rate(path, rate)?;
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| AudioIoError::UnsupportedCodec {
            path: p(),
            reason: one_line(e),
        })?;

    let mut samples = Vec::new();
    let mut rate = params.sample_rate;
    let mut decoded: u64 = 0;
    let mut first_error: Option<String> = None;
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            // A chained stream with new parameters: keep the first one.
            Err(SymError::ResetRequired) => break,
            Err(SymError::IoError(source)) => return Err(AudioIoError::Read { path: p(), source }),
            Err(e) => {
                first_error.get_or_insert_with(|| one_line(e));
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let block = match decoder.decode(&packet) {
            Ok(block) => block,
            Err(SymError::DecodeError(e)) => {
                first_error.get_or_insert_with(|| one_line(e));
                continue;
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::Unsupported(e)) => {
                return Err(AudioIoError::UnsupportedCodec {
                    path: p(),
                    reason: one_line(e),
                })
            }
            Err(e) => {
                first_error.get_or_insert_with(|| one_line(e));
                break;
            }
        };
        let spec = *block.spec();
        if rate.is_none() {
            check_rate(path, spec.rate)?;
            rate = Some(spec.rate);
        }
        let channels = spec.channels.count().max(1);
        let frames = block.frames();
        if frames == 0 {
            continue;
        }
        let sb = match &mut buf {
            Some(sb) if sb.capacity() >= frames * channels => sb,
            _ => buf.insert(SampleBuffer::<f32>::new(block.capacity() as u64, spec)),
        };
        sb.copy_interleaved_ref(block);
        let scale = 1.0 / channels as f32;
        samples.extend(
            sb.samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
        decoded += frames as u64;
    }

    if let Some(expected) = declared_frames {
        if decoded < expected {
            return Err(AudioIoError::Truncated {
                path: p(),
                expected,
                decoded,
            });
        }
        // The declared length is authoritative: drop codec end padding that
        // the container did not trim.
        samples.truncate(usize::try_from(expected).unwrap_or(usize::MAX));
    }
    if let Some(reason) = first_error {
        return Err(AudioIoError::Corrupt { path: p(), reason });
    }
    if samples.is_empty() {
        return Err(AudioIoError::ZeroLength { path: p() });
    }
    let sample_rate = rate.ok_or_else(|| AudioIoError::BadSampleRate { path: p(), rate: 0 })?;
    // Clip pathological float WAVs so downstream features stay finite.
    for s in &mut samples {
        *s = if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
    Ok(Audio {
        samples,
        sample_rate,
    })
}

/// [`load_audio`] then resampling to [`TARGET_SAMPLE_RATE`] (16 kHz) mono.
pub fn load_audio_16k(path: impl AsRef<Path>) -> Result<Audio, AudioIoError> {
    let path = path.as_ref();
    to_16k(load_audio(path)?, path)
}

/// [`load_audio_bytes`] then resampling to [`TARGET_SAMPLE_RATE`] (16 kHz)
/// mono.
pub fn load_audio_16k_bytes(
    bytes: impl Into<Vec<u8>>,
    name: impl AsRef<Path>,
) -> Result<Audio, AudioIoError> {
    let name = name.as_ref();
    to_16k(load_audio_bytes(bytes, name)?, name)
}

fn to_16k(audio: Audio, path: &Path) -> Result<Audio, AudioIoError> {
    if audio.sample_rate == TARGET_SAMPLE_RATE {
        return Ok(audio);
    }
    let samples =
        resample(&audio.samples, audio.sample_rate, TARGET_SAMPLE_RATE).map_err(|source| {
            AudioIoError::Resample {
                path: path.to_path_buf(),
                source,
            }
        })?;
    Ok(Audio {
        samples,
        sample_rate: TARGET_SAMPLE_RATE,
    })
}

fn check_rate(path: &Path, rate: u32) -> Result<(), AudioIoError> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(AudioIoError::BadSampleRate {
            path: path.to_path_buf(),
            rate,
        })
    }
}
