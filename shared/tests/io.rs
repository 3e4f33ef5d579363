//! Tests of `emoedge_shared::io` (feature `io`) on generated files and on
//! the small fixtures in `tests/fixtures/` (made by `make_fixtures.sh`).
#![cfg(feature = "io")]

use std::path::{Path, PathBuf};

use emoedge_shared::io::{
    load_audio, load_audio_16k, load_gray, AudioIoError, ImageIoError, MAX_IMAGE_SIDE,
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
