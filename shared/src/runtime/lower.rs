//! Lowering of a model file's graph to a tract-core `TypedModel`.
//!
//! Every value of the file's graph becomes a tract wire that is either f32
//! or int8 on a known grid ([`QuantParams`]). int8 conv and dense layers
//! read and write int8. They run on tract's quantised `Conv` and `EinSum`,
//! except grouped (depthwise) convs, for which tract has no int8 kernel:
//! when their integer accumulator fits f32 exactly, tract's f32 depthwise
//! kernel computes it on the centred integers `x - x_zp`, `w - w_zp` and
//! `QuantizeLinearI8` requantises it (see [`f32_is_exact`]). Ops that
//! keep values on their grid (reshape, flatten, transpose, max pooling,
//! ReLU, channel padding, concatenation of one grid) stay in int8; every
//! other op reads f32, dequantising int8 inputs once. A value is
//! quantised (clamped, then `QuantizeLinearI8`) where an int8 layer reads
//! it on another grid than its own. All int8 constants come from
//! [`crate::reference::qmath`], so the result matches the reference
//! interpreter.

use tract_core::internal::*;
use tract_core::ops;
use tract_core::ops::array::{Pad, PadMode, TypedConcat};
use tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec, SumPool};
use tract_core::ops::einsum::EinSum;
use tract_core::ops::nn::{DataFormat, Reduce, Reducer, Softmax, SoftmaxKind};
use tract_core::ops::quant::{quantize_linear_i8, DequantizeLinearF32};

use crate::format::{
    Activation, Bias, Conv2d, Dense, ModelFile, Node, Op, Pool2d, QuantParams, Weights,
};
use crate::reference::qmath::{self, Int8Layer};

/// One value of the file's graph in the tract graph.
#[derive(Clone, Copy, Debug)]
enum Wire {
    F32(OutletId),
    I8(OutletId, QuantParams),
}

/// The tract graph of a model, before optimisation.
pub(super) struct Lowered {
    pub model: TypedModel,
    /// Number of int8 layers (int8 arithmetic, whichever kernels run it).
    pub int8_layers: usize,
    /// How many of them run on tract's quantised `Conv` / `EinSum`.
    pub int8_kernels: usize,
}

/// A lowering failure: the node it happened at (`None` for the outputs) and why.
pub(super) struct LowerError {
    pub node: Option<usize>,
    pub error: TractError,
}

struct Lower {
    tm: TypedModel,
    shapes: Vec<Vec<u32>>,
    wires: Vec<Wire>,
    /// Dequantised view of int8 values, built once on first use.
    dequantized: Vec<Option<OutletId>>,
    node: usize,
    names: usize,
    int8_layers: usize,
    /// Whether int8 layers may take the exact f32 path (tests turn it off
    /// to exercise tract's int8 kernels on every layer).
    exact_f32: bool,
    /// int8 layers that took tract's int8 kernels.
    int8_kernels: usize,
}

pub(super) fn lower(
    file: &ModelFile,
    shapes: Vec<Vec<u32>>,
    exact_f32: bool,
) -> Result<Lowered, LowerError> {
    let mut l = Lower {
        exact_f32,
        int8_kernels: 0,
        tm: TypedModel::default(),
        wires: Vec::with_capacity(shapes.len()),
        dequantized: vec![None; shapes.len()],
        shapes,
        node: 0,
        names: 0,
        int8_layers: 0,
    };
    let err = |node| move |error| LowerError { node, error };
    let input_shape: Vec<usize> = l.shapes[0].iter().map(|&d| d as usize).collect();
    let source =
        l.tm.add_source("input", f32::fact(&input_shape))
            .map_err(err(None))?;
    l.wires.push(Wire::F32(source));
    for (i, node) in file.graph.nodes.iter().enumerate() {
        l.node = i;
        let w = l.lower_node(node).map_err(err(Some(i)))?;
        l.wires.push(w);
    }
    let mut outputs = Vec::with_capacity(file.graph.outputs.len());
    for &o in &file.graph.outputs {
        outputs.push(l.f32_of(o as usize).map_err(err(None))?);
    }
    l.tm.select_output_outlets(&outputs).map_err(err(None))?;
    Ok(Lowered {
        model: l.tm,
        int8_layers: l.int8_layers,
        int8_kernels: l.int8_kernels,
    })
}

/// Largest magnitude f32 holds every integer up to.
const F32_EXACT: i64 = 1 << 24;

/// True when an int8 layer's accumulator can be computed exactly with f32
/// arithmetic: for every output channel, `|bias| + 255 * sum|w - w_zp|`
/// (a bound of every partial sum, as `|x - x_zp| <= 255`) stays below
/// 2^24. tract's f32 kernels then compute the same accumulator as its int8
/// kernels; for grouped convs ten times faster (tract's int8 conv runs
/// one im2col and matmul per group, with unfused requantisation).
fn f32_is_exact(l: &Int8Layer, w: &[i8], out: usize) -> bool {
    let w0 = l.weight.zero_point as i64;
    let per_channel = w.len() / out.max(1);
    w.chunks(per_channel.max(1)).zip(&l.bias).all(|(ws, &b)| {
        let sum: i64 = ws.iter().map(|&q| (q as i64 - w0).abs()).sum();
        (b as i64).abs() + 255 * sum < F32_EXACT
    })
}

fn scalar_rank<T: Datum>(v: T, rank: usize) -> TractResult<Tensor> {
    tensor0(v).broadcast_into_rank(rank)
}

impl Lower {
    fn name(&mut self, what: &str) -> String {
        self.names += 1;
        format!("n{}.{}.{}", self.node, what, self.names)
    }

    fn wire(
        &mut self,
        what: &str,
        op: impl Into<Box<dyn TypedOp>>,
        inputs: &[OutletId],
    ) -> TractResult<OutletId> {
        let name = self.name(what);
        Ok(self.tm.wire_node(name, op, inputs)?[0])
    }

    fn konst(&mut self, what: &str, t: Tensor) -> TractResult<OutletId> {
        let name = self.name(what);
        self.tm.add_const(name, t)
    }

    fn rank(&self, v: usize) -> usize {
        self.shapes[v].len()
    }

    /// Binary op of `x` with a constant.
    fn with_const(
        &mut self,
        what: &str,
        op: ops::binary::TypedBinOp,
        x: OutletId,
        c: Tensor,
    ) -> TractResult<OutletId> {
        let c = self.konst(&format!("{what}.const"), c)?;
        self.wire(what, op, &[x, c])
    }

    /// The f32 view of value `v`.
    fn f32_of(&mut self, v: usize) -> TractResult<OutletId> {
        match self.wires[v] {
            Wire::F32(o) => Ok(o),
            Wire::I8(o, q) => {
                if let Some(d) = self.dequantized[v] {
                    return Ok(d);
                }
                let d = self.wire(
                    "dequantize",
                    DequantizeLinearF32::new(q.scale, q.zero_point as i32),
                    &[o],
                )?;
                self.dequantized[v] = Some(d);
                Ok(d)
            }
        }
    }

    /// Value `v` as int8 on grid `q`.
    fn i8_of(&mut self, v: usize, q: QuantParams) -> TractResult<OutletId> {
        if let Wire::I8(o, p) = self.wires[v] {
            if p == q {
                return Ok(o);
            }
        }
        let x = self.f32_of(v)?;
        let rank = self.rank(v);
        let (lo, hi) = qmath::saturation_bounds(q);
        let x = self.with_const("quantize.lo", ops::math::max(), x, scalar_rank(lo, rank)?)?;
        let x = self.with_const("quantize.hi", ops::math::min(), x, scalar_rank(hi, rank)?)?;
        self.wire(
            "quantize",
            quantize_linear_i8(1.0 / q.scale, q.zero_point),
            &[x],
        )
    }

    fn f32_activation(
        &mut self,
        x: OutletId,
        act: Activation,
        rank: usize,
    ) -> TractResult<OutletId> {
        match act {
            Activation::None => Ok(x),
            Activation::Relu => {
                self.with_const("relu", ops::math::max(), x, scalar_rank(0f32, rank)?)
            }
            Activation::Relu6 => {
                let x =
                    self.with_const("relu6.lo", ops::math::max(), x, scalar_rank(0f32, rank)?)?;
                self.with_const("relu6.hi", ops::math::min(), x, scalar_rank(6f32, rank)?)
            }
        }
    }

    fn i8_clamp(&mut self, x: OutletId, lo: i8, hi: i8, rank: usize) -> TractResult<OutletId> {
        let x = if lo > i8::MIN {
            self.with_const("act.lo", ops::math::max(), x, scalar_rank(lo, rank)?)?
        } else {
            x
        };
        if hi < i8::MAX {
            self.with_const("act.hi", ops::math::min(), x, scalar_rank(hi, rank)?)
        } else {
            Ok(x)
        }
    }

    /// The nine inputs of a quantised `Conv`/`EinSum` after `x` and the kernel.
    fn q_params(&mut self, l: &Int8Layer) -> TractResult<[OutletId; 7]> {
        let bias = self.konst("bias", tensor1(&l.bias))?;
        Ok([
            bias,
            self.konst("x0", tensor0(l.input.zero_point as i32))?,
            self.konst("xs", tensor0(l.input.scale))?,
            self.konst("k0", tensor0(l.weight.zero_point as i32))?,
            self.konst("ks", tensor0(l.weight.scale))?,
            self.konst("y0", tensor0(l.output.zero_point as i32))?,
            self.konst("ys", tensor0(l.output.scale))?,
        ])
    }

    fn int8_layer(
        &self,
        node: &Node,
        weights: &Weights,
        input_quant: Option<QuantParams>,
        bias: Option<&Bias>,
        act: Activation,
        out: usize,
    ) -> TractResult<(Int8Layer, Vec<i8>)> {
        let Weights::I8 { data, quant } = weights else {
            bail!("int8 layer without int8 weights")
        };
        let (Some(iq), Some(oq)) = (input_quant, node.output_quant) else {
            bail!("int8 layer lacks calibrated input or output quantisation parameters")
        };
        Ok((Int8Layer::new(iq, *quant, oq, bias, act, out), data.clone()))
    }

    fn f32_bias(&mut self, bias: Option<&Bias>, shape: &[usize]) -> TractResult<OutletId> {
        let n: usize = shape.iter().product();
        let b = match bias {
            None => vec![0f32; n],
            Some(Bias::F32(b)) => b.clone(),
            Some(Bias::I32(_)) => bail!("i32 bias on a layer with f32 weights"),
        };
        self.konst("bias", Tensor::from_shape(shape, &b)?)
    }

    fn conv(&mut self, node: &Node, c: &Conv2d) -> TractResult<Wire> {
        let v = node.inputs[0] as usize;
        let ws: Vec<usize> = c.weight.shape.iter().map(|&d| d as usize).collect();
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![ws[2], ws[3]],
            padding: PaddingSpec::Explicit(
                tvec![c.padding[0] as usize, c.padding[1] as usize],
                tvec![c.padding[2] as usize, c.padding[3] as usize],
            ),
            dilations: Some(tvec![c.dilation[0] as usize, c.dilation[1] as usize]),
            strides: Some(tvec![c.stride[0] as usize, c.stride[1] as usize]),
            input_channels: self.shapes[v][1] as usize,
            output_channels: ws[0],
        };
        let f32_conv = |pool_spec| Conv {
            pool_spec,
            kernel_fmt: KernelFormat::OIHW,
            group: c.groups as usize,
            q_params: None,
        };
        let Weights::I8 { .. } = &c.weight.values else {
            let Weights::F32(w) = &c.weight.values else {
                unreachable!()
            };
            let x = self.f32_of(v)?;
            let k = self.konst("kernel", Tensor::from_shape(&ws, w)?)?;
            let b = self.f32_bias(c.bias.as_ref(), &[ws[0]])?;
            let y = self.wire("conv", f32_conv(pool_spec), &[x, k, b])?;
            return Ok(Wire::F32(self.f32_activation(y, c.activation, 4)?));
        };
        let (l, w) = self.int8_layer(
            node,
            &c.weight.values,
            c.input_quant,
            c.bias.as_ref(),
            c.activation,
            ws[0],
        )?;
        self.int8_layers += 1;
        let x = self.i8_of(v, l.input)?;
        let y = if self.exact_f32 && c.groups > 1 && f32_is_exact(&l, &w, ws[0]) {
            let (x, k, b) = self.centred_operands(x, &l, &w, &[ws[0]], &ws)?;
            let acc = self.wire("conv_exact", f32_conv(pool_spec), &[x, k, b])?;
            self.requantize_f32_accumulator(acc, &l, 4)?
        } else {
            let k = self.konst("kernel", Tensor::from_shape(&ws, &w)?)?;
            let [b, x0, xs, k0, ks, y0, ys] = self.q_params(&l)?;
            let op = Conv {
                q_params: Some(DatumType::I8),
                ..f32_conv(pool_spec)
            };
            let y = self.wire("qconv", op, &[x, k, b, x0, xs, k0, ks, y0, ys])?;
            self.int8_kernels += 1;
            self.i8_clamp(y, l.act_lo, l.act_hi, 4)?
        };
        Ok(Wire::I8(y, l.output))
    }

    fn dense(&mut self, node: &Node, d: &Dense) -> TractResult<Wire> {
        let v = node.inputs[0] as usize;
        let ws: Vec<usize> = d.weight.shape.iter().map(|&d| d as usize).collect();
        let Weights::I8 { .. } = &d.weight.values else {
            let Weights::F32(w) = &d.weight.values else {
                unreachable!()
            };
            let x = self.f32_of(v)?;
            let k = self.konst("weight", Tensor::from_shape(&ws, w)?)?;
            let y = self.wire(
                "matmul",
                EinSum::new("ik,jk->ij".parse()?, f32::datum_type()),
                &[x, k],
            )?;
            let b = self.f32_bias(d.bias.as_ref(), &[1, ws[0]])?;
            let y = self.wire("bias", ops::math::add(), &[y, b])?;
            return Ok(Wire::F32(self.f32_activation(y, d.activation, 2)?));
        };
        let (l, w) = self.int8_layer(
            node,
            &d.weight.values,
            d.input_quant,
            d.bias.as_ref(),
            d.activation,
            ws[0],
        )?;
        self.int8_layers += 1;
        let x = self.i8_of(v, l.input)?;
        let y = {
            let k = self.konst("weight", Tensor::from_shape(&ws, &w)?)?;
            let [b, x0, xs, k0, ks, y0, ys] = self.q_params(&l)?;
            let op = EinSum::newq(
                "ik,jk,j,,,,,,->ij".parse()?,
                i32::datum_type(),
                DatumType::I8,
            );
            let y = self.wire("qmatmul", op, &[x, k, b, x0, xs, k0, ks, y0, ys])?;
            self.int8_kernels += 1;
            self.i8_clamp(y, l.act_lo, l.act_hi, 2)?
        };
        Ok(Wire::I8(y, l.output))
    }

    /// Operands of the exact f32 path: `x - x_zp` (from int8 `x`),
    /// `w - w_zp` and the i32 bias (of shape `bias_shape`), all as f32.
    fn centred_operands(
        &mut self,
        x: OutletId,
        l: &Int8Layer,
        w: &[i8],
        bias_shape: &[usize],
        weight_shape: &[usize],
    ) -> TractResult<(OutletId, OutletId, OutletId)> {
        let x = self.wire(
            "centre",
            DequantizeLinearF32::new(1.0, l.input.zero_point as i32),
            &[x],
        )?;
        let w0 = l.weight.zero_point as i32;
        let wc: Vec<f32> = w.iter().map(|&q| (q as i32 - w0) as f32).collect();
        let k = self.konst("kernel_centred", Tensor::from_shape(weight_shape, &wc)?)?;
        let b: Vec<f32> = l.bias.iter().map(|&b| b as f32).collect();
        let b = self.konst("bias_centred", Tensor::from_shape(bias_shape, &b)?)?;
        Ok((x, k, b))
    }

    /// Requantises an integer-valued f32 accumulator: clamps it in f32 to
    /// the fused activation (ReLU: `acc >= 0`; ReLU6: `acc <= a6`, with
    /// `a6` the accumulator whose requantised value is `quantize(6)`) and
    /// to bounds far outside the int8 range, then `QuantizeLinearI8` with
    /// the multiplier as scale: `clamp(round_half_even(acc * m) + zp)`.
    /// Requantisation commutes with the clamps (it is monotonic), so this
    /// equals the integer requantisation of [`qmath`] except for the f32
    /// rounding of `acc * m`, which moves a result by one step only when
    /// the exact product lies within 2^-24 (relative) of a rounding tie.
    fn requantize_f32_accumulator(
        &mut self,
        acc: OutletId,
        l: &Int8Layer,
        rank: usize,
    ) -> TractResult<OutletId> {
        let m = l.multiplier;
        let zp = l.output.zero_point as f32;
        let mut lo = (-130.0 - zp) / m;
        let mut hi = (129.0 - zp) / m;
        if l.act_lo > i8::MIN {
            lo = lo.max((l.act_lo as f32 - zp) / m);
        }
        if l.act_hi < i8::MAX {
            hi = hi.min((l.act_hi as f32 - zp) / m);
        }
        let acc = self.with_const("lo", ops::math::max(), acc, scalar_rank(lo, rank)?)?;
        let acc = self.with_const("hi", ops::math::min(), acc, scalar_rank(hi, rank)?)?;
        self.wire(
            "requantize",
            quantize_linear_i8(m, l.output.zero_point),
            &[acc],
        )
    }

    fn pool_spec(&self, v: usize, p: &Pool2d) -> PoolSpec {
        let c = self.shapes[v][1] as usize;
        PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![p.kernel[0] as usize, p.kernel[1] as usize],
            padding: PaddingSpec::Explicit(
                tvec![p.padding[0] as usize, p.padding[1] as usize],
                tvec![p.padding[2] as usize, p.padding[3] as usize],
            ),
            dilations: None,
            strides: Some(tvec![p.stride[0] as usize, p.stride[1] as usize]),
            input_channels: c,
            output_channels: c,
        }
    }

    /// Applies a grid-preserving op to value `v` in its own domain.
    fn same_domain(
        &mut self,
        v: usize,
        what: &str,
        op: impl Into<Box<dyn TypedOp>>,
    ) -> TractResult<Wire> {
        Ok(match self.wires[v] {
            Wire::F32(o) => Wire::F32(self.wire(what, op, &[o])?),
            Wire::I8(o, q) => Wire::I8(self.wire(what, op, &[o])?, q),
        })
    }

    fn lower_node(&mut self, node: &Node) -> TractResult<Wire> {
        let v = node.inputs.first().map_or(0, |&v| v as usize);
        let rank = self.rank(v);
        let f32_unary = |l: &mut Self, what: &str, op: Box<dyn TypedOp>| -> TractResult<Wire> {
            let x = l.f32_of(v)?;
            Ok(Wire::F32(l.wire(what, op, &[x])?))
        };
        match &node.op {
            Op::Conv2d(c) => self.conv(node, c),
            Op::Dense(d) => self.dense(node, d),
            Op::Add | Op::Mul => {
                let a = self.f32_of(v)?;
                let b = self.f32_of(node.inputs[1] as usize)?;
                let op = if matches!(node.op, Op::Add) {
                    ops::math::add()
                } else {
                    ops::math::mul()
                };
                Ok(Wire::F32(self.wire("binary", op, &[a, b])?))
            }
            Op::Relu => match self.wires[v] {
                Wire::I8(o, q) => Ok(Wire::I8(self.i8_clamp(o, q.zero_point, i8::MAX, rank)?, q)),
                Wire::F32(o) => Ok(Wire::F32(self.f32_activation(o, Activation::Relu, rank)?)),
            },
            Op::Relu6 => {
                let x = self.f32_of(v)?;
                Ok(Wire::F32(self.f32_activation(
                    x,
                    Activation::Relu6,
                    rank,
                )?))
            }
            Op::PRelu { slope } => {
                let x = self.f32_of(v)?;
                let mut shape = vec![1usize; rank];
                shape[1] = slope.len();
                let pos =
                    self.with_const("prelu.pos", ops::math::max(), x, scalar_rank(0f32, rank)?)?;
                let neg =
                    self.with_const("prelu.neg", ops::math::min(), x, scalar_rank(0f32, rank)?)?;
                let neg = self.with_const(
                    "prelu.slope",
                    ops::math::mul(),
                    neg,
                    Tensor::from_shape(&shape, slope)?,
                )?;
                Ok(Wire::F32(self.wire(
                    "prelu",
                    ops::math::add(),
                    &[pos, neg],
                )?))
            }
            Op::MaxPool(p) => {
                let op = MaxPool {
                    pool_spec: self.pool_spec(v, p),
                    with_index_outputs: None,
                };
                self.same_domain(v, "max_pool", op)
            }
            Op::AvgPool(p) => {
                let op = SumPool {
                    pool_spec: self.pool_spec(v, p),
                    count_include_pad: false,
                    normalize: true,
                };
                f32_unary(self, "avg_pool", Box::new(op))
            }
            Op::GlobalAvgPool => {
                let plane = self.shapes[v][2] as f32 * self.shapes[v][3] as f32;
                let s = f32_unary(
                    self,
                    "gap.sum",
                    Box::new(Reduce::new(tvec![2, 3], Reducer::Sum)),
                )?;
                let Wire::F32(s) = s else { unreachable!() };
                Ok(Wire::F32(self.with_const(
                    "gap.mean",
                    ops::math::mul(),
                    s,
                    scalar_rank(1.0 / plane, 4)?,
                )?))
            }
            Op::PadChannels { before, after } => {
                let pads = vec![(0, 0), (*before as usize, *after as usize), (0, 0), (0, 0)];
                let value = match self.wires[v] {
                    Wire::I8(_, q) => tensor0(q.zero_point),
                    Wire::F32(_) => tensor0(0f32),
                };
                self.same_domain(
                    v,
                    "pad_channels",
                    Pad::new(pads, PadMode::Constant(Arc::new(value))),
                )
            }
            Op::Concat { axis } => {
                let op = TypedConcat {
                    axis: *axis as usize,
                };
                let grids: Vec<Option<QuantParams>> = node
                    .inputs
                    .iter()
                    .map(|&i| match self.wires[i as usize] {
                        Wire::I8(_, q) => Some(q),
                        Wire::F32(_) => None,
                    })
                    .collect();
                let common = grids[0].filter(|q| grids.iter().all(|g| *g == Some(*q)));
                if let Some(q) = common {
                    let ins: Vec<OutletId> = node
                        .inputs
                        .iter()
                        .map(|&i| self.i8_of(i as usize, q))
                        .collect::<TractResult<_>>()?;
                    Ok(Wire::I8(self.wire("concat", op, &ins)?, q))
                } else {
                    let ins: Vec<OutletId> = node
                        .inputs
                        .iter()
                        .map(|&i| self.f32_of(i as usize))
                        .collect::<TractResult<_>>()?;
                    Ok(Wire::F32(self.wire("concat", op, &ins)?))
                }
            }
            Op::Reshape { .. } | Op::Flatten => {
                let out = self.node + 1;
                if self.shapes[v] == self.shapes[out] {
                    return Ok(self.wires[v]);
                }
                let from: TVec<TDim> = self.shapes[v]
                    .iter()
                    .map(|&d| (d as usize).to_dim())
                    .collect();
                let to: TVec<TDim> = self.shapes[out]
                    .iter()
                    .map(|&d| (d as usize).to_dim())
                    .collect();
                self.same_domain(v, "reshape", AxisOp::Reshape(0, from, to))
            }
            Op::Transpose { perm } => {
                let mut current: Vec<usize> = (0..rank).collect();
                let mut w = self.wires[v];
                for (target, &axis) in perm.iter().enumerate() {
                    let at = current
                        .iter()
                        .position(|&a| a == axis as usize)
                        .context("bad permutation")?;
                    if at != target {
                        let moved = current.remove(at);
                        current.insert(target, moved);
                        w = match w {
                            Wire::F32(o) => {
                                Wire::F32(self.wire("transpose", AxisOp::Move(at, target), &[o])?)
                            }
                            Wire::I8(o, q) => {
                                Wire::I8(self.wire("transpose", AxisOp::Move(at, target), &[o])?, q)
                            }
                        };
                    }
                }
                Ok(w)
            }
            Op::Softmax { axis } => {
                let op = Softmax {
                    axes: tvec![*axis as usize],
                    quant_output_dt: None,
                    kind: SoftmaxKind::Softmax,
                };
                f32_unary(self, "softmax", Box::new(op))
            }
            Op::Sigmoid => f32_unary(self, "sigmoid", Box::new(ops::nn::sigmoid())),
        }
    }
}
