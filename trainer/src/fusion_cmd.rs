//! `emoedge-train fusion ...`: temperature calibration, fusion weight and
//! threshold, and the evaluation of the shipped face, voice and fusion files.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use emoedge_trainer::fusion::{
    self, CalibrateOptions, FusionEvalOptions, ModelFiles, CALIBRATE_SEED, DEFAULT_MAX_UNCERTAIN,
    DEFAULT_PAIRS_PER_CLIP, EVAL_SEED,
};

#[derive(Subcommand)]
pub enum FusionCmd {
    /// Fit each model's temperature on its validation data (written into the
    /// model files), then the face weight and the uncertain threshold on
    /// same-class face/voice pairs (written to models/fusion.toml).
    Calibrate(CalibrateArgs),
    /// Face-only, voice-only and fused accuracy of the shipped files
    /// (models/face.emo, models/voice.emo, models/fusion.toml) on same-class pairs.
    Eval(EvalArgs),
}

/// The data and the files.
#[derive(Args)]
pub struct DataArgs {
    /// Validation faces: <class>/<images> (e.g. /work/shared/data/fer2013/val).
    #[arg(long)]
    face_data: PathBuf,
    /// Validation voice clips: <class>/<audio files> (used whole), or a
    /// RAVDESS/TESS/SAVEE/CREMA-D tree (only its validation speakers).
    #[arg(long)]
    voice_data: PathBuf,
    /// Face classifier file.
    #[arg(long, default_value = "models/face.emo")]
    face_model: PathBuf,
    /// Voice classifier file.
    #[arg(long, default_value = "models/voice.emo")]
    voice_model: PathBuf,
    /// Faces paired with each voice clip (same class, drawn at random).
    #[arg(long, default_value_t = DEFAULT_PAIRS_PER_CLIP)]
    pairs_per_clip: usize,
    /// Seed of the voice validation split of a corpus tree (it picks the TESS
    /// words); default: the training seed recorded in the voice model, else 7.
    #[arg(long)]
    split_seed: Option<u64>,
}

impl DataArgs {
    fn files(&self, fusion: PathBuf) -> ModelFiles {
        ModelFiles {
            face: self.face_model.clone(),
            voice: self.voice_model.clone(),
            fusion,
        }
    }
}

#[derive(Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Fusion configuration to write (its other settings are kept).
    #[arg(long, default_value = "models/fusion.toml")]
    out: PathBuf,
    /// Seed of the pairing.
    #[arg(long, default_value_t = CALIBRATE_SEED)]
    seed: u64,
    /// Largest share of pairs the uncertain threshold may leave uncertain.
    #[arg(long, default_value_t = DEFAULT_MAX_UNCERTAIN)]
    max_uncertain: f64,
    /// Fit and print only; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Fusion configuration (the device's defaults when missing).
    #[arg(long, default_value = "models/fusion.toml")]
    fusion: PathBuf,
    /// Seed of the pairing.
    #[arg(long, default_value_t = EVAL_SEED)]
    seed: u64,
    /// Write {"n", "face_accuracy", "voice_accuracy", "fused_accuracy", "uncertain_rate"} here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(cmd: FusionCmd) -> Result<()> {
    match cmd {
        FusionCmd::Calibrate(a) => {
            anyhow::ensure!(
                a.data.pairs_per_clip > 0,
                "--pairs-per-clip must be at least 1"
            );
            anyhow::ensure!(
                (0.0..=1.0).contains(&a.max_uncertain),
                "--max-uncertain must be a share in [0, 1]"
            );
            fusion::calibrate(&CalibrateOptions {
                face_data: a.data.face_data.clone(),
                voice_data: a.data.voice_data.clone(),
                files: a.data.files(a.out.clone()),
                pairs_per_clip: a.data.pairs_per_clip,
                seed: a.seed,
                max_uncertain: a.max_uncertain,
                dry_run: a.dry_run,
                split_seed: a.data.split_seed,
            })
            .map(drop)
        }
        FusionCmd::Eval(a) => {
            anyhow::ensure!(
                a.data.pairs_per_clip > 0,
                "--pairs-per-clip must be at least 1"
            );
            fusion::evaluate(&FusionEvalOptions {
                face_data: a.data.face_data.clone(),
                voice_data: a.data.voice_data.clone(),
                files: a.data.files(a.fusion.clone()),
                pairs_per_clip: a.data.pairs_per_clip,
                seed: a.seed,
                json: a.json,
                split_seed: a.data.split_seed,
            })
            .map(drop)
        }
    }
}
