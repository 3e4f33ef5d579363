//! The recognition pipeline of the real-time loop, one step at a time,
//! independent of where frames and samples come from (see
//! [`crate::runner`] for the loop around it).
//!
//! Per camera frame ([`Pipeline::on_frame`]): face detection (at the
//! budgeted rate) → [tracking](track) → per tracked face: crop
//! (`emoedge_shared::face::preprocess_face`) → face model → logits.
//! Audio ([`Pipeline::push_audio`]): samples → streaming log-mel → VAD →
//! window history; while the VAD says speech, one voice window (e.g. 2 s)
//! every `voice_interval_ms` → voice model → logits. Then, per tracked face,
//! a `FusionEngine` from `emoedge_shared::fusion` fuses the face's logits
//! with the (shared) voice logits, smooths them and applies hysteresis and
//! the "uncertain" threshold. With no face the voice alone decides; in
//! silence the faces alone. The decision of the largest face (or the
//! voice) drives the LEDs through the [reaction] policy.
//!
//! Steps without a frame ([`Pipeline::on_tick`]: no camera, camera lost or
//! ended) decide from the voice and end the visits of faces no longer seen.
//!
//! Each step returns a [`Step`]: the decision record for the log, enter
//! and leave (visit) records, and the LED state. Stage latencies are
//! measured on the `timer` clock passed in and checked against the
//! [budget].

pub mod budget;
pub mod faces;
pub mod models;
pub mod reaction;
pub mod record;
pub mod track;
pub mod voice;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Result;
use emoedge_shared::audio::VadConfig;
use emoedge_shared::fusion::{calibrate, Decision, FusionConfig, FusionEngine, Outcome, Probs};
use emoedge_shared::NUM_CLASSES;

use crate::board::{BoardProfile, BudgetProfile, ReactionPolicy};
use crate::camera::Frame;
use crate::clock::Clock;
use crate::leds::LedState;

use budget::{Budget, Stage};
use faces::FaceFinder;
use models::{FaceClassifier, VoiceClassifier};
use reaction::Reaction;
use record::{
    outcome_index, round4, round_probs, DecisionRecord, EnterRecord, FaceRecord, LeaveRecord,
    Record, VoiceRecord, WarningRecord, LABELS,
};
use track::{Track, TrackEvent, Tracker};
use voice::VoiceFront;

/// A decision record is logged at least this often while nothing happens.
pub const IDLE_RECORD_MS: u64 = 1000;

/// State of a source, as logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Delivering.
    Ok,
    /// Disconnected; reconnecting.
    Lost,
    /// A replay reached its end.
    Ended,
    /// Not configured (`none`).
    None,
}

impl SourceState {
    /// Lower-case name: `ok`, `lost`, `ended`, `none`.
    pub const fn name(self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Lost => "lost",
            SourceState::Ended => "ended",
            SourceState::None => "none",
        }
    }
}

/// Pipeline settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    /// Per-stage budget.
    pub budget: BudgetProfile,
    /// Milliseconds between camera frames.
    pub frame_interval_ms: f64,
    /// Fusion parameters; the temperatures are replaced by the model
    /// files' own.
    pub fusion: FusionConfig,
    /// LED reaction policy.
    pub reaction: ReactionPolicy,
    /// A face not seen for this long has left.
    pub lost_after_ms: u64,
    /// Minimum box overlap to continue a track.
    pub iou_threshold: f32,
    /// Voice activity detector.
    pub vad: VadConfig,
    /// Drop work to stay within the budget (real time); `false` only
    /// counts the misses (`--fast` replays: the same decisions on any
    /// machine). See [`budget`].
    pub adaptive: bool,
}

impl PipelineConfig {
    /// The settings of a board profile.
    pub fn from_profile(p: &BoardProfile) -> Self {
        PipelineConfig {
            budget: p.budget,
            frame_interval_ms: p.frame_interval_ms(),
            fusion: FusionConfig::default(),
            reaction: p.leds.reaction,
            lost_after_ms: 1000,
            iou_threshold: 0.3,
            vad: VadConfig::default(),
            adaptive: true,
        }
    }
}

/// States of the two sources during a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Camera.
    pub camera: SourceState,
    /// Microphone.
    pub mic: SourceState,
}

/// What one step produced.
#[derive(Clone, Debug)]
pub struct Step {
    /// The decision of this step.
    pub record: DecisionRecord,
    /// Whether `record` goes to the log (steps with a decision, changes,
    /// and one record per [`IDLE_RECORD_MS`] while idle).
    pub log: bool,
    /// Enter, leave and warning records, in order.
    pub events: Vec<Record>,
    /// What the LEDs should show.
    pub led: LedState,
    /// The fusion decision behind `record`.
    pub decision: Decision,
}

/// One visitor: a track's fusion engine and visit statistics.
struct Person {
    engine: FusionEngine,
    first_ms: u64,
    /// Visit time up to here is in `label_ms`.
    counted_ms: u64,
    label_ms: [u64; NUM_CLASSES + 2],
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames processed.
    pub frames: u64,
    /// Steps with an emotion or `uncertain`.
    pub decisions: u64,
    /// Voice windows classified.
    pub voice_windows: u64,
    /// Visits started.
    pub visits: u64,
}

/// The pipeline (see the module docs).
pub struct Pipeline<T: Clock> {
    cfg: PipelineConfig,
    fusion: FusionConfig,
    timer: T,
    face_model: Option<FaceClassifier>,
    voice_model: Option<VoiceClassifier>,
    finder: Box<dyn FaceFinder>,
    tracker: Tracker,
    voice: VoiceFront,
    people: BTreeMap<u32, Person>,
    voice_only: FusionEngine,
    budget: Budget,
    reaction: Reaction,
    last_detect_ms: Option<u64>,
    round_robin: usize,
    last_logged_ms: Option<u64>,
    last_label: String,
    skipped_logged: u64,
    warned: HashSet<&'static str>,
    counters: Counters,
}

fn ms_between(a: Duration, b: Duration) -> f64 {
    b.saturating_sub(a).as_secs_f64() * 1000.0
}

impl<T: Clock> Pipeline<T> {
    /// A pipeline with the given models (either may be absent) and face
    /// finder; latencies are measured on `timer`.
    pub fn new(
        cfg: PipelineConfig,
        face_model: Option<FaceClassifier>,
        voice_model: Option<VoiceClassifier>,
        finder: Box<dyn FaceFinder>,
        timer: T,
    ) -> Result<Self> {
        let mut fusion = cfg.fusion;
        if let Some(m) = &face_model {
            fusion.face_temperature = m.temperature();
        }
        if let Some(m) = &voice_model {
            fusion.voice_temperature = m.temperature();
        }
        let voice_only =
            FusionEngine::new(fusion).map_err(|e| anyhow::anyhow!("fusion settings: {e}"))?;
        let pre = voice_model
            .as_ref()
            .map(|m| *m.preprocessing())
            .unwrap_or_default();
        let voice = VoiceFront::new(pre, cfg.vad)?;
        Ok(Pipeline {
            tracker: Tracker::new(cfg.iou_threshold, cfg.lost_after_ms),
            budget: Budget::new(&cfg.budget, cfg.frame_interval_ms, cfg.adaptive),
            reaction: Reaction::new(cfg.reaction),
            cfg,
            fusion,
            timer,
            face_model,
            voice_model,
            finder,
            voice,
            people: BTreeMap::new(),
            voice_only,
            last_detect_ms: None,
            round_robin: 0,
            last_logged_ms: None,
            last_label: String::new(),
            skipped_logged: 0,
            warned: HashSet::new(),
            counters: Counters::default(),
        })
    }

    /// Sample rate [`push_audio`](Self::push_audio) expects (the voice
    /// model's, 16 kHz by default).
    pub fn sample_rate(&self) -> u32 {
        self.voice.sample_rate()
    }

    /// The settings in use.
    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    /// The fusion parameters in use (temperatures from the model files).
    pub fn fusion(&self) -> &FusionConfig {
        &self.fusion
    }

    /// The face finder's description.
    pub fn finder(&self) -> String {
        self.finder.describe()
    }

    /// The budget state (misses, detection rate, skipped frames).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The run's counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Live tracks.
    pub fn tracks(&self) -> &[Track] {
        self.tracker.tracks()
    }

    /// Feeds microphone samples.
    pub fn push_audio(&mut self, samples: &[i16]) {
        self.voice.push(samples);
    }

    /// The microphone was lost or came back: forget buffered audio.
    pub fn reset_audio(&mut self) {
        self.voice.reset();
        self.voice_only.clear_voice();
        for p in self.people.values_mut() {
            p.engine.clear_voice();
        }
    }

    /// Records a frame `late_ms` old at pick-up; `true` when it must be
    /// skipped to keep up (see [`budget`]).
    pub fn frame_arrived(&mut self, late_ms: f64) -> bool {
        self.budget.frame_arrived(late_ms)
    }

    /// One step with a camera frame at `now_ms`.
    pub fn on_frame(&mut self, frame: &Frame, now_ms: u64, late_ms: f64, sources: Sources) -> Step {
        self.counters.frames += 1;
        let start = self.timer.now();
        let mut events = Vec::new();
        let mut rec = DecisionRecord {
            t_ms: now_ms,
            frame: Some(frame.sequence),
            ..Default::default()
        };
        rec.latency_ms.capture = Some(round4(late_ms as f32));
        if late_ms > self.budget.limit_ms(Stage::Capture) {
            rec.misses.push(Stage::Capture.name().into());
        }
        let voice = self.voice_stage(now_ms, &mut rec);

        // Detection, at the budgeted rate. A face leaves only after being
        // missed for `lost_after_ms` and at least two detection passes.
        self.tracker.lost_after_ms = self
            .cfg
            .lost_after_ms
            .max((2.0 * self.budget.detect_interval_ms() + self.cfg.frame_interval_ms) as u64);
        let track_events = if self.budget.detect_due(now_ms) {
            let t0 = self.timer.now();
            let found = self.finder.find(frame);
            let ms = ms_between(t0, self.timer.now());
            rec.latency_ms.detect = Some(round4(ms as f32));
            if self.budget.detected(now_ms, ms) {
                rec.misses.push(Stage::Detect.name().into());
            }
            match found {
                Ok(found) => {
                    self.last_detect_ms = Some(now_ms);
                    self.tracker.update(&found, now_ms)
                }
                Err(e) => {
                    self.warn_once(
                        &mut events,
                        now_ms,
                        "detect",
                        format!("face detection failed: {e}"),
                    );
                    self.tracker.expire(now_ms)
                }
            }
        } else {
            self.tracker.expire(now_ms)
        };
        self.apply_track_events(track_events, now_ms, &mut events);

        // Expression of the faces seen in the latest detection pass, as
        // many as the face budget allows.
        let mut face_logits: BTreeMap<u32, Probs> = BTreeMap::new();
        if self.face_model.is_some() {
            let seen: Vec<Track> = self
                .tracker
                .tracks()
                .iter()
                .filter(|t| Some(t.last_seen_ms) == self.last_detect_ms)
                .copied()
                .collect();
            let allowed = self.budget.faces_allowed().min(seen.len());
            if allowed > 0 {
                let t0 = self.timer.now();
                let first = self.round_robin % seen.len();
                self.round_robin = self.round_robin.wrapping_add(allowed);
                let mut errors = Vec::new();
                if let (Some(model), Ok(view)) = (self.face_model.as_mut(), frame.view()) {
                    for k in 0..allowed {
                        let t = &seen[(first + k) % seen.len()];
                        match model.classify(&view, t.bbox) {
                            Ok(l) => {
                                face_logits.insert(t.id, l);
                            }
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                let ms = ms_between(t0, self.timer.now());
                rec.latency_ms.face = Some(round4(ms as f32));
                if self.budget.faces_done(allowed, ms) {
                    rec.misses.push(Stage::Face.name().into());
                }
                if let Some(e) = errors.first() {
                    self.warn_once(
                        &mut events,
                        now_ms,
                        "face",
                        format!("face model failed: {e}"),
                    );
                }
            }
        }

        let decision = self.fuse(now_ms, &face_logits, voice, &mut rec, sources);
        let step = self.finish(rec, events, sources, decision);
        self.budget.frame_done(ms_between(start, self.timer.now()));
        step
    }

    /// One step without a camera frame at `now_ms` (no camera, camera lost
    /// or ended, or between frames).
    pub fn on_tick(&mut self, now_ms: u64, sources: Sources) -> Step {
        let mut events = Vec::new();
        let mut rec = DecisionRecord {
            t_ms: now_ms,
            ..Default::default()
        };
        let voice = self.voice_stage(now_ms, &mut rec);
        let ev = self.tracker.expire(now_ms);
        self.apply_track_events(ev, now_ms, &mut events);
        let decision = self.fuse(now_ms, &BTreeMap::new(), voice, &mut rec, sources);
        self.finish(rec, events, sources, decision)
    }

    /// Ends every visit (the loop is stopping); returns the leave records.
    pub fn close(&mut self, now_ms: u64) -> Vec<Record> {
        let mut events = Vec::new();
        let ev = self.tracker.clear();
        self.apply_track_events(ev, now_ms, &mut events);
        events
    }

    fn warn_once(
        &mut self,
        events: &mut Vec<Record>,
        now_ms: u64,
        key: &'static str,
        message: String,
    ) {
        if self.warned.insert(key) {
            log::warn!("{message} (reported once)");
            events.push(Record::Warning(WarningRecord {
                t_ms: now_ms,
                message,
            }));
        } else {
            log::debug!("{message}");
        }
    }

    /// Voice window if due; returns new voice logits.
    fn voice_stage(&mut self, now_ms: u64, rec: &mut DecisionRecord) -> Option<Probs> {
        if self.voice.take_speech_ended() {
            // Silence: face only from now on.
            self.voice_only.clear_voice();
            for p in self.people.values_mut() {
                p.engine.clear_voice();
            }
        }
        self.voice.take_speech_started();
        rec.voice = VoiceRecord {
            vad: self.voice.is_speech(),
            probs: None,
        };
        let model = self.voice_model.as_mut()?;
        if !self.budget.voice_due(now_ms) {
            return None;
        }
        let window = self.voice.window()?;
        let t0 = self.timer.now();
        let result = model.classify(window);
        let temperature = model.temperature();
        let ms = ms_between(t0, self.timer.now());
        rec.latency_ms.voice = Some(round4(ms as f32));
        if self.budget.voice_done(now_ms, ms) {
            rec.misses.push(Stage::Voice.name().into());
        }
        match result {
            Ok(logits) => {
                self.counters.voice_windows += 1;
                rec.voice.probs = calibrate(&logits, temperature)
                    .ok()
                    .map(|p| round_probs(&p));
                Some(logits)
            }
            Err(e) => {
                log::warn!("voice model failed: {e}");
                None
            }
        }
    }

    fn apply_track_events(&mut self, events: Vec<TrackEvent>, now_ms: u64, out: &mut Vec<Record>) {
        for e in events {
            match e {
                TrackEvent::Enter(t) => {
                    self.counters.visits += 1;
                    let engine = FusionEngine::new(self.fusion).unwrap_or(self.voice_only);
                    self.people.insert(
                        t.id,
                        Person {
                            engine,
                            first_ms: t.first_ms,
                            counted_ms: t.first_ms,
                            label_ms: [0; NUM_CLASSES + 2],
                        },
                    );
                    out.push(Record::Enter(EnterRecord {
                        t_ms: now_ms,
                        track: t.id,
                        bbox: bbox(&t),
                    }));
                }
                TrackEvent::Leave(t) => {
                    let Some(p) = self.people.remove(&t.id) else {
                        continue;
                    };
                    out.push(Record::Leave(visit_summary(&t, &p, now_ms)));
                }
            }
        }
    }

    fn fuse(
        &mut self,
        now_ms: u64,
        face_logits: &BTreeMap<u32, Probs>,
        voice: Option<Probs>,
        rec: &mut DecisionRecord,
        sources: Sources,
    ) -> Decision {
        let t0 = self.timer.now();
        let voice_decision = self.voice_only.update(now_ms, None, voice.as_ref());
        let face_t = self.fusion.face_temperature;
        let mut primary: Option<(f32, u32, Decision)> = None;
        for t in self.tracker.tracks() {
            let Some(p) = self.people.get_mut(&t.id) else {
                continue;
            };
            let logits = face_logits.get(&t.id);
            let d = p.engine.update(now_ms, logits, voice.as_ref());
            // The visit time since the previous step, up to when the face
            // was last seen, counts for the label decided now.
            let upto = now_ms.min(t.last_seen_ms);
            if upto > p.counted_ms {
                p.label_ms[outcome_index(d.label)] += upto - p.counted_ms;
                p.counted_ms = upto;
            }
            rec.faces.push(FaceRecord {
                track: t.id,
                bbox: bbox(t),
                score: round4(t.score),
                probs: logits
                    .and_then(|l| calibrate(l, face_t).ok())
                    .map(|p| round_probs(&p)),
                label: record::outcome_label(d.label).into(),
                confidence: round4(d.confidence),
            });
            if primary.is_none_or(|(area, _, _)| t.area() > area) {
                primary = Some((t.area(), t.id, d));
            }
        }
        let decision = match primary {
            Some((_, id, d)) => {
                rec.track = Some(id);
                d
            }
            None => voice_decision,
        };
        rec.set_decision(&decision);
        if decision.label != Outcome::NoDecision {
            self.counters.decisions += 1;
        }
        let ms = ms_between(t0, self.timer.now());
        rec.latency_ms.fusion = Some(round4(ms as f32));
        if self.budget.record(Stage::Fusion, ms) {
            rec.misses.push(Stage::Fusion.name().into());
        }
        rec.camera = sources.camera.name().into();
        rec.mic = sources.mic.name().into();
        decision
    }

    fn finish(
        &mut self,
        mut rec: DecisionRecord,
        events: Vec<Record>,
        sources: Sources,
        decision: Decision,
    ) -> Step {
        let now_ms = rec.t_ms;
        let skipped = self.budget.skipped();
        rec.skipped_frames = skipped - self.skipped_logged;
        rec.misses_total = self.budget.total_misses();
        rec.detect_hz = round4(self.budget.detect_hz() as f32);
        let fault = sources.camera == SourceState::Lost || sources.mic == SourceState::Lost;
        let led = self.reaction.update(now_ms, decision.label, fault);
        let idle_due = self
            .last_logged_ms
            .map(|t| now_ms.saturating_sub(t) >= IDLE_RECORD_MS)
            .unwrap_or(true);
        let log = decision.label != Outcome::NoDecision
            || rec.label != self.last_label
            || !rec.misses.is_empty()
            || rec.voice.probs.is_some()
            || idle_due;
        if log {
            self.last_logged_ms = Some(now_ms);
            self.skipped_logged = skipped;
        }
        self.last_label.clone_from(&rec.label);
        Step {
            record: rec,
            log,
            events,
            led,
            decision,
        }
    }
}

fn bbox(t: &Track) -> [f32; 4] {
    [
        round4(t.bbox.x),
        round4(t.bbox.y),
        round4(t.bbox.w),
        round4(t.bbox.h),
    ]
}

fn visit_summary(t: &Track, p: &Person, now_ms: u64) -> LeaveRecord {
    let emotions = &p.label_ms[..NUM_CLASSES];
    let best = emotions
        .iter()
        .enumerate()
        .max_by_key(|(i, ms)| (**ms, std::cmp::Reverse(*i)))
        .filter(|(_, ms)| **ms > 0)
        .map(|(i, _)| i);
    let dominant = match best {
        Some(i) => LABELS[i],
        None if p.label_ms[NUM_CLASSES] > 0 => record::UNCERTAIN,
        None => record::NONE,
    };
    LeaveRecord {
        t_ms: now_ms,
        track: t.id,
        entered_ms: p.first_ms,
        duration_ms: t.last_seen_ms.saturating_sub(p.first_ms),
        dominant: dominant.into(),
        label_ms: LABELS
            .iter()
            .zip(p.label_ms)
            .filter(|(_, ms)| *ms > 0)
            .map(|(l, ms)| (l.to_string(), ms))
            .collect(),
    }
}
