//! Input conditioning of the log-mel pipeline: a streaming one-pole
//! DC-blocking high-pass followed by pre-emphasis.
//!
//! The DC blocker is `y[n] = x[n] - x[n-1] + r * y[n-1]` with
//! `r = exp(-2π · DC_CUTOFF_HZ / sample_rate)` (0.995 at 16 kHz, a time
//! constant of 200 samples = 12.5 ms). Its state is *primed* with the first
//! sample it sees (`x[-1] = x[0]`, `y[-1] = 0`), so a constant offset on
//! the input never reaches the output: the output depends only on sample
//! differences, and the features of `x` and `x + c` are identical up to
//! rounding from the very first frame (SAVEE recordings carry an offset of
//! about +1300/32768).
//!
//! Pre-emphasis is `z[n] = y[n] - a * y[n-1]` with `a` =
//! [`LogMelConfig::pre_emphasis`](super::LogMelConfig::pre_emphasis)
//! (`a = 0` disables it) and `y[-1] = 0`.

/// Corner frequency of the DC blocker, Hz.
pub const DC_CUTOFF_HZ: f32 = 12.7;

/// Pole radius `r` of the DC blocker for a sample rate:
/// `exp(-2π · DC_CUTOFF_HZ / sample_rate)` (0.995 at 16 kHz).
pub fn dc_blocker_pole(sample_rate: u32) -> f32 {
    let sr = if sample_rate == 0 {
        1.0
    } else {
        sample_rate as f32
    };
    libm::expf(-2.0 * core::f32::consts::PI * DC_CUTOFF_HZ / sr)
}

/// Streaming one-pole DC-blocking high-pass filter.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DcBlocker {
    r: f32,
    x_prev: f32,
    y_prev: f32,
    primed: bool,
}

impl DcBlocker {
    /// A DC blocker with pole radius `r` (in `[0, 1)`, e.g.
    /// [`dc_blocker_pole`]).
    pub fn new(r: f32) -> Self {
        DcBlocker {
            r,
            x_prev: 0.0,
            y_prev: 0.0,
            primed: false,
        }
    }

    /// Filters one sample.
    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        if !self.primed {
            self.x_prev = x;
            self.primed = true;
        }
        let y = x - self.x_prev + self.r * self.y_prev;
        self.x_prev = x;
        self.y_prev = y;
        y
    }

    /// Forgets the history; the next sample primes the filter again.
    pub fn reset(&mut self) {
        self.x_prev = 0.0;
        self.y_prev = 0.0;
        self.primed = false;
    }
}

/// Streaming pre-emphasis `z[n] = y[n] - a * y[n-1]`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PreEmphasis {
    a: f32,
    prev: f32,
}

impl PreEmphasis {
    /// Pre-emphasis with coefficient `a` (0 passes the signal through).
    pub fn new(a: f32) -> Self {
        PreEmphasis { a, prev: 0.0 }
    }

    /// Filters one sample.
    #[inline]
    pub fn process(&mut self, y: f32) -> f32 {
        let z = y - self.a * self.prev;
        self.prev = y;
        z
    }

    /// Forgets the previous sample.
    pub fn reset(&mut self) {
        self.prev = 0.0;
    }
}

/// The complete input conditioning of the log-mel pipeline: DC blocker then
/// pre-emphasis.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InputFilter {
    dc: DcBlocker,
    pre: PreEmphasis,
}

impl InputFilter {
    /// The conditioning for a sample rate and pre-emphasis coefficient.
    pub fn new(sample_rate: u32, pre_emphasis: f32) -> Self {
        InputFilter {
            dc: DcBlocker::new(dc_blocker_pole(sample_rate)),
            pre: PreEmphasis::new(pre_emphasis),
        }
    }

    /// Filters one sample.
    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        self.pre.process(self.dc.process(x))
    }

    /// Filters `samples` in place.
    pub fn process_in_place(&mut self, samples: &mut [f32]) {
        for s in samples {
            *s = self.process(*s);
        }
    }

    /// Forgets the history of both filters.
    pub fn reset(&mut self) {
        self.dc.reset();
        self.pre.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pole_is_0995_at_16k() {
        let r = dc_blocker_pole(16_000);
        assert!((r - 0.995).abs() < 2e-4, "r = {r}");
    }

    #[test]
    fn constant_input_gives_zero_output() {
        let mut f = InputFilter::new(16_000, 0.97);
        for _ in 0..100 {
            assert_eq!(f.process(0.04), 0.0);
        }
    }

    #[test]
    fn offset_added_after_start_decays() {
        // A step after priming passes once, then decays with r^n.
        let mut dc = DcBlocker::new(dc_blocker_pole(16_000));
        dc.process(0.0);
        let mut last = 0.0;
        for _ in 0..1600 {
            last = dc.process(0.04);
        }
        assert!(last.abs() < 0.04 * 1e-3, "residual {last}");
    }

    #[test]
    fn passes_speech_frequencies() {
        // A 1 kHz sine keeps its amplitude through the DC blocker.
        let mut dc = DcBlocker::new(dc_blocker_pole(16_000));
        let mut peak: f32 = 0.0;
        for n in 0..16_000 {
            let x = libm::sinf(2.0 * core::f32::consts::PI * 1000.0 * n as f32 / 16_000.0);
            let y = dc.process(x);
            if n > 8000 {
                peak = peak.max(y.abs());
            }
        }
        assert!((peak - 1.0).abs() < 0.01, "peak {peak}");
    }

    #[test]
    fn pre_emphasis_matches_formula() {
        let mut p = PreEmphasis::new(0.97);
        assert_eq!(p.process(1.0), 1.0);
        assert!((p.process(0.5) - (0.5 - 0.97)).abs() < 1e-7);
        p.reset();
        assert_eq!(p.process(2.0), 2.0);
    }
}
