//! Conversion of a trained [`FaceNet`] into an emoedge [`ModelFile`]:
//! BatchNorm folded into the convolutions, ReLU fused where no residual add
//! follows, dropout removed, dense weights transposed to `[out, in]`.

use burn::module::Module;
use burn::tensor::Tensor;
use emoedge_shared::format::{
    self, Activation, Bias, Conv2d, Dense, Graph, Header, ModelFile, ModelKind, Op, Pool2d,
    Preprocessing,
};
use emoedge_shared::quantize::{self, QuantizeError, QuantizeOptions};
use emoedge_shared::runtime::Model;
use emoedge_shared::Emotion;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::{face_preprocessing, FaceSet, FACE_SIZE};
use crate::model::{ConvBn, FaceNet};

/// Errors of the export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// burn returned data of an unexpected type or shape.
    #[error("reading the trained weights failed: {0}")]
    Tensor(String),
    /// The produced model does not validate.
    #[error("the exported model is invalid: {0}")]
    Format(#[from] format::FormatError),
    /// Calibration or quantisation failed.
    #[error("int8 quantisation failed: {0}")]
    Quantize(QuantizeError),
    /// The shared runtime refused the model.
    #[error("the runtime cannot run the exported model: {0}")]
    Runtime(String),
    /// Writing the file failed.
    #[error("cannot write {0}: {1}")]
    Io(String, std::io::Error),
}

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ExportError> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| ExportError::Tensor(format!("{e:?}")))
}

/// A conv with BatchNorm folded in: shape `[out, in, kh, kw]`, weights, bias.
pub type FoldedConv = (Vec<u32>, Vec<f32>, Vec<f32>);

/// Folds a conv + BatchNorm (inference statistics) into one conv's
/// `[out, in, 3, 3]` weight and bias.
pub fn fold_conv_bn(cb: &ConvBn) -> Result<FoldedConv, ExportError> {
    let weight = cb.conv.weight.val();
    let dims = weight.dims();
    let mut w = values(weight)?;
    let gamma = values(cb.bn.gamma.val())?;
    let beta = values(cb.bn.beta.val())?;
    let mean = values(cb.bn.running_mean.value())?;
    let var = values(cb.bn.running_var.value())?;
    let conv_bias = match &cb.conv.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; dims[0]],
    };
    let per_out = w.len() / dims[0].max(1);
    let mut bias = Vec::with_capacity(dims[0]);
    for o in 0..dims[0] {
        let s = gamma[o] / (var[o] + cb.bn.epsilon as f32).sqrt();
        w[o * per_out..(o + 1) * per_out]
            .iter_mut()
            .for_each(|v| *v *= s);
        bias.push(beta[o] + (conv_bias[o] - mean[o]) * s);
    }
    Ok((dims.iter().map(|&d| d as u32).collect(), w, bias))
}

fn dense(linear: &burn::nn::Linear, activation: Activation) -> Result<Op, ExportError> {
    let weight = linear.weight.val();
    let [d_in, d_out] = weight.dims();
    // burn stores [in, out]; the format wants [out, in].
    let w = values(weight.transpose())?;
    let bias = match &linear.bias {
        Some(b) => Some(Bias::F32(values(b.val())?)),
        None => None,
    };
    Ok(Op::Dense(Dense {
        weight: format::Tensor::f32(vec![d_out as u32, d_in as u32], w),
        bias,
        activation,
        input_quant: None,
    }))
}

/// A 3x3 same-padded convolution op of `cb` with its BatchNorm folded in.
fn conv3x3(cb: &ConvBn, stride: u16, activation: Activation) -> Result<Op, ExportError> {
    let (shape, w, b) = fold_conv_bn(cb)?;
    Ok(Op::Conv2d(Conv2d {
        weight: format::Tensor::f32(shape, w),
        bias: Some(Bias::F32(b)),
        stride: [stride, stride],
        dilation: [1, 1],
        padding: [1, 1, 1, 1],
        groups: 1,
        activation,
        input_quant: None,
    }))
}

/// The layer graph of `model` (f32).
pub fn face_graph(model: &FaceNet) -> Result<Graph, ExportError> {
    let model = model.valid();
    let mut g = Graph::default();
    let mut x: format::ValueId = 0;
    if let Some(stem) = &model.stem {
        x = g.push("stem", conv3x3(stem, 2, Activation::Relu)?, vec![x]);
    }
    let n_stages = model.stages.len();
    for (s, stage) in model.stages.iter().enumerate() {
        for (i, cb) in stage.convs.iter().enumerate() {
            let skip = model.residual && i > 0;
            let activation = if skip {
                Activation::None
            } else {
                Activation::Relu
            };
            let conv = conv3x3(cb, 1, activation)?;
            let name = format!("stage{}.conv{}", s + 1, i + 1);
            let y = g.push(&name, conv, vec![x]);
            x = if skip {
                let sum = g.push(format!("{name}.add"), Op::Add, vec![y, x]);
                g.push(format!("{name}.relu"), Op::Relu, vec![sum])
            } else {
                y
            };
        }
        if s + 1 < n_stages {
            x = g.push(
                format!("stage{}.pool", s + 1),
                Op::MaxPool(Pool2d {
                    kernel: [2, 2],
                    stride: [2, 2],
                    padding: [0; 4],
                }),
                vec![x],
            );
        }
    }
    if !model.flatten_head {
        x = g.push("gap", Op::GlobalAvgPool, vec![x]);
    }
    x = g.push("flatten", Op::Flatten, vec![x]);
    if let Some(h) = &model.hidden {
        x = g.push("hidden", dense(h, Activation::Relu)?, vec![x]);
    }
    x = g.push("head", dense(&model.head, Activation::None)?, vec![x]);
    g.outputs = vec![x];
    Ok(g)
}

/// A complete f32 classifier file for the CNN `model`.
pub fn classifier_file(
    model: &FaceNet,
    kind: ModelKind,
    name: &str,
    input_shape: Vec<u32>,
    preprocessing: Preprocessing,
    metadata: Vec<(String, String)>,
) -> Result<ModelFile, ExportError> {
    let file = ModelFile {
        header: Header {
            kind,
            name: name.to_string(),
            input_shape,
            labels: Emotion::NAMES.iter().map(|s| s.to_string()).collect(),
            preprocessing,
            temperature: 1.0,
            metadata,
        },
        graph: face_graph(model)?,
    };
    file.validate()?;
    Ok(file)
}

/// A complete f32 face model file for `model` with `metadata` key/values.
pub fn face_model_file(
    model: &FaceNet,
    name: &str,
    metadata: Vec<(String, String)>,
) -> Result<ModelFile, ExportError> {
    classifier_file(
        model,
        ModelKind::FaceClassifier,
        name,
        vec![1, 1, FACE_SIZE as u32, FACE_SIZE as u32],
        Preprocessing::Face(face_preprocessing()),
        metadata,
    )
}

/// Accuracy of a model file on a labelled set through the shared tract
/// runtime (the exact inference path of the device), with the predictions.
pub fn runtime_accuracy(file: &ModelFile, set: &FaceSet) -> Result<(f64, Vec<usize>), ExportError> {
    let model = Model::from_model(file).map_err(|e| ExportError::Runtime(e.to_string()))?;
    let mut preds = Vec::with_capacity(set.len());
    let mut correct = 0usize;
    for i in 0..set.len() {
        let logits = model
            .run(set.image(i))
            .map_err(|e| ExportError::Runtime(e.to_string()))?;
        let p = argmax(&logits);
        correct += usize::from(p == usize::from(set.labels[i]));
        preds.push(p);
    }
    Ok((correct as f64 / set.len().max(1) as f64, preds))
}

/// Index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

/// [`quantize::calibrate`] on all cores: each rayon worker calibrates a
/// chunk of `samples` and the chunks are merged
/// ([`quantize::Calibration::merge`]), which gives exactly the statistics
/// of one pass over all samples. A refused sample keeps its index in
/// `samples`.
pub fn calibrate_parallel(
    model: &ModelFile,
    samples: &[&[f32]],
) -> Result<quantize::Calibration, QuantizeError> {
    use rayon::prelude::*;
    let chunk = samples
        .len()
        .div_ceil(4 * rayon::current_num_threads())
        .max(1);
    samples
        .par_chunks(chunk)
        .enumerate()
        .map(|(c, part)| {
            quantize::calibrate(model, part.iter().copied()).map_err(|e| match e {
                QuantizeError::Sample { index, error } => QuantizeError::Sample {
                    index: c * chunk + index,
                    error,
                },
                other => other,
            })
        })
        .try_reduce(
            || quantize::Calibration::empty(model),
            |mut a, b| {
                a.merge(&b)?;
                Ok(a)
            },
        )
}

/// The int8 model of `f32_model`: calibrated on `calib` on all cores
/// ([`calibrate_parallel`]) and quantised with the default options.
pub fn quantize_int8(f32_model: &ModelFile, calib: &[&[f32]]) -> Result<ModelFile, QuantizeError> {
    let calibration = calibrate_parallel(f32_model, calib)?;
    quantize::quantize(f32_model, &calibration, &QuantizeOptions::default())
}

/// `count` images of `set` spread over the set (a fixed stride through a
/// seeded shuffle), for calibration.
pub fn calibration_images(set: &FaceSet, count: usize, seed: u64) -> Vec<&[f32]> {
    let mut idx: Vec<usize> = (0..set.len()).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    idx.truncate(count);
    idx.into_iter().map(|i| set.image(i)).collect()
}

/// Result of [`export_face`].
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The f32 model.
    pub f32_model: ModelFile,
    /// The int8 model (when calibration images were given).
    pub int8_model: Option<ModelFile>,
    /// Validation accuracy of the f32 model through the runtime.
    pub f32_val_acc: Option<f64>,
    /// Validation accuracy of the int8 model through the runtime.
    pub int8_val_acc: Option<f64>,
    /// Fraction of validation images where int8 and f32 predict the same class.
    pub agreement: Option<f64>,
}

/// Exports `model` to f32, then (when `calib` is non-empty) calibrates on
/// those images and quantises to int8 with the shared quantiser, and
/// measures both on `val` through the shared runtime. The measured
/// accuracies are added to the metadata of the files.
pub fn export_face(
    model: &FaceNet,
    name: &str,
    metadata: Vec<(String, String)>,
    calib: &[&[f32]],
    val: Option<&FaceSet>,
    equalize: bool,
) -> Result<ExportReport, ExportError> {
    quantize_face_file(
        face_model_file(model, name, metadata)?,
        calib,
        val,
        equalize,
    )
}

/// The second half of [`export_face`] for any f32 face model file (e.g. an
/// ensemble): measure it, calibrate, quantise to int8, measure again.
/// With `equalize`, the int8 model is quantised from a cross-layer
/// equalised copy ([`quantize::equalize`]; the same function in f32).
pub fn quantize_face_file(
    f32_model: ModelFile,
    calib: &[&[f32]],
    val: Option<&FaceSet>,
    equalize: bool,
) -> Result<ExportReport, ExportError> {
    let mut f32_model = f32_model;
    let f32_val = match val {
        Some(v) => Some(runtime_accuracy(&f32_model, v)?),
        None => None,
    };
    let mut report = ExportReport {
        f32_model: f32_model.clone(),
        int8_model: None,
        f32_val_acc: f32_val.as_ref().map(|r| r.0),
        int8_val_acc: None,
        agreement: None,
    };
    if let Some((acc, _)) = &f32_val {
        f32_model
            .header
            .metadata
            .push(("val_acc_f32".into(), format!("{acc:.4}")));
    }
    if !calib.is_empty() {
        // Only an equalised copy costs a clone of the weights.
        let equalized = if equalize {
            let mut copy = f32_model.clone();
            let e = quantize::equalize(&mut copy).map_err(ExportError::Quantize)?;
            Some((copy, e))
        } else {
            None
        };
        let source = equalized.as_ref().map_or(&f32_model, |(m, _)| m);
        let mut int8 = quantize_int8(source, calib).map_err(ExportError::Quantize)?;
        if let Some((_, e)) = &equalized {
            int8.header.metadata.push((
                "equalization".into(),
                format!("cross-layer, {} layer pairs, {} sweeps", e.pairs, e.sweeps),
            ));
        }
        int8.header
            .metadata
            .push(("calibration_images".into(), calib.len().to_string()));
        if let (Some(v), Some((_, f32_preds))) = (val, &f32_val) {
            let (acc, preds) = runtime_accuracy(&int8, v)?;
            let same = preds.iter().zip(f32_preds).filter(|(a, b)| a == b).count();
            report.int8_val_acc = Some(acc);
            report.agreement = Some(same as f64 / preds.len().max(1) as f64);
            int8.header
                .metadata
                .push(("val_acc_int8".into(), format!("{acc:.4}")));
        }
        int8.validate()?;
        report.int8_model = Some(int8);
    }
    report.f32_model = f32_model;
    Ok(report)
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil-from-days (H. Hinnant).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes a model file (encoded and validated) to `path`, creating parent
/// directories.
pub fn write_model(path: &std::path::Path, file: &ModelFile) -> Result<(), ExportError> {
    let bytes = format::encode(file)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ExportError::Io(path.display().to_string(), e))?;
    }
    std::fs::write(path, bytes).map_err(|e| ExportError::Io(path.display().to_string(), e))
}

/// Paths written by [`export_checkpoint`].
#[derive(Clone, Debug)]
pub struct ExportedFiles {
    /// The device model: int8 (or f32 when no calibration data was given).
    pub model: std::path::PathBuf,
    /// The f32 model, when an int8 one was written to `model`.
    pub f32_model: Option<std::path::PathBuf>,
    /// Accuracies and models.
    pub report: ExportReport,
}

/// Exports the model of checkpoint directory `ckpt` to `out`. With `data`,
/// `calib_images` training images calibrate an int8 model written to `out`
/// (the f32 model goes next to it as `<stem>.f32.emo`) and both are checked
/// on the validation set through the runtime; without, `out` is f32.
pub fn export_checkpoint(
    ckpt: &std::path::Path,
    data: Option<&crate::data::FaceData>,
    calib_images: usize,
    out: &std::path::Path,
) -> Result<ExportedFiles, crate::train::TrainError> {
    export_checkpoint_with(ckpt, data, calib_images, out, false)
}

/// [`export_checkpoint`], with the int8 model quantised from a cross-layer
/// equalised copy when `equalize` is set ([`quantize::equalize`]).
pub fn export_checkpoint_with(
    ckpt: &std::path::Path,
    data: Option<&crate::data::FaceData>,
    calib_images: usize,
    out: &std::path::Path,
    equalize: bool,
) -> Result<ExportedFiles, crate::train::TrainError> {
    use crate::train::{checkpoint, compute_device, TrainError};
    let dir = checkpoint::checkpoint_dir(ckpt);
    let state = checkpoint::load_state(&dir)?;
    let model = checkpoint::load_model(&dir, &state, &compute_device())?;
    let cfg = &state.config;
    let best = state.history.iter().find(|m| m.epoch == state.best_epoch);
    let mut meta: Vec<(String, String)> = vec![
        ("date".into(), utc_date()),
        ("trainer".into(), format!("emoedge-trainer {}", env!("CARGO_PKG_VERSION"))),
        ("architecture".into(), format!("{:?}", cfg.model)),
        ("params".into(), model.num_params().to_string()),
        ("macs".into(), cfg.model.macs().to_string()),
        ("epochs".into(), state.epoch.to_string()),
        ("best_epoch".into(), state.best_epoch.to_string()),
        ("seed".into(), cfg.seed.to_string()),
        ("data".into(), state.data.clone()),
        (
            "data_license".into(),
            "FER-2013 (Goodfellow et al. 2013, arXiv:1307.0414): research/non-commercial use; images not redistributed".into(),
        ),
    ];
    if let Some(d) = &cfg.distill {
        meta.push(("teacher".into(), d.teacher_name()));
        meta.push(("distill_alpha".into(), d.alpha.to_string()));
        meta.push(("distill_temperature".into(), d.temperature.to_string()));
        if d.online {
            meta.push(("distill_online".into(), "true".into()));
        }
    }
    if let Some(n) = cfg.qat_calib_images {
        meta.push((
            "qat".into(),
            format!("quantisation-aware fine-tuning, grids calibrated on {n} training images"),
        ));
    }
    if let Some(m) = best {
        meta.push(("val_acc".into(), format!("{:.4}", m.val_acc)));
        meta.push(("val_acc_dedup".into(), format!("{:.4}", m.val_acc_dedup)));
    }
    let calib = data
        .map(|d| calibration_images(&d.train, calib_images, cfg.seed))
        .unwrap_or_default();
    let report = export_face(
        &model,
        "face-cnn",
        meta,
        &calib,
        data.map(|d| &d.val),
        equalize,
    )
    .map_err(|e| TrainError::Export(e.to_string()))?;
    let write = |p: &std::path::Path, f: &ModelFile| {
        write_model(p, f).map_err(|e| TrainError::Export(e.to_string()))
    };
    let files = match &report.int8_model {
        Some(int8) => {
            let f32_path = out.with_extension("f32.emo");
            write(&f32_path, &report.f32_model)?;
            write(out, int8)?;
            ExportedFiles {
                model: out.to_path_buf(),
                f32_model: Some(f32_path),
                report,
            }
        }
        None => {
            write(out, &report.f32_model)?;
            ExportedFiles {
                model: out.to_path_buf(),
                f32_model: None,
                report,
            }
        }
    };
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};

    #[test]
    fn parallel_calibration_equals_one_pass_and_names_the_refused_sample() {
        let model = tiny_classifier(ModelKind::FaceClassifier, 4);
        let len: usize = model
            .header
            .input_shape
            .iter()
            .map(|&d| d as usize)
            .product();
        let mut inputs: Vec<Vec<f32>> = (0..37).map(|i| pseudo_random(i, len, 1.0)).collect();
        inputs[20].iter_mut().for_each(|v| *v *= 25.0);
        let refs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
        let one_pass = quantize::calibrate(&model, refs.iter().copied()).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let parallel = pool.install(|| calibrate_parallel(&model, &refs)).unwrap();
        assert_eq!(parallel, one_pass);
        assert_eq!(parallel.samples, 37);

        let short = vec![0.0f32; 3];
        let mut bad = refs.clone();
        bad[29] = &short;
        match pool.install(|| calibrate_parallel(&model, &bad)) {
            Err(QuantizeError::Sample { index, .. }) => assert_eq!(index, 29),
            other => panic!("expected sample 29 refused, got {other:?}"),
        }
    }
}
