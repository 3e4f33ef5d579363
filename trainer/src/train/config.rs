//! Training hyper-parameters (saved with every checkpoint).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::model::FaceNetConfig;
use crate::voice::VoiceAugmentConfig;

/// Optimiser choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay).
    AdamW,
    /// SGD with Nesterov momentum 0.9 and L2 weight decay.
    Sgd,
}

/// Learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warm-up, then cosine decay to `min_lr_ratio * lr` at the last epoch.
    Cosine,
    /// Constant after warm-up; multiplied by `plateau_factor` after
    /// `plateau_patience` epochs without a better validation accuracy.
    Plateau,
}

/// Knowledge distillation from a teacher model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// The teacher: an emoedge face classifier model file (f32 or int8, an
    /// ensemble too), stored as an absolute path so a resumed run finds it.
    pub teacher: PathBuf,
    /// Weight of the distillation term (0 = plain hard-label training).
    pub alpha: f32,
    /// Softmax temperature of teacher and student in the distillation term.
    pub temperature: f32,
    /// Consistent teaching: the teacher labels every augmented batch as the
    /// student sees it, instead of once on the un-augmented images.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub online: bool,
}

impl DistillConfig {
    /// Default `--distill-alpha`.
    pub const DEFAULT_ALPHA: f32 = 0.5;
    /// Default `--distill-temperature`.
    pub const DEFAULT_TEMPERATURE: f32 = 4.0;

    /// The teacher's file name, for logs and model metadata.
    pub fn teacher_name(&self) -> String {
        self.teacher
            .file_name()
            .unwrap_or(self.teacher.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    /// "teacher.emo (alpha 0.5, T 4)", for logs.
    pub fn describe(&self) -> String {
        format!(
            "{} (alpha {}, T {}{})",
            self.teacher_name(),
            self.alpha,
            self.temperature,
            if self.online { ", online" } else { "" }
        )
    }
}

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Network architecture.
    pub model: FaceNetConfig,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Warm-up length in epochs (linear, per step).
    pub warmup_epochs: f64,
    /// Final learning rate of the cosine schedule as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Plateau schedule: epochs without improvement before a reduction.
    pub plateau_patience: usize,
    /// Plateau schedule: reduction factor.
    pub plateau_factor: f64,
    /// Early stopping: epochs without a better validation accuracy.
    pub patience: usize,
    /// Label smoothing (0 = none).
    pub label_smoothing: f32,
    /// Class weight = (count / max count)^-power (0 = unweighted, 0.5 =
    /// inverse square root frequency), normalised to mean 1.
    pub class_weight_power: f32,
    /// Face augmentation.
    pub augment: AugmentConfig,
    /// Voice augmentation.
    #[serde(default)]
    pub voice_augment: VoiceAugmentConfig,
    /// Seed of every random choice (init, shuffling, augmentation, dropout).
    pub seed: u64,
    /// Knowledge distillation from a teacher model file (`None` = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
    /// Warm start: the checkpoint directory (absolute) whose weights replace
    /// the random initialisation, e.g. to fine-tune a trained network with a
    /// new teacher or schedule (`None` = random initialisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Quantisation-aware training: the forward pass simulates the int8
    /// export, with activation grids calibrated on this many training
    /// images (`None` = plain f32 training). See [`super::qat`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qat_calib_images: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: FaceNetConfig::preset("vgg16").unwrap_or_else(|| unreachable!()),
            epochs: 30,
            batch_size: 64,
            lr: 2e-3,
            weight_decay: 0.05,
            optimizer: OptimizerKind::AdamW,
            schedule: Schedule::Cosine,
            warmup_epochs: 1.0,
            min_lr_ratio: 0.01,
            plateau_patience: 3,
            plateau_factor: 0.5,
            patience: 10,
            label_smoothing: 0.1,
            class_weight_power: 0.5,
            augment: AugmentConfig::default(),
            voice_augment: VoiceAugmentConfig::default(),
            seed: 42,
            distill: None,
            init: None,
            qat_calib_images: None,
        }
    }
}

impl TrainConfig {
    /// Checks the values; the message names the bad option.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return Err("--batch-size must be at least 2 (BatchNorm needs a batch)".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err("--lr must be a positive number".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err("label smoothing must be in 0..1".into());
        }
        if self.qat_calib_images == Some(0) {
            return Err(
                "quantisation-aware training needs at least 1 calibration image (--calib-images)"
                    .into(),
            );
        }
        if let Some(d) = &self.distill {
            if !(0.0..=1.0).contains(&d.alpha) {
                return Err("--distill-alpha must be in 0..1".into());
            }
            if !(d.temperature > 0.0 && d.temperature.is_finite()) {
                return Err("--distill-temperature must be a positive number".into());
            }
        }
        Ok(())
    }

    /// Learning rate at optimiser step `step` of `steps_per_epoch`, before
    /// any plateau reduction (`lr_scale`).
    pub fn lr_at(&self, step: usize, steps_per_epoch: usize, lr_scale: f64) -> f64 {
        let spe = steps_per_epoch.max(1) as f64;
        let t = step as f64 / spe; // epochs elapsed
        let warm = self.warmup_epochs.max(0.0);
        if t < warm {
            return self.lr * lr_scale * ((step + 1) as f64 / (warm * spe)).min(1.0);
        }
        match self.schedule {
            Schedule::Plateau => self.lr * lr_scale,
            Schedule::Cosine => {
                let total = (self.epochs as f64 - warm).max(1e-9);
                let p = ((t - warm) / total).clamp(0.0, 1.0);
                let min = self.lr * self.min_lr_ratio;
                min + (self.lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays() {
        let cfg = TrainConfig {
            epochs: 10,
            ..TrainConfig::default()
        };
        let spe = 100;
        assert!(cfg.lr_at(0, spe, 1.0) < cfg.lr * 0.02);
        assert!((cfg.lr_at(99, spe, 1.0) - cfg.lr).abs() < 1e-12);
        assert!(cfg.lr_at(500, spe, 1.0) < cfg.lr);
        let end = cfg.lr_at(10 * spe, spe, 1.0);
        assert!((end - cfg.lr * cfg.min_lr_ratio).abs() < 1e-9);
    }

    #[test]
    fn plateau_uses_scale() {
        let cfg = TrainConfig {
            schedule: Schedule::Plateau,
            ..TrainConfig::default()
        };
        assert!((cfg.lr_at(1000, 100, 0.25) - cfg.lr * 0.25).abs() < 1e-12);
    }

    #[test]
    fn distill_settings_default_to_none_and_are_checked() {
        // A state.json written before distillation existed still loads.
        let mut json = serde_json::to_value(TrainConfig::default()).expect("serialises");
        assert!(json.get("distill").is_none(), "no key without a teacher");
        json.as_object_mut().expect("object").remove("distill");
        let cfg: TrainConfig = serde_json::from_value(json).expect("old config loads");
        assert_eq!(cfg.distill, None);

        let mut cfg = TrainConfig {
            distill: Some(DistillConfig {
                teacher: "/m/teacher.emo".into(),
                alpha: 0.5,
                temperature: 4.0,
                online: false,
            }),
            ..TrainConfig::default()
        };
        assert!(cfg.validate().is_ok());
        let back: TrainConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).expect("serialises"))
                .expect("round trip");
        assert_eq!(back, cfg);
        let json = serde_json::to_value(&cfg).expect("serialises");
        assert!(
            json["distill"].get("online").is_none(),
            "an offline teacher writes the state.json of earlier runs: {json}"
        );
        if let Some(d) = cfg.distill.as_mut() {
            d.online = true;
        }
        let back: TrainConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).expect("serialises"))
                .expect("round trip");
        assert_eq!(back, cfg);
        assert!(cfg
            .distill
            .as_ref()
            .is_some_and(|d| d.describe().contains("online")));
        if let Some(d) = cfg.distill.as_mut() {
            d.alpha = 1.5;
        }
        assert!(cfg.validate().unwrap_err().contains("--distill-alpha"));
        if let Some(d) = cfg.distill.as_mut() {
            d.alpha = 0.5;
            d.temperature = 0.0;
        }
        assert!(cfg
            .validate()
            .unwrap_err()
            .contains("--distill-temperature"));
    }
}
