//! The offline log's records: one JSON object per line, tagged by `type`.
//!
//! | `type` | when |
//! |---|---|
//! | `start` | once, when the loop starts: board, sources, models, budget |
//! | `decision` | every loop step with a decision, and once a second while idle |
//! | `enter` / `leave` | a tracked face (visitor) appears / is gone; `leave` carries the visit summary |
//! | `source` | the camera or microphone is lost, back, or ended |
//! | `warning` | a degraded mode (missing model, detector fallback, ...) |
//! | `stop` | once, when the loop ends: why, and the run's counters |
//!
//! Times (`t_ms`) are milliseconds of the loop's clock since `start`; the
//! `start` record has the wall-clock time (`unix_ms`) they count from.
//! Probabilities are rounded to 4 decimals and always in the class order
//! angry, disgust, fear, happy, neutral, sad, surprise. Nothing here holds
//! an image or a sound.

use std::collections::BTreeMap;

use emoedge_shared::fusion::{Decision, Outcome, Probs};
use emoedge_shared::{Emotion, NUM_CLASSES};
use serde::{Deserialize, Serialize};

/// Labels a decision can carry besides the seven emotions.
pub const UNCERTAIN: &str = "uncertain";
/// The label of a step without any decision (no face, no speech).
pub const NONE: &str = "none";

/// Every label of the log, in a fixed order: the seven emotions, then
/// `uncertain` and `none`.
pub const LABELS: [&str; NUM_CLASSES + 2] = [
    "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", UNCERTAIN, NONE,
];

/// Index of `label` in [`LABELS`].
pub fn label_index(label: &str) -> Option<usize> {
    LABELS.iter().position(|l| *l == label)
}

/// The log label of a fusion outcome.
pub fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Emotion(e) => e.name(),
        Outcome::Uncertain => UNCERTAIN,
        Outcome::NoDecision => NONE,
    }
}

/// Index in [`LABELS`] of a fusion outcome.
pub fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::Emotion(e) => e.index(),
        Outcome::Uncertain => NUM_CLASSES,
        Outcome::NoDecision => NUM_CLASSES + 1,
    }
}

/// Rounds to 4 decimals (keeps the log lines short).
pub fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// [`round4`] of every probability.
pub fn round_probs(p: &Probs) -> Probs {
    p.map(round4)
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The loop started.
    Start(StartRecord),
    /// One decision.
    Decision(DecisionRecord),
    /// A visitor appeared.
    Enter(EnterRecord),
    /// A visitor left.
    Leave(LeaveRecord),
    /// A source changed state.
    Source(SourceRecord),
    /// A degraded mode or a recoverable problem.
    Warning(WarningRecord),
    /// The loop stopped.
    Stop(StopRecord),
    /// A record type this version does not know (newer logs).
    #[serde(other)]
    Unknown,
}

impl Record {
    /// The record's time, if it has one.
    pub fn t_ms(&self) -> Option<u64> {
        match self {
            Record::Start(r) => Some(r.t_ms),
            Record::Decision(r) => Some(r.t_ms),
            Record::Enter(r) => Some(r.t_ms),
            Record::Leave(r) => Some(r.t_ms),
            Record::Source(r) => Some(r.t_ms),
            Record::Warning(r) => Some(r.t_ms),
            Record::Stop(r) => Some(r.t_ms),
            Record::Unknown => None,
        }
    }
}

/// Model files in use (`null` when absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelsRecord {
    /// Face expression classifier.
    pub face: Option<String>,
    /// Voice emotion classifier.
    pub voice: Option<String>,
    /// Face detector (`null`: centre-square fallback).
    pub detector: Option<String>,
}

/// The `start` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartRecord {
    /// Always 0.
    pub t_ms: u64,
    /// Wall-clock time of `t_ms = 0`, milliseconds since 1970 (UTC).
    pub unix_ms: u64,
    /// `emoedge` version.
    pub version: String,
    /// Board profile name.
    pub board: String,
    /// Camera description.
    pub camera: String,
    /// Microphone description.
    pub mic: String,
    /// LEDs description.
    pub leds: String,
    /// `realtime` or `fast`.
    pub pacing: String,
    /// Model files.
    pub models: ModelsRecord,
    /// Per-stage budget, milliseconds (capture, detect, face, fusion, voice).
    pub budget_ms: BTreeMap<String, u32>,
}

/// One tracked face in a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Track ID (stable while the face stays in view).
    pub track: u32,
    /// Face box in frame pixels: x, y, width, height.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector score.
    pub score: f32,
    /// The face model's calibrated probabilities for this frame (`null`
    /// when the face was not classified in this step).
    pub probs: Option<Probs>,
    /// This face's fused, smoothed label.
    pub label: String,
    /// Confidence of `label`.
    pub confidence: f32,
}

/// The voice side of a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceRecord {
    /// The voice activity detector says speech.
    pub vad: bool,
    /// The voice model's calibrated probabilities when a window was
    /// classified in this step, else `null`.
    pub probs: Option<Probs>,
}

/// Stage latencies of one step in milliseconds (absent: not run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Frame lateness: from capture to the loop picking it up.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capture: Option<f32>,
    /// Face detection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detect: Option<f32>,
    /// Face crops and expression model, all faces.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub face: Option<f32>,
    /// Fusion, smoothing, hysteresis.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fusion: Option<f32>,
    /// Voice window features and model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voice: Option<f32>,
}

/// The `decision` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Loop time.
    pub t_ms: u64,
    /// Camera frame number (`null` on a step without a frame).
    pub frame: Option<u64>,
    /// Tracked faces.
    pub faces: Vec<FaceRecord>,
    /// Voice state.
    pub voice: VoiceRecord,
    /// The track whose decision this is (the largest face; `null`: voice only).
    pub track: Option<u32>,
    /// Fused label: an emotion, `uncertain` or `none`.
    pub label: String,
    /// Confidence of `label` (0 for `none`).
    pub confidence: f32,
    /// Smoothed fused probabilities.
    pub probs: Probs,
    /// Modalities in the decision.
    pub sources: Vec<String>,
    /// Stage latencies of this step.
    pub latency_ms: Latencies,
    /// Stages over their budget in this step.
    pub misses: Vec<String>,
    /// Budget misses since the start.
    pub misses_total: u64,
    /// Camera frames dropped since the previous decision record (late
    /// frames skipped instead of queued).
    pub skipped_frames: u64,
    /// Current face detection rate (lowered when detection overruns).
    pub detect_hz: f32,
    /// Camera state: `ok`, `lost`, `ended` or `none`.
    pub camera: String,
    /// Microphone state: `ok`, `lost`, `ended` or `none`.
    pub mic: String,
}

impl DecisionRecord {
    /// Fills the fused fields from a fusion decision.
    pub fn set_decision(&mut self, d: &Decision) {
        self.label = outcome_label(d.label).to_string();
        self.confidence = round4(d.confidence);
        self.probs = round_probs(&d.probs);
        self.sources.clear();
        if d.sources.face {
            self.sources.push("face".into());
        }
        if d.sources.voice {
            self.sources.push("voice".into());
        }
    }

    /// The fused emotion, if the label is one.
    pub fn emotion(&self) -> Option<Emotion> {
        Emotion::parse(&self.label)
    }
}

/// The `enter` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnterRecord {
    /// Loop time.
    pub t_ms: u64,
    /// New track ID.
    pub track: u32,
    /// First face box: x, y, width, height.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// The `leave` record: a visit summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaveRecord {
    /// Loop time.
    pub t_ms: u64,
    /// Track ID.
    pub track: u32,
    /// When the visitor entered (loop time, ms).
    pub entered_ms: u64,
    /// From enter to the last time the face was seen, ms.
    pub duration_ms: u64,
    /// The emotion shown longest during the visit; `uncertain` or `none`
    /// when no emotion was decided.
    pub dominant: String,
    /// Milliseconds spent on each label (emotions, `uncertain`, `none`).
    pub label_ms: BTreeMap<String, u64>,
}

/// The `source` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Loop time.
    pub t_ms: u64,
    /// `camera` or `microphone`.
    pub source: String,
    /// `lost`, `back`, `ended` or `glitch` (a transient error: timeout,
    /// overrun, corrupt frame).
    pub state: String,
    /// What happened.
    pub detail: String,
}

/// The `warning` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// Loop time.
    pub t_ms: u64,
    /// The warning.
    pub message: String,
}

/// The `stop` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StopRecord {
    /// Loop time.
    pub t_ms: u64,
    /// Why: `end of input`, `duration`, `signal`, ...
    pub reason: String,
    /// Camera frames processed.
    pub frames: u64,
    /// Camera frames skipped to keep up.
    pub skipped_frames: u64,
    /// Decisions made (steps with an emotion or `uncertain`).
    pub decisions: u64,
    /// Voice windows classified.
    pub voice_windows: u64,
    /// Budget misses per stage.
    pub misses: BTreeMap<String, u64>,
    /// Visits (tracks that entered).
    pub visits: u64,
    /// Log records dropped by write failures before this one.
    pub log_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_unknown_types_are_tolerated() {
        let r = Record::Enter(EnterRecord {
            t_ms: 5,
            track: 2,
            bbox: [1.0, 2.0, 3.0, 4.0],
        });
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with("{\"type\":\"enter\""), "{line}");
        assert!(line.contains("\"box\":[1.0,2.0,3.0,4.0]"), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
        let other: Record = serde_json::from_str("{\"type\":\"future\",\"x\":1}").unwrap();
        assert_eq!(other, Record::Unknown);
        assert_eq!(label_index("none"), Some(8));
        assert_eq!(outcome_index(Outcome::Uncertain), 7);
        assert_eq!(round4(0.123_456), 0.1235);
    }
}
