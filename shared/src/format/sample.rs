//! Small deterministic models for tests, fuzz seeds and demos of the file
//! format (random weights: they classify nothing meaningfully).

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::graph::{Activation, Bias, Conv2d, Dense, Graph, Op, Pool2d, Tensor};
use super::{Header, ModelFile, ModelKind, Preprocessing};
use crate::audio::VoicePreprocessing;
use crate::face::FacePreprocessing;
use crate::labels::Emotion;

/// Deterministic pseudo-random values in `[-scale, scale]` (xorshift).
pub fn pseudo_random(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn conv(seed: u64, o: u32, i: u32, k: u32, stride: u16, groups: u32, act: Activation) -> Op {
    let fan_in = (i / groups * k * k) as f32;
    let w = pseudo_random(
        seed,
        (o * (i / groups) * k * k) as usize,
        1.7 / libm::sqrtf(fan_in),
    );
    let p = (k / 2) as u16;
    Op::Conv2d(Conv2d {
        weight: Tensor::f32(vec![o, i / groups, k, k], w),
        bias: Some(Bias::F32(pseudo_random(seed + 1, o as usize, 0.1))),
        stride: [stride, stride],
        dilation: [1, 1],
        padding: [p, p, p, p],
        groups,
        activation: act,
        input_quant: None,
    })
}

/// A small residual CNN classifier in f32 over `[1, 1, h, w]` inputs,
/// with every op a face or voice model uses (conv, depthwise conv, add,
/// max pool, global pool, flatten, dense).
pub fn tiny_classifier(kind: ModelKind, seed: u64) -> ModelFile {
    let (shape, pre) = match kind {
        ModelKind::VoiceClassifier => {
            let pre = VoicePreprocessing::default();
            (
                vec![1, 1, pre.logmel.n_mels as u32, pre.frames as u32],
                Preprocessing::Voice(pre),
            )
        }
        _ => (
            vec![1, 1, 48, 48],
            Preprocessing::Face(FacePreprocessing::default()),
        ),
    };
    let mut g = Graph::default();
    let c1 = g.push("stem", conv(seed, 8, 1, 3, 2, 1, Activation::Relu), vec![0]);
    let dw = g.push(
        "block.dw",
        conv(seed + 2, 8, 8, 3, 1, 8, Activation::Relu6),
        vec![c1],
    );
    let pw = g.push(
        "block.pw",
        conv(seed + 4, 8, 8, 1, 1, 1, Activation::None),
        vec![dw],
    );
    let add = g.push("block.add", Op::Add, vec![c1, pw]);
    let relu = g.push("block.relu", Op::Relu, vec![add]);
    let pool = g.push(
        "pool",
        Op::MaxPool(Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0, 0, 0],
        }),
        vec![relu],
    );
    let c2 = g.push(
        "conv2",
        conv(seed + 6, 16, 8, 3, 1, 1, Activation::Relu),
        vec![pool],
    );
    let gap = g.push("gap", Op::GlobalAvgPool, vec![c2]);
    let flat = g.push("flatten", Op::Flatten, vec![gap]);
    let fc = g.push(
        "fc",
        Op::Dense(Dense {
            weight: Tensor::f32(vec![7, 16], pseudo_random(seed + 8, 7 * 16, 0.5)),
            bias: Some(Bias::F32(pseudo_random(seed + 9, 7, 0.1))),
            activation: Activation::None,
            input_quant: None,
        }),
        vec![flat],
    );
    g.outputs = vec![fc];
    ModelFile {
        header: Header {
            kind,
            name: "tiny-sample".to_string(),
            input_shape: shape,
            labels: Emotion::NAMES.iter().map(|s| s.to_string()).collect(),
            preprocessing: pre,
            temperature: 1.0,
            metadata: vec![("note".to_string(), "random weights, for tests".to_string())],
        },
        graph: g,
    }
}
