//! `emoedge log summary`: what an offline log says — time per emotion,
//! visits, budget misses, source outages — as text, a CSV timeline and a
//! timeline picture.
//!
//! Time accounting: a decision record's label holds until the next
//! decision record of the same run (at most [`MAX_HOLD_MS`]; the loop
//! writes one at least every second), the last one until the `stop`
//! record. Several runs in one file (the log is appended to) are laid end
//! to end.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::leds::LedState;
use crate::pipeline::record::{label_index, LeaveRecord, Record, LABELS, NONE, UNCERTAIN};
use emoedge_shared::{Emotion, NUM_CLASSES};

/// Longest time one decision record stands for.
pub const MAX_HOLD_MS: u64 = 2000;

/// One decision on the summary's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Run number, from 0.
    pub run: usize,
    /// Time within the run, ms.
    pub t_ms: u64,
    /// Time on the concatenated timeline, ms.
    pub at_ms: u64,
    /// How long the label holds, ms.
    pub hold_ms: u64,
    /// Index in [`LABELS`].
    pub label: usize,
    /// Confidence.
    pub confidence: f32,
    /// Track of the decision.
    pub track: Option<u32>,
    /// Number of faces.
    pub faces: usize,
    /// Speech.
    pub vad: bool,
    /// Fused probabilities.
    pub probs: [f32; NUM_CLASSES],
}

/// A visit on the concatenated timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Visit {
    /// Start, ms on the concatenated timeline.
    pub from_ms: u64,
    /// The `leave` record.
    pub leave: LeaveRecord,
}

/// What a log holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Lines read.
    pub lines: usize,
    /// Lines that were not records (a torn line, another program's text).
    pub bad_lines: usize,
    /// Runs (`start` records; 1 when the log has none).
    pub runs: usize,
    /// Total time covered, ms.
    pub span_ms: u64,
    /// Time per label ([`LABELS`] order), ms.
    pub label_ms: [u64; NUM_CLASSES + 2],
    /// Decision records.
    pub decisions: usize,
    /// Visits.
    pub visits: Vec<Visit>,
    /// Budget misses per stage (from the `stop` records, else counted
    /// from the decisions).
    pub misses: BTreeMap<String, u64>,
    /// Frames skipped to keep up.
    pub skipped_frames: u64,
    /// `source` events, e.g. `camera lost` → count.
    pub source_events: BTreeMap<String, u64>,
    /// Warnings, deduplicated, in order.
    pub warnings: Vec<String>,
    /// Why each run stopped.
    pub stops: Vec<String>,
    /// The decisions.
    pub timeline: Vec<Point>,
}

impl Summary {
    /// Share of the covered time spent on label `i`, in `[0, 1]`.
    pub fn share(&self, i: usize) -> f64 {
        let total: u64 = self.label_ms.iter().sum();
        if total == 0 {
            0.0
        } else {
            self.label_ms[i] as f64 / total as f64
        }
    }

    /// Number of visits whose dominant label is each label.
    pub fn dominant_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for v in &self.visits {
            *m.entry(v.leave.dominant.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// Reads and summarises log files (in the order given: rotated files
/// oldest first).
pub fn summarize(files: &[PathBuf]) -> Result<Summary> {
    let mut s = Summary::default();
    let mut offset = 0u64; // start of the current run on the timeline
    let mut run_end = 0u64;
    let mut run: Option<usize> = None;
    let mut stops_seen = false;
    let mut counted_misses: BTreeMap<String, u64> = BTreeMap::new();
    let mut stop_misses: BTreeMap<String, u64> = BTreeMap::new();
    // The open decision whose hold time is not known yet.
    let mut pending: Option<Point> = None;

    let close = |pending: &mut Option<Point>, end_ms: u64, s: &mut Summary| {
        if let Some(mut p) = pending.take() {
            p.hold_ms = end_ms.saturating_sub(p.t_ms).min(MAX_HOLD_MS);
            s.label_ms[p.label] += p.hold_ms;
            s.timeline.push(p);
        }
    };

    for file in files {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot open log {}", file.display()))?;
        for line in BufReader::new(f).lines() {
            let line = line.with_context(|| format!("cannot read log {}", file.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            s.lines += 1;
            let Ok(r) = serde_json::from_str::<Record>(&line) else {
                s.bad_lines += 1;
                continue;
            };
            if let Some(t) = r.t_ms() {
                if matches!(r, Record::Start(_)) {
                    close(&mut pending, run_end, &mut s);
                    if run.is_some() {
                        offset += run_end;
                    }
                    run = Some(run.map_or(0, |r| r + 1));
                    run_end = 0;
                } else {
                    run_end = run_end.max(t);
                }
            }
            let run_no = *run.get_or_insert(0);
            match r {
                Record::Decision(d) => {
                    close(&mut pending, d.t_ms, &mut s);
                    s.decisions += 1;
                    for m in &d.misses {
                        *counted_misses.entry(m.clone()).or_insert(0) += 1;
                    }
                    s.skipped_frames += d.skipped_frames;
                    let label = label_index(&d.label).unwrap_or(NUM_CLASSES + 1);
                    pending = Some(Point {
                        run: run_no,
                        t_ms: d.t_ms,
                        at_ms: offset + d.t_ms,
                        hold_ms: 0,
                        label,
                        confidence: d.confidence,
                        track: d.track,
                        faces: d.faces.len(),
                        vad: d.voice.vad,
                        probs: d.probs,
                    });
                }
                Record::Leave(l) => s.visits.push(Visit {
                    from_ms: offset + l.entered_ms,
                    leave: l,
                }),
                Record::Source(e) => {
                    *s.source_events
                        .entry(format!("{} {}", e.source, e.state))
                        .or_insert(0) += 1;
                }
                Record::Warning(w) => {
                    if !s.warnings.contains(&w.message) {
                        s.warnings.push(w.message);
                    }
                }
                Record::Stop(st) => {
                    close(&mut pending, st.t_ms, &mut s);
                    stops_seen = true;
                    s.stops.push(st.reason);
                    for (k, v) in st.misses {
                        *stop_misses.entry(k).or_insert(0) += v;
                    }
                }
                Record::Start(_) | Record::Enter(_) | Record::Unknown => {}
            }
        }
    }
    let end = run_end;
    close(&mut pending, end, &mut s);
    s.runs = run.map_or(0, |r| r + 1);
    s.span_ms = offset + run_end;
    s.misses = if stops_seen {
        stop_misses
    } else {
        counted_misses
    };
    Ok(s)
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Writes the summary as text.
pub fn print(s: &Summary, files: &[PathBuf], out: &mut impl Write) -> std::io::Result<()> {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    writeln!(
        out,
        "log {}: {} run(s), {} covered, {} records{}",
        names.join(", "),
        s.runs,
        secs(s.span_ms),
        s.lines,
        if s.bad_lines > 0 {
            format!(" ({} unreadable lines skipped)", s.bad_lines)
        } else {
            String::new()
        }
    )?;
    writeln!(out, "time per label:")?;
    for (i, label) in LABELS.iter().enumerate() {
        let share = s.share(i);
        if s.label_ms[i] == 0 {
            continue;
        }
        let bar = "#".repeat((share * 40.0).round() as usize);
        writeln!(
            out,
            "  {label:<10} {:>8}  {:>5.1} %  {bar}",
            secs(s.label_ms[i]),
            share * 100.0
        )?;
    }
    let emotion_ms: u64 = s.label_ms[..NUM_CLASSES].iter().sum();
    if emotion_ms > 0 {
        let (i, _) = s.label_ms[..NUM_CLASSES]
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| **v)
            .unwrap_or((0, &0));
        writeln!(out, "most shown emotion: {}", LABELS[i])?;
    }
    writeln!(out, "visits: {}", s.visits.len())?;
    for v in &s.visits {
        writeln!(
            out,
            "  #{:<3} from {:>8} for {:>7}: mostly {}",
            v.leave.track,
            secs(v.from_ms),
            secs(v.leave.duration_ms),
            v.leave.dominant
        )?;
    }
    let dom = s.dominant_counts();
    if !dom.is_empty() {
        let parts: Vec<String> = dom.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "dominant emotion of the visits: {}", parts.join(", "))?;
    }
    let total_misses: u64 = s.misses.values().sum();
    let parts: Vec<String> = s
        .misses
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "budget misses: {total_misses}{}; frames skipped: {}",
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        },
        s.skipped_frames
    )?;
    if !s.source_events.is_empty() {
        let parts: Vec<String> = s
            .source_events
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(out, "source events: {}", parts.join(", "))?;
    }
    for w in &s.warnings {
        writeln!(out, "warning: {w}")?;
    }
    if !s.stops.is_empty() {
        writeln!(out, "stopped by: {}", s.stops.join(", "))?;
    }
    Ok(())
}

/// Writes the decision timeline as CSV: `run,t_ms,at_ms,hold_ms,label,
/// confidence,track,faces,vad` and the seven fused probabilities.
pub fn write_csv(s: &Summary, path: &Path) -> Result<()> {
    let mut out = String::from("run,t_ms,at_ms,hold_ms,label,confidence,track,faces,vad");
    for e in Emotion::NAMES {
        out.push(',');
        out.push_str(e);
    }
    out.push('\n');
    for p in &s.timeline {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}",
            p.run,
            p.t_ms,
            p.at_ms,
            p.hold_ms,
            LABELS[p.label],
            p.confidence,
            p.track.map(|t| t.to_string()).unwrap_or_default(),
            p.faces,
            u8::from(p.vad)
        ));
        for v in p.probs {
            out.push_str(&format!(",{v}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system TrueType font for the picture's text; false when none
/// is found (the picture is then drawn without text).
fn ensure_font() -> bool {
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

/// The colour of a label in the picture: the LEDs' colour, with white
/// (neutral) and near-black (uncertain) made visible on white.
pub fn label_colour(i: usize) -> RGBColor {
    match Emotion::from_index(i) {
        Some(Emotion::Neutral) => RGBColor(150, 150, 150),
        Some(e) => {
            let c = LedState::Emotion(e).colour();
            RGBColor(c.0, c.1, c.2)
        }
        None if LABELS[i] == UNCERTAIN => RGBColor(60, 60, 60),
        None => RGBColor(235, 235, 235),
    }
}

/// Draws the timeline as a PNG: a coloured band per decided label, the
/// confidence as a line, visits as bars above.
pub fn plot(s: &Summary, path: &Path) -> Result<()> {
    let text = ensure_font();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (1200, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let end_s = (s.span_ms.max(1) as f64) / 1000.0;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption("emotion timeline", ("sans-serif", 20))
                .x_label_area_size(35)
                .y_label_area_size(45);
        }
        let mut chart = builder.build_cartesian_2d(0f64..end_s, 0f64..1.25f64)?;
        if text {
            chart
                .configure_mesh()
                .x_desc("time (s)")
                .y_desc("confidence")
                .disable_mesh()
                .draw()?;
        }
        chart.draw_series(
            s.timeline
                .iter()
                .filter(|p| p.label != NUM_CLASSES + 1)
                .map(|p| {
                    let x0 = p.at_ms as f64 / 1000.0;
                    let x1 = (p.at_ms + p.hold_ms) as f64 / 1000.0;
                    Rectangle::new(
                        [(x0, 0.0), (x1, 1.0)],
                        label_colour(p.label).mix(0.45).filled(),
                    )
                }),
        )?;
        for run in 0..s.runs.max(1) {
            let pts: Vec<(f64, f64)> = s
                .timeline
                .iter()
                .filter(|p| p.run == run && p.label != NUM_CLASSES + 1)
                .map(|p| (p.at_ms as f64 / 1000.0, f64::from(p.confidence)))
                .collect();
            chart.draw_series(LineSeries::new(pts, BLACK.stroke_width(1)))?;
        }
        chart.draw_series(s.visits.iter().map(|v| {
            let x0 = v.from_ms as f64 / 1000.0;
            let x1 = (v.from_ms + v.leave.duration_ms) as f64 / 1000.0;
            let c = label_index(&v.leave.dominant).unwrap_or(NUM_CLASSES + 1);
            Rectangle::new([(x0, 1.07), (x1, 1.17)], label_colour(c).filled())
        }))?;
        if text {
            for (i, label) in LABELS.iter().enumerate() {
                if s.label_ms[i] == 0 || *label == NONE {
                    continue;
                }
                let colour = label_colour(i);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, -1.0), (0.0, -1.0)],
                        colour.filled(),
                    )))?
                    .label(format!("{label} {:.0} %", s.share(i) * 100.0))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_accounted_between_records_and_runs_are_concatenated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let d = |t: u64, label: &str| {
            format!(
                "{{\"type\":\"decision\",\"t_ms\":{t},\"frame\":null,\"faces\":[],\"voice\":{{\"vad\":false,\"probs\":null}},\"track\":null,\"label\":\"{label}\",\"confidence\":0.5,\"probs\":[0,0,0,0.5,0.5,0,0],\"sources\":[\"face\"],\"latency_ms\":{{}},\"misses\":[\"detect\"],\"misses_total\":1,\"skipped_frames\":1,\"detect_hz\":7.5,\"camera\":\"ok\",\"mic\":\"none\"}}"
            )
        };
        let lines = [
            "{\"type\":\"start\",\"t_ms\":0,\"unix_ms\":1,\"version\":\"x\",\"board\":\"b\",\"camera\":\"c\",\"mic\":\"m\",\"leds\":\"l\",\"pacing\":\"fast\",\"models\":{},\"budget_ms\":{}}".to_string(),
            d(0, "happy"),
            d(1000, "happy"),
            d(1500, "sad"),
            "this line is torn".to_string(),
            "{\"type\":\"stop\",\"t_ms\":2000,\"reason\":\"duration\",\"frames\":1,\"skipped_frames\":0,\"decisions\":1,\"voice_windows\":0,\"misses\":{\"detect\":3},\"visits\":0,\"log_dropped\":0}".to_string(),
            "{\"type\":\"start\",\"t_ms\":0,\"unix_ms\":1,\"version\":\"x\",\"board\":\"b\",\"camera\":\"c\",\"mic\":\"m\",\"leds\":\"l\",\"pacing\":\"fast\",\"models\":{},\"budget_ms\":{}}".to_string(),
            d(0, "uncertain"),
            d(500, "none"),
            "{\"type\":\"leave\",\"t_ms\":900,\"track\":4,\"entered_ms\":100,\"duration_ms\":800,\"dominant\":\"happy\",\"label_ms\":{\"happy\":800}}".to_string(),
            "{\"type\":\"source\",\"t_ms\":950,\"source\":\"camera\",\"state\":\"lost\",\"detail\":\"x\"}".to_string(),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let s = summarize(std::slice::from_ref(&path)).unwrap();
        assert_eq!(s.runs, 2);
        assert_eq!(s.bad_lines, 1);
        assert_eq!(s.decisions, 5);
        let happy = label_index("happy").unwrap();
        assert_eq!(s.label_ms[happy], 1500);
        assert_eq!(s.label_ms[label_index("sad").unwrap()], 500);
        assert_eq!(s.label_ms[label_index("uncertain").unwrap()], 500);
        assert_eq!(
            s.label_ms[label_index("none").unwrap()],
            450,
            "until the last record"
        );
        assert_eq!(s.span_ms, 2950);
        assert_eq!(s.visits.len(), 1);
        assert_eq!(s.visits[0].from_ms, 2100);
        assert_eq!(s.misses.get("detect"), Some(&3), "from the stop record");
        assert_eq!(s.skipped_frames, 5);
        assert_eq!(s.source_events.get("camera lost"), Some(&1));
        assert_eq!(s.timeline[3].at_ms, 2000);
        let mut text = Vec::new();
        print(&s, &[path], &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("happy") && text.contains("50.8 %"), "{text}");
        assert!(text.contains("visits: 1"), "{text}");
        let csv = dir.path().join("t.csv");
        write_csv(&s, &csv).unwrap();
        let csv = std::fs::read_to_string(csv).unwrap();
        assert_eq!(csv.lines().count(), 6);
        assert!(csv.starts_with("run,t_ms,at_ms,hold_ms,label"));
        let png = dir.path().join("t.png");
        plot(&s, &png).unwrap();
        assert!(image::open(&png).unwrap().width() == 1200);
    }
}
