//! The real-time loop around the [pipeline](crate::pipeline): reads the
//! camera and the microphone, runs a pipeline step per frame (or per tick
//! without a camera), drives the LEDs, writes the offline log, feeds the
//! systemd watchdog and stops on SIGTERM/SIGINT, at the end of replayed
//! input or after `--duration`.
//!
//! **Time.** Everything reads the [`Clock`] passed in. With
//! [`Pacing::Realtime`] that is the system clock: the camera paces the
//! loop, the microphone is read by a thread of its own
//! ([`sources::ThreadedFeed`]). With [`Pacing::Fast`] it is a simulated
//! clock that jumps to each replayed frame's timestamp (or by a tick
//! without a camera), and the microphone is read in the loop, exactly the
//! samples due at the simulated time ([`sources::InlineFeed`]): a replay
//! runs as fast as the machine allows with the same decisions as in real
//! time. Stage latencies are always measured on a real clock (`timer`).
//!
//! **Lost sources.** A camera that disconnects leaves the loop deciding
//! from the voice while it is reopened with backoff; a lost microphone
//! leaves the faces alone. Both are logged (`source` records) and shown
//! by the LEDs' fault colour when nothing else is decided.

pub mod report;
pub mod setup;
pub mod signal;
pub mod sources;
pub mod watchdog;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::camera::Frame;
use crate::clock::Clock;
use crate::leds::{LedState, Leds};
use crate::log_writer::{LogFs, LogWriter, StdFs};
use crate::pipeline::budget::Stage;
use crate::pipeline::record::{Record, SourceRecord, StartRecord, StopRecord};
use crate::pipeline::{Pipeline, SourceState, Sources, Step};

use report::Reporter;
use sources::{AudioFeed, CameraSlot, SourceEvent};
use watchdog::Watchdog;

/// How the loop is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// The system clock: live devices, or replays at their own rate.
    Realtime,
    /// A simulated clock: replays as fast as possible.
    Fast,
}

impl Pacing {
    /// `realtime` or `fast`.
    pub const fn name(self) -> &'static str {
        match self {
            Pacing::Realtime => "realtime",
            Pacing::Fast => "fast",
        }
    }
}

/// Loop options.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Pacing.
    pub pacing: Pacing,
    /// Stop after this much loop time.
    pub duration: Option<Duration>,
    /// Step interval without camera frames.
    pub tick: Duration,
    /// Milliseconds between camera frames (for a camera whose timestamps
    /// do not advance).
    pub frame_interval: Duration,
    /// Set to stop the loop (see [`signal::STOP`]).
    pub stop: &'static AtomicBool,
}

/// Minimum time between two logged glitches of one source.
const GLITCH_LOG_MS: u64 = 10_000;

/// The loop.
pub struct Runner<C: Clock, T: Clock, L: Leds, F: LogFs = StdFs> {
    clock: C,
    pipeline: Pipeline<T>,
    camera: Option<CameraSlot>,
    mic: Option<Box<dyn AudioFeed>>,
    leds: L,
    log: LogWriter<C, F>,
    reporter: Box<dyn Reporter>,
    watchdog: Watchdog,
    opts: RunOptions,
    glitch_ms: [Option<u64>; 2],
    glitches: [u64; 2],
    led_failed: bool,
}

impl<C: Clock, T: Clock, L: Leds, F: LogFs> Runner<C, T, L, F> {
    /// A loop over the given parts (`None`: no camera / no microphone).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: C,
        pipeline: Pipeline<T>,
        camera: Option<CameraSlot>,
        mic: Option<Box<dyn AudioFeed>>,
        leds: L,
        log: LogWriter<C, F>,
        reporter: Box<dyn Reporter>,
        opts: RunOptions,
    ) -> Self {
        Runner {
            clock,
            pipeline,
            camera,
            mic,
            leds,
            log,
            reporter,
            watchdog: Watchdog::default(),
            opts,
            glitch_ms: [None; 2],
            glitches: [0; 2],
            led_failed: false,
        }
    }

    /// Notifies systemd through `watchdog` (ready, pings, stopping).
    pub fn with_watchdog(mut self, watchdog: Watchdog) -> Self {
        self.watchdog = watchdog;
        self
    }

    /// The LEDs (e.g. simulated ones, to inspect their transitions).
    pub fn leds(&self) -> &L {
        &self.leds
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline<T> {
        &self.pipeline
    }

    /// The log writer.
    pub fn log(&self) -> &LogWriter<C, F> {
        &self.log
    }

    fn emit(&mut self, r: Record) {
        self.reporter.record(&r);
        self.log.write(&r);
    }

    fn show(&mut self, state: LedState) {
        if let Err(e) = self.leds.show(state) {
            if !self.led_failed {
                self.led_failed = true;
                log::error!("LEDs: {e}; the loop goes on without them");
            }
        } else {
            self.led_failed = false;
        }
    }

    fn output(&mut self, step: Step) {
        for e in &step.events {
            self.reporter.record(e);
            self.log.write(e);
        }
        self.reporter.step(&step);
        if step.log {
            let led = step.led;
            self.log.write(&Record::Decision(step.record));
            self.show(led);
        } else {
            self.show(step.led);
        }
    }

    fn source_event(&mut self, t_ms: u64, which: usize, ev: SourceEvent) {
        let source = if which == 0 { "camera" } else { "microphone" };
        let (state, detail) = match ev {
            SourceEvent::Lost(d) => ("lost", d),
            SourceEvent::Back(d) => ("back", d),
            SourceEvent::Ended(d) => ("ended", d),
            SourceEvent::Glitch(d) => {
                self.glitches[which] += 1;
                let recent =
                    self.glitch_ms[which].is_some_and(|t| t_ms.saturating_sub(t) < GLITCH_LOG_MS);
                if recent {
                    log::debug!("{source}: {d}");
                    return;
                }
                self.glitch_ms[which] = Some(t_ms);
                ("glitch", d)
            }
        };
        match state {
            "lost" => log::warn!("{source} lost: {detail}; reconnecting"),
            "back" => log::info!("{source} back: {detail}"),
            _ => log::info!("{source} {state}: {detail}"),
        }
        if which == 1 && matches!(state, "lost" | "back") {
            self.pipeline.reset_audio();
        }
        self.emit(Record::Source(SourceRecord {
            t_ms,
            source: source.into(),
            state: state.into(),
            detail,
        }));
    }

    fn states(&self) -> Sources {
        Sources {
            camera: self
                .camera
                .as_ref()
                .map(|c| c.state())
                .unwrap_or(SourceState::None),
            mic: self
                .mic
                .as_ref()
                .map(|m| m.state())
                .unwrap_or(SourceState::None),
        }
    }

    /// Runs until the input ends, the duration is over or a stop is
    /// requested; writes `start` (from `start`, times filled in), every
    /// decision and event, and `stop`; returns the `stop` record.
    pub fn run(&mut self, mut start: StartRecord, warnings: Vec<String>) -> StopRecord {
        let origin = self.clock.now();
        let since = |c: &C| c.now().saturating_sub(origin);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        start.t_ms = 0;
        self.emit(Record::Start(start));
        for w in warnings {
            self.emit(Record::Warning(crate::pipeline::record::WarningRecord {
                t_ms: 0,
                message: w,
            }));
        }
        self.show(LedState::Idle);
        self.watchdog.ready();

        let mut frame = Frame::default();
        let mut samples: Vec<i16> = Vec::with_capacity(16_000);
        let mut next_tick = Duration::ZERO;
        let mut last_frame_ts: Option<u64> = None;
        let reason;
        loop {
            if self.opts.stop.load(Ordering::SeqCst) {
                reason = "signal";
                break;
            }
            let now = since(&self.clock);
            if self.opts.duration.is_some_and(|d| now >= d) {
                reason = "duration";
                break;
            }
            self.watchdog.ping(now);

            // Camera.
            let mut got = false;
            if let Some(cam) = self.camera.as_mut() {
                let (g, ev) = cam.read(now, &mut frame);
                got = g;
                if let Some(ev) = ev {
                    let t = ms(since(&self.clock));
                    self.source_event(t, 0, ev);
                }
            }
            if got && self.opts.pacing == Pacing::Fast {
                // The simulated clock follows the frames' timestamps.
                match last_frame_ts {
                    Some(prev) if frame.timestamp_ms <= prev => {
                        self.clock.sleep(self.opts.frame_interval)
                    }
                    _ => self
                        .clock
                        .sleep_until(Duration::from_millis(frame.timestamp_ms)),
                }
            }
            if got {
                last_frame_ts = Some(frame.timestamp_ms);
            }
            let now = since(&self.clock);
            if self.opts.duration.is_some_and(|d| now > d) {
                reason = "duration";
                break;
            }
            let now_ms = ms(now);

            // Microphone.
            if let Some(mic) = self.mic.as_mut() {
                samples.clear();
                let events = mic.poll(now, &mut samples);
                if !samples.is_empty() {
                    self.pipeline.push_audio(&samples);
                }
                for ev in events {
                    self.source_event(now_ms, 1, ev);
                }
            }

            // One step.
            let sources = self.states();
            if got {
                let late = self.clock.now_ms().saturating_sub(frame.timestamp_ms) as f64;
                if !self.pipeline.frame_arrived(late) {
                    let step = self.pipeline.on_frame(&frame, now_ms, late, sources);
                    self.output(step);
                }
                next_tick = now + self.opts.tick;
            } else if now >= next_tick {
                let step = self.pipeline.on_tick(now_ms, sources);
                self.output(step);
                next_tick = now + self.opts.tick;
            }

            let done = |s: SourceState| matches!(s, SourceState::Ended | SourceState::None);
            if done(sources.camera) && done(sources.mic) {
                reason = "end of input";
                break;
            }
            // Without an open camera nothing else paces the loop.
            if !self.camera.as_ref().is_some_and(|c| c.is_open()) {
                let mut wake = origin + next_tick;
                if let Some(at) = self.camera.as_ref().and_then(|c| c.retry_at()) {
                    wake = wake.min(origin + at.max(now));
                }
                self.clock.sleep_until(wake);
            }
        }

        let now_ms = ms(since(&self.clock));
        for r in self.pipeline.close(now_ms) {
            self.emit(r);
        }
        if let Some(m) = self.mic.as_mut() {
            m.stop();
        }
        let b = self.pipeline.budget();
        let c = self.pipeline.counters();
        let misses: BTreeMap<String, u64> = Stage::ALL
            .iter()
            .map(|s| (s.name().to_string(), b.misses(*s)))
            .collect();
        let stop = StopRecord {
            t_ms: now_ms,
            reason: reason.into(),
            frames: c.frames,
            skipped_frames: b.skipped(),
            decisions: c.decisions,
            voice_windows: c.voice_windows,
            misses,
            visits: c.visits,
            log_dropped: self.log.stats().dropped,
        };
        self.emit(Record::Stop(stop.clone()));
        if let Err(e) = self.log.sync() {
            log::warn!("event log: final fsync failed: {e}");
        }
        self.show(LedState::Off);
        self.watchdog.stopping();
        stop
    }
}
