use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::format::sample::{pseudo_random, tiny_classifier};
use crate::format::{decode, encode, Graph, ModelKind, Pool2d};
use crate::reference::run_reference_outputs;
use crate::reference::tests::{conv_op, model_with_graph, single_op};

/// `n` pseudo-random inputs for `model`, values in [-1, 1].
pub(crate) fn random_inputs(model: &ModelFile, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let len: usize = model
        .header
        .input_shape
        .iter()
        .map(|&d| d as usize)
        .product();
    (0..n)
        .map(|i| pseudo_random(seed + i as u64 * 7919, len, 1.0))
        .collect()
}

/// tiny_classifier quantised after calibration on 32 inputs.
pub(crate) fn quantized_tiny(
    kind: ModelKind,
    seed: u64,
    opts: &QuantizeOptions,
) -> (ModelFile, ModelFile) {
    let m = tiny_classifier(kind, seed);
    let inputs = random_inputs(&m, 32, 1000 + seed);
    let calib = calibrate(&m, inputs.iter().map(|v| v.as_slice())).unwrap();
    assert_eq!(calib.samples, 32);
    let q = quantize(&m, &calib, opts).unwrap();
    (m, q)
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

#[test]
fn every_conv_and_dense_becomes_int8() {
    let (m, q) = quantized_tiny(ModelKind::FaceClassifier, 3, &QuantizeOptions::default());
    for (a, b) in m.graph.nodes.iter().zip(&q.graph.nodes) {
        let layer = matches!(a.op, Op::Conv2d(_) | Op::Dense(_));
        assert_eq!(b.op.is_int8(), layer, "{}", a.name);
        assert_eq!(b.output_quant.is_some(), layer, "{}", a.name);
        if let Op::Conv2d(c) = &b.op {
            let Weights::I8 { data, quant } = &c.weight.values else {
                unreachable!()
            };
            assert_eq!(quant.zero_point, 0);
            assert_eq!(data.iter().map(|v| v.unsigned_abs()).max(), Some(127));
            assert!(data.iter().all(|&v| v >= -127));
            assert!(matches!(c.bias, Some(Bias::I32(_))));
            assert!(c.input_quant.is_some());
        }
    }
    // Fused ReLU: the output grid starts at 0.
    assert_eq!(q.graph.nodes[0].output_quant.unwrap().zero_point, -128);
    assert!(q
        .header
        .meta("quantization")
        .unwrap()
        .contains("32 samples"));
    assert!(q.parameter_count() == m.parameter_count());
}

#[test]
fn int8_model_survives_encode_and_decode() {
    for kind in [ModelKind::FaceClassifier, ModelKind::VoiceClassifier] {
        let (_, q) = quantized_tiny(kind, 5, &QuantizeOptions::default());
        q.validate().unwrap();
        let bytes = encode(&q).unwrap();
        assert_eq!(decode(&bytes).unwrap(), q);
    }
}

#[test]
fn reference_int8_stays_close_to_f32() {
    let (m, q) = quantized_tiny(ModelKind::FaceClassifier, 11, &QuantizeOptions::default());
    let tests = random_inputs(&m, 32, 77);
    let (mut agree, mut max_err, mut max_logit) = (0, 0.0f32, 0.0f32);
    for x in &tests {
        let a = run_reference_outputs(&m, x).unwrap().remove(0);
        let b = run_reference_outputs(&q, x).unwrap().remove(0);
        agree += (argmax(&a) == argmax(&b)) as usize;
        for (u, v) in a.iter().zip(&b) {
            max_err = max_err.max((u - v).abs());
            max_logit = max_logit.max(u.abs());
        }
    }
    assert!(agree >= 29, "argmax agreement {agree}/32");
    assert!(
        max_err < 0.05 * max_logit.max(1.0),
        "max error {max_err} for logits up to {max_logit}"
    );
}

#[test]
fn named_layers_stay_f32() {
    let opts = QuantizeOptions {
        keep_f32: vec!["stem".into(), "fc".into()],
        ..QuantizeOptions::default()
    };
    let (_, q) = quantized_tiny(ModelKind::FaceClassifier, 3, &opts);
    let int8: Vec<&str> = q
        .graph
        .nodes
        .iter()
        .filter(|n| n.op.is_int8())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(int8, vec!["block.dw", "block.pw", "conv2"]);
    let bad = QuantizeOptions {
        keep_f32: vec!["no-such-layer".into()],
        ..QuantizeOptions::default()
    };
    let m = tiny_classifier(ModelKind::FaceClassifier, 3);
    let calib = calibrate(&m, random_inputs(&m, 2, 1).iter().map(|v| v.as_slice())).unwrap();
    assert_eq!(
        quantize(&m, &calib, &bad),
        Err(QuantizeError::UnknownLayer {
            name: "no-such-layer".into()
        })
    );
}

#[test]
fn calibration_must_match_the_model() {
    let m = tiny_classifier(ModelKind::FaceClassifier, 3);
    let calib = calibrate(&m, core::iter::empty()).unwrap();
    assert_eq!(
        quantize(&m, &calib, &QuantizeOptions::default()),
        Err(QuantizeError::NoSamples)
    );
    let calib = calibrate(&m, random_inputs(&m, 1, 1).iter().map(|v| v.as_slice())).unwrap();
    let other = single_op(Op::Relu, m.header.input_shape.clone());
    assert_eq!(
        quantize(&other, &calib, &QuantizeOptions::default()),
        Err(QuantizeError::CalibrationMismatch {
            expected: 2,
            found: m.graph.nodes.len() + 1
        })
    );
    let wrong = vec![0.0f32; 3];
    assert!(matches!(
        calibrate(&m, [wrong.as_slice()]),
        Err(QuantizeError::Sample {
            index: 0,
            error: RefError::InputLength { .. }
        })
    ));
    let opts = QuantizeOptions {
        clipping: Clipping::Percentile(30.0),
        ..QuantizeOptions::default()
    };
    assert_eq!(
        quantize(&m, &calib, &opts),
        Err(QuantizeError::InvalidPercentile { value: 30.0 })
    );
}

#[test]
fn grid_is_carried_through_max_pool_and_flatten() {
    let mut g = Graph::default();
    let w = Tensor::f32(vec![4, 2, 3, 3], pseudo_random(1, 72, 0.5));
    let c1 = g.push(
        "c1",
        conv_op(w, Some(vec![0.1; 4]), 1, 1, [1; 4], 1),
        vec![0],
    );
    let p = g.push(
        "pool",
        Op::MaxPool(Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0; 4],
        }),
        vec![c1],
    );
    let w = Tensor::f32(vec![4, 4, 1, 1], pseudo_random(2, 16, 0.5));
    let c2 = g.push("c2", conv_op(w, None, 1, 1, [0; 4], 1), vec![p]);
    let s = g.push("sig", Op::Sigmoid, vec![c2]);
    let w = Tensor::f32(vec![4, 4, 1, 1], pseudo_random(3, 16, 0.5));
    let c3 = g.push("c3", conv_op(w, None, 1, 1, [0; 4], 1), vec![s]);
    g.outputs = vec![c3];
    let m = model_with_graph(g, vec![1, 2, 6, 6]);
    let calib = calibrate(&m, random_inputs(&m, 4, 9).iter().map(|v| v.as_slice())).unwrap();
    let q = quantize(&m, &calib, &QuantizeOptions::default()).unwrap();
    let input_quant = |i: usize| match &q.graph.nodes[i].op {
        Op::Conv2d(c) => c.input_quant.unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(Some(input_quant(2)), q.graph.nodes[0].output_quant);
    // After the sigmoid the input grid comes from the calibration: [0, 1].
    let after_sigmoid = input_quant(4);
    assert_ne!(Some(after_sigmoid), q.graph.nodes[2].output_quant);
    assert_eq!(after_sigmoid.zero_point, -128);
    assert!(after_sigmoid.scale <= 1.0 / 255.0 + 1e-6);
}

#[test]
fn merged_chunk_calibrations_equal_one_calibration_of_all_samples() {
    let m = tiny_classifier(ModelKind::FaceClassifier, 5);
    // Inputs of very different scales make the chunks' histograms grow to
    // different bounds before they are merged.
    let mut inputs = random_inputs(&m, 12, 77);
    for (i, x) in inputs.iter_mut().enumerate() {
        let scale = [0.01f32, 1.0, 40.0][i % 3];
        x.iter_mut().for_each(|v| *v *= scale);
    }
    let all = calibrate(&m, inputs.iter().map(|v| v.as_slice())).unwrap();
    for split in [1, 5, 11] {
        let (a, b) = inputs.split_at(split);
        let mut merged = calibrate(&m, a.iter().map(|v| v.as_slice())).unwrap();
        let second = calibrate(&m, b.iter().map(|v| v.as_slice())).unwrap();
        merged.merge(&second).unwrap();
        assert_eq!(merged, all, "split at {split}");
        // The other order gives the same statistics.
        let mut reversed = second.clone();
        reversed
            .merge(&calibrate(&m, a.iter().map(|v| v.as_slice())).unwrap())
            .unwrap();
        assert_eq!(reversed, all, "reversed split at {split}");
    }
    // An empty calibration is the identity on either side.
    let empty = calibrate(&m, core::iter::empty()).unwrap();
    let mut left = empty.clone();
    left.merge(&all).unwrap();
    assert_eq!(left, all);
    let mut right = all.clone();
    right.merge(&empty).unwrap();
    assert_eq!(right, all);
}

#[test]
fn merging_a_calibration_of_another_model_is_refused() {
    let m = tiny_classifier(ModelKind::FaceClassifier, 3);
    let mut calib = calibrate(&m, random_inputs(&m, 1, 1).iter().map(|v| v.as_slice())).unwrap();
    let other = single_op(Op::Relu, m.header.input_shape.clone());
    let theirs = calibrate(
        &other,
        random_inputs(&other, 1, 1).iter().map(|v| v.as_slice()),
    )
    .unwrap();
    let before = calib.clone();
    assert_eq!(
        calib.merge(&theirs),
        Err(QuantizeError::CalibrationMismatch {
            expected: m.graph.nodes.len() + 1,
            found: 2
        })
    );
    assert_eq!(calib, before);
}
