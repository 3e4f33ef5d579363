//! Conversion of a trained [`FaceNet`] into an emoedge [`ModelFile`]:
//! BatchNorm folded into the convolutions, ReLU fused where no residual add
//! follows, dropout removed, dense weights transposed to `[out, in]`.

use burn::module::Module;
use burn::tensor::Tensor;
use emoedge_shared::format::{
    self, Activation, Bias, Conv2d, Dense, Graph, Header, ModelFile, ModelKind, Op, Pool2d,
    Preprocessing,
};
use emoedge_shared::Emotion;

use crate::data::{face_preprocessing, FACE_SIZE};
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
}

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ExportError> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| ExportError::Tensor(format!("{e:?}")))
}

/// Folds a conv + BatchNorm (inference statistics) into one conv's
/// `[out, in, 3, 3]` weight and bias.
pub fn fold_conv_bn(cb: &ConvBn) -> Result<(Vec<u32>, Vec<f32>, Vec<f32>), ExportError> {
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
        w[o * per_out..(o + 1) * per_out].iter_mut().for_each(|v| *v *= s);
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

/// The layer graph of `model` (f32).
pub fn face_graph(model: &FaceNet) -> Result<Graph, ExportError> {
    let model = model.valid();
    let mut g = Graph::default();
    let mut x: format::ValueId = 0;
    let n_stages = model.stages.len();
    for (s, stage) in model.stages.iter().enumerate() {
        for (i, cb) in stage.convs.iter().enumerate() {
            let (shape, w, b) = fold_conv_bn(cb)?;
            let skip = model.residual && i > 0;
            let conv = Op::Conv2d(Conv2d {
                weight: format::Tensor::f32(shape, w),
                bias: Some(Bias::F32(b)),
                stride: [1, 1],
                dilation: [1, 1],
                padding: [1, 1, 1, 1],
                groups: 1,
                activation: if skip { Activation::None } else { Activation::Relu },
                input_quant: None,
            });
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
    x = g.push("gap", Op::GlobalAvgPool, vec![x]);
    x = g.push("flatten", Op::Flatten, vec![x]);
    if let Some(h) = &model.hidden {
        x = g.push("hidden", dense(h, Activation::Relu)?, vec![x]);
    }
    x = g.push("head", dense(&model.head, Activation::None)?, vec![x]);
    g.outputs = vec![x];
    Ok(g)
}

/// A complete f32 face model file for `model` with `metadata` key/values.
pub fn face_model_file(
    model: &FaceNet,
    name: &str,
    metadata: Vec<(String, String)>,
) -> Result<ModelFile, ExportError> {
    let file = ModelFile {
        header: Header {
            kind: ModelKind::FaceClassifier,
            name: name.to_string(),
            input_shape: vec![1, 1, FACE_SIZE as u32, FACE_SIZE as u32],
            labels: Emotion::NAMES.iter().map(|s| s.to_string()).collect(),
            preprocessing: Preprocessing::Face(face_preprocessing()),
            temperature: 1.0,
            metadata,
        },
        graph: face_graph(model)?,
    };
    file.validate()?;
    Ok(file)
}
