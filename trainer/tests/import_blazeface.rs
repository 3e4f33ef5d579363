//! ONNX import (`emoedge-train import blazeface`).
//!
//! - A small hand-built ONNX graph with every construct BlazeFace uses
//!   (NHWC input transposed to NCHW, strided conv with asymmetric pads and
//!   a ReLU, depthwise conv without bias, channel padding written as
//!   `ConstantOfShape` without `value` + `Concat`, residual add, max pool,
//!   NHWC-ordered reshaped heads) maps onto the expected ops and computes
//!   what tract-onnx computes. Needs no file.
//! - The real BlazeFace ONNX file, when present (`EMOEDGE_BLAZEFACE_ONNX`,
//!   or `target/blazeface/face_detection_front_128x128_barracuda.onnx`,
//!   where `scripts/import_blazeface.sh` leaves it): our runtime matches
//!   tract-onnx within 1e-4 on fixed inputs, and converting it again gives
//!   the committed `models/face_detector.emo` byte for byte. Skipped with a
//!   note otherwise.

use std::path::{Path, PathBuf};

use emoedge_shared::detect::{Layout, Letterbox};
use emoedge_shared::face::GrayFrame;
use emoedge_shared::format::{
    self, sample::pseudo_random, Activation, Header, ModelFile, ModelKind, Op, Preprocessing,
};
use emoedge_shared::reference;
use emoedge_shared::runtime::Model;
use emoedge_trainer::import::blazeface::{
    blazeface_preprocessing, convert, default_constant_of_shape, nchw_to_nhwc, parity_error,
    read_onnx, run_onnx, ONNX_FILE,
};
use emoedge_trainer::import::onnx::build::{
    float_tensor, int, int64_tensor, ints, model, node, value_info,
};
use emoedge_trainer::import::onnx::import_graph;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A BlazeFace-like block on a 1x16x16x3 NHWC input.
fn tiny_onnx() -> tract_onnx::pb::ModelProto {
    let w = |seed, shape: &[usize]| {
        let n = shape.iter().product();
        pseudo_random(seed, n, 0.5)
    };
    let inits = vec![
        float_tensor("w1", &[4, 3, 5, 5], w(1, &[4, 3, 5, 5])),
        float_tensor("b1", &[4], w(2, &[4])),
        float_tensor("dw", &[4, 1, 3, 3], w(3, &[4, 1, 3, 3])),
        float_tensor("pw", &[6, 4, 1, 1], w(4, &[6, 4, 1, 1])),
        float_tensor("pb", &[6], w(5, &[6])),
        float_tensor("hw", &[4, 6, 1, 1], w(6, &[4, 6, 1, 1])),
        float_tensor("hb", &[4], w(7, &[4])),
        int64_tensor("pad_shape", vec![1, 2, 8, 8]),
        int64_tensor("head_shape", vec![1, -1, 2]),
    ];
    let nodes = vec![
        node(
            "Transpose",
            &["x"],
            "nchw",
            vec![ints("perm", &[0, 3, 1, 2])],
        ),
        node(
            "Conv",
            &["nchw", "w1", "b1"],
            "c1",
            vec![
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 2, 2]),
                ints("kernel_shape", &[5, 5]),
            ],
        ),
        node("Relu", &["c1"], "r1", vec![]),
        node(
            "Conv",
            &["r1", "dw"],
            "d1",
            vec![int("group", 4), ints("pads", &[1, 1, 1, 1])],
        ),
        node("Conv", &["d1", "pw", "pb"], "p1", vec![]),
        // TensorFlow's channel Pad as exported for Barracuda: zeros without `value`.
        node("ConstantOfShape", &["pad_shape"], "zeros", vec![]),
        node("Concat", &["r1", "zeros"], "padded", vec![int("axis", 1)]),
        node("Add", &["p1", "padded"], "sum", vec![]),
        node("Relu", &["sum"], "r2", vec![]),
        node(
            "MaxPool",
            &["r2"],
            "pool",
            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
        ),
        node("Conv", &["pool", "hw", "hb"], "head", vec![]),
        node(
            "Transpose",
            &["head"],
            "head_nhwc",
            vec![ints("perm", &[0, 2, 3, 1])],
        ),
        node("Reshape", &["head_nhwc", "head_shape"], "out", vec![]),
        node("Identity", &["r2"], "feat", vec![]),
    ];
    model(
        value_info("x", &[1, 16, 16, 3]),
        inits,
        nodes,
        vec![
            value_info("out", &[1, 32, 2]),
            value_info("feat", &[1, 6, 8, 8]),
        ],
    )
}

#[test]
fn tiny_graph_maps_onto_our_ops() {
    let proto = tiny_onnx();
    let imp = import_graph(&proto).expect("imports");
    assert!(imp.folded_nhwc_input);
    assert_eq!(imp.input_shape, [1, 3, 16, 16]);
    let ops: Vec<&str> = imp.graph.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        ops,
        [
            "conv2d",
            "conv2d",
            "conv2d",
            "pad_channels",
            "add",
            "relu",
            "max_pool",
            "conv2d",
            "transpose",
            "reshape"
        ]
    );
    let Op::Conv2d(stem) = &imp.graph.nodes[0].op else {
        unreachable!()
    };
    assert_eq!(
        stem.activation,
        Activation::Relu,
        "ReLU fused into the stem"
    );
    assert_eq!((stem.stride, stem.padding), ([2, 2], [1, 1, 2, 2]));
    let Op::Conv2d(dw) = &imp.graph.nodes[1].op else {
        unreachable!()
    };
    assert_eq!((dw.groups, dw.bias.is_none()), (4, true));
    assert_eq!(
        imp.graph.nodes[3].op,
        Op::PadChannels {
            before: 0,
            after: 2
        }
    );
    assert_eq!(
        imp.graph.nodes[9].op,
        Op::Reshape {
            shape: vec![1, 32, 2]
        }
    );
    assert_eq!(imp.output_names, ["out", "feat"]);
    // `feat` is the ReLU after the add (Identity is an alias).
    assert_eq!(imp.graph.outputs, [10, 6]);
}

#[test]
fn tiny_graph_computes_what_tract_onnx_computes() {
    let mut proto = tiny_onnx();
    let imp = import_graph(&proto).expect("imports");
    let file = ModelFile {
        header: Header {
            kind: ModelKind::FaceDetector,
            name: "tiny".into(),
            input_shape: imp.input_shape,
            labels: vec![],
            preprocessing: Preprocessing::Detector(blazeface_preprocessing()),
            temperature: 1.0,
            metadata: vec![],
        },
        graph: imp.graph,
    };
    let rt = Model::from_model(&file).expect("runtime builds");
    // tract-onnx reads a missing ConstantOfShape value as f64: make it explicit.
    assert_eq!(default_constant_of_shape(&mut proto), 1);
    for seed in 0..3 {
        let x = pseudo_random(40 + seed, 3 * 16 * 16, 1.0);
        let ours = rt.run_all(&x).unwrap();
        let theirs = run_onnx(&proto, &nchw_to_nhwc(&x, 3, 16, 16), &[1, 16, 16, 3]).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.len(), b.len());
            let err = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-4, "seed {seed}: {err}");
        }
    }
}

#[test]
fn unsupported_ops_are_refused_by_name() {
    let mut proto = tiny_onnx();
    let g = proto.graph.as_mut().unwrap();
    g.node[8].op_type = "Elu".into();
    let err = format!("{:#}", import_graph(&proto).unwrap_err());
    assert!(err.contains("Elu") && err.contains("`r2`"), "{err}");
    // A ConstantOfShape that is not zero is not channel padding.
    let mut proto = tiny_onnx();
    let g = proto.graph.as_mut().unwrap();
    g.node[5].attribute.push(tract_onnx::pb::AttributeProto {
        name: "value".into(),
        t: Some(float_tensor("v", &[1], vec![1.0])),
        ..Default::default()
    });
    let err = format!("{:#}", import_graph(&proto).unwrap_err());
    assert!(err.contains("Concat"), "{err}");
}

fn onnx_file() -> Option<PathBuf> {
    let p = std::env::var_os("EMOEDGE_BLAZEFACE_ONNX")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/blazeface").join(ONNX_FILE));
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not found; skipping the BlazeFace parity test (run scripts/import_blazeface.sh or set EMOEDGE_BLAZEFACE_ONNX)",
            p.display()
        );
        None
    }
}

#[test]
fn blazeface_matches_tract_onnx_and_the_committed_model() {
    let Some(path) = onnx_file() else { return };
    let proto = read_onnx(&path).expect("reads");
    let file = convert(&proto).expect("converts");
    let bytes = format::encode(&file).unwrap();
    let committed = std::fs::read(root().join("models/face_detector.emo")).unwrap();
    assert!(
        bytes == committed,
        "models/face_detector.emo differs from a fresh conversion"
    );
    let rt = Model::from_bytes(&bytes).unwrap();
    assert_eq!(rt.output_shapes(), [vec![1, 896, 16], vec![1, 896, 1]]);
    // Fixed inputs: noise, flat gray, black, and the astronaut letterboxed.
    let mut inputs: Vec<Vec<f32>> = (0..2)
        .map(|s| pseudo_random(7 + s, rt.input_len(), 1.0))
        .collect();
    inputs.push(vec![0.0; rt.input_len()]);
    inputs.push(vec![-1.0; rt.input_len()]);
    let img =
        emoedge_shared::io::load_gray(root().join("shared/tests/fixtures/astronaut_320x240.png"))
            .unwrap();
    let frame = GrayFrame::packed(&img.pixels, 320, 240).unwrap();
    let lb = Letterbox::new(320, 240, 128);
    let mut x = vec![0f32; lb.input_len()];
    lb.fill(&frame, 0.5, 0.5, Layout::Nchw, &mut x);
    inputs.push(x);
    for (i, x) in inputs.iter().enumerate() {
        let err = parity_error(&proto, &rt, x).unwrap();
        eprintln!("input {i}: largest difference {err:.3e}");
        assert!(err <= 1e-4, "input {i}: {err}");
    }
    // The plain-Rust reference interpreter (independent of tract) agrees
    // too, on the noise and on the astronaut, within float rounding
    // (relative 1e-4: box regressors are in pixels, up to about 100).
    for x in [&inputs[0], &inputs[4]] {
        let ours = reference::run_reference_outputs(&file, x).unwrap();
        let tract = rt.run_all(x).unwrap();
        for (a, b) in ours.iter().zip(&tract) {
            let err = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs() / q.abs().max(1.0))
                .fold(0f32, f32::max);
            eprintln!("reference interpreter: largest relative difference {err:.3e}");
            assert!(err <= 1e-4, "reference interpreter differs by {err}");
        }
    }
}
