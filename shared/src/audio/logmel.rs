//! Streaming log-mel extractor.
//!
//! Per frame: the [`InputFilter`] output (DC blocker + pre-emphasis, applied
//! sample by sample as samples are pushed) is multiplied by a periodic Hann
//! window of `win_length` samples (`w[i] = 0.5 - 0.5 cos(2π i / win_length)`),
//! zero-padded at the end to `n_fft`, transformed with a microfft real FFT,
//! turned into the power spectrum `|X[k]|²` (`k = 0..=n_fft/2`, no
//! scaling), passed through the HTK [`MelFilterbank`] (no area
//! normalisation) and mapped to `ln(mel_power + log_floor)` (natural log).
//!
//! Framing: frame `i` covers input samples `[i·hop, i·hop + win_length)`;
//! there is no centring and no padding, so `n` samples give
//! `floor((n - win_length) / hop) + 1` frames (0 when `n < win_length`),
//! see [`frame_count`]. Zero-padding the window at the end of the FFT
//! buffer (rather than centring it) only changes the phase of the
//! spectrum, not the power.

use alloc::vec;
use alloc::vec::Vec;

use microfft::Complex32;

use super::{AudioConfigError, InputFilter, LogMelConfig, MelFilterbank};

/// Real FFT sizes compiled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FftSize {
    N256,
    N512,
    N1024,
}

impl FftSize {
    fn from_n(n: u16) -> Result<Self, AudioConfigError> {
        match n {
            256 => Ok(FftSize::N256),
            512 => Ok(FftSize::N512),
            1024 => Ok(FftSize::N1024),
            _ => Err(AudioConfigError::UnsupportedFftSize { n_fft: n }),
        }
    }
}

/// In-place real FFT of `buf` (whose length must match `size`) followed by
/// the power spectrum into `power` (`n/2 + 1` bins). microfft packs the
/// real Nyquist coefficient into the imaginary part of the DC bin; it is
/// unpacked here into `power[n/2]`.
fn power_spectrum(size: FftSize, buf: &mut [f32], power: &mut [f32]) {
    let spectrum: &[Complex32] = match size {
        FftSize::N256 => match <&mut [f32; 256]>::try_from(buf) {
            Ok(a) => microfft::real::rfft_256(a),
            Err(_) => return,
        },
        FftSize::N512 => match <&mut [f32; 512]>::try_from(buf) {
            Ok(a) => microfft::real::rfft_512(a),
            Err(_) => return,
        },
        FftSize::N1024 => match <&mut [f32; 1024]>::try_from(buf) {
            Ok(a) => microfft::real::rfft_1024(a),
            Err(_) => return,
        },
    };
    let half = spectrum.len();
    if power.len() != half + 1 {
        return;
    }
    power[0] = spectrum[0].re * spectrum[0].re;
    power[half] = spectrum[0].im * spectrum[0].im;
    for (p, c) in power[1..half].iter_mut().zip(&spectrum[1..]) {
        *p = c.re * c.re + c.im * c.im;
    }
}

/// Non-finite samples would poison the filters' state forever: take them
/// as 0.
#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Number of frames `n_samples` samples give:
/// `floor((n_samples - win_length) / hop_length) + 1`, or 0 when
/// `n_samples < win_length` (or the configuration has a zero length).
pub fn frame_count(cfg: &LogMelConfig, n_samples: usize) -> usize {
    let win = cfg.win_length as usize;
    let hop = cfg.hop_length as usize;
    if win == 0 || hop == 0 || n_samples < win {
        0
    } else {
        (n_samples - win) / hop + 1
    }
}

/// Streaming log-mel extractor (see the module documentation for the
/// exact computation and framing).
///
/// All buffers are allocated in [`new`](Self::new); pushing samples and
/// popping frames never allocates. Samples go through the DC blocker and
/// pre-emphasis as they are pushed and wait in a ring buffer of fixed
/// capacity until popped as frames.
#[derive(Clone, Debug)]
pub struct LogMel {
    cfg: LogMelConfig,
    filter: InputFilter,
    fft: FftSize,
    mel: MelFilterbank,
    window: Vec<f32>,
    fft_buf: Vec<f32>,
    power: Vec<f32>,
    frame: Vec<f32>,
    ring: Vec<f32>,
    /// Index in `ring` of the first sample of the next frame.
    head: usize,
    /// Samples stored in `ring`.
    len: usize,
    /// Filtered samples still to drop before storing (`hop > win`).
    skip: usize,
}

impl LogMel {
    /// An extractor whose ring buffer holds `win_length + sample_rate / 2`
    /// samples (half a second of audio beyond one window).
    pub fn new(cfg: LogMelConfig) -> Result<Self, AudioConfigError> {
        let capacity = cfg.win_length.max(cfg.hop_length) as usize + cfg.sample_rate as usize / 2;
        Self::with_capacity(cfg, capacity)
    }

    /// An extractor whose ring buffer holds `capacity` samples (raised to
    /// `win_length` if smaller). Validates the configuration, including
    /// that every mel band covers an FFT bin.
    pub fn with_capacity(cfg: LogMelConfig, capacity: usize) -> Result<Self, AudioConfigError> {
        cfg.validate()?;
        let fft = FftSize::from_n(cfg.n_fft)?;
        let mel = MelFilterbank::new(&cfg)?;
        let win = cfg.win_length as usize;
        let n_fft = cfg.n_fft as usize;
        let window = (0..win)
            .map(|i| {
                let phase = 2.0 * core::f64::consts::PI * i as f64 / win as f64;
                (0.5 - 0.5 * libm::cos(phase)) as f32
            })
            .collect();
        Ok(LogMel {
            filter: InputFilter::new(cfg.sample_rate, cfg.pre_emphasis),
            fft,
            mel,
            window,
            fft_buf: vec![0.0; n_fft],
            power: vec![0.0; n_fft / 2 + 1],
            frame: vec![0.0; cfg.n_mels as usize],
            ring: vec![0.0; capacity.max(win)],
            head: 0,
            len: 0,
            skip: 0,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LogMelConfig {
        &self.cfg
    }

    /// Values per frame (`n_mels`).
    pub fn n_mels(&self) -> usize {
        self.cfg.n_mels as usize
    }

    /// The mel filterbank in use.
    pub fn filterbank(&self) -> &MelFilterbank {
        &self.mel
    }

    /// Ring buffer capacity in samples.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Samples waiting in the ring buffer.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// How many more samples [`push`](Self::push) accepts now.
    pub fn free_capacity(&self) -> usize {
        self.ring.len() - self.len
    }

    /// Frames [`pop_frame`](Self::pop_frame) can return now.
    pub fn frames_ready(&self) -> usize {
        let win = self.window.len();
        if self.len < win {
            0
        } else {
            (self.len - win) / self.cfg.hop_length as usize + 1
        }
    }

    /// Forgets all buffered samples and the filter history, as if new.
    pub fn reset(&mut self) {
        self.filter.reset();
        self.head = 0;
        self.len = 0;
        self.skip = 0;
    }

    /// Feeds samples (in `[-1, 1]`; non-finite samples are taken as 0) and
    /// returns how many were accepted: all of them unless the ring buffer
    /// fills up, in which case pop frames and push the rest. Use
    /// [`process`](Self::process) to handle any length in one call.
    #[must_use = "samples beyond the free capacity are not accepted"]
    pub fn push(&mut self, samples: &[f32]) -> usize {
        let mut rest = samples;
        // Samples between frames when the hop exceeds the window: filtered
        // (to keep the filter state continuous) and dropped.
        let n_skip = self.skip.min(rest.len());
        for &x in &rest[..n_skip] {
            self.filter.process(sanitize(x));
        }
        self.skip -= n_skip;
        rest = &rest[n_skip..];

        let cap = self.ring.len();
        let n_store = rest.len().min(cap - self.len);
        let mut tail = self.head + self.len;
        if tail >= cap {
            tail -= cap;
        }
        // At most two contiguous runs: up to the end of the ring, then
        // from its start.
        let first = n_store.min(cap - tail);
        let (a, b) = rest[..n_store].split_at(first);
        for (dst, &x) in self.ring[tail..tail + first].iter_mut().zip(a) {
            *dst = self.filter.process(sanitize(x));
        }
        for (dst, &x) in self.ring[..b.len()].iter_mut().zip(b) {
            *dst = self.filter.process(sanitize(x));
        }
        self.len += n_store;
        n_skip + n_store
    }

    /// Writes the next frame (`n_mels` log-mel values) into
    /// `out[..n_mels]` and returns `true`; returns `false` and leaves `out`
    /// untouched when no full frame is buffered or `out` is shorter than
    /// `n_mels`.
    pub fn pop_frame(&mut self, out: &mut [f32]) -> bool {
        let n_mels = self.n_mels();
        let win = self.window.len();
        if out.len() < n_mels || self.len < win {
            return false;
        }
        let out = &mut out[..n_mels];
        // Window the oldest `win` samples (the ring may wrap) into the FFT
        // buffer, zero-padding the rest.
        let cap = self.ring.len();
        let first = win.min(cap - self.head);
        let (w_a, w_b) = self.window.split_at(first);
        let (f_a, f_rest) = self.fft_buf.split_at_mut(first);
        for ((f, s), w) in f_a.iter_mut().zip(&self.ring[self.head..]).zip(w_a) {
            *f = s * w;
        }
        let (f_b, f_pad) = f_rest.split_at_mut(win - first);
        for ((f, s), w) in f_b.iter_mut().zip(&self.ring[..]).zip(w_b) {
            *f = s * w;
        }
        f_pad.fill(0.0);

        power_spectrum(self.fft, &mut self.fft_buf, &mut self.power);
        self.mel.apply(&self.power, out);
        let floor = self.cfg.log_floor;
        for v in out.iter_mut() {
            // Rounding can leave a tiny negative power; clamp before the log.
            *v = libm::logf(v.max(0.0) + floor);
        }

        let hop = self.cfg.hop_length as usize;
        let consumed = hop.min(self.len);
        self.head = (self.head + consumed) % cap;
        self.len -= consumed;
        self.skip += hop - consumed;
        true
    }

    /// Feeds any number of samples and calls `on_frame` with every frame
    /// (`n_mels` values) that completes; returns the number of frames.
    /// Equivalent to alternating [`push`](Self::push) and
    /// [`pop_frame`](Self::pop_frame); never allocates.
    pub fn process<F: FnMut(&[f32])>(&mut self, samples: &[f32], mut on_frame: F) -> usize {
        let mut frame = core::mem::take(&mut self.frame);
        let mut rest = samples;
        let mut frames = 0;
        loop {
            let n = self.push(rest);
            rest = &rest[n..];
            while self.pop_frame(&mut frame) {
                on_frame(&frame);
                frames += 1;
            }
            if rest.is_empty() {
                break;
            }
        }
        self.frame = frame;
        frames
    }
}

/// Log-mel frames of a whole clip, row-major (`frames × n_mels`, frame
/// count per [`frame_count`]), computed by a fresh [`LogMel`] so offline
/// (trainer) and streaming (device) features are identical.
pub fn logmel_frames(cfg: &LogMelConfig, samples: &[f32]) -> Result<Vec<f32>, AudioConfigError> {
    let mut lm = LogMel::new(*cfg)?;
    let mut out = Vec::with_capacity(frame_count(cfg, samples.len()) * lm.n_mels());
    lm.process(samples, |f| out.extend_from_slice(f));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nyquist_bin_is_unpacked_from_dc_imaginary_part() {
        // x[n] = (-1)^n has all its energy in the Nyquist bin.
        let mut buf: Vec<f32> = (0..512)
            .map(|n| if n % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut power = vec![0.0f32; 257];
        power_spectrum(FftSize::N512, &mut buf, &mut power);
        assert!((power[256] - 512.0 * 512.0).abs() < 1.0, "{}", power[256]);
        assert!(power[0] < 1e-6, "DC {}", power[0]);
        assert!(power[1..256].iter().all(|&p| p < 1e-3));
    }

    #[test]
    fn dc_bin_is_real_part_only() {
        let mut buf = vec![0.5f32; 256];
        let mut power = vec![0.0f32; 129];
        power_spectrum(FftSize::N256, &mut buf, &mut power);
        assert!((power[0] - 128.0 * 128.0).abs() < 1e-2);
        assert!(power[128] < 1e-6);
    }

    #[test]
    fn all_supported_sizes_match_parseval() {
        for n in [256usize, 512, 1024] {
            let size = FftSize::from_n(n as u16).unwrap();
            let x: Vec<f32> = (0..n)
                .map(|i| libm::sinf(i as f32 * 0.37) * 0.3 + 0.1)
                .collect();
            let energy: f32 = x.iter().map(|v| v * v).sum();
            let mut buf = x.clone();
            let mut power = vec![0.0f32; n / 2 + 1];
            power_spectrum(size, &mut buf, &mut power);
            // Full spectrum = DC + Nyquist + 2 × the bins in between.
            let full = power[0] + power[n / 2] + 2.0 * power[1..n / 2].iter().sum::<f32>();
            let rel = (full / n as f32 - energy).abs() / energy;
            assert!(rel < 1e-4, "n = {n}: rel err {rel}");
        }
    }

    #[test]
    fn ring_wraps_without_changing_frames() {
        // A capacity that forces wrap-around at odd offsets must give the
        // same frames as a large buffer.
        let cfg = LogMelConfig::default();
        let x: Vec<f32> = (0..8000)
            .map(|i| libm::sinf(i as f32 * 0.05) * 0.5)
            .collect();
        let reference = logmel_frames(&cfg, &x).unwrap();
        let mut lm = LogMel::with_capacity(cfg, 437).unwrap();
        let mut got = Vec::new();
        lm.process(&x, |f| got.extend_from_slice(f));
        assert_eq!(got, reference);
    }

    #[test]
    fn hop_longer_than_window_skips_samples() {
        let cfg = LogMelConfig {
            win_length: 256,
            n_fft: 256,
            hop_length: 400,
            n_mels: 20,
            ..LogMelConfig::default()
        };
        let x: Vec<f32> = (0..5000).map(|i| libm::sinf(i as f32 * 0.11)).collect();
        let frames = logmel_frames(&cfg, &x).unwrap();
        assert_eq!(frames.len() / 20, frame_count(&cfg, 5000));
        assert_eq!(frame_count(&cfg, 5000), (5000 - 256) / 400 + 1);
        // Streaming in small chunks agrees.
        let mut lm = LogMel::new(cfg).unwrap();
        let mut got = Vec::new();
        for chunk in x.chunks(7) {
            lm.process(chunk, |f| got.extend_from_slice(f));
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn pop_frame_rejects_short_output() {
        let mut lm = LogMel::new(LogMelConfig::default()).unwrap();
        assert_eq!(lm.push(&[0.1; 400]), 400);
        let mut short = [0.0f32; 10];
        assert!(!lm.pop_frame(&mut short));
        let mut out = [0.0f32; 64];
        assert_eq!(lm.frames_ready(), 1);
        assert!(lm.pop_frame(&mut out));
        assert!(!lm.pop_frame(&mut out));
    }

    #[test]
    fn push_stops_at_capacity() {
        let mut lm = LogMel::with_capacity(LogMelConfig::default(), 500).unwrap();
        assert_eq!(lm.push(&[0.0; 800]), 500);
        assert_eq!(lm.free_capacity(), 0);
        let mut out = [0.0f32; 64];
        assert!(lm.pop_frame(&mut out));
        assert_eq!(lm.free_capacity(), 160);
        lm.reset();
        assert_eq!(lm.buffered(), 0);
    }

    #[test]
    fn non_finite_samples_do_not_poison_state() {
        let cfg = LogMelConfig::default();
        let mut x: Vec<f32> = (0..4000)
            .map(|i| libm::sinf(i as f32 * 0.2) * 0.3)
            .collect();
        x[10] = f32::NAN;
        x[20] = f32::INFINITY;
        let frames = logmel_frames(&cfg, &x).unwrap();
        assert!(frames.iter().all(|v| v.is_finite()));
    }
}
