//! Writes the seed corpus of the `model_decode` fuzz target:
//! `fuzz/corpus/model_decode/seed-*.emo`, small valid model files that
//! together use every op, both weight types and every preprocessing kind.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds            # (re)write
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- --check # compare
//! ```
//!
//! `--check` exits with status 1 when a committed seed is missing or differs
//! from what this build writes (the format changed: re-run without it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use emoedge_shared::face::FacePreprocessing;
use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::{
    self, Activation, Bias, Conv2d, Dense, DetectorPreprocessing, Graph, Header, ModelFile,
    ModelKind, Op, Pool2d, Preprocessing, QuantParams, Tensor, Weights,
};

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

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join("model_decode")
}

fn run(check: bool) -> Result<(), String> {
    let dir = corpus_dir();
    if !check {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut stale = Vec::new();
    for (name, model) in seeds() {
        let bytes = encode_checked(name, &model)?;
        let path = dir.join(name);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
    if stale.is_empty() {
        if check {
            println!("fuzz seeds are up to date in {}", dir.display());
        }
        Ok(())
    } else {
        Err(format!(
            "fuzz seeds missing or out of date: {}\nre-create them with: cargo run --manifest-path fuzz/Cargo.toml --example make_seeds",
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
