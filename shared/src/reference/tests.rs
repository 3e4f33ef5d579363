//! Hand-computed checks of the reference interpreter.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::format::sample::{pseudo_random, tiny_classifier};
use crate::format::{
    Conv2d, Dense, DetectorPreprocessing, Graph, Header, ModelKind, Pool2d, Preprocessing,
    QuantParams, Tensor,
};

/// A detector-kind model around `graph` (detectors have no output-size
/// constraint), for tests of single operations.
pub(crate) fn model_with_graph(graph: Graph, input_shape: Vec<u32>) -> ModelFile {
    ModelFile {
        header: Header {
            kind: ModelKind::FaceDetector,
            name: "op-test".to_string(),
            input_shape,
            labels: vec![],
            preprocessing: Preprocessing::Detector(DetectorPreprocessing {
                input_size: 128,
                mean: 0.5,
                std: 0.5,
                channels_last: false,
                strides: vec![8, 16],
                anchors_per_cell: vec![2, 6],
                box_scale: 128.0,
                keypoints: 6,
                score_threshold: 0.5,
                iou_threshold: 0.3,
            }),
            temperature: 1.0,
            metadata: vec![],
        },
        graph,
    }
}

/// One-node model `op(input)`.
pub(crate) fn single_op(op: Op, input_shape: Vec<u32>) -> ModelFile {
    let mut g = Graph::default();
    let y = g.push("op", op, vec![0]);
    g.outputs = vec![y];
    model_with_graph(g, input_shape)
}

pub(crate) fn conv_op(
    weight: Tensor,
    bias: Option<Vec<f32>>,
    stride: u16,
    dilation: u16,
    padding: [u16; 4],
    groups: u32,
) -> Op {
    Op::Conv2d(Conv2d {
        weight,
        bias: bias.map(Bias::F32),
        stride: [stride, stride],
        dilation: [dilation, dilation],
        padding,
        groups,
        activation: Activation::None,
        input_quant: None,
    })
}

fn run1(m: &ModelFile, x: &[f32]) -> Vec<f32> {
    run_reference_outputs(m, x).unwrap().remove(0)
}

fn iota(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

#[test]
fn conv_with_asymmetric_padding_and_stride() {
    // 1x1x3x3 input 0..9, 2x2 kernel of ones, pad top 1 / left 0 / bottom 0 / right 1, stride 2.
    let w = Tensor::f32(vec![1, 1, 2, 2], vec![1.0; 4]);
    let m = single_op(
        conv_op(w, Some(vec![0.5]), 2, 1, [1, 0, 0, 1], 1),
        vec![1, 1, 3, 3],
    );
    let y = run1(&m, &iota(9));
    // Padded input rows: [pad], [0 1 2 p], [3 4 5 p], [6 7 8 p]; windows at (0,0),(0,2),(2,0),(2,2).
    assert_eq!(
        y,
        vec![
            0.0 + 1.0 + 0.5,
            2.0 + 0.5,
            3.0 + 4.0 + 6.0 + 7.0 + 0.5,
            5.0 + 8.0 + 0.5
        ]
    );
}

#[test]
fn dilated_and_depthwise_conv() {
    // Dilation 2 on 1x1x5x5: the 2x2 kernel reads corners of 3x3 windows.
    let w = Tensor::f32(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let m = single_op(conv_op(w, None, 1, 2, [0; 4], 1), vec![1, 1, 5, 5]);
    let y = run1(&m, &iota(25));
    assert_eq!(y.len(), 9);
    assert_eq!(y[0], 0.0 + 2.0 * 2.0 + 3.0 * 10.0 + 4.0 * 12.0);
    // Depthwise: each channel scaled by its own weight.
    let w = Tensor::f32(vec![2, 1, 1, 1], vec![2.0, -1.0]);
    let m = single_op(
        conv_op(w, Some(vec![0.0, 1.0]), 1, 1, [0; 4], 2),
        vec![1, 2, 1, 2],
    );
    assert_eq!(run1(&m, &[1.0, 2.0, 3.0, 4.0]), vec![2.0, 4.0, -2.0, -3.0]);
}

#[test]
fn pooling_ignores_padding() {
    let p = Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [1, 1, 0, 0],
    };
    let x = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0];
    let m = single_op(Op::MaxPool(p), vec![1, 1, 3, 3]);
    // Windows (rows, cols): {0}x{0}, {0}x{1,2}, {1,2}x{0}, {1,2}x{1,2}.
    assert_eq!(run1(&m, &x), vec![-1.0, -2.0, -4.0, -5.0]);
    let m = single_op(Op::AvgPool(p), vec![1, 1, 3, 3]);
    assert_eq!(run1(&m, &x), vec![-1.0, -2.5, -5.5, -7.0]);
    let m = single_op(Op::GlobalAvgPool, vec![1, 2, 1, 2]);
    assert_eq!(run1(&m, &[1.0, 3.0, -2.0, 6.0]), vec![2.0, 2.0]);
}

#[test]
fn layout_ops() {
    let m = single_op(
        Op::PadChannels {
            before: 1,
            after: 2,
        },
        vec![1, 1, 1, 2],
    );
    assert_eq!(
        run1(&m, &[5.0, 6.0]),
        vec![0.0, 0.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0]
    );
    let m = single_op(
        Op::Transpose {
            perm: vec![0, 2, 3, 1],
        },
        vec![1, 2, 2, 3],
    );
    let y = run1(&m, &iota(12));
    // NCHW -> NHWC: element (h, w, c) = c * 6 + h * 3 + w.
    assert_eq!(&y[..6], &[0.0, 6.0, 1.0, 7.0, 2.0, 8.0]);
    let mut g = Graph::default();
    let a = g.push("a", Op::Relu, vec![0]);
    let c = g.push("cat", Op::Concat { axis: 1 }, vec![0, a]);
    g.outputs = vec![c];
    let m = model_with_graph(g, vec![1, 2, 1, 1]);
    assert_eq!(run1(&m, &[-1.0, 2.0]), vec![-1.0, 2.0, 0.0, 2.0]);
}

#[test]
fn activations() {
    let m = single_op(Op::Softmax { axis: 1 }, vec![1, 3]);
    let y = run1(&m, &[1.0, 2.0, 3.0]);
    let e: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|v| libm::expf(*v)).collect();
    let s: f32 = e.iter().sum();
    for (a, b) in y.iter().zip(&e) {
        assert!((a - b / s).abs() < 1e-6);
    }
    let m = single_op(
        Op::PRelu {
            slope: vec![0.5, 0.25],
        },
        vec![1, 2, 1, 1],
    );
    assert_eq!(run1(&m, &[-2.0, -2.0]), vec![-1.0, -0.5]);
    let m = single_op(Op::Sigmoid, vec![1, 1]);
    assert!((run1(&m, &[0.0])[0] - 0.5).abs() < 1e-7);
    let m = single_op(Op::Relu6, vec![1, 3]);
    assert_eq!(run1(&m, &[-1.0, 3.0, 9.0]), vec![0.0, 3.0, 6.0]);
}

#[test]
fn int8_dense_matches_hand_arithmetic() {
    let iq = QuantParams {
        scale: 0.5,
        zero_point: 2,
    };
    let wq = QuantParams {
        scale: 0.25,
        zero_point: 0,
    };
    let oq = QuantParams {
        scale: 1.0,
        zero_point: -1,
    };
    let mut g = Graph::default();
    let y = g.push(
        "fc",
        Op::Dense(Dense {
            weight: Tensor {
                shape: vec![1, 2],
                values: Weights::I8 {
                    data: vec![4, -8],
                    quant: wq,
                },
            },
            bias: Some(Bias::I32(vec![6])),
            activation: Activation::None,
            input_quant: Some(iq),
        }),
        vec![0],
    );
    g.nodes[0].output_quant = Some(oq);
    g.outputs = vec![y];
    let m = model_with_graph(g, vec![1, 2]);
    // x = [1.0, -0.75] -> q = [2 + 2, round_even(-1.5) + 2 = 0] -> centred [2, -2];
    // acc = 6 + 2*4 + (-2)*(-8) = 30; m = 0.125 -> 3.75 -> 4; + zp -1 = 3 -> (3 + 1) * 1.0.
    assert_eq!(run1(&m, &[1.0, -0.75]), vec![4.0]);
}

#[test]
fn every_value_is_returned() {
    let m = tiny_classifier(ModelKind::FaceClassifier, 1);
    let x = pseudo_random(5, 48 * 48, 1.0);
    let all = run_reference(&m, &x).unwrap();
    let shapes = infer_shapes(&m.graph, &m.header.input_shape).unwrap();
    assert_eq!(all.len(), m.graph.nodes.len() + 1);
    for (v, s) in all.iter().zip(&shapes) {
        assert_eq!(v.len(), numel(s));
    }
    assert_eq!(all[0], x);
    let out = run_reference_outputs(&m, &x).unwrap();
    assert_eq!(out, vec![all[m.graph.outputs[0] as usize].clone()]);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let m = tiny_classifier(ModelKind::FaceClassifier, 1);
    assert_eq!(
        run_reference(&m, &[0.0; 10]),
        Err(RefError::InputLength {
            expected: 48 * 48,
            found: 10
        })
    );
    let mut x = vec![0.0; 48 * 48];
    x[7] = f32::NAN;
    assert_eq!(
        run_reference(&m, &x),
        Err(RefError::NonFiniteInput { index: 7 })
    );
    let mut broken = m.clone();
    broken.graph.nodes[0].inputs = vec![5];
    assert!(matches!(
        run_reference(&broken, &[0.0; 48 * 48]),
        Err(RefError::InvalidModel(_))
    ));
}
