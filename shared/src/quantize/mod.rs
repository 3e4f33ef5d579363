//! Post-training static int8 quantisation of model files.
//!
//! 1. [`calibrate`] runs the f32 model (the reference interpreter) on
//!    representative inputs and records the range of every activation.
//! 2. [`quantize`] turns every f32 conv and dense layer (except those named
//!    in [`QuantizeOptions::keep_f32`]) into an int8 layer:
//!    - weights: symmetric, one scale per tensor, zero point 0
//!      (`scale = max|w| / 127`);
//!    - bias: i32 in the accumulator scale `input_scale * weight_scale`;
//!    - `input_quant`: affine parameters covering the calibrated range of
//!      the layer's input value; `output_quant`: those of its output value
//!      (the range always includes 0, so a fused ReLU's output grid starts
//!      at 0 with zero point -128).
//!
//! Ranges are clipped as [`QuantizeOptions::clipping`] says (by default
//! the 99.99th percentile, see [`Clipping`]).
//!
//! When an int8 layer's input is the output of another int8 layer through
//! only grid-preserving operations (reshape, flatten, transpose, max
//! pooling, ReLU, channel padding, concatenation of values on one grid),
//! the layer's `input_quant` is that producer's `output_quant`, so the
//! runtime can stay in int8 between the two without requantising.

mod calibrate;
mod equalize;

pub use calibrate::{calibrate, Calibration, Clipping, ValueStats, HISTOGRAM_BINS};
pub use equalize::{equalize, EqualizeReport};

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::format::{Bias, FormatError, ModelFile, Op, QuantParams, Tensor, Weights};
use crate::reference::qmath;
use crate::reference::RefError;

/// Options of [`quantize`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizeOptions {
    /// Names of conv or dense nodes that stay f32 (e.g. the first conv or
    /// the last dense layer when int8 costs too much accuracy there).
    pub keep_f32: Vec<String>,
    /// How activation ranges are clipped.
    pub clipping: Clipping,
}

/// Why a model could not be calibrated or quantised.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantizeError {
    /// The reference interpreter refused calibration sample `index`.
    Sample { index: usize, error: RefError },
    /// The calibration holds no sample.
    NoSamples,
    /// The calibration was made on a model with another number of values.
    CalibrationMismatch { expected: usize, found: usize },
    /// A name in `keep_f32` is not a conv or dense node of the model.
    UnknownLayer { name: String },
    /// The percentile is outside `(50, 100]`.
    InvalidPercentile { value: f32 },
    /// The input model, or the quantised result, is inconsistent.
    InvalidModel(FormatError),
}

impl fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeError::Sample { index, error } => write!(f, "calibration sample {index}: {error}"),
            QuantizeError::NoSamples => write!(f, "calibration saw no sample; pass at least one representative input"),
            QuantizeError::CalibrationMismatch { expected, found } => write!(
                f,
                "calibration has {found} values but the model has {expected}; calibrate this very model"
            ),
            QuantizeError::UnknownLayer { name } => write!(
                f,
                "keep_f32 names `{name}`, which is not a conv or dense node of the model; check the node names"
            ),
            QuantizeError::InvalidPercentile { value } => {
                write!(f, "clipping percentile {value} is outside (50, 100]; use e.g. 99.99")
            }
            QuantizeError::InvalidModel(e) => write!(f, "cannot quantise: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantizeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QuantizeError::Sample { error, .. } => Some(error),
            QuantizeError::InvalidModel(e) => Some(e),
            _ => None,
        }
    }
}

/// Symmetric per-tensor int8 quantisation of f32 weights.
pub fn quantize_weights(w: &[f32]) -> (Vec<i8>, QuantParams) {
    let absmax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let q = QuantParams::symmetric(absmax);
    (w.iter().map(|&v| q.quantize(v).max(-127)).collect(), q)
}

/// True for operations whose int8 output lies on the grid of their input.
fn preserves_grid(op: &Op) -> bool {
    matches!(
        op,
        Op::Reshape { .. }
            | Op::Flatten
            | Op::Transpose { .. }
            | Op::MaxPool(_)
            | Op::Relu
            | Op::PadChannels { .. }
            | Op::Concat { .. }
    )
}

/// Quantises every f32 conv and dense layer of `model` (see the module
/// documentation) with activation ranges from `calib`, which must come from
/// [`calibrate`] on the same model. Layers already int8 are kept as they are.
pub fn quantize(
    model: &ModelFile,
    calib: &Calibration,
    opts: &QuantizeOptions,
) -> Result<ModelFile, QuantizeError> {
    model.validate().map_err(QuantizeError::InvalidModel)?;
    let nvalues = model.graph.nodes.len() + 1;
    if calib.values.len() != nvalues {
        return Err(QuantizeError::CalibrationMismatch {
            expected: nvalues,
            found: calib.values.len(),
        });
    }
    if calib.samples == 0 {
        return Err(QuantizeError::NoSamples);
    }
    if let Clipping::Percentile(p) = opts.clipping {
        if !(p > 50.0 && p <= 100.0) {
            return Err(QuantizeError::InvalidPercentile { value: p });
        }
    }
    for name in &opts.keep_f32 {
        let found = model
            .graph
            .nodes
            .iter()
            .any(|n| &n.name == name && matches!(n.op, Op::Conv2d(_) | Op::Dense(_)));
        if !found {
            return Err(QuantizeError::UnknownLayer { name: name.clone() });
        }
    }

    let activation_quant = |v: usize| {
        let (lo, hi) = calib.range(v as u32, opts.clipping).unwrap_or((0.0, 0.0));
        QuantParams::from_range(lo, hi)
    };
    let mut out = model.clone();
    // Grid each value lies on in the int8 runtime, if any.
    let mut grid: Vec<Option<QuantParams>> = vec![None; nvalues];
    let mut quantised = 0usize;
    for (i, node) in out.graph.nodes.iter_mut().enumerate() {
        let keep = opts.keep_f32.iter().any(|n| n == &node.name);
        let input_grid = |v: u32| grid[v as usize].unwrap_or_else(|| activation_quant(v as usize));
        let first_input = node.inputs.first().copied().unwrap_or(0);
        let changed = match &mut node.op {
            Op::Conv2d(c) if !keep && !c.weight.values.is_int8() => {
                let iq = input_grid(first_input);
                quantize_layer(&mut c.weight, &mut c.bias, iq);
                c.input_quant = Some(iq);
                true
            }
            Op::Dense(d) if !keep && !d.weight.values.is_int8() => {
                let iq = input_grid(first_input);
                quantize_layer(&mut d.weight, &mut d.bias, iq);
                d.input_quant = Some(iq);
                true
            }
            _ => false,
        };
        if changed {
            node.output_quant = Some(activation_quant(i + 1));
            quantised += 1;
        }
        grid[i + 1] = if node.op.is_int8() {
            node.output_quant
        } else if preserves_grid(&node.op) {
            let first = node.inputs.first().and_then(|&v| grid[v as usize]);
            first.filter(|q| node.inputs.iter().all(|&v| grid[v as usize] == Some(*q)))
        } else {
            None
        };
    }
    let clip = match opts.clipping {
        Clipping::MinMax => "min/max".to_string(),
        Clipping::Percentile(p) => format!("{p} percentile"),
    };
    out.header.metadata.retain(|(k, _)| k != "quantization");
    out.header.metadata.push((
        "quantization".to_string(),
        format!(
            "int8 per-tensor symmetric weights, {quantised} layers; activations calibrated on {} samples ({clip} ranges)",
            calib.samples
        ),
    ));
    out.validate().map_err(QuantizeError::InvalidModel)?;
    Ok(out)
}

fn quantize_layer(weight: &mut Tensor, bias: &mut Option<Bias>, input: QuantParams) {
    let w = weight.values.to_f32();
    let (data, wq) = quantize_weights(&w);
    weight.values = Weights::I8 { data, quant: wq };
    if let Some(Bias::F32(b)) = bias {
        *bias = Some(Bias::I32(
            b.iter()
                .map(|&v| qmath::bias_to_i32(v, input, wq))
                .collect(),
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests;
