//! Writes the seed corpora of the fuzz targets, `tests/fixtures/fuzz/<target>/seed-*`:
//!
//! - `model_decode`: small valid model files that together use every op,
//!   both weight types and every preprocessing kind;
//! - `audio_frontend`: tiny WAV files (16-bit, 8-bit, 24-bit, float, A-law,
//!   WAVE_FORMAT_EXTENSIBLE; mono to 8 channels; 1 kHz to 48 kHz), cut from
//!   the speech fixture of `shared/tests/fixtures` or synthesised; next to
//!   them two committed files made with sox (see [`STATIC_SEEDS`]);
//! - `image_frontend`: crop parameters then a tiny image (PNG gray, RGB,
//!   RGBA and 16-bit, JPEG, BMP, GIF, PGM, PPM, TIFF, WebP).
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds            # (re)write
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- --check # compare
//! ```
//!
//! `--check` exits with status 1 when a model seed is missing or differs
//! from what this build writes (the format changed: re-run without it), or
//! when an audio or image seed is missing or no longer decodes. Audio and
//! image seeds are not compared byte for byte: an encoder update of the
//! `image` crate may change their bytes, not their use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use emoedge_shared::face::FacePreprocessing;
use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::{
    self, Activation, Bias, Conv2d, Dense, DetectorPreprocessing, Graph, Header, ModelFile,
    ModelKind, Op, Pool2d, Preprocessing, QuantParams, Tensor, Weights,
};
use emoedge_shared::io::{load_audio, load_audio_bytes, load_gray_bytes};

/// Input activations of every int8 layer are assumed to lie in this range.
const ACTIVATION_RANGE: (f32, f32) = (-4.0, 4.0);

/// The tiny face classifier with every conv and dense layer in int8
/// (per-tensor symmetric weights, i32 biases in the accumulator scale).
fn int8_classifier() -> ModelFile {
    let mut model = tiny_classifier(ModelKind::FaceClassifier, 3);
    let act = QuantParams::from_range(ACTIVATION_RANGE.0, ACTIVATION_RANGE.1);
    for node in &mut model.graph.nodes {
        let (weight, bias, input_quant) = match &mut node.op {
            Op::Conv2d(c) => (&mut c.weight, &mut c.bias, &mut c.input_quant),
            Op::Dense(d) => (&mut d.weight, &mut d.bias, &mut d.input_quant),
            _ => continue,
        };
        let values = weight.values.to_f32();
        let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let quant = QuantParams::symmetric(absmax);
        weight.values = Weights::I8 {
            data: values.iter().map(|&v| quant.quantize(v)).collect(),
            quant,
        };
        if let Some(Bias::F32(b)) = bias {
            let acc_scale = act.scale * quant.scale;
            *bias = Some(Bias::I32(
                b.iter().map(|v| (v / acc_scale).round() as i32).collect(),
            ));
        }
        *input_quant = Some(act);
        node.output_quant = Some(act);
    }
    model
}

/// A face detector-shaped model using the ops the classifiers do not:
/// prelu, average pool, channel padding, mul, concat, transpose, sigmoid,
/// reshape, softmax, and two outputs.
fn ops_zoo() -> ModelFile {
    let mut g = Graph::default();
    let stem = g.push(
        "stem",
        Op::Conv2d(Conv2d {
            weight: Tensor::f32(vec![4, 3, 3, 3], pseudo_random(11, 4 * 3 * 3 * 3, 0.3)),
            bias: None,
            stride: [2, 2],
            dilation: [1, 1],
            padding: [1, 1, 1, 1],
            groups: 1,
            activation: Activation::None,
            input_quant: None,
        }),
        vec![0],
    );
    let prelu = g.push(
        "prelu",
        Op::PRelu {
            slope: pseudo_random(12, 4, 0.25),
        },
        vec![stem],
    );
    let pool = g.push(
        "avg_pool",
        Op::AvgPool(Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0, 0, 0],
        }),
        vec![prelu],
    );
    let pad = g.push(
        "pad",
        Op::PadChannels {
            before: 2,
            after: 2,
        },
        vec![pool],
    );
    let gate = g.push("gate", Op::Sigmoid, vec![pad]);
    let mul = g.push("mul", Op::Mul, vec![pad, gate]);
    let cat = g.push("concat", Op::Concat { axis: 1 }, vec![pad, mul]);
    let nhwc = g.push(
        "to_nhwc",
        Op::Transpose {
            perm: vec![0, 2, 3, 1],
        },
        vec![cat],
    );
    // [1, 8, 8, 16] -> 64 anchors x 16 box values.
    let boxes = g.push(
        "boxes",
        Op::Reshape {
            shape: vec![1, 64, 16],
        },
        vec![nhwc],
    );
    let gap = g.push("gap", Op::GlobalAvgPool, vec![cat]);
    let flat = g.push("flatten", Op::Flatten, vec![gap]);
    let fc = g.push(
        "scores",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![2, 16], pseudo_random(13, 32, 0.5)),
            bias: Some(Bias::F32(vec![0.0, 0.1])),
            activation: Activation::Relu6,
            input_quant: None,
        }),
        vec![flat],
    );
    let softmax = g.push("softmax", Op::Softmax { axis: 1 }, vec![fc]);
    g.outputs = vec![boxes, softmax];
    ModelFile {
        header: Header {
            kind: ModelKind::FaceDetector,
            name: "ops-zoo".to_string(),
            input_shape: vec![1, 3, 32, 32],
            labels: vec!["face".to_string()],
            preprocessing: Preprocessing::Detector(DetectorPreprocessing {
                input_size: 32,
                mean: 0.5,
                std: 0.5,
                channels_last: false,
                strides: vec![8, 16],
                anchors_per_cell: vec![2, 6],
                box_scale: 32.0,
                keypoints: 6,
                score_threshold: 0.5,
                iou_threshold: 0.3,
            }),
            temperature: 1.5,
            metadata: vec![("note".to_string(), "fuzz seed".to_string())],
        },
        graph: g,
    }
}

/// The face classifier at a 64-pixel input, so the corpus holds more than
/// one input shape of the same kind.
fn face_64() -> ModelFile {
    let mut model = tiny_classifier(ModelKind::FaceClassifier, 4);
    model.header.input_shape = vec![1, 1, 64, 64];
    model.header.preprocessing = Preprocessing::Face(FacePreprocessing {
        crop_size: 64,
        ..FacePreprocessing::default()
    });
    model
}

fn seeds() -> Vec<(&'static str, ModelFile)> {
    vec![
        (
            "seed-face-f32.emo",
            tiny_classifier(ModelKind::FaceClassifier, 1),
        ),
        (
            "seed-voice-f32.emo",
            tiny_classifier(ModelKind::VoiceClassifier, 2),
        ),
        ("seed-face-int8.emo", int8_classifier()),
        ("seed-face-64.emo", face_64()),
        ("seed-ops-zoo.emo", ops_zoo()),
    ]
}

/// Encodes a seed and checks it decodes back to the same model.
fn encode_checked(name: &str, model: &ModelFile) -> Result<Vec<u8>, String> {
    let bytes = format::encode(model).map_err(|e| format!("{name}: encode failed: {e}"))?;
    let back = format::decode(&bytes).map_err(|e| format!("{name}: decode failed: {e}"))?;
    if &back != model {
        return Err(format!(
            "{name}: decoded model differs from the encoded one"
        ));
    }
    Ok(bytes)
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/fuzz")
        .join(target)
}

// ---- audio_frontend ----

/// Committed audio seeds made with sox, not by this program:
///
/// ```text
/// sox -n -r 8000 -c 2 -b 16 seed-tone-8k-stereo.flac synth 0.1 sine 440 sine 660
/// sox -n -r 22050 -c 1 seed-tone-22k.ogg synth 0.1 sine 300
/// ```
///
/// `--check` requires them to exist and decode.
pub const STATIC_SEEDS: &[&str] = &["seed-tone-8k-stereo.flac", "seed-tone-22k.ogg"];

/// A WAV file: `fmt ` chunk body `fmt` (format tag first), then `data`.
fn wav(fmt: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    v.extend_from_slice(fmt);
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// The 16-byte `fmt ` body of a plain WAV.
fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits.div_ceil(8);
    let mut v = Vec::new();
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    v.extend_from_slice(&align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v
}

fn tone(freq: f32, rate: u32, n: usize, amp: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * amp)
        .collect()
}

fn s16(x: f32) -> [u8; 2] {
    ((x.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()
}

/// A-law encoding of one sample (ITU-T G.711).
fn alaw(x: f32) -> u8 {
    let pcm = (x.clamp(-1.0, 1.0) * 32767.0) as i16 >> 3;
    let (sign, mag) = if pcm >= 0 {
        (0x80u8, pcm as u16)
    } else {
        (0x00, (-(i32::from(pcm)) - 1) as u16)
    };
    let mag = mag.min(0x0FFF);
    let exp = (16 - mag.leading_zeros()).saturating_sub(5) as u16;
    let mant = if exp == 0 {
        (mag >> 1) & 0x0F
    } else {
        (mag >> exp) & 0x0F
    };
    (sign | ((exp as u8) << 4) | mant as u8) ^ 0x55
}

/// 0.2 s from the middle of the speech fixture (16 kHz mono).
fn speech() -> Result<Vec<f32>, String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/speech_16k.wav");
    let a = load_audio(&path).map_err(|e| e.to_string())?;
    let mid = a.samples.len() / 2;
    Ok(a.samples[mid..mid + 3200].to_vec())
}

fn audio_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let speech = speech()?;
    let mut seeds = Vec::new();

    let data: Vec<u8> = speech.iter().flat_map(|&x| s16(x)).collect();
    seeds.push((
        "seed-speech-16k-s16.wav",
        wav(&fmt(1, 1, 16_000, 16), &data),
    ));

    // Every other sample (8 kHz), 8-bit unsigned, the right channel inverted.
    let data: Vec<u8> = speech
        .iter()
        .step_by(2)
        .flat_map(|&x| {
            let u = |v: f32| ((v.clamp(-1.0, 1.0) * 127.0).round() as i16 + 128) as u8;
            [u(x), u(-x)]
        })
        .collect();
    seeds.push((
        "seed-speech-8k-u8-stereo.wav",
        wav(&fmt(1, 2, 8_000, 8), &data),
    ));

    let data: Vec<u8> = tone(440.0, 44_100, 441, 0.7)
        .into_iter()
        .flat_map(|x| {
            let v = (x * 8_388_607.0).round() as i32;
            [v as u8, (v >> 8) as u8, (v >> 16) as u8]
        })
        .collect();
    seeds.push(("seed-tone-44k1-s24.wav", wav(&fmt(1, 1, 44_100, 24), &data)));

    let t = tone(1000.0, 48_000, 96, 0.9);
    let data: Vec<u8> = t
        .iter()
        .flat_map(|&x| (0..8).flat_map(move |c| (x * (c as f32 - 3.5) / 4.0).to_le_bytes()))
        .collect();
    seeds.push((
        "seed-tone-48k-f32-8ch.wav",
        wav(&fmt(3, 8, 48_000, 32), &data),
    ));

    let data: Vec<u8> = tone(100.0, 1_000, 100, 0.5)
        .into_iter()
        .flat_map(s16)
        .collect();
    seeds.push(("seed-tone-1k-s16.wav", wav(&fmt(1, 1, 1_000, 16), &data)));

    // A-law needs the 18-byte `fmt ` chunk (with an empty extension).
    let data: Vec<u8> = speech.iter().step_by(2).map(|&x| alaw(x)).collect();
    let mut law = fmt(6, 1, 8_000, 8);
    law.extend_from_slice(&0u16.to_le_bytes());
    seeds.push(("seed-speech-8k-alaw.wav", wav(&law, &data)));

    // WAVE_FORMAT_EXTENSIBLE: 16-bit stereo PCM (sub-format GUID 1).
    let mut ext = fmt(0xFFFE, 2, 11_025, 16);
    ext.extend_from_slice(&22u16.to_le_bytes());
    ext.extend_from_slice(&16u16.to_le_bytes());
    ext.extend_from_slice(&3u32.to_le_bytes());
    ext.extend_from_slice(&[
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B,
        0x71,
    ]);
    let data: Vec<u8> = tone(300.0, 11_025, 220, 0.6)
        .into_iter()
        .flat_map(|x| [s16(x), s16(x * 0.5)].concat())
        .collect();
    seeds.push(("seed-tone-11k-extensible.wav", wav(&ext, &data)));

    Ok(seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect())
}

// ---- image_frontend ----

/// The parameter bytes the image target reads first (see its `PARAMS`).
fn crop_params(bbox: [f32; 4], angle: f32, crop_byte: u8, margin_byte: u8) -> Vec<u8> {
    let mut v: Vec<u8> = bbox
        .iter()
        .chain([&angle])
        .flat_map(|f| f.to_le_bytes())
        .collect();
    v.extend_from_slice(&[crop_byte, margin_byte]);
    v
}

fn encode_image(img: image::DynamicImage, format: image::ImageFormat) -> Result<Vec<u8>, String> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .map_err(|e| format!("cannot encode a {format:?} seed: {e}"))?;
    Ok(out.into_inner())
}

fn image_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    use image::{DynamicImage as D, ImageBuffer, ImageFormat as F};
    let (w, h) = (24u32, 18u32);
    let luma = |x: u32, y: u32| ((x * 9 + y * 13) % 256) as u8;
    let gray = image::GrayImage::from_fn(w, h, |x, y| image::Luma([luma(x, y)]));
    let rgb = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([luma(x, y), (x * 10) as u8, (y * 14) as u8])
    });
    let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([luma(x, y), (y * 14) as u8, 90, (x * 10) as u8])
    });
    let gray16 = ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(w, h, |x, y| {
        image::Luma([u16::from(luma(x, y)) * 257 + u16::from(luma(x, y) < 255)])
    });
    // A box inside, one half outside, one covering everything, a tiny one,
    // rotated ones.
    let inside = crop_params([4.0, 3.0, 12.0, 12.0], 0.0, 47, 10);
    let edge = crop_params([-6.0, 10.0, 14.0, 16.0], 0.0, 47, 10);
    let all = crop_params([-100.0, -100.0, 300.0, 250.0], 0.0, 31, 0);
    let tiny = crop_params([11.5, 8.25, 0.5, 0.75], 0.3, 15, 25);
    let tilted = crop_params([5.0, 2.0, 14.0, 14.0], -0.4, 63, 5);
    let cases: Vec<(&str, &Vec<u8>, D, F)> = vec![
        (
            "seed-gray.png",
            &inside,
            D::ImageLuma8(gray.clone()),
            F::Png,
        ),
        ("seed-rgb.png", &edge, D::ImageRgb8(rgb.clone()), F::Png),
        (
            "seed-rgba.png",
            &tilted,
            D::ImageRgba8(rgba.clone()),
            F::Png,
        ),
        ("seed-gray16.png", &all, D::ImageLuma16(gray16), F::Png),
        (
            "seed-gray.jpg",
            &inside,
            D::ImageLuma8(gray.clone()),
            F::Jpeg,
        ),
        ("seed-rgb.jpg", &tilted, D::ImageRgb8(rgb.clone()), F::Jpeg),
        ("seed-rgb.bmp", &tiny, D::ImageRgb8(rgb.clone()), F::Bmp),
        ("seed-rgba.gif", &edge, D::ImageRgba8(rgba.clone()), F::Gif),
        ("seed-gray.pgm", &all, D::ImageLuma8(gray), F::Pnm),
        ("seed-rgb.ppm", &inside, D::ImageRgb8(rgb.clone()), F::Pnm),
        ("seed-rgb.tif", &tiny, D::ImageRgb8(rgb), F::Tiff),
        ("seed-rgba.webp", &tilted, D::ImageRgba8(rgba), F::WebP),
    ];
    cases
        .into_iter()
        .map(|(name, params, img, format)| {
            let mut bytes = params.clone();
            bytes.extend(encode_image(img, format)?);
            Ok((name.to_string(), bytes))
        })
        .collect()
}

/// Bytes the image target reads before the image.
const IMAGE_PARAMS: usize = 22;

/// Whether a seed of `target` still decodes (audio and image seeds).
fn decodes(target: &str, name: &str, bytes: &[u8]) -> Result<(), String> {
    match target {
        "audio_frontend" => load_audio_bytes(bytes, name)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "image_frontend" => load_gray_bytes(bytes.get(IMAGE_PARAMS..).unwrap_or(&[]), name)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

fn write_seed(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

fn run(check: bool) -> Result<(), String> {
    let mut stale = Vec::new();

    // Model seeds: byte for byte.
    let dir = corpus_dir("model_decode");
    if !check {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    for (name, model) in seeds() {
        let bytes = encode_checked(name, &model)?;
        let path = dir.join(name);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                stale.push(path.display().to_string());
            }
        } else {
            write_seed(&dir, name, &bytes)?;
        }
    }

    // Audio and image seeds: present and decoding.
    let generated = [
        ("audio_frontend", audio_seeds()?),
        ("image_frontend", image_seeds()?),
    ];
    for (target, seeds) in generated {
        let dir = corpus_dir(target);
        if !check {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        for (name, bytes) in &seeds {
            decodes(target, name, bytes)
                .map_err(|e| format!("seed {name} does not decode: {e}"))?;
            if !check {
                write_seed(&dir, name, bytes)?;
            }
        }
        let names = seeds
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(if target == "audio_frontend" {
                STATIC_SEEDS.to_vec()
            } else {
                Vec::new()
            });
        for name in names {
            let path = dir.join(name);
            let ok = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| decodes(target, name, &b));
            if let Err(e) = ok {
                stale.push(format!("{} ({e})", path.display()));
            }
        }
    }

    if stale.is_empty() {
        if check {
            println!("fuzz seeds are up to date in {}", corpus_dir("").display());
        }
        Ok(())
    } else {
        Err(format!(
            "fuzz seeds missing, out of date or not decoding: {}\nre-create them with: cargo run --manifest-path fuzz/Cargo.toml --example make_seeds",
            stale.join(", ")
        ))
    }
}

fn main() -> ExitCode {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            other => {
                eprintln!("make_seeds: unknown argument '{other}' (expected --check)");
                return ExitCode::from(2);
            }
        }
    }
    match run(check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_seeds: {e}");
            ExitCode::FAILURE
        }
    }
}
