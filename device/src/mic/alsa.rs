//! The real microphone: ALSA capture, interleaved signed 16-bit (feature
//! `mic-alsa`).
//!
//! Mono is preferred; a device that only records two or more channels is
//! mixed down to mono here. The sample rate must be available exactly: use
//! a `plughw:CARD,DEV` or `default` device so that ALSA's plug layer
//! converts rate and format when the hardware cannot.

use std::ffi::CString;
use std::time::Duration;

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

use super::{MicError, Microphone};
use crate::kind::ErrorKind;

/// What to ask the microphone for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlsaConfig {
    /// ALSA PCM name, e.g. `plughw:1,0`, `default`, `sysdefault:CARD=Device`.
    pub device: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// ALSA period (wake-up interval), in milliseconds.
    pub period_ms: u32,
    /// How long a read waits for samples before reporting
    /// [`ErrorKind::Timeout`].
    pub timeout: Duration,
}

/// An ALSA capture device delivering mono `i16` samples.
pub struct AlsaMicrophone {
    device: String,
    pcm: PCM,
    rate: u32,
    channels: usize,
    /// Interleaved scratch for multi-channel devices, allocated once.
    scratch: Vec<i16>,
    timeout_ms: u32,
    overruns: u64,
}

fn alsa_kind(e: &alsa::Error) -> ErrorKind {
    ErrorKind::from_errno(e.errno())
}

impl AlsaMicrophone {
    /// Opens and configures the capture device.
    pub fn open(config: &AlsaConfig) -> Result<Self, MicError> {
        let device = config.device.clone();
        let open_err = |e: alsa::Error| {
            let kind = alsa_kind(&e);
            let fix = match e.errno() {
                libc::EACCES | libc::EPERM => {
                    "add the user to the `audio` group (`sudo usermod -aG audio $USER`, then log in again)"
                }
                libc::EBUSY => "another program is recording from this device; stop it or use a `dsnoop` device",
                _ => "is the microphone plugged in? `arecord -L` lists device names and `arecord -l` the cards; \
                      set `mic.device` in the board profile or pass `--mic alsa:NAME`",
            };
            MicError::Open {
                device: device.clone(),
                reason: e.to_string(),
                fix,
                kind,
            }
        };
        let wanted = format!("{} Hz S16", config.sample_rate);
        let unsupported = |what: &str, e: alsa::Error| MicError::Unsupported {
            device: device.clone(),
            wanted: wanted.clone(),
            reason: format!("{what}: {e}"),
        };
        let cname = CString::new(config.device.as_str()).map_err(|_| MicError::Open {
            device: device.clone(),
            reason: "the device name contains a NUL byte".into(),
            fix: "give a valid ALSA device name such as `default` or `plughw:1,0`",
            kind: ErrorKind::Other,
        })?;
        let pcm = PCM::open(&cname, Direction::Capture, false).map_err(open_err)?;
        let (rate, channels, period) = {
            let hwp = HwParams::any(&pcm).map_err(open_err)?;
            hwp.set_access(Access::RWInterleaved)
                .map_err(|e| unsupported("interleaved access", e))?;
            hwp.set_format(Format::s16())
                .map_err(|e| unsupported("signed 16-bit samples", e))?;
            let channels = match hwp.set_channels(1) {
                Ok(()) => 1,
                Err(_) => hwp
                    .set_channels_near(1)
                    .map_err(|e| unsupported("channel count", e))?,
            };
            hwp.set_rate(config.sample_rate, ValueOr::Nearest)
                .map_err(|e| {
                    let range = match (hwp.get_rate_min(), hwp.get_rate_max()) {
                        (Ok(lo), Ok(hi)) => format!(" (the device records {lo}..={hi} Hz)"),
                        _ => String::new(),
                    };
                    unsupported(&format!("sample rate {}{range}", config.sample_rate), e)
                })?;
            let period_frames = (u64::from(config.sample_rate) * u64::from(config.period_ms.max(1))
                / 1000)
                .max(32) as alsa::pcm::Frames;
            let period = hwp
                .set_period_size_near(period_frames, ValueOr::Nearest)
                .map_err(|e| unsupported("period size", e))?;
            // Eight periods of headroom before an overrun.
            hwp.set_buffer_size_near(period * 8)
                .map_err(|e| unsupported("buffer size", e))?;
            pcm.hw_params(&hwp)
                .map_err(|e| unsupported("hardware parameters", e))?;
            let rate = hwp.get_rate().map_err(open_err)?;
            (rate, channels as usize, period.max(1) as usize)
        };
        if rate != config.sample_rate {
            return Err(MicError::Unsupported {
                device: device.clone(),
                wanted,
                reason: format!("the device gave {rate} Hz"),
            });
        }
        // The format was verified once here, so reads can skip the check.
        pcm.io_checked::<i16>()
            .map_err(|e| unsupported("signed 16-bit samples", e))?;
        pcm.prepare().map_err(open_err)?;
        pcm.start().map_err(open_err)?;
        log::info!(
            "microphone {}: {rate} Hz, {channels} channel(s), period {period} frames",
            config.device
        );
        Ok(AlsaMicrophone {
            device: config.device.clone(),
            pcm,
            rate,
            channels,
            scratch: if channels > 1 {
                vec![0; period * 4 * channels]
            } else {
                Vec::new()
            },
            timeout_ms: u32::try_from(config.timeout.as_millis()).unwrap_or(u32::MAX),
            overruns: 0,
        })
    }

    /// Channels recorded by the device (mixed down to mono on read).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Overruns recovered since opening.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Turns an ALSA error into a [`MicError`]; an overrun (`EPIPE`) or a
    /// suspend (`ESTRPIPE`) re-prepares the stream first so the next read
    /// works.
    fn fail(&mut self, e: alsa::Error) -> MicError {
        let mut kind = alsa_kind(&e);
        if kind == ErrorKind::Overrun {
            self.overruns += 1;
            let recovered = self.pcm.prepare().and_then(|_| self.pcm.start());
            if let Err(e2) = recovered {
                log::warn!(
                    "microphone {}: recovering from an overrun failed: {e2}",
                    self.device
                );
                kind = alsa_kind(&e2);
                if kind == ErrorKind::Overrun {
                    kind = ErrorKind::Other;
                }
            }
        }
        MicError::Read {
            device: self.device.clone(),
            reason: e.to_string(),
            kind,
        }
    }
}

impl Microphone for AlsaMicrophone {
    fn describe(&self) -> String {
        format!("alsa:{} {} Hz", self.device, self.rate)
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn read(&mut self, out: &mut [i16]) -> Result<usize, MicError> {
        if out.is_empty() {
            return Ok(0);
        }
        match self.pcm.wait(Some(self.timeout_ms)) {
            Ok(true) => {}
            Ok(false) => {
                return Err(MicError::Read {
                    device: self.device.clone(),
                    reason: format!("no samples within {} ms", self.timeout_ms),
                    kind: ErrorKind::Timeout,
                })
            }
            Err(e) => return Err(self.fail(e)),
        }
        // SAFETY: the stream's format was verified as native-endian S16 in
        // `open`, and this `IO` is the only one alive: it is dropped at the
        // end of this block.
        let result = {
            let io = unsafe { self.pcm.io_unchecked::<i16>() };
            if self.channels == 1 {
                io.readi(out)
            } else {
                let frames = out.len().min(self.scratch.len() / self.channels);
                io.readi(&mut self.scratch[..frames * self.channels])
            }
        };
        let frames = match result {
            Ok(frames) => frames,
            Err(e) => return Err(self.fail(e)),
        };
        if self.channels > 1 {
            let c = self.channels;
            for (o, frame) in out
                .iter_mut()
                .zip(self.scratch[..frames * c].chunks_exact(c))
            {
                let sum: i32 = frame.iter().map(|&s| i32::from(s)).sum();
                *o = (sum / c as i32) as i16;
            }
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_device_name_fails_cleanly() {
        let err = AlsaMicrophone::open(&AlsaConfig {
            device: "emoedge_no_such_pcm".into(),
            sample_rate: 16_000,
            period_ms: 20,
            timeout: Duration::from_millis(100),
        })
        .err()
        .expect("an undefined PCM must not open");
        assert!(matches!(err, MicError::Open { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Disconnected);
        assert!(err.to_string().contains("emoedge_no_such_pcm"), "{err}");
    }

    #[test]
    fn nul_in_device_name_is_an_error_not_a_panic() {
        let err = AlsaMicrophone::open(&AlsaConfig {
            device: "hw:\0".into(),
            sample_rate: 16_000,
            period_ms: 20,
            timeout: Duration::from_millis(100),
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("NUL"));
    }
}
