//! Per-epoch metrics: CSV, JSON and the training-curve PNG.

use std::io::Write;
use std::path::Path;

use emoedge_shared::NUM_CLASSES;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Mean training loss (weighted, smoothed, with augmentation).
    pub train_loss: f64,
    /// Training accuracy on augmented batches.
    pub train_acc: f64,
    /// Validation cross-entropy (no smoothing, no weights).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Validation accuracy without the images duplicated in training.
    pub val_acc_dedup: f64,
    /// Validation accuracy per class.
    pub val_class_acc: [f64; NUM_CLASSES],
    /// Wall time of the epoch in seconds (training and validation).
    pub seconds: f64,
    /// Training throughput.
    pub samples_per_sec: f64,
}

const CSV_HEADER: &str = "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_acc_dedup,\
angry_acc,disgust_acc,fear_acc,happy_acc,neutral_acc,sad_acc,surprise_acc,seconds,samples_per_sec";

/// Writes `metrics.csv` and `metrics.json` for the whole history to `out`.
pub fn write_metrics(out: &Path, history: &[EpochMetrics]) -> std::io::Result<()> {
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for m in history {
        let classes: Vec<String> = m.val_class_acc.iter().map(|a| format!("{a:.4}")).collect();
        csv.push_str(&format!(
            "{},{:.6e},{:.5},{:.4},{:.5},{:.4},{:.4},{},{:.1},{:.1}\n",
            m.epoch,
            m.lr,
            m.train_loss,
            m.train_acc,
            m.val_loss,
            m.val_acc,
            m.val_acc_dedup,
            classes.join(","),
            m.seconds,
            m.samples_per_sec
        ));
    }
    write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
    let json = serde_json::to_vec_pretty(history).map_err(std::io::Error::other)?;
    write_atomic(&out.join("metrics.json"), &json)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system TrueType font for chart text (once per process);
/// false when none is found.
pub(crate) fn ensure_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).ok().is_some_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

/// Draws loss and accuracy vs epoch (train and validation) into a PNG.
/// Without a system font the curves are drawn without text.
pub fn plot_curves(path: &Path, history: &[EpochMetrics]) -> Result<(), String> {
    if history.is_empty() {
        return Ok(());
    }
    let text = ensure_font();
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(600);
    let last = history.len() as f64 + 0.5;
    let loss_max = history
        .iter()
        .flat_map(|m| [m.train_loss, m.val_loss])
        .filter(|v| v.is_finite())
        .fold(0.1f64, f64::max)
        * 1.1;
    let series = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    type Lines = [(&'static str, Vec<(f64, f64)>, RGBColor); 2];
    let panels: [(&DrawingArea<_, _>, &str, f64, Lines); 2] = [
        (
            &left,
            "loss",
            loss_max,
            [
                ("train", series(|m| m.train_loss), BLUE),
                ("val", series(|m| m.val_loss), RED),
            ],
        ),
        (
            &right,
            "accuracy",
            1.0,
            [
                ("train", series(|m| m.train_acc), BLUE),
                ("val", series(|m| m.val_acc), RED),
            ],
        ),
    ];
    for (area, title, y_max, lines) in panels {
        let mut builder = ChartBuilder::on(area);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 22))
                .x_label_area_size(35)
                .y_label_area_size(50);
        }
        let mut chart = builder
            .build_cartesian_2d(0.5f64..last, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        if text {
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| e.to_string())?;
        }
        for (name, points, color) in lines {
            let drawn = chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if text {
                drawn
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            }
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}
