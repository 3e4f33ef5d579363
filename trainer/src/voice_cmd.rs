//! `emoedge-train voice ...`: training, export and throughput of the voice
//! emotion model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use emoedge_shared::audio::VoicePreprocessing;
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{self, TrainConfig, TrainOptions, TrainTask};
use emoedge_trainer::voice::split::parse_actors;
use emoedge_trainer::voice::{
    export_voice_checkpoint, load_voice_data, VoiceData, VoiceDataOptions, VoiceExport,
};

#[derive(Subcommand)]
pub enum VoiceCmd {
    /// Train (or resume) the voice model on speech corpora.
    Train(Box<VoiceTrainArgs>),
    /// Export a checkpoint to an emoedge model file (int8 with data).
    Export(VoiceExportArgs),
    /// Measure training and inference throughput of the voice architectures.
    BenchTrain(VoiceBenchArgs),
    /// Merge f32 voice models into one int8 model file (logits summed).
    Ensemble(VoiceEnsembleArgs),
}

/// Which clips validate (speaker-independent).
#[derive(Args, Clone)]
pub struct SplitArgs {
    /// RAVDESS actors held out for validation.
    #[arg(long, default_value = "17-20")]
    val_ravdess: String,
    /// SAVEE speakers held out (comma-separated).
    #[arg(long, default_value = "DC")]
    val_savee: String,
    /// Fraction of TESS words held out (both speakers).
    #[arg(long, default_value_t = 0.2)]
    val_tess_words: f64,
    /// Use at most N clips per class and split (quick tests).
    #[arg(long)]
    max_per_class: Option<usize>,
    /// Seed of the TESS word split (default: --seed, or the run's seed on
    /// export). Runs meant for one ensemble need the same split seed, so
    /// that none has trained on another's validation words.
    #[arg(long, value_name = "N")]
    split_seed: Option<u64>,
}

impl SplitArgs {
    fn options(&self, seed: u64) -> Result<VoiceDataOptions> {
        let mut o = VoiceDataOptions::default();
        o.split.ravdess_actors = parse_actors(&self.val_ravdess).map_err(anyhow::Error::msg)?;
        o.split.savee_speakers = self
            .val_savee
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        o.split.tess_word_fraction = self.val_tess_words;
        o.split.seed = self.split_seed.unwrap_or(seed);
        o.max_per_class = self.max_per_class;
        Ok(o)
    }
}

#[derive(Args)]
pub struct VoiceTrainArgs {
    /// Speech data: RAVDESS/TESS/SAVEE/CREMA-D trees by their file naming, or <class>/<audio files>.
    #[arg(long)]
    data: PathBuf,
    /// Output directory: checkpoints, metrics.csv/json, curves.png, voice.emo.
    #[arg(long, default_value = "runs/voice")]
    out: PathBuf,
    /// Checkpoint directory (or its state.json) to resume; `<out>/checkpoint` is resumed automatically.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    split: SplitArgs,
    /// Architecture preset (tiny, v16, v24, v16x2).
    #[arg(long, default_value = "v16")]
    arch: String,
    /// Maximum epochs.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Weight decay.
    #[arg(long, default_value_t = 0.05)]
    weight_decay: f64,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 15)]
    patience: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after N epochs in this invocation (the run stays resumable).
    #[arg(long)]
    stop_after: Option<usize>,
    /// No progress bars or per-batch log lines.
    #[arg(long)]
    quiet: bool,
    /// Calibration windows for the int8 export at the end of training.
    #[arg(long, default_value_t = 600)]
    calib_windows: usize,
}

#[derive(Args)]
pub struct VoiceEnsembleArgs {
    /// f32 voice model files to merge (repeat the flag), e.g. runs/voice/voice.f32.emo.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Output model file (int8); the f32 merge goes next to it as <stem>.f32.emo.
    #[arg(short, long, default_value = "models/voice.emo")]
    output: PathBuf,
    /// Speech data for calibration and validation (as for `voice train`).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    split: SplitArgs,
    /// Seed of the calibration choice and, without --split-seed, of the TESS word split.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Calibration windows drawn from the training split.
    #[arg(long, default_value_t = 600)]
    calib_windows: usize,
}

#[derive(Args)]
pub struct VoiceExportArgs {
    /// Checkpoint directory (e.g. runs/voice/best) or its state.json.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output model file; with data, int8 here and f32 as <stem>.f32.emo.
    #[arg(short, long, default_value = "models/voice.emo")]
    output: PathBuf,
    /// Speech data for calibration and validation (default: the run's --data).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    split: SplitArgs,
    /// Calibration windows drawn from the training split.
    #[arg(long, default_value_t = 600)]
    calib_windows: usize,
    /// Write the f32 model only (no data needed).
    #[arg(long)]
    f32_only: bool,
}

#[derive(Args)]
pub struct VoiceBenchArgs {
    /// Comma-separated architecture presets.
    #[arg(long, default_value = "v16,v24,v16x2")]
    arch: String,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Timed batches per architecture.
    #[arg(long, default_value_t = 5)]
    batches: usize,
}

fn preset(name: &str) -> Result<FaceNetConfig> {
    let pre = VoicePreprocessing::default();
    FaceNetConfig::voice_preset(
        name,
        usize::from(pre.frames),
        usize::from(pre.logmel.n_mels),
    )
    .with_context(|| {
        format!(
            "unknown voice architecture `{name}`; choose one of {}",
            FaceNetConfig::VOICE_PRESETS.join(", ")
        )
    })
}

fn load(data: &std::path::Path, split: &SplitArgs, seed: u64) -> Result<VoiceData> {
    let t = std::time::Instant::now();
    let d = load_voice_data(data, &split.options(seed)?)?;
    if let Some(w) = d.skipped_warning() {
        eprintln!("{w}");
    }
    if !d.unlabelled.is_empty() {
        eprintln!(
            "note: {} audio file(s) without a recognisable label were ignored (e.g. {})",
            d.unlabelled.len(),
            d.unlabelled[0].display()
        );
    }
    eprintln!(
        "loaded {} in {:.1} s",
        d.describe(),
        t.elapsed().as_secs_f64()
    );
    Ok(d)
}

fn print_export(e: &VoiceExport) {
    let show = |name: &str, a: &Option<emoedge_trainer::voice::export::ClipAccuracy>| {
        if let Some(a) = a {
            let per: Vec<String> = a
                .per_corpus
                .iter()
                .map(|(c, k, n)| {
                    format!(
                        "{} {:.2} % ({k}/{n})",
                        c.name(),
                        100.0 * *k as f64 / (*n).max(1) as f64
                    )
                })
                .collect();
            eprintln!(
                "  {name}: {:.2} % of clips, corpus mean {:.2} %; {}",
                a.overall * 100.0,
                a.corpus_mean * 100.0,
                per.join(", ")
            );
        }
    };
    eprintln!(
        "exported {}{}",
        e.model.display(),
        e.f32_model.as_ref().map_or(String::new(), |p| format!(
            " (int8; f32 in {})",
            p.display()
        ))
    );
    show("f32 ", &e.f32_acc);
    show("int8", &e.int8_acc);
}

fn train_cmd(a: VoiceTrainArgs) -> Result<()> {
    if let Some(n) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the rayon thread pool")?;
    }
    let cfg = TrainConfig {
        model: preset(&a.arch)?,
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        weight_decay: a.weight_decay,
        patience: a.patience,
        seed: a.seed,
        ..TrainConfig::default()
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    let data = load(&a.data, &a.split, a.seed)?;
    let opts = TrainOptions {
        out: a.out.clone(),
        resume: a.resume.clone(),
        stop_after: a.stop_after,
        quiet: a.quiet,
        data_dir: Some(a.data.clone()),
        val_dir: None,
    };
    let state = train::train(&data, cfg, &opts)?;
    if super::print_done(&state, "val acc (corpus mean)", &a.out) {
        let e = export_voice_checkpoint(
            &a.out.join(train::BEST_DIR),
            Some(&data),
            a.calib_windows,
            &a.out.join("voice.emo"),
        )?;
        print_export(&e);
    }
    Ok(())
}

fn ensemble_cmd(a: VoiceEnsembleArgs) -> Result<()> {
    let members = super::ensemble_cmd::read_members(&a.models)?;
    let merged = emoedge_trainer::ensemble::ensemble(&members, false)?;
    if merged.header.kind != emoedge_shared::format::ModelKind::VoiceClassifier {
        anyhow::bail!(
            "{} is a {} model; `voice ensemble` merges voice classifiers (faces: `face ensemble`)",
            a.models[0].display(),
            merged.header.kind.name()
        );
    }
    let data = load(&a.data, &a.split, a.seed)?;
    let e = emoedge_trainer::voice::quantize_voice_file(
        merged,
        &data,
        a.calib_windows,
        a.seed,
        &a.output,
    )?;
    print_export(&e);
    Ok(())
}

fn export_cmd(a: VoiceExportArgs) -> Result<()> {
    let dir = train::checkpoint::checkpoint_dir(&a.checkpoint);
    let state = train::checkpoint::load_state(&dir)?;
    let data = if a.f32_only {
        None
    } else {
        let data_dir = a.data.clone().or(state.data_dir.clone()).context(
            "the checkpoint does not record its data directory: pass --data DIR for calibration, or --f32-only",
        )?;
        Some(load(&data_dir, &a.split, state.config.seed)?)
    };
    let e = export_voice_checkpoint(&dir, data.as_ref(), a.calib_windows, &a.output)?;
    print_export(&e);
    Ok(())
}

fn bench_cmd(a: VoiceBenchArgs) -> Result<()> {
    super::print_bench(&a.arch, preset, a.batch_size, a.batches)
}

/// Runs a `voice` subcommand.
pub fn run(cmd: VoiceCmd) -> Result<()> {
    match cmd {
        VoiceCmd::Train(a) => train_cmd(*a),
        VoiceCmd::Export(a) => export_cmd(a),
        VoiceCmd::Ensemble(a) => ensemble_cmd(a),
        VoiceCmd::BenchTrain(a) => bench_cmd(a),
    }
}
