//! The loop's view of its sources: a camera slot and an audio feed that
//! survive the device disappearing, reconnecting with a clock-driven
//! backoff (no sleeps in the logic: the loop asks "is it time to retry?").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::camera::{Camera, CameraError, Frame};
use crate::clock::Clock;
use crate::kind::ErrorKind;
use crate::mic::{MicError, Microphone};
use crate::pipeline::SourceState;
use crate::ring::AudioRing;

/// First wait before reopening a lost device.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest wait between two reopening attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Exponential backoff between reconnection attempts, on loop time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    delay: Duration,
    next_at: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: BACKOFF_MIN,
            next_at: Duration::ZERO,
        }
    }
}

impl Backoff {
    /// Schedules the next attempt `delay` after `now` and doubles the
    /// delay (up to [`BACKOFF_MAX`]).
    pub fn schedule(&mut self, now: Duration) {
        self.next_at = now + self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }

    /// Back to the shortest delay (after a success).
    pub fn reset(&mut self) {
        self.delay = BACKOFF_MIN;
    }

    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: Duration) -> bool {
        now >= self.next_at
    }

    /// When the next attempt is due.
    pub fn next_at(&self) -> Duration {
        self.next_at
    }
}

/// Something that happened to a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// The device is gone; reconnecting.
    Lost(String),
    /// The device is back.
    Back(String),
    /// A replay ended.
    Ended(String),
    /// A transient error (timeout, overrun, corrupt frame); nothing lost
    /// but some data.
    Glitch(String),
}

/// Opens (or reopens) the camera.
pub type CameraOpener = Box<dyn FnMut() -> Result<Box<dyn Camera>, CameraError>>;

/// The camera, reopened with backoff when it disappears.
pub struct CameraSlot {
    opener: CameraOpener,
    camera: Option<Box<dyn Camera>>,
    state: SourceState,
    backoff: Backoff,
    describe: String,
}

impl CameraSlot {
    /// Opens the camera once. A missing device
    /// ([`ErrorKind::Disconnected`]) starts the slot as lost (retried);
    /// any other failure is returned.
    pub fn open(mut opener: CameraOpener) -> Result<(Self, Option<CameraError>), CameraError> {
        let first = opener();
        let mut slot = CameraSlot {
            opener,
            camera: None,
            state: SourceState::Lost,
            backoff: Backoff::default(),
            describe: String::new(),
        };
        match first {
            Ok(c) => {
                slot.describe = c.describe();
                slot.camera = Some(c);
                slot.state = SourceState::Ok;
                Ok((slot, None))
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => {
                slot.describe = "camera (not connected yet)".into();
                slot.backoff.schedule(Duration::ZERO);
                Ok((slot, Some(e)))
            }
            Err(e) => Err(e),
        }
    }

    /// Description of the camera.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Current state.
    pub fn state(&self) -> SourceState {
        self.state
    }

    /// Whether a camera is open (reads pace the loop).
    pub fn is_open(&self) -> bool {
        self.camera.is_some()
    }

    /// When the next reopening attempt is due (while lost).
    pub fn retry_at(&self) -> Option<Duration> {
        (self.state == SourceState::Lost).then(|| self.backoff.next_at())
    }

    /// Reads the next frame into `frame` at loop time `now`: `Ok(true)`
    /// with a frame, `Ok(false)` without (lost, ended, transient error),
    /// plus what happened.
    pub fn read(&mut self, now: Duration, frame: &mut Frame) -> (bool, Option<SourceEvent>) {
        let Some(cam) = self.camera.as_mut() else {
            if self.state == SourceState::Lost && self.backoff.due(now) {
                match (self.opener)() {
                    Ok(c) => {
                        self.describe = c.describe();
                        self.camera = Some(c);
                        self.state = SourceState::Ok;
                        self.backoff.reset();
                        return (false, Some(SourceEvent::Back(self.describe.clone())));
                    }
                    Err(e) => {
                        log::debug!("camera still unavailable: {e}");
                        self.backoff.schedule(now);
                    }
                }
            }
            return (false, None);
        };
        match cam.read_frame(frame) {
            Ok(()) => (true, None),
            Err(e) => match e.kind() {
                ErrorKind::EndOfStream => {
                    self.camera = None;
                    self.state = SourceState::Ended;
                    (false, Some(SourceEvent::Ended(e.to_string())))
                }
                k if k.is_transient() => (false, Some(SourceEvent::Glitch(e.to_string()))),
                _ => {
                    self.camera = None;
                    self.state = SourceState::Lost;
                    self.backoff.reset();
                    self.backoff.schedule(now);
                    (false, Some(SourceEvent::Lost(e.to_string())))
                }
            },
        }
    }
}

/// A source of microphone samples for the loop.
pub trait AudioFeed {
    /// Description of the microphone.
    fn describe(&self) -> String;
    /// Current state.
    fn state(&self) -> SourceState;
    /// Appends the samples available at loop time `now` to `out`; returns
    /// what happened since the last poll.
    fn poll(&mut self, now: Duration, out: &mut Vec<i16>) -> Vec<SourceEvent>;
    /// Stops any background work.
    fn stop(&mut self) {}
}

/// Opens (or reopens) the microphone.
pub type MicOpener = Box<dyn FnMut() -> Result<Box<dyn Microphone>, MicError>>;
/// Opens (or reopens) the microphone from the capture thread.
pub type SendMicOpener = Box<dyn FnMut() -> Result<Box<dyn Microphone>, MicError> + Send>;

fn classify_mic_error(e: &MicError) -> (SourceState, SourceEvent) {
    match e.kind() {
        ErrorKind::EndOfStream => (SourceState::Ended, SourceEvent::Ended(e.to_string())),
        k if k.is_transient() => (SourceState::Ok, SourceEvent::Glitch(e.to_string())),
        _ => (SourceState::Lost, SourceEvent::Lost(e.to_string())),
    }
}

/// Reads the microphone in the loop's thread, exactly the samples due at
/// the loop's time (`rate` per second since it was opened): for `--fast`
/// replays and tests, where the loop's clock is simulated.
pub struct InlineFeed {
    opener: MicOpener,
    mic: Option<Box<dyn Microphone>>,
    rate: u32,
    start: Option<Duration>,
    delivered: u64,
    state: SourceState,
    backoff: Backoff,
    describe: String,
    buf: Vec<i16>,
}

impl InlineFeed {
    /// Opens the microphone once (see [`CameraSlot::open`] for what fails).
    pub fn open(mut opener: MicOpener) -> Result<(Self, Option<MicError>), MicError> {
        let first = opener();
        let mut feed = InlineFeed {
            opener,
            mic: None,
            rate: 16_000,
            start: None,
            delivered: 0,
            state: SourceState::Lost,
            backoff: Backoff::default(),
            describe: "microphone (not connected yet)".into(),
            buf: vec![0; 4096],
        };
        match first {
            Ok(m) => {
                feed.attach(m);
                Ok((feed, None))
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => {
                feed.backoff.schedule(Duration::ZERO);
                Ok((feed, Some(e)))
            }
            Err(e) => Err(e),
        }
    }

    fn attach(&mut self, m: Box<dyn Microphone>) {
        self.describe = m.describe();
        self.rate = m.sample_rate();
        self.mic = Some(m);
        self.state = SourceState::Ok;
        self.start = None;
        self.delivered = 0;
    }
}

impl AudioFeed for InlineFeed {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn state(&self) -> SourceState {
        self.state
    }

    fn poll(&mut self, now: Duration, out: &mut Vec<i16>) -> Vec<SourceEvent> {
        let mut events = Vec::new();
        if self.mic.is_none() {
            if self.state == SourceState::Lost && self.backoff.due(now) {
                match (self.opener)() {
                    Ok(m) => {
                        self.attach(m);
                        self.backoff.reset();
                        events.push(SourceEvent::Back(self.describe.clone()));
                    }
                    Err(e) => {
                        log::debug!("microphone still unavailable: {e}");
                        self.backoff.schedule(now);
                    }
                }
            }
            if self.mic.is_none() {
                return events;
            }
        }
        let start = *self.start.get_or_insert(now);
        let due = (now.saturating_sub(start).as_secs_f64() * f64::from(self.rate)) as u64;
        while self.delivered < due {
            let Some(mic) = self.mic.as_mut() else { break };
            let n = ((due - self.delivered) as usize).min(self.buf.len());
            match mic.read(&mut self.buf[..n]) {
                Ok(0) => break,
                Ok(k) => {
                    out.extend_from_slice(&self.buf[..k]);
                    self.delivered += k as u64;
                }
                Err(e) => {
                    let (state, ev) = classify_mic_error(&e);
                    events.push(ev);
                    if state == SourceState::Ok {
                        // Transient: give up on the samples due now.
                        self.delivered = due;
                        break;
                    }
                    self.mic = None;
                    self.state = state;
                    if state == SourceState::Lost {
                        self.backoff.reset();
                        self.backoff.schedule(now);
                    }
                }
            }
        }
        events
    }
}

struct Shared {
    ring: AudioRing<i16>,
    events: Vec<SourceEvent>,
    state: SourceState,
    describe: String,
    reported_drops: u64,
}

/// Reads the microphone continuously in a thread of its own into a ring
/// buffer (2 s), which the loop drains every step: for real time, where a
/// blocking camera read must not starve the microphone. The thread
/// reconnects on its own after a disconnection.
pub struct ThreadedFeed {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ThreadedFeed {
    /// Starts the capture thread and waits for its first open attempt:
    /// errors other than a missing device are returned.
    pub fn start<C: Clock + Send + 'static>(
        mut opener: SendMicOpener,
        clock: C,
        period: usize,
    ) -> Result<(Self, Option<MicError>), MicError> {
        let shared = Arc::new(Mutex::new(Shared {
            ring: AudioRing::new(32_000),
            events: Vec::new(),
            state: SourceState::Lost,
            describe: "microphone (not connected yet)".into(),
            reported_drops: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<Result<(), MicError>>(1);
        let thread_shared = Arc::clone(&shared);
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("emoedge-mic".into())
            .spawn(move || {
                let mut mic: Option<Box<dyn Microphone>> = None;
                let mut backoff = Backoff::default();
                let lock = || thread_shared.lock().unwrap_or_else(|p| p.into_inner());
                match opener() {
                    Ok(m) => {
                        let mut s = lock();
                        s.describe = m.describe();
                        s.ring = AudioRing::new(m.sample_rate().max(8000) as usize * 2);
                        s.state = SourceState::Ok;
                        drop(s);
                        mic = Some(m);
                        let _ = tx.send(Ok(()));
                    }
                    Err(e) => {
                        let fatal = e.kind() != ErrorKind::Disconnected;
                        let _ = tx.send(Err(e));
                        if fatal {
                            return;
                        }
                        backoff.schedule(clock.now());
                    }
                }
                let mut buf = vec![0i16; period.max(1)];
                while !thread_stop.load(Ordering::Relaxed) {
                    let Some(m) = mic.as_mut() else {
                        let now = clock.now();
                        if backoff.due(now) {
                            match opener() {
                                Ok(m) => {
                                    let mut s = lock();
                                    let d = m.describe();
                                    s.describe.clone_from(&d);
                                    s.state = SourceState::Ok;
                                    s.events.push(SourceEvent::Back(d));
                                    drop(s);
                                    backoff.reset();
                                    mic = Some(m);
                                }
                                Err(e) => {
                                    log::debug!("microphone still unavailable: {e}");
                                    backoff.schedule(now);
                                }
                            }
                        } else {
                            // Wait for the next attempt in short steps so a stop is seen.
                            let wait = backoff.next_at().saturating_sub(now);
                            clock.sleep(wait.min(Duration::from_millis(100)));
                        }
                        continue;
                    };
                    match m.read(&mut buf) {
                        Ok(n) => {
                            lock().ring.push(&buf[..n]);
                        }
                        Err(e) => {
                            let (state, ev) = classify_mic_error(&e);
                            let mut s = lock();
                            s.events.push(ev);
                            if state != SourceState::Ok {
                                s.state = state;
                                drop(s);
                                mic = None;
                                if state == SourceState::Ended {
                                    return;
                                }
                                backoff.reset();
                                backoff.schedule(clock.now());
                            }
                        }
                    }
                }
            })
            .map_err(|e| MicError::Open {
                device: "microphone".into(),
                reason: format!("cannot start the capture thread: {e}"),
                fix: "the system is out of threads or memory",
                kind: ErrorKind::Other,
            })?;
        let first = rx.recv().unwrap_or_else(|_| {
            Err(MicError::Open {
                device: "microphone".into(),
                reason: "the capture thread stopped".into(),
                fix: "see the log",
                kind: ErrorKind::Other,
            })
        });
        let feed = ThreadedFeed {
            shared,
            stop,
            handle: Some(handle),
        };
        match first {
            Ok(()) => Ok((feed, None)),
            Err(e) if e.kind() == ErrorKind::Disconnected => Ok((feed, Some(e))),
            Err(e) => {
                let mut feed = feed;
                feed.stop();
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AudioFeed for ThreadedFeed {
    fn describe(&self) -> String {
        self.lock().describe.clone()
    }

    fn state(&self) -> SourceState {
        self.lock().state
    }

    fn poll(&mut self, _now: Duration, out: &mut Vec<i16>) -> Vec<SourceEvent> {
        let mut s = self.lock();
        let n = s.ring.len();
        let start = out.len();
        out.resize(start + n, 0);
        s.ring.pop(&mut out[start..]);
        let mut events = std::mem::take(&mut s.events);
        let dropped = s.ring.dropped();
        if dropped > s.reported_drops {
            events.push(SourceEvent::Glitch(format!(
                "{} samples dropped: the loop fell behind the microphone",
                dropped - s.reported_drops
            )));
            s.reported_drops = dropped;
        }
        events
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ThreadedFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::mock::MockCamera;
    use crate::mic::mock::MockMicrophone;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let mut b = Backoff::default();
        b.schedule(Duration::ZERO);
        assert_eq!(b.next_at(), BACKOFF_MIN);
        assert!(!b.due(Duration::from_millis(499)));
        for _ in 0..10 {
            b.schedule(Duration::ZERO);
        }
        assert_eq!(b.next_at(), BACKOFF_MAX);
        b.reset();
        b.schedule(Duration::from_secs(1));
        assert_eq!(b.next_at(), Duration::from_millis(1500));
    }

    #[test]
    fn camera_slot_reconnects_after_a_disconnection() {
        let mut cams = vec![
            Ok(MockCamera::new([Ok(Frame::filled(2, 2, 5))])),
            Err(ErrorKind::Disconnected),
        ]
        .into_iter();
        let opener: CameraOpener = Box::new(move || match cams.next() {
            Some(Ok(c)) => Ok(Box::new(c) as Box<dyn Camera>),
            Some(Err(k)) => Err(CameraError::Scripted(k)),
            None => Ok(Box::new(MockCamera::new([Ok(Frame::filled(2, 2, 9))]))),
        });
        let (mut slot, err) = CameraSlot::open(opener).unwrap();
        assert!(err.is_none());
        let mut f = Frame::default();
        assert_eq!(slot.read(Duration::ZERO, &mut f), (true, None));
        // The first mock camera's script is over: end of stream.
        let (got, ev) = slot.read(Duration::ZERO, &mut f);
        assert!(!got && matches!(ev, Some(SourceEvent::Ended(_))));
        assert_eq!(slot.state(), SourceState::Ended);
    }

    #[test]
    fn inline_feed_delivers_exactly_what_is_due_and_reports_loss() {
        let opener: MicOpener = Box::new(|| {
            Ok(Box::new(MockMicrophone::new(
                1000,
                [Ok(vec![1; 150]), Err(ErrorKind::Disconnected)],
            )))
        });
        let (mut feed, _) = InlineFeed::open(opener).unwrap();
        let mut out = Vec::new();
        assert!(feed.poll(Duration::ZERO, &mut out).is_empty());
        feed.poll(Duration::from_millis(100), &mut out);
        assert_eq!(out.len(), 100);
        let ev = feed.poll(Duration::from_millis(200), &mut out);
        assert_eq!(out.len(), 150);
        assert!(matches!(ev[..], [SourceEvent::Lost(_)]), "{ev:?}");
        assert_eq!(feed.state(), SourceState::Lost);
        // Reopened after the backoff (a fresh mock microphone).
        assert!(feed.poll(Duration::from_millis(300), &mut out).is_empty());
        let ev = feed.poll(Duration::from_millis(700), &mut out);
        assert!(matches!(ev[..], [SourceEvent::Back(_)]), "{ev:?}");
        assert_eq!(feed.state(), SourceState::Ok);
    }
}
