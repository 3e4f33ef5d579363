//! Tests of `emoedge_shared::io` (feature `io`) on generated files and on
//! the small fixtures in `tests/fixtures/` (made by `make_fixtures.sh`).
#![cfg(feature = "io")]

use std::path::{Path, PathBuf};

use emoedge_shared::io::{
    load_audio, load_audio_16k, load_audio_16k_bytes, load_audio_bytes, load_gray, load_gray_bytes,
    AudioIoError, ImageIoError, MAX_IMAGE_SIDE,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tone(freq: f32, rate: u32, n: usize, amp: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * amp)
        .collect()
}

/// Frequency estimate from rising zero crossings, ignoring the first and
/// last 10 % (resampler edges).
fn frequency(x: &[f32], rate: u32) -> f32 {
    let skip = x.len() / 10;
    let mid = &x[skip..x.len() - skip];
    let rising: Vec<usize> = mid
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    assert!(rising.len() >= 2, "no oscillation found");
    let periods = (rising.len() - 1) as f32;
    let span = (rising[rising.len() - 1] - rising[0]) as f32;
    periods * rate as f32 / span
}

fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

fn write_wav_i16(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in interleaved {
        w.write_sample((s * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn write_wav_f32(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in interleaved {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let n = channels[0].len();
    (0..n)
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

#[test]
fn wav_44k1_stereo_is_mixed_to_mono_and_resampled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let left = tone(440.0, 44_100, 22_050, 0.5);
    let right = vec![0.0; 22_050];
    write_wav_i16(&path, 44_100, 2, &interleave(&[left, right]));

    let a = load_audio(&path).unwrap();
    assert_eq!(a.sample_rate, 44_100);
    assert_eq!(a.samples.len(), 22_050);
    // Mean of a 0.5 tone and silence peaks at 0.25.
    assert!(
        (peak(&a.samples) - 0.25).abs() < 0.01,
        "{}",
        peak(&a.samples)
    );

    let b = load_audio_16k(&path).unwrap();
    assert_eq!(b.sample_rate, 16_000);
    assert_eq!(b.samples.len(), 8_000);
    let f = frequency(&b.samples, 16_000);
    assert!((f - 440.0).abs() < 3.0, "tone at {f} Hz");
    assert!((peak(&b.samples[1000..7000]) - 0.25).abs() < 0.02);
}

#[test]
fn wav_48k_float_stereo_in_antiphase_mixes_to_silence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.wav");
    let left = tone(1000.0, 48_000, 24_000, 0.8);
    let right: Vec<f32> = left.iter().map(|v| -v).collect();
    write_wav_f32(&path, 48_000, 2, &interleave(&[left, right]));
    let a = load_audio_16k(&path).unwrap();
    assert_eq!(a.samples.len(), 8_000);
    assert!(peak(&a.samples) < 1e-4, "{}", peak(&a.samples));
}

#[test]
fn wav_48k_stereo_tone_keeps_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.wav");
    let t = tone(1000.0, 48_000, 24_000, 0.5);
    write_wav_i16(&path, 48_000, 2, &interleave(&[t.clone(), t]));
    let a = load_audio_16k(&path).unwrap();
    assert_eq!(a.samples.len(), 8_000);
    let f = frequency(&a.samples, 16_000);
    assert!((f - 1000.0).abs() < 5.0, "tone at {f} Hz");
}

#[test]
fn wav_16k_mono_is_returned_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.wav");
    let t = tone(200.0, 16_000, 1_600, 0.5);
    write_wav_i16(&path, 16_000, 1, &t);
    let a = load_audio_16k(&path).unwrap();
    assert_eq!(a.samples.len(), 1_600);
    for (x, y) in a.samples.iter().zip(&t) {
        assert!((x - y).abs() < 1e-4);
    }
}

#[test]
fn eight_channel_wav_is_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.wav");
    // Channel c holds the constant c / 10: the mean is 0.35.
    let chans: Vec<Vec<f32>> = (0..8).map(|c| vec![c as f32 / 10.0; 800]).collect();
    write_wav_i16(&path, 16_000, 8, &interleave(&chans));
    let a = load_audio(&path).unwrap();
    assert_eq!(a.samples.len(), 800);
    assert!(a.samples.iter().all(|&v| (v - 0.35).abs() < 1e-3));
}

#[test]
fn flac_44k1_stereo_fixture_resamples_to_16k() {
    let a = load_audio(fixture("tone440_44k1_stereo.flac")).unwrap();
    assert_eq!((a.sample_rate, a.samples.len()), (44_100, 22_050));
    let b = load_audio_16k(fixture("tone440_44k1_stereo.flac")).unwrap();
    assert_eq!(b.samples.len(), 8_000);
    let f = frequency(&b.samples, 16_000);
    assert!((f - 440.0).abs() < 3.0, "tone at {f} Hz");
    // sox `gain -6` gives a peak of about 0.5.
    assert!(
        (peak(&b.samples) - 0.5).abs() < 0.05,
        "{}",
        peak(&b.samples)
    );
}

#[test]
fn ogg_vorbis_48k_stereo_fixture_resamples_to_16k() {
    let a = load_audio(fixture("tone1k_48k_stereo.ogg")).unwrap();
    assert_eq!(a.sample_rate, 48_000);
    assert_eq!(a.samples.len(), 24_000);
    let b = load_audio_16k(fixture("tone1k_48k_stereo.ogg")).unwrap();
    assert_eq!(b.samples.len(), 8_000);
    let f = frequency(&b.samples, 16_000);
    assert!((f - 1000.0).abs() < 5.0, "tone at {f} Hz");
}

#[test]
fn eight_channel_flac_fixture_decodes() {
    let a = load_audio(fixture("tone300_22k05_8ch.flac")).unwrap();
    assert_eq!((a.sample_rate, a.samples.len()), (22_050, 5_512));
    let b = load_audio_16k(fixture("tone300_22k05_8ch.flac")).unwrap();
    assert_eq!(b.samples.len(), 4_000);
    let f = frequency(&b.samples, 16_000);
    assert!((f - 300.0).abs() < 3.0, "tone at {f} Hz");
}

fn truncated_copy(src: &Path, dir: &Path, keep_fraction: f32) -> PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let n = (bytes.len() as f32 * keep_fraction) as usize;
    let dst = dir.join(format!(
        "cut-{}",
        src.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&dst, &bytes[..n]).unwrap();
    dst
}

#[test]
fn truncated_wav_is_reported_with_frame_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.wav");
    write_wav_i16(&path, 16_000, 1, &tone(200.0, 16_000, 16_000, 0.5));
    let cut = truncated_copy(&path, dir.path(), 0.5);
    match load_audio(&cut) {
        Err(AudioIoError::Truncated {
            path,
            expected,
            decoded,
        }) => {
            assert_eq!(path, cut);
            assert_eq!(expected, 16_000);
            assert!(decoded < expected);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn truncated_flac_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cut = truncated_copy(&fixture("tone440_44k1_stereo.flac"), dir.path(), 0.6);
    let err = load_audio(&cut).unwrap_err();
    assert!(
        matches!(
            err,
            AudioIoError::Truncated { .. } | AudioIoError::Corrupt { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut-tone440"), "{err}");
}

#[test]
fn wav_cut_inside_its_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.wav");
    write_wav_i16(&path, 16_000, 1, &[0.1; 100]);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("header.wav");
    std::fs::write(&cut, &bytes[..30]).unwrap();
    let err = load_audio(&cut).unwrap_err();
    assert!(
        matches!(
            err,
            AudioIoError::Corrupt { .. } | AudioIoError::UnknownFormat { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn empty_file_is_reported_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    let err = load_audio(&path).unwrap_err();
    assert!(matches!(err, AudioIoError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.wav"));
}

#[test]
fn header_without_samples_is_zero_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.wav");
    write_wav_i16(&path, 16_000, 1, &[]);
    let err = load_audio(&path).unwrap_err();
    assert!(matches!(err, AudioIoError::ZeroLength { .. }), "{err:?}");
}

#[test]
fn absurd_sample_rate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for rate in [3u32, 5_000_000] {
        let path = dir.path().join(format!("rate{rate}.wav"));
        write_wav_i16(&path, 16_000, 1, &[0.1; 100]);
        // Canonical 44-byte PCM header: the sample rate sits at offset 24.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[24..28].copy_from_slice(&rate.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        match load_audio(&path) {
            Err(AudioIoError::BadSampleRate { rate: r, .. }) => assert_eq!(r, rate),
            other => panic!("rate {rate}: expected BadSampleRate, got {other:?}"),
        }
    }
}

#[test]
fn text_file_is_an_unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wav");
    std::fs::write(
        &path,
        "this is not audio at all, just some text\n".repeat(20),
    )
    .unwrap();
    let err = load_audio(&path).unwrap_err();
    assert!(matches!(err, AudioIoError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.wav"));
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let err = load_audio("/nonexistent/dir/clip.flac").unwrap_err();
    assert!(matches!(err, AudioIoError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/clip.flac"));
}

// ---- images ----

fn save(img: image::DynamicImage, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

#[test]
fn rgb_png_is_converted_to_luma() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::RgbImage::new(3, 2);
    img.put_pixel(0, 0, image::Rgb([255, 255, 255]));
    img.put_pixel(1, 0, image::Rgb([0, 0, 0]));
    img.put_pixel(2, 0, image::Rgb([128, 128, 128]));
    img.put_pixel(0, 1, image::Rgb([255, 0, 0]));
    img.put_pixel(1, 1, image::Rgb([0, 255, 0]));
    img.put_pixel(2, 1, image::Rgb([0, 0, 255]));
    let path = save(image::DynamicImage::ImageRgb8(img), dir.path(), "rgb.png");
    let g = load_gray(&path).unwrap();
    assert_eq!((g.width, g.height, g.pixels.len()), (3, 2, 6));
    assert_eq!(&g.pixels[..3], &[255, 0, 128]);
    // BT.601 weights: 0.299, 0.587, 0.114.
    assert_eq!(&g.pixels[3..], &[76, 150, 29]);
    assert_eq!(g.get(2, 0), Some(128));
    assert_eq!(g.get(3, 0), None);
}

#[test]
fn rgba_and_sixteen_bit_images_become_8_bit_luma() {
    let dir = tempfile::tempdir().unwrap();
    let mut rgba = image::RgbaImage::new(2, 1);
    rgba.put_pixel(0, 0, image::Rgba([200, 200, 200, 0]));
    rgba.put_pixel(1, 0, image::Rgba([10, 10, 10, 255]));
    let path = save(
        image::DynamicImage::ImageRgba8(rgba),
        dir.path(),
        "rgba.png",
    );
    assert_eq!(load_gray(&path).unwrap().pixels, vec![200, 10]);

    let mut g16 = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(3, 1);
    g16.put_pixel(0, 0, image::Luma([0]));
    g16.put_pixel(1, 0, image::Luma([0x8080]));
    g16.put_pixel(2, 0, image::Luma([u16::MAX]));
    let path = save(image::DynamicImage::ImageLuma16(g16), dir.path(), "g16.png");
    assert_eq!(load_gray(&path).unwrap().pixels, vec![0, 128, 255]);

    let mut rgb16 = image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::new(2, 1);
    rgb16.put_pixel(0, 0, image::Rgb([u16::MAX; 3]));
    rgb16.put_pixel(1, 0, image::Rgb([u16::MAX, 0, 0]));
    let path = save(
        image::DynamicImage::ImageRgb16(rgb16),
        dir.path(),
        "rgb16.png",
    );
    assert_eq!(load_gray(&path).unwrap().pixels, vec![255, 76]);
}

#[test]
fn jpeg_and_bmp_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::GrayImage::from_fn(16, 8, |x, _| image::Luma([(x * 16) as u8]));
    for name in ["g.jpg", "g.bmp"] {
        let path = save(
            image::DynamicImage::ImageLuma8(img.clone()),
            dir.path(),
            name,
        );
        let g = load_gray(&path).unwrap();
        assert_eq!((g.width, g.height), (16, 8));
        for (a, b) in g.pixels.iter().zip(img.as_raw()) {
            assert!((*a as i32 - *b as i32).abs() <= 8, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn bad_images_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(load_gray(&empty), Err(ImageIoError::Empty { .. })));

    let text = dir.path().join("text.dat");
    std::fs::write(&text, "hello, not an image").unwrap();
    let err = load_gray(&text).unwrap_err();
    assert!(matches!(err, ImageIoError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("text.dat"));

    let img = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([(x ^ y) as u8]));
    let png = save(image::DynamicImage::ImageLuma8(img), dir.path(), "full.png");
    let bytes = std::fs::read(&png).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_gray(&cut).unwrap_err();
    assert!(matches!(err, ImageIoError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.png"));
}

#[test]
fn zero_size_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.pgm");
    std::fs::write(&path, b"P5\n0 4\n255\n").unwrap();
    let err = load_gray(&path).unwrap_err();
    assert!(
        matches!(
            err,
            ImageIoError::ZeroSize { .. } | ImageIoError::Decode { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn huge_image_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.pgm");
    // Only a header: decoding would need 10 GB.
    std::fs::write(&path, b"P5\n100000 100000\n255\n").unwrap();
    match load_gray(&path) {
        Err(ImageIoError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (100_000, 100_000));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let path = dir.path().join("wide.pgm");
    std::fs::write(&path, format!("P5\n{} 1\n255\n", MAX_IMAGE_SIDE + 1)).unwrap();
    assert!(matches!(
        load_gray(&path),
        Err(ImageIoError::TooLarge { .. })
    ));
}

// ---- bad input: more formats and the in-memory twins ----

/// A PCM WAV header (`format_tag`, 16-bit fields) followed by `data`.
fn wav_with_tag(format_tag: u16, channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let bits = 16u16;
    let align = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format_tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    v.extend_from_slice(&align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn unknown_codecs_are_refused_with_the_file_name_and_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    // 0x0055: MPEG layer 3 in a WAV container; 0x4242: no codec at all;
    // 0xFFFE: WAVE_FORMAT_EXTENSIBLE without its extension.
    for tag in [0x0055u16, 0x4242, 0xFFFE] {
        let path = dir.path().join(format!("codec-{tag:04x}.wav"));
        std::fs::write(&path, wav_with_tag(tag, 1, 16_000, &[0u8; 3200])).unwrap();
        let err = load_audio(&path).unwrap_err();
        assert!(
            matches!(
                err,
                AudioIoError::UnknownFormat { .. }
                    | AudioIoError::UnsupportedCodec { .. }
                    | AudioIoError::Corrupt { .. }
            ),
            "tag {tag:#x}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("codec-{tag:04x}.wav")), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

#[test]
fn odd_sample_rates_are_resampled_to_16k() {
    let dir = tempfile::tempdir().unwrap();
    for rate in [
        1_000u32, 7_350, 8_000, 11_025, 12_345, 22_050, 88_200, 192_000, 768_000,
    ] {
        let path = dir.path().join(format!("r{rate}.wav"));
        // Half a second of a 300 Hz tone (below every Nyquist frequency
        // but the 1 kHz file's, where it is a 300 Hz tone sampled at 1 kHz).
        let n = rate as usize / 2;
        write_wav_i16(&path, rate, 1, &tone(300.0, rate, n, 0.5));
        let a = load_audio(&path).unwrap();
        assert_eq!((a.sample_rate, a.samples.len()), (rate, n));
        let b = load_audio_16k(&path).unwrap_or_else(|e| panic!("{rate} Hz: {e}"));
        assert_eq!(b.sample_rate, 16_000);
        assert!(
            b.samples.len().abs_diff(8_000) <= 2,
            "{rate} Hz: {} samples",
            b.samples.len()
        );
        assert!(b.samples.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        let f = frequency(&b.samples, 16_000);
        assert!((f - 300.0).abs() < 5.0, "{rate} Hz: tone at {f} Hz");
    }
}

#[test]
fn eight_channel_odd_rate_float_wav_is_mixed_and_resampled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("8ch.wav");
    let rate = 11_025;
    // The tone on channel 3 only: the mix is an eighth of it.
    let chans: Vec<Vec<f32>> = (0..8)
        .map(|c| {
            if c == 3 {
                tone(440.0, rate, 11_025, 0.8)
            } else {
                vec![0.0; 11_025]
            }
        })
        .collect();
    write_wav_f32(&path, rate, 8, &interleave(&chans));
    let a = load_audio_16k(&path).unwrap();
    assert_eq!(a.samples.len(), 16_000);
    assert!((peak(&a.samples[2000..14000]) - 0.1).abs() < 0.01);
    let f = frequency(&a.samples, 16_000);
    assert!((f - 440.0).abs() < 3.0, "tone at {f} Hz");
}

#[test]
fn bytes_twins_decode_like_the_files_and_name_the_input() {
    for name in [
        "tone440_44k1_stereo.flac",
        "tone1k_48k_stereo.ogg",
        "speech_16k.wav",
    ] {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            load_audio_bytes(bytes.clone(), name).unwrap(),
            load_audio(&path).unwrap(),
            "{name}"
        );
        assert_eq!(
            load_audio_16k_bytes(bytes, name).unwrap(),
            load_audio_16k(&path).unwrap(),
            "{name}"
        );
    }
    let err = load_audio_bytes(Vec::new(), "upload.wav").unwrap_err();
    assert!(matches!(err, AudioIoError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("upload.wav"));
    let err = load_audio_bytes(b"RIFF\x10\0\0\0WAVE".to_vec(), "cut.wav").unwrap_err();
    assert!(err.to_string().contains("cut.wav"), "{err}");

    let path = fixture("astronaut_320x240.png");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        load_gray_bytes(&bytes, "astronaut.png").unwrap(),
        load_gray(&path).unwrap()
    );
    // Without a telling extension the content decides.
    assert_eq!(
        load_gray_bytes(&bytes, "frame").unwrap(),
        load_gray(&path).unwrap()
    );
    let err = load_gray_bytes(&bytes[..bytes.len() / 3], "half.png").unwrap_err();
    assert!(matches!(err, ImageIoError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("half.png"));
    let err = load_gray_bytes(&[], "none.png").unwrap_err();
    assert!(matches!(err, ImageIoError::Empty { .. }), "{err:?}");
    let err = load_gray_bytes(b"plain text", "note").unwrap_err();
    assert!(matches!(err, ImageIoError::UnknownFormat { .. }), "{err:?}");
}

/// A PNG made of a signature, an IHDR chunk, an IDAT chunk of 4 bytes
/// (far too few pixels) and IEND.
fn png_header(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&CRC.checksum(&body).to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, colour_type, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]);
    chunk(b"IEND", &[]);
    v
}

/// A baseline JPEG start: SOI and a one-component SOF0 of the given size.
fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08];
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9]);
    v
}

#[test]
fn huge_declared_sizes_are_refused_without_decoding() {
    // Headers of a few dozen bytes declaring gigapixel images: refused from
    // the header (TooLarge) or by the decoder's limits, never allocated.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("huge.png", png_header(100_000, 100_000, 8, 6)),
        ("wide16.png", png_header(MAX_IMAGE_SIDE + 1, 1, 16, 6)),
        // Each side within the limit, the area above it.
        (
            "area.png",
            png_header(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, 16, 6),
        ),
        ("huge.jpg", jpeg_header(65_000, 65_000)),
        ("huge.bmp", {
            let mut v = b"BM".to_vec();
            v.extend_from_slice(&[0; 8]);
            v.extend_from_slice(&54u32.to_le_bytes());
            v.extend_from_slice(&40u32.to_le_bytes());
            v.extend_from_slice(&1_000_000i32.to_le_bytes());
            v.extend_from_slice(&1_000_000i32.to_le_bytes());
            v.extend_from_slice(&1u16.to_le_bytes());
            v.extend_from_slice(&24u16.to_le_bytes());
            v.extend_from_slice(&[0; 24]);
            v
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in cases {
        let from_bytes = load_gray_bytes(&bytes, name).unwrap_err();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let from_file = load_gray(&path).unwrap_err();
        for err in [from_bytes, from_file] {
            assert!(
                matches!(
                    err,
                    ImageIoError::TooLarge { .. } | ImageIoError::Decode { .. }
                ),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
    }
    match load_gray_bytes(&png_header(100_000, 100_000, 8, 6), "huge.png") {
        Err(ImageIoError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (100_000, 100_000))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn zero_size_png_and_jpeg_are_refused() {
    for (name, bytes) in [
        ("zero-w.png", png_header(0, 16, 8, 0)),
        ("zero-h.png", png_header(16, 0, 8, 0)),
        ("zero.jpg", jpeg_header(0, 0)),
    ] {
        let err = load_gray_bytes(&bytes, name).unwrap_err();
        assert!(
            matches!(
                err,
                ImageIoError::ZeroSize { .. } | ImageIoError::Decode { .. }
            ),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn every_pixel_layout_becomes_8_bit_luma() {
    let dir = tempfile::tempdir().unwrap();
    let l8 = image::GrayImage::from_fn(4, 2, |x, y| image::Luma([(x * 60 + y) as u8]));
    let expected = l8.as_raw().clone();
    let la8 = image::GrayAlphaImage::from_fn(4, 2, |x, y| {
        image::LumaA([(x * 60 + y) as u8, (x * 50) as u8])
    });
    let la16 = image::ImageBuffer::<image::LumaA<u16>, Vec<u16>>::from_fn(4, 2, |x, y| {
        let v = (x * 60 + y) as u16;
        image::LumaA([v * 257, 0])
    });
    let rgba16 = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(4, 2, |x, y| {
        let v = (x * 60 + y) as u16 * 257;
        image::Rgba([v, v, v, 1])
    });
    let rgb8 = image::RgbImage::from_fn(4, 2, |x, y| {
        let v = (x * 60 + y) as u8;
        image::Rgb([v, v, v])
    });
    for (name, img) in [
        ("l8.png", image::DynamicImage::ImageLuma8(l8)),
        ("la8.png", image::DynamicImage::ImageLumaA8(la8)),
        ("la16.png", image::DynamicImage::ImageLumaA16(la16)),
        ("rgba16.png", image::DynamicImage::ImageRgba16(rgba16)),
        (
            "rgb8.pgm",
            image::DynamicImage::ImageLuma8(
                image::DynamicImage::ImageRgb8(rgb8.clone()).into_luma8(),
            ),
        ),
        ("rgb8.ppm", image::DynamicImage::ImageRgb8(rgb8.clone())),
        ("rgb8.tif", image::DynamicImage::ImageRgb8(rgb8)),
    ] {
        let path = save(img, dir.path(), name);
        let g = load_gray(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((g.width, g.height), (4, 2), "{name}");
        assert_eq!(g.pixels, expected, "{name}");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(load_gray_bytes(&bytes, name).unwrap(), g, "{name}");
    }
}

#[test]
fn truncated_images_of_every_format_are_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img =
        image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 7]));
    for name in ["t.png", "t.jpg", "t.bmp", "t.gif", "t.tif", "t.ppm"] {
        let path = save(
            image::DynamicImage::ImageRgb8(img.clone()),
            dir.path(),
            name,
        );
        let bytes = std::fs::read(&path).unwrap();
        // Every cut of the first 64 bytes (headers), then a few later ones.
        let cuts = (1..64.min(bytes.len())).chain([bytes.len() / 2, bytes.len() - 1]);
        for cut in cuts {
            match load_gray_bytes(&bytes[..cut], name) {
                // Some formats (PPM, BMP) cannot tell a short file from a
                // complete one once the header is read: a whole image of the
                // declared size, whatever the pixels, is fine.
                Ok(g) => assert_eq!((g.width, g.height), (40, 30), "{name} cut at {cut}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name) && !msg.contains('\n'), "{msg}");
                }
            }
        }
    }
}
