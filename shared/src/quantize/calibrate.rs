//! Activation statistics gathered by running the reference interpreter on
//! calibration samples.
//!
//! For every value of the graph the calibration keeps its exact minimum and
//! maximum and two histograms (of positive values and of the magnitudes of
//! negative values) of [`HISTOGRAM_BINS`] bins each. A histogram covers
//! `[0, bound)` with a power-of-two `bound` that doubles (merging bins
//! pairwise) whenever a larger value arrives, so it needs no first pass to
//! find the range and stays accurate to `bound / HISTOGRAM_BINS`.
//!
//! [`Calibration::range`] turns the statistics into a clipping range:
//! [`Clipping::MinMax`] keeps everything seen, [`Clipping::Percentile`]
//! drops the most extreme `100 - p` percent of the values at each end
//! (never widening past the observed minimum and maximum).

use alloc::vec;
use alloc::vec::Vec;

use super::QuantizeError;
use crate::format::{ModelFile, ValueId};
use crate::reference::run_reference;

/// Number of bins per histogram.
pub const HISTOGRAM_BINS: usize = 2048;

/// How a value's quantisation range is chosen from its statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clipping {
    /// The full observed range.
    MinMax,
    /// The `[100 - p, p]` percentile range, e.g. `Percentile(99.99)`.
    Percentile(f32),
}

impl Default for Clipping {
    /// 99.99th percentile: ignores a handful of outliers per value without
    /// clipping the bulk of the distribution.
    fn default() -> Self {
        Clipping::Percentile(99.99)
    }
}

/// A histogram of non-negative values on `[0, bound)`.
#[derive(Clone, Debug, PartialEq)]
struct Histogram {
    /// Upper edge of the last bin; 0 until the first positive value.
    bound: f32,
    bins: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            bound: 0.0,
            bins: vec![0; HISTOGRAM_BINS],
            total: 0,
        }
    }

    fn grow_to(&mut self, v: f32) {
        if self.bound == 0.0 {
            let mut b = f32::MIN_POSITIVE;
            while b <= v {
                b *= 2.0;
            }
            self.bound = b;
            return;
        }
        while self.bound <= v && self.bound < f32::MAX / 2.0 {
            self.double();
        }
    }

    /// Doubles the bound, merging bins pairwise.
    fn double(&mut self) {
        for i in 0..HISTOGRAM_BINS / 2 {
            self.bins[i] = self.bins[2 * i] + self.bins[2 * i + 1];
        }
        self.bins[HISTOGRAM_BINS / 2..]
            .iter_mut()
            .for_each(|b| *b = 0);
        self.bound *= 2.0;
    }

    /// Adds the counts of `other`. Bounds are powers of two, so bringing
    /// both to the larger one is exact: the result is the histogram of all
    /// values of both.
    fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 {
            *self = other.clone();
            return;
        }
        let mut other = other.clone();
        while other.bound < self.bound {
            other.double();
        }
        while self.bound < other.bound {
            self.double();
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Adds a positive finite value.
    fn add(&mut self, v: f32) {
        if v >= self.bound {
            self.grow_to(v);
        }
        let bin = ((v / self.bound) * HISTOGRAM_BINS as f32) as usize;
        self.bins[bin.min(HISTOGRAM_BINS - 1)] += 1;
        self.total += 1;
    }

    /// Upper edge of the lowest bin such that at most `tail` values lie in
    /// the bins above it.
    fn upper_quantile(&self, tail: u64) -> f32 {
        let mut above = 0u64;
        for (i, &c) in self.bins.iter().enumerate().rev() {
            if above + c > tail {
                return self.bound * (i + 1) as f32 / HISTOGRAM_BINS as f32;
            }
            above += c;
        }
        0.0
    }
}

/// Statistics of one value over all calibration samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueStats {
    /// Smallest and largest element seen.
    pub min: f32,
    pub max: f32,
    /// Number of elements seen (all samples together).
    pub count: u64,
    zeros: u64,
    positive: Histogram,
    negative: Histogram,
}

impl ValueStats {
    fn new() -> ValueStats {
        ValueStats {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            zeros: 0,
            positive: Histogram::new(),
            negative: Histogram::new(),
        }
    }

    fn add(&mut self, xs: &[f32]) {
        for &x in xs {
            if !x.is_finite() {
                continue;
            }
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            self.count += 1;
            if x > 0.0 {
                self.positive.add(x);
            } else if x < 0.0 {
                self.negative.add(-x);
            } else {
                self.zeros += 1;
            }
        }
    }

    /// Adds the statistics of `other` (the same value seen on other samples).
    fn merge(&mut self, other: &ValueStats) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.zeros += other.zeros;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    /// The clipped range `(lo, hi)`; `None` when nothing was seen.
    pub fn range(&self, clipping: Clipping) -> Option<(f32, f32)> {
        if self.count == 0 {
            return None;
        }
        let p = match clipping {
            Clipping::MinMax => return Some((self.min, self.max)),
            Clipping::Percentile(p) => p,
        };
        // Values allowed beyond the clipped range at each end (`as` saturates at 0).
        let tail = libm::floor(self.count as f64 * (1.0 - p as f64 / 100.0)) as u64;
        let hi = if self.max > 0.0 {
            self.positive.upper_quantile(tail).min(self.max)
        } else {
            self.max
        };
        let lo = if self.min < 0.0 {
            (-self.negative.upper_quantile(tail)).max(self.min)
        } else {
            self.min
        };
        Some((lo, hi))
    }
}

/// Activation statistics of every value of a model, see [`calibrate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Number of samples run.
    pub samples: usize,
    /// One entry per value (index = [`ValueId`]).
    pub values: Vec<ValueStats>,
}

impl Calibration {
    /// Statistics of `model` before any sample: the starting point of
    /// [`calibrate`] and the identity of [`Calibration::merge`].
    pub fn empty(model: &ModelFile) -> Calibration {
        Calibration {
            samples: 0,
            values: vec![ValueStats::new(); model.graph.nodes.len() + 1],
        }
    }

    /// The clipped range of value `v`; `None` for an unknown value or one
    /// never seen.
    pub fn range(&self, v: ValueId, clipping: Clipping) -> Option<(f32, f32)> {
        self.values.get(v as usize)?.range(clipping)
    }

    /// Adds the statistics of `other`, a calibration of the same model on
    /// other samples: the result equals one calibration over the samples of
    /// both, so calibration can run in parallel on chunks of the samples.
    /// A calibration of another model is refused with
    /// [`QuantizeError::CalibrationMismatch`].
    pub fn merge(&mut self, other: &Calibration) -> Result<(), QuantizeError> {
        if other.values.len() != self.values.len() {
            return Err(QuantizeError::CalibrationMismatch {
                expected: self.values.len(),
                found: other.values.len(),
            });
        }
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            a.merge(b);
        }
        self.samples += other.samples;
        Ok(())
    }
}

/// Runs the reference interpreter on every sample (each one full model
/// input) and records the range and histogram of every value.
///
/// Layers that are already int8 are simulated, so an int8 model can be
/// calibrated again. A sample of the wrong size or with NaN is refused
/// with [`QuantizeError::Sample`].
pub fn calibrate<'a, I>(model: &ModelFile, samples: I) -> Result<Calibration, QuantizeError>
where
    I: IntoIterator<Item = &'a [f32]>,
{
    let mut calib = Calibration::empty(model);
    for (index, sample) in samples.into_iter().enumerate() {
        let values =
            run_reference(model, sample).map_err(|error| QuantizeError::Sample { index, error })?;
        for (stats, v) in calib.values.iter_mut().zip(&values) {
            stats.add(v);
        }
        calib.samples += 1;
    }
    Ok(calib)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(xs: &[f32]) -> ValueStats {
        let mut s = ValueStats::new();
        s.add(xs);
        s
    }

    #[test]
    fn min_max_is_exact() {
        let s = stats(&[0.5, -3.0, 2.0, 0.0, f32::NAN]);
        assert_eq!(s.range(Clipping::MinMax), Some((-3.0, 2.0)));
        assert_eq!(s.count, 4);
        assert_eq!(ValueStats::new().range(Clipping::MinMax), None);
    }

    #[test]
    fn full_percentile_equals_min_max() {
        let s = stats(&[0.1, 7.5, -0.2, 3.0]);
        assert_eq!(s.range(Clipping::Percentile(100.0)), Some((-0.2, 7.5)));
    }

    #[test]
    fn percentile_clips_rare_outliers() {
        // 100 000 values uniform in [0, 1) plus 5 outliers at 1000 and -1000.
        let mut xs: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
        xs.extend_from_slice(&[1000.0; 5]);
        xs.extend_from_slice(&[-1000.0; 5]);
        let s = stats(&xs);
        let (lo, hi) = s.range(Clipping::Percentile(99.99)).unwrap();
        // The tail holds 10 values per side: the 5 outliers and the top
        // of the uniform part; the histogram bound grew to 1024, bins are 0.5 wide.
        assert_eq!(hi, 1.0);
        // The negative side only has the 5 outliers: all fit in the tail.
        assert_eq!(lo, 0.0);
        assert_eq!(s.range(Clipping::MinMax), Some((-1000.0, 1000.0)));
    }

    #[test]
    fn histogram_growth_preserves_counts() {
        let mut h = Histogram::new();
        for i in 1..=1000 {
            h.add(i as f32 * 0.01);
        }
        h.add(500.0);
        assert_eq!(h.bins.iter().sum::<u64>(), 1001);
        assert!(h.bound > 500.0);
        let step = h.bound / HISTOGRAM_BINS as f32;
        let top = h.upper_quantile(0);
        assert!(top > 500.0 && top <= 500.0 + step, "{top}");
        assert!(h.upper_quantile(1) <= 10.0 + step);
    }
}
