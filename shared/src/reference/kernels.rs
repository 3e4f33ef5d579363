//! Plain loops for every operation, on NCHW buffers whose shapes were
//! checked by [`crate::format::infer_shapes`] beforehand.

use alloc::vec;
use alloc::vec::Vec;

use crate::format::{Conv2d, Pool2d};

/// Geometry of a 2-D window operation (conv or pooling) on `[n, c, h, w]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before (top, left).
    pub pad: [usize; 2],
}

impl Window {
    pub fn conv(c: &Conv2d, x: &[u32], y: &[u32]) -> Window {
        Window {
            n: x[0] as usize,
            c: x[1] as usize,
            h: x[2] as usize,
            w: x[3] as usize,
            oh: y[2] as usize,
            ow: y[3] as usize,
            kh: c.weight.shape[2] as usize,
            kw: c.weight.shape[3] as usize,
            stride: [c.stride[0] as usize, c.stride[1] as usize],
            dilation: [c.dilation[0] as usize, c.dilation[1] as usize],
            pad: [c.padding[0] as usize, c.padding[1] as usize],
        }
    }

    pub fn pool(p: &Pool2d, x: &[u32], y: &[u32]) -> Window {
        Window {
            n: x[0] as usize,
            c: x[1] as usize,
            h: x[2] as usize,
            w: x[3] as usize,
            oh: y[2] as usize,
            ow: y[3] as usize,
            kh: p.kernel[0] as usize,
            kw: p.kernel[1] as usize,
            stride: [p.stride[0] as usize, p.stride[1] as usize],
            dilation: [1, 1],
            pad: [p.padding[0] as usize, p.padding[1] as usize],
        }
    }

    /// Input row/column of kernel tap `k` for output position `o` along
    /// axis `a` (0 = h, 1 = w), or `None` in the padding.
    #[inline]
    fn tap(&self, a: usize, o: usize, k: usize) -> Option<usize> {
        let limit = if a == 0 { self.h } else { self.w };
        let pos = (o * self.stride[a] + k * self.dilation[a]).checked_sub(self.pad[a])?;
        (pos < limit).then_some(pos)
    }

    /// Calls `f(input_offset_in_plane, kh_index, kw_index)` for every valid
    /// tap of output position `(oy, ox)`.
    #[inline]
    fn for_each_tap(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, usize)) {
        for ky in 0..self.kh {
            let Some(iy) = self.tap(0, oy, ky) else {
                continue;
            };
            for kx in 0..self.kw {
                let Some(ix) = self.tap(1, ox, kx) else {
                    continue;
                };
                f(iy * self.w + ix, ky, kx);
            }
        }
    }
}

/// Grouped 2-D convolution, generic over the element and accumulator type.
/// `init(oc)` gives the accumulator's start (the bias), `mac(acc, x, w)`
/// accumulates one product, `finish(oc, acc)` the output value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d<T: Copy, A: Copy, O>(
    g: &Window,
    groups: usize,
    out_channels: usize,
    x: &[T],
    w: &[T],
    init: impl Fn(usize) -> A,
    mac: impl Fn(A, T, T) -> A,
    finish: impl Fn(usize, A) -> O,
) -> Vec<O> {
    let ipg = g.c / groups;
    let opg = out_channels / groups;
    let plane = g.h * g.w;
    let ksize = g.kh * g.kw;
    let mut out = Vec::with_capacity(g.n * out_channels * g.oh * g.ow);
    for n in 0..g.n {
        for oc in 0..out_channels {
            let grp = oc / opg;
            let wbase = oc * ipg * ksize;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = init(oc);
                    for ic in 0..ipg {
                        let xbase = (n * g.c + grp * ipg + ic) * plane;
                        let wb = wbase + ic * ksize;
                        g.for_each_tap(oy, ox, |off, ky, kx| {
                            acc = mac(acc, x[xbase + off], w[wb + ky * g.kw + kx]);
                        });
                    }
                    out.push(finish(oc, acc));
                }
            }
        }
    }
    out
}

/// Dense layer `[n, in] x [out, in]^T`, generic like [`conv2d`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense<T: Copy, A: Copy, O>(
    n: usize,
    inputs: usize,
    outputs: usize,
    x: &[T],
    w: &[T],
    init: impl Fn(usize) -> A,
    mac: impl Fn(A, T, T) -> A,
    finish: impl Fn(usize, A) -> O,
) -> Vec<O> {
    let mut out = Vec::with_capacity(n * outputs);
    for row in x.chunks_exact(inputs).take(n) {
        for (o, wrow) in w.chunks_exact(inputs).take(outputs).enumerate() {
            let acc = row
                .iter()
                .zip(wrow)
                .fold(init(o), |a, (&xv, &wv)| mac(a, xv, wv));
            out.push(finish(o, acc));
        }
    }
    out
}

/// Max pooling over the valid (non-padding) cells of each window.
pub(crate) fn max_pool(g: &Window, x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(g.n * g.c * g.oh * g.ow);
    for plane in x.chunks_exact(g.h * g.w).take(g.n * g.c) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut m = f32::MIN;
                g.for_each_tap(oy, ox, |off, _, _| m = m.max(plane[off]));
                out.push(m);
            }
        }
    }
    out
}

/// Average pooling; padding cells do not count in the divisor.
pub(crate) fn avg_pool(g: &Window, x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(g.n * g.c * g.oh * g.ow);
    for plane in x.chunks_exact(g.h * g.w).take(g.n * g.c) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (mut s, mut count) = (0.0f32, 0usize);
                g.for_each_tap(oy, ox, |off, _, _| {
                    s += plane[off];
                    count += 1;
                });
                out.push(s * (1.0 / count as f32));
            }
        }
    }
    out
}

/// Mean over H and W of each `[h, w]` plane.
pub(crate) fn global_avg_pool(x: &[f32], plane: usize) -> Vec<f32> {
    let inv = 1.0 / plane as f32;
    x.chunks_exact(plane)
        .map(|p| p.iter().sum::<f32>() * inv)
        .collect()
}

/// Zero channels before and after: `[n, c, h, w] -> [n, before + c + after, h, w]`.
pub(crate) fn pad_channels(x: &[f32], shape: &[u32], before: usize, after: usize) -> Vec<f32> {
    let (n, c) = (shape[0] as usize, shape[1] as usize);
    let plane = shape[2] as usize * shape[3] as usize;
    let mut out = Vec::with_capacity(n * (before + c + after) * plane);
    for item in x.chunks_exact(c * plane).take(n) {
        out.resize(out.len() + before * plane, 0.0);
        out.extend_from_slice(item);
        out.resize(out.len() + after * plane, 0.0);
    }
    out
}

/// Concatenation along `axis`.
pub(crate) fn concat(inputs: &[(&[f32], &[u32])], axis: usize) -> Vec<f32> {
    let outer: usize = inputs[0].1[..axis].iter().map(|&d| d as usize).product();
    let total: usize = inputs.iter().map(|(v, _)| v.len()).sum();
    let mut out = Vec::with_capacity(total);
    for o in 0..outer {
        for (v, s) in inputs {
            let chunk: usize = s[axis..].iter().map(|&d| d as usize).product();
            out.extend_from_slice(&v[o * chunk..(o + 1) * chunk]);
        }
    }
    out
}

/// Axis permutation: output axis `i` is input axis `perm[i]`.
pub(crate) fn transpose(x: &[f32], shape: &[u32], perm: &[u8]) -> Vec<f32> {
    let rank = shape.len();
    let mut in_strides = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        in_strides[a] = in_strides[a + 1] * shape[a + 1] as usize;
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p as usize] as usize).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p as usize]).collect();
    let mut out = Vec::with_capacity(x.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..x.len() {
        let off: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(x[off]);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// Softmax along `axis` (max-subtracted).
pub(crate) fn softmax(x: &[f32], shape: &[u32], axis: usize) -> Vec<f32> {
    let len = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let mut out = x.to_vec();
    for block in out.chunks_exact_mut(len * inner) {
        for i in 0..inner {
            let m = (0..len)
                .map(|k| block[k * inner + i])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for k in 0..len {
                let e = libm::expf(block[k * inner + i] - m);
                block[k * inner + i] = e;
                sum += e;
            }
            for k in 0..len {
                block[k * inner + i] /= sum;
            }
        }
    }
    out
}

/// Per-channel leaky slope on axis 1.
pub(crate) fn prelu(x: &[f32], shape: &[u32], slope: &[f32]) -> Vec<f32> {
    let c = shape[1] as usize;
    let inner: usize = shape[2..].iter().map(|&d| d as usize).product();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v >= 0.0 {
                v
            } else {
                v * slope[(i / inner) % c]
            }
        })
        .collect()
}

/// Logistic function.
pub(crate) fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-v))
}
