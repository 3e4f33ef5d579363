//! Fuzzes the audio front end from file bytes to model windows: the
//! decoder (`io::load_audio_bytes`: WAV, FLAC, Ogg Vorbis, any channel
//! count and sample rate), the resampler to 16 kHz, the streaming log-mel
//! features and voice activity detector the device runs, and the whole-clip
//! features (`audio::clip_features`) the trainer runs.
//!
//! Nothing may panic, and whatever the decoder accepts must come out as
//! finite samples in `[-1, 1]` at an accepted rate, finite features, and
//! the same log-mel frames whether the samples arrive at once or in uneven
//! chunks (the device's microphone periods).
#![no_main]

use emoedge_shared::audio::{
    clip_features, logmel_frames, LogMel, Vad, VadConfig, VoicePreprocessing,
};
use emoedge_shared::io::{
    load_audio_bytes, resample, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, TARGET_SAMPLE_RATE,
};
use libfuzzer_sys::fuzz_target;

/// At most this many seconds of a decoded input go through the features: a
/// few bytes of FLAC can expand to minutes of audio, and the features of
/// a long clip are those of its windows.
const MAX_SECONDS: usize = 3;

/// Chunk lengths the streaming path is fed in turn (a 10 ms period, odd
/// sizes, a single sample).
const CHUNKS: [usize; 4] = [160, 37, 1, 1021];

fuzz_target!(|data: &[u8]| {
    let Ok(audio) = load_audio_bytes(data, "fuzz-input") else {
        return;
    };
    assert!(!audio.samples.is_empty(), "accepted audio without samples");
    assert!(
        (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&audio.sample_rate),
        "accepted a sample rate of {} Hz",
        audio.sample_rate
    );
    assert!(
        audio
            .samples
            .iter()
            .all(|s| s.is_finite() && s.abs() <= 1.0),
        "decoded samples outside [-1, 1]"
    );

    let n = audio
        .samples
        .len()
        .min(audio.sample_rate as usize * MAX_SECONDS);
    let x = resample(&audio.samples[..n], audio.sample_rate, TARGET_SAMPLE_RATE)
        .expect("resampling accepted audio must work");
    let expected = (n as u64 * u64::from(TARGET_SAMPLE_RATE) + u64::from(audio.sample_rate) / 2)
        / u64::from(audio.sample_rate);
    assert_eq!(x.len() as u64, expected, "resampled length");
    assert!(
        x.iter().all(|s| s.is_finite()),
        "resampler output not finite"
    );

    let pre = VoicePreprocessing::default();
    let vad_cfg = VadConfig::default();
    let n_mels = usize::from(pre.logmel.n_mels);

    // The device: samples in uneven chunks through the streaming log-mel
    // and the voice activity detector.
    let mut logmel = LogMel::new(pre.logmel).expect("default log-mel config");
    let mut vad = Vad::new(&pre.logmel, vad_cfg).expect("default VAD config");
    let mut streamed = Vec::new();
    let mut rest = &x[..];
    for &len in CHUNKS.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        logmel.process(chunk, |frame| {
            assert_eq!(frame.len(), n_mels);
            let v = vad.process(frame);
            assert!(
                !v.snr_db.is_nan() && !v.level_db.is_nan(),
                "VAD levels are NaN: {v:?}"
            );
            assert!((0.0..=1.0).contains(&v.speech_share), "{v:?}");
            streamed.extend_from_slice(frame);
        });
    }
    assert!(streamed.iter().all(|v| v.is_finite()), "log-mel not finite");
    let batch = logmel_frames(&pre.logmel, &x).expect("default log-mel config");
    assert_eq!(streamed, batch, "chunked and whole-clip log-mel differ");

    // The trainer and `emoedge-train eval`: whole-clip model windows.
    let f = clip_features(&pre, &vad_cfg, &x).expect("default preprocessing is valid");
    assert!(f.count >= 1);
    assert_eq!(f.windows.len(), f.count * pre.window_len());
    assert!(f.windows.iter().all(|v| v.is_finite()), "window not finite");
    if let Some((start, end)) = f.speech {
        assert!(
            start < end && end <= f.frames_total,
            "speech span {start}..{end}"
        );
    }
});
