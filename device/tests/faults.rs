//! Faults while the loop runs, with scripted sources and a scripted disk:
//! camera glitches, microphone overruns and a microphone that disappears
//! for good, a disk that fills up and is freed again, a loop that hangs
//! (the systemd watchdog stops being fed), `kill -9` during logging,
//! repeated, and the systemd notifications of the binary.
//!
//! (The camera and the microphone disappearing and coming back is in
//! `run_loop.rs`; SIGTERM in `cli.rs`.)

mod common;

use std::cell::RefCell;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use emoedge_device::board::BoardProfile;
use emoedge_device::camera::mock::MockCamera;
use emoedge_device::camera::{Camera, CameraError, Frame};
use emoedge_device::clock::MockClock;
use emoedge_device::kind::ErrorKind;
use emoedge_device::leds::sim::SimLeds;
use emoedge_device::log_writer::{LogConfig, LogFile, LogFs, LogWriter, StdFile, StdFs};
use emoedge_device::mic::mock::MockMicrophone;
use emoedge_device::mic::{MicError, Microphone};
use emoedge_device::pipeline::record::StartRecord;
use emoedge_device::pipeline::{Pipeline, PipelineConfig};
use emoedge_device::runner::report::Silent;
use emoedge_device::runner::setup::load_models;
use emoedge_device::runner::sources::{AudioFeed, CameraSlot, InlineFeed};
use emoedge_device::runner::watchdog::Watchdog;
use emoedge_device::runner::{Pacing, RunOptions, Runner};

use common::*;

static NEVER: AtomicBool = AtomicBool::new(false);

type Leds = SimLeds<MockClock, Vec<u8>>;

fn log_config(path: &Path) -> LogConfig {
    LogConfig {
        path: path.to_path_buf(),
        max_bytes: 1 << 22,
        keep: 2,
        fsync_every: 20,
        fsync_interval: Duration::from_secs(1),
    }
}

fn options(duration_ms: Option<u64>) -> RunOptions {
    RunOptions {
        pacing: Pacing::Fast,
        duration: duration_ms.map(Duration::from_millis),
        tick: Duration::from_millis(100),
        frame_interval: Duration::from_millis(100),
        stop: &NEVER,
    }
}

fn pipeline(root: &Path, clock: &MockClock) -> Pipeline<MockClock> {
    let profile = BoardProfile::load_file(&board(root, true)).unwrap();
    let models = load_models(&profile.model_paths()).unwrap();
    let mut config = PipelineConfig::from_profile(&profile);
    config.adaptive = false;
    Pipeline::new(
        config,
        models.face,
        models.voice,
        models.finder,
        clock.clone(),
    )
    .unwrap()
}

fn textured(ts: u64) -> Frame {
    Frame {
        gray: frame_image(true, (ts / 100) as u32).into_raw(),
        width: 96,
        height: 72,
        timestamp_ms: ts,
        sequence: ts / 100,
    }
}

/// A camera slot over one scripted camera that never comes back once its
/// script is over.
fn camera(steps: Vec<Result<Frame, ErrorKind>>) -> CameraSlot {
    let mut cam = Some(MockCamera::new(steps));
    CameraSlot::open(Box::new(move || match cam.take() {
        Some(c) => Ok(Box::new(c) as Box<dyn Camera>),
        None => Err(CameraError::Scripted(ErrorKind::Disconnected)),
    }))
    .unwrap()
    .0
}

/// Frames every 100 ms from `from_ms` to `to_ms` inclusive.
fn frames(from_ms: u64, to_ms: u64) -> Vec<Result<Frame, ErrorKind>> {
    (from_ms..=to_ms)
        .step_by(100)
        .map(|t| Ok(textured(t)))
        .collect()
}

fn sources_of(d: &serde_json::Value) -> Vec<String> {
    d["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn overruns_and_glitches_are_logged_once_and_a_microphone_gone_for_good_leaves_the_faces() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    let pipeline = pipeline(dir.path(), &clock);

    // Camera: 6 s of frames with a stalled read at 1 s and a corrupt frame
    // at 2 s (both within 10 s: one glitch record), then the end.
    let mut steps = frames(0, 900);
    steps.push(Err(ErrorKind::Timeout));
    steps.extend(frames(1000, 1900));
    steps.push(Err(ErrorKind::Corrupt));
    steps.extend(frames(2000, 6000));
    let camera = camera(steps);

    // Microphone: speech from 0.3 s with three overruns (ALSA xruns, each
    // losing what was due), then unplugged at about 3.5 s for good.
    let speech = speech_samples();
    let mut script: Vec<Result<Vec<i16>, ErrorKind>> = vec![Ok(vec![0; 4800])];
    for chunk in speech[..48_000].chunks(8000) {
        script.push(Ok(chunk.to_vec()));
        script.push(Err(ErrorKind::Overrun));
    }
    script.truncate(1 + 2 * 3);
    script.push(Ok(speech[24_000..40_000].to_vec()));
    script.push(Err(ErrorKind::Disconnected));
    let mut first = Some(MockMicrophone::new(16_000, script));
    let mic_opens = Rc::new(RefCell::new(0u32));
    let opens = mic_opens.clone();
    let (mic, _) = InlineFeed::open(Box::new(
        move || -> Result<Box<dyn Microphone>, MicError> {
            *opens.borrow_mut() += 1;
            match first.take() {
                Some(m) => Ok(Box::new(m)),
                None => Err(MicError::Scripted(ErrorKind::Disconnected)),
            }
        },
    ))
    .unwrap();

    let log_path = dir.path().join("events.jsonl");
    let log = LogWriter::open(log_config(&log_path), clock.clone()).unwrap();
    let leds: Leds = SimLeds::new(Vec::new(), false, clock.clone());
    let mut runner = Runner::new(
        clock.clone(),
        pipeline,
        Some(camera),
        Some(Box::new(mic) as Box<dyn AudioFeed>),
        leds,
        log,
        Box::new(Silent),
        options(Some(20_000)),
    );
    let stop = runner.run(StartRecord::default(), Vec::new());
    // The camera ended, the microphone is still being looked for: the loop
    // waits for it until the duration is over.
    assert_eq!(stop.reason, "duration");
    assert_eq!(stop.frames, 61, "every good frame was used");
    assert!(
        *mic_opens.borrow() > 3,
        "the microphone was looked for again"
    );

    let log = read_log(&log_path);
    let records = of_type(&log, "source");
    let events = |source: &str, state: &str| -> Vec<&serde_json::Value> {
        records
            .iter()
            .copied()
            .filter(|r| r["source"] == source && r["state"] == state)
            .collect()
    };
    // One glitch of each source is logged; the others within 10 s are
    // counted without flooding the log.
    let mic_glitches = events("microphone", "glitch");
    assert_eq!(mic_glitches.len(), 1, "{records:?}");
    assert!(
        mic_glitches[0]["detail"]
            .as_str()
            .unwrap()
            .contains("overrun"),
        "{mic_glitches:?}"
    );
    let cam_glitches = events("camera", "glitch");
    assert_eq!(cam_glitches.len(), 1, "{records:?}");
    assert!(cam_glitches[0]["detail"]
        .as_str()
        .unwrap()
        .contains("timeout"));
    let lost = events("microphone", "lost");
    assert_eq!(
        lost.len(),
        1,
        "lost once, not once per attempt: {records:?}"
    );
    let lost_ms = lost[0]["t_ms"].as_u64().unwrap();
    assert!((3000..4000).contains(&lost_ms), "{lost_ms}");
    assert!(events("microphone", "back").is_empty());
    assert_eq!(events("camera", "ended").len(), 1);

    let decisions = of_type(&log, "decision");
    // Through the overruns the microphone stays up and the voice is heard.
    let before: Vec<_> = decisions
        .iter()
        .filter(|d| d["t_ms"].as_u64().unwrap() < lost_ms)
        .collect();
    assert!(before.iter().all(|d| d["mic"] == "ok"), "{before:?}");
    assert!(
        before
            .iter()
            .any(|d| sources_of(d).contains(&"voice".to_string())),
        "the voice was fused before the loss"
    );
    // After the loss: the faces alone, every step, to the camera's end.
    let after: Vec<_> = decisions
        .iter()
        .filter(|d| (lost_ms + 100..=6000).contains(&d["t_ms"].as_u64().unwrap()))
        .collect();
    assert!(after.len() >= 20, "{}", after.len());
    for d in &after {
        assert_eq!(d["mic"], "lost", "{d}");
        assert_eq!(sources_of(d), vec!["face".to_string()], "{d}");
        assert_eq!(d["label"], "happy", "{d}");
    }
    let last = decisions.last().unwrap()["t_ms"].as_u64().unwrap();
    assert!(last >= 6000, "decisions went on to the end: {last}");
}

// ---- disk full ----

/// A disk with `free` bytes left; at the `free_at`-th append attempt the
/// operator frees `freed` bytes. A write beyond the free space stores what
/// fits, then fails with ENOSPC, as a real full disk does.
struct DiskState {
    free: u64,
    appends: u64,
    free_at: u64,
    freed: u64,
}

#[derive(Clone)]
struct ScriptedDisk(Rc<RefCell<DiskState>>);

struct ScriptedFile {
    inner: StdFile,
    disk: ScriptedDisk,
}

impl LogFile for ScriptedFile {
    fn size(&mut self) -> io::Result<u64> {
        self.inner.size()
    }
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let fits = {
            let mut d = self.disk.0.borrow_mut();
            d.appends += 1;
            if d.appends == d.free_at {
                d.free += d.freed;
            }
            let fits = d.free.min(bytes.len() as u64) as usize;
            d.free -= fits as u64;
            fits
        };
        self.inner.append(&bytes[..fits])?;
        if fits < bytes.len() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let before = self.inner.size()?;
        self.inner.truncate(len)?;
        self.disk.0.borrow_mut().free += before.saturating_sub(len);
        Ok(())
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
}

impl LogFs for ScriptedDisk {
    type File = ScriptedFile;
    fn open(&self, path: &Path) -> io::Result<ScriptedFile> {
        Ok(ScriptedFile {
            inner: StdFs.open(path)?,
            disk: self.clone(),
        })
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdFs.exists(path)
    }
}

/// Log messages of this test binary, to count the error reports.
struct Capture;

static MESSAGES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        MESSAGES
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// Messages mentioning `needle` (the test's own log file).
fn messages_about(needle: &str) -> Vec<(log::Level, String)> {
    MESSAGES
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn a_full_disk_drops_records_once_reported_and_loses_nothing_written_before() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    let pipeline = pipeline(dir.path(), &clock);
    let camera = camera(frames(0, 5000));

    // 6 KB free: the start record and the first decisions fit; the disk is
    // full from then on until space is freed at the 40th write attempt.
    let disk = ScriptedDisk(Rc::new(RefCell::new(DiskState {
        free: 6_000,
        appends: 0,
        free_at: 40,
        freed: 1 << 30,
    })));
    let log_path = dir.path().join("full-disk.jsonl");
    let log = LogWriter::open_with(disk.clone(), log_config(&log_path), clock.clone()).unwrap();
    let leds: Leds = SimLeds::new(Vec::new(), false, clock.clone());
    let mut runner = Runner::new(
        clock.clone(),
        pipeline,
        Some(camera),
        None,
        leds,
        log,
        Box::new(Silent),
        options(None),
    );
    let stop = runner.run(StartRecord::default(), Vec::new());

    // The loop went on through the whole replay.
    assert_eq!(stop.reason, "end of input");
    assert_eq!(stop.frames, 51);
    let stats = runner.log().stats();
    assert_eq!(stats.episodes, 1, "{stats:?}");
    assert!(stats.dropped > 10, "{stats:?}");
    assert_eq!(stop.log_dropped, stats.dropped);
    // One error for the episode, one note when writing works again.
    let name = log_path.display().to_string();
    let msgs = messages_about(&name);
    let errors: Vec<_> = msgs
        .iter()
        .filter(|(l, _)| *l == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{msgs:?}");
    assert!(errors[0].1.contains("disk is full"), "{errors:?}");
    assert_eq!(
        msgs.iter()
            .filter(|(_, m)| m.contains("writing again"))
            .count(),
        1,
        "{msgs:?}"
    );

    // The file holds whole records only: everything written before the
    // disk filled up, a gap, then everything after it was freed, with the
    // stop record at the end.
    let log = read_log(&log_path);
    assert_eq!(log[0]["type"], "start");
    assert_eq!(log.last().unwrap()["type"], "stop");
    assert_eq!(log.last().unwrap()["log_dropped"], stats.dropped);
    let times: Vec<u64> = of_type(&log, "decision")
        .iter()
        .map(|d| d["t_ms"].as_u64().unwrap())
        .collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap >= 1000, "the dropped records leave a gap: {times:?}");
    assert!(
        times[0] <= 200 && *times.last().unwrap() >= 5000,
        "{times:?}"
    );
    assert_eq!(stats.written, log.len() as u64);
}

// ---- the watchdog ----

/// A camera that hangs inside `read_frame` at frame `hang_at` until the
/// test releases it, like a driver call that never returns.
struct HangingCamera {
    inner: MockCamera,
    calls: u64,
    hang_at: u64,
    hanging: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

impl Camera for HangingCamera {
    fn describe(&self) -> String {
        "hanging camera".into()
    }
    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError> {
        self.calls += 1;
        if self.calls == self.hang_at {
            self.hanging.send(()).unwrap();
            self.release.recv().unwrap();
        }
        self.inner.read_frame(frame)
    }
}

/// What the notification socket received, in order, with a marker where
/// the loop hung and where it was released.
fn listen(
    socket: UnixDatagram,
    hanging: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 128];
    let mut recv = |socket: &UnixDatagram, got: &mut Vec<String>| -> bool {
        match socket.recv(&mut buf) {
            Ok(n) => {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                true
            }
            Err(_) => false,
        }
    };
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // Until the loop hangs: everything it sends.
    loop {
        recv(&socket, &mut got);
        if hanging.try_recv().is_ok() {
            break;
        }
    }
    // What it sent before hanging is already queued.
    while recv(&socket, &mut got) {}
    got.push("<hang>".into());
    // A hung loop sends nothing, however long it hangs (here 1 s).
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        recv(&socket, &mut got);
    }
    got.push("<release>".into());
    release.send(()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    while got.last().is_none_or(|m| m != "STOPPING=1") {
        assert!(recv(&socket, &mut got), "the loop never stopped: {got:?}");
    }
    got
}

#[test]
fn a_hung_loop_stops_feeding_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    let pipeline = pipeline(dir.path(), &clock);
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let (hanging_tx, hanging_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let mut cam = Some(HangingCamera {
        inner: MockCamera::new(frames(0, 3000)),
        calls: 0,
        hang_at: 12,
        hanging: hanging_tx,
        release: release_rx,
    });
    let (camera, _) = CameraSlot::open(Box::new(move || {
        cam.take()
            .map(|c| Box::new(c) as Box<dyn Camera>)
            .ok_or(CameraError::Scripted(ErrorKind::Disconnected))
    }))
    .unwrap();
    let listener = std::thread::spawn(move || listen(socket, hanging_rx, release_tx));

    // WatchdogSec=0.2 s: a ping every 100 ms of loop time, every frame.
    let watchdog = Watchdog::to_socket(
        socket_path.display().to_string(),
        Some(Duration::from_millis(100)),
    )
    .unwrap();
    let log = LogWriter::open(log_config(&dir.path().join("events.jsonl")), clock.clone()).unwrap();
    let leds: Leds = SimLeds::new(Vec::new(), false, clock.clone());
    let mut runner = Runner::new(
        clock.clone(),
        pipeline,
        Some(camera),
        None,
        leds,
        log,
        Box::new(Silent),
        options(None),
    )
    .with_watchdog(watchdog);
    let stop = runner.run(StartRecord::default(), Vec::new());
    assert_eq!(stop.frames, 31);
    let got = listener.join().unwrap();

    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    let hang = got.iter().position(|m| m == "<hang>").unwrap();
    let release = got.iter().position(|m| m == "<release>").unwrap();
    let pings = |msgs: &[String]| msgs.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings(&got[..hang]) >= 10, "fed while running: {got:?}");
    assert_eq!(release, hang + 1, "nothing at all while hung: {got:?}");
    assert!(
        pings(&got[release..]) >= 15,
        "fed again once released: {got:?}"
    );
    assert_eq!(got.last().unwrap(), "STOPPING=1");
}

#[test]
fn the_binary_notifies_systemd_and_feeds_its_watchdog_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let profile = board(dir.path(), false);
    write_frames(&dir.path().join("frames"), &[true; 10]);
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let camera = format!(
        "replay:{}?fps=20&loop=true",
        dir.path().join("frames").display()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args(["run", "--board"])
        .arg(&profile)
        .args([
            "--camera", &camera, "--mic", "none", "--leds", "sim", "--quiet",
        ])
        .arg("--log")
        .arg(dir.path().join("events.jsonl"))
        .env("NOTIFY_SOCKET", &socket_path)
        // WatchdogSec=0.2 s: a ping at least every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 128];
    let mut next = || {
        let n = socket.recv(&mut buf).expect("a notification within 60 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    for _ in 0..5 {
        assert_eq!(next(), "WATCHDOG=1");
    }
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    loop {
        let m = next();
        if m == "STOPPING=1" {
            break;
        }
        assert_eq!(m, "WATCHDOG=1");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- kill -9 ----

/// Start records among the whole lines of a log's bytes.
fn whole_start_records(log: &[u8]) -> usize {
    let whole = log.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&log[..whole])
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"start\""))
        .count()
}

/// `kill -9` at random points of a `--fast` run writing its log, 20 times
/// on the same log, with a simulated power cut (the file cut at a random
/// point of its last 500 bytes) after every third: after each kill every
/// complete line is a JSON record and nothing written before is lost or
/// changed, and each run's writer cuts a torn last line before appending
/// its start record right after the last whole one.
#[test]
fn kill_9_during_logging_never_corrupts_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let profile = board(dir.path(), true);
    write_frames(&dir.path().join("frames"), &[true, true, false, true]);
    write_speech(&dir.path().join("speech.wav"), 0.1, 0.1);
    let log = dir.path().join("events.jsonl");
    let camera = format!(
        "replay:{}?fps=10&loop=true",
        dir.path().join("frames").display()
    );
    let mic = format!(
        "replay:{}?loop=true",
        dir.path().join("speech.wav").display()
    );
    let args = |extra: &[&str]| -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_emoedge"));
        c.args(["run", "--board"])
            .arg(&profile)
            .args([
                "--camera", &camera, "--mic", &mic, "--leds", "sim", "--fast", "--quiet",
            ])
            .arg("--log")
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };

    // A fixed pseudo-random sequence of kill delays (0-250 ms after the
    // run has started writing).
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut random_ms = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % 250
    };
    let mut before: Vec<u8> = Vec::new();
    let mut torn_seen = 0;
    for round in 0..20 {
        let mut child = args(&[]).spawn().unwrap();
        // Wait until this run has written something, then a random delay.
        let t0 = Instant::now();
        while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) <= before.len() as u64 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "round {round}: nothing written"
            );
            assert!(child.try_wait().unwrap().is_none(), "round {round}: exited");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(random_ms()));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let now = std::fs::read(&log).unwrap();
        // What was there before this run is intact, except the torn line
        // the previous kill may have left, which the writer cut.
        let whole_before = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        assert_eq!(
            &now[..whole_before],
            &before[..whole_before],
            "round {round}: earlier records changed"
        );
        assert!(
            now[whole_before..].starts_with(b"{\"type\":\"start\""),
            "round {round}: the run did not start right after the last whole line"
        );
        // Every complete line is a record; only the last may be torn.
        let whole = now.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < now.len() {
            torn_seen += 1;
        }
        let text = std::str::from_utf8(&now[..whole]).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("round {round}: {e}: {l}")))
            .collect();
        // This run's records follow the earlier ones, from its start record:
        // one start more than the whole lines before it held (a power cut
        // may have taken a short earlier run's start record with its tail).
        let starts_before = whole_start_records(&before);
        let starts = of_type(&lines, "start").len();
        assert_eq!(starts, starts_before + 1, "round {round}");
        before = now;
        // Every third round, a power cut as well: the unsynced tail is lost,
        // mid-line (what fsync_every / fsync_interval_ms bound).
        if round % 3 == 2 {
            let cut = before.len() - 1 - (random_ms() as usize * 7 % 500).min(before.len() - 1);
            before.truncate(cut);
            std::fs::write(&log, &before).unwrap();
            if before.last() != Some(&b'\n') {
                torn_seen += 1;
            }
        }
    }

    // A last run repairs the torn line, if any, and stops normally.
    let out = args(&["--duration", "1"]).output().unwrap();
    assert!(out.status.success());
    let records = read_log(&log);
    assert_eq!(
        of_type(&records, "start").len(),
        whole_start_records(&before) + 1
    );
    assert_eq!(of_type(&records, "stop").len(), 1);
    assert_eq!(records.last().unwrap()["type"], "stop");
    // The last run logged every decision it counted (its own count, not
    // the killed runs', whose number depends on the machine's speed).
    let last_start = records.iter().rposition(|r| r["type"] == "start").unwrap();
    let last_run = &records[last_start..];
    let decisions = of_type(last_run, "decision").len();
    assert!(decisions > 0, "the last run made no decision");
    assert_eq!(
        records.last().unwrap()["decisions"].as_u64(),
        Some(decisions as u64)
    );
    // A kill lands between two writes (one write per record), so the torn
    // lines come from the simulated power cuts.
    assert!(torn_seen >= 5, "{torn_seen} torn lines repaired");
}
