//! Every crash the fuzz targets found, kept as input in
//! `tests/fixtures/fuzz/<target>/seed-crash-*` and replayed here through the same
//! code in the normal test suite: the decoders refuse each with a one-line
//! error naming the input, without panicking or allocating more than the
//! input could hold.
#![cfg(feature = "io")]

use std::path::{Path, PathBuf};

use emoedge_shared::io::{load_audio, load_audio_bytes, load_gray_bytes, AudioIoError};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/fuzz")
        .join(target)
}

fn crash_inputs(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-crash-"))
        })
        .collect();
    files.sort();
    files
}

fn refused_audio(name: &str) -> AudioIoError {
    let path = corpus("audio_frontend").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let err = load_audio_bytes(bytes, name).expect_err(name);
    let msg = err.to_string();
    assert!(msg.contains(name) && !msg.contains('\n'), "{msg}");
    // The file path gives the same answer.
    let from_file = load_audio(&path).expect_err(name).to_string();
    assert!(
        from_file.contains(&path.display().to_string()),
        "{from_file}"
    );
    err
}

/// A 779-byte FLAC file whose Vorbis comment declares a 3.7 GB comment:
/// symphonia allocated it before reading (libFuzzer: out-of-memory,
/// malloc(3767570464)).
#[test]
fn flac_comment_declaring_gigabytes_is_refused_before_decoding() {
    let err = refused_audio("seed-crash-flac-comment-alloc.flac");
    match &err {
        AudioIoError::Corrupt { reason, .. } => {
            assert!(reason.contains("Vorbis comment declares"), "{reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A WAVE_FORMAT_EXTENSIBLE header with 11008 channels and a 2-channel
/// mask: symphonia's channel-mask repair overflowed a shift (a panic in
/// builds with overflow checks).
#[test]
fn extensible_wav_with_more_channels_than_its_mask_is_refused() {
    let err = refused_audio("seed-crash-wav-extensible-channels.wav");
    assert!(err.to_string().contains("11008 channels"), "{err}");
}

/// Every crash input of both front ends, whatever it is: an error or a
/// result, never a panic.
#[test]
fn every_kept_crash_input_is_handled() {
    for path in crash_inputs("audio_frontend") {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        if let Err(e) = load_audio_bytes(bytes, &name) {
            let msg = e.to_string();
            assert!(msg.contains(&name) && !msg.contains('\n'), "{msg}");
        }
    }
    for path in crash_inputs("image_frontend") {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        // The image target reads 22 bytes of crop parameters first.
        if let Err(e) = load_gray_bytes(bytes.get(22..).unwrap_or(&[]), &name) {
            let msg = e.to_string();
            assert!(msg.contains(&name) && !msg.contains('\n'), "{msg}");
        }
    }
}

/// A WAV header declaring 0 Hz: symphonia built a time base of 1/0 and
/// panicked (in every build).
#[test]
fn wav_declaring_zero_hertz_is_a_bad_sample_rate() {
    match refused_audio("seed-crash-wav-zero-rate.wav") {
        AudioIoError::BadSampleRate { rate: 0, .. } => {}
        other => panic!("expected BadSampleRate, got {other:?}"),
    }
}

/// A FLAC frame whose LPC prediction overflows `i32`: garbage samples in
/// release builds, a panic in symphonia where overflow checks were on
/// (debug builds; now off for symphonia's decoders in the dev profile).
#[test]
fn flac_lpc_overflow_decodes_without_a_panic() {
    let name = "seed-crash-flac-lpc-overflow.flac";
    let bytes = std::fs::read(corpus("audio_frontend").join(name)).unwrap();
    if let Err(e) = load_audio_bytes(bytes, name) {
        assert!(e.to_string().contains(name), "{e}");
    }
}
