//! Cross-layer equalisation (Nagel et al., "Data-Free Quantization Through
//! Weight Equalization and Bias Correction", ICCV 2019, section 4.1).
//!
//! With one weight scale per tensor, a layer whose output channels have
//! very different ranges (common after folding batch norm) spends most of
//! its 255 levels on its widest channel. A ReLU network is positively
//! homogeneous per channel: dividing output channel `c` of a layer (its
//! weights and bias) by `s > 0` and multiplying the next layer's input
//! channel `c` by `s` computes the same function, through ReLU, max and
//! average pooling and a flatten of a 1x1 map. [`equalize`] picks
//! `s = sqrt(r1 / r2)` (`r1` the range of output channel `c` in the first
//! layer, `r2` that of input channel `c` in the second), which gives both
//! the same range `sqrt(r1 * r2)`, and sweeps over all such pairs until the
//! scales settle. The f32 model is unchanged up to rounding; its int8
//! weights lose less.

use alloc::vec::Vec;

use crate::format::{infer_shapes, Activation, ModelFile, Op, Weights};

use super::QuantizeError;

/// What [`equalize`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EqualizeReport {
    /// Pairs of consecutive f32 layers that were rescaled.
    pub pairs: usize,
    /// Sweeps over the pairs until the largest scale was within 0.1 % of 1.
    pub sweeps: usize,
}

/// A producer layer, a consumer layer reading its output (through
/// channel-preserving, positively homogeneous operations only) and the
/// number of channels between them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pair {
    producer: usize,
    consumer: usize,
    channels: usize,
}

const MAX_SWEEPS: usize = 32;
const SETTLED: f32 = 1e-3;

/// Equalises the per-channel weight ranges of every pair of consecutive
/// f32 conv/dense layers of `model` (see the module documentation). Layers
/// already int8, grouped consumers, producers with ReLU6 and values read
/// by more than one node (e.g. residual skips) are left as they are.
pub fn equalize(model: &mut ModelFile) -> Result<EqualizeReport, QuantizeError> {
    model.validate().map_err(QuantizeError::InvalidModel)?;
    let pairs = find_pairs(model)?;
    let mut report = EqualizeReport {
        pairs: pairs.len(),
        sweeps: 0,
    };
    if pairs.is_empty() {
        return Ok(report);
    }
    for _ in 0..MAX_SWEEPS {
        report.sweeps += 1;
        let mut largest = 0.0f32;
        for p in &pairs {
            largest = largest.max(equalize_pair(model, p));
        }
        if largest < SETTLED {
            break;
        }
    }
    model.validate().map_err(QuantizeError::InvalidModel)?;
    Ok(report)
}

fn find_pairs(model: &ModelFile) -> Result<Vec<Pair>, QuantizeError> {
    let graph = &model.graph;
    let shapes =
        infer_shapes(graph, &model.header.input_shape).map_err(QuantizeError::InvalidModel)?;
    let readers = |v: usize| -> Vec<usize> {
        graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.inputs.iter().any(|&i| i as usize == v))
            .map(|(i, _)| i)
            .collect()
    };
    let is_output = |v: usize| graph.outputs.iter().any(|&o| o as usize == v);
    let mut pairs = Vec::new();
    for (producer, node) in graph.nodes.iter().enumerate() {
        let (weight, activation) = match &node.op {
            Op::Conv2d(c) => (&c.weight, c.activation),
            Op::Dense(d) => (&d.weight, d.activation),
            _ => continue,
        };
        if !matches!(weight.values, Weights::F32(_))
            || !matches!(activation, Activation::None | Activation::Relu)
        {
            continue;
        }
        let channels = weight.shape.first().copied().unwrap_or(0) as usize;
        // Follow the output through operations that keep channel c in
        // channel c and commute with a positive per-channel scale.
        let mut value = producer + 1;
        let consumer = loop {
            if is_output(value) {
                break None;
            }
            let r = readers(value);
            let [next] = r[..] else { break None };
            let n = &graph.nodes[next];
            if n.inputs.len() != 1 {
                break None;
            }
            match &n.op {
                Op::Relu | Op::MaxPool(_) | Op::AvgPool(_) | Op::GlobalAvgPool => value = next + 1,
                Op::Flatten | Op::Reshape { .. } => {
                    // Only a map of 1x1 keeps channel c at position c.
                    let from = &shapes[value];
                    let to = &shapes[next + 1];
                    let spatial: u32 = from.iter().skip(2).product();
                    if spatial != 1 || to.len() != 2 || to[1] as usize != channels {
                        break None;
                    }
                    value = next + 1;
                }
                Op::Conv2d(c) if c.groups == 1 => break reads(&c.weight, channels).then_some(next),
                Op::Dense(d) => break reads(&d.weight, channels).then_some(next),
                _ => break None,
            }
        };
        if let Some(consumer) = consumer {
            pairs.push(Pair {
                producer,
                consumer,
                channels,
            });
        }
    }
    Ok(pairs)
}

/// True when `weight` is f32 and its input dimension is `channels` wide.
fn reads(weight: &crate::format::Tensor, channels: usize) -> bool {
    matches!(weight.values, Weights::F32(_)) && weight.shape.get(1) == Some(&(channels as u32))
}

/// Largest absolute value (0 for none).
fn abs_max<'a>(values: impl IntoIterator<Item = &'a f32>) -> f32 {
    values.into_iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The f32 weights, weight shape and f32 bias (if any) of a layer.
type LayerMut<'a> = (&'a mut Vec<f32>, &'a [u32], Option<&'a mut Vec<f32>>);

/// Weights (mutable) and bias of a conv or dense node.
fn layer_mut(op: &mut Op) -> Option<LayerMut<'_>> {
    let (weight, bias) = match op {
        Op::Conv2d(c) => (&mut c.weight, &mut c.bias),
        Op::Dense(d) => (&mut d.weight, &mut d.bias),
        _ => return None,
    };
    let Weights::F32(w) = &mut weight.values else {
        return None;
    };
    let bias = match bias {
        Some(crate::format::Bias::F32(b)) => Some(b),
        _ => None,
    };
    Some((w, &weight.shape, bias))
}

/// Rescales one pair; returns the largest `|s - 1|` applied.
fn equalize_pair(model: &mut ModelFile, p: &Pair) -> f32 {
    let nodes = &mut model.graph.nodes;
    let (head, tail) = nodes.split_at_mut(p.consumer);
    let Some((w1, _, mut b1)) = layer_mut(&mut head[p.producer].op) else {
        return 0.0;
    };
    let Some((w2, shape2, _)) = layer_mut(&mut tail[0].op) else {
        return 0.0;
    };
    let c = p.channels;
    let per_out = w1.len() / c.max(1);
    let outs2 = shape2.first().copied().unwrap_or(0) as usize;
    // Input channel c of the consumer: w2[o * c * k + ch * k .. + k].
    let k2 = w2.len() / (outs2 * c).max(1);
    let mut largest = 0.0f32;
    for ch in 0..c {
        let r1 = abs_max(&w1[ch * per_out..(ch + 1) * per_out]);
        let r2 = abs_max((0..outs2).flat_map(|o| {
            let start = (o * c + ch) * k2;
            &w2[start..start + k2]
        }));
        if !(r1 > 0.0 && r2 > 0.0 && r1.is_finite() && r2.is_finite()) {
            continue;
        }
        let s = libm::sqrtf(r1 / r2);
        if !(s.is_finite() && s > 0.0) {
            continue;
        }
        largest = largest.max((s - 1.0).abs());
        w1[ch * per_out..(ch + 1) * per_out]
            .iter_mut()
            .for_each(|v| *v /= s);
        if let Some(b) = b1.as_deref_mut() {
            b[ch] /= s;
        }
        for o in 0..outs2 {
            let start = (o * c + ch) * k2;
            w2[start..start + k2].iter_mut().for_each(|v| *v *= s);
        }
    }
    largest
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::format::sample::{pseudo_random, tiny_classifier};
    use crate::format::{Bias, Dense, Graph, ModelKind, Pool2d, Tensor};
    use crate::quantize::tests::random_inputs;
    use crate::quantize::{calibrate, quantize, QuantizeOptions};
    use crate::reference::run_reference_outputs;
    use crate::reference::tests::{conv_op, model_with_graph};

    fn conv(out: usize, inp: usize, seed: u64, spread: bool) -> Op {
        let k = inp * 9;
        let mut w = pseudo_random(seed, out * k, 0.5);
        if spread {
            // Output channel o spans 0.5 * 4^(o mod 4): ranges 64x apart.
            for (o, row) in w.chunks_mut(k).enumerate() {
                let s = [1.0, 4.0, 16.0, 64.0][o % 4] / 8.0;
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        let weight = Tensor::f32(vec![out as u32, inp as u32, 3, 3], w);
        let bias = pseudo_random(seed + 1, out, 0.1);
        let mut op = conv_op(weight, Some(bias), 1, 1, [1, 1, 1, 1], 1);
        if let Op::Conv2d(c) = &mut op {
            c.activation = Activation::Relu;
        }
        op
    }

    /// conv -> conv -> max pool -> conv -> global pool -> flatten -> dense,
    /// every conv with output channels whose ranges differ 64x.
    fn chain() -> ModelFile {
        let mut g = Graph::default();
        let a = g.push("a", conv(8, 1, 10, true), vec![0]);
        let b = g.push("b", conv(8, 8, 20, true), vec![a]);
        let pool = Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0, 0, 0],
        };
        let p = g.push("pool", Op::MaxPool(pool), vec![b]);
        let c = g.push("c", conv(16, 8, 30, true), vec![p]);
        let gap = g.push("gap", Op::GlobalAvgPool, vec![c]);
        let flat = g.push("flatten", Op::Flatten, vec![gap]);
        let fc = g.push(
            "fc",
            Op::Dense(Dense {
                weight: Tensor::f32(vec![7, 16], pseudo_random(40, 7 * 16, 0.5)),
                bias: Some(Bias::F32(pseudo_random(41, 7, 0.1))),
                activation: Activation::None,
                input_quant: None,
            }),
            vec![flat],
        );
        g.outputs = vec![fc];
        model_with_graph(g, vec![1, 1, 12, 12])
    }

    fn outputs(model: &ModelFile, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
        inputs
            .iter()
            .map(|x| run_reference_outputs(model, x).unwrap().remove(0))
            .collect()
    }

    fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    fn channel_ranges(model: &ModelFile, node: usize) -> Vec<f32> {
        let Op::Conv2d(c) = &model.graph.nodes[node].op else {
            panic!("node {node} is not a conv")
        };
        let w = c.weight.values.to_f32();
        let out = c.weight.shape[0] as usize;
        w.chunks(w.len() / out).map(abs_max).collect()
    }

    /// Mean over the output channels of a conv of the relative error of
    /// their per-tensor int8 weights, `|w - q(w)| / |w|`.
    fn weight_error(model: &ModelFile, node: usize) -> f32 {
        let Op::Conv2d(c) = &model.graph.nodes[node].op else {
            panic!("node {node} is not a conv")
        };
        let w = c.weight.values.to_f32();
        let (q, p) = crate::quantize::quantize_weights(&w);
        let out = c.weight.shape[0] as usize;
        let k = w.len() / out;
        let norm = |v: &mut dyn Iterator<Item = f32>| libm::sqrtf(v.map(|x| x * x).sum());
        let total: f32 = (0..out)
            .map(|o| {
                let r = o * k..(o + 1) * k;
                let err = norm(
                    &mut w[r.clone()]
                        .iter()
                        .zip(&q[r.clone()])
                        .map(|(a, &b)| a - p.dequantize(b)),
                );
                err / norm(&mut w[r].iter().copied())
            })
            .sum();
        total / out as f32
    }

    #[test]
    fn keeps_the_function_and_evens_out_channel_ranges() {
        let before = chain();
        let inputs = random_inputs(&before, 16, 7);
        let mut after = before.clone();
        let report = equalize(&mut after).unwrap();
        assert_eq!(
            report.pairs, 3,
            "a-b, b-c through the pool, c-fc through gap+flatten"
        );
        assert!(report.sweeps > 1 && report.sweeps <= MAX_SWEEPS);
        let diff = max_abs_diff(&outputs(&before, &inputs), &outputs(&after, &inputs));
        assert!(diff < 1e-4, "f32 outputs moved by {diff}");
        // b's output channels were 64x apart and c reads them evenly: after
        // equalisation each pair shares its range, about sqrt(64) = 8x apart.
        let spread = |r: &[f32]| {
            r.iter().cloned().fold(0.0f32, f32::max) / r.iter().cloned().fold(f32::MAX, f32::min)
        };
        assert!(spread(&channel_ranges(&before, 1)) > 40.0);
        assert!(
            spread(&channel_ranges(&after, 1)) < 12.0,
            "ranges {:?}",
            channel_ranges(&after, 1)
        );
        // Per-tensor int8 weights lose less after equalisation.
        for node in [0, 1, 3] {
            let (e_before, e_after) = (weight_error(&before, node), weight_error(&after, node));
            assert!(
                e_after < e_before * 0.7,
                "node {node}: int8 weight error {e_after} not well below {e_before}"
            );
        }
    }

    #[test]
    fn leaves_shared_values_relu6_and_int8_layers_alone() {
        // tiny_classifier: the stem feeds a conv and a residual add, the
        // depthwise conv has ReLU6; only conv2 -> gap -> flatten -> fc pairs.
        let before = tiny_classifier(ModelKind::FaceClassifier, 3);
        let mut after = before.clone();
        assert_eq!(equalize(&mut after).unwrap().pairs, 1);
        for name in ["stem", "block.dw", "block.pw"] {
            let i = before
                .graph
                .nodes
                .iter()
                .position(|n| n.name == name)
                .unwrap();
            assert_eq!(
                before.graph.nodes[i], after.graph.nodes[i],
                "{name} changed"
            );
        }
        let inputs = random_inputs(&before, 8, 11);
        let diff = max_abs_diff(&outputs(&before, &inputs), &outputs(&after, &inputs));
        assert!(diff < 1e-4, "f32 outputs moved by {diff}");
        // An int8 model has nothing left to equalise.
        let cal = calibrate(&before, inputs.iter().map(|v| v.as_slice())).unwrap();
        let mut q = quantize(&before, &cal, &QuantizeOptions::default()).unwrap();
        let copy = q.clone();
        assert_eq!(equalize(&mut q).unwrap().pairs, 0);
        assert_eq!(q, copy);
    }
}
