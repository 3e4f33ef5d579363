//! The training loop of both models (faces and voice windows, through
//! [`TrainTask`]): in-memory data, pipelined parallel augmentation,
//! class-weighted label-smoothed cross-entropy (optionally mixed with
//! knowledge distillation from a teacher model file), AdamW/SGD with a warm-up +
//! cosine (or plateau) schedule, early stopping, per-epoch checkpoints that
//! resume the exact run, metrics CSV/JSON and a training-curve PNG.

pub mod average;
pub mod checkpoint;
pub mod config;
pub mod distill;
pub mod from_model;
pub mod loss;
pub mod metrics;
pub mod qat;
pub mod task;

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use emoedge_shared::NUM_CLASSES;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::model::FaceNet;
pub use checkpoint::{CheckpointError, RunState, BEST_DIR, LAST_DIR};
pub use config::{DistillConfig, OptimizerKind, Schedule, TrainConfig};
pub use distill::BatchTeacher;
pub use loss::{batch_loss, SoftTargets};
pub use metrics::EpochMetrics;
pub use task::TrainTask;

/// The compute device: burn-flex on the CPU, or the GPU with the `wgpu`
/// feature.
pub fn compute_device() -> Device {
    #[cfg(feature = "wgpu")]
    {
        Device::wgpu(Default::default())
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Device::flex()
    }
}

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Bad configuration.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// Checkpoint trouble.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Output directory trouble.
    #[error("cannot write {path}: {source}; check that --out is writable")]
    Output {
        /// Path involved.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// burn returned data of an unexpected type.
    #[error("tensor read-back failed: {0}")]
    Tensor(String),
    /// The distillation teacher cannot be used (the message names the file).
    #[error("{0}")]
    Teacher(String),
    /// Exporting the trained model failed.
    #[error("export failed: {0}")]
    Export(String),
    /// A model file cannot be turned back into a network (the message
    /// names the file and the fix).
    #[error("{0}")]
    ModelFile(String),
}

/// Where and how a run writes.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Output directory (checkpoints, metrics, curves).
    pub out: PathBuf,
    /// Checkpoint to resume (directory or its `state.json`); when `None`,
    /// `<out>/checkpoint` is resumed if present.
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs in this invocation (the run stays
    /// resumable); `None` = run to the end.
    pub stop_after: Option<usize>,
    /// Hide progress bars and per-batch log lines.
    pub quiet: bool,
    /// Data directory, recorded in the run state (for a later export).
    pub data_dir: Option<PathBuf>,
    /// Validation directory given with `--val`, recorded likewise.
    pub val_dir: Option<PathBuf>,
}

/// Mixes a seed with a stream id (SplitMix64 finaliser).
pub fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Class weights `(count / max)^-power`, normalised so the training images
/// weigh 1 on average. Empty classes get weight 0.
pub fn class_weights(counts: &[usize; NUM_CLASSES], power: f32) -> [f32; NUM_CLASSES] {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    let mut w = [0f32; NUM_CLASSES];
    for (wi, &c) in w.iter_mut().zip(counts) {
        if c > 0 {
            *wi = (c as f32 / max).powf(-power);
        }
    }
    let total: usize = counts.iter().sum();
    let mean = counts
        .iter()
        .zip(&w)
        .map(|(&c, &wi)| c as f32 * wi)
        .sum::<f32>()
        / total.max(1) as f32;
    if mean > 0.0 {
        w.iter_mut().for_each(|x| *x /= mean);
    }
    w
}

fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    match cfg.optimizer {
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_weight_decay(cfg.weight_decay as f32)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(
                burn::optim::momentum::MomentumConfig::new()
                    .with_momentum(0.9)
                    .with_nesterov(true),
            ))
            .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
                cfg.weight_decay as f32,
            )))
            .init(),
    }
}

/// A training batch: augmented inputs, labels and (when distilling) the
/// teacher's soft targets: of the source images (offline) or of the
/// augmented inputs themselves (online).
struct Batch {
    pixels: Vec<f32>,
    labels: Vec<u8>,
    soft: Vec<f32>,
}

fn make_batch<T: TrainTask + ?Sized>(
    task: &T,
    idx: &[usize],
    cfg: &TrainConfig,
    epoch: usize,
    soft_targets: Option<&[f32]>,
    online: Option<&dyn BatchTeacher>,
) -> Result<Batch, TrainError> {
    let len = task.input_len();
    let mut pixels = vec![0f32; idx.len() * len];
    pixels
        .par_chunks_mut(len)
        .zip(idx.par_iter())
        .for_each(|(dst, &i)| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(mix_seed(
                mix_seed(cfg.seed, 0xA0A0 + epoch as u64),
                i as u64,
            ));
            task.train_example(i, cfg, &mut rng, dst);
        });
    let labels = task.train_labels();
    let soft = match (online, soft_targets) {
        (Some(teacher), _) => teacher.probs(&pixels).map_err(TrainError::Teacher)?,
        (None, Some(s)) => idx
            .iter()
            .flat_map(|&i| &s[i * NUM_CLASSES..(i + 1) * NUM_CLASSES])
            .copied()
            .collect(),
        (None, None) => Vec::new(),
    };
    Ok(Batch {
        pixels,
        labels: idx.iter().map(|&i| labels[i]).collect(),
        soft,
    })
}

fn input_tensor(pixels: Vec<f32>, n: usize, dims: [usize; 3], device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(pixels, [n, dims[0], dims[1], dims[2]]),
        device,
    )
}

fn argmax_rows(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks_exact(NUM_CLASSES)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// Validation results.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy (weighted per [`TrainTask::val_item_weights`]).
    pub acc: f64,
    /// Accuracy per class (0 for classes without items).
    pub class_acc: [f64; NUM_CLASSES],
    /// Predicted class per item.
    pub predictions: Vec<usize>,
}

/// Logits `[n * 7]` of `model` (validation mode) for `inputs`, `n` inputs
/// of shape `dims` one after the other.
pub fn predict_logits(
    model: &FaceNet,
    inputs: &[f32],
    dims: [usize; 3],
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let model = model.valid();
    let len: usize = dims.iter().product();
    let mut out = Vec::with_capacity(inputs.len() / len.max(1) * NUM_CLASSES);
    for chunk in inputs.chunks(256 * len.max(1)) {
        let n = chunk.len() / len;
        let logits = model.forward(input_tensor(chunk.to_vec(), n, dims, device));
        out.extend(
            logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| TrainError::Tensor(format!("{e:?}")))?,
        );
    }
    Ok(out)
}

/// Softmax of each row of 7 logits.
pub fn softmax_rows(logits: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(NUM_CLASSES) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = row.iter().map(|v| f64::from(v - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        out.extend(exp.iter().map(|e| (e / sum) as f32));
    }
    out
}

/// Mean of the probability rows of each item: `groups[i]` is the item of
/// row `i` (items numbered `0..n_items`).
pub fn average_groups(probs: &[f32], groups: &[usize], n_items: usize) -> Vec<f32> {
    let mut sum = vec![0f32; n_items * NUM_CLASSES];
    let mut count = vec![0usize; n_items];
    for (row, &g) in probs.chunks_exact(NUM_CLASSES).zip(groups) {
        for (s, p) in sum[g * NUM_CLASSES..(g + 1) * NUM_CLASSES]
            .iter_mut()
            .zip(row)
        {
            *s += p;
        }
        count[g] += 1;
    }
    for (row, &c) in sum.chunks_exact_mut(NUM_CLASSES).zip(&count) {
        row.iter_mut().for_each(|v| *v /= c.max(1) as f32);
    }
    sum
}

/// Accuracy, per-class accuracy and cross-entropy of `model` on the
/// validation split of `task` (probabilities averaged per item).
pub fn evaluate<T: TrainTask + ?Sized>(
    model: &FaceNet,
    task: &T,
    device: &Device,
) -> Result<Evaluation, TrainError> {
    let logits = predict_logits(model, task.val_inputs(), task.input_dims(), device)?;
    let labels = task.val_labels();
    let probs = match task.val_groups() {
        Some(groups) => average_groups(&softmax_rows(&logits), groups, labels.len()),
        None => softmax_rows(&logits),
    };
    let predictions = argmax_rows(&probs);
    let mut loss = 0f64;
    for (row, &l) in probs.chunks_exact(NUM_CLASSES).zip(labels) {
        loss -= f64::from(row[usize::from(l)]).max(1e-12).ln();
    }
    let mut correct = [0usize; NUM_CLASSES];
    let mut counts = [0usize; NUM_CLASSES];
    for (&p, &l) in predictions.iter().zip(labels) {
        counts[usize::from(l)] += 1;
        if p == usize::from(l) {
            correct[p] += 1;
        }
    }
    let mut class_acc = [0f64; NUM_CLASSES];
    for c in 0..NUM_CLASSES {
        if counts[c] > 0 {
            class_acc[c] = correct[c] as f64 / counts[c] as f64;
        }
    }
    let n = labels.len().max(1) as f64;
    let acc = match task.val_item_weights() {
        Some(w) => {
            let total: f64 = w.iter().sum();
            let hit: f64 = predictions
                .iter()
                .zip(labels)
                .zip(&w)
                .filter(|((p, l), _)| **p == usize::from(**l))
                .map(|(_, w)| w)
                .sum();
            hit / total.max(1e-12)
        }
        None => correct.iter().sum::<usize>() as f64 / n,
    };
    Ok(Evaluation {
        loss: loss / n,
        acc,
        class_acc,
        predictions,
    })
}

fn log_line(pb: &ProgressBar, msg: &str) {
    if pb.is_hidden() {
        eprintln!("{msg}");
    } else {
        pb.println(msg);
    }
}

/// Runs (or resumes) training; returns the final run state. Checkpoints,
/// metrics and curves go to `opts.out` after every epoch.
pub fn train<T: TrainTask + ?Sized>(
    data: &T,
    config: TrainConfig,
    opts: &TrainOptions,
) -> Result<RunState, TrainError> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|source| TrainError::Output {
        path: out.display().to_string(),
        source,
    })?;
    let device = compute_device();
    let ad = device.clone().autodiff();

    let last_dir = out.join(LAST_DIR);
    let resume_dir = match &opts.resume {
        Some(p) => Some(checkpoint::checkpoint_dir(p)),
        None if checkpoint::has_checkpoint(&last_dir) => Some(last_dir.clone()),
        None => None,
    };
    let (mut state, mut model, mut optim) = match &resume_dir {
        Some(dir) => {
            let state = checkpoint::load_state(dir)?;
            if state.config != config {
                eprintln!(
                    "note: resuming {} with the configuration saved in the checkpoint (command-line training options are ignored)",
                    dir.display()
                );
            }
            state.config.validate().map_err(TrainError::Config)?;
            let model = checkpoint::load_model(dir, &state, &ad)?;
            if !checkpoint::has_optimizer(dir) {
                return Err(TrainError::Config(format!(
                    "{} holds no optimizer state (a best-model checkpoint?); resume from <out>/{LAST_DIR}",
                    dir.display()
                )));
            }
            let optim = checkpoint::load_optimizer(dir, optimizer(&state.config))?;
            eprintln!("resuming {} after epoch {}", dir.display(), state.epoch);
            (state, model, optim)
        }
        None => {
            config.validate().map_err(TrainError::Config)?;
            ad.seed(config.seed);
            let model = match &config.init {
                Some(init) => warm_start(init, &config, &ad)?,
                None => config.model.init(&ad),
            };
            let optim = optimizer(&config);
            (RunState::new(config, data.describe()), model, optim)
        }
    };
    if state.data_dir.is_none() {
        state.data_dir = opts.data_dir.clone();
        state.val_dir = opts.val_dir.clone();
    }
    let cfg = state.config.clone();
    let weights = class_weights(&data.train_class_counts(), cfg.class_weight_power);
    let dims = data.input_dims();
    if cfg.model.input_hw != [dims[1], dims[2]] {
        return Err(TrainError::Config(format!(
            "the network expects {:?} inputs but the data gives {:?}",
            cfg.model.input_hw,
            [dims[1], dims[2]]
        )));
    }
    let n_val = data.val_labels().len();
    let dedup_keep: Vec<usize> = data
        .val_dedup_keep()
        .unwrap_or_else(|| (0..n_val).collect());
    let n_train = data.train_labels().len();
    let steps_per_epoch = n_train / cfg.batch_size + usize::from(n_train % cfg.batch_size >= 2);
    let will_train = !state.finished() && opts.stop_after != Some(0);
    let soft_targets = match &cfg.distill {
        Some(d) if will_train && !d.online => Some(teacher_targets(data, d)?),
        _ => None,
    };
    let online = match &cfg.distill {
        Some(d) if will_train && d.online => {
            let teacher = data.online_teacher(d).map_err(TrainError::Teacher)?;
            eprintln!(
                "teacher {}: online, soft targets (T {}) of every augmented batch",
                d.teacher.display(),
                d.temperature
            );
            Some(teacher)
        }
        _ => None,
    };
    eprintln!(
        "model {:?}: {} parameters, {:.1} M MAC; {} train / {} val items; class weights {:?}{}",
        cfg.model,
        model.num_params(),
        cfg.model.macs() as f64 / 1e6,
        n_train,
        n_val,
        weights,
        cfg.distill.as_ref().map_or(String::new(), |d| format!(
            "; distilled from {}",
            d.describe()
        ))
    );

    // Quantisation-aware training: grids of the current weights, redone
    // after every epoch's training (so a resumed run gets the same ones).
    let qat_calib = match cfg.qat_calib_images {
        Some(n) if will_train => Some(
            data.qat_calibration(n, cfg.seed)
                .map_err(TrainError::Config)?,
        ),
        _ => None,
    };
    let with_grids = |mut model: FaceNet| -> Result<FaceNet, TrainError> {
        if let Some(calib) = &qat_calib {
            let grids = qat::QatGrids::calibrate(&model, calib).map_err(TrainError::Config)?;
            grids.check(&model).map_err(TrainError::Config)?;
            model.int8_grids = Some(grids);
        }
        Ok(model)
    };
    if let Some(calib) = &qat_calib {
        eprintln!(
            "quantisation-aware training: the int8 export simulated, grids calibrated on {} training images after every epoch",
            calib.len()
        );
        model = with_grids(model)?;
    }

    let mut epochs_this_run = 0;
    while !state.finished() && opts.stop_after.is_none_or(|n| epochs_this_run < n) {
        let epoch = state.epoch + 1;
        let t0 = Instant::now();
        ad.seed(mix_seed(cfg.seed, epoch as u64));
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(mix_seed(
            cfg.seed,
            0x5000 + epoch as u64,
        )));
        let batches: Vec<Vec<usize>> = order
            .chunks(cfg.batch_size)
            .filter(|b| b.len() >= 2)
            .map(<[usize]>::to_vec)
            .collect();

        let pb = if opts.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(batches.len() as u64)
        };
        pb.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_prefix(format!("{epoch}/{}", cfg.epochs));

        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut lr = 0.0;
        let train_start = Instant::now();
        let result: Result<FaceNet, TrainError> = std::thread::scope(|scope| {
            let mut model = model;
            let (tx, rx) = sync_channel::<Result<Batch, TrainError>>(3);
            let producer_batches = &batches;
            let producer_cfg = &cfg;
            let producer_soft = soft_targets.as_deref();
            let producer_online = online.as_deref();
            scope.spawn(move || {
                for idx in producer_batches {
                    let batch = make_batch(
                        data,
                        idx,
                        producer_cfg,
                        epoch,
                        producer_soft,
                        producer_online,
                    );
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
            for (b, batch) in rx.iter().enumerate() {
                let batch = batch?;
                let n = batch.labels.len();
                let step = (epoch - 1) * steps_per_epoch + b;
                lr = cfg.lr_at(step, steps_per_epoch, state.lr_scale);
                let x = input_tensor(batch.pixels, n, dims, &ad);
                let logits = model.forward(x);
                let soft = cfg.distill.as_ref().map(|d| SoftTargets {
                    probs: &batch.soft,
                    alpha: d.alpha,
                    temperature: d.temperature,
                });
                let loss = batch_loss(
                    logits.clone(),
                    &batch.labels,
                    &weights,
                    cfg.label_smoothing,
                    soft,
                    &ad,
                );
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);

                let loss_v: f32 = loss.into_scalar();
                let host_logits = logits
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| TrainError::Tensor(format!("{e:?}")))?;
                let preds = argmax_rows(&host_logits);
                correct += preds
                    .iter()
                    .zip(&batch.labels)
                    .filter(|(p, l)| **p == usize::from(**l))
                    .count();
                loss_sum += f64::from(loss_v) * n as f64;
                seen += n;
                let rate = seen as f64 / train_start.elapsed().as_secs_f64().max(1e-9);
                let msg = format!(
                    "loss {:.4} acc {:.3} lr {:.2e} {:.0} samples/s",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64,
                    lr,
                    rate
                );
                pb.set_message(msg.clone());
                pb.inc(1);
                let tenth = (batches.len() / 10).max(1);
                if pb.is_hidden() && !opts.quiet && (b + 1) % tenth == 0 {
                    eprintln!(
                        "epoch {epoch}/{} batch {}/{}: {msg}",
                        cfg.epochs,
                        b + 1,
                        batches.len()
                    );
                }
            }
            Ok(model)
        });
        model = with_grids(result?)?;
        pb.finish_and_clear();
        let train_secs = train_start.elapsed().as_secs_f64();

        let eval = evaluate(&model, data, &device)?;
        let val_labels = data.val_labels();
        let dedup_correct = dedup_keep
            .iter()
            .filter(|&&i| eval.predictions[i] == usize::from(val_labels[i]))
            .count();
        let m = EpochMetrics {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_loss: eval.loss,
            val_acc: eval.acc,
            val_acc_dedup: dedup_correct as f64 / dedup_keep.len().max(1) as f64,
            val_class_acc: eval.class_acc,
            seconds: t0.elapsed().as_secs_f64(),
            samples_per_sec: seen as f64 / train_secs.max(1e-9),
        };

        state.epoch = epoch;
        let improved = m.val_acc > state.best_val_acc;
        if improved {
            state.best_val_acc = m.val_acc;
            state.best_epoch = epoch;
            state.plateau_wait = 0;
        } else {
            state.plateau_wait += 1;
            if cfg.schedule == Schedule::Plateau && state.plateau_wait >= cfg.plateau_patience {
                state.lr_scale *= cfg.plateau_factor;
                state.plateau_wait = 0;
            }
        }
        if epoch - state.best_epoch >= cfg.patience {
            state.stopped_early = true;
        }
        state.history.push(m.clone());
        log_line(
            &pb,
            &format!(
                "epoch {epoch}/{}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} (dedup {:.4}) | lr {:.2e} | {:.0} s, {:.0} samples/s{}{}",
                cfg.epochs,
                m.train_loss,
                m.train_acc,
                m.val_loss,
                m.val_acc,
                m.val_acc_dedup,
                m.lr,
                m.seconds,
                m.samples_per_sec,
                if improved { " | new best" } else { "" },
                if state.stopped_early { " | early stop" } else { "" },
            ),
        );
        if let Some(extra) = data.val_report(&eval.predictions) {
            log_line(&pb, &format!("epoch {epoch}: {extra}"));
        }

        if improved {
            checkpoint::save_checkpoint(&out.join(BEST_DIR), &model, None, &state)?;
        }
        checkpoint::save_checkpoint(&last_dir, &model, Some(&optim), &state)?;
        write_outputs(out, &state.history)?;
        epochs_this_run += 1;
    }
    Ok(state)
}

/// The weights of the checkpoint at `init` (a `best` or `checkpoint`
/// directory, or its `state.json`), which must hold the run's architecture.
fn warm_start(init: &Path, config: &TrainConfig, device: &Device) -> Result<FaceNet, TrainError> {
    let dir = checkpoint::checkpoint_dir(init);
    let saved = checkpoint::load_state(&dir)?;
    if saved.config.model != config.model {
        return Err(TrainError::Config(format!(
            "--init {} holds a {:?} network but this run trains {:?}; pass the checkpoint's --arch (or none: it is then taken from the checkpoint)",
            dir.display(),
            saved.config.model,
            config.model
        )));
    }
    let model = checkpoint::load_model(&dir, &saved, device)?;
    eprintln!(
        "initialised from {} (epoch {} of its run, val acc {:.4})",
        dir.display(),
        saved.epoch,
        saved.best_val_acc
    );
    Ok(model)
}

/// Runs the distillation teacher over the training data, printing how
/// long it took and its training accuracy.
fn teacher_targets<T: TrainTask + ?Sized>(
    data: &T,
    distill: &DistillConfig,
) -> Result<Vec<f32>, TrainError> {
    let t0 = Instant::now();
    let soft = data.soft_targets(distill).map_err(TrainError::Teacher)?;
    let labels = data.train_labels();
    if soft.len() != labels.len() * NUM_CLASSES {
        return Err(TrainError::Teacher(format!(
            "teacher model {} gave {} values for {} training items",
            distill.teacher.display(),
            soft.len(),
            labels.len()
        )));
    }
    let correct = argmax_rows(&soft)
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    eprintln!(
        "teacher {}: soft targets (T {}) for {} training items in {:.1} s; teacher train acc {:.4}",
        distill.teacher.display(),
        distill.temperature,
        labels.len(),
        t0.elapsed().as_secs_f64(),
        correct as f64 / labels.len().max(1) as f64
    );
    Ok(soft)
}

fn write_outputs(out: &Path, history: &[EpochMetrics]) -> Result<(), TrainError> {
    metrics::write_metrics(out, history).map_err(|source| TrainError::Output {
        path: out.join("metrics.csv").display().to_string(),
        source,
    })?;
    if let Err(e) = metrics::plot_curves(&out.join("curves.png"), history) {
        eprintln!(
            "warning: could not draw {}: {e}",
            out.join("curves.png").display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FaceNetConfig;

    /// Input `i` is filled with `i`.
    struct Numbered(Vec<u8>);

    impl TrainTask for Numbered {
        fn input_dims(&self) -> [usize; 3] {
            [1, 2, 2]
        }
        fn train_labels(&self) -> &[u8] {
            &self.0
        }
        fn train_example(
            &self,
            i: usize,
            _: &TrainConfig,
            _: &mut rand::rngs::StdRng,
            dst: &mut [f32],
        ) {
            dst.fill(i as f32);
        }
        fn val_inputs(&self) -> &[f32] {
            &[]
        }
        fn val_labels(&self) -> &[u8] {
            &[]
        }
        fn describe(&self) -> String {
            "numbered".into()
        }
    }

    #[test]
    fn batch_rows_keep_the_soft_targets_of_their_source() {
        let task = Numbered(vec![0, 1, 2, 3, 4, 5]);
        let soft: Vec<f32> = (0..6 * NUM_CLASSES).map(|v| v as f32).collect();
        let cfg = TrainConfig::default();
        let batch = make_batch(&task, &[3, 0, 5], &cfg, 1, Some(&soft), None).expect("batch");
        assert_eq!(batch.labels, vec![3, 0, 5]);
        for (row, src) in [3usize, 0, 5].into_iter().enumerate() {
            assert_eq!(batch.pixels[row * 4], src as f32);
            assert_eq!(
                batch.soft[row * NUM_CLASSES..(row + 1) * NUM_CLASSES],
                soft[src * NUM_CLASSES..(src + 1) * NUM_CLASSES]
            );
        }
        let plain = make_batch(&task, &[1, 2], &cfg, 1, None, None).expect("batch");
        assert!(plain.soft.is_empty());
    }

    /// A teacher whose probabilities spell out its input's first value; it
    /// fails on input 5.
    struct Echo;

    impl BatchTeacher for Echo {
        fn probs(&self, inputs: &[f32]) -> Result<Vec<f32>, String> {
            if inputs.contains(&5.0) {
                return Err("teacher model echo.emo failed".into());
            }
            Ok(inputs.chunks(4).flat_map(|x| [x[0]; NUM_CLASSES]).collect())
        }
    }

    #[test]
    fn an_online_teacher_labels_the_batch_it_sees_and_its_error_stops_the_batch() {
        let task = Numbered(vec![0, 1, 2, 3, 4, 5]);
        let stale: Vec<f32> = vec![-1.0; 6 * NUM_CLASSES];
        let cfg = TrainConfig::default();
        let batch = make_batch(&task, &[4, 2], &cfg, 1, Some(&stale), Some(&Echo)).expect("batch");
        assert_eq!(
            batch.soft,
            [[4.0; NUM_CLASSES], [2.0; NUM_CLASSES]].concat()
        );
        let err = make_batch(&task, &[1, 5], &cfg, 1, None, Some(&Echo))
            .err()
            .expect("the teacher's error")
            .to_string();
        assert!(err.contains("echo.emo"), "{err}");
    }

    /// Logits of `model` for two fixed 48x48 inputs.
    fn fixed_logits(model: &FaceNet, device: &Device) -> Vec<f32> {
        let px: Vec<f32> = (0..2 * 48 * 48)
            .map(|i| (i % 13) as f32 * 0.2 - 1.2)
            .collect();
        predict_logits(model, &px, [1, 48, 48], device).expect("f32 logits")
    }

    #[test]
    fn warm_start_loads_the_checkpoint_weights_and_refuses_another_network() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = compute_device();
        let config = TrainConfig {
            model: FaceNetConfig::preset("tiny").expect("tiny"),
            ..TrainConfig::default()
        };
        device.seed(7);
        let saved = config.model.init(&device);
        let state = RunState::new(config.clone(), "test".into());
        let ckpt = dir.path().join("best");
        checkpoint::save_checkpoint(&ckpt, &saved, None, &state).expect("saves");

        device.seed(8);
        let fresh = config.model.init(&device);
        let loaded = warm_start(&ckpt.join("state.json"), &config, &device).expect("loads");
        let want = fixed_logits(&saved, &device);
        assert_eq!(fixed_logits(&loaded, &device), want);
        assert_ne!(fixed_logits(&fresh, &device), want, "another seed differs");

        let other = TrainConfig {
            model: FaceNetConfig::preset("vgg16").expect("vgg16"),
            ..TrainConfig::default()
        };
        let err = warm_start(&ckpt, &other, &device)
            .expect_err("another architecture is refused")
            .to_string();
        assert!(err.contains("--init") && err.contains("best"), "{err}");
        let err = warm_start(&dir.path().join("missing"), &config, &device)
            .expect_err("a missing checkpoint is refused")
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
