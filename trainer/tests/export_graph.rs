//! The exported graph computes what the burn model computes, for plain,
//! residual and hidden-layer architectures (reference interpreter), and the
//! shared runtime runs it.

mod common;

use emoedge_shared::{format, reference, runtime};
use emoedge_trainer::export::face_model_file;
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{compute_device, predict_logits};

fn check(cfg: FaceNetConfig) {
    let device = compute_device();
    device.seed(3);
    let model = cfg.init(&device);
    let file = face_model_file(&model, "test", vec![("k".into(), "v".into())]).expect("export");
    let bytes = format::encode(&file).expect("encodes");
    let decoded = format::decode(&bytes).expect("decodes");
    assert_eq!(decoded, file);
    let set = common::synthetic_set(1, 5);
    let burn = predict_logits(&model, &set.pixels, [1, 48, 48], &device).expect("burn logits");
    let rt = runtime::Model::from_model(&decoded).expect("runtime builds");
    for i in 0..set.len() {
        let want = &burn[i * 7..(i + 1) * 7];
        let refo = reference::run_reference_outputs(&decoded, set.image(i)).expect("reference");
        let rto = rt.run(set.image(i)).expect("runtime runs");
        for ((a, b), c) in refo[0].iter().zip(&rto).zip(want) {
            assert!(
                (a - c).abs() < 1e-3 * (1.0 + c.abs()),
                "{cfg:?} image {i}: ref {a} vs burn {c}"
            );
            assert!(
                (b - c).abs() < 1e-3 * (1.0 + c.abs()),
                "{cfg:?} image {i}: runtime {b} vs burn {c}"
            );
        }
    }
}

#[test]
fn plain_residual_and_hidden_graphs_match_burn() {
    check(FaceNetConfig::preset("tiny").expect("tiny"));
    check(FaceNetConfig {
        widths: vec![4, 8, 8],
        convs_per_stage: 3,
        residual: true,
        hidden: 16,
        dropout: 0.2,
        flatten_head: false,
        input_hw: [48, 48],
        stem: 0,
    });
    check(FaceNetConfig {
        widths: vec![4, 8],
        convs_per_stage: 2,
        residual: false,
        hidden: 8,
        dropout: 0.2,
        flatten_head: true,
        input_hw: [48, 48],
        stem: 0,
    });
    // A stride-2 stem, then stages at 24x24 and a flattened 6x6 map.
    check(FaceNetConfig {
        widths: vec![6, 8, 8],
        convs_per_stage: 2,
        residual: true,
        hidden: 0,
        dropout: 0.2,
        flatten_head: true,
        input_hw: [48, 48],
        stem: 4,
    });
}

#[test]
fn macs_match_the_architecture() {
    let vgg16 = FaceNetConfig::preset("vgg16").expect("vgg16");
    // 48²·9·(1·16 + 16·16) + 24²·9·(16·32 + 32·32) + 12²·9·(32·64 + 64·64)
    // + 6²·9·(64·128 + 128·128) + 128·7
    let expected = 2304 * 9 * (16 + 256)
        + 576 * 9 * (512 + 1024)
        + 144 * 9 * (2048 + 4096)
        + 36 * 9 * (8192 + 16384)
        + 128 * 7;
    assert_eq!(vgg16.macs(), expected);
    let s2w32 = FaceNetConfig::preset("s2w32").expect("s2w32");
    // Stem 24²·9·1·32, then 24²·9·(32·32 + 32·32) + 12²·9·(32·64 + 64·64)
    // + 6²·9·(64·128 + 128·128) + 3²·9·(128·256 + 256·256) + 256·7
    let expected = 576 * 9 * 32
        + 576 * 9 * (1024 + 1024)
        + 144 * 9 * (2048 + 4096)
        + 36 * 9 * (8192 + 16384)
        + 9 * 9 * (32768 + 65536)
        + 256 * 7;
    assert_eq!(s2w32.macs(), expected);
    assert_eq!(s2w32.last_hw(), [3, 3]);
    for name in FaceNetConfig::PRESETS {
        let cfg = FaceNetConfig::preset(name).expect("preset");
        assert!(cfg.validate().is_ok(), "{name}");
    }
    assert!(FaceNetConfig::preset("nope").is_none());
}
