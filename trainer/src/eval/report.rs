//! Eval output: the metrics table, the JSON file and the report directory
//! (`metrics.json` and the confusion-matrix picture `confusion.png`).

use std::path::Path;

use emoedge_shared::{Emotion, NUM_CLASSES};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{EvalError, EvalMetrics};
use crate::train::metrics::{ensure_font, write_atomic};

/// The metrics table: precision, recall, F1 and support per class, then
/// accuracy and macro-F1 (over the classes with support > 0).
pub fn table(m: &EvalMetrics) -> String {
    let mut s = format!(
        "{:<10} {:>9} {:>7} {:>7} {:>8}\n",
        "class", "precision", "recall", "f1", "support"
    );
    for name in &m.labels {
        if let Some(c) = m.per_class.get(name) {
            s.push_str(&format!(
                "{:<10} {:>9.4} {:>7.4} {:>7.4} {:>8}\n",
                name, c.precision, c.recall, c.f1, c.support
            ));
        }
    }
    s.push_str(&format!(
        "{:<10} {:>9} {:>7} {:>7.4} {:>8}   ({:.2} %)\n",
        "accuracy",
        "",
        "",
        m.accuracy,
        m.n,
        m.accuracy * 100.0
    ));
    s.push_str(&format!(
        "{:<10} {:>9} {:>7} {:>7.4} {:>8}   (mean F1 over the {} classes with support > 0)\n",
        "macro-F1",
        "",
        "",
        m.macro_f1,
        m.n,
        m.classes_present()
    ));
    if let Some(d) = m.detected {
        s.push_str(&format!(
            "{:<10} {:>9} {:>7} {:>7.4} {:>8}   (images with a detected face; the others count as wrong)\n",
            "detected",
            "",
            "",
            d,
            m.n
        ));
    }
    s
}

fn write_err(path: &Path, reason: impl ToString) -> EvalError {
    EvalError::Write {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Writes the metrics as pretty JSON to `path` (parent directories created):
/// `{"accuracy", "macro_f1", "n", "labels", "per_class", "confusion"}`,
/// plus `"detected"` and `"no_face"` with a face detector.
pub fn write_json(path: &Path, m: &EvalMetrics) -> Result<(), EvalError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    }
    let mut json = serde_json::to_vec_pretty(m).map_err(|e| write_err(path, e))?;
    json.push(b'\n');
    write_atomic(path, &json).map_err(|e| write_err(path, e))
}

/// Writes `metrics.json` and `confusion.png` into `dir` (created).
pub fn write_report(dir: &Path, m: &EvalMetrics) -> Result<(), EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    write_json(&dir.join("metrics.json"), m)?;
    let png = dir.join("confusion.png");
    plot_confusion(&png, m).map_err(|e| write_err(&png, e))
}

/// Cell colour for a row fraction in `0..=1`: white to dark blue.
fn shade(f: f64) -> RGBColor {
    let f = f.clamp(0.0, 1.0);
    let mix = |hi: f64, lo: f64| (hi - f * (hi - lo)).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// Centred text of `px` pixels in `color`.
fn centred<'a>(px: u32, color: &'a RGBColor) -> TextStyle<'a> {
    TextStyle::from(("sans-serif", px).into_font())
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

/// Draws the confusion matrix (rows true class, columns predicted class),
/// each cell shaded by its share of the row (the recall on the diagonal)
/// and labelled with the count and that share. Without a system font the
/// cells are drawn without text.
pub fn plot_confusion(path: &Path, m: &EvalMetrics) -> Result<(), String> {
    const CELL: i32 = 80;
    const LEFT: i32 = 120;
    const TOP: i32 = 90;
    const BOTTOM: i32 = 50;
    let side = CELL * NUM_CLASSES as i32;
    let size = ((LEFT + side + 30) as u32, (TOP + side + BOTTOM) as u32);
    let text = ensure_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    for t in 0..NUM_CLASSES {
        let row = m.confusion.get(t).cloned().unwrap_or_default();
        let total: u64 = row.iter().sum();
        for p in 0..NUM_CLASSES {
            let count = row.get(p).copied().unwrap_or(0);
            let f = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            let (x0, y0) = (LEFT + p as i32 * CELL, TOP + t as i32 * CELL);
            let (x1, y1) = (x0 + CELL, y0 + CELL);
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], shade(f).filled()))
                .map_err(err)?;
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK.stroke_width(1)))
                .map_err(err)?;
            if text {
                let ink = if f > 0.5 { WHITE } else { BLACK };
                let (cx, cy) = (x0 + CELL / 2, y0 + CELL / 2);
                root.draw(&Text::new(
                    count.to_string(),
                    (cx, cy - 11),
                    centred(18, &ink),
                ))
                .map_err(err)?;
                root.draw(&Text::new(
                    format!("{:.0} %", f * 100.0),
                    (cx, cy + 13),
                    centred(14, &ink),
                ))
                .map_err(err)?;
            }
        }
    }
    if text {
        root.draw(&Text::new(
            format!(
                "confusion matrix: n {}, accuracy {:.2} %, macro-F1 {:.4}",
                m.n,
                m.accuracy * 100.0,
                m.macro_f1
            ),
            (LEFT + side / 2, 22),
            centred(20, &BLACK),
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            "predicted",
            (LEFT + side / 2, TOP + side + BOTTOM / 2 + 5),
            centred(16, &BLACK),
        ))
        .map_err(err)?;
        root.draw(&Text::new("true", (30, TOP - 25), centred(16, &BLACK)))
            .map_err(err)?;
        for (i, name) in Emotion::NAMES.iter().enumerate() {
            let mid = i as i32 * CELL + CELL / 2;
            root.draw(&Text::new(
                *name,
                (LEFT + mid, TOP - 15),
                centred(15, &BLACK),
            ))
            .map_err(err)?;
            root.draw(&Text::new(
                *name,
                (LEFT / 2, TOP + mid),
                centred(15, &BLACK),
            ))
            .map_err(err)?;
        }
    }
    root.present().map_err(|e| e.to_string())
}
