//! Mapping of an ONNX graph onto the emoedge model format's ops.
//!
//! The graph is read from the ONNX protobuf (as parsed by tract-onnx) and
//! walked node by node in its (topological) order. Initializers,
//! `Constant` and `ConstantOfShape` nodes become constants known at import
//! time; the other nodes become layers:
//!
//! | ONNX | emoedge |
//! |---|---|
//! | `Conv` (groups, strides, dilations, explicit or `VALID` pads) | `Conv2d` (f32), a following `Relu`/`Clip(0, 6)` fused when the conv output has no other reader |
//! | `Gemm` (`transB`, alpha = beta = 1), `MatMul` by a constant | `Dense` |
//! | `Add`, `Mul` of two graph values of one shape | `Add`, `Mul` |
//! | `Relu`, `Clip(0, 6)`, `PRelu` (per-channel slope), `Sigmoid`, `Softmax` (last axis) | `Relu`, `Relu6`, `PRelu`, `Sigmoid`, `Softmax` |
//! | `MaxPool`, `AveragePool` (padding excluded), `GlobalAveragePool` | `MaxPool`, `AvgPool`, `GlobalAvgPool` |
//! | `Concat` on axis 1 of a value and zero constants (TensorFlow's channel `Pad`) | `PadChannels` |
//! | `Concat` of graph values | `Concat` |
//! | `Reshape` (constant shape, `0` and `-1` resolved), `Flatten` | `Reshape`, `Flatten` |
//! | `Transpose` | `Transpose`; a leading NHWC to NCHW transpose of the input is folded into the input layout |
//! | `Identity`, `Dropout` | nothing |
//!
//! `ConstantOfShape` without a `value` attribute is float32 0, the ONNX
//! default (BlazeFace's Barracuda export relies on it). Anything else is
//! refused with the node's name and op type.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use emoedge_shared::format::{
    infer_shapes, Activation, Bias, Conv2d, Dense, Graph, Op, Pool2d, Tensor, ValueId,
};
use tract_onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// A constant known at import time.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: ConstData,
}

/// Values of a constant.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Const {
    fn f32(&self) -> Result<&[f32]> {
        match &self.data {
            ConstData::F32(v) => Ok(v),
            ConstData::I64(_) => bail!("expected a float constant, found an int64 one"),
        }
    }

    fn i64(&self) -> Result<&[i64]> {
        match &self.data {
            ConstData::I64(v) => Ok(v),
            ConstData::F32(_) => bail!("expected an int64 constant, found a float one"),
        }
    }

    fn is_zero(&self) -> bool {
        match &self.data {
            ConstData::F32(v) => v.iter().all(|&x| x == 0.0),
            ConstData::I64(v) => v.iter().all(|&x| x == 0),
        }
    }
}

/// Decodes an ONNX tensor (float or int64; raw little-endian or typed fields).
pub fn load_const(t: &pb::TensorProto) -> Result<Const> {
    ensure!(
        t.data_location != Some(pb::tensor_proto::DataLocation::External as i32),
        "tensor `{}` keeps its data in an external file, which the importer does not read",
        t.name
    );
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).with_context(|| format!("negative dimension in `{}`", t.name)))
        .collect::<Result<Vec<usize>>>()?;
    let n: usize = shape.iter().product();
    let data = if t.data_type == DataType::Float as i32 {
        let v: Vec<f32> = if !t.raw_data.is_empty() {
            ensure!(
                t.raw_data.len() == 4 * n,
                "tensor `{}` has {} raw bytes for {n} floats",
                t.name,
                t.raw_data.len()
            );
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            t.float_data.clone()
        };
        ConstData::F32(v)
    } else if t.data_type == DataType::Int64 as i32 {
        let v: Vec<i64> = if !t.raw_data.is_empty() {
            ensure!(
                t.raw_data.len() == 8 * n,
                "tensor `{}` has {} raw bytes for {n} int64",
                t.name,
                t.raw_data.len()
            );
            t.raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        } else {
            t.int64_data.clone()
        };
        ConstData::I64(v)
    } else {
        bail!(
            "tensor `{}` has ONNX data type {}; only float32 and int64 constants are supported",
            t.name,
            t.data_type
        );
    };
    let len = match &data {
        ConstData::F32(v) => v.len(),
        ConstData::I64(v) => v.len(),
    };
    ensure!(
        len == n,
        "tensor `{}` holds {len} values for shape {shape:?}",
        t.name
    );
    Ok(Const { shape, data })
}

/// A name of the ONNX graph: a value of our graph or a constant.
#[derive(Clone, Debug)]
enum Val {
    Graph(ValueId),
    Const(Const),
}

/// The result of [`import_graph`].
#[derive(Clone, Debug)]
pub struct Imported {
    pub graph: Graph,
    /// Input shape of our graph (NCHW when an NHWC transpose was folded).
    pub input_shape: Vec<u32>,
    /// Name and shape of the ONNX input.
    pub onnx_input: (String, Vec<u32>),
    /// True when the leading NHWC -> NCHW transpose was folded away.
    pub folded_nhwc_input: bool,
    /// ONNX output names, in the order of `graph.outputs`.
    pub output_names: Vec<String>,
    /// Shapes of every value of `graph` (index = value id).
    pub shapes: Vec<Vec<u32>>,
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_float(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn attr_string(node: &pb::NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn to_u16(v: i64, what: &str) -> Result<u16> {
    u16::try_from(v).with_context(|| format!("{what} {v} is out of range"))
}

fn static_shape(vi: &pb::ValueInfoProto) -> Result<Vec<u32>> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TV;
    let Some(TV::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        bail!("input `{}` is not a tensor", vi.name);
    };
    ensure!(
        t.elem_type == DataType::Float as i32,
        "input `{}` is not float32",
        vi.name
    );
    let shape = t.shape.as_ref().context("input without a shape")?;
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) if *v > 0 => Ok(*v as u32),
            _ => bail!(
                "input `{}` has a symbolic or unknown dimension; the emoedge format needs a fixed input shape",
                vi.name
            ),
        })
        .collect()
}

/// Longest `/`-separated prefix shared by every node's first output name,
/// stripped from our node names (TensorFlow exports repeat
/// `StatefulPartitionedCall/functional_1/` everywhere).
fn common_prefix(g: &pb::GraphProto) -> String {
    let names: Vec<&str> = g
        .node
        .iter()
        .filter_map(|n| n.output.first().map(String::as_str))
        .filter(|n| n.contains('/'))
        .collect();
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut prefix: Vec<&str> = first.split('/').collect();
    prefix.pop();
    for n in &names[1..] {
        let parts: Vec<&str> = n.split('/').collect();
        let common = prefix
            .iter()
            .zip(&parts[..parts.len() - 1])
            .take_while(|(a, b)| a == b)
            .count();
        prefix.truncate(common);
    }
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", prefix.join("/"))
    }
}

struct Mapper {
    graph: Graph,
    shapes: Vec<Vec<u32>>,
    vals: HashMap<String, Val>,
    /// Readers of every ONNX name (node inputs and graph outputs).
    readers: HashMap<String, usize>,
    prefix: String,
}

impl Mapper {
    fn get(&self, name: &str) -> Result<&Val> {
        self.vals
            .get(name)
            .with_context(|| format!("value `{name}` is read before it is produced"))
    }

    fn value(&self, name: &str) -> Result<ValueId> {
        match self.get(name)? {
            Val::Graph(v) => Ok(*v),
            Val::Const(_) => {
                bail!("`{name}` is a constant where the emoedge format needs a computed value")
            }
        }
    }

    fn konst(&self, name: &str) -> Result<&Const> {
        match self.get(name)? {
            Val::Const(c) => Ok(c),
            Val::Graph(_) => bail!("`{name}` must be a constant (weights, shapes)"),
        }
    }

    fn shape(&self, v: ValueId) -> &[u32] {
        &self.shapes[v as usize]
    }

    fn node_name(&self, node: &pb::NodeProto) -> String {
        let raw = node
            .output
            .first()
            .filter(|s| !s.is_empty())
            .unwrap_or(&node.name);
        let raw = raw.strip_suffix(":0").unwrap_or(raw);
        raw.strip_prefix(&self.prefix).unwrap_or(raw).to_string()
    }

    /// Appends a layer and checks shapes through it.
    fn push(&mut self, name: String, op: Op, inputs: Vec<ValueId>) -> Result<ValueId> {
        let v = self.graph.push(name.clone(), op, inputs);
        let saved = std::mem::replace(&mut self.graph.outputs, vec![v]);
        let shapes = infer_shapes(&self.graph, &self.shapes[0]);
        self.graph.outputs = saved;
        let shapes = shapes.with_context(|| format!("shapes do not agree at `{name}`"))?;
        self.shapes = shapes;
        Ok(v)
    }

    /// True when the last node produced `v`, nobody else reads ONNX value
    /// `name` and that node can take a fused activation.
    fn fusable(&self, name: &str, v: ValueId) -> bool {
        v as usize == self.graph.nodes.len()
            && self.readers.get(name).copied() == Some(1)
            && match &self.graph.nodes[v as usize - 1].op {
                Op::Conv2d(c) => c.activation == Activation::None,
                Op::Dense(d) => d.activation == Activation::None,
                _ => false,
            }
    }

    fn fuse(&mut self, v: ValueId, act: Activation) {
        match &mut self.graph.nodes[v as usize - 1].op {
            Op::Conv2d(c) => c.activation = act,
            Op::Dense(d) => d.activation = act,
            _ => unreachable!("checked by fusable"),
        }
    }

    /// `Relu` or `Relu6` of `input`, fused into the producing layer when possible.
    fn activation(&mut self, node: &pb::NodeProto, act: Activation) -> Result<Val> {
        let input = &node.input[0];
        let x = self.value(input)?;
        if self.fusable(input, x) {
            self.fuse(x, act);
            return Ok(Val::Graph(x));
        }
        let op = match act {
            Activation::Relu => Op::Relu,
            Activation::Relu6 => Op::Relu6,
            Activation::None => unreachable!(),
        };
        Ok(Val::Graph(self.push(self.node_name(node), op, vec![x])?))
    }

    fn pool(&self, node: &pb::NodeProto) -> Result<Pool2d> {
        let k = attr_ints(node, "kernel_shape").context("pooling without kernel_shape")?;
        ensure!(k.len() == 2, "only 2-D pooling is supported");
        ensure!(
            attr_int(node, "ceil_mode", 0) == 0,
            "ceil_mode pooling is not supported"
        );
        if let Some(d) = attr_ints(node, "dilations") {
            ensure!(
                d.iter().all(|&d| d == 1),
                "dilated pooling is not supported"
            );
        }
        let s = attr_ints(node, "strides").unwrap_or(vec![1, 1]);
        let p = self.pads(node, 2)?;
        Ok(Pool2d {
            kernel: [to_u16(k[0], "kernel")?, to_u16(k[1], "kernel")?],
            stride: [to_u16(s[0], "stride")?, to_u16(s[1], "stride")?],
            padding: p,
        })
    }

    /// Explicit pads `[top, left, bottom, right]` (ONNX order is begins then ends).
    fn pads(&self, node: &pb::NodeProto, rank: usize) -> Result<[u16; 4]> {
        match attr_string(node, "auto_pad").as_deref() {
            None | Some("NOTSET") | Some("VALID") | Some("") => {}
            Some(other) => {
                bail!("auto_pad {other} is not supported; re-export the model with explicit pads")
            }
        }
        let p = attr_ints(node, "pads").unwrap_or(vec![0; 2 * rank]);
        ensure!(p.len() == 4, "only 2-D padding is supported");
        Ok([
            to_u16(p[0], "pad")?,
            to_u16(p[1], "pad")?,
            to_u16(p[2], "pad")?,
            to_u16(p[3], "pad")?,
        ])
    }

    fn map_node(&mut self, node: &pb::NodeProto, opset: i64) -> Result<Option<Val>> {
        let name = self.node_name(node);
        let ins = &node.input;
        let out = match node.op_type.as_str() {
            "Identity" | "Dropout" => self.get(&ins[0])?.clone(),
            "Constant" => {
                let t = attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .context("Constant without a tensor `value`")?;
                Val::Const(load_const(t)?)
            }
            "ConstantOfShape" => {
                let shape = self.konst(&ins[0])?.i64()?.to_vec();
                let shape = shape
                    .iter()
                    .map(|&d| usize::try_from(d).context("negative dimension"))
                    .collect::<Result<Vec<usize>>>()?;
                let n: usize = shape.iter().product();
                // No `value` attribute: the ONNX default, float32 zero.
                let fill = match attr(node, "value").and_then(|a| a.t.as_ref()) {
                    None => 0.0,
                    Some(t) => match load_const(t)?.data {
                        ConstData::F32(v) if v.len() == 1 => v[0],
                        ConstData::I64(v) if v.len() == 1 => v[0] as f32,
                        _ => bail!("ConstantOfShape value must hold one value"),
                    },
                };
                Val::Const(Const {
                    shape,
                    data: ConstData::F32(vec![fill; n]),
                })
            }
            "Conv" => {
                let x = self.value(&ins[0])?;
                let w = self.konst(&ins[1])?;
                ensure!(w.shape.len() == 4, "only 2-D convolutions are supported");
                let weight = Tensor::f32(
                    w.shape.iter().map(|&d| d as u32).collect(),
                    w.f32()?.to_vec(),
                );
                let bias = match ins.get(2).filter(|s| !s.is_empty()) {
                    Some(b) => Some(Bias::F32(self.konst(b)?.f32()?.to_vec())),
                    None => None,
                };
                let s = attr_ints(node, "strides").unwrap_or(vec![1, 1]);
                let d = attr_ints(node, "dilations").unwrap_or(vec![1, 1]);
                let op = Op::Conv2d(Conv2d {
                    weight,
                    bias,
                    stride: [to_u16(s[0], "stride")?, to_u16(s[1], "stride")?],
                    dilation: [to_u16(d[0], "dilation")?, to_u16(d[1], "dilation")?],
                    padding: self.pads(node, 2)?,
                    groups: u32::try_from(attr_int(node, "group", 1)).context("bad group")?,
                    activation: Activation::None,
                    input_quant: None,
                });
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "Gemm" | "MatMul" => {
                let x = self.value(&ins[0])?;
                let b = self.konst(&ins[1])?;
                ensure!(
                    b.shape.len() == 2,
                    "{} needs a 2-D constant weight",
                    node.op_type
                );
                ensure!(
                    self.shape(x).len() == 2,
                    "{} needs a [n, in] input",
                    node.op_type
                );
                let gemm = node.op_type == "Gemm";
                if gemm {
                    ensure!(
                        attr_float(node, "alpha", 1.0) == 1.0
                            && attr_float(node, "beta", 1.0) == 1.0
                            && attr_int(node, "transA", 0) == 0,
                        "Gemm with alpha, beta or transA is not supported"
                    );
                }
                let trans_b = gemm && attr_int(node, "transB", 0) != 0;
                let (k, n) = if trans_b {
                    (b.shape[1], b.shape[0])
                } else {
                    (b.shape[0], b.shape[1])
                };
                let v = b.f32()?;
                // Our weight is [out, in].
                let w: Vec<f32> = if trans_b {
                    v.to_vec()
                } else {
                    (0..n)
                        .flat_map(|o| (0..k).map(move |i| v[i * n + o]))
                        .collect()
                };
                let bias = match ins.get(2).filter(|s| gemm && !s.is_empty()) {
                    Some(c) => {
                        let c = self.konst(c)?;
                        ensure!(
                            c.shape.iter().product::<usize>() == n,
                            "Gemm bias must hold one value per output"
                        );
                        Some(Bias::F32(c.f32()?.to_vec()))
                    }
                    None => None,
                };
                let op = Op::Dense(Dense {
                    weight: Tensor::f32(vec![n as u32, k as u32], w),
                    bias,
                    activation: Activation::None,
                    input_quant: None,
                });
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "Add" | "Mul" => {
                let a = self.value(&ins[0])?;
                let b = self.value(&ins[1])?;
                let op = if node.op_type == "Add" {
                    Op::Add
                } else {
                    Op::Mul
                };
                Val::Graph(self.push(name, op, vec![a, b])?)
            }
            "Relu" => self.activation(node, Activation::Relu)?,
            "Clip" => {
                let bound = |i: usize, attr_name: &str, default: f32| -> Result<f32> {
                    match ins.get(i).filter(|s| !s.is_empty()) {
                        Some(n) => {
                            let c = self.konst(n)?.f32()?;
                            ensure!(c.len() == 1, "Clip bounds must be scalars");
                            Ok(c[0])
                        }
                        None => Ok(attr_float(node, attr_name, default)),
                    }
                };
                let lo = bound(1, "min", f32::NEG_INFINITY)?;
                let hi = bound(2, "max", f32::INFINITY)?;
                match (lo, hi) {
                    (0.0, 6.0) => self.activation(node, Activation::Relu6)?,
                    (0.0, h) if h == f32::INFINITY => self.activation(node, Activation::Relu)?,
                    _ => bail!(
                        "Clip({lo}, {hi}) has no equivalent; only Clip(0, 6) and Clip(0, inf)"
                    ),
                }
            }
            "PRelu" => {
                let x = self.value(&ins[0])?;
                let slope = self.konst(&ins[1])?;
                let c = self
                    .shape(x)
                    .get(1)
                    .copied()
                    .context("PRelu needs a channel axis")?;
                let per_channel = slope.shape.iter().filter(|&&d| d != 1).count() <= 1
                    && slope.shape.iter().product::<usize>() == c as usize;
                ensure!(per_channel, "PRelu slope must hold one value per channel");
                let op = Op::PRelu {
                    slope: slope.f32()?.to_vec(),
                };
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "Sigmoid" => {
                let x = self.value(&ins[0])?;
                Val::Graph(self.push(name, Op::Sigmoid, vec![x])?)
            }
            "Softmax" => {
                let x = self.value(&ins[0])?;
                let rank = self.shape(x).len() as i64;
                let default = if opset >= 13 { -1 } else { 1 };
                let mut axis = attr_int(node, "axis", default);
                if axis < 0 {
                    axis += rank;
                }
                ensure!(
                    opset >= 13 || axis == rank - 1,
                    "Softmax before opset 13 is only supported on the last axis"
                );
                let op = Op::Softmax { axis: axis as u8 };
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "MaxPool" | "AveragePool" => {
                let x = self.value(&ins[0])?;
                let p = self.pool(node)?;
                let op = if node.op_type == "MaxPool" {
                    Op::MaxPool(p)
                } else {
                    ensure!(
                        attr_int(node, "count_include_pad", 0) == 0 || p.padding == [0; 4],
                        "AveragePool counting padding cells is not supported"
                    );
                    Op::AvgPool(p)
                };
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "GlobalAveragePool" => {
                let x = self.value(&ins[0])?;
                Val::Graph(self.push(name, Op::GlobalAvgPool, vec![x])?)
            }
            "Concat" => self.concat(node, name)?,
            "Reshape" => {
                let x = self.value(&ins[0])?;
                let target = self.konst(&ins[1])?.i64()?.to_vec();
                let from = self.shape(x).to_vec();
                let total: u64 = from.iter().map(|&d| d as u64).product();
                let mut shape: Vec<i64> = target
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d == 0 {
                            from.get(i).map_or(0, |&f| f as i64)
                        } else {
                            d
                        }
                    })
                    .collect();
                if let Some(at) = shape.iter().position(|&d| d == -1) {
                    let known: i64 = shape.iter().filter(|&&d| d != -1).product();
                    ensure!(known > 0, "Reshape cannot infer -1");
                    shape[at] = total as i64 / known;
                }
                let shape = shape
                    .iter()
                    .map(|&d| u32::try_from(d).context("bad Reshape dimension"))
                    .collect::<Result<Vec<u32>>>()?;
                Val::Graph(self.push(name, Op::Reshape { shape }, vec![x])?)
            }
            "Flatten" => {
                let x = self.value(&ins[0])?;
                let rank = self.shape(x).len() as i64;
                let mut axis = attr_int(node, "axis", 1);
                if axis < 0 {
                    axis += rank;
                }
                let op = if axis == 1 {
                    Op::Flatten
                } else {
                    let s = self.shape(x);
                    let a: u32 = s[..axis as usize].iter().product();
                    let b: u32 = s[axis as usize..].iter().product();
                    Op::Reshape { shape: vec![a, b] }
                };
                Val::Graph(self.push(name, op, vec![x])?)
            }
            "Transpose" => {
                let x = self.value(&ins[0])?;
                let rank = self.shape(x).len();
                let perm = attr_ints(node, "perm").unwrap_or((0..rank as i64).rev().collect());
                let perm = perm
                    .iter()
                    .map(|&p| u8::try_from(p).context("bad permutation"))
                    .collect::<Result<Vec<u8>>>()?;
                Val::Graph(self.push(name, Op::Transpose { perm }, vec![x])?)
            }
            other => bail!("ONNX op {other} has no equivalent in the emoedge format"),
        };
        Ok(Some(out))
    }

    fn concat(&mut self, node: &pb::NodeProto, name: String) -> Result<Val> {
        let vals: Vec<Val> = node
            .input
            .iter()
            .map(|n| self.get(n).cloned())
            .collect::<Result<_>>()?;
        let graph_vals: Vec<ValueId> = vals
            .iter()
            .filter_map(|v| match v {
                Val::Graph(g) => Some(*g),
                Val::Const(_) => None,
            })
            .collect();
        ensure!(
            !graph_vals.is_empty(),
            "Concat of constants only is not supported"
        );
        let rank = self.shape(graph_vals[0]).len() as i64;
        let mut axis = attr_int(node, "axis", 1);
        if axis < 0 {
            axis += rank;
        }
        if graph_vals.len() == vals.len() {
            let op = Op::Concat { axis: axis as u8 };
            return Ok(Val::Graph(self.push(name, op, graph_vals)?));
        }
        // A value between zero constants along the channel axis: channel padding.
        ensure!(
            graph_vals.len() == 1 && axis == 1,
            "Concat of values and constants is only supported as zero padding of one value along axis 1"
        );
        let x = graph_vals[0];
        let xs = self.shape(x).to_vec();
        let (mut before, mut after, mut seen) = (0u32, 0u32, false);
        for v in &vals {
            match v {
                Val::Graph(_) => seen = true,
                Val::Const(c) => {
                    let same_other_dims = c.shape.len() == xs.len()
                        && c.shape
                            .iter()
                            .zip(&xs)
                            .enumerate()
                            .all(|(d, (&a, &b))| d == 1 || a == b as usize);
                    ensure!(
                        c.is_zero() && same_other_dims,
                        "Concat with a non-zero or mis-shaped constant is not supported"
                    );
                    let ch = c.shape[1] as u32;
                    if seen {
                        after += ch;
                    } else {
                        before += ch;
                    }
                }
            }
        }
        Ok(Val::Graph(self.push(
            name,
            Op::PadChannels { before, after },
            vec![x],
        )?))
    }
}

/// Maps an ONNX model's graph onto our layer graph (see the module docs).
pub fn import_graph(model: &pb::ModelProto) -> Result<Imported> {
    let g = model
        .graph
        .as_ref()
        .context("the ONNX model has no graph")?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(13, |o| o.version);
    let mut vals = HashMap::new();
    for t in &g.initializer {
        vals.insert(
            t.name.clone(),
            Val::Const(load_const(t).with_context(|| format!("initializer `{}`", t.name))?),
        );
    }
    let inputs: Vec<&pb::ValueInfoProto> = g
        .input
        .iter()
        .filter(|i| !vals.contains_key(&i.name))
        .collect();
    ensure!(
        inputs.len() == 1,
        "the model must have exactly one input, found {}",
        inputs.len()
    );
    let input = inputs[0];
    let onnx_shape = static_shape(input)?;
    let mut readers: HashMap<String, usize> = HashMap::new();
    for n in &g.node {
        for i in n.input.iter().filter(|s| !s.is_empty()) {
            *readers.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &g.output {
        *readers.entry(o.name.clone()).or_default() += 1;
    }
    // Fold a leading NHWC -> NCHW transpose: the only reader of the input.
    let fold = g
        .node
        .iter()
        .find(|n| n.input.contains(&input.name))
        .filter(|n| {
            n.op_type == "Transpose"
                && readers.get(&input.name) == Some(&1)
                && onnx_shape.len() == 4
                && attr_ints(n, "perm").as_deref() == Some(&[0, 3, 1, 2])
        });
    let input_shape = match fold {
        Some(_) => vec![onnx_shape[0], onnx_shape[3], onnx_shape[1], onnx_shape[2]],
        None => onnx_shape.clone(),
    };
    vals.insert(input.name.clone(), Val::Graph(0));
    let mut m = Mapper {
        graph: Graph::default(),
        shapes: vec![input_shape.clone()],
        vals,
        readers,
        prefix: common_prefix(g),
    };
    for node in &g.node {
        if let Some(f) = fold {
            if std::ptr::eq(node, f) {
                m.vals.insert(node.output[0].clone(), Val::Graph(0));
                continue;
            }
        }
        let val = m
            .map_node(node, opset)
            .with_context(|| format!("ONNX node `{}` ({})", m.node_name(node), node.op_type))?;
        if let (Some(v), Some(out)) = (val, node.output.first()) {
            m.vals.insert(out.clone(), v);
        }
    }
    let mut outputs = Vec::new();
    let mut output_names = Vec::new();
    for o in &g.output {
        outputs.push(
            m.value(&o.name)
                .with_context(|| format!("graph output `{}`", o.name))?,
        );
        output_names.push(o.name.clone());
    }
    m.graph.outputs = outputs;
    let shapes =
        infer_shapes(&m.graph, &input_shape).context("the imported graph is inconsistent")?;
    Ok(Imported {
        graph: m.graph,
        input_shape,
        onnx_input: (input.name.clone(), onnx_shape),
        folded_nhwc_input: fold.is_some(),
        output_names,
        shapes,
    })
}

/// Helpers to build small ONNX graphs by hand (tests).
pub mod build {
    use super::*;

    pub fn float_tensor(name: &str, shape: &[usize], data: Vec<f32>) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: data,
            ..Default::default()
        }
    }

    pub fn int64_tensor(name: &str, data: Vec<i64>) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: data,
            ..Default::default()
        }
    }

    pub fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    pub fn int(name: &str, v: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: v,
            ..Default::default()
        }
    }

    pub fn node(
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<pb::AttributeProto>,
    ) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    pub fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: shape
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(Value::DimValue(d as i64)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A model of `nodes` with one input, initializers and outputs, opset 12.
    pub fn model(
        input: pb::ValueInfoProto,
        initializers: Vec<pb::TensorProto>,
        nodes: Vec<pb::NodeProto>,
        outputs: Vec<pb::ValueInfoProto>,
    ) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 12,
            }],
            graph: Some(pb::GraphProto {
                name: "test".into(),
                node: nodes,
                initializer: initializers,
                input: vec![input],
                output: outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
