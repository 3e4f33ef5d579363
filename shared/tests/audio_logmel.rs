//! Log-mel front end: agreement with an independent float64 reference,
//! configuration validation, streaming, framing, DC invariance, Nyquist.

mod audio_support;

use std::f64::consts::PI;

use audio_support::{chirp, speech, tone, Noise};
use emoedge_shared::audio::{
    frame_count, logmel_frames, AudioConfigError, LogMel, LogMelConfig, DC_CUTOFF_HZ,
};

/// Float64 reference of the whole pipeline, written from the
/// specification only: primed DC blocker, pre-emphasis, periodic Hann,
/// O(N²) DFT, |X|², HTK triangular mel filters without normalisation,
/// ln(mel + floor). Returns (log-mel, mel power) per frame.
fn reference(cfg: &LogMelConfig, x: &[f32]) -> Vec<(Vec<f64>, Vec<f64>)> {
    let sr = cfg.sample_rate as f64;
    let (n_fft, win, hop) = (
        cfg.n_fft as usize,
        cfg.win_length as usize,
        cfg.hop_length as usize,
    );
    let n_mels = cfg.n_mels as usize;

    // DC blocker (x[-1] = x[0], y[-1] = 0) then pre-emphasis (y[-1] = 0).
    let r = (-2.0 * PI * DC_CUTOFF_HZ as f64 / sr).exp();
    let a = cfg.pre_emphasis as f64;
    let mut filtered = Vec::with_capacity(x.len());
    let (mut xp, mut yp, mut pp) = (x.first().copied().unwrap_or(0.0) as f64, 0.0f64, 0.0f64);
    for &s in x {
        let s = s as f64;
        let y = s - xp + r * yp;
        xp = s;
        yp = y;
        filtered.push(y - a * pp);
        pp = y;
    }

    // Periodic Hann.
    let hann: Vec<f64> = (0..win)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / win as f64).cos())
        .collect();

    // HTK mel filterbank.
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let imel = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let (m_lo, m_hi) = (mel(cfg.f_min as f64), mel(cfg.f_max as f64));
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|i| imel(m_lo + (m_hi - m_lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let n_bins = n_fft / 2 + 1;
    let fb: Vec<Vec<f64>> = (0..n_mels)
        .map(|m| {
            (0..n_bins)
                .map(|k| {
                    let f = k as f64 * sr / n_fft as f64;
                    let up = (f - edges[m]) / (edges[m + 1] - edges[m]);
                    let down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                    up.min(down).max(0.0)
                })
                .collect()
        })
        .collect();

    // DFT tables.
    let cos_t: Vec<f64> = (0..n_fft)
        .map(|i| (2.0 * PI * i as f64 / n_fft as f64).cos())
        .collect();
    let sin_t: Vec<f64> = (0..n_fft)
        .map(|i| (2.0 * PI * i as f64 / n_fft as f64).sin())
        .collect();

    let n_frames = if x.len() < win {
        0
    } else {
        (x.len() - win) / hop + 1
    };
    (0..n_frames)
        .map(|i| {
            let seg: Vec<f64> = (0..win).map(|n| filtered[i * hop + n] * hann[n]).collect();
            let power: Vec<f64> = (0..n_bins)
                .map(|k| {
                    let (mut re, mut im) = (0.0, 0.0);
                    for (n, v) in seg.iter().enumerate() {
                        let idx = (k * n) % n_fft;
                        re += v * cos_t[idx];
                        im -= v * sin_t[idx];
                    }
                    re * re + im * im
                })
                .collect();
            let melp: Vec<f64> = fb
                .iter()
                .map(|w| w.iter().zip(&power).map(|(w, p)| w * p).sum())
                .collect();
            let logm = melp
                .iter()
                .map(|p| (p + cfg.log_floor as f64).ln())
                .collect();
            (logm, melp)
        })
        .collect()
}

/// Agreement with the reference, in the natural-log domain, over the bands
/// whose reference mel power is above `log_floor * 100`:
/// `(max |Δ| over bands within 50 dB of the frame's strongest band,
///   max |Δ| over all of them, bands compared)`.
fn log_diffs(cfg: &LogMelConfig, x: &[f32]) -> (f64, f64, usize) {
    let ours = logmel_frames(cfg, x).unwrap();
    let refr = reference(cfg, x);
    let n_mels = cfg.n_mels as usize;
    assert_eq!(ours.len(), refr.len() * n_mels);
    let (mut near, mut all) = (0.0f64, 0.0f64);
    let mut compared = 0;
    for (i, (logm, melp)) in refr.iter().enumerate() {
        let peak = melp.iter().cloned().fold(0.0, f64::max);
        for m in 0..n_mels {
            if melp[m] > cfg.log_floor as f64 * 100.0 {
                let d = (ours[i * n_mels + m] as f64 - logm[m]).abs();
                all = all.max(d);
                if melp[m] > peak * 1e-5 {
                    near = near.max(d);
                }
                compared += 1;
            }
        }
    }
    (near, all, compared)
}

fn chirp_plus_noise(n: usize) -> Vec<f32> {
    let mut noise = Noise::new(7);
    chirp(n, 16_000.0, 80.0, 7_800.0, 0.5)
        .into_iter()
        .zip(noise.samples(n, 0.01))
        .map(|(c, w)| c + w + 0.04)
        .collect()
}

/// Tolerance of the float32 pipeline against the float64 reference: max
/// abs difference of natural-log mel values < 1e-3 for every band whose mel
/// power is above `log_floor * 100` and within 50 dB of the frame's
/// strongest band. Float32 FFT rounding is relative to the frame's total
/// energy, so weaker bands get the looser `LOG_TOL_WEAK` (measured: up to
/// 1e-3 for bands 60 dB down with n_fft = 1024).
const LOG_TOL: f64 = 1e-3;
const LOG_TOL_WEAK: f64 = 1e-2;

#[test]
fn matches_f64_reference_default_config() {
    let cfg = LogMelConfig::default();
    let x = chirp_plus_noise(8_000);
    let (near, all, compared) = log_diffs(&cfg, &x);
    println!("default config: max |Δ ln mel| = {near:e} (within 50 dB), {all:e} (all) over {compared} bands");
    assert!(compared > 40 * 64, "too few bands compared: {compared}");
    assert!(near < LOG_TOL, "max log-mel difference {near}");
    assert!(
        all < LOG_TOL_WEAK,
        "max log-mel difference, weak bands {all}"
    );
}

#[test]
fn matches_f64_reference_other_fft_sizes() {
    let configs = [
        LogMelConfig {
            n_fft: 1024,
            win_length: 1024,
            hop_length: 256,
            n_mels: 80,
            f_min: 0.0,
            pre_emphasis: 0.0,
            ..LogMelConfig::default()
        },
        LogMelConfig {
            n_fft: 256,
            win_length: 200,
            hop_length: 80,
            n_mels: 24,
            f_min: 100.0,
            f_max: 7_000.0,
            ..LogMelConfig::default()
        },
    ];
    let x = chirp_plus_noise(6_000);
    for cfg in configs {
        let (near, all, compared) = log_diffs(&cfg, &x);
        println!(
            "n_fft {}: max |Δ ln mel| = {near:e} (within 50 dB), {all:e} (all) over {compared} bands",
            cfg.n_fft
        );
        assert!(compared > 1_000, "too few bands compared: {compared}");
        assert!(
            near < LOG_TOL,
            "n_fft {}: max log-mel difference {near}",
            cfg.n_fft
        );
        assert!(all < LOG_TOL_WEAK, "n_fft {}: weak bands {all}", cfg.n_fft);
    }
}

#[test]
fn config_validation_errors() {
    let ok = LogMelConfig::default();
    assert!(ok.validate().is_ok());
    assert!(LogMel::new(ok).is_ok());
    let cases: Vec<(LogMelConfig, AudioConfigError)> = vec![
        (
            LogMelConfig { n_fft: 500, ..ok },
            AudioConfigError::UnsupportedFftSize { n_fft: 500 },
        ),
        (
            LogMelConfig {
                n_fft: 2048,
                win_length: 2048,
                ..ok
            },
            AudioConfigError::UnsupportedFftSize { n_fft: 2048 },
        ),
        (
            LogMelConfig {
                win_length: 600,
                ..ok
            },
            AudioConfigError::WindowLongerThanFft {
                win_length: 600,
                n_fft: 512,
            },
        ),
        (
            LogMelConfig {
                win_length: 0,
                ..ok
            },
            AudioConfigError::Zero {
                field: "win_length",
            },
        ),
        (
            LogMelConfig {
                hop_length: 0,
                ..ok
            },
            AudioConfigError::Zero {
                field: "hop_length",
            },
        ),
        (
            LogMelConfig { n_mels: 0, ..ok },
            AudioConfigError::Zero { field: "n_mels" },
        ),
        (
            LogMelConfig {
                sample_rate: 0,
                ..ok
            },
            AudioConfigError::Zero {
                field: "sample_rate",
            },
        ),
        (
            LogMelConfig {
                f_max: 8_001.0,
                ..ok
            },
            AudioConfigError::FrequencyRange {
                f_min: 50.0,
                f_max: 8_001.0,
                nyquist: 8_000.0,
            },
        ),
        (
            LogMelConfig {
                f_min: 4_000.0,
                f_max: 3_000.0,
                ..ok
            },
            AudioConfigError::FrequencyRange {
                f_min: 4_000.0,
                f_max: 3_000.0,
                nyquist: 8_000.0,
            },
        ),
        (
            LogMelConfig {
                pre_emphasis: 1.0,
                ..ok
            },
            AudioConfigError::PreEmphasis { value: 1.0 },
        ),
        (
            LogMelConfig {
                log_floor: 0.0,
                ..ok
            },
            AudioConfigError::LogFloor { value: 0.0 },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(cfg.validate(), Err(want), "{cfg:?}");
        assert_eq!(LogMel::new(cfg).err(), Some(want));
        assert_eq!(logmel_frames(&cfg, &[0.0; 1000]).err(), Some(want));
        // Messages name the cause.
        assert!(!want.to_string().is_empty());
    }
    let nan = LogMelConfig {
        f_min: f32::NAN,
        ..ok
    };
    assert!(matches!(
        nan.validate(),
        Err(AudioConfigError::FrequencyRange { .. })
    ));
    // 128 bands on a 256-point FFT leave low bands without a bin.
    let empty = LogMelConfig {
        n_fft: 256,
        win_length: 256,
        n_mels: 128,
        f_min: 0.0,
        ..ok
    };
    assert!(empty.validate().is_ok());
    assert!(matches!(
        LogMel::new(empty).err(),
        Some(AudioConfigError::EmptyMelBand { .. })
    ));
}

#[test]
fn chunked_streaming_equals_one_push() {
    let cfg = LogMelConfig::default();
    let x = chirp_plus_noise(16_000);
    let whole = logmel_frames(&cfg, &x).unwrap();
    for chunk in [1usize, 7, 159, 160, 161, 333, 1000, 5000] {
        let mut lm = LogMel::new(cfg).unwrap();
        let mut got = Vec::new();
        let mut frame = vec![0.0f32; 64];
        for c in x.chunks(chunk) {
            assert_eq!(lm.push(c), c.len());
            while lm.pop_frame(&mut frame) {
                got.extend_from_slice(&frame);
            }
        }
        assert_eq!(got, whole, "chunk size {chunk}");
    }
    // Irregular chunk sizes through `process`.
    let mut lm = LogMel::new(cfg).unwrap();
    let mut got = Vec::new();
    let mut rest = &x[..];
    let mut size = 1;
    while !rest.is_empty() {
        let n = size.min(rest.len());
        lm.process(&rest[..n], |f| got.extend_from_slice(f));
        rest = &rest[n..];
        size = (size * 7 + 3) % 977 + 1;
    }
    assert_eq!(got, whole);
}

#[test]
fn frame_count_formula() {
    let cfg = LogMelConfig::default();
    for n in [0usize, 1, 399, 400, 401, 559, 560, 561, 16_000, 16_001] {
        let expect = if n < 400 { 0 } else { (n - 400) / 160 + 1 };
        assert_eq!(frame_count(&cfg, n), expect, "n = {n}");
        let frames = logmel_frames(&cfg, &vec![0.01; n]).unwrap();
        assert_eq!(frames.len(), expect * 64, "n = {n}");
    }
}

#[test]
fn dc_offset_does_not_change_features() {
    let cfg = LogMelConfig::default();
    let x = speech();
    let x = &x[..16_000];
    let shifted: Vec<f32> = x.iter().map(|v| v + 0.04).collect();
    let a = logmel_frames(&cfg, x).unwrap();
    let b = logmel_frames(&cfg, &shifted).unwrap();
    let floor = cfg.log_floor.ln() + (100.0f32).ln();
    let mut worst = 0.0f32;
    // From 100 ms on (frame 10), bands above 100 × floor.
    for (i, (fa, fb)) in a.chunks(64).zip(b.chunks(64)).enumerate().skip(10) {
        for (va, vb) in fa.iter().zip(fb) {
            if *va > floor {
                worst = worst.max((va - vb).abs());
            }
        }
        assert!(
            fa.iter().zip(fb).all(|(p, q)| (p - q).abs() < 0.05),
            "frame {i}"
        );
    }
    println!("max log-mel change from a DC offset of 0.04: {worst:e}");
    assert!(
        worst < 1e-3,
        "max log-mel change from a 0.04 DC offset: {worst}"
    );

    // Without the DC blocker the offset would show: check that the test
    // signal is sensitive, i.e. a low-frequency change does move features.
    let hum: Vec<f32> = x
        .iter()
        .zip(tone(x.len(), 16_000.0, 60.0, 0.04))
        .map(|(v, h)| v + h)
        .collect();
    let c = logmel_frames(&cfg, &hum).unwrap();
    let moved = a
        .iter()
        .zip(&c)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(
        moved > 0.1,
        "a 60 Hz hum should change the low bands: {moved}"
    );
}

#[test]
fn nyquist_tone_lands_in_top_band() {
    let cfg = LogMelConfig::default();
    let n_mels = cfg.n_mels as usize;
    for freq in [7_950.0, 8_000.0] {
        // At exactly sr/2, start at a phase that is not a zero crossing.
        let x: Vec<f32> = (0..4_000)
            .map(|i| (0.5 * (PI * freq / 8_000.0 * i as f64 + PI / 4.0).cos()) as f32)
            .collect();
        let frames = logmel_frames(&cfg, &x).unwrap();
        for f in frames.chunks(n_mels).skip(2) {
            let argmax = f
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap();
            assert_eq!(argmax, n_mels - 1, "{freq} Hz: {f:?}");
            // None of it leaks into the lowest band (it would if the packed
            // Nyquist value were read as part of the DC bin).
            assert!(
                f[0] < f[n_mels - 1] - 15.0,
                "{freq} Hz: low {} top {}",
                f[0],
                f[n_mels - 1]
            );
        }
    }
}

#[test]
fn silence_gives_floor_value() {
    let cfg = LogMelConfig::default();
    let frames = logmel_frames(&cfg, &[0.0; 2_000]).unwrap();
    let floor = cfg.floor_value();
    assert!(frames.iter().all(|v| (v - floor).abs() < 1e-6));
}

/// Front-end speed (release builds: `cargo test --release -p emoedge-shared
/// --features std --test audio_logmel -- --ignored --nocapture`).
#[test]
#[ignore = "timing, run in release"]
fn one_second_of_audio_is_fast() {
    let cfg = LogMelConfig::default();
    let x = chirp_plus_noise(16_000);
    let mut lm = LogMel::new(cfg).unwrap();
    let mut sink = 0.0f32;
    // Best of many runs: the host may be busy.
    let per = (0..300)
        .map(|_| {
            let t = std::time::Instant::now();
            lm.reset();
            lm.process(&x, |f| sink += f[0]);
            t.elapsed()
        })
        .min()
        .unwrap();
    println!("log-mel of 1 s of 16 kHz audio: {per:?} (best of 300; sink {sink})");
    assert!(per.as_micros() < 1_000, "{per:?}");
}
