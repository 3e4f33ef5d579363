//! What the loop prints while it runs (the log file is the full record):
//! source and visitor events as they happen, a line whenever the decision
//! changes (and, for `demo`, once a second), and the counters at the end.

use std::io::Write;

use crate::pipeline::record::{DecisionRecord, Record, NONE};
use crate::pipeline::Step;

/// Receives the loop's records and steps.
pub trait Reporter {
    /// A record written to the log (decisions included).
    fn record(&mut self, r: &Record);
    /// Every step, logged or not.
    fn step(&mut self, step: &Step);
}

/// Prints nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn record(&mut self, _r: &Record) {}
    fn step(&mut self, _step: &Step) {}
}

/// Prints one line per event and decision change on a writer.
pub struct Console<W: Write> {
    out: W,
    every_ms: Option<u64>,
    last_print_ms: Option<u64>,
    last_label: String,
}

impl<W: Write> Console<W> {
    /// Prints on `out`; with `every_ms`, also a decision line at least
    /// that often while there is a decision.
    pub fn new(out: W, every_ms: Option<u64>) -> Self {
        Console {
            out,
            every_ms,
            last_print_ms: None,
            last_label: NONE.into(),
        }
    }

    /// The writer.
    pub fn writer(&self) -> &W {
        &self.out
    }

    fn line(&mut self, t_ms: u64, what: &str, text: &str) {
        let _ = writeln!(
            self.out,
            "[{:>4}.{:03} s] {what:<9} {text}",
            t_ms / 1000,
            t_ms % 1000
        );
        let _ = self.out.flush();
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `happy 0.82 (face+voice; faces: #1 happy 0.82; speech)`.
pub fn describe_decision(r: &DecisionRecord) -> String {
    let mut s = if r.label == NONE {
        "none".to_string()
    } else {
        format!("{} {:.2}", r.label, r.confidence)
    };
    let mut parts = Vec::new();
    if !r.sources.is_empty() {
        parts.push(r.sources.join("+"));
    }
    if !r.faces.is_empty() {
        let faces: Vec<String> = r
            .faces
            .iter()
            .map(|f| format!("#{} {} {:.2}", f.track, f.label, f.confidence))
            .collect();
        parts.push(format!("faces: {}", faces.join(", ")));
    } else {
        parts.push("no face".into());
    }
    parts.push(if r.voice.vad { "speech" } else { "silence" }.into());
    if !r.misses.is_empty() {
        parts.push(format!("over budget: {}", r.misses.join(",")));
    }
    s.push_str(&format!("  ({})", parts.join("; ")));
    s
}

impl<W: Write> Reporter for Console<W> {
    fn record(&mut self, r: &Record) {
        match r {
            Record::Start(s) => {
                self.line(
                    0,
                    "start",
                    &format!("board {}, {} pacing", s.board, s.pacing),
                );
                self.line(0, "camera", &s.camera);
                self.line(0, "mic", &s.mic);
                self.line(0, "leds", &s.leds);
                let m = &s.models;
                let name = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
                self.line(
                    0,
                    "models",
                    &format!(
                        "face {}, voice {}, detector {}",
                        name(&m.face),
                        name(&m.voice),
                        name(&m.detector)
                    ),
                );
            }
            Record::Enter(e) => {
                let [x, y, w, h] = e.bbox;
                self.line(
                    e.t_ms,
                    "enter",
                    &format!("visitor #{} at {x:.0},{y:.0} {w:.0}x{h:.0}", e.track),
                );
            }
            Record::Leave(l) => {
                let mut times: Vec<(&String, &u64)> = l.label_ms.iter().collect();
                times.sort_by(|a, b| b.1.cmp(a.1));
                let times: Vec<String> = times
                    .iter()
                    .map(|(k, v)| format!("{k} {}", secs(**v)))
                    .collect();
                self.line(
                    l.t_ms,
                    "leave",
                    &format!(
                        "visitor #{} after {}: mostly {} ({})",
                        l.track,
                        secs(l.duration_ms),
                        l.dominant,
                        times.join(", ")
                    ),
                );
            }
            Record::Source(s) => {
                self.line(s.t_ms, &s.source, &format!("{}: {}", s.state, s.detail));
            }
            Record::Warning(w) => self.line(w.t_ms, "warning", &w.message),
            Record::Stop(s) => {
                let misses: u64 = s.misses.values().sum();
                self.line(
                    s.t_ms,
                    "stop",
                    &format!(
                        "{}: {} frames ({} skipped), {} decisions, {} voice windows, {} visits, {} stages over budget",
                        s.reason, s.frames, s.skipped_frames, s.decisions, s.voice_windows, s.visits, misses
                    ),
                );
            }
            Record::Decision(_) | Record::Unknown => {}
        }
    }

    fn step(&mut self, step: &Step) {
        let r = &step.record;
        let changed = r.label != self.last_label;
        let periodic = match (self.every_ms, self.last_print_ms) {
            (Some(every), Some(last)) => r.label != NONE && r.t_ms.saturating_sub(last) >= every,
            (Some(_), None) => r.label != NONE,
            _ => false,
        };
        if changed || periodic {
            self.last_label.clone_from(&r.label);
            self.last_print_ms = Some(r.t_ms);
            let text = describe_decision(r);
            self.line(r.t_ms, "decision", &text);
        }
    }
}
