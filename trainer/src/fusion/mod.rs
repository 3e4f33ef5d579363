//! `emoedge-train fusion calibrate|eval`: temperature calibration of the
//! face and voice models, the fusion weight and "uncertain" threshold on
//! paired validation sets, and the evaluation of the shipped files.
//!
//! - [`temperature`]: NLL temperature fit and expected calibration error.
//! - [`scores`]: every validation file's uncalibrated scores, computed once.
//! - [`pairs`]: same-class face/voice pairs and the decisions of the shared
//!   [`FusionEngine`](emoedge_shared::fusion::FusionEngine) on them; the
//!   weight and threshold fits.
//! - [`files`]: the model header update and `fusion.toml`.
//!
//! [`calibrate`] fits a temperature per model on its own validation data,
//! writes it into the model file's header, then fits the face weight (grid
//! of 0.05, highest fused accuracy on the pairs) and the uncertainty
//! threshold (the largest on a 0.01 grid leaving at most
//! [`CalibrateOptions::max_uncertain`] of the pairs uncertain) and writes
//! `fusion.toml` beside the models. [`evaluate`] loads the files exactly as
//! the device does (the fusion configuration from `fusion.toml`, the
//! temperatures from the model headers) and reports face-only, voice-only
//! and fused accuracy on same-class pairs.

pub mod files;
pub mod pairs;
pub mod scores;
pub mod temperature;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use emoedge_shared::fusion::FusionConfig;
use emoedge_shared::Emotion;

use crate::eval::Classifier;
use crate::voice::SplitConfig;

use pairs::{FusionMetrics, Labelled, PairResult, PairSet, WeightPoint};
use scores::{ScoreSet, VoiceSelection};
use temperature::{CalibrationQuality, TemperatureFit};

/// Default pairs per voice clip.
pub const DEFAULT_PAIRS_PER_CLIP: usize = 10;
/// Default seed of the pairing for `calibrate`.
pub const CALIBRATE_SEED: u64 = 7;
/// Default seed of the pairing for `eval` (other draws than the fit's).
pub const EVAL_SEED: u64 = 42;
/// Default cap on the share of uncertain pairs for the threshold fit.
pub const DEFAULT_MAX_UNCERTAIN: f64 = 0.10;

/// The shipped files, as the device's `boards/*.toml` name them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFiles {
    /// Face classifier (`models/face.emo`).
    pub face: PathBuf,
    /// Voice classifier (`models/voice.emo`).
    pub voice: PathBuf,
    /// Fusion configuration (`models/fusion.toml`).
    pub fusion: PathBuf,
}

impl Default for ModelFiles {
    fn default() -> Self {
        ModelFiles {
            face: "models/face.emo".into(),
            voice: "models/voice.emo".into(),
            fusion: "models/fusion.toml".into(),
        }
    }
}

/// Both models and their validation scores.
struct Prepared {
    face_clf: Classifier,
    voice_clf: Classifier,
    face: ScoreSet,
    voice: ScoreSet,
    selection: VoiceSelection,
}

impl Prepared {
    fn load(
        files: &ModelFiles,
        face_data: &Path,
        voice_data: &Path,
        split_seed: Option<u64>,
    ) -> Result<Prepared> {
        let face_clf = Classifier::load(&files.face)?;
        let voice_clf = Classifier::load(&files.voice)?;
        let face = scores::face_scores(&face_clf, face_data)
            .with_context(|| format!("face model {}", files.face.display()))?;
        let split = voice_split(&voice_clf, split_seed);
        let (voice, selection) = scores::voice_scores(&voice_clf, voice_data, &split)
            .with_context(|| format!("voice model {}", files.voice.display()))?;
        for w in face
            .warnings("face data")
            .into_iter()
            .chain(voice.warnings("voice data"))
        {
            eprintln!("{w}");
        }
        Ok(Prepared {
            face_clf,
            voice_clf,
            face,
            voice,
            selection,
        })
    }

    fn pairs(&self, k: usize, seed: u64) -> PairSet {
        let fc: Vec<Emotion> = self.face.items.iter().map(|s| s.class).collect();
        let vc: Vec<Emotion> = self.voice.items.iter().map(|s| s.class).collect();
        pairs::make_pairs(&fc, &vc, k, seed)
    }

    fn tables(&self) -> (Vec<Labelled>, Vec<Labelled>) {
        let t = |s: &ScoreSet| s.items.iter().map(|i| (i.logits, i.class)).collect();
        (t(&self.face), t(&self.voice))
    }

    fn describe(&self, face_data: &Path, voice_data: &Path) -> Vec<String> {
        vec![
            format!(
                "face data  {}: {} images",
                face_data.display(),
                self.face.items.len()
            ),
            format!(
                "voice data {}: {} clips ({})",
                voice_data.display(),
                self.voice.items.len(),
                self.selection.describe()
            ),
        ]
    }
}

/// The validation split of a corpus tree for the voice model `clf`: the
/// training defaults ([`SplitConfig::default`]: RAVDESS actors 17-20,
/// SAVEE speaker DC, 20 % of the TESS words, 15 % of the CREMA-D actors)
/// with the seed `emoedge-train voice train` used, which also picks the
/// TESS words: `split_seed`, else the `seed` the export recorded in the
/// model's metadata, else the default's.
pub fn voice_split(clf: &Classifier, split_seed: Option<u64>) -> SplitConfig {
    let mut split = SplitConfig::default();
    let recorded = clf.model.header().meta("seed").and_then(|s| s.parse().ok());
    if let Some(seed) = split_seed.or(recorded) {
        split.seed = seed;
    }
    split
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

/// Printed summary lines of pair results.
fn summary_lines(m: &FusionMetrics, results: &[PairResult]) -> Vec<String> {
    let best = m.face_accuracy.max(m.voice_accuracy);
    let share = |f: &dyn Fn(&PairResult) -> bool| {
        results.iter().filter(|r| f(r)).count() as f64 / results.len().max(1) as f64
    };
    let mut out = vec![
        format!("face only   {:>8}", pct(m.face_accuracy)),
        format!("voice only  {:>8}", pct(m.voice_accuracy)),
        format!(
            "fused       {:>8}   ({:+.2} points over the better single modality)",
            pct(m.fused_accuracy),
            (m.fused_accuracy - best) * 100.0
        ),
        format!(
            "uncertain   {:>8} of the pairs; fused accuracy on the decided ones {}",
            pct(m.uncertain_rate),
            pairs::decided_accuracy(results).map_or("-".into(), pct)
        ),
        format!(
            "            with the same threshold, a modality alone would be uncertain on: face {}, voice {}",
            pct(share(&|r| r.face_uncertain)),
            pct(share(&|r| r.voice_uncertain))
        ),
        format!(
            "{:<10} {:>6} {:>9} {:>9} {:>9}",
            "class", "pairs", "face", "voice", "fused"
        ),
    ];
    for (e, n, f, v, u) in pairs::per_class(results) {
        out.push(format!(
            "{:<10} {:>6} {:>9} {:>9} {:>9}",
            e.name(),
            n,
            pct(f),
            pct(v),
            pct(u)
        ));
    }
    out
}

/// What `fusion calibrate` was asked to do.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// `<class>/<images>` validation faces.
    pub face_data: PathBuf,
    /// Validation voice clips: class folders, or a corpus tree (its
    /// validation speakers).
    pub voice_data: PathBuf,
    /// The model files to calibrate and the fusion file to write.
    pub files: ModelFiles,
    /// Faces paired with each voice clip.
    pub pairs_per_clip: usize,
    /// Seed of the pairing.
    pub seed: u64,
    /// Largest share of pairs the threshold may leave uncertain.
    pub max_uncertain: f64,
    /// Fit and print, write nothing.
    pub dry_run: bool,
    /// Seed of the voice validation split (see [`voice_split`]).
    pub split_seed: Option<u64>,
}

/// One model's calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCalibration {
    /// Samples fitted on.
    pub n: usize,
    /// The fit.
    pub fit: TemperatureFit,
    /// Quality at `T = 1`.
    pub uncalibrated: CalibrationQuality,
    /// Quality at the temperature the header had.
    pub previous: CalibrationQuality,
    /// Quality at the fitted temperature.
    pub calibrated: CalibrationQuality,
}

fn print_calibration(name: &str, path: &Path, c: &ModelCalibration) {
    println!(
        "{name} temperature ({}, {} samples, accuracy {}):",
        path.display(),
        c.n,
        pct(c.calibrated.accuracy)
    );
    let line = |label: &str, q: &CalibrationQuality| {
        format!(
            "  {label:<22} T {:<9.4} NLL {:.4}  ECE ({} bins) {:.4}",
            q.temperature,
            q.nll,
            temperature::ECE_BINS,
            q.ece
        )
    };
    println!("{}", line("uncalibrated", &c.uncalibrated));
    if (c.previous.temperature - 1.0).abs() > 1e-6 {
        println!("{}", line("in the file before", &c.previous));
    }
    println!(
        "{}",
        line(
            &format!("fitted ({} steps)", c.fit.iterations),
            &c.calibrated
        )
    );
}

fn calibrate_model(set: &ScoreSet, header_temperature: f32) -> ModelCalibration {
    let (z, y) = set.logits_and_labels();
    let fit = temperature::fit_temperature(&z, &y);
    ModelCalibration {
        n: z.len(),
        fit,
        uncalibrated: temperature::quality(&z, &y, 1.0),
        previous: temperature::quality(&z, &y, header_temperature),
        calibrated: temperature::quality(&z, &y, fit.temperature),
    }
}

/// What `fusion calibrate` found (and wrote).
#[derive(Clone, Debug)]
pub struct CalibrateOutcome {
    /// Face model calibration.
    pub face: ModelCalibration,
    /// Voice model calibration.
    pub voice: ModelCalibration,
    /// The f32 twins (`<stem>.f32.emo`) found beside the models, each
    /// calibrated on its own scores.
    pub twins: Vec<(PathBuf, ModelCalibration)>,
    /// The chosen face weight point.
    pub weight: WeightPoint,
    /// The whole weight grid.
    pub grid: Vec<WeightPoint>,
    /// The written configuration.
    pub config: FusionConfig,
    /// Accuracies on the fitting pairs with `config`.
    pub metrics: FusionMetrics,
    /// How the voice clips were chosen.
    pub selection: VoiceSelection,
    /// Classes that could not be paired.
    pub pairs: PairSet,
}

/// `fusion calibrate`: see the module docs. Prints its report on stdout.
pub fn calibrate(opts: &CalibrateOptions) -> Result<CalibrateOutcome> {
    let prep = Prepared::load(
        &opts.files,
        &opts.face_data,
        &opts.voice_data,
        opts.split_seed,
    )?;
    for l in prep.describe(&opts.face_data, &opts.voice_data) {
        println!("{l}");
    }
    let face = calibrate_model(&prep.face, prep.face_clf.model.header().temperature);
    let voice = calibrate_model(&prep.voice, prep.voice_clf.model.header().temperature);
    print_calibration("face", &opts.files.face, &face);
    print_calibration("voice", &opts.files.voice, &voice);
    // The f32 twins (`<stem>.f32.emo`, loaded by boards with precision =
    // "f32") get their own temperature, fitted on their own scores.
    let mut twins = Vec::new();
    for (name, path) in [("face", &opts.files.face), ("voice", &opts.files.voice)] {
        let twin = path.with_extension("f32.emo");
        if !twin.is_file() {
            continue;
        }
        let clf = Classifier::load(&twin)?;
        let set = if name == "face" {
            scores::face_scores(&clf, &opts.face_data)?
        } else {
            scores::voice_scores(&clf, &opts.voice_data, &voice_split(&clf, opts.split_seed))?.0
        };
        let c = calibrate_model(&set, clf.model.header().temperature);
        print_calibration(&format!("{name} (f32 twin)"), &twin, &c);
        twins.push((twin, c));
    }

    let base = if opts.files.fusion.is_file() {
        files::read_fusion_config(&opts.files.fusion)?
    } else {
        FusionConfig::default()
    };
    let mut config = FusionConfig {
        face_temperature: face.fit.temperature,
        voice_temperature: voice.fit.temperature,
        ..base
    };
    let set = prep.pairs(opts.pairs_per_clip, opts.seed);
    for l in set.skipped_lines() {
        println!("{l}");
    }
    anyhow::ensure!(
        !set.pairs.is_empty(),
        "no face/voice pairs: the face and voice data share no class"
    );
    let (ft, vt) = prep.tables();
    let (weight, grid) =
        pairs::fit_weight(&config, &set.pairs, &ft, &vt).map_err(anyhow::Error::msg)?;
    config.face_weight = weight.face_weight;
    let results = pairs::run_pairs(&config, &set.pairs, &ft, &vt).map_err(anyhow::Error::msg)?;
    let conf: Vec<f32> = results.iter().map(|r| r.fused_confidence).collect();
    config.uncertain_threshold = pairs::fit_threshold(&conf, opts.max_uncertain);
    let results = pairs::run_pairs(&config, &set.pairs, &ft, &vt).map_err(anyhow::Error::msg)?;
    let metrics = pairs::metrics(&results);
    println!(
        "pairs: {} ({} faces per voice clip, seed {})",
        metrics.n, opts.pairs_per_clip, opts.seed
    );
    println!(
        "face weight grid (fused accuracy): {}",
        grid.iter()
            .map(|p| format!("{:.2}:{:.1}", p.face_weight, p.accuracy * 100.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "face weight {:.2} (highest fused accuracy {}, ties to the lower NLL); uncertain threshold {:.2} (the largest leaving at most {} of the pairs uncertain)",
        config.face_weight,
        pct(weight.accuracy),
        config.uncertain_threshold,
        pct(opts.max_uncertain)
    );
    for l in summary_lines(&metrics, &results) {
        println!("{l}");
    }

    if opts.dry_run {
        println!("dry run: nothing written");
    } else {
        let models = [(&opts.files.face, &face), (&opts.files.voice, &voice)];
        for (path, c) in models.into_iter().chain(twins.iter().map(|(p, c)| (p, c))) {
            let t = c.fit.temperature;
            let before = files::set_model_temperature(path, t)?;
            println!("wrote {} (temperature {before} -> {t})", path.display());
        }
        let comment = vec![
            "emoedge fusion configuration (emoedge_shared::fusion::FusionConfig), loaded by the".into(),
            "device from the models directory; written by `emoedge-train fusion calibrate`.".into(),
            String::new(),
            format!(
                "face data {} ({} images), voice data {} ({} clips: {}).",
                opts.face_data.display(),
                face.n,
                opts.voice_data.display(),
                voice.n,
                prep.selection.describe()
            ),
            format!(
                "{} same-class pairs ({} faces per clip, seed {}): face {}, voice {}, fused {}, uncertain {}.",
                metrics.n,
                opts.pairs_per_clip,
                opts.seed,
                pct(metrics.face_accuracy),
                pct(metrics.voice_accuracy),
                pct(metrics.fused_accuracy),
                pct(metrics.uncertain_rate)
            ),
            format!(
                "face_weight: highest fused accuracy on a {} grid; uncertain_threshold: the largest on a {} grid leaving at most {} of the pairs uncertain.",
                pairs::WEIGHT_STEP,
                pairs::THRESHOLD_STEP,
                pct(opts.max_uncertain)
            ),
        ];
        files::write_atomic(
            &opts.files.fusion,
            files::fusion_config_toml(&config, &comment).as_bytes(),
        )?;
        println!("wrote {}", opts.files.fusion.display());
    }
    Ok(CalibrateOutcome {
        face,
        voice,
        twins,
        weight,
        grid,
        config,
        metrics,
        selection: prep.selection,
        pairs: set,
    })
}

/// What `fusion eval` was asked to do.
#[derive(Clone, Debug)]
pub struct FusionEvalOptions {
    /// `<class>/<images>` validation faces.
    pub face_data: PathBuf,
    /// Validation voice clips: class folders, or a corpus tree (its
    /// validation speakers).
    pub voice_data: PathBuf,
    /// The shipped files.
    pub files: ModelFiles,
    /// Faces paired with each voice clip.
    pub pairs_per_clip: usize,
    /// Seed of the pairing.
    pub seed: u64,
    /// Write the metrics JSON here.
    pub json: Option<PathBuf>,
    /// Seed of the voice validation split (see [`voice_split`]).
    pub split_seed: Option<u64>,
}

/// What `fusion eval` measured.
#[derive(Clone, Debug)]
pub struct FusionEvalOutcome {
    /// The JSON metrics.
    pub metrics: FusionMetrics,
    /// The engine configuration used (the device's).
    pub config: FusionConfig,
    /// Every pair's result.
    pub results: Vec<PairResult>,
    /// Pairs and the classes that could not be paired.
    pub pairs: PairSet,
    /// How the voice clips were chosen.
    pub selection: VoiceSelection,
}

/// The engine configuration the device uses with these files: the fusion
/// file (or the defaults when it is missing) with the temperatures of the
/// model headers. Also returns notes for the report.
pub fn device_config(
    fusion: &Path,
    face_temperature: f32,
    voice_temperature: f32,
) -> Result<(FusionConfig, Vec<String>)> {
    let mut notes = Vec::new();
    let mut cfg = if fusion.is_file() {
        files::read_fusion_config(fusion)?
    } else {
        notes.push(format!(
            "warning: no fusion configuration at {}: the device's defaults (run `emoedge-train fusion calibrate`)",
            fusion.display()
        ));
        FusionConfig::default()
    };
    for (name, file_t, header_t) in [
        ("face", cfg.face_temperature, face_temperature),
        ("voice", cfg.voice_temperature, voice_temperature),
    ] {
        if fusion.is_file() && (file_t - header_t).abs() > 1e-6 * header_t.max(1.0) {
            notes.push(format!(
                "note: {} says {name}_temperature = {file_t} but the {name} model's header has {header_t}; the device (and this evaluation) use the header's",
                fusion.display()
            ));
        }
    }
    cfg.face_temperature = face_temperature;
    cfg.voice_temperature = voice_temperature;
    Ok((cfg, notes))
}

/// `fusion eval`: see the module docs. Prints its report on stdout.
pub fn evaluate(opts: &FusionEvalOptions) -> Result<FusionEvalOutcome> {
    let prep = Prepared::load(
        &opts.files,
        &opts.face_data,
        &opts.voice_data,
        opts.split_seed,
    )?;
    let (config, notes) = device_config(
        &opts.files.fusion,
        prep.face_clf.model.header().temperature,
        prep.voice_clf.model.header().temperature,
    )?;
    for n in notes {
        eprintln!("{n}");
    }
    for l in prep.describe(&opts.face_data, &opts.voice_data) {
        println!("{l}");
    }
    println!(
        "models: face {} (T {}), voice {} (T {}), fusion {}: face weight {}, uncertain threshold {}",
        opts.files.face.display(),
        config.face_temperature,
        opts.files.voice.display(),
        config.voice_temperature,
        opts.files.fusion.display(),
        config.face_weight,
        config.uncertain_threshold
    );
    let set = prep.pairs(opts.pairs_per_clip, opts.seed);
    for l in set.skipped_lines() {
        println!("{l}");
    }
    anyhow::ensure!(
        !set.pairs.is_empty(),
        "no face/voice pairs: the face and voice data share no class"
    );
    let (ft, vt) = prep.tables();
    let results = pairs::run_pairs(&config, &set.pairs, &ft, &vt).map_err(anyhow::Error::msg)?;
    let metrics = pairs::metrics(&results);
    println!(
        "pairs: {} ({} faces per voice clip, seed {})",
        metrics.n, opts.pairs_per_clip, opts.seed
    );
    for l in summary_lines(&metrics, &results) {
        println!("{l}");
    }
    if let Some(path) = &opts.json {
        let mut text = serde_json::to_string_pretty(&metrics)?;
        text.push('\n');
        files::write_atomic(path, text.as_bytes())?;
    }
    Ok(FusionEvalOutcome {
        metrics,
        config,
        results,
        pairs: set,
        selection: prep.selection,
    })
}
