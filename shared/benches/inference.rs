//! int8 vs f32 latency on tract (single-threaded, tract's default) of the
//! sample classifier and of a mid-sized face CNN shaped like a real one,
//! and the latency of the committed face detector (BlazeFace,
//! `models/face_detector.emo`) on 320x240 and 640x480 frames.
//! Run with `cargo bench -p emoedge-shared --features runtime,io` (without
//! `io` the detector runs on a synthetic frame instead of the astronaut
//! fixture: same network cost, no face to decode).

use criterion::{criterion_group, criterion_main, Criterion};
use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::{
    Activation, Bias, Conv2d, Dense, Graph, ModelFile, ModelKind, Op, Pool2d, Tensor,
};
use emoedge_shared::quantize::{calibrate, quantize, QuantizeOptions};
use emoedge_shared::runtime::Model;
use emoedge_shared::{detect::FaceDetector, face::GrayFrame};

fn conv(seed: u64, o: u32, i: u32) -> Op {
    let n = (o * i * 9) as usize;
    let scale = 1.7 / ((i * 9) as f32).sqrt();
    Op::Conv2d(Conv2d {
        weight: Tensor::f32(vec![o, i, 3, 3], pseudo_random(seed, n, scale)),
        bias: Some(Bias::F32(pseudo_random(seed + 1, o as usize, 0.1))),
        stride: [1, 1],
        dilation: [1, 1],
        padding: [1; 4],
        groups: 1,
        activation: Activation::Relu,
        input_quant: None,
    })
}

/// 48x48 face CNN: 3 blocks of two 3x3 convs (32, 64, 128 channels) with
/// 2x2 max pooling, global average pooling and a dense head.
fn face_cnn() -> ModelFile {
    let mut m = tiny_classifier(ModelKind::FaceClassifier, 1);
    let mut g = Graph::default();
    let mut x = 0;
    let mut c_in = 1;
    for (b, c) in [32u32, 64, 128].into_iter().enumerate() {
        x = g.push(format!("b{b}.conv1"), conv(10 * b as u64, c, c_in), vec![x]);
        x = g.push(
            format!("b{b}.conv2"),
            conv(10 * b as u64 + 5, c, c),
            vec![x],
        );
        let pool = Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0; 4],
        };
        x = g.push(format!("b{b}.pool"), Op::MaxPool(pool), vec![x]);
        c_in = c;
    }
    x = g.push("gap", Op::GlobalAvgPool, vec![x]);
    x = g.push("flatten", Op::Flatten, vec![x]);
    let fc = Dense {
        weight: Tensor::f32(vec![7, 128], pseudo_random(99, 7 * 128, 0.2)),
        bias: Some(Bias::F32(vec![0.0; 7])),
        activation: Activation::None,
        input_quant: None,
    };
    g.outputs = vec![g.push("fc", Op::Dense(fc), vec![x])];
    m.graph = g;
    m
}

fn inference(c: &mut Criterion) {
    let models = [
        ("tiny_face", tiny_classifier(ModelKind::FaceClassifier, 1)),
        ("tiny_voice", tiny_classifier(ModelKind::VoiceClassifier, 1)),
        ("face_cnn", face_cnn()),
    ];
    for (label, f32_model) in models {
        let len: usize = f32_model
            .header
            .input_shape
            .iter()
            .map(|&d| d as usize)
            .product();
        let samples: Vec<Vec<f32>> = (0..16).map(|i| pseudo_random(100 + i, len, 1.0)).collect();
        let calib =
            calibrate(&f32_model, samples.iter().map(|s| s.as_slice())).expect("calibration");
        let int8_model =
            quantize(&f32_model, &calib, &QuantizeOptions::default()).expect("quantisation");
        let f32_rt = Model::from_model(&f32_model).expect("f32 model builds");
        let int8_rt = Model::from_model(&int8_model).expect("int8 model builds");
        let input = &samples[0];
        let mut group = c.benchmark_group(label);
        group.bench_function("f32", |b| {
            b.iter(|| f32_rt.run(std::hint::black_box(input)).unwrap())
        });
        group.bench_function("int8", |b| {
            b.iter(|| int8_rt.run(std::hint::black_box(input)).unwrap())
        });
        group.finish();
    }
}

/// The astronaut fixture (320x240 gray) and its pixel-doubled 640x480.
fn detector_frames() -> [(String, usize, usize, Vec<u8>); 2] {
    let (w, h) = (320, 240);
    #[cfg(feature = "io")]
    let small = {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/astronaut_320x240.png"
        );
        emoedge_shared::io::load_gray(p).expect("fixture").pixels
    };
    #[cfg(not(feature = "io"))]
    let small: Vec<u8> = pseudo_random(5, w * h, 1.0)
        .iter()
        .map(|v| (v * 127.0 + 128.0) as u8)
        .collect();
    let mut big = vec![0u8; 4 * w * h];
    for y in 0..2 * h {
        for x in 0..2 * w {
            big[y * 2 * w + x] = small[(y / 2) * w + x / 2];
        }
    }
    [
        (format!("{w}x{h}"), w, h, small),
        (format!("{}x{}", 2 * w, 2 * h), 2 * w, 2 * h, big),
    ]
}

fn face_detector(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/face_detector.emo");
    let det = FaceDetector::load(path).expect("models/face_detector.emo loads");
    let mut group = c.benchmark_group("face_detector");
    for (label, w, h, pixels) in detector_frames() {
        let frame = GrayFrame::packed(&pixels, w, h).unwrap();
        // Whole pipeline: letterbox, network, decoding, NMS.
        group.bench_function(format!("detect_{label}"), |b| {
            b.iter(|| det.detect(std::hint::black_box(&frame)).unwrap())
        });
        let mut input = Vec::new();
        group.bench_function(format!("letterbox_{label}"), |b| {
            b.iter(|| det.prepare(std::hint::black_box(&frame), &mut input))
        });
    }
    let input = vec![0.0f32; det.model().input_len()];
    group.bench_function("network_only", |b| {
        b.iter(|| det.model().run_all(std::hint::black_box(&input)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, inference, face_detector);
criterion_main!(benches);
