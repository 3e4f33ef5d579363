//! The real-time loop end to end through the library, on a simulated
//! clock: replayed and scripted sources, small generated models (a face
//! model that always says happy, a voice model that always says surprise),
//! simulated LEDs that record their transitions, the log on disk.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use emoedge_device::board::BoardProfile;
use emoedge_device::camera::mock::MockCamera;
use emoedge_device::camera::{Camera, CameraError, Frame};
use emoedge_device::clock::{Clock, MockClock};
use emoedge_device::kind::ErrorKind;
use emoedge_device::leds::sim::SimLeds;
use emoedge_device::leds::LedState;
use emoedge_device::log_writer::{LogConfig, LogWriter};
use emoedge_device::mic::mock::MockMicrophone;
use emoedge_device::mic::{MicError, Microphone};
use emoedge_device::pipeline::faces::{FaceFinder, Found};
use emoedge_device::pipeline::models::FaceClassifier;
use emoedge_device::pipeline::record::{Record, StartRecord};
use emoedge_device::pipeline::{Pipeline, PipelineConfig, SourceState, Sources};
use emoedge_device::runner::report::Silent;
use emoedge_device::runner::setup::load_models;
use emoedge_device::runner::sources::{AudioFeed, CameraSlot, InlineFeed};
use emoedge_device::runner::{Pacing, RunOptions, Runner};
use emoedge_device::source::{open_camera, open_mic, CameraSpec, MicSpec};
use emoedge_shared::face::FaceBox;
use emoedge_shared::runtime::Model;
use emoedge_shared::{Emotion, NUM_CLASSES};

use common::*;

static NEVER: AtomicBool = AtomicBool::new(false);

fn log_config(path: &Path) -> LogConfig {
    LogConfig {
        path: path.to_path_buf(),
        max_bytes: 1 << 22,
        keep: 2,
        fsync_every: 20,
        fsync_interval: Duration::from_secs(1),
    }
}

fn options(frame_ms: u64) -> RunOptions {
    RunOptions {
        pacing: Pacing::Fast,
        duration: None,
        tick: Duration::from_millis(100),
        frame_interval: Duration::from_millis(frame_ms),
        stop: &NEVER,
    }
}

fn fixed_config(profile: &BoardProfile) -> PipelineConfig {
    let mut c = PipelineConfig::from_profile(profile);
    c.adaptive = false;
    c
}

type Leds = SimLeds<MockClock, Vec<u8>>;

fn led_states(leds: &Leds) -> Vec<(u64, LedState)> {
    leds.transitions().map(|t| (t.at_ms, t.state)).collect()
}

fn labels_between(log: &[serde_json::Value], from: u64, to: u64) -> Vec<&serde_json::Value> {
    of_type(log, "decision")
        .into_iter()
        .filter(|d| (from..to).contains(&d["t_ms"].as_u64().unwrap()))
        .collect()
}

#[test]
fn replayed_frames_and_speech_give_logged_decisions_visits_and_led_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let profile = BoardProfile::load_file(&board(dir.path(), true)).unwrap();
    // 1.5 s nobody, 2.4 s a face, 1 s nobody, at 10 fps; speech from 0.2 s.
    let pattern: Vec<bool> = (0..49).map(|n| (15..39).contains(&n)).collect();
    let frames = dir.path().join("frames");
    write_frames(&frames, &pattern);
    let wav = dir.path().join("speech.wav");
    write_speech(&wav, 0.2, 0.2);

    let clock = MockClock::default();
    let models = load_models(&profile.model_paths()).unwrap();
    assert!(models.face.is_some() && models.voice.is_some());
    assert!(
        models
            .warnings
            .iter()
            .any(|w| w.contains("no face detector")),
        "{:?}",
        models.warnings
    );
    let pipeline = Pipeline::new(
        fixed_config(&profile),
        models.face,
        models.voice,
        models.finder,
        clock.clone(),
    )
    .unwrap();
    let (p, c) = (profile.clone(), clock.clone());
    let spec = CameraSpec::Replay {
        path: frames,
        fps: Some(Some(10.0)),
        looping: Some(false),
    };
    let (camera, _) = CameraSlot::open(Box::new(move || {
        open_camera(&spec, &p, c.clone()).map(|c| c.unwrap())
    }))
    .unwrap();
    let (p, c) = (profile.clone(), clock.clone());
    let spec = MicSpec::Replay {
        path: wav,
        realtime: false,
        looping: false,
    };
    let (mic, _) = InlineFeed::open(Box::new(move || {
        open_mic(&spec, &p, c.clone()).map(|m| m.unwrap())
    }))
    .unwrap();
    let leds: Leds = SimLeds::new(Vec::new(), false, clock.clone());
    let log_path = dir.path().join("log/events.jsonl");
    let log = LogWriter::open(log_config(&log_path), clock.clone()).unwrap();
    let mut runner = Runner::new(
        clock.clone(),
        pipeline,
        Some(camera),
        Some(Box::new(mic) as Box<dyn AudioFeed>),
        leds,
        log,
        Box::new(Silent),
        options(100),
    );
    let stop = runner.run(StartRecord::default(), models.warnings);

    assert_eq!(stop.reason, "end of input");
    assert_eq!(stop.frames, 49);
    assert_eq!(stop.skipped_frames, 0);
    assert_eq!(stop.visits, 1);
    assert!(stop.voice_windows >= 4, "{stop:?}");
    assert!(clock.now() >= Duration::from_millis(4800), "simulated time");

    let log = read_log(&log_path);
    assert_eq!(log.first().unwrap()["type"], "start");
    assert_eq!(log.last().unwrap()["type"], "stop");
    assert!(!of_type(&log, "warning").is_empty());
    let enter = of_type(&log, "enter");
    assert_eq!(enter.len(), 1);
    assert_eq!(enter[0]["t_ms"], 1500);
    assert_eq!(enter[0]["track"], 1);
    assert_eq!(enter[0]["box"], serde_json::json!([21.0, 9.0, 54.0, 54.0]));
    let leave = of_type(&log, "leave");
    assert_eq!(leave.len(), 1);
    assert_eq!(leave[0]["track"], 1);
    assert_eq!(leave[0]["entered_ms"], 1500);
    assert_eq!(leave[0]["duration_ms"], 2300);
    assert_eq!(leave[0]["dominant"], "happy");

    // Before the face: the voice alone (surprise); with the face: both
    // fused (happy has the larger weight); every decision carries the
    // stage latencies and the voice state.
    let before = labels_between(&log, 900, 1500);
    assert!(!before.is_empty());
    for d in &before {
        assert_eq!(d["label"], "surprise", "{d}");
        assert_eq!(d["sources"], serde_json::json!(["voice"]), "{d}");
        assert_eq!(d["faces"].as_array().unwrap().len(), 0);
        assert_eq!(d["voice"]["vad"], true);
    }
    let with_face = labels_between(&log, 2000, 3800);
    assert!(!with_face.is_empty());
    for d in &with_face {
        assert_eq!(d["label"], "happy", "{d}");
        assert_eq!(d["track"], 1);
        let f = &d["faces"][0];
        assert_eq!(f["track"], 1);
        assert_eq!(f["probs"].as_array().unwrap().len(), NUM_CLASSES);
        assert!(d["latency_ms"]["face"].is_number(), "{d}");
        assert!(d["latency_ms"]["detect"].is_number(), "{d}");
        assert_eq!(d["camera"], "ok");
        assert_eq!(d["mic"], "ok");
    }
    assert!(with_face
        .iter()
        .any(|d| d["sources"] == serde_json::json!(["face", "voice"])));
    assert!(of_type(&log, "decision")
        .iter()
        .any(|d| d["voice"]["probs"].as_array().is_some_and(|p| p.len() == 7)));
    // Never an image or a sound: every record is small.
    assert!(std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .all(|l| l.len() < 2000));

    // LEDs: idle, the voice's surprise, happy once the face is fused (after
    // surprise was shown its minimum time), off at the end.
    let leds = led_states(runner.leds());
    let states: Vec<LedState> = leds.iter().map(|(_, s)| *s).collect();
    assert_eq!(states.first(), Some(&LedState::Idle));
    assert_eq!(states.last(), Some(&LedState::Off));
    let surprise = states
        .iter()
        .position(|s| *s == LedState::Emotion(Emotion::Surprise))
        .expect("surprise shown");
    let happy = states
        .iter()
        .position(|s| *s == LedState::Emotion(Emotion::Happy))
        .expect("happy shown");
    assert!(surprise < happy, "{leds:?}");
    assert!((1500..2500).contains(&leds[happy].0), "{leds:?}");
}

fn textured(ts: u64, seq: u64) -> Frame {
    let img = frame_image(true, seq as u32);
    Frame {
        gray: img.into_raw(),
        width: 96,
        height: 72,
        timestamp_ms: ts,
        sequence: seq,
    }
}

/// Frames every 100 ms from `from_ms` to `to_ms` inclusive.
fn frames(from_ms: u64, to_ms: u64) -> Vec<Result<Frame, ErrorKind>> {
    (from_ms..=to_ms)
        .step_by(100)
        .map(|t| Ok(textured(t, t / 100)))
        .collect()
}

#[test]
fn camera_and_microphone_that_fail_mid_run_are_reconnected_and_the_loop_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let profile = BoardProfile::load_file(&board(dir.path(), true)).unwrap();
    let clock = MockClock::default();
    let models = load_models(&profile.model_paths()).unwrap();
    let pipeline = Pipeline::new(
        fixed_config(&profile),
        models.face,
        models.voice,
        models.finder,
        clock.clone(),
    )
    .unwrap();

    // Camera: frames 0-1.6 s, then unplugged; the first two reopening
    // attempts fail, the third finds it back with frames from 5.3 s.
    let mut first = frames(0, 1600);
    first.push(Err(ErrorKind::Disconnected));
    let mut cameras: Vec<Result<MockCamera, ErrorKind>> = vec![
        Ok(MockCamera::new(first)),
        Err(ErrorKind::Disconnected),
        Err(ErrorKind::Disconnected),
        Ok(MockCamera::new(frames(5300, 6300))),
    ];
    cameras.reverse();
    let camera_opens = std::rc::Rc::new(std::cell::Cell::new(0));
    let opens = camera_opens.clone();
    let (camera, _) = CameraSlot::open(Box::new(move || {
        opens.set(opens.get() + 1);
        match cameras.pop().expect("no more reopening attempts") {
            Ok(c) => Ok(Box::new(c) as Box<dyn Camera>),
            Err(k) => Err(CameraError::Scripted(k)),
        }
    }))
    .unwrap();

    // Microphone: 0.3 s of silence and 0.9 s of speech, then unplugged;
    // back at the first attempt with 0.3 s of silence and the whole clip.
    let speech = speech_samples();
    let silence = vec![0i16; 4800];
    let mic1 = MockMicrophone::new(
        16_000,
        [
            Ok(silence.clone()),
            Ok(speech[..14_400].to_vec()),
            Err(ErrorKind::Disconnected),
        ],
    );
    let mic2 = MockMicrophone::new(16_000, [Ok(silence), Ok(speech)]);
    let mut mics = vec![mic2, mic1];
    let (mic, _) = InlineFeed::open(Box::new(
        move || -> Result<Box<dyn Microphone>, MicError> {
            Ok(Box::new(mics.pop().expect("no more microphones")))
        },
    ))
    .unwrap();

    let leds: Leds = SimLeds::new(Vec::new(), false, clock.clone());
    let log_path = dir.path().join("events.jsonl");
    let log = LogWriter::open(log_config(&log_path), clock.clone()).unwrap();
    let mut runner = Runner::new(
        clock.clone(),
        pipeline,
        Some(camera),
        Some(Box::new(mic) as Box<dyn AudioFeed>),
        leds,
        log,
        Box::new(Silent),
        options(100),
    );
    let stop = runner.run(StartRecord::default(), Vec::new());
    assert_eq!(stop.reason, "end of input");
    assert_eq!(camera_opens.get(), 4);
    assert_eq!(stop.frames, 17 + 11);

    let log = read_log(&log_path);
    let events: Vec<(String, String, u64)> = of_type(&log, "source")
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
                s["t_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    let at = |source: &str, state: &str| {
        events
            .iter()
            .find(|(s, st, _)| s == source && st == state)
            .map(|e| e.2)
            .unwrap_or_else(|| panic!("no {source} {state} in {events:?}"))
    };
    // The failure shows at the first read past the 1.2 s delivered.
    assert_eq!(at("microphone", "lost"), 1300);
    assert_eq!(at("microphone", "back"), 1800, "reopened after 0.5 s");
    assert_eq!(at("camera", "lost"), 1600);
    // Retries at 2.1 s and 3.1 s fail; the third, 2 s later, succeeds.
    assert_eq!(at("camera", "back"), 5100);
    assert!(at("camera", "ended") >= 6300);
    assert!(at("microphone", "ended") >= 6300);

    // Microphone lost, camera still there: the face alone.
    let face_only = labels_between(&log, 1300, 1700);
    assert!(!face_only.is_empty());
    for d in &face_only {
        assert_eq!(d["mic"], "lost", "{d}");
        assert_eq!(d["sources"], serde_json::json!(["face"]), "{d}");
        assert_eq!(d["label"], "happy", "{d}");
    }
    // Camera lost, face observation stale, microphone back: the voice alone.
    let voice_only = labels_between(&log, 3200, 5100);
    assert!(!voice_only.is_empty());
    for d in &voice_only {
        assert_eq!(d["camera"], "lost", "{d}");
        assert_eq!(d["faces"].as_array().unwrap().len(), 0, "{d}");
    }
    assert!(
        voice_only
            .iter()
            .any(|d| d["label"] == "surprise" && d["sources"] == serde_json::json!(["voice"])),
        "{voice_only:?}"
    );
    // The visitor of the first camera left while it was lost; the returning
    // camera shows a new visit.
    let enters = of_type(&log, "enter");
    assert_eq!(enters.len(), 2, "{enters:?}");
    assert_eq!(enters[1]["t_ms"], 5300);
    let leave = of_type(&log, "leave");
    assert_eq!(leave[0]["track"], 1);
    assert_eq!(leave[0]["t_ms"], 2600, "1 s after the face was last seen");
}

/// A finder that takes `cost_ms` of the timer clock per pass and finds the
/// scripted boxes.
struct Scripted {
    timer: MockClock,
    cost_ms: u64,
    boxes: Vec<FaceBox>,
    calls: u32,
}

impl FaceFinder for Scripted {
    fn describe(&self) -> String {
        "scripted".into()
    }
    fn find(&mut self, _frame: &Frame) -> Result<Vec<Found>, String> {
        self.calls += 1;
        self.timer.advance_ms(self.cost_ms);
        Ok(self
            .boxes
            .iter()
            .map(|&bbox| Found { bbox, score: 0.9 })
            .collect())
    }
}

fn happy_face_model() -> FaceClassifier {
    FaceClassifier::new(
        Model::from_model(&biased_model(
            emoedge_shared::format::ModelKind::FaceClassifier,
            Emotion::Happy,
        ))
        .unwrap(),
    )
    .unwrap()
}

const LIVE: Sources = Sources {
    camera: SourceState::Ok,
    mic: SourceState::None,
};

#[test]
fn slow_detection_lowers_the_detection_rate_and_every_miss_is_logged() {
    let profile = BoardProfile::load("host").unwrap();
    let budget = profile.budget;
    assert_eq!(budget.detect_hz, 15.0);
    let timer = MockClock::default();
    let finder = Scripted {
        timer: timer.clone(),
        cost_ms: u64::from(budget.detect_ms) + 10,
        boxes: vec![FaceBox::new(20.0, 10.0, 50.0, 50.0)],
        calls: 0,
    };
    let mut p = Pipeline::new(
        PipelineConfig::from_profile(&profile),
        Some(happy_face_model()),
        None,
        Box::new(finder),
        timer.clone(),
    )
    .unwrap();
    let mut detect_hz = Vec::new();
    let mut detected = 0;
    let mut misses = 0;
    for n in 0..90u64 {
        let step = p.on_frame(&textured(n * 33, n), n * 33, 0.0, LIVE);
        let r = &step.record;
        if r.latency_ms.detect.is_some() {
            detected += 1;
            assert!(r.misses.contains(&"detect".to_string()), "{r:?}");
            assert!(step.log, "a step with a miss is always logged");
        }
        misses += r.misses.iter().filter(|m| *m == "detect").count();
        detect_hz.push(r.detect_hz);
        assert_eq!(r.label, "happy", "the box is reused between detections");
    }
    assert_eq!(
        p.budget()
            .misses(emoedge_device::pipeline::budget::Stage::Detect),
        misses as u64
    );
    assert!(
        detected < 15,
        "{detected} passes in 3 s: the rate went down"
    );
    assert_eq!(detect_hz[0], 7.5, "halved after the first slow pass");
    assert_eq!(*detect_hz.last().unwrap(), 0.5);
    assert_eq!(p.tracks().len(), 1, "the face stays tracked at 0.5 Hz");
    assert_eq!(p.counters().visits, 1);
}

#[test]
fn several_faces_keep_their_ids_and_the_largest_decides() {
    let profile = BoardProfile::load("host").unwrap();
    let timer = MockClock::default();
    let finder = Scripted {
        timer: timer.clone(),
        cost_ms: 0,
        boxes: vec![
            FaceBox::new(2.0, 2.0, 20.0, 20.0),
            FaceBox::new(40.0, 10.0, 40.0, 40.0),
        ],
        calls: 0,
    };
    let mut p = Pipeline::new(
        PipelineConfig::from_profile(&profile),
        Some(happy_face_model()),
        None,
        Box::new(finder),
        timer,
    )
    .unwrap();
    let first = p.on_frame(&textured(0, 0), 0, 0.0, LIVE);
    let enters: Vec<u32> = first
        .events
        .iter()
        .filter_map(|e| match e {
            Record::Enter(e) => Some(e.track),
            _ => None,
        })
        .collect();
    assert_eq!(enters, vec![1, 2]);
    for n in 1..10 {
        let s = p.on_frame(&textured(n * 66, n), n * 66, 0.0, LIVE);
        assert_eq!(s.record.faces.len(), 2);
        assert_eq!(s.record.track, Some(2), "the larger face");
        assert_eq!(s.led, LedState::Emotion(Emotion::Happy));
    }
    // Nobody for a while: both visits end with their summaries.
    let s = p.on_tick(2000, LIVE);
    let leaves: Vec<(u32, String)> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Record::Leave(l) => Some((l.track, l.dominant.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(leaves, vec![(1, "happy".into()), (2, "happy".into())]);
}
