//! Whole-signal mono resampling with rubato's synchronous FFT resampler.

use std::vec::Vec;

use rubato::{FftFixedIn, Resampler};

use super::audio::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Input frames handed to rubato per call.
const CHUNK: usize = 1024;

/// Why a signal could not be resampled.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// A rate is outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    #[error(
        "cannot resample from {from} Hz to {to} Hz: rates must lie in \
         {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz; check the file's header or the requested rate"
    )]
    BadRate {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
    },
    /// rubato refused the conversion (should not happen for valid rates).
    #[error(
        "resampler failed converting {from} Hz to {to} Hz: {reason}; please report this as a bug"
    )]
    Resampler {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's message.
        reason: String,
    },
}

/// Resamples a mono signal from `from` Hz to `to` Hz.
///
/// Uses rubato's synchronous FFT resampler (band-limited, anti-aliased) and
/// compensates its delay, so the output is time-aligned with the input and
/// holds `round(len * to / from)` samples. Equal rates return a copy.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let valid = MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE;
    if !valid.contains(&from) || !valid.contains(&to) {
        return Err(ResampleError::BadRate { from, to });
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let fail = |e: &dyn std::fmt::Display| ResampleError::Resampler {
        from,
        to,
        reason: e.to_string(),
    };
    let expected =
        ((samples.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize;
    let mut rs =
        FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1).map_err(|e| fail(&e))?;
    let delay = rs.output_delay();
    let mut out = Vec::with_capacity(expected + delay + rs.output_frames_max());
    let mut buf = rs.output_buffer_allocate(true);

    let mut pos = 0;
    while pos < samples.len() {
        let need = rs.input_frames_next();
        let (used, produced) = if samples.len() - pos >= need {
            rs.process_into_buffer(&[&samples[pos..pos + need]], &mut buf, None)
                .map_err(|e| fail(&e))?
        } else {
            let rest = &samples[pos..];
            let (_, produced) = rs
                .process_partial_into_buffer(Some(&[rest]), &mut buf, None)
                .map_err(|e| fail(&e))?;
            (rest.len(), produced)
        };
        out.extend_from_slice(&buf[0][..produced]);
        pos += used;
    }
    // Flush the resampler's delay line with silence.
    while out.len() < expected + delay {
        let (_, produced) = rs
            .process_partial_into_buffer(None::<&[&[f32]]>, &mut buf, None)
            .map_err(|e| fail(&e))?;
        if produced == 0 {
            break;
        }
        out.extend_from_slice(&buf[0][..produced]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * core::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn length_and_alignment_are_kept() {
        for &(from, to) in &[
            (44_100, 16_000),
            (48_000, 16_000),
            (8_000, 16_000),
            (22_050, 16_000),
        ] {
            let x = tone(300.0, from, from as usize / 2);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(y.len(), to as usize / 2, "{from} -> {to}");
            // Time alignment: compare with the ideal tone at the output rate
            // away from the edges.
            let ideal = tone(300.0, to, y.len());
            let mid = y.len() / 4..3 * y.len() / 4;
            let err: f32 =
                mid.clone().map(|i| (y[i] - ideal[i]).abs()).sum::<f32>() / mid.len() as f32;
            assert!(err < 0.02, "{from} -> {to}: mean error {err}");
        }
    }

    #[test]
    fn equal_rates_and_empty_input_copy() {
        assert_eq!(
            resample(&[0.1, 0.2], 16_000, 16_000).unwrap(),
            vec![0.1, 0.2]
        );
        assert!(resample(&[], 44_100, 16_000).unwrap().is_empty());
    }

    #[test]
    fn absurd_rates_are_refused() {
        assert!(matches!(
            resample(&[0.0; 10], 0, 16_000),
            Err(ResampleError::BadRate { from: 0, .. })
        ));
        assert!(matches!(
            resample(&[0.0; 10], 16_000, 10_000_000),
            Err(ResampleError::BadRate { .. })
        ));
    }

    #[test]
    fn tiny_inputs_resample() {
        let y = resample(&[0.5; 3], 48_000, 16_000).unwrap();
        assert_eq!(y.len(), 1);
    }
}
