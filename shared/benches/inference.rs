//! int8 vs f32 latency of the sample classifier on tract (single-threaded,
//! tract's default). Run with `cargo bench -p emoedge-shared --features runtime`.

use criterion::{criterion_group, criterion_main, Criterion};
use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::ModelKind;
use emoedge_shared::quantize::{calibrate, quantize, QuantizeOptions};
use emoedge_shared::runtime::Model;

fn inference(c: &mut Criterion) {
    for (label, kind) in [
        ("face", ModelKind::FaceClassifier),
        ("voice", ModelKind::VoiceClassifier),
    ] {
        let f32_model = tiny_classifier(kind, 1);
        let len: usize = f32_model
            .header
            .input_shape
            .iter()
            .map(|&d| d as usize)
            .product();
        let samples: Vec<Vec<f32>> = (0..32).map(|i| pseudo_random(100 + i, len, 1.0)).collect();
        let calib =
            calibrate(&f32_model, samples.iter().map(|s| s.as_slice())).expect("calibration");
        let int8_model =
            quantize(&f32_model, &calib, &QuantizeOptions::default()).expect("quantisation");
        let f32_rt = Model::from_model(&f32_model).expect("f32 model builds");
        let int8_rt = Model::from_model(&int8_model).expect("int8 model builds");
        let input = &samples[0];
        let mut group = c.benchmark_group(format!("tiny_classifier_{label}"));
        group.bench_function("f32", |b| {
            b.iter(|| f32_rt.run(std::hint::black_box(input)).unwrap())
        });
        group.bench_function("int8", |b| {
            b.iter(|| int8_rt.run(std::hint::black_box(input)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, inference);
criterion_main!(benches);
