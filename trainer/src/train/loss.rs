//! The training loss: class-weighted, label-smoothed cross-entropy, mixed
//! with a knowledge-distillation term when a teacher's soft targets are
//! given.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use emoedge_shared::NUM_CLASSES;

/// The distillation part of a batch: the teacher's probabilities at
/// `temperature` (`NUM_CLASSES` per batch row) and the weight `alpha`.
#[derive(Clone, Copy, Debug)]
pub struct SoftTargets<'a> {
    /// Teacher probabilities, `NUM_CLASSES` per row, each row summing to 1.
    pub probs: &'a [f32],
    /// Weight of the distillation term.
    pub alpha: f32,
    /// Temperature `T` of the teacher probabilities and the student softmax.
    pub temperature: f32,
}

/// Loss of one batch of `logits` (`[n, NUM_CLASSES]`) with hard `labels`:
/// cross-entropy against label-smoothed one-hot targets, each row weighted
/// by its class weight (weights normalised to sum 1 over the batch). With
/// `soft`, the result is `(1 - alpha) * that + alpha * T² * KL`, KL being
/// the batch mean of `KL(teacher || softmax(logits / T))` (the `T²` keeps
/// the gradient scale independent of `T`). Returns a one-element tensor.
pub fn batch_loss(
    logits: Tensor<2>,
    labels: &[u8],
    class_weights: &[f32; NUM_CLASSES],
    label_smoothing: f32,
    soft: Option<SoftTargets<'_>>,
    device: &Device,
) -> Tensor<1> {
    let n = labels.len();
    let eps = label_smoothing;
    let mut target = vec![eps / NUM_CLASSES as f32; n * NUM_CLASSES];
    let wsum: f32 = labels.iter().map(|&l| class_weights[usize::from(l)]).sum();
    let mut sample_w = Vec::with_capacity(n);
    for (i, &l) in labels.iter().enumerate() {
        target[i * NUM_CLASSES + usize::from(l)] += 1.0 - eps;
        sample_w.push(class_weights[usize::from(l)] / wsum.max(1e-12));
    }
    let target = Tensor::<2>::from_data(TensorData::new(target, [n, NUM_CLASSES]), device);
    let sample_w = Tensor::<1>::from_data(TensorData::new(sample_w, [n]), device);
    let per_sample = (log_softmax(logits.clone(), 1) * target)
        .sum_dim(1)
        .reshape([n])
        .neg();
    let hard = (per_sample * sample_w).sum();
    let Some(soft) = soft else {
        return hard;
    };
    debug_assert_eq!(soft.probs.len(), n * NUM_CLASSES);
    let t = soft.temperature;
    // KL(p || q) = sum p ln p - sum p ln q; the first sum is a constant.
    let p_ln_p: f64 = soft
        .probs
        .iter()
        .filter(|&&p| p > 0.0)
        .map(|&p| f64::from(p) * f64::from(p).ln())
        .sum();
    let p = Tensor::<2>::from_data(
        TensorData::new(soft.probs.to_vec(), [n, NUM_CLASSES]),
        device,
    );
    let cross = (log_softmax(logits.div_scalar(t), 1) * p).sum().neg();
    let kl = cross.add_scalar(p_ln_p as f32).div_scalar(n.max(1) as f32);
    hard.mul_scalar(1.0 - soft.alpha) + kl.mul_scalar(soft.alpha * t * t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::compute_device;

    const ONES: [f32; NUM_CLASSES] = [1.0; NUM_CLASSES];

    fn value(t: Tensor<1>) -> f32 {
        t.into_scalar()
    }

    fn logits(rows: &[[f32; NUM_CLASSES]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), NUM_CLASSES]), device)
    }

    #[test]
    fn alpha_zero_is_the_hard_label_loss() {
        let device = compute_device().autodiff();
        let rows = [
            [0.3, -1.0, 2.0, 0.5, 0.0, -0.2, 1.1],
            [1.5, 0.2, -0.7, 0.0, 0.9, 0.4, -1.3],
        ];
        let labels = [2u8, 4];
        let w = [1.0, 2.0, 0.5, 1.0, 1.5, 1.0, 1.0];
        let teacher = [
            0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, //
            0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4,
        ];
        let soft = SoftTargets {
            probs: &teacher,
            alpha: 0.0,
            temperature: 3.0,
        };
        let x1 = logits(&rows, &device).require_grad();
        let x2 = logits(&rows, &device).require_grad();
        let hard = batch_loss(x1.clone(), &labels, &w, 0.1, None, &device);
        let mixed = batch_loss(x2.clone(), &labels, &w, 0.1, Some(soft), &device);
        let (g1, g2) = (hard.backward(), mixed.backward());
        assert!((value(hard) - value(mixed)).abs() < 1e-6);
        let (g1, g2): (Vec<f32>, Vec<f32>) = (
            x1.grad(&g1)
                .expect("grad")
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32"),
            x2.grad(&g2)
                .expect("grad")
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32"),
        );
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() < 1e-6, "gradient {a} vs {b}");
        }
        // And the hard loss is the weighted, smoothed cross-entropy.
        let want: f64 = rows
            .iter()
            .zip(labels)
            .map(|(row, l)| {
                let lse = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
                let ce: f64 = (0..NUM_CLASSES)
                    .map(|c| {
                        let t = 0.1 / 7.0 + if c == usize::from(l) { 0.9 } else { 0.0 };
                        -t * (f64::from(row[c]) - lse)
                    })
                    .sum();
                f64::from(w[usize::from(l)]) * ce
            })
            .sum::<f64>()
            / f64::from(w[2] + w[4]);
        let got = value(batch_loss(
            logits(&rows, &device),
            &labels,
            &w,
            0.1,
            None,
            &device,
        ));
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn known_value_of_a_small_case() {
        // Uniform student logits: q = 1/7 at any T. Teacher (0.5, 0.5, 0...):
        // KL = 2 * 0.5 * ln(0.5 * 7) = ln 3.5; T = 2 gives 4 ln 3.5. The
        // hard label 0 without smoothing gives ln 7. alpha = 0.25:
        // 0.75 ln 7 + 0.25 * 4 ln 3.5 = 1.459432 + 1.252763 = 2.712195.
        let device = compute_device();
        let teacher = [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0];
        let soft = SoftTargets {
            probs: &teacher,
            alpha: 0.25,
            temperature: 2.0,
        };
        let loss = batch_loss(
            logits(&[[0.0; NUM_CLASSES]], &device),
            &[0],
            &ONES,
            0.0,
            Some(soft),
            &device,
        );
        let got = value(loss);
        assert!((got - 2.712_195).abs() < 1e-5, "{got}");

        // Student logits (2 ln 2, 0, ...) at T = 2: q0 = 2/8, q1..q6 = 1/8.
        // KL = 0.5 ln 2 + 0.5 ln 4 = 1.5 ln 2; alpha = 1 drops the hard
        // term: 4 * 1.5 ln 2 = 4.158883. Two identical rows: same mean.
        let x = 2.0 * std::f32::consts::LN_2;
        let row = [x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let teacher2: Vec<f32> = teacher.iter().chain(&teacher).copied().collect();
        let soft = SoftTargets {
            probs: &teacher2,
            alpha: 1.0,
            temperature: 2.0,
        };
        let got = value(batch_loss(
            logits(&[row, row], &device),
            &[3, 5],
            &ONES,
            0.1,
            Some(soft),
            &device,
        ));
        assert!((got - 4.158_883).abs() < 1e-5, "{got}");
    }

    #[test]
    fn gradient_pulls_the_student_toward_the_teacher() {
        let device = compute_device().autodiff();
        let teacher = [0.05, 0.6, 0.05, 0.1, 0.1, 0.05, 0.05];
        let soft = SoftTargets {
            probs: &teacher,
            alpha: 1.0,
            temperature: 4.0,
        };
        let mut row = [1.0, -0.5, 0.3, 0.0, 0.2, 0.8, -0.1];
        let kl = |row: &[f32; NUM_CLASSES]| -> f32 {
            value(batch_loss(
                logits(&[*row], &compute_device()),
                &[0],
                &ONES,
                0.0,
                Some(soft),
                &compute_device(),
            ))
        };
        let before = kl(&row);
        let x = logits(&[row], &device).require_grad();
        let loss = batch_loss(x.clone(), &[0], &ONES, 0.0, Some(soft), &device);
        let grads = loss.backward();
        let g: Vec<f32> = x
            .grad(&grads)
            .expect("grad")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        // d/dz of T² KL(p || softmax(z / T)) = T (q - p): the teacher's
        // favourite class (1), under-predicted, gets a negative gradient
        // (its logit rises under gradient descent).
        let scaled: Vec<f32> = row.iter().map(|v| v / 4.0).collect();
        let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = scaled.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        for c in 0..NUM_CLASSES {
            let want = 4.0 * (e[c] / sum - teacher[c]);
            assert!((g[c] - want).abs() < 1e-5, "class {c}: {} vs {want}", g[c]);
        }
        assert!(g[1] < 0.0 && g[0] > 0.0);
        for (v, d) in row.iter_mut().zip(&g) {
            *v -= 0.5 * d;
        }
        let after = kl(&row);
        assert!(after < before, "KL {before} -> {after}");
    }
}
