//! Throughput measurement of candidate architectures on the training
//! backend: samples/s of a full training step (forward, backward, optimiser)
//! and of batched inference.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};

use crate::model::FaceNetConfig;
use crate::train::compute_device;

/// Throughput of one architecture.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Architecture.
    pub config: FaceNetConfig,
    /// Trainable parameters.
    pub params: usize,
    /// Forward multiply-accumulates per image.
    pub macs: u64,
    /// Training samples per second (forward + backward + AdamW step).
    pub train_samples_per_sec: f64,
    /// Inference samples per second (batched, validation mode).
    pub infer_samples_per_sec: f64,
}

/// Times `batches` training steps (after one warm-up step) and the same
/// number of inference batches of `batch_size` random images.
pub fn bench_train(config: &FaceNetConfig, batch_size: usize, batches: usize) -> BenchResult {
    let device = compute_device();
    let ad = device.clone().autodiff();
    ad.seed(1);
    let mut model = config.init(&ad);
    let mut optim = AdamWConfig::new().init();
    let [h, w] = config.input_hw;
    let input =
        |d: &Device| Tensor::<4>::random([batch_size, 1, h, w], Distribution::Normal(0.0, 1.0), d);
    let mut train_time = 0.0;
    for i in 0..=batches {
        let t = Instant::now();
        let loss = model.forward(input(&ad)).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _: f32 = loss.into_scalar();
        if i > 0 {
            train_time += t.elapsed().as_secs_f64();
        }
    }
    let valid = model.valid();
    let mut infer_time = 0.0;
    for i in 0..=batches {
        let t = Instant::now();
        let out = valid.forward(input(&device));
        let _ = out.into_data();
        if i > 0 {
            infer_time += t.elapsed().as_secs_f64();
        }
    }
    let samples = (batches * batch_size) as f64;
    BenchResult {
        config: config.clone(),
        params: valid.num_params(),
        macs: config.macs(),
        train_samples_per_sec: samples / train_time.max(1e-9),
        infer_samples_per_sec: samples / infer_time.max(1e-9),
    }
}
