//! Voice activity detection and trimming on speech (espeak-ng fixture),
//! silence and white noise.

mod audio_support;

use audio_support::{speech, Noise};
use emoedge_shared::audio::{logmel_frames, trim, LogMel, LogMelConfig, Vad, VadConfig};

const SR: usize = 16_000;
const HOP: usize = 160;
const WIN: usize = 400;

fn vad_decisions(x: &[f32]) -> Vec<bool> {
    let cfg = LogMelConfig::default();
    let mut lm = LogMel::new(cfg).unwrap();
    let mut vad = Vad::new(&cfg, VadConfig::default()).unwrap();
    let mut out = Vec::new();
    // Streaming, as on the device.
    for chunk in x.chunks(512) {
        lm.process(chunk, |f| out.push(vad.process(f).speech));
    }
    out
}

/// Per frame: is the clean signal active (frame RMS within 30 dB of the
/// loudest frame)?
fn active_frames(clean: &[f32]) -> Vec<bool> {
    let rms: Vec<f32> = (0..=(clean.len() - WIN) / HOP)
        .map(|i| {
            let s = &clean[i * HOP..i * HOP + WIN];
            (s.iter().map(|v| v * v).sum::<f32>() / WIN as f32).sqrt()
        })
        .collect();
    let max = rms.iter().cloned().fold(0.0f32, f32::max);
    rms.iter()
        .map(|&r| r > max * 10f32.powf(-30.0 / 20.0))
        .collect()
}

fn pad(x: &[f32], before: usize, after: usize) -> Vec<f32> {
    let mut v = vec![0.0; before];
    v.extend_from_slice(x);
    v.extend(std::iter::repeat_n(0.0, after));
    v
}

fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

#[test]
fn detects_most_speech_frames() {
    let clean = pad(&speech(), SR, SR);
    let truth = active_frames(&clean);
    let got = vad_decisions(&clean);
    assert_eq!(truth.len(), got.len());
    let active = truth.iter().filter(|&&t| t).count();
    let hit = truth.iter().zip(&got).filter(|(t, g)| **t && **g).count();
    let recall = hit as f32 / active as f32;
    println!("clean speech recall {recall} ({hit}/{active})");
    assert!(active > 200, "fixture too quiet: {active} active frames");
    assert!(recall > 0.9, "speech recall {recall} ({hit}/{active})");
    // The padding is silence: nothing before the speech, and nothing once
    // the hangover (20 frames) has run out after it.
    let first_active = truth.iter().position(|&t| t).unwrap();
    let last_active = truth.iter().rposition(|&t| t).unwrap();
    assert!(got[..first_active.saturating_sub(3)].iter().all(|&g| !g));
    assert!(got[last_active + 25..].iter().all(|&g| !g));
}

#[test]
fn detects_speech_in_moderate_noise() {
    let clean = pad(&speech(), SR, SR);
    let truth = active_frames(&clean);
    // White noise about 20 dB below the speech's RMS.
    let speech_rms = {
        let s = speech();
        (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt()
    };
    let noisy = add(
        &clean,
        &Noise::new(3).samples(clean.len(), speech_rms * 0.1),
    );
    let got = vad_decisions(&noisy);
    let active = truth.iter().filter(|&&t| t).count();
    let hit = truth.iter().zip(&got).filter(|(t, g)| **t && **g).count();
    let recall = hit as f32 / active as f32;
    println!("speech recall at 20 dB SNR {recall} ({hit}/{active})");
    assert!(recall > 0.75, "speech recall in noise {recall}");
    // The first second is noise only.
    let false_pos = got[..90].iter().filter(|&&g| g).count();
    assert_eq!(false_pos, 0, "speech reported in the leading noise");
}

#[test]
fn silence_is_not_speech() {
    let zeros = vec![0.0f32; 3 * SR];
    assert!(vad_decisions(&zeros).iter().all(|&s| !s));
    let hiss = Noise::new(11).samples(3 * SR, 1e-4);
    assert!(vad_decisions(&hiss).iter().all(|&s| !s));
    // With the SAVEE-like DC offset.
    let dc: Vec<f32> = hiss.iter().map(|v| v + 1300.0 / 32768.0).collect();
    assert!(vad_decisions(&dc).iter().all(|&s| !s));
}

#[test]
fn stationary_white_noise_is_not_speech_after_adaptation() {
    // 1 s of silence, then 5 s of white noise at -26 dBFS: the floor adapts
    // within ~1.3 s of the noise onset (the spectral cue also rejects it
    // earlier).
    let mut x = vec![0.0f32; SR];
    x.extend(Noise::new(5).samples(5 * SR, 0.05));
    let got = vad_decisions(&x);
    let onset = SR / HOP;
    let adapt = 150; // frames = 1.5 s
    let during = got[onset..onset + adapt].iter().filter(|&&g| g).count();
    let after = got[onset + adapt..].iter().filter(|&&g| g).count();
    println!("white noise frames called speech: {during} while adapting, {after} after");
    assert_eq!(after, 0, "speech reported in adapted white noise");
    assert!(
        during <= adapt / 10,
        "{during} noise frames called speech while adapting"
    );
    // Noise from the very first sample.
    let noise = Noise::new(6).samples(4 * SR, 0.1);
    assert!(vad_decisions(&noise).iter().all(|&g| !g));
}

fn trim_samples(x: &[f32]) -> Option<(usize, usize)> {
    let cfg = LogMelConfig::default();
    let frames = logmel_frames(&cfg, x).unwrap();
    trim(&cfg, &VadConfig::default(), &frames).unwrap()
}

#[test]
fn trim_finds_speech_within_100ms() {
    let s = speech();
    // Ground truth from the clean fixture (which starts and ends on speech).
    let truth = active_frames(&s);
    let first = truth.iter().position(|&t| t).unwrap();
    let last = truth.iter().rposition(|&t| t).unwrap() + 1;
    let tol = 10; // frames = 100 ms
    let lead = SR / HOP; // 1 s of padding = 100 frames
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("zeros", pad(&s, SR, SR)),
        ("low noise + DC", {
            let p = pad(&s, SR, SR);
            let n = Noise::new(9).samples(p.len(), 3e-4);
            add(&p, &n).into_iter().map(|v| v + 0.04).collect()
        }),
    ];
    for (name, x) in cases {
        let (start, end) = trim_samples(&x).unwrap_or_else(|| panic!("{name}: no speech"));
        let (want_start, want_end) = (lead + first, lead + last);
        println!("{name}: trim ({start}, {end}), truth ({want_start}, {want_end})");
        assert!(
            start.abs_diff(want_start) <= tol,
            "{name}: start {start} vs {want_start}"
        );
        assert!(
            end.abs_diff(want_end) <= tol,
            "{name}: end {end} vs {want_end}"
        );
    }
    // A clip that starts right on speech keeps its start (the floors are
    // seeded from the whole clip).
    let (start, end) = trim_samples(&pad(&s, 0, SR / 2)).unwrap();
    println!("unpadded start: trim ({start}, {end}), truth ({first}, {last})");
    assert!(start <= first + tol, "start {start}");
    assert!(end.abs_diff(last) <= tol, "end {end} vs {last}");
}

#[test]
fn trim_finds_nothing_in_silence_or_noise() {
    assert_eq!(trim_samples(&vec![0.0; 2 * SR]), None);
    assert_eq!(trim_samples(&Noise::new(4).samples(2 * SR, 0.05)), None);
}
