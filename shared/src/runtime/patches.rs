//! Patch packing for tract's int8 convolutions, four patch rows at a time.
//!
//! tract 0.23.9 runs an int8 convolution as an `Im2Col` op, which packs the
//! input patches for the matrix kernel, followed by the matrix product. On
//! x86-64 with AVX-512 VNNI (and on arm64 with dot products) the kernel
//! reads its patches in the K=4-inner `PackedI8K4` layout: panels of `r`
//! output positions, each holding four consecutive K values per position.
//! tract's `Im2Col` fills that layout one byte at a time in K-outer order,
//! with a bookkeeping step per byte whenever a row of output positions
//! crosses a panel (a row of 48 or 24 outputs always does with `r = 16`).
//! For the face model that packing took 68 % of an inference (`perf`,
//! Xeon with AVX-512 VNNI), more than the matrix products.
//!
//! [`PackPatchesI8`] writes the same bytes another way: it gathers the
//! patch rows of four consecutive K values into contiguous buffers (plain
//! copies for stride-1 rows), then interleaves them into each panel as
//! four-byte groups. [`replace_im2col`] swaps it in for every such `Im2Col`
//! of an optimised model whose shapes are concrete and whose data is
//! channels-first int8; any other `Im2Col` is left as it is. The tests
//! check byte equality with tract's op over padding, strides, dilations,
//! groups, K not a multiple of four and partial panels.

use tract_core::internal::tract_linalg::mmm::{
    EagerPackedInput, MMMInputValue, PackedExoticFact, PackedMatrixStorage,
};
use tract_core::internal::tract_linalg::pack::PackedI8K4;
use tract_core::internal::*;
use tract_core::ops::cnn::conv::Im2Col;
use tract_core::ops::nn::DataFormat;

/// Where a conv reads its input, for one spatial axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Axis {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
}

impl Axis {
    /// Extent of the padded input the patches read: positions
    /// `o * stride + t * dilation` for outputs `o` and taps `t`.
    fn padded_len(&self) -> usize {
        match self.output {
            0 => 0,
            o => (o - 1) * self.stride + (self.kernel - 1) * self.dilation + 1,
        }
    }
}

/// Packs int8 NCHW conv patches into tract's `PackedI8K4` layout; a
/// drop-in replacement of tract's `Im2Col` for that case (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PackPatchesI8 {
    /// The op it replaces, whose output facts it keeps.
    im2col: Im2Col,
    format: PackedI8K4,
    batch: usize,
    channels: usize,
    group: usize,
    y: Axis,
    x: Axis,
    /// K: input channels per group times kernel taps.
    k: usize,
}

impl PackPatchesI8 {
    /// The replacement of `im2col` reading `input` (`[N, C, H, W]`, int8,
    /// concrete) and writing `output`, if this is the case it handles.
    pub(super) fn for_node(im2col: &Im2Col, input: &TypedFact, output: &TypedFact) -> Option<Self> {
        let spec = &im2col.pool_spec;
        if input.datum_type != i8::datum_type()
            || spec.data_format != DataFormat::NCHW
            || spec.kernel_shape.len() != 2
        {
            return None;
        }
        let shape = input.shape.as_concrete()?;
        let &[batch, channels, h, w] = shape else {
            return None;
        };
        let packed = output.exotic_fact()?.downcast_ref::<PackedExoticFact>()?;
        let format = packed.format.downcast_ref::<PackedI8K4>()?.clone();
        let group = im2col.group;
        if group == 0 || channels % group != 0 || format.r == 0 {
            return None;
        }
        let out_shape = spec.output_shape(shape).ok()?;
        let &[oh, ow] = out_shape.hw_dims() else {
            return None;
        };
        let padding = spec.computed_padding(&[h, w]);
        let (strides, dilations) = (spec.strides(), spec.dilations());
        let axis = |i: usize, input: usize, output: usize| Axis {
            input,
            output,
            kernel: spec.kernel_shape[i],
            stride: strides[i],
            dilation: dilations[i],
            pad_before: padding[i].pad_before,
        };
        let k = channels / group * spec.kernel_shape.iter().product::<usize>();
        let positive = |v: &[usize]| v.iter().all(|&d| d > 0);
        if !positive(&spec.kernel_shape) || !positive(&strides) || !positive(&dilations) {
            return None;
        }
        if k != packed.k || packed.mn.to_usize().ok()? != oh * ow {
            return None;
        }
        Some(PackPatchesI8 {
            im2col: im2col.clone(),
            format,
            batch,
            channels,
            group,
            y: axis(0, h, oh),
            x: axis(1, w, ow),
            k,
        })
    }

    /// The channel planes of batch `b`, group `g`, padded with `pad` to
    /// the extent the patches read, into `buf` (`[C/G, padded H, padded W]`).
    fn pad_planes(&self, input: &[i8], pad: i8, (b, g): (usize, usize), buf: &mut Vec<i8>) {
        let (ph, pw) = (self.y.padded_len(), self.x.padded_len());
        let (h, w) = (self.y.input, self.x.input);
        let per_group = self.channels / self.group;
        buf.clear();
        buf.resize(per_group * ph * pw, pad);
        // Padded columns x0..x1 hold input columns 0..x1 - x0.
        let x0 = self.x.pad_before.min(pw);
        let x1 = (self.x.pad_before + w).min(pw);
        for (c, out) in buf.chunks_exact_mut(ph * pw).enumerate() {
            let plane = &input[(b * self.channels + g * per_group + c) * h * w..][..h * w];
            for (py, out) in out.chunks_exact_mut(pw).enumerate() {
                if let Some(iy) = py.checked_sub(self.y.pad_before).filter(|&iy| iy < h) {
                    out[x0..x1].copy_from_slice(&plane[iy * w..][..x1 - x0]);
                }
            }
        }
    }

    /// The packed patches of batch `b`, group `g`; `padded` is scratch.
    fn pack(
        &self,
        input: &[i8],
        pad: i8,
        (b, g): (usize, usize),
        padded: &mut Vec<i8>,
    ) -> EagerPackedInput {
        let (oh, ow) = (self.y.output, self.x.output);
        let n = oh * ow;
        let r = self.format.r;
        let panel_len = self.format.single_panel_len(self.k);
        let panels = n.div_ceil(r);
        // SAFETY: every byte is written before the blob is read: below,
        // every (panel, K block) of every output position, K padding
        // included, and here the unused positions of a partial last panel,
        // which the kernel computes on.
        let mut blob =
            unsafe { Blob::new_for_size_and_align(panels * panel_len, self.format.alignment()) };
        let dst = blob.as_bytes_mut();
        if n % r != 0 {
            dst[(panels - 1) * panel_len..].fill(0);
        }
        if n > 0 {
            self.pad_planes(input, pad, (b, g), padded);
            let (ph, pw) = (self.y.padded_len(), self.x.padded_len());
            let taps = self.y.kernel * self.x.kernel;
            let row_len = (ow - 1) * self.x.stride + 1;
            let zeros = vec![0i8; row_len];
            for kb in 0..self.k.div_ceil(4) {
                // Where K value `kb * 4 + i` reads for the first output
                // position (`None`: K padding, zeros).
                let origins: [Option<usize>; 4] = std::array::from_fn(|i| {
                    let kk = kb * 4 + i;
                    (kk < self.k).then(|| {
                        let (c, t) = (kk / taps, kk % taps);
                        let (ty, tx) = (t / self.x.kernel, t % self.x.kernel);
                        (c * ph + ty * self.y.dilation) * pw + tx * self.x.dilation
                    })
                });
                for oy in 0..oh {
                    let rows = origins.map(|o| match o {
                        Some(o) => &padded[o + oy * self.y.stride * pw..][..row_len],
                        None => &zeros[..],
                    });
                    let mut ox = 0;
                    while ox < ow {
                        let mn = oy * ow + ox;
                        let (p, lane) = (mn / r, mn % r);
                        let len = (r - lane).min(ow - ox);
                        let out = &mut dst[p * panel_len + (kb * r + lane) * 4..][..len * 4];
                        interleave(out, &rows, ox, self.x.stride);
                        ox += len;
                    }
                }
            }
        }
        EagerPackedInput {
            fact: PackedExoticFact {
                format: Box::new(self.format.clone()),
                mn: n.to_dim(),
                k: self.k,
            },
            packed: Arc::new(blob),
            panel_bytes: if n > 0 { panel_len } else { 0 },
            mn: n,
        }
    }
}

/// Writes output positions `from..` (as many as `out` holds four-byte
/// groups for) of four patch rows, each group holding the four rows' values
/// at one position; positions are `stride` apart in the rows.
fn interleave(out: &mut [u8], rows: &[&[i8]; 4], from: usize, stride: usize) {
    let len = out.len() / 4;
    if stride == 1 {
        let [a, b, c, d] = rows.map(|r| &r[from..from + len]);
        for ((((q, &a), &b), &c), &d) in out.chunks_exact_mut(4).zip(a).zip(b).zip(c).zip(d) {
            q.copy_from_slice(&[a as u8, b as u8, c as u8, d as u8]);
        }
    } else {
        for (i, q) in out.chunks_exact_mut(4).enumerate() {
            let j = (from + i) * stride;
            q.copy_from_slice(&rows.map(|r| r[j] as u8));
        }
    }
}

impl Op for PackPatchesI8 {
    fn name(&self) -> StaticName {
        "PackPatchesI8".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "groups:{} k:{} {}",
            self.group, self.k, self.format
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackPatchesI8 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let expected = [self.batch, self.channels, self.y.input, self.x.input];
        ensure!(
            inputs[0].shape() == expected,
            "PackPatchesI8 built for input {expected:?}, given {:?}",
            inputs[0].shape()
        );
        let input = inputs[0].try_as_plain_ram()?.as_slice::<i8>()?;
        let pad = match inputs.get(1) {
            Some(p) => p.cast_to_scalar::<i8>()?,
            None => 0,
        };
        let mut values: TVec<Box<dyn MMMInputValue>> = TVec::with_capacity(self.batch * self.group);
        let mut padded = Vec::new();
        for b in 0..self.batch {
            for g in 0..self.group {
                values.push(Box::new(self.pack(input, pad, (b, g), &mut padded)));
            }
        }
        let out = PackedMatrixStorage::new_batched(&[self.batch, self.group], values)
            .into_tensor(i8::datum_type());
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for PackPatchesI8 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.im2col.output_facts(inputs)
    }

    as_op!();
}

/// Replaces each `Im2Col` of `model` that [`PackPatchesI8`] handles.
pub(super) fn replace_im2col(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(im2col) = node.op_as::<Im2Col>() else {
            continue;
        };
        let input = model.outlet_fact(node.inputs[0])?;
        if let Some(op) = PackPatchesI8::for_node(im2col, input, &node.outputs[0].fact) {
            model.nodes[id].op = Box::new(op);
        }
    }
    Ok(())
}
