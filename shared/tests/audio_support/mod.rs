//! Test-only helpers of the audio tests: a canonical-WAV reader and
//! deterministic signal generators.
#![allow(dead_code)]

use std::f64::consts::PI;

/// Reads a canonical 44-byte-header PCM WAV (mono, 16-bit) into samples in
/// [-1, 1] and its sample rate.
pub fn read_wav_mono16(path: &str) -> (Vec<f32>, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(bytes.len() >= 44, "{path}: shorter than a WAV header");
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    assert_eq!(&bytes[12..16], b"fmt ");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!(u32_at(16), 16, "fmt chunk is not the canonical 16 bytes");
    assert_eq!(u16_at(20), 1, "not PCM");
    assert_eq!(u16_at(22), 1, "not mono");
    let rate = u32_at(24);
    assert_eq!(u16_at(34), 16, "not 16-bit");
    assert_eq!(&bytes[36..40], b"data");
    let len = u32_at(40) as usize;
    let data = &bytes[44..44 + len.min(bytes.len() - 44)];
    let samples = data
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
        .collect();
    (samples, rate)
}

/// The committed espeak-ng speech fixture (16 kHz).
pub fn speech() -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_16k.wav");
    let (s, rate) = read_wav_mono16(path);
    assert_eq!(rate, 16_000);
    s
}

/// Deterministic Gaussian noise (xorshift64* + Box-Muller).
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.max(1))
    }

    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    /// `n` samples of white Gaussian noise of standard deviation `std`.
    pub fn samples(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.gaussian() * std as f64) as f32)
            .collect()
    }
}

/// Linear chirp from `f0` to `f1` Hz over `n` samples, amplitude `amp`.
pub fn chirp(n: usize, sr: f64, f0: f64, f1: f64, amp: f64) -> Vec<f32> {
    let t_total = n as f64 / sr;
    (0..n)
        .map(|i| {
            let t = i as f64 / sr;
            let phase = 2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * t_total));
            (amp * phase.sin()) as f32
        })
        .collect()
}

/// Sine of `freq` Hz, amplitude `amp`, `n` samples.
pub fn tone(n: usize, sr: f64, freq: f64, amp: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / sr).sin()) as f32)
        .collect()
}
