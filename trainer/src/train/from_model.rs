//! The inverse of the export: a training checkpoint rebuilt from an f32
//! face model file, so that a shipped model (`models/face.f32.emo`) can be
//! fine-tuned with `face train --init` on new data or against a new teacher
//! when its run directory is gone.
//!
//! The export folds each BatchNorm into its convolution (`w' = w·s`,
//! `b' = β + (b − μ)·s`), which loses the BatchNorm's own parameters. They
//! are re-expanded with statistics measured on training images: each conv
//! keeps the folded weights `w'`, its BatchNorm gets the mean `m` and
//! variance `v` of `w'x` over the images, `γ = √(v + ε)` and `β = m + b'`.
//! In inference mode the rebuilt network computes exactly the file's
//! function; in training mode the batch statistics stand in for `m` and `v`,
//! as they did for the original network.

use std::path::Path;

use burn::module::{Param, RunningState};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use emoedge_shared::format::{Bias, ModelFile, Op, Weights};

use super::checkpoint::{self, RunState};
use super::{TrainConfig, TrainError};
use crate::data::{FaceSet, FACE_SIZE};
use crate::export::face_graph;
use crate::model::{ConvBn, FaceNet, FaceNetConfig};

/// Images per forward pass while measuring the statistics.
const BATCH: usize = 256;

fn bad(path: &Path, what: impl std::fmt::Display) -> TrainError {
    TrainError::ModelFile(format!(
        "{}: {what}; `face from-model` needs an f32 face model written by `face export` (e.g. models/face.f32.emo)",
        path.display()
    ))
}

fn f32_values<'a>(path: &Path, name: &str, w: &'a Weights) -> Result<&'a [f32], TrainError> {
    match w {
        Weights::F32(v) => Ok(v),
        Weights::I8 { .. } => Err(bad(
            path,
            format!(
                "layer {name} holds int8 weights: pass the f32 file (<stem>.f32.emo) beside it"
            ),
        )),
    }
}

fn f32_bias<'a>(
    path: &Path,
    name: &str,
    b: &'a Option<Bias>,
) -> Result<Option<&'a [f32]>, TrainError> {
    match b {
        None => Ok(None),
        Some(Bias::F32(v)) => Ok(Some(v)),
        Some(Bias::I32(_)) => Err(bad(
            path,
            format!(
                "layer {name} holds an int8 bias: pass the f32 file (<stem>.f32.emo) beside it"
            ),
        )),
    }
}

/// The architecture that `face export` wrote as `file`'s graph: the
/// stem, stages and head read off the layer names and weight shapes, the
/// dropout taken from the preset of the same shape (0.3 otherwise).
pub fn infer_config(path: &Path, file: &ModelFile) -> Result<FaceNetConfig, TrainError> {
    let shape = &file.header.input_shape;
    let [1, 1, h, w] = shape[..] else {
        return Err(bad(
            path,
            format!("has input shape {shape:?}, not [1, 1, H, W]"),
        ));
    };
    let mut stem = 0;
    let mut stages: Vec<(usize, usize)> = Vec::new(); // (width, convs)
    let (mut residual, mut gap, mut hidden, mut head) = (false, false, 0, false);
    for node in &file.graph.nodes {
        match &node.op {
            Op::Conv2d(c) => {
                let out = *c.weight.shape.first().unwrap_or(&0) as usize;
                if node.name == "stem" && c.stride == [2, 2] {
                    stem = out;
                    continue;
                }
                let stage = node
                    .name
                    .strip_prefix("stage")
                    .and_then(|r| r.split('.').next())
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or_else(|| bad(path, format!("has a convolution named {}", node.name)))?;
                if stage == stages.len() + 1 {
                    stages.push((out, 0));
                } else if stage != stages.len() {
                    return Err(bad(path, format!("has {} out of order", node.name)));
                }
                if let Some(last) = stages.last_mut() {
                    last.1 += 1;
                }
            }
            Op::Add => residual = true,
            Op::GlobalAvgPool => gap = true,
            Op::Dense(d) if node.name == "hidden" => {
                hidden = *d.weight.shape.first().unwrap_or(&0) as usize
            }
            Op::Dense(_) if node.name == "head" => head = true,
            Op::Relu | Op::MaxPool(_) | Op::Flatten => {}
            other => {
                return Err(bad(
                    path,
                    format!("has a {} layer ({})", op_name(other), node.name),
                ))
            }
        }
    }
    let convs = stages.first().map_or(0, |s| s.1);
    if !head || convs == 0 || stages.iter().any(|s| s.1 != convs) {
        return Err(bad(
            path,
            "is not a stem/stages/head network with equal stages",
        ));
    }
    let mut config = FaceNetConfig {
        widths: stages.iter().map(|s| s.0).collect(),
        convs_per_stage: convs,
        residual,
        hidden,
        dropout: 0.3,
        flatten_head: !gap,
        input_hw: [h as usize, w as usize],
        stem,
    };
    if let Some(p) = FaceNetConfig::PRESETS
        .iter()
        .filter_map(|n| FaceNetConfig::preset(n))
        .find(|p| {
            FaceNetConfig {
                dropout: p.dropout,
                ..config.clone()
            } == *p
        })
    {
        config.dropout = p.dropout;
    }
    config.validate().map_err(|e| bad(path, e))?;
    Ok(config)
}

fn op_name(op: &Op) -> String {
    let debug = format!("{op:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_string()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Gives `cb` the folded weights and a BatchNorm that adds `bias` and is
/// otherwise the identity in inference mode (mean 0, variance 1 − ε).
fn set_folded(cb: &mut ConvBn, shape: &[u32], w: &[f32], bias: &[f32], device: &Device) {
    let s: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let n = s[0];
    cb.conv.weight = Param::from_tensor(tensor(w.to_vec(), [s[0], s[1], s[2], s[3]], device));
    let eps = cb.bn.epsilon as f32;
    cb.bn.gamma = Param::from_tensor(tensor(vec![1.0; n], [n], device));
    cb.bn.beta = Param::from_tensor(tensor(bias.to_vec(), [n], device));
    cb.bn.running_mean = RunningState::new(tensor(vec![0.0; n], [n], device));
    cb.bn.running_var = RunningState::new(tensor(vec![1.0 - eps; n], [n], device));
}

/// Per-channel sums of `z` and `z²` over batch and space, accumulated.
#[derive(Clone, Default)]
struct Moments {
    sum: Vec<f64>,
    sq: Vec<f64>,
    count: f64,
}

impl Moments {
    fn add(&mut self, z: Tensor<4>) -> Result<(), TrainError> {
        let [b, c, h, w] = z.dims();
        let v = z
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::Tensor(format!("{e:?}")))?;
        if self.sum.is_empty() {
            self.sum = vec![0.0; c];
            self.sq = vec![0.0; c];
        }
        for (i, plane) in v.chunks_exact(h * w).enumerate() {
            let ch = i % c;
            for &x in plane {
                let x = f64::from(x);
                self.sum[ch] += x;
                self.sq[ch] += x * x;
            }
        }
        self.count += (b * h * w) as f64;
        Ok(())
    }

    fn mean_var(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.count.max(1.0);
        self.sum
            .iter()
            .zip(&self.sq)
            .map(|(s, q)| {
                let m = s / n;
                (m as f32, (q / n - m * m).max(0.0) as f32)
            })
            .unzip()
    }
}

/// The conv layers of `model` in forward order (stem first).
fn conv_layers(model: &mut FaceNet) -> Vec<&mut ConvBn> {
    let mut v: Vec<&mut ConvBn> = model.stem.iter_mut().collect();
    v.extend(model.stages.iter_mut().flat_map(|s| s.convs.iter_mut()));
    v
}

/// The moments of every conv's output (before its BatchNorm) over `set`,
/// the network running in inference mode.
fn conv_moments(
    model: &FaceNet,
    set: &FaceSet,
    device: &Device,
) -> Result<Vec<Moments>, TrainError> {
    let n_convs =
        model.stem.iter().count() + model.stages.iter().map(|s| s.convs.len()).sum::<usize>();
    let mut moments = vec![Moments::default(); n_convs];
    let px = FACE_SIZE * FACE_SIZE;
    for start in (0..set.len()).step_by(BATCH) {
        let b = BATCH.min(set.len() - start);
        let pixels = set.pixels[start * px..(start + b) * px].to_vec();
        let mut x = tensor(pixels, [b, 1, FACE_SIZE, FACE_SIZE], device);
        let mut k = 0;
        let mut layer =
            |cb: &ConvBn, x: Tensor<4>, k: &mut usize| -> Result<Tensor<4>, TrainError> {
                let z = cb.conv.forward(x);
                moments[*k].add(z.clone())?;
                *k += 1;
                Ok(cb.bn.forward(z))
            };
        if let Some(stem) = &model.stem {
            x = relu(layer(stem, x, &mut k)?);
        }
        let n_stages = model.stages.len();
        for (s, stage) in model.stages.iter().enumerate() {
            for (i, cb) in stage.convs.iter().enumerate() {
                let y = layer(cb, x.clone(), &mut k)?;
                x = if model.residual && i > 0 {
                    relu(y + x)
                } else {
                    relu(y)
                };
            }
            if s + 1 < n_stages {
                x = model.pool.forward(x);
            }
        }
    }
    Ok(moments)
}

/// Rebuilds the network of the f32 face model `file` (read from `path`),
/// measuring its BatchNorm statistics on `images` (un-augmented training
/// faces). Checks that exporting the result gives the file's weights back.
pub fn rebuild(
    path: &Path,
    file: &ModelFile,
    images: &FaceSet,
    device: &Device,
) -> Result<FaceNet, TrainError> {
    if images.is_empty() {
        return Err(TrainError::Config(
            "face from-model needs training images to measure BatchNorm statistics".into(),
        ));
    }
    let config = infer_config(path, file)?;
    let mut model = config.init(device);
    let mut convs = Vec::new();
    let mut dense = Vec::new();
    for node in &file.graph.nodes {
        match &node.op {
            Op::Conv2d(c) => convs.push((
                node.name.as_str(),
                c.weight.shape.clone(),
                f32_values(path, &node.name, &c.weight.values)?,
                f32_bias(path, &node.name, &c.bias)?,
            )),
            Op::Dense(d) => dense.push((
                node.name.as_str(),
                d.weight.shape.clone(),
                f32_values(path, &node.name, &d.weight.values)?,
                f32_bias(path, &node.name, &d.bias)?,
            )),
            _ => {}
        }
    }
    let layers = conv_layers(&mut model);
    if layers.len() != convs.len() {
        return Err(bad(
            path,
            "does not match the architecture read off its layers",
        ));
    }
    let mut biases = Vec::with_capacity(convs.len());
    for (cb, (name, shape, w, b)) in layers.into_iter().zip(&convs) {
        let want = cb.conv.weight.dims();
        if shape.iter().map(|&d| d as usize).ne(want.iter().copied()) {
            return Err(bad(
                path,
                format!("layer {name} has shape {shape:?}, not {want:?}"),
            ));
        }
        let bias = b.map_or_else(|| vec![0.0; want[0]], <[f32]>::to_vec);
        set_folded(cb, shape, w, &bias, device);
        biases.push(bias);
    }
    for (name, shape, w, b) in &dense {
        let linear = match (*name, &mut model.hidden) {
            ("hidden", Some(h)) => h,
            ("head", _) => &mut model.head,
            _ => return Err(bad(path, format!("has an unexpected dense layer {name}"))),
        };
        let [d_in, d_out] = linear.weight.dims();
        if shape[..] != [d_out as u32, d_in as u32] {
            return Err(bad(
                path,
                format!("layer {name} has shape {shape:?}, not [{d_out}, {d_in}]"),
            ));
        }
        // The file holds [out, in]; burn wants [in, out].
        let t = tensor(w.to_vec(), [d_out, d_in], device).transpose();
        linear.weight = Param::from_tensor(t);
        let bias = b.map_or_else(|| vec![0.0; d_out], <[f32]>::to_vec);
        linear.bias = Some(Param::from_tensor(tensor(bias, [d_out], device)));
    }
    let moments = conv_moments(&model, images, device)?;
    for ((cb, m), bias) in conv_layers(&mut model)
        .into_iter()
        .zip(&moments)
        .zip(&biases)
    {
        let (mean, var) = m.mean_var();
        let n = mean.len();
        let eps = cb.bn.epsilon as f32;
        let gamma = var.iter().map(|v| (v + eps).sqrt()).collect();
        let beta = mean.iter().zip(bias).map(|(m, b)| m + b).collect();
        cb.bn.gamma = Param::from_tensor(tensor(gamma, [n], device));
        cb.bn.beta = Param::from_tensor(tensor(beta, [n], device));
        cb.bn.running_mean = RunningState::new(tensor(mean, [n], device));
        cb.bn.running_var = RunningState::new(tensor(var, [n], device));
    }
    check_round_trip(path, file, &model)?;
    Ok(model)
}

/// Exports `model` again and compares every weight with the file's.
fn check_round_trip(path: &Path, file: &ModelFile, model: &FaceNet) -> Result<(), TrainError> {
    let again = face_graph(model).map_err(|e| TrainError::Export(e.to_string()))?;
    if again.nodes.len() != file.graph.nodes.len() {
        return Err(bad(path, "does not export back to the same layers"));
    }
    let mut worst = 0f32;
    for (a, b) in again.nodes.iter().zip(&file.graph.nodes) {
        if a.name != b.name {
            return Err(bad(
                path,
                format!("has layer {} where the export writes {}", b.name, a.name),
            ));
        }
        let pairs = match (&a.op, &b.op) {
            (Op::Conv2d(x), Op::Conv2d(y)) => vec![(&x.weight.values, &y.weight.values)],
            (Op::Dense(x), Op::Dense(y)) => vec![(&x.weight.values, &y.weight.values)],
            _ => Vec::new(),
        };
        for (x, y) in pairs {
            if let (Weights::F32(x), Weights::F32(y)) = (x, y) {
                let scale = y.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                for (p, q) in x.iter().zip(y) {
                    worst = worst.max((p - q).abs() / scale);
                }
            }
        }
    }
    if worst > 1e-3 {
        return Err(bad(
            path,
            format!("does not export back to its own weights (relative error {worst:.2e})"),
        ));
    }
    Ok(())
}

/// Rebuilds `model_path` with statistics of `images` and saves it as the
/// checkpoint directory `out` (model and run state, no optimiser state),
/// which `face train --init` and `face export` read.
pub fn from_model_to(
    model_path: &Path,
    images: &FaceSet,
    data_dir: Option<&Path>,
    out: &Path,
    device: &Device,
) -> Result<FaceNetConfig, TrainError> {
    let bytes = std::fs::read(model_path)
        .map_err(|e| TrainError::ModelFile(format!("cannot read {}: {e}", model_path.display())))?;
    let file = emoedge_shared::format::decode(&bytes)
        .map_err(|e| bad(model_path, format!("is not a valid model file ({e})")))?;
    let model = rebuild(model_path, &file, images, device)?;
    let config = TrainConfig {
        model: infer_config(model_path, &file)?,
        ..TrainConfig::default()
    };
    let mut state = RunState::new(
        config.clone(),
        format!(
            "rebuilt from {} (BatchNorm statistics of {} training images)",
            model_path.display(),
            images.len()
        ),
    );
    if let Some(acc) = file.header.meta("val_acc").and_then(|v| v.parse().ok()) {
        state.best_val_acc = acc;
    }
    state.stopped_early = true;
    state.data_dir = data_dir.map(Path::to_path_buf);
    checkpoint::save_checkpoint(out, &model, None, &state)?;
    Ok(config.model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FACE_PIXELS;
    use crate::export::face_model_file;
    use crate::train::compute_device;

    fn pseudo(seed: u32, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                lo + (hi - lo) * (x as f32 / u32::MAX as f32)
            })
            .collect()
    }

    /// A network of `preset` whose BatchNorms are far from the identity.
    fn trained_like(preset: &str, device: &Device) -> FaceNet {
        device.seed(7);
        let mut model = FaceNetConfig::preset(preset).expect("preset").init(device);
        for (k, cb) in conv_layers(&mut model).into_iter().enumerate() {
            let n = cb.bn.gamma.dims()[0];
            let k = k as u32 * 4;
            cb.bn.gamma = Param::from_tensor(tensor(pseudo(k + 1, n, 0.5, 2.0), [n], device));
            cb.bn.beta = Param::from_tensor(tensor(pseudo(k + 2, n, -0.5, 0.5), [n], device));
            cb.bn.running_mean =
                RunningState::new(tensor(pseudo(k + 3, n, -0.3, 0.3), [n], device));
            cb.bn.running_var = RunningState::new(tensor(pseudo(k + 4, n, 0.2, 3.0), [n], device));
        }
        model
    }

    fn faces(n: usize) -> FaceSet {
        let mut set = FaceSet::default();
        for i in 0..n {
            set.push(
                &pseudo(100 + i as u32, FACE_PIXELS, -2.0, 2.0),
                (i % 7) as u8,
                format!("gen:{i}"),
            );
        }
        set
    }

    fn logits(model: &FaceNet, set: &FaceSet, device: &Device) -> Vec<f32> {
        let x = tensor(
            set.pixels.clone(),
            [set.len(), 1, FACE_SIZE, FACE_SIZE],
            device,
        );
        model
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("logits")
    }

    #[test]
    fn the_rebuilt_network_computes_the_files_function_and_saves_a_checkpoint() {
        let device = compute_device();
        let path = Path::new("gen/face.f32.emo");
        for preset in ["tiny", "res16"] {
            let original = trained_like(preset, &device);
            let file = face_model_file(&original, "t", vec![("val_acc".into(), "0.5".into())])
                .expect("exports");
            let config = infer_config(path, &file).expect("infers");
            assert_eq!(Some(config), FaceNetConfig::preset(preset), "{preset}");
            let set = faces(40);
            let rebuilt = rebuild(path, &file, &set, &device).expect("rebuilds");
            let (a, b) = (
                logits(&original, &set, &device),
                logits(&rebuilt, &set, &device),
            );
            let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-3 * scale, "{preset}: {x} vs {y}");
            }
            // The re-expanded BatchNorm holds the measured statistics,
            // not the identity it started from.
            let var = rebuilt.stages[0].convs[0].bn.running_var.value();
            let var = var
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("var");
            assert!(var.iter().any(|v| (v - 1.0).abs() > 0.05), "{var:?}");
        }

        let tmp = tempfile::tempdir().expect("temp dir");
        let model_path = tmp.path().join("face.f32.emo");
        let file = face_model_file(
            &trained_like("tiny", &device),
            "t",
            vec![("val_acc".into(), "0.5".into())],
        )
        .expect("exports");
        std::fs::write(
            &model_path,
            emoedge_shared::format::encode(&file).expect("encodes"),
        )
        .expect("writes");
        let out = tmp.path().join("ckpt");
        from_model_to(&model_path, &faces(16), None, &out, &device).expect("saves");
        let state = checkpoint::load_state(&out).expect("state");
        assert_eq!(
            state.config.model,
            FaceNetConfig::preset("tiny").expect("tiny")
        );
        assert_eq!(state.best_val_acc, 0.5);
        checkpoint::load_model(&out, &state, &device).expect("loads");
    }

    #[test]
    fn int8_foreign_or_missing_files_are_refused_by_name() {
        let device = compute_device();
        let path = Path::new("gen/face.emo");
        let file =
            face_model_file(&trained_like("tiny", &device), "t", Vec::new()).expect("exports");

        let mut int8 = file.clone();
        if let Op::Conv2d(c) = &mut int8.graph.nodes[0].op {
            c.weight.values = Weights::I8 {
                data: vec![0; c.weight.values.len()],
                quant: emoedge_shared::format::QuantParams {
                    scale: 0.1,
                    zero_point: 0,
                },
            };
        }
        let err = rebuild(path, &int8, &faces(4), &device)
            .expect_err("int8")
            .to_string();
        assert!(
            err.contains("gen/face.emo") && err.contains("f32 file"),
            "{err}"
        );

        let mut renamed = file.clone();
        renamed.graph.nodes[0].name = "member0.stage1.conv1".into();
        let err = infer_config(path, &renamed)
            .expect_err("foreign")
            .to_string();
        assert!(
            err.contains("member0.stage1.conv1") && err.contains("face export"),
            "{err}"
        );

        let err = rebuild(path, &file, &FaceSet::default(), &device).expect_err("no images");
        assert!(err.to_string().contains("training images"), "{err}");

        let tmp = tempfile::tempdir().expect("temp dir");
        let gone = tmp.path().join("gone.emo");
        let err = from_model_to(&gone, &faces(4), None, &tmp.path().join("o"), &device)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("gone.emo"), "{err}");
        std::fs::write(&gone, b"not a model").expect("writes");
        let err = from_model_to(&gone, &faces(4), None, &tmp.path().join("o"), &device)
            .expect_err("garbage")
            .to_string();
        assert!(
            err.contains("gone.emo") && err.contains("not a valid model file"),
            "{err}"
        );
    }
}
