//! tract runtime against the reference interpreter.

use super::*;
use crate::format::sample::{pseudo_random, tiny_classifier};
use crate::format::{encode, Activation, Bias, Conv2d, Dense, Graph, Op, Pool2d, Tensor, Weights};
use crate::quantize::tests::{quantized_tiny, random_inputs};
use crate::quantize::{calibrate, quantize, QuantizeOptions};
use crate::reference::run_reference_outputs;
use crate::reference::tests::{conv_op, model_with_graph, single_op};

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

/// Largest |tract - reference| over all outputs of all inputs, relative to
/// max(1, |reference|).
fn max_rel_diff(m: &ModelFile, inputs: &[Vec<f32>]) -> f32 {
    let rt = Model::from_model(m).unwrap();
    let mut worst = 0.0f32;
    for x in inputs {
        let got = rt.run_all(x).unwrap();
        let want = run_reference_outputs(m, x).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len());
            for (a, b) in g.iter().zip(w) {
                worst = worst.max((a - b).abs() / b.abs().max(1.0));
            }
        }
    }
    worst
}

fn check_f32(what: &str, m: &ModelFile) {
    let inputs = random_inputs(m, 4, 42);
    let d = max_rel_diff(m, &inputs);
    assert!(
        d <= 1e-4,
        "{what}: tract f32 differs from the reference by {d}"
    );
}

#[test]
fn tiny_classifier_f32_matches_reference() {
    for kind in [ModelKind::FaceClassifier, ModelKind::VoiceClassifier] {
        for seed in [1, 2] {
            let m = tiny_classifier(kind, seed);
            let inputs = random_inputs(&m, 8, seed * 100);
            let d = max_rel_diff(&m, &inputs);
            assert!(d <= 1e-4, "{kind:?} seed {seed}: {d}");
        }
    }
}

fn weight(o: u32, i: u32, k: u32, seed: u64) -> Tensor {
    Tensor::f32(
        vec![o, i, k, k],
        pseudo_random(seed, (o * i * k * k) as usize, 0.5),
    )
}

fn bias(n: usize, seed: u64) -> Option<Vec<f32>> {
    Some(pseudo_random(seed, n, 0.2))
}

fn with_activation(mut op: Op, act: Activation) -> Op {
    if let Op::Conv2d(c) = &mut op {
        c.activation = act;
    }
    op
}

/// Conv layers covering every geometry: (name, op, input shape).
fn conv_cases() -> Vec<(&'static str, Op, Vec<u32>)> {
    vec![
        (
            "conv3x3",
            conv_op(weight(4, 3, 3, 1), bias(4, 2), 1, 1, [1; 4], 1),
            vec![1, 3, 9, 9],
        ),
        (
            "depthwise",
            conv_op(weight(6, 1, 3, 3), bias(6, 4), 1, 1, [1; 4], 6),
            vec![1, 6, 8, 8],
        ),
        (
            "grouped",
            conv_op(weight(4, 2, 3, 5), None, 1, 1, [1; 4], 2),
            vec![1, 4, 7, 7],
        ),
        (
            "asymmetric_padding",
            conv_op(weight(3, 2, 3, 6), bias(3, 7), 1, 1, [1, 0, 2, 1], 1),
            vec![1, 2, 6, 7],
        ),
        (
            "stride2",
            conv_op(weight(5, 3, 3, 8), bias(5, 9), 2, 1, [1; 4], 1),
            vec![1, 3, 11, 10],
        ),
        (
            "dilation2",
            conv_op(weight(2, 2, 3, 10), bias(2, 11), 1, 2, [2; 4], 1),
            vec![1, 2, 9, 9],
        ),
        (
            "pointwise",
            conv_op(weight(8, 4, 1, 12), bias(8, 13), 1, 1, [0; 4], 1),
            vec![1, 4, 5, 5],
        ),
        (
            "relu",
            with_activation(
                conv_op(weight(4, 3, 3, 14), bias(4, 15), 1, 1, [1; 4], 1),
                Activation::Relu,
            ),
            vec![1, 3, 6, 6],
        ),
        (
            "relu6",
            with_activation(
                conv_op(weight(4, 3, 3, 16), bias(4, 17), 2, 1, [0, 1, 1, 0], 1),
                Activation::Relu6,
            ),
            vec![1, 3, 6, 6],
        ),
    ]
}

fn dense_op(o: u32, i: u32, act: Activation, seed: u64) -> Op {
    Op::Dense(Dense {
        weight: Tensor::f32(vec![o, i], pseudo_random(seed, (o * i) as usize, 0.5)),
        bias: Some(Bias::F32(pseudo_random(seed + 1, o as usize, 0.2))),
        activation: act,
        input_quant: None,
    })
}

fn pool(k: u16, s: u16, padding: [u16; 4]) -> Pool2d {
    Pool2d {
        kernel: [k, k],
        stride: [s, s],
        padding,
    }
}

#[test]
fn every_conv_geometry_matches_reference() {
    for (what, op, shape) in conv_cases() {
        check_f32(what, &single_op(op, shape));
    }
}

#[test]
fn every_other_op_matches_reference() {
    let cases: Vec<(&str, Op, Vec<u32>)> = vec![
        ("dense", dense_op(5, 12, Activation::None, 1), vec![1, 12]),
        (
            "dense_relu",
            dense_op(5, 12, Activation::Relu, 2),
            vec![1, 12],
        ),
        (
            "dense_relu6",
            dense_op(5, 12, Activation::Relu6, 3),
            vec![1, 12],
        ),
        ("relu", Op::Relu, vec![1, 3, 4, 4]),
        ("relu6", Op::Relu6, vec![1, 3, 4, 4]),
        (
            "prelu",
            Op::PRelu {
                slope: vec![0.1, -0.5, 2.0],
            },
            vec![1, 3, 4, 4],
        ),
        (
            "prelu_2d",
            Op::PRelu {
                slope: vec![0.3, 0.7],
            },
            vec![1, 2],
        ),
        (
            "max_pool",
            Op::MaxPool(pool(2, 2, [0; 4])),
            vec![1, 2, 8, 8],
        ),
        (
            "max_pool_padded",
            Op::MaxPool(pool(3, 2, [1, 1, 1, 1])),
            vec![1, 2, 7, 8],
        ),
        (
            "max_pool_asymmetric",
            Op::MaxPool(pool(3, 1, [0, 2, 1, 0])),
            vec![1, 2, 5, 5],
        ),
        (
            "avg_pool",
            Op::AvgPool(pool(2, 2, [0; 4])),
            vec![1, 2, 8, 8],
        ),
        (
            "avg_pool_padded",
            Op::AvgPool(pool(3, 2, [1, 1, 1, 1])),
            vec![1, 2, 7, 8],
        ),
        (
            "avg_pool_asymmetric",
            Op::AvgPool(pool(3, 1, [2, 0, 0, 1])),
            vec![1, 2, 5, 5],
        ),
        ("global_avg_pool", Op::GlobalAvgPool, vec![1, 5, 6, 7]),
        (
            "pad_channels",
            Op::PadChannels {
                before: 2,
                after: 1,
            },
            vec![1, 3, 4, 5],
        ),
        (
            "reshape",
            Op::Reshape {
                shape: vec![1, 6, 10],
            },
            vec![1, 3, 4, 5],
        ),
        (
            "reshape_same",
            Op::Reshape {
                shape: vec![1, 3, 4, 5],
            },
            vec![1, 3, 4, 5],
        ),
        ("flatten", Op::Flatten, vec![1, 3, 4, 5]),
        (
            "transpose_nhwc",
            Op::Transpose {
                perm: vec![0, 2, 3, 1],
            },
            vec![1, 3, 4, 5],
        ),
        (
            "transpose_nchw",
            Op::Transpose {
                perm: vec![0, 3, 1, 2],
            },
            vec![1, 3, 4, 5],
        ),
        (
            "transpose_reverse",
            Op::Transpose {
                perm: vec![3, 2, 1, 0],
            },
            vec![1, 3, 4, 5],
        ),
        ("softmax", Op::Softmax { axis: 1 }, vec![1, 7]),
        (
            "softmax_channels",
            Op::Softmax { axis: 1 },
            vec![1, 4, 3, 2],
        ),
        ("softmax_last", Op::Softmax { axis: 3 }, vec![1, 4, 3, 2]),
        ("sigmoid", Op::Sigmoid, vec![1, 3, 4, 4]),
    ];
    for (what, op, shape) in cases {
        check_f32(what, &single_op(op, shape));
    }
    // Two-input ops and several outputs.
    let mut g = Graph::default();
    let a = g.push("a", Op::Sigmoid, vec![0]);
    let add = g.push("add", Op::Add, vec![0, a]);
    let mul = g.push("mul", Op::Mul, vec![add, a]);
    let cat = g.push("cat", Op::Concat { axis: 1 }, vec![0, mul, a]);
    let cat_w = g.push("cat_w", Op::Concat { axis: 3 }, vec![a, 0]);
    g.outputs = vec![cat, cat_w, 0];
    let m = model_with_graph(g, vec![1, 2, 3, 4]);
    let rt = Model::from_model(&m).unwrap();
    assert_eq!(
        rt.output_shapes(),
        &[vec![1, 6, 3, 4], vec![1, 2, 3, 8], vec![1, 2, 3, 4]]
    );
    check_f32("add_mul_concat", &m);
}

/// Calibrates `m` on random inputs and quantises it.
fn quantized(m: &ModelFile) -> ModelFile {
    let inputs = random_inputs(m, 16, 4242);
    let calib = calibrate(m, inputs.iter().map(|v| v.as_slice())).unwrap();
    quantize(m, &calib, &QuantizeOptions::default()).unwrap()
}

/// Output grid step of the node producing output `i`.
fn output_step(m: &ModelFile, i: usize) -> f32 {
    let v = m.graph.outputs[i] as usize;
    m.graph.nodes[v - 1]
        .output_quant
        .expect("output of an int8 layer")
        .scale
}

/// Compares tract with the reference on an int8 model whose outputs come
/// straight from int8 layers: returns the largest difference in output-grid
/// steps, the number of output values that differ at all and the number
/// of values compared.
/// `exact_f32: false` forces tract's int8 kernels on every int8 layer.
fn int8_steps(m: &ModelFile, inputs: &[Vec<f32>], exact_f32: bool) -> (f32, usize, usize) {
    let rt = Model::from_model_with(m, None, exact_f32).unwrap();
    assert!(rt.int8_layers() > 0);
    if !exact_f32 {
        assert_eq!(rt.int8_kernel_layers(), rt.int8_layers());
    }
    let (mut worst, mut differ, mut total) = (0.0f32, 0usize, 0usize);
    for x in inputs {
        let got = rt.run_all(x).unwrap();
        let want = run_reference_outputs(m, x).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let step = output_step(m, i);
            for (a, b) in g.iter().zip(w) {
                worst = worst.max((a - b).abs() / step);
                differ += (a != b) as usize;
                total += 1;
            }
        }
    }
    (worst, differ, total)
}

/// Asserts tract int8 == reference int8 to within one output step, with
/// off-by-one values rare (a systematic rounding mismatch would make them
/// common), on both kernel paths; returns the largest difference in steps.
fn check_int8(what: &str, m: &ModelFile, inputs: &[Vec<f32>]) -> f32 {
    let mut worst = 0.0f32;
    for exact_f32 in [true, false] {
        let (steps, differ, total) = int8_steps(m, inputs, exact_f32);
        worst = worst.max(steps);
        assert!(
            steps <= 1.0 + 1e-3 && differ <= total.max(100) / 100,
            "{what} (exact f32 path allowed: {exact_f32}): tract int8 is up to {steps} steps away from the reference, {differ} of {total} values differ"
        );
    }
    worst
}

#[test]
fn int8_layers_match_reference_within_one_step() {
    let mut cases = conv_cases();
    cases.push(("dense", dense_op(6, 20, Activation::None, 5), vec![1, 20]));
    cases.push((
        "dense_relu6",
        dense_op(6, 20, Activation::Relu6, 6),
        vec![1, 20],
    ));
    // Large reductions.
    let wide = with_activation(
        conv_op(weight(4, 160, 3, 20), bias(4, 21), 1, 1, [1; 4], 1),
        Activation::Relu,
    );
    cases.push(("wide_conv", wide, vec![1, 160, 5, 5]));
    cases.push((
        "wide_dense",
        dense_op(5, 1500, Activation::None, 22),
        vec![1, 1500],
    ));
    for (what, op, shape) in cases {
        let q = quantized(&single_op(op, shape));
        let rt = Model::from_model(&q).unwrap();
        // Grouped convs take the exact f32 path, the others tract's int8 kernels.
        let grouped = matches!(what, "depthwise" | "grouped");
        assert_eq!(rt.int8_kernel_layers(), !grouped as usize, "{what}");
        check_int8(what, &q, &random_inputs(&q, 8, 99));
    }
}

/// conv -> depthwise conv -> relu -> max pool (padded) -> pad channels ->
/// conv -> flatten -> concat(self) -> dense: int8 all along.
fn int8_chain() -> ModelFile {
    let mut g = Graph::default();
    let c1 = g.push(
        "c1",
        conv_op(weight(4, 2, 3, 1), bias(4, 2), 1, 1, [1; 4], 1),
        vec![0],
    );
    let dw = with_activation(
        conv_op(weight(4, 1, 3, 8), bias(4, 9), 1, 1, [1; 4], 4),
        Activation::Relu6,
    );
    let dw = g.push("dw", dw, vec![c1]);
    let r = g.push("relu", Op::Relu, vec![dw]);
    let p = g.push("pool", Op::MaxPool(pool(3, 2, [1, 1, 1, 1])), vec![r]);
    let pc = g.push(
        "pad",
        Op::PadChannels {
            before: 1,
            after: 1,
        },
        vec![p],
    );
    let c2 = g.push(
        "c2",
        conv_op(weight(3, 6, 3, 3), bias(3, 4), 1, 1, [1; 4], 1),
        vec![pc],
    );
    let f = g.push("flat", Op::Flatten, vec![c2]);
    let cat = g.push("cat", Op::Concat { axis: 1 }, vec![f, f]);
    let fc = g.push(
        "fc",
        dense_op(5, 2 * 3 * 4 * 4, Activation::None, 7),
        vec![cat],
    );
    g.outputs = vec![fc];
    model_with_graph(g, vec![1, 2, 8, 8])
}

#[test]
fn int8_chain_stays_int8_and_matches_reference() {
    let q = quantized(&int8_chain());
    // The grid is carried from c1 to dw, dw to c2 and c2 to fc.
    let iq = |i: usize| match &q.graph.nodes[i].op {
        Op::Conv2d(Conv2d { input_quant, .. }) | Op::Dense(Dense { input_quant, .. }) => {
            *input_quant
        }
        _ => None,
    };
    assert_eq!(iq(1), q.graph.nodes[0].output_quant);
    assert_eq!(iq(5), q.graph.nodes[1].output_quant);
    assert_eq!(iq(8), q.graph.nodes[5].output_quant);
    for exact_f32 in [true, false] {
        let shapes = infer_shapes(&q.graph, &q.header.input_shape).unwrap();
        let lowered = lower::lower(&q, shapes, exact_f32).ok().unwrap();
        let nodes = &lowered.model.nodes;
        // Quantisation of real values (not the requantisation of the exact f32 path).
        let quantize = nodes
            .iter()
            .filter(|n| n.op.name() == "QuantizeLinearI8" && n.name.contains(".quantize."))
            .count();
        // Dequantisation to real values (not the centring of the exact f32 path).
        let dequantize = nodes
            .iter()
            .filter(|n| {
                n.op_as::<tract_core::ops::quant::DequantizeLinearF32>()
                    .is_some_and(|d| d.scale != 1.0)
            })
            .count();
        assert_eq!(quantize, 1, "only the input is quantised");
        assert_eq!(dequantize, 1, "only the output is dequantised");
        assert_eq!(lowered.int8_layers, 4);
        assert_eq!(lowered.int8_kernels, if exact_f32 { 3 } else { 4 });
    }
    check_int8("int8 chain", &q, &random_inputs(&q, 8, 5));
}

#[test]
fn quantized_tiny_classifier_matches_reference_and_f32() {
    for kind in [ModelKind::FaceClassifier, ModelKind::VoiceClassifier] {
        let (m, q) = quantized_tiny(kind, 21, &QuantizeOptions::default());
        let rt_q = Model::from_model(&q).unwrap();
        let rt_f = Model::from_model(&m).unwrap();
        assert_eq!(rt_q.int8_layers(), 5);
        assert_eq!(rt_f.int8_layers(), 0);
        let tests = random_inputs(&m, 32, 31337);
        let steps = check_int8("tiny classifier", &q, &tests[..12]);
        let (mut agree, mut max_err, mut max_logit) = (0, 0.0f32, 0.0f32);
        for x in &tests {
            let a = rt_f.run(x).unwrap();
            let b = rt_q.run(x).unwrap();
            agree += (argmax(&a) == argmax(&b)) as usize;
            for (u, v) in a.iter().zip(&b) {
                max_err = max_err.max((u - v).abs());
                max_logit = max_logit.max(u.abs());
            }
        }
        std::println!(
            "{kind:?}: int8 vs f32 argmax agreement {agree}/32, max abs logit error {max_err:.4} (logits up to {max_logit:.3}), tract vs reference int8 {steps} steps"
        );
        assert!(agree >= 29, "{kind:?}: argmax agreement {agree}/32");
        assert!(
            max_err <= 0.05 * max_logit.max(1.0),
            "{kind:?}: max error {max_err}"
        );
    }
}

#[test]
fn wrong_input_is_a_typed_error() {
    let rt = Model::from_model(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap();
    assert_eq!(rt.input_len(), 48 * 48);
    match rt.run(&[0.0; 100]) {
        Err(RuntimeError::InputLength {
            expected,
            found,
            shape,
        }) => {
            assert_eq!((expected, found), (2304, 100));
            assert_eq!(shape, vec![1, 1, 48, 48]);
        }
        other => panic!("expected InputLength, got {other:?}"),
    }
    let mut x = vec![0.0; 2304];
    x[3] = f32::INFINITY;
    assert!(matches!(
        rt.run(&x),
        Err(RuntimeError::NonFiniteInput { index: 3 })
    ));
    assert_eq!(rt.run(&vec![0.25; 2304]).unwrap().len(), 7);
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("emoedge-runtime-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, q) = quantized_tiny(ModelKind::VoiceClassifier, 2, &QuantizeOptions::default());
    let good = dir.join("voice.emo");
    let bytes = encode(&q).unwrap();
    std::fs::write(&good, &bytes).unwrap();
    let rt = Model::load(&good).unwrap();
    assert_eq!(rt.header(), &q.header);
    assert!(Model::load_kind(&good, ModelKind::VoiceClassifier).is_ok());
    let e = Model::load_kind(&good, ModelKind::FaceClassifier).unwrap_err();
    assert!(e.to_string().contains("voice.emo"), "{e}");
    let bad = dir.join("corrupt.emo");
    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    std::fs::write(&bad, &corrupt).unwrap();
    let e = Model::load(&bad).unwrap_err();
    assert!(matches!(
        e,
        RuntimeError::Format {
            source: FormatError::ChecksumMismatch { .. },
            ..
        }
    ));
    assert!(e.to_string().contains("corrupt.emo"), "{e}");
    let e = Model::load(dir.join("missing.emo")).unwrap_err();
    assert!(matches!(e, RuntimeError::Io { .. }));
    assert!(e.to_string().contains("missing.emo"), "{e}");
    assert!(matches!(
        Model::from_bytes(&corrupt),
        Err(RuntimeError::Format { path: None, .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_models_are_refused() {
    let mut m = tiny_classifier(ModelKind::FaceClassifier, 1);
    if let Op::Conv2d(c) = &mut m.graph.nodes[0].op {
        c.weight.values = Weights::I8 {
            data: vec![0; c.weight.values.len()],
            quant: crate::format::QuantParams {
                scale: 0.1,
                zero_point: 0,
            },
        };
    }
    // int8 weights without calibrated activations.
    assert!(matches!(
        Model::from_model(&m),
        Err(RuntimeError::Format { .. })
    ));
}

#[test]
fn model_is_shareable_between_threads() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Model>();
}

/// On x86-64, building a model keeps tract off its AMX int8 kernel (which
/// reads past its buffers) unless the environment chose otherwise.
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_kernels_are_left_out() {
    use tract_core::internal::tract_linalg::isa::{native, Isa};
    Model::from_model(&tiny_classifier(ModelKind::FaceClassifier, 1)).unwrap();
    if std::env::var_os("TRACT_CPU_ISA").is_some() {
        return; // the user's edit wins by design
    }
    let isa = native();
    assert!(!isa.has(Isa::X86_64AmxInt8), "tract dispatches on {isa:?}");
}

/// [`patches::PackPatchesI8`] writes the very bytes tract's `Im2Col`
/// writes, for every conv geometry of the tests (padding, asymmetric
/// padding, stride, dilation, groups, 1x1, K not a multiple of four,
/// partial panels, a batch of two), with a non-zero pad value.
#[test]
fn packed_patches_are_tract_im2col_bytes() {
    use tract_core::internal::tract_linalg::isa::{native, Isa};
    use tract_core::internal::tract_linalg::mmm::{
        EagerPackedInput, PackedExoticFact, PackedMatrixStorage,
    };
    use tract_core::internal::tract_linalg::pack::PackedI8K4;
    use tract_core::internal::*;
    use tract_core::ops::cnn::conv::Im2Col;

    let mut cases = conv_cases();
    cases.push((
        "wide",
        conv_op(weight(4, 40, 3, 30), bias(4, 31), 1, 1, [1; 4], 1),
        vec![1, 40, 13, 11],
    ));
    cases.push((
        "batch2",
        conv_op(weight(3, 5, 3, 32), bias(3, 33), 1, 1, [1; 4], 1),
        vec![2, 5, 20, 18],
    ));
    let mut compared = 0;
    for (what, op, shape) in cases {
        let q = quantized(&single_op(op, shape));
        let shapes = infer_shapes(&q.graph, &q.header.input_shape).unwrap();
        let Ok(lowered) = lower::lower(&q, shapes, false) else {
            panic!("{what}: lowering failed");
        };
        let model = lowered.model.into_optimized().unwrap();
        for node in &model.nodes {
            let Some(im2col) = node.op_as::<Im2Col>() else {
                continue;
            };
            let output = &node.outputs[0].fact;
            let packs_k4 = output
                .exotic_fact()
                .and_then(|f| f.downcast_ref::<PackedExoticFact>())
                .is_some_and(|p| p.format.is::<PackedI8K4>());
            if !packs_k4 {
                continue; // tract's other layouts keep tract's own packing
            }
            let fact = model.outlet_fact(node.inputs[0]).unwrap();
            let Some(ours) = patches::PackPatchesI8::for_node(im2col, fact, output) else {
                panic!("{what}: a K=4-inner Im2Col is left to tract");
            };
            let shape = fact.shape.as_concrete().unwrap();
            let values: Vec<i8> = pseudo_random(compared as u64 + 7, shape.iter().product(), 128.0)
                .iter()
                .map(|v| v.clamp(-128.0, 127.0) as i8)
                .collect();
            let mut inputs = tvec![Tensor::from_shape(shape, &values).unwrap().into_tvalue()];
            if node.inputs.len() > 1 {
                inputs.push(tensor0(-3i8).into_tvalue());
            }
            let bytes = |out: TVec<TValue>| -> Vec<(usize, usize, Vec<u8>)> {
                let storage = out[0].try_storage_as::<PackedMatrixStorage>().unwrap();
                storage
                    .values()
                    .iter()
                    .map(|v| {
                        let v = v.downcast_ref::<EagerPackedInput>().unwrap();
                        (v.panel_bytes, v.mn, v.packed.as_bytes().to_vec())
                    })
                    .collect()
            };
            let want = im2col.eval_out_of_plan(inputs.clone()).unwrap().unwrap();
            let got = ours.eval_out_of_plan(inputs).unwrap().unwrap();
            let (got, want) = (bytes(got), bytes(want));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!((g.0, g.1), (w.0, w.1), "{what}: panel bytes, positions");
                let first = g.2.iter().zip(&w.2).position(|(a, b)| a != b);
                assert!(
                    g.2.len() == w.2.len() && first.is_none(),
                    "{what}: packed patches of value {i} differ ({} bytes, tract {}), first at {first:?}",
                    g.2.len(),
                    w.2.len()
                );
            }
            assert_eq!(got.len(), want.len(), "{what}: number of packed values");
            let facts = TypedOp::output_facts(&ours, &[fact]).unwrap();
            assert_eq!(&facts[0], output, "{what}");
            compared += 1;
        }
    }
    // tract packs K=4-inner for its AVX-512 VNNI kernel (this project's
    // x86 machines); elsewhere nothing may be left to compare.
    if native().has(Isa::X86_64Avx512Vnni) {
        assert!(compared >= 10, "only {compared} convs compared");
    }
}
