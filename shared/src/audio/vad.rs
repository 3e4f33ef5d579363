//! Voice activity detection on log-mel frames.
//!
//! The detector is fed the same log-mel frames as the voice model (one
//! [`LogMel`](super::LogMel) serves both), one frame per call. Per frame it
//! recovers the mel powers `P[m] = exp(l[m]) - log_floor` and forms two
//! energies:
//!
//! - `E_sb`: power of the bands whose centre lies in the 300-3400 Hz speech
//!   band ([`SPEECH_BAND_HZ`]);
//! - `E_tot`: power of all bands.
//!
//! Levels are in dB relative to a full-scale mean square (a full-scale sine
//! reads about -3 dB; the pre-emphasised signal is measured). Each level
//! has an adaptive noise floor found by *minimum statistics*: the minimum
//! of the level, smoothed over frames by a one-pole average, over the last
//! `floor_blocks` blocks of `floor_block_frames` frames (about 1.3 s by
//! default), so the floor follows stationary noise up within that time and
//! drops at once when the level drops. The cues below compare the frame's
//! own (unsmoothed) levels with the floors.
//!
//! A frame is *raw speech* when all of these hold:
//!
//! 1. energy cue: `E_sb` exceeds its noise floor by `snr_threshold_db`;
//! 2. `E_sb` is above the absolute level `min_level_db`;
//! 3. spectral cue: at least `min_speech_share` of the power above the
//!    noise floors lies in the speech band, i.e.
//!    `(E_sb - N_sb) / (E_tot - N_tot) >= min_speech_share`. Voiced speech
//!    puts most of its excess power in 300-3400 Hz; a broadband burst or a
//!    change of (pre-emphasised, hence high-frequency heavy) white noise
//!    does not, so it is rejected even before the floor has adapted.
//!
//! The decision is smoothed: speech starts after `onset_frames`
//! consecutive raw speech frames and ends `hangover_frames` frames after
//! the last one, so it does not flicker between syllables.
//!
//! [`trim`] runs the same detector offline over a clip, after seeding the
//! noise floors with the clip's minimum levels (so a clip that starts with
//! speech is handled), and returns the speech span.

use alloc::vec::Vec;

use super::{mel_band_edges, AudioConfigError, LogMelConfig};

/// The speech band of the spectral cue, Hz.
pub const SPEECH_BAND_HZ: (f32, f32) = (300.0, 3400.0);

/// Most noise floor blocks a [`VadConfig`] may ask for.
pub const MAX_FLOOR_BLOCKS: usize = 8;

/// Level of a frame with no power at all, dB.
const SILENCE_DB: f32 = -120.0;

/// Voice activity detector parameters (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VadConfig {
    /// Speech-band level above its noise floor needed for speech, dB (> 0).
    pub snr_threshold_db: f32,
    /// Speech-band level below which a frame is never speech, dB re full
    /// scale mean square.
    pub min_level_db: f32,
    /// Least share (0..=1) of the above-floor power that must lie in the
    /// speech band.
    pub min_speech_share: f32,
    /// Consecutive raw speech frames that start speech (at least 1).
    pub onset_frames: u16,
    /// Frames speech lasts after the last raw speech frame.
    pub hangover_frames: u16,
    /// Frames per noise floor block (at least 1).
    pub floor_block_frames: u16,
    /// Noise floor blocks, 1..=`MAX_FLOOR_BLOCKS` (8).
    pub floor_blocks: u8,
    /// Weight of the previous value in the one-pole smoothing of the levels
    /// fed to the noise floor trackers, in `[0, 1)` (0 = no smoothing).
    pub smoothing: f32,
    /// Frames [`trim`] keeps on each side of the detected speech.
    pub trim_pad_frames: u16,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            snr_threshold_db: 6.0,
            min_level_db: -60.0,
            min_speech_share: 0.5,
            onset_frames: 3,
            hangover_frames: 20,
            floor_block_frames: 32,
            floor_blocks: 4,
            smoothing: 0.5,
            trim_pad_frames: 5,
        }
    }
}

impl VadConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), AudioConfigError> {
        let bad = |field| Err(AudioConfigError::Vad { field });
        if !(self.snr_threshold_db.is_finite() && self.snr_threshold_db > 0.0) {
            return bad("snr_threshold_db");
        }
        if !self.min_level_db.is_finite() {
            return bad("min_level_db");
        }
        if !(0.0..=1.0).contains(&self.min_speech_share) {
            return bad("min_speech_share");
        }
        if self.onset_frames == 0 {
            return bad("onset_frames");
        }
        if self.floor_block_frames == 0 {
            return bad("floor_block_frames");
        }
        if self.floor_blocks == 0 || self.floor_blocks as usize > MAX_FLOOR_BLOCKS {
            return bad("floor_blocks");
        }
        if !(self.smoothing >= 0.0 && self.smoothing < 1.0) {
            return bad("smoothing");
        }
        Ok(())
    }
}

/// The detector's view of one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VadFrame {
    /// Smoothed decision (with onset and hangover).
    pub speech: bool,
    /// This frame alone passes the three cues.
    pub raw: bool,
    /// Speech-band level above its noise floor, dB.
    pub snr_db: f32,
    /// Speech-band level, dB re full-scale mean square.
    pub level_db: f32,
    /// Share of the above-floor power in the speech band (0..=1).
    pub speech_share: f32,
}

/// Minimum of a level over the last `n_blocks` blocks of `block_len`
/// frames (the current partial block included).
#[derive(Clone, Debug)]
struct MinTracker {
    blocks: [f32; MAX_FLOOR_BLOCKS],
    n_blocks: usize,
    next: usize,
    current: f32,
    count: usize,
    block_len: usize,
}

impl MinTracker {
    fn new(block_len: usize, n_blocks: usize) -> Self {
        MinTracker {
            blocks: [f32::INFINITY; MAX_FLOOR_BLOCKS],
            n_blocks,
            next: 0,
            current: f32::INFINITY,
            count: 0,
            block_len,
        }
    }

    fn seed(&mut self, level: f32) {
        self.blocks[..self.n_blocks].fill(level);
        self.current = level;
        self.count = 0;
    }

    fn update(&mut self, level: f32) {
        self.current = self.current.min(level);
        self.count += 1;
        if self.count >= self.block_len {
            self.blocks[self.next] = self.current;
            self.next = (self.next + 1) % self.n_blocks;
            self.current = f32::INFINITY;
            self.count = 0;
        }
    }

    fn floor(&self) -> f32 {
        self.blocks[..self.n_blocks]
            .iter()
            .fold(self.current, |a, &b| a.min(b))
    }
}

/// Streaming voice activity detector over log-mel frames (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct Vad {
    cfg: VadConfig,
    n_mels: usize,
    log_floor: f32,
    /// Mel bands `speech_lo..speech_hi` have their centre in the speech band.
    speech_lo: usize,
    speech_hi: usize,
    /// Mel power of a full-scale mean square of 1.
    scale: f32,
    e_sb: f32,
    e_tot: f32,
    started: bool,
    floor_sb: MinTracker,
    floor_tot: MinTracker,
    run: u16,
    hang: u16,
    in_speech: bool,
}

fn power_db(p: f32, scale: f32) -> f32 {
    if p > 0.0 {
        (10.0 * libm::log10f(p / scale)).max(SILENCE_DB)
    } else {
        SILENCE_DB
    }
}

impl Vad {
    /// A detector for frames of the log-mel configuration `logmel`.
    pub fn new(logmel: &LogMelConfig, cfg: VadConfig) -> Result<Self, AudioConfigError> {
        logmel.validate()?;
        cfg.validate()?;
        let edges = mel_band_edges(logmel);
        let centers = &edges[1..edges.len() - 1];
        let (lo_hz, hi_hz) = (SPEECH_BAND_HZ.0 as f64, SPEECH_BAND_HZ.1 as f64);
        let speech_lo = centers.iter().position(|&c| c >= lo_hz);
        let speech_hi = centers.iter().rposition(|&c| c <= hi_hz);
        let (speech_lo, speech_hi) = match (speech_lo, speech_hi) {
            (Some(lo), Some(hi)) if lo <= hi => (lo, hi + 1),
            _ => return Err(AudioConfigError::NoSpeechBands),
        };
        // Σ_k |X_k|² over half the spectrum ≈ (n_fft / 2) · Σ w² · mean(x²),
        // and the unnormalised HTK triangles sum to about 1 per bin.
        let win = logmel.win_length as usize;
        let sum_w2: f64 = (0..win)
            .map(|i| {
                let w = 0.5 - 0.5 * libm::cos(2.0 * core::f64::consts::PI * i as f64 / win as f64);
                w * w
            })
            .sum();
        let scale = (logmel.n_fft as f64 / 2.0 * sum_w2) as f32;
        let block = cfg.floor_block_frames as usize;
        let blocks = cfg.floor_blocks as usize;
        Ok(Vad {
            cfg,
            n_mels: logmel.n_mels as usize,
            log_floor: logmel.log_floor,
            speech_lo,
            speech_hi,
            scale,
            e_sb: 0.0,
            e_tot: 0.0,
            started: false,
            floor_sb: MinTracker::new(block, blocks),
            floor_tot: MinTracker::new(block, blocks),
            run: 0,
            hang: 0,
            in_speech: false,
        })
    }

    /// The detector parameters.
    pub fn config(&self) -> &VadConfig {
        &self.cfg
    }

    /// Current smoothed decision.
    pub fn is_speech(&self) -> bool {
        self.in_speech
    }

    /// Forgets everything, as if new.
    pub fn reset(&mut self) {
        let block = self.cfg.floor_block_frames as usize;
        let blocks = self.cfg.floor_blocks as usize;
        self.e_sb = 0.0;
        self.e_tot = 0.0;
        self.started = false;
        self.floor_sb = MinTracker::new(block, blocks);
        self.floor_tot = MinTracker::new(block, blocks);
        self.run = 0;
        self.hang = 0;
        self.in_speech = false;
    }

    /// Speech-band and total mel power of a frame (`None` if it is not
    /// `n_mels` long).
    fn band_powers(&self, frame: &[f32]) -> Option<(f32, f32)> {
        if frame.len() != self.n_mels {
            return None;
        }
        let mut sb = 0.0;
        let mut tot = 0.0;
        for (m, &l) in frame.iter().enumerate() {
            let p = (libm::expf(l) - self.log_floor).max(0.0);
            let p = if p.is_finite() { p } else { 0.0 };
            tot += p;
            if (self.speech_lo..self.speech_hi).contains(&m) {
                sb += p;
            }
        }
        Some((sb, tot))
    }

    fn smooth(&mut self, sb: f32, tot: f32) {
        if self.started {
            let a = self.cfg.smoothing;
            self.e_sb = a * self.e_sb + (1.0 - a) * sb;
            self.e_tot = a * self.e_tot + (1.0 - a) * tot;
        } else {
            self.e_sb = sb;
            self.e_tot = tot;
        }
    }

    /// Seeds the noise floors with the lowest smoothed levels of `frames`
    /// (row-major log-mel frames), for offline use on a whole clip: without
    /// it the floors start at the first frame's level. Leaves the decision
    /// state as new. Frames of the wrong length are ignored.
    pub fn prime(&mut self, frames: &[f32]) {
        self.reset();
        let mut min_sb = f32::INFINITY;
        let mut min_tot = f32::INFINITY;
        for frame in frames.chunks(self.n_mels) {
            if let Some((sb, tot)) = self.band_powers(frame) {
                self.smooth(sb, tot);
                self.started = true;
                min_sb = min_sb.min(power_db(self.e_sb, self.scale));
                min_tot = min_tot.min(power_db(self.e_tot, self.scale));
            }
        }
        let started = self.started;
        self.reset();
        if started {
            self.floor_sb.seed(min_sb);
            self.floor_tot.seed(min_tot);
        }
    }

    /// Feeds one log-mel frame (`n_mels` values). A frame of the wrong
    /// length is treated as silence.
    pub fn process(&mut self, frame: &[f32]) -> VadFrame {
        let (sb, tot) = self.band_powers(frame).unwrap_or((0.0, 0.0));
        self.smooth(sb, tot);
        let smooth_sb = power_db(self.e_sb, self.scale);
        let smooth_tot = power_db(self.e_tot, self.scale);
        if !self.started {
            self.started = true;
            if self.floor_sb.floor().is_infinite() {
                self.floor_sb.seed(smooth_sb);
                self.floor_tot.seed(smooth_tot);
            }
        }
        self.floor_sb.update(smooth_sb);
        self.floor_tot.update(smooth_tot);
        let n_sb = self.floor_sb.floor();
        let n_tot = self.floor_tot.floor();

        // The decision uses this frame's own (unsmoothed) levels.
        let level_sb = power_db(sb, self.scale);
        let snr_db = level_sb - n_sb;
        let lin = |db: f32| libm::powf(10.0, db / 10.0) * self.scale;
        let excess_sb = (sb - lin(n_sb)).max(0.0);
        let excess_tot = (tot - lin(n_tot)).max(0.0);
        let speech_share = if excess_tot > 0.0 {
            (excess_sb / excess_tot).min(1.0)
        } else {
            0.0
        };
        let raw = snr_db > self.cfg.snr_threshold_db
            && level_sb > self.cfg.min_level_db
            && speech_share >= self.cfg.min_speech_share;

        self.run = if raw { self.run.saturating_add(1) } else { 0 };
        if self.in_speech {
            if raw {
                self.hang = self.cfg.hangover_frames;
            } else if self.hang == 0 {
                self.in_speech = false;
            } else {
                self.hang -= 1;
            }
        } else if self.run >= self.cfg.onset_frames {
            self.in_speech = true;
            self.hang = self.cfg.hangover_frames;
        }
        VadFrame {
            speech: self.in_speech,
            raw,
            snr_db,
            level_db: level_sb,
            speech_share,
        }
    }

    /// Runs the detector over `frames` (row-major log-mel frames) and
    /// returns the decision per frame.
    pub fn process_frames(&mut self, frames: &[f32]) -> Vec<VadFrame> {
        frames
            .chunks(self.n_mels)
            .map(|f| self.process(f))
            .collect()
    }
}

/// Span `(start, end)` (frame indices, `end` exclusive) of the speech in a
/// clip's log-mel frames (row-major `frames × n_mels` of `logmel`), or
/// `None` when the detector finds no speech. The span runs from the first
/// raw speech frame of the first speech segment to the last raw speech
/// frame of the last one, widened by `trim_pad_frames` on each side and
/// clipped to the clip. The noise floors are seeded with
/// [`Vad::prime`] first.
pub fn trim(
    logmel: &LogMelConfig,
    cfg: &VadConfig,
    frames: &[f32],
) -> Result<Option<(usize, usize)>, AudioConfigError> {
    let mut vad = Vad::new(logmel, *cfg)?;
    vad.prime(frames);
    let n_mels = logmel.n_mels as usize;
    let total = frames.len() / n_mels;
    let mut first: Option<usize> = None;
    let mut last = 0;
    for (i, frame) in frames.chunks_exact(n_mels).enumerate() {
        let was_speech = vad.is_speech();
        let f = vad.process(frame);
        if f.speech && !was_speech {
            // Speech starts at the first frame of the onset run.
            let start = (i + 1).saturating_sub(cfg.onset_frames as usize);
            first.get_or_insert(start);
        }
        if f.speech && f.raw {
            last = i + 1;
        }
    }
    Ok(first.map(|start| {
        let pad = cfg.trim_pad_frames as usize;
        (start.saturating_sub(pad), (last + pad).min(total))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(VadConfig::default().validate().is_ok());
        let bad = [
            VadConfig {
                snr_threshold_db: 0.0,
                ..VadConfig::default()
            },
            VadConfig {
                min_speech_share: 1.5,
                ..VadConfig::default()
            },
            VadConfig {
                onset_frames: 0,
                ..VadConfig::default()
            },
            VadConfig {
                floor_blocks: 9,
                ..VadConfig::default()
            },
            VadConfig {
                smoothing: 1.0,
                ..VadConfig::default()
            },
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(AudioConfigError::Vad { .. })),
                "{c:?}"
            );
        }
        let low = LogMelConfig {
            f_min: 0.0,
            f_max: 250.0,
            n_mels: 4,
            ..LogMelConfig::default()
        };
        assert_eq!(
            Vad::new(&low, VadConfig::default()).err(),
            Some(AudioConfigError::NoSpeechBands)
        );
    }

    #[test]
    fn min_tracker_follows_blocks() {
        let mut t = MinTracker::new(2, 2);
        t.seed(10.0);
        t.update(5.0);
        assert_eq!(t.floor(), 5.0);
        t.update(7.0); // block [5, 7] closes
        t.update(8.0);
        t.update(8.0); // block [8, 8] closes, the seed block is gone
        assert_eq!(t.floor(), 5.0);
        t.update(9.0);
        t.update(9.0); // block [5, 7] is gone
        assert_eq!(t.floor(), 8.0);
    }

    #[test]
    fn hangover_and_onset() {
        // Synthetic frames: a floor of -10 in every band, "speech" lifts the
        // speech bands by a lot.
        let cfg = LogMelConfig::default();
        let vcfg = VadConfig {
            onset_frames: 2,
            hangover_frames: 3,
            smoothing: 0.0,
            ..VadConfig::default()
        };
        let mut vad = Vad::new(&cfg, vcfg).unwrap();
        let quiet = [-3.0f32; 64];
        let mut loud = quiet;
        for v in &mut loud[vad.speech_lo..vad.speech_hi] {
            *v = 6.0;
        }
        for _ in 0..10 {
            assert!(!vad.process(&quiet).speech);
        }
        let f = vad.process(&loud);
        assert!(f.raw && !f.speech, "onset needs 2 frames: {f:?}");
        assert!(vad.process(&loud).speech);
        // Hangover of 3 frames, then silence.
        for _ in 0..3 {
            assert!(vad.process(&quiet).speech);
        }
        assert!(!vad.process(&quiet).speech);
        // Wrong frame length counts as silence, no panic.
        assert!(!vad.process(&[0.0; 3]).raw);
    }
}
