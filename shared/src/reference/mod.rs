//! A plain-Rust interpreter of model files: the ground truth the tract
//! runtime is tested against, and the engine behind calibration
//! ([`crate::quantize::calibrate`] reads every activation it returns).
//!
//! f32 layers compute in f32 with straightforward loops. int8 layers
//! (int8 weights) are simulated exactly as the int8 runtime computes them,
//! with the integer arithmetic of [`qmath`]: the f32 input is quantised
//! with the layer's `input_quant`, accumulated in integers with the i32
//! bias, requantised to the node's `output_quant`, clamped by the fused
//! activation and dequantised back to f32. The value stored for an int8
//! layer is therefore always a point of its output grid.
//!
//! Pooling windows ignore padding cells (average pooling divides by the
//! number of valid cells); conv padding is zeros.
//!
//! `no_std` + `alloc`: it runs on any target, slowly (no SIMD, no blocking).

mod kernels;
pub mod qmath;

use alloc::vec::Vec;
use core::fmt;

use crate::format::{infer_shapes, Activation, Bias, FormatError, ModelFile, Node, Op, Weights};
use kernels::Window;
use qmath::Int8Layer;

/// Why the reference interpreter refused to run.
#[derive(Clone, Debug, PartialEq)]
pub enum RefError {
    /// The model is inconsistent (see [`ModelFile::validate`]).
    InvalidModel(FormatError),
    /// The input holds a different number of values than the model's input shape.
    InputLength { expected: usize, found: usize },
    /// The input holds NaN or an infinity at `index`.
    NonFiniteInput { index: usize },
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::InvalidModel(e) => write!(f, "cannot interpret the model: {e}"),
            RefError::InputLength { expected, found } => write!(
                f,
                "input has {found} values but the model expects {expected} (its input shape); preprocess to the model's input size"
            ),
            RefError::NonFiniteInput { index } => write!(
                f,
                "input value {index} is NaN or infinite; check the preprocessing"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RefError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RefError::InvalidModel(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks an input buffer against the model's input shape.
pub(crate) fn check_input(expected: usize, input: &[f32]) -> Result<(), RefError> {
    if input.len() != expected {
        return Err(RefError::InputLength {
            expected,
            found: input.len(),
        });
    }
    match input.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(RefError::NonFiniteInput { index }),
        None => Ok(()),
    }
}

fn numel(shape: &[u32]) -> usize {
    shape.iter().map(|&d| d as usize).product()
}

/// Runs the model on one input (NCHW, `header.input_shape`) and returns
/// every value of the graph, indexed by [`crate::format::ValueId`]: entry 0
/// is the input, entry `i + 1` the output of node `i`.
pub fn run_reference(model: &ModelFile, input: &[f32]) -> Result<Vec<Vec<f32>>, RefError> {
    let shapes =
        infer_shapes(&model.graph, &model.header.input_shape).map_err(RefError::InvalidModel)?;
    check_input(numel(&shapes[0]), input)?;
    let mut values: Vec<Vec<f32>> = Vec::with_capacity(shapes.len());
    values.push(input.to_vec());
    for (i, node) in model.graph.nodes.iter().enumerate() {
        let ins: Vec<(&[f32], &[u32])> = node
            .inputs
            .iter()
            .map(|&v| (values[v as usize].as_slice(), shapes[v as usize].as_slice()))
            .collect();
        let out = eval_node(node, &ins, &shapes[i + 1]).map_err(|reason| {
            RefError::InvalidModel(FormatError::InvalidGraph {
                node: Some(i as u32),
                reason,
            })
        })?;
        values.push(out);
    }
    Ok(values)
}

/// Runs the model and returns only its outputs, in `graph.outputs` order.
pub fn run_reference_outputs(model: &ModelFile, input: &[f32]) -> Result<Vec<Vec<f32>>, RefError> {
    let mut values = run_reference(model, input)?;
    Ok(model
        .graph
        .outputs
        .iter()
        .map(|&o| core::mem::take(&mut values[o as usize]))
        .collect())
}

fn apply_activation(v: f32, act: Activation) -> f32 {
    match act {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Relu6 => v.clamp(0.0, 6.0),
    }
}

/// Parameters of an int8 layer; `Err` when the model lacks them (refused by
/// validation already, so this only guards against unchecked models).
fn int8_layer(
    weights: &Weights,
    input_quant: Option<crate::format::QuantParams>,
    node: &Node,
    bias: Option<&Bias>,
    act: Activation,
    out: usize,
) -> Result<(Int8Layer, Vec<i32>), &'static str> {
    let Weights::I8 { data, quant } = weights else {
        return Err("int8 layer without int8 weights");
    };
    let (Some(input), Some(output)) = (input_quant, node.output_quant) else {
        return Err("int8 layer lacks calibrated input or output quantisation parameters");
    };
    let layer = Int8Layer::new(input, *quant, output, bias, act, out);
    let w0 = quant.zero_point as i32;
    Ok((layer, data.iter().map(|&q| q as i32 - w0).collect()))
}

fn quantize_input(x: &[f32], l: &Int8Layer) -> Vec<i32> {
    let x0 = l.input.zero_point as i32;
    x.iter()
        .map(|&v| qmath::quantize(v, l.input) as i32 - x0)
        .collect()
}

fn f32_bias(bias: Option<&Bias>) -> Result<Option<&[f32]>, &'static str> {
    match bias {
        None => Ok(None),
        Some(Bias::F32(b)) => Ok(Some(b)),
        Some(Bias::I32(_)) => Err("i32 bias on a layer with f32 weights"),
    }
}

fn eval_node(
    node: &Node,
    ins: &[(&[f32], &[u32])],
    out_shape: &[u32],
) -> Result<Vec<f32>, &'static str> {
    let x = ins.first().map(|i| i.0).unwrap_or(&[]);
    let xs = ins.first().map(|i| i.1).unwrap_or(&[]);
    Ok(match &node.op {
        Op::Conv2d(c) => {
            let g = Window::conv(c, xs, out_shape);
            let out = c.weight.shape[0] as usize;
            let groups = c.groups as usize;
            match &c.weight.values {
                Weights::F32(w) => {
                    let b = f32_bias(c.bias.as_ref())?;
                    kernels::conv2d(
                        &g,
                        groups,
                        out,
                        x,
                        w,
                        |o| b.map_or(0.0, |b| b[o]),
                        |a, x, w| a + x * w,
                        |_, a| apply_activation(a, c.activation),
                    )
                }
                weights => {
                    let (l, w) = int8_layer(
                        weights,
                        c.input_quant,
                        node,
                        c.bias.as_ref(),
                        c.activation,
                        out,
                    )?;
                    let xq = quantize_input(x, &l);
                    kernels::conv2d(
                        &g,
                        groups,
                        out,
                        &xq,
                        &w,
                        |o| l.bias[o] as i64,
                        |a, x, w| a + (x * w) as i64,
                        |_, a| qmath::dequantize(l.finish(a), l.output),
                    )
                }
            }
        }
        Op::Dense(d) => {
            let (n, inputs) = (xs[0] as usize, xs[1] as usize);
            let out = d.weight.shape[0] as usize;
            match &d.weight.values {
                Weights::F32(w) => {
                    let b = f32_bias(d.bias.as_ref())?;
                    kernels::dense(
                        n,
                        inputs,
                        out,
                        x,
                        w,
                        |o| b.map_or(0.0, |b| b[o]),
                        |a, x, w| a + x * w,
                        |_, a| apply_activation(a, d.activation),
                    )
                }
                weights => {
                    let (l, w) = int8_layer(
                        weights,
                        d.input_quant,
                        node,
                        d.bias.as_ref(),
                        d.activation,
                        out,
                    )?;
                    let xq = quantize_input(x, &l);
                    kernels::dense(
                        n,
                        inputs,
                        out,
                        &xq,
                        &w,
                        |o| l.bias[o] as i64,
                        |a, x, w| a + (x * w) as i64,
                        |_, a| qmath::dequantize(l.finish(a), l.output),
                    )
                }
            }
        }
        Op::Add => x.iter().zip(ins[1].0).map(|(a, b)| a + b).collect(),
        Op::Mul => x.iter().zip(ins[1].0).map(|(a, b)| a * b).collect(),
        Op::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        Op::Relu6 => x.iter().map(|v| v.clamp(0.0, 6.0)).collect(),
        Op::PRelu { slope } => kernels::prelu(x, xs, slope),
        Op::MaxPool(p) => kernels::max_pool(&Window::pool(p, xs, out_shape), x),
        Op::AvgPool(p) => kernels::avg_pool(&Window::pool(p, xs, out_shape), x),
        Op::GlobalAvgPool => kernels::global_avg_pool(x, xs[2] as usize * xs[3] as usize),
        Op::PadChannels { before, after } => {
            kernels::pad_channels(x, xs, *before as usize, *after as usize)
        }
        Op::Concat { axis } => kernels::concat(ins, *axis as usize),
        Op::Reshape { .. } | Op::Flatten => x.to_vec(),
        Op::Transpose { perm } => kernels::transpose(x, xs, perm),
        Op::Softmax { axis } => kernels::softmax(x, xs, *axis as usize),
        Op::Sigmoid => x.iter().map(|&v| kernels::sigmoid(v)).collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests;
