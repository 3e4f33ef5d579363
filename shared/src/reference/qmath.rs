//! Integer arithmetic of int8 layers, bit-exact with tract-core 0.23's
//! quantised `Conv` / `EinSum` and its `QuantizeLinearI8` /
//! `DequantizeLinearF32` operators.
//!
//! Both the reference interpreter and the tract runtime take every int8
//! constant (i32 bias, requantisation multiplier, activation bounds) from
//! this module, so the two compute the same integers:
//!
//! - **quantise** `f32 -> i8`: `clamp(round_half_even(x * (1 / scale)) + zp)`;
//! - **accumulate**: `acc = bias + sum((x - x_zp) * (w - w_zp))` in integers;
//! - **requantise**: `y = clamp(round_half_even(acc * m) + y_zp)` with
//!   `m = (w_scale * x_scale) / y_scale` computed in f32 and the product
//!   `acc * m` rounded exactly (tract's fixed-point `Scaler` with the "even"
//!   rounding policy is exact for an f32 multiplier);
//! - **fused activation**: `y = clamp(y, lo, hi)` with `lo = y_zp` for ReLU
//!   and ReLU6 and `hi = quantise(6.0)` for ReLU6;
//! - **dequantise**: `(q - zp) as f32 * scale`.

use alloc::vec::Vec;

use crate::format::{Activation, Bias, QuantParams};

/// Quantises one value the way tract's `QuantizeLinearI8` does: multiply by
/// the f32 reciprocal of the scale, round half to even, add the zero point,
/// saturate. NaN maps to the zero point.
pub fn quantize(x: f32, q: QuantParams) -> i8 {
    let r = libm::rintf(x * (1.0 / q.scale));
    // `as` saturates (and maps NaN to 0); i64 leaves room for the zero point.
    (r as i64 + q.zero_point as i64).clamp(i8::MIN as i64, i8::MAX as i64) as i8
}

/// Dequantises one value the way tract's `DequantizeLinearF32` does.
pub fn dequantize(q: i8, p: QuantParams) -> f32 {
    (q as i32 - p.zero_point as i32) as f32 * p.scale
}

/// Bounds outside of which [`quantize`] saturates whatever the rounding:
/// clamping an f32 to them before quantising changes no result and keeps
/// the integer conversion far from overflow.
pub fn saturation_bounds(q: QuantParams) -> (f32, f32) {
    let zp = q.zero_point as f32;
    ((-130.0 - zp) * q.scale, (129.0 - zp) * q.scale)
}

/// The requantisation multiplier `(weight_scale * input_scale) / output_scale`,
/// in the f32 operation order tract uses.
pub fn multiplier(input: QuantParams, weight: QuantParams, output: QuantParams) -> f32 {
    (weight.scale * input.scale) / output.scale
}

/// `round_half_even(acc * m)`, computed exactly for any finite positive f32
/// `m` (saturating to the i32 range).
pub fn scale_round(acc: i64, m: f32) -> i64 {
    let bits = m.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = (bits & 0x007f_ffff) as i64;
    if exp == 0xff || m <= 0.0 {
        return 0;
    }
    // m = mant * 2^e exactly.
    let (mant, e) = if exp == 0 {
        (frac, -149)
    } else {
        (frac | 0x0080_0000, exp - 150)
    };
    let acc = acc.clamp(-(1 << 38), 1 << 38);
    let p = acc as i128 * mant as i128;
    let r = if e >= 0 {
        p << e.min(40)
    } else {
        let shift = (-e) as u32;
        if shift >= 100 {
            0
        } else {
            let mag = p.unsigned_abs();
            let q = mag >> shift;
            let rem = mag & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            let q = if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            };
            if p < 0 {
                -(q as i128)
            } else {
                q as i128
            }
        }
    };
    r.clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

/// Requantises an accumulator to int8: `clamp(round_half_even(acc * m) + zp)`.
pub fn requantize(acc: i64, m: f32, zero_point: i8) -> i8 {
    (scale_round(acc, m) + zero_point as i64).clamp(i8::MIN as i64, i8::MAX as i64) as i8
}

/// Converts an f32 bias to the accumulator scale `input_scale * weight_scale`
/// (round half to even, saturating).
pub fn bias_to_i32(b: f32, input: QuantParams, weight: QuantParams) -> i32 {
    let v = libm::rint(b as f64 / (input.scale as f64 * weight.scale as f64));
    v.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// Quantised bounds `(lo, hi)` of a fused activation on an int8 output.
pub fn activation_bounds(act: Activation, output: QuantParams) -> (i8, i8) {
    match act {
        Activation::None => (i8::MIN, i8::MAX),
        Activation::Relu => (output.zero_point, i8::MAX),
        Activation::Relu6 => (
            output.zero_point,
            quantize(6.0, output).max(output.zero_point),
        ),
    }
}

/// Everything an int8 conv or dense layer needs besides its weights, with
/// the same values in the reference and the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Layer {
    pub input: QuantParams,
    pub weight: QuantParams,
    pub output: QuantParams,
    /// Requantisation multiplier, see [`multiplier`].
    pub multiplier: f32,
    /// Bias in the accumulator scale, one per output channel (zeros when the
    /// layer has none; an f32 bias is converted with [`bias_to_i32`]).
    pub bias: Vec<i32>,
    /// Fused activation bounds, see [`activation_bounds`].
    pub act_lo: i8,
    pub act_hi: i8,
}

impl Int8Layer {
    /// Gathers the parameters of an int8 layer with `out` output channels.
    pub fn new(
        input: QuantParams,
        weight: QuantParams,
        output: QuantParams,
        bias: Option<&Bias>,
        activation: Activation,
        out: usize,
    ) -> Int8Layer {
        let bias = match bias {
            None => alloc::vec![0; out],
            Some(Bias::I32(v)) => v.clone(),
            Some(Bias::F32(v)) => v.iter().map(|&b| bias_to_i32(b, input, weight)).collect(),
        };
        let (act_lo, act_hi) = activation_bounds(activation, output);
        Int8Layer {
            input,
            weight,
            output,
            multiplier: multiplier(input, weight, output),
            bias,
            act_lo,
            act_hi,
        }
    }

    /// Output value of one accumulator (bias excluded): requantised and
    /// clamped by the fused activation.
    pub fn finish(&self, acc_with_bias: i64) -> i8 {
        requantize(acc_with_bias, self.multiplier, self.output.zero_point)
            .clamp(self.act_lo, self.act_hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(scale: f32, zero_point: i8) -> QuantParams {
        QuantParams { scale, zero_point }
    }

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let q = qp(1.0, 0);
        assert_eq!(quantize(0.5, q), 0);
        assert_eq!(quantize(1.5, q), 2);
        assert_eq!(quantize(2.5, q), 2);
        assert_eq!(quantize(-2.5, q), -2);
        assert_eq!(quantize(1000.0, q), 127);
        assert_eq!(quantize(f32::NEG_INFINITY, q), -128);
        assert_eq!(quantize(f32::NAN, qp(0.5, 3)), 3);
        assert_eq!(quantize(1.0, qp(0.5, -128)), -126);
        let (lo, hi) = saturation_bounds(qp(0.1, -20));
        assert_eq!(quantize(lo, qp(0.1, -20)), -128);
        assert_eq!(quantize(hi, qp(0.1, -20)), 127);
    }

    #[test]
    fn scale_round_is_exact_half_even() {
        assert_eq!(scale_round(3, 0.5), 2); // 1.5 -> 2
        assert_eq!(scale_round(5, 0.5), 2); // 2.5 -> 2
        assert_eq!(scale_round(-5, 0.5), -2);
        assert_eq!(scale_round(-7, 0.5), -4);
        assert_eq!(scale_round(7, 0.25), 2); // 1.75
        assert_eq!(scale_round(1000, 3.0), 3000);
        // Compare with f64 arithmetic, exact for these magnitudes.
        for (acc, m) in [
            (12345i64, 0.0123f32),
            (-99999, 0.000_731),
            (77, 1.37),
            (-1, 0.49999997),
        ] {
            let want = libm::rint(acc as f64 * m as f64) as i64;
            assert_eq!(scale_round(acc, m), want, "{acc} * {m}");
        }
        assert_eq!(scale_round(i64::MAX, 2.0), i32::MAX as i64);
    }

    #[test]
    fn requantize_adds_zero_point_and_saturates() {
        assert_eq!(requantize(10, 0.5, -3), 2);
        assert_eq!(requantize(1_000_000, 0.5, 0), 127);
        assert_eq!(requantize(-1_000_000, 0.5, 0), -128);
    }

    #[test]
    fn activation_bounds_follow_the_output_grid() {
        let out = qp(0.05, -100);
        assert_eq!(activation_bounds(Activation::None, out), (-128, 127));
        assert_eq!(activation_bounds(Activation::Relu, out), (-100, 127));
        // 6 / 0.05 = 120 -> -100 + 120 = 20.
        assert_eq!(activation_bounds(Activation::Relu6, out), (-100, 20));
    }

    #[test]
    fn f32_bias_is_converted_to_the_accumulator_scale() {
        assert_eq!(bias_to_i32(1.0, qp(0.5, 0), qp(0.25, 0)), 8);
        assert_eq!(bias_to_i32(-0.3, qp(0.1, 5), qp(1.0, 0)), -3);
        let l = Int8Layer::new(
            qp(0.5, 0),
            qp(0.25, 0),
            qp(1.0, 0),
            Some(&Bias::F32(alloc::vec![1.0, 2.0])),
            Activation::Relu,
            2,
        );
        assert_eq!(l.bias, alloc::vec![8, 16]);
        assert_eq!(l.multiplier, 0.125);
        assert_eq!(l.finish(-50), 0);
        assert_eq!(l.finish(20), 2); // 2.5 rounds to even
        assert_eq!(l.finish(28), 4); // 3.5 rounds to even
    }
}
