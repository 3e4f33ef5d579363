//! Checkpoints: a directory holding the model (`model.bpk`), the optimiser
//! state (`optim.bpk`) and the run state (`state.json`: configuration,
//! epoch counter, schedule and early-stopping state, metrics history).
//!
//! `<out>/checkpoint/` is rewritten after every epoch (through a temporary
//! directory and renames, so an interruption never leaves a half-written
//! checkpoint); `<out>/best/` holds the best epoch by validation accuracy.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::metrics::{write_atomic, EpochMetrics};
use crate::model::FaceNet;

/// Name of the latest checkpoint directory under `--out`.
pub const LAST_DIR: &str = "checkpoint";
/// Name of the best checkpoint directory under `--out`.
pub const BEST_DIR: &str = "best";
const MODEL_FILE: &str = "model.bpk";
const OPTIM_FILE: &str = "optim.bpk";
const STATE_FILE: &str = "state.json";

/// Everything besides tensors needed to continue a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The run's configuration.
    pub config: TrainConfig,
    /// Completed epochs.
    pub epoch: usize,
    /// Best validation accuracy so far.
    pub best_val_acc: f64,
    /// Epoch of `best_val_acc` (0 = none yet).
    pub best_epoch: usize,
    /// Plateau schedule multiplier of the learning rate.
    pub lr_scale: f64,
    /// Epochs since the last plateau reduction or improvement.
    pub plateau_wait: usize,
    /// True once early stopping ended the run.
    pub stopped_early: bool,
    /// Description of the training data.
    pub data: String,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// `--data` of the run (for export).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// `--val` of the run (for export).
    #[serde(default)]
    pub val_dir: Option<PathBuf>,
}

impl RunState {
    /// A fresh run.
    pub fn new(config: TrainConfig, data: String) -> Self {
        RunState {
            config,
            epoch: 0,
            best_val_acc: 0.0,
            best_epoch: 0,
            lr_scale: 1.0,
            plateau_wait: 0,
            stopped_early: false,
            data,
            history: Vec::new(),
            data_dir: None,
            val_dir: None,
        }
    }

    /// True when the run has nothing left to do.
    pub fn finished(&self) -> bool {
        self.stopped_early || self.epoch >= self.config.epochs
    }
}

/// Errors reading or writing checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// Path involved.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// burn could not read or write a record.
    #[error("checkpoint {path}: {reason}; the file is damaged or from another model, start a new run or pick another checkpoint")]
    Record {
        /// Path involved.
        path: String,
        /// burn's message.
        reason: String,
    },
    /// `state.json` is malformed.
    #[error("checkpoint {path}: bad state.json ({reason})")]
    State {
        /// Path involved.
        path: String,
        /// Parser message.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The checkpoint directory `arg` names: the directory itself, or the
/// directory of a `state.json` / `model.bpk` inside it.
pub fn checkpoint_dir(arg: &Path) -> PathBuf {
    if arg.is_file() {
        arg.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        arg.to_path_buf()
    }
}

/// True when `dir` holds a complete checkpoint.
pub fn has_checkpoint(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file() && dir.join(MODEL_FILE).is_file()
}

/// True when `dir` holds optimiser state (a resumable checkpoint).
pub fn has_optimizer(dir: &Path) -> bool {
    dir.join(OPTIM_FILE).is_file()
}

/// Writes a checkpoint to `dir` atomically (temporary directory + rename).
/// `optim` is omitted for "best" checkpoints that only serve export.
pub fn save_checkpoint(
    dir: &Path,
    model: &FaceNet,
    optim: Option<&ModuleOptimizer>,
    state: &RunState,
) -> Result<(), CheckpointError> {
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let record_err = |path: &Path, e: burn::store::RecordError| CheckpointError::Record {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let model_path = tmp.join(MODEL_FILE);
    model
        .clone()
        .into_record()
        .save(&model_path)
        .map_err(|e| record_err(&model_path, e))?;
    if let Some(optim) = optim {
        let optim_path = tmp.join(OPTIM_FILE);
        optim
            .to_record()
            .save(&optim_path)
            .map_err(|e| record_err(&optim_path, e))?;
    }
    let state_path = tmp.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state).map_err(|e| CheckpointError::State {
        path: state_path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_atomic(&state_path, &json).map_err(io(&state_path))?;
    let old = dir.with_extension("old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Reads only the run state of a checkpoint.
pub fn load_state(dir: &Path) -> Result<RunState, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::State {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Loads the model of a checkpoint (built from its saved configuration) on
/// `device`.
pub fn load_model(
    dir: &Path,
    state: &RunState,
    device: &Device,
) -> Result<FaceNet, CheckpointError> {
    let path = dir.join(MODEL_FILE);
    let record = ModuleRecord::load(&path).map_err(|e| CheckpointError::Record {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    state
        .config
        .model
        .init(device)
        .try_load_record(record)
        .map_err(|e| CheckpointError::Record {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Loads the optimiser state of a checkpoint into `optim`.
pub fn load_optimizer(
    dir: &Path,
    optim: ModuleOptimizer,
) -> Result<ModuleOptimizer, CheckpointError> {
    let path = dir.join(OPTIM_FILE);
    let record = OptimizerRecord::load(&path).map_err(|e| CheckpointError::Record {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(optim.load_record(record))
}
