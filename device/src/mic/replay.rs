//! A microphone that replays an audio file (WAV, FLAC, Ogg Vorbis)
//! decoded and resampled through `emoedge_shared::io`.

use std::path::Path;
use std::time::Duration;

use emoedge_shared::io::{load_audio, resample};

use super::{f32_to_i16, MicError, Microphone};
use crate::clock::Clock;
use crate::kind::ErrorKind;

/// How a replay is paced and whether it loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Deliver samples no faster than real time, as a microphone would
    /// (waiting on the clock); `false` delivers them as fast as they are
    /// read.
    pub realtime: bool,
    /// Start again from the beginning at the end of the file.
    pub looping: bool,
}

/// Replays an audio file as microphone samples.
///
/// In real-time mode a read of `n` samples returns once the last of them
/// is due (`(delivered + n) / rate` seconds after the first read), as a
/// blocking ALSA read would.
pub struct ReplayMicrophone<C: Clock> {
    name: String,
    samples: Vec<i16>,
    rate: u32,
    options: ReplayOptions,
    clock: C,
    pos: usize,
    delivered: u64,
    start: Option<Duration>,
}

impl<C: Clock> ReplayMicrophone<C> {
    /// Decodes `path`, mixes it to mono and resamples it to `rate` Hz.
    pub fn open(
        path: &Path,
        rate: u32,
        options: ReplayOptions,
        clock: C,
    ) -> Result<Self, MicError> {
        let name = path.display().to_string();
        let open_err = |reason: String, kind: ErrorKind| MicError::Open {
            device: format!("replay:{name}"),
            reason,
            fix: "give a readable WAV, FLAC or Ogg Vorbis file",
            kind,
        };
        // Every failure is `Other`, a missing file too: a replay that
        // cannot be read is a wrong path or a bad file, not an unplugged
        // device worth retrying.
        let audio = load_audio(path).map_err(|e| open_err(e.to_string(), ErrorKind::Other))?;
        let mono = resample(&audio.samples, audio.sample_rate, rate)
            .map_err(|e| open_err(e.to_string(), ErrorKind::Other))?;
        if mono.is_empty() {
            return Err(open_err(
                "no samples left after resampling".into(),
                ErrorKind::Other,
            ));
        }
        Ok(ReplayMicrophone {
            name,
            samples: mono.into_iter().map(f32_to_i16).collect(),
            rate,
            options,
            clock,
            pos: 0,
            delivered: 0,
            start: None,
        })
    }

    /// Length of the file in samples at the replay rate.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Always `false`: an empty replay cannot be opened.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl<C: Clock> Microphone for ReplayMicrophone<C> {
    fn describe(&self) -> String {
        format!(
            "replay:{} ({:.2} s at {} Hz{}{})",
            self.name,
            self.samples.len() as f64 / f64::from(self.rate),
            self.rate,
            if self.options.realtime {
                ", real time"
            } else {
                ", as fast as possible"
            },
            if self.options.looping {
                ", looping"
            } else {
                ""
            }
        )
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn read(&mut self, out: &mut [i16]) -> Result<usize, MicError> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.samples.len() {
            if !self.options.looping {
                return Err(MicError::EndOfStream {
                    device: format!("replay:{}", self.name),
                    samples: self.delivered,
                });
            }
            self.pos = 0;
        }
        let n = if self.options.looping {
            out.len()
        } else {
            out.len().min(self.samples.len() - self.pos)
        };
        if self.options.realtime {
            let now = self.clock.now();
            let start = *self.start.get_or_insert(now);
            let due = start
                + Duration::from_secs_f64(
                    (self.delivered + n as u64) as f64 / f64::from(self.rate),
                );
            self.clock.sleep_until(due);
        }
        let mut written = 0;
        while written < n {
            if self.pos >= self.samples.len() {
                self.pos = 0;
            }
            let k = (n - written).min(self.samples.len() - self.pos);
            out[written..written + k].copy_from_slice(&self.samples[self.pos..self.pos + k]);
            self.pos += k;
            written += k;
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;

    fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn real_time_replay_waits_like_a_microphone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ramp.wav");
        let ramp: Vec<i16> = (0..1600).map(|i| i as i16).collect();
        write_wav(&path, 16_000, &ramp);
        let clock = MockClock::new(Duration::from_secs(1));
        let mut mic = ReplayMicrophone::open(
            &path,
            16_000,
            ReplayOptions {
                realtime: true,
                looping: false,
            },
            clock.clone(),
        )
        .unwrap();
        let mut buf = [0i16; 320]; // 20 ms
        assert_eq!(mic.read(&mut buf).unwrap(), 320);
        assert_eq!(clock.now_ms(), 1020);
        assert_eq!(&buf[..3], &[0, 1, 2]);
        assert_eq!(mic.read(&mut buf).unwrap(), 320);
        assert_eq!(clock.now_ms(), 1040);
        assert_eq!(buf[0], 320);
        let mut rest = vec![0i16; 5000];
        assert_eq!(mic.read(&mut rest).unwrap(), 960, "only what is left");
        assert_eq!(rest[959], 1599);
        assert_eq!(clock.now_ms(), 1100);
        assert_eq!(
            mic.read(&mut buf).unwrap_err().kind(),
            ErrorKind::EndOfStream
        );
    }

    #[test]
    fn looping_fast_replay_wraps_inside_a_read_and_is_resampled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.wav");
        write_wav(&path, 8_000, &[1000; 80]); // 10 ms at 8 kHz
        let clock = MockClock::default();
        let mut mic = ReplayMicrophone::open(
            &path,
            16_000,
            ReplayOptions {
                realtime: false,
                looping: true,
            },
            clock.clone(),
        )
        .unwrap();
        assert_eq!(mic.len(), 160);
        let mut buf = vec![0i16; 500];
        assert_eq!(mic.read(&mut buf).unwrap(), 500);
        assert_eq!(clock.now_ms(), 0, "fast mode never waits");
        // The middle of the constant signal survives resampling.
        assert!((buf[80] - 1000).abs() < 40, "{}", buf[80]);
        assert!((buf[160 + 80] - 1000).abs() < 40, "second loop");
    }

    #[test]
    fn unreadable_files_are_open_errors() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReplayOptions {
            realtime: false,
            looping: false,
        };
        let missing = ReplayMicrophone::open(
            &dir.path().join("no.wav"),
            16_000,
            opts,
            MockClock::default(),
        )
        .err()
        .unwrap();
        assert_eq!(
            missing.kind(),
            ErrorKind::Other,
            "a wrong path, not an unplugged device"
        );
        let empty = dir.path().join("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        let err = ReplayMicrophone::open(&empty, 16_000, opts, MockClock::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
