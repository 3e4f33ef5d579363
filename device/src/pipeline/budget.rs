//! The latency budget of the board profile (`[budget]`), enforced by
//! dropping work instead of queueing it:
//!
//! - **frames**: a frame that arrives more than one frame interval late,
//!   or any frame while the loop is still behind after a slow step, is
//!   skipped (counted), so the loop always works on a recent frame;
//! - **detection**: runs at `detect_hz` (boxes are reused in between);
//!   a pass over `detect_ms` halves the rate (down to
//!   [`MIN_DETECT_HZ`]), and [`RECOVER_AFTER`] passes within half the
//!   budget double it again, up to `detect_hz`;
//! - **faces**: at most as many faces are classified per frame as fit in
//!   `face_ms` at the measured cost per face (at least one; the others
//!   keep their last observation, round robin);
//! - **voice**: one window per `voice_interval_ms`; a window over
//!   `voice_ms` makes the next one wait twice as long.
//!
//! Every stage over its budget is a *miss*, counted per stage and logged
//! in the decision record of the step.
//!
//! A budget that is not *adaptive* (`emoedge run --fast`: a replay on a
//! simulated clock, where work takes no simulated time) only counts the
//! misses and never drops work, so a replay gives the same decisions on
//! any machine.

use crate::board::BudgetProfile;

/// The loop's stages, as budgeted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Getting a frame (its lateness).
    Capture,
    /// Face detection.
    Detect,
    /// Face crops and expression model.
    Face,
    /// Fusion, smoothing, LEDs, log.
    Fusion,
    /// Voice window and model.
    Voice,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 5] = [
        Stage::Capture,
        Stage::Detect,
        Stage::Face,
        Stage::Fusion,
        Stage::Voice,
    ];

    /// Lower-case name, as in the board profile and the log.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Detect => "detect",
            Stage::Face => "face",
            Stage::Fusion => "fusion",
            Stage::Voice => "voice",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Lowest detection rate the loop falls back to.
pub const MIN_DETECT_HZ: f64 = 0.5;
/// Consecutive quick detection passes before the rate is raised again.
pub const RECOVER_AFTER: u32 = 8;

/// Budget state of a running loop.
#[derive(Clone, Debug)]
pub struct Budget {
    adaptive: bool,
    limits_ms: [f64; 5],
    misses: [u64; 5],
    frame_interval_ms: f64,
    base_detect_ms: f64,
    detect_interval_ms: f64,
    last_detect_ms: Option<u64>,
    quick_detects: u32,
    face_cost_ms: f64,
    voice_interval_ms: f64,
    voice_wait_ms: f64,
    last_voice_ms: Option<u64>,
    skip_frames: u32,
    skipped: u64,
}

impl Budget {
    /// The budget of a board profile for frames every `frame_interval_ms`;
    /// `adaptive`: drop work to keep up (see the module docs).
    pub fn new(b: &BudgetProfile, frame_interval_ms: f64, adaptive: bool) -> Budget {
        let base_detect_ms = 1000.0 / f64::from(b.detect_hz).max(MIN_DETECT_HZ);
        Budget {
            adaptive,
            limits_ms: [
                f64::from(b.capture_ms),
                f64::from(b.detect_ms),
                f64::from(b.face_ms),
                f64::from(b.fusion_ms),
                f64::from(b.voice_ms),
            ],
            misses: [0; 5],
            frame_interval_ms,
            base_detect_ms,
            detect_interval_ms: base_detect_ms,
            last_detect_ms: None,
            quick_detects: 0,
            face_cost_ms: 0.0,
            voice_interval_ms: f64::from(b.voice_interval_ms),
            voice_wait_ms: f64::from(b.voice_interval_ms),
            last_voice_ms: None,
            skip_frames: 0,
            skipped: 0,
        }
    }

    /// The budget of `stage`, ms.
    pub fn limit_ms(&self, stage: Stage) -> f64 {
        self.limits_ms[stage.index()]
    }

    /// Records that `stage` took `ms`; returns whether it missed its budget.
    pub fn record(&mut self, stage: Stage, ms: f64) -> bool {
        let miss = ms > self.limits_ms[stage.index()];
        if miss {
            self.misses[stage.index()] += 1;
        }
        miss
    }

    /// Misses of one stage since the start.
    pub fn misses(&self, stage: Stage) -> u64 {
        self.misses[stage.index()]
    }

    /// Misses of every stage since the start.
    pub fn total_misses(&self) -> u64 {
        self.misses.iter().sum()
    }

    /// Current detection rate, passes per second.
    pub fn detect_hz(&self) -> f64 {
        1000.0 / self.detect_interval_ms
    }

    /// Whether a detection pass is due at `now_ms`.
    pub fn detect_due(&self, now_ms: u64) -> bool {
        match self.last_detect_ms {
            None => true,
            // Half a frame of slack so 15 Hz on a 15 fps camera is every frame.
            Some(t) => {
                (now_ms.saturating_sub(t) as f64) + self.frame_interval_ms / 2.0
                    >= self.detect_interval_ms
            }
        }
    }

    /// Records a detection pass at `now_ms` that took `ms`, adapting the
    /// rate; returns whether it missed its budget.
    pub fn detected(&mut self, now_ms: u64, ms: f64) -> bool {
        self.last_detect_ms = Some(now_ms);
        let miss = self.record(Stage::Detect, ms);
        let max_interval = 1000.0 / MIN_DETECT_HZ;
        if !self.adaptive {
            return miss;
        }
        if miss {
            self.quick_detects = 0;
            self.detect_interval_ms = (self.detect_interval_ms * 2.0).min(max_interval);
        } else if ms <= self.limit_ms(Stage::Detect) / 2.0 {
            self.quick_detects += 1;
            if self.quick_detects >= RECOVER_AFTER && self.detect_interval_ms > self.base_detect_ms
            {
                self.quick_detects = 0;
                self.detect_interval_ms = (self.detect_interval_ms / 2.0).max(self.base_detect_ms);
            }
        }
        miss
    }

    /// How many faces may be classified this frame (at least 1).
    pub fn faces_allowed(&self) -> usize {
        if !self.adaptive || self.face_cost_ms <= 0.0 {
            return usize::MAX;
        }
        ((self.limit_ms(Stage::Face) / self.face_cost_ms).floor() as usize).max(1)
    }

    /// Records that classifying `n` faces took `ms`; returns whether the
    /// face stage missed its budget.
    pub fn faces_done(&mut self, n: usize, ms: f64) -> bool {
        if n > 0 {
            let per = ms / n as f64;
            self.face_cost_ms = if self.face_cost_ms == 0.0 {
                per
            } else {
                0.8 * self.face_cost_ms + 0.2 * per
            };
        }
        self.record(Stage::Face, ms)
    }

    /// Whether a voice window may run at `now_ms`.
    pub fn voice_due(&self, now_ms: u64) -> bool {
        match self.last_voice_ms {
            None => true,
            Some(t) => now_ms.saturating_sub(t) as f64 >= self.voice_wait_ms,
        }
    }

    /// Records a voice window at `now_ms` that took `ms`; returns whether
    /// it missed its budget.
    pub fn voice_done(&mut self, now_ms: u64, ms: f64) -> bool {
        self.last_voice_ms = Some(now_ms);
        let miss = self.record(Stage::Voice, ms);
        self.voice_wait_ms = if miss && self.adaptive {
            self.voice_interval_ms * 2.0
        } else {
            self.voice_interval_ms
        };
        miss
    }

    /// Records a frame that was `late_ms` old when picked up (capture
    /// stage); returns whether it should be skipped rather than processed.
    pub fn frame_arrived(&mut self, late_ms: f64) -> bool {
        self.record(Stage::Capture, late_ms);
        if !self.adaptive {
            return false;
        }
        let skip = if self.skip_frames > 0 {
            self.skip_frames -= 1;
            true
        } else {
            late_ms > self.frame_interval_ms
        };
        if skip {
            self.skipped += 1;
        }
        skip
    }

    /// Records a processed frame whose work took `work_ms`: when it took
    /// longer than a frame interval, the frames that arrived meanwhile are
    /// skipped.
    pub fn frame_done(&mut self, work_ms: f64) {
        if self.adaptive && self.frame_interval_ms > 0.0 && work_ms > self.frame_interval_ms {
            let behind = (work_ms / self.frame_interval_ms).floor() as u32;
            self.skip_frames = self.skip_frames.max(behind.min(30));
        }
    }

    /// Milliseconds between detection passes now.
    pub fn detect_interval_ms(&self) -> f64 {
        self.detect_interval_ms
    }

    /// Frames skipped since the start.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> BudgetProfile {
        BudgetProfile {
            capture_ms: 5,
            detect_ms: 20,
            face_ms: 10,
            fusion_ms: 2,
            voice_ms: 40,
            voice_interval_ms: 500,
            detect_hz: 10.0,
        }
    }

    #[test]
    fn slow_detection_lowers_the_rate_and_quick_passes_restore_it() {
        let mut b = Budget::new(&profile(), 50.0, true);
        assert!(b.detect_due(0));
        assert!(!b.detected(0, 5.0));
        assert!(!b.detect_due(50), "every 100 ms at 10 Hz");
        assert!(b.detect_due(100));
        assert!(b.detected(100, 30.0), "over 20 ms");
        assert!((b.detect_hz() - 5.0).abs() < 1e-9);
        assert!(b.detected(300, 30.0));
        assert!((b.detect_hz() - 2.5).abs() < 1e-9);
        assert_eq!(b.misses(Stage::Detect), 2);
        let mut t = 300;
        for _ in 0..RECOVER_AFTER {
            t += 400;
            b.detected(t, 1.0);
        }
        assert!((b.detect_hz() - 5.0).abs() < 1e-9);
        for _ in 0..100 {
            t += 400;
            b.detected(t, 1.0);
        }
        assert!((b.detect_hz() - 10.0).abs() < 1e-9, "never above detect_hz");
        for _ in 0..100 {
            t += 2000;
            b.detected(t, 100.0);
        }
        assert!((b.detect_hz() - MIN_DETECT_HZ).abs() < 1e-9);
    }

    #[test]
    fn frames_are_skipped_when_late_or_behind() {
        let mut b = Budget::new(&profile(), 50.0, true);
        assert!(!b.frame_arrived(3.0));
        assert!(b.frame_arrived(60.0), "more than a frame interval late");
        assert_eq!(b.misses(Stage::Capture), 1);
        b.frame_done(120.0); // two frames' worth of work
        assert!(b.frame_arrived(0.0));
        assert!(b.frame_arrived(0.0));
        assert!(!b.frame_arrived(0.0));
        assert_eq!(b.skipped(), 3);
    }

    #[test]
    fn faces_and_voice_adapt() {
        let mut b = Budget::new(&profile(), 50.0, true);
        assert_eq!(b.faces_allowed(), usize::MAX);
        assert!(b.faces_done(4, 16.0));
        assert_eq!(b.faces_allowed(), 2, "4 ms per face, 10 ms budget");
        assert!(b.voice_due(0));
        assert!(b.voice_done(0, 50.0));
        assert!(!b.voice_due(900));
        assert!(b.voice_due(1000));
        assert!(!b.voice_done(1000, 10.0));
        assert!(b.voice_due(1500));
        assert_eq!(b.total_misses(), 2);
    }

    #[test]
    fn a_fixed_budget_counts_misses_but_drops_nothing() {
        let mut b = Budget::new(&profile(), 50.0, false);
        assert!(b.detected(0, 100.0));
        assert!((b.detect_hz() - 10.0).abs() < 1e-9);
        assert!(b.faces_done(4, 100.0));
        assert_eq!(b.faces_allowed(), usize::MAX);
        assert!(!b.frame_arrived(500.0));
        b.frame_done(500.0);
        assert!(!b.frame_arrived(0.0));
        assert!(b.voice_done(0, 100.0));
        assert!(b.voice_due(500));
        assert_eq!(b.total_misses(), 4);
        assert_eq!(b.skipped(), 0);
    }
}
