//! `emoedge-train face ensemble`: merges face models (and their mirrored
//! input) into one model file, calibrates and quantises it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use emoedge_shared::format;
use emoedge_trainer::data::load_face_data;
use emoedge_trainer::ensemble::ensemble;
use emoedge_trainer::export::{calibration_images, quantize_face_file, write_model, ExportedFiles};

#[derive(Args)]
pub struct EnsembleArgs {
    /// f32 face model files to merge (repeat the flag), e.g. runs/a/face.f32.emo.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Also run every model on the mirrored face.
    #[arg(long)]
    flip: bool,
    /// Output model file (int8); the f32 merge goes next to it as <stem>.f32.emo.
    #[arg(short, long, default_value = "models/face.emo")]
    output: PathBuf,
    /// Face data for calibration and validation (as for `face train`).
    #[arg(long)]
    data: PathBuf,
    /// Validation tree (overrides the one found in --data).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Calibration images drawn from the training split.
    #[arg(long, default_value_t = 1000)]
    calib_images: usize,
    /// Quantise a cross-layer equalised copy (same f32 function, channel
    /// weight ranges evened out for the per-tensor int8 scales).
    #[arg(long)]
    equalize: bool,
    /// Seed of the calibration image choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The model files to merge, each named by its path.
pub fn read_members(paths: &[PathBuf]) -> Result<Vec<(String, format::ModelFile)>> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            let m = format::decode(&bytes)
                .with_context(|| format!("{} is not a valid model file", p.display()))?;
            Ok((p.display().to_string(), m))
        })
        .collect()
}

/// Runs `face ensemble`.
pub fn run(a: EnsembleArgs) -> Result<()> {
    let merged = ensemble(&read_members(&a.models)?, a.flip)?;
    let data = load_face_data(&a.data, a.val.as_deref(), a.seed, 0.1)?;
    let calib = calibration_images(&data.train, a.calib_images, a.seed);
    let report = quantize_face_file(merged, &calib, Some(&data.val), a.equalize)?;
    let int8 = report
        .int8_model
        .as_ref()
        .context("no calibration images: is the training split empty?")?;
    let f32_path = a.output.with_extension("f32.emo");
    write_model(&f32_path, &report.f32_model)?;
    write_model(&a.output, int8)?;
    super::print_export(&ExportedFiles {
        model: a.output.clone(),
        f32_model: Some(f32_path),
        report,
    });
    Ok(())
}
