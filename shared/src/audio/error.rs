//! Errors of the audio front end.

use core::fmt;

/// An invalid [`LogMelConfig`](super::LogMelConfig),
/// [`VoicePreprocessing`](super::VoicePreprocessing) or
/// [`VadConfig`](super::VadConfig).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AudioConfigError {
    /// `n_fft` is not one of the real FFT sizes compiled in (256, 512, 1024).
    UnsupportedFftSize { n_fft: u16 },
    /// A length or count that must be positive is zero.
    Zero { field: &'static str },
    /// `win_length` exceeds `n_fft`.
    WindowLongerThanFft { win_length: u16, n_fft: u16 },
    /// `f_min`/`f_max` are not finite, not increasing, or `f_max` is above
    /// the Nyquist frequency.
    FrequencyRange {
        f_min: f32,
        f_max: f32,
        nyquist: f32,
    },
    /// Pre-emphasis coefficient outside `[0, 1)`.
    PreEmphasis { value: f32 },
    /// Log floor not finite and positive.
    LogFloor { value: f32 },
    /// A mel band covers no FFT bin (too many bands for the FFT resolution).
    EmptyMelBand { band: u16 },
    /// Global normalisation with a standard deviation that is not finite
    /// and positive, or a mean that is not finite.
    GlobalNorm { mean: f32, std: f32 },
    /// A voice activity detector parameter is out of its range.
    Vad { field: &'static str },
    /// No mel band has its centre in the 300-3400 Hz speech band.
    NoSpeechBands,
}

impl fmt::Display for AudioConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AudioConfigError::UnsupportedFftSize { n_fft } => write!(
                f,
                "n_fft = {n_fft} is not supported: use 256, 512 or 1024"
            ),
            AudioConfigError::Zero { field } => {
                write!(f, "`{field}` is zero: it must be at least 1")
            }
            AudioConfigError::WindowLongerThanFft { win_length, n_fft } => write!(
                f,
                "win_length = {win_length} exceeds n_fft = {n_fft}: shorten the window or raise n_fft"
            ),
            AudioConfigError::FrequencyRange {
                f_min,
                f_max,
                nyquist,
            } => write!(
                f,
                "mel range f_min = {f_min} Hz .. f_max = {f_max} Hz is invalid: need 0 <= f_min < f_max <= {nyquist} Hz (sample_rate / 2)"
            ),
            AudioConfigError::PreEmphasis { value } => write!(
                f,
                "pre_emphasis = {value} is out of range: use a value in [0, 1) (0.97 typical, 0 disables)"
            ),
            AudioConfigError::LogFloor { value } => write!(
                f,
                "log_floor = {value} is invalid: use a small positive value such as 1e-6"
            ),
            AudioConfigError::EmptyMelBand { band } => write!(
                f,
                "mel band {band} covers no FFT bin: lower n_mels, raise f_min or raise n_fft"
            ),
            AudioConfigError::GlobalNorm { mean, std } => write!(
                f,
                "global feature normalisation mean = {mean}, std = {std} is invalid: mean must be finite and std finite and positive"
            ),
            AudioConfigError::Vad { field } => write!(
                f,
                "voice activity detector parameter `{field}` is out of range: see VadConfig's documentation"
            ),
            AudioConfigError::NoSpeechBands => write!(
                f,
                "no mel band lies in the 300-3400 Hz speech band: widen f_min..f_max to cover it"
            ),
        }
    }
}

impl core::error::Error for AudioConfigError {}

/// An error of a feature computation: a bad configuration or a buffer of
/// the wrong length.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AudioError {
    /// The configuration is invalid.
    Config(AudioConfigError),
    /// A buffer has the wrong number of values.
    BufferLength {
        buffer: &'static str,
        expected: usize,
        got: usize,
    },
}

impl fmt::Display for AudioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AudioError::Config(e) => write!(f, "invalid audio configuration: {e}"),
            AudioError::BufferLength {
                buffer,
                expected,
                got,
            } => write!(
                f,
                "`{buffer}` holds {got} values but {expected} are needed: size it from the configuration (frames x n_mels)"
            ),
        }
    }
}

impl core::error::Error for AudioError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            AudioError::Config(e) => Some(e),
            AudioError::BufferLength { .. } => None,
        }
    }
}

impl From<AudioConfigError> for AudioError {
    fn from(e: AudioConfigError) -> Self {
        AudioError::Config(e)
    }
}
