//! Structural validation and shape inference of a layer graph.

use alloc::vec;
use alloc::vec::Vec;

use super::graph::{Bias, Graph, Op, Pool2d, Tensor, Weights};
use super::FormatError;

/// Largest number of values in any tensor or activation (2^28).
const MAX_ELEMENTS: u64 = 1 << 28;

type Shape = Vec<u32>;

fn shape_err(node: usize, reason: &'static str) -> FormatError {
    FormatError::InconsistentShapes {
        node: Some(node as u32),
        reason,
    }
}

fn graph_err(node: usize, reason: &'static str) -> FormatError {
    FormatError::InvalidGraph {
        node: Some(node as u32),
        reason,
    }
}

fn elements(shape: &[u32]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| {
        acc.checked_mul(d as u64).filter(|&n| n <= MAX_ELEMENTS)
    })
}

fn check_tensor(node: usize, t: &Tensor) -> Result<(), FormatError> {
    let n = elements(&t.shape).ok_or(shape_err(node, "weight tensor is too large"))?;
    if n != t.values.len() as u64 {
        return Err(shape_err(
            node,
            "weight tensor holds a different number of values than its shape",
        ));
    }
    match &t.values {
        Weights::F32(v) if v.iter().any(|x| !x.is_finite()) => {
            Err(shape_err(node, "weight tensor holds a non-finite value"))
        }
        Weights::I8 { quant, .. } if !quant.is_valid() => Err(shape_err(
            node,
            "weight quantisation scale must be finite and positive",
        )),
        _ => Ok(()),
    }
}

fn check_bias(node: usize, bias: &Option<Bias>, out: u32, int8: bool) -> Result<(), FormatError> {
    match bias {
        None => Ok(()),
        Some(b) if b.len() as u64 != out as u64 => Err(shape_err(
            node,
            "bias length differs from the output channels",
        )),
        Some(Bias::I32(_)) if !int8 => Err(graph_err(node, "i32 bias on a layer with f32 weights")),
        Some(Bias::F32(v)) if v.iter().any(|x| !x.is_finite()) => {
            Err(shape_err(node, "bias holds a non-finite value"))
        }
        Some(_) => Ok(()),
    }
}

fn check_quant(node: usize, g: &Graph, input_quant: bool, int8: bool) -> Result<(), FormatError> {
    if int8 {
        let out_ok = g.nodes[node].output_quant.is_some_and(|q| q.is_valid());
        if !input_quant || !out_ok {
            return Err(graph_err(
                node,
                "int8 layer lacks calibrated input or output quantisation parameters",
            ));
        }
    }
    Ok(())
}

fn window_out(
    len: u32,
    pad: u32,
    k: u32,
    stride: u32,
    dil: u32,
    node: usize,
) -> Result<u32, FormatError> {
    if k == 0 || stride == 0 || dil == 0 {
        return Err(shape_err(
            node,
            "kernel, stride and dilation must be at least 1",
        ));
    }
    let eff = (k as u64 - 1) * dil as u64 + 1;
    let padded = len as u64 + pad as u64;
    if padded < eff {
        return Err(shape_err(node, "kernel is larger than the padded input"));
    }
    Ok(((padded - eff) / stride as u64 + 1) as u32)
}

fn pool_shape(node: usize, x: &Shape, p: &Pool2d) -> Result<Shape, FormatError> {
    if x.len() != 4 {
        return Err(shape_err(node, "pooling needs an NCHW input"));
    }
    // Every window must hold at least one input cell (padding cells are ignored).
    let [kh, kw] = p.kernel;
    if kh > 0
        && kw > 0
        && (p.padding[0] >= kh || p.padding[2] >= kh || p.padding[1] >= kw || p.padding[3] >= kw)
    {
        return Err(shape_err(
            node,
            "pooling padding must be smaller than the kernel",
        ));
    }
    let h = window_out(
        x[2],
        p.padding[0] as u32 + p.padding[2] as u32,
        p.kernel[0] as u32,
        p.stride[0] as u32,
        1,
        node,
    )?;
    let w = window_out(
        x[3],
        p.padding[1] as u32 + p.padding[3] as u32,
        p.kernel[1] as u32,
        p.stride[1] as u32,
        1,
        node,
    )?;
    Ok(vec![x[0], x[1], h, w])
}

fn node_shape(g: &Graph, i: usize, ins: &[&Shape]) -> Result<Shape, FormatError> {
    let node = &g.nodes[i];
    let arity = |n: usize| {
        if ins.len() == n {
            Ok(())
        } else {
            Err(graph_err(i, "wrong number of inputs for this operation"))
        }
    };
    match &node.op {
        Op::Conv2d(c) => {
            arity(1)?;
            let x = ins[0];
            check_tensor(i, &c.weight)?;
            if x.len() != 4 || c.weight.shape.len() != 4 {
                return Err(shape_err(
                    i,
                    "conv2d needs an NCHW input and an OIHW weight",
                ));
            }
            let [o, ig, kh, kw] = [
                c.weight.shape[0],
                c.weight.shape[1],
                c.weight.shape[2],
                c.weight.shape[3],
            ];
            if c.groups == 0
                || !x[1].is_multiple_of(c.groups)
                || !o.is_multiple_of(c.groups)
                || ig.checked_mul(c.groups) != Some(x[1])
            {
                return Err(shape_err(
                    i,
                    "conv2d input channels do not match weight and groups",
                ));
            }
            let int8 = c.weight.values.is_int8();
            check_bias(i, &c.bias, o, int8)?;
            check_quant(i, g, c.input_quant.is_some_and(|q| q.is_valid()), int8)?;
            let h = window_out(
                x[2],
                c.padding[0] as u32 + c.padding[2] as u32,
                kh,
                c.stride[0] as u32,
                c.dilation[0] as u32,
                i,
            )?;
            let w = window_out(
                x[3],
                c.padding[1] as u32 + c.padding[3] as u32,
                kw,
                c.stride[1] as u32,
                c.dilation[1] as u32,
                i,
            )?;
            Ok(vec![x[0], o, h, w])
        }
        Op::Dense(d) => {
            arity(1)?;
            let x = ins[0];
            check_tensor(i, &d.weight)?;
            if x.len() != 2 || d.weight.shape.len() != 2 || d.weight.shape[1] != x[1] {
                return Err(shape_err(
                    i,
                    "dense needs a [n, in] input and an [out, in] weight",
                ));
            }
            let int8 = d.weight.values.is_int8();
            check_bias(i, &d.bias, d.weight.shape[0], int8)?;
            check_quant(i, g, d.input_quant.is_some_and(|q| q.is_valid()), int8)?;
            Ok(vec![x[0], d.weight.shape[0]])
        }
        Op::Add | Op::Mul => {
            arity(2)?;
            if ins[0] != ins[1] {
                return Err(shape_err(i, "elementwise inputs have different shapes"));
            }
            Ok(ins[0].clone())
        }
        Op::Relu | Op::Relu6 | Op::Sigmoid => {
            arity(1)?;
            Ok(ins[0].clone())
        }
        Op::PRelu { slope } => {
            arity(1)?;
            let x = ins[0];
            if x.len() < 2
                || slope.len() as u64 != x[1] as u64
                || slope.iter().any(|s| !s.is_finite())
            {
                return Err(shape_err(i, "prelu needs one finite slope per channel"));
            }
            Ok(x.clone())
        }
        Op::MaxPool(p) | Op::AvgPool(p) => {
            arity(1)?;
            pool_shape(i, ins[0], p)
        }
        Op::GlobalAvgPool => {
            arity(1)?;
            let x = ins[0];
            if x.len() != 4 {
                return Err(shape_err(i, "global pooling needs an NCHW input"));
            }
            Ok(vec![x[0], x[1], 1, 1])
        }
        Op::PadChannels { before, after } => {
            arity(1)?;
            let x = ins[0];
            let c = x
                .get(1)
                .and_then(|c| c.checked_add(*before))
                .and_then(|c| c.checked_add(*after));
            match (x.len(), c) {
                (4, Some(c)) => Ok(vec![x[0], c, x[2], x[3]]),
                _ => Err(shape_err(i, "channel padding needs an NCHW input")),
            }
        }
        Op::Concat { axis } => {
            if ins.is_empty() {
                return Err(graph_err(i, "concat needs at least one input"));
            }
            let a = *axis as usize;
            let first = ins[0];
            if a >= first.len() {
                return Err(shape_err(i, "concat axis out of range"));
            }
            let mut out = first.clone();
            for s in &ins[1..] {
                if s.len() != first.len()
                    || s.iter()
                        .zip(first.iter())
                        .enumerate()
                        .any(|(d, (x, y))| d != a && x != y)
                {
                    return Err(shape_err(i, "concat inputs differ outside the concat axis"));
                }
                out[a] = out[a]
                    .checked_add(s[a])
                    .ok_or(shape_err(i, "concat result is too large"))?;
            }
            Ok(out)
        }
        Op::Reshape { shape } => {
            arity(1)?;
            if shape.is_empty() || elements(shape) != elements(ins[0]) {
                return Err(shape_err(i, "reshape changes the number of values"));
            }
            Ok(shape.clone())
        }
        Op::Flatten => {
            arity(1)?;
            let x = ins[0];
            if x.is_empty() {
                return Err(shape_err(i, "flatten needs a batch dimension"));
            }
            let rest = elements(&x[1..]).ok_or(shape_err(i, "flatten result is too large"))?;
            Ok(vec![x[0], rest as u32])
        }
        Op::Transpose { perm } => {
            arity(1)?;
            let x = ins[0];
            let mut seen = [false; 8];
            if perm.len() != x.len() || perm.len() > 8 {
                return Err(shape_err(i, "transpose permutation has the wrong rank"));
            }
            for &p in perm {
                let p = p as usize;
                if p >= perm.len() || seen[p] {
                    return Err(shape_err(i, "transpose permutation is not a permutation"));
                }
                seen[p] = true;
            }
            Ok(perm.iter().map(|&p| x[p as usize]).collect())
        }
        Op::Softmax { axis } => {
            arity(1)?;
            if *axis as usize >= ins[0].len() {
                return Err(shape_err(i, "softmax axis out of range"));
            }
            Ok(ins[0].clone())
        }
    }
}

/// Validates the graph and returns the shape of every value (index =
/// [`super::ValueId`]), starting from `input_shape`.
pub fn infer_shapes(graph: &Graph, input_shape: &[u32]) -> Result<Vec<Vec<u32>>, FormatError> {
    if elements(input_shape).is_none() {
        return Err(FormatError::InconsistentShapes {
            node: None,
            reason: "input shape is too large",
        });
    }
    let mut shapes: Vec<Shape> = Vec::with_capacity(graph.nodes.len() + 1);
    shapes.push(input_shape.to_vec());
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.output_quant.is_some_and(|q| !q.is_valid()) {
            return Err(graph_err(
                i,
                "output quantisation scale must be finite and positive",
            ));
        }
        let mut ins: Vec<&Shape> = Vec::with_capacity(node.inputs.len());
        for &v in &node.inputs {
            let s = shapes
                .get(v as usize)
                .ok_or(graph_err(i, "reads a value that is not produced before it"))?;
            ins.push(s);
        }
        let out = node_shape(graph, i, &ins)?;
        if elements(&out).is_none() || out.contains(&0) {
            return Err(shape_err(i, "output is empty or too large"));
        }
        shapes.push(out);
    }
    if graph.outputs.is_empty() {
        return Err(FormatError::InvalidGraph {
            node: None,
            reason: "graph has no output",
        });
    }
    if graph.outputs.iter().any(|&o| o as usize >= shapes.len()) {
        return Err(FormatError::InvalidGraph {
            node: None,
            reason: "an output names a value that does not exist",
        });
    }
    Ok(shapes)
}
