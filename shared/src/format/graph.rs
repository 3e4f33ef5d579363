//! The layer graph stored in a model file.
//!
//! Activations are NCHW (batch first). Value 0 is the model input; value
//! `i + 1` is the output of `nodes[i]`. Nodes are in topological order: a
//! node may only read values produced before it.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Index of a value: 0 is the model input, `i + 1` the output of node `i`.
pub type ValueId = u32;

/// Affine int8 quantisation: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i8,
}

impl QuantParams {
    /// Quantisation parameters covering `[min, max]` (widened to include 0).
    pub fn from_range(min: f32, max: f32) -> QuantParams {
        let min = if min.is_finite() { min.min(0.0) } else { 0.0 };
        let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
        let span = max - min;
        let scale = if span > 0.0 { span / 255.0 } else { 1.0 };
        let zp = -128.0 - min / scale;
        let zp = libm::roundf(zp).clamp(-128.0, 127.0) as i8;
        QuantParams {
            scale,
            zero_point: zp,
        }
    }

    /// Symmetric parameters covering `[-absmax, absmax]` with zero point 0.
    pub fn symmetric(absmax: f32) -> QuantParams {
        let scale = if absmax > 0.0 && absmax.is_finite() {
            absmax / 127.0
        } else {
            1.0
        };
        QuantParams {
            scale,
            zero_point: 0,
        }
    }

    /// Quantises one value (round to nearest, saturating).
    pub fn quantize(&self, x: f32) -> i8 {
        let q = libm::roundf(x / self.scale) + self.zero_point as f32;
        q.clamp(-128.0, 127.0) as i8
    }

    /// Dequantises one value.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as f32 - self.zero_point as f32)
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.scale.is_finite() && self.scale > 0.0
    }
}

/// Weight values: f32, or int8 with one scale and zero point per tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Weights {
    F32(Vec<f32>),
    I8 { data: Vec<i8>, quant: QuantParams },
}

impl Weights {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Weights::F32(v) => v.len(),
            Weights::I8 { data, .. } => data.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for int8 weights.
    pub fn is_int8(&self) -> bool {
        matches!(self, Weights::I8 { .. })
    }

    /// Values as f32 (dequantised for int8).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Weights::F32(v) => v.clone(),
            Weights::I8 { data, quant } => data.iter().map(|&q| quant.dequantize(q)).collect(),
        }
    }
}

/// A weight tensor with its shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Vec<u32>,
    pub values: Weights,
}

impl Tensor {
    /// An f32 tensor.
    pub fn f32(shape: Vec<u32>, data: Vec<f32>) -> Tensor {
        Tensor {
            shape,
            values: Weights::F32(data),
        }
    }

    /// Product of the shape's dimensions.
    pub fn shape_len(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// Bias of a conv or dense layer: f32, or i32 in the accumulator scale
/// (`input scale * weight scale`, zero point 0) for int8 layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Bias {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Bias {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Bias::F32(v) => v.len(),
            Bias::I32(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Activation fused into a conv or dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
}

/// 2-D convolution, NCHW; weight `[out, in / groups, kh, kw]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Bias>,
    /// Stride `[h, w]`.
    pub stride: [u16; 2],
    /// Dilation `[h, w]`.
    pub dilation: [u16; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub padding: [u16; 4],
    /// Groups (in channels for depthwise).
    pub groups: u32,
    pub activation: Activation,
    /// Calibrated quantisation of the input activation (int8 layers only).
    pub input_quant: Option<QuantParams>,
}

/// Fully connected layer on `[n, in]`; weight `[out, in]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub weight: Tensor,
    pub bias: Option<Bias>,
    pub activation: Activation,
    /// Calibrated quantisation of the input activation (int8 layers only).
    pub input_quant: Option<QuantParams>,
}

/// Max or average pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    /// Window `[h, w]`.
    pub kernel: [u16; 2],
    /// Stride `[h, w]`.
    pub stride: [u16; 2],
    /// Padding `[top, left, bottom, right]` (ignored cells do not count).
    pub padding: [u16; 4],
}

/// One operation. New operations are appended at the end only, so older
/// files keep decoding; a newer file's unknown op is refused as
/// [`crate::format::FormatError::UnknownOp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Conv2d(Conv2d),
    Dense(Dense),
    /// Elementwise sum of two same-shape inputs.
    Add,
    /// Elementwise product of two same-shape inputs.
    Mul,
    Relu,
    Relu6,
    /// `max(x, 0) + slope[c] * min(x, 0)` with one slope per channel.
    PRelu {
        slope: Vec<f32>,
    },
    MaxPool(Pool2d),
    AvgPool(Pool2d),
    /// Mean over H and W: `[n, c, h, w] -> [n, c, 1, 1]`.
    GlobalAvgPool,
    /// Zero channels added before/after: `[n, c, h, w] -> [n, before + c + after, h, w]`.
    PadChannels {
        before: u32,
        after: u32,
    },
    /// Concatenation of all inputs along `axis`.
    Concat {
        axis: u8,
    },
    /// Reshape to a fixed shape with the same number of values.
    Reshape {
        shape: Vec<u32>,
    },
    /// `[n, ...] -> [n, product of the rest]`.
    Flatten,
    /// Axis permutation.
    Transpose {
        perm: Vec<u8>,
    },
    Softmax {
        axis: u8,
    },
    Sigmoid,
}

impl Op {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "conv2d",
            Op::Dense(_) => "dense",
            Op::Add => "add",
            Op::Mul => "mul",
            Op::Relu => "relu",
            Op::Relu6 => "relu6",
            Op::PRelu { .. } => "prelu",
            Op::MaxPool(_) => "max_pool",
            Op::AvgPool(_) => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::PadChannels { .. } => "pad_channels",
            Op::Concat { .. } => "concat",
            Op::Reshape { .. } => "reshape",
            Op::Flatten => "flatten",
            Op::Transpose { .. } => "transpose",
            Op::Softmax { .. } => "softmax",
            Op::Sigmoid => "sigmoid",
        }
    }

    /// Number of stored parameters (weights, biases, slopes).
    pub fn parameter_count(&self) -> usize {
        match self {
            Op::Conv2d(c) => c.weight.values.len() + c.bias.as_ref().map_or(0, Bias::len),
            Op::Dense(d) => d.weight.values.len() + d.bias.as_ref().map_or(0, Bias::len),
            Op::PRelu { slope } => slope.len(),
            _ => 0,
        }
    }

    /// True when the layer computes in int8.
    pub fn is_int8(&self) -> bool {
        match self {
            Op::Conv2d(c) => c.weight.values.is_int8(),
            Op::Dense(d) => d.weight.values.is_int8(),
            _ => false,
        }
    }
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Name for messages and calibration reports (e.g. `block2.conv1`).
    pub name: String,
    pub op: Op,
    /// Values read, see [`ValueId`].
    pub inputs: Vec<ValueId>,
    /// Calibrated quantisation of this node's output (set for int8 layers,
    /// optional elsewhere).
    pub output_quant: Option<QuantParams>,
}

/// Layers in topological order and the values the model returns.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// Appends a node and returns the id of its output value.
    pub fn push(&mut self, name: impl Into<String>, op: Op, inputs: Vec<ValueId>) -> ValueId {
        self.nodes.push(Node {
            name: name.into(),
            op,
            inputs,
            output_quant: None,
        });
        self.nodes.len() as ValueId
    }
}
