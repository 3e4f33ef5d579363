//! The fusion engine: calibration, freshness, sum-rule fusion, smoothing and
//! hysteresis for one tracked person.

use super::calibrate::{Probs, Scores};
use super::clock::Clock;
use super::config::{FusionConfig, FusionConfigError, Modality};
use super::decision::{Decision, Sources};
use super::hysteresis::Hysteresis;
use super::smoothing::Smoother;
use crate::labels::NUM_CLASSES;

/// A fused probability vector and the modalities in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fused {
    /// The weighted sum of the present modalities' probabilities.
    pub probs: Probs,
    /// Modalities with a non-zero weight in the sum.
    pub sources: Sources,
}

/// Sum-rule late fusion of calibrated probabilities.
///
/// Both present: `face_weight * face + (1 - face_weight) * voice` (a
/// modality whose weight is 0 is not listed in [`Fused::sources`]). One
/// present: that one alone, with weight 1. Neither: `None`. `face_weight` is
/// clamped to `[0, 1]`.
pub fn fuse(face: Option<&Probs>, voice: Option<&Probs>, face_weight: f32) -> Option<Fused> {
    let w = face_weight.clamp(0.0, 1.0);
    match (face, voice) {
        (Some(f), Some(v)) => {
            let mut probs = [0.0; NUM_CLASSES];
            for ((p, &fi), &vi) in probs.iter_mut().zip(f).zip(v) {
                *p = w * fi + (1.0 - w) * vi;
            }
            Some(Fused {
                probs,
                sources: Sources {
                    face: w > 0.0,
                    voice: w < 1.0,
                },
            })
        }
        (Some(f), None) => Some(Fused {
            probs: *f,
            sources: Sources {
                face: true,
                voice: false,
            },
        }),
        (None, Some(v)) => Some(Fused {
            probs: *v,
            sources: Sources {
                face: false,
                voice: true,
            },
        }),
        (None, None) => None,
    }
}

/// A modality's latest calibrated observation.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Observation {
    probs: Probs,
    at_ms: u64,
}

/// Fusion state for one tracked person: see the [module docs](super) for
/// the pipeline and the missing-modality rules.
///
/// Small (about 200 bytes) and `Copy`: keep one per face track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusionEngine {
    config: FusionConfig,
    face: Option<Observation>,
    voice: Option<Observation>,
    smoother: Smoother,
    hysteresis: Hysteresis,
}

impl FusionEngine {
    /// An engine with no observations yet; fails if `config` is invalid.
    pub fn new(config: FusionConfig) -> Result<Self, FusionConfigError> {
        config.validate()?;
        Ok(FusionEngine {
            config,
            face: None,
            voice: None,
            smoother: Smoother::new(config.smoothing_tau_ms, config.stale_after_ms),
            hysteresis: Hysteresis::new(
                config.hysteresis_margin,
                config.min_dwell_ms,
                config.uncertain_threshold,
            ),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &FusionConfig {
        &self.config
    }

    /// One step with raw **logits** from each modality that produced an
    /// observation since the last call (`None` = nothing new). Equivalent
    /// to [`update_scores`](Self::update_scores) with [`Scores::Logits`].
    pub fn update(&mut self, now_ms: u64, face: Option<&Probs>, voice: Option<&Probs>) -> Decision {
        self.update_scores(
            now_ms,
            face.map(|l| Scores::Logits(*l)),
            voice.map(|l| Scores::Logits(*l)),
        )
    }

    /// [`update`](Self::update) reading the time from `clock`.
    pub fn update_with_clock<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        face: Option<&Probs>,
        voice: Option<&Probs>,
    ) -> Decision {
        self.update(clock.now_ms(), face, voice)
    }

    /// One step with logits or probabilities from each modality that
    /// produced an observation since the last call (`None` = nothing new).
    ///
    /// New scores are calibrated and remembered; scores containing NaN or
    /// infinity are ignored (as if `None`). Then the remembered
    /// observations no older than `stale_after_ms` are fused, smoothed and
    /// passed through the hysteresis. Never fails: with no fresh
    /// observation the result is [`Decision::NO_DECISION`].
    pub fn update_scores(
        &mut self,
        now_ms: u64,
        face: Option<Scores>,
        voice: Option<Scores>,
    ) -> Decision {
        if let Some(s) = face {
            self.observe(Modality::Face, now_ms, &s);
        }
        if let Some(s) = voice {
            self.observe(Modality::Voice, now_ms, &s);
        }
        let fresh = |o: &Option<Observation>| {
            o.as_ref()
                .filter(|o| now_ms.saturating_sub(o.at_ms) <= u64::from(self.config.stale_after_ms))
                .map(|o| o.probs)
        };
        let (face, voice) = (fresh(&self.face), fresh(&self.voice));
        let Some(fused) = fuse(face.as_ref(), voice.as_ref(), self.config.face_weight) else {
            return Decision::NO_DECISION;
        };
        let smoothed = self.smoother.update(now_ms, &fused.probs);
        if smoothed.restarted {
            self.hysteresis.reset();
        }
        let (label, confidence) = self.hysteresis.update(now_ms, &smoothed.probs);
        Decision {
            label,
            confidence,
            probs: smoothed.probs,
            sources: fused.sources,
        }
    }

    fn observe(&mut self, modality: Modality, now_ms: u64, scores: &Scores) {
        match scores.calibrate(self.config.temperature(modality)) {
            Ok(probs) => {
                let obs = Some(Observation {
                    probs,
                    at_ms: now_ms,
                });
                match modality {
                    Modality::Face => self.face = obs,
                    Modality::Voice => self.voice = obs,
                }
            }
            Err(_e) => {
                #[cfg(feature = "std")]
                log::debug!("fusion: ignoring {modality} scores: {_e}");
            }
        }
    }

    /// Drops the remembered face observation now (e.g. the track was lost),
    /// instead of waiting for it to go stale.
    pub fn clear_face(&mut self) {
        self.face = None;
    }

    /// Drops the remembered voice observation now (e.g. the voice activity
    /// detector reports silence), instead of waiting for it to go stale.
    pub fn clear_voice(&mut self) {
        self.voice = None;
    }

    /// Forgets everything: observations, smoothing and hysteresis state.
    pub fn reset(&mut self) {
        self.face = None;
        self.voice = None;
        self.smoother.reset();
        self.hysteresis.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::{MockClock, Outcome};
    use crate::labels::Emotion;

    /// Logits strongly favouring `e` (softmax ~0.9 on `e`).
    fn logits(e: Emotion) -> Probs {
        let mut l = [0.0; NUM_CLASSES];
        l[e.index()] = 4.0;
        l
    }

    /// No smoothing, no hysteresis: the engine reports the fused argmax.
    fn direct() -> FusionConfig {
        FusionConfig {
            smoothing_tau_ms: 0,
            min_dwell_ms: 0,
            hysteresis_margin: 0.0,
            ..FusionConfig::default()
        }
    }

    fn engine(c: FusionConfig) -> FusionEngine {
        FusionEngine::new(c).unwrap()
    }

    fn softmax(l: &Probs) -> Probs {
        crate::fusion::calibrate(l, 1.0).unwrap()
    }

    #[test]
    fn weighted_sum_of_calibrated_probabilities() {
        let f = [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05];
        let v = [0.1, 0.1, 0.1, 0.5, 0.1, 0.05, 0.05];
        let out = fuse(Some(&f), Some(&v), 0.6).unwrap();
        let expected = [0.34, 0.1, 0.1, 0.26, 0.1, 0.05, 0.05];
        for (a, b) in out.probs.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(
            out.sources,
            Sources {
                face: true,
                voice: true
            }
        );
        // Weight 0 and 1 drop a modality from the sources.
        assert_eq!(fuse(Some(&f), Some(&v), 0.0).unwrap().probs, v);
        assert!(!fuse(Some(&f), Some(&v), 0.0).unwrap().sources.face);
        assert!(!fuse(Some(&f), Some(&v), 1.0).unwrap().sources.voice);

        // Through the engine, with temperatures applied per modality.
        let c = FusionConfig {
            face_temperature: 2.0,
            voice_temperature: 0.5,
            ..direct()
        };
        let mut e = engine(c);
        let (fl, vl) = (logits(Emotion::Angry), logits(Emotion::Happy));
        let d = e.update(0, Some(&fl), Some(&vl));
        let fp = crate::fusion::calibrate(&fl, 2.0).unwrap();
        let vp = crate::fusion::calibrate(&vl, 0.5).unwrap();
        for i in 0..NUM_CLASSES {
            assert!((d.probs[i] - (0.6 * fp[i] + 0.4 * vp[i])).abs() < 1e-6);
        }
        assert_eq!(
            d.sources,
            Sources {
                face: true,
                voice: true
            }
        );
    }

    #[test]
    fn face_only_when_voice_missing() {
        let mut e = engine(direct());
        let d = e.update(0, Some(&logits(Emotion::Sad)), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Sad));
        assert_eq!(
            d.sources,
            Sources {
                face: true,
                voice: false
            }
        );
        // Weight 1, not 0.6: the probabilities are the face's own.
        assert_eq!(d.probs, softmax(&logits(Emotion::Sad)));
        assert_eq!(d.confidence, d.probs[Emotion::Sad.index()]);
    }

    #[test]
    fn voice_only_when_face_missing() {
        let mut e = engine(direct());
        let d = e.update(0, None, Some(&logits(Emotion::Fear)));
        assert_eq!(d.label, Outcome::Emotion(Emotion::Fear));
        assert_eq!(
            d.sources,
            Sources {
                face: false,
                voice: true
            }
        );
        assert_eq!(d.probs, softmax(&logits(Emotion::Fear)));
    }

    #[test]
    fn neither_gives_no_decision() {
        let mut e = engine(FusionConfig::default());
        let d = e.update(0, None, None);
        assert_eq!(d, Decision::NO_DECISION);
        assert_eq!(d.emotion(), None);
        // Non-finite scores count as missing too.
        let mut bad = logits(Emotion::Happy);
        bad[2] = f32::NAN;
        assert_eq!(e.update(10, Some(&bad), Some(&bad)), Decision::NO_DECISION);
        // And after clearing both remembered observations.
        e.update(
            20,
            Some(&logits(Emotion::Happy)),
            Some(&logits(Emotion::Happy)),
        );
        e.clear_face();
        e.clear_voice();
        assert_eq!(e.update(30, None, None), Decision::NO_DECISION);
    }

    #[test]
    fn stale_modality_is_treated_as_missing() {
        let c = FusionConfig {
            stale_after_ms: 1000,
            ..direct()
        };
        let mut e = engine(c);
        // Voice once at t=0, face every 100 ms.
        let d = e.update(
            0,
            Some(&logits(Emotion::Angry)),
            Some(&logits(Emotion::Happy)),
        );
        assert_eq!(
            d.sources,
            Sources {
                face: true,
                voice: true
            }
        );
        let mut t = 0;
        while t < 1000 {
            t += 100;
            let d = e.update(t, Some(&logits(Emotion::Angry)), None);
            // The remembered voice still counts while fresh (age <= 1000).
            assert_eq!(
                d.sources,
                Sources {
                    face: true,
                    voice: true
                },
                "t={t}"
            );
        }
        let d = e.update(1001, Some(&logits(Emotion::Angry)), None);
        assert_eq!(
            d.sources,
            Sources {
                face: true,
                voice: false
            }
        );
        assert_eq!(d.probs, softmax(&logits(Emotion::Angry)));
        // Both stale: no decision.
        assert_eq!(e.update(2002, None, None), Decision::NO_DECISION);
        // clear_voice drops it at once.
        let mut e = engine(c);
        e.update(
            0,
            Some(&logits(Emotion::Angry)),
            Some(&logits(Emotion::Happy)),
        );
        e.clear_voice();
        assert_eq!(
            e.update(10, None, None).sources,
            Sources {
                face: true,
                voice: false
            }
        );
    }

    #[test]
    fn smoothing_rides_out_a_single_outlier_frame() {
        let mut e = engine(FusionConfig::default());
        let clock = MockClock::new(0);
        // Irregular frame intervals.
        let steps = [33u64, 40, 25, 70, 33, 33, 90, 20, 33, 50, 33, 33, 60, 33];
        for &dt in steps.iter().cycle().take(40) {
            let d = e.update_with_clock(&clock, Some(&logits(Emotion::Happy)), None);
            assert_eq!(d.label, Outcome::Emotion(Emotion::Happy));
            clock.advance(dt);
        }
        let d = e.update_with_clock(&clock, Some(&logits(Emotion::Surprise)), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Happy));
        assert!(d.probs[Emotion::Surprise.index()] < 0.2);
        clock.advance(33);
        let d = e.update_with_clock(&clock, Some(&logits(Emotion::Happy)), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Happy));
        // A sustained change does get through.
        let mut switched_at = None;
        for k in 0..60 {
            clock.advance(33);
            let d = e.update_with_clock(&clock, Some(&logits(Emotion::Surprise)), None);
            if d.label == Outcome::Emotion(Emotion::Surprise) {
                switched_at = Some(k);
                break;
            }
        }
        let k = switched_at.expect("a sustained change must switch the label");
        // Needs the smoothed lead (several tau fractions) plus the 300 ms dwell.
        assert!(k * 33 >= 300, "switched after {} ms", k * 33);
    }

    #[test]
    fn hysteresis_prevents_flicker_near_a_tie() {
        let mut e = engine(FusionConfig {
            smoothing_tau_ms: 0,
            ..FusionConfig::default()
        });
        // Face and voice alternately favour happy and sad by a hair.
        let near = |a: Emotion, b: Emotion| {
            let mut p = [0.02; NUM_CLASSES];
            p[a.index()] = 0.47;
            p[b.index()] = 0.43;
            Scores::Probs(p)
        };
        let mut labels = [Outcome::NoDecision; 50];
        for (k, l) in labels.iter_mut().enumerate() {
            let s = if k % 2 == 0 {
                near(Emotion::Happy, Emotion::Sad)
            } else {
                near(Emotion::Sad, Emotion::Happy)
            };
            *l = e.update_scores(k as u64 * 33, Some(s), None).label;
        }
        assert!(
            labels
                .iter()
                .all(|&l| l == Outcome::Emotion(Emotion::Happy)),
            "{labels:?}"
        );
    }

    #[test]
    fn dwell_time_delays_a_switch() {
        let c = FusionConfig {
            smoothing_tau_ms: 0,
            min_dwell_ms: 300,
            ..FusionConfig::default()
        };
        let mut e = engine(c);
        e.update(0, Some(&logits(Emotion::Happy)), None);
        for t in [100, 200, 300] {
            let d = e.update(t, Some(&logits(Emotion::Angry)), None);
            assert_eq!(d.label, Outcome::Emotion(Emotion::Happy), "t={t}");
        }
        let d = e.update(400, Some(&logits(Emotion::Angry)), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Angry));
    }

    #[test]
    fn uncertain_below_threshold() {
        let mut e = engine(FusionConfig {
            uncertain_threshold: 0.6,
            ..direct()
        });
        // Face says angry, voice says happy (0.90 each): the fused top is
        // 0.6 * 0.90 + 0.4 * 0.016 ~ 0.55.
        let d = e.update(
            0,
            Some(&logits(Emotion::Angry)),
            Some(&logits(Emotion::Happy)),
        );
        assert_eq!(d.label, Outcome::Uncertain);
        let top = d.probs.iter().copied().fold(0.0, f32::max);
        assert_eq!(d.confidence, top);
        assert!(top < 0.6);
        // Agreeing modalities are confident.
        let d = e.update(
            10,
            Some(&logits(Emotion::Angry)),
            Some(&logits(Emotion::Angry)),
        );
        assert_eq!(d.label, Outcome::Emotion(Emotion::Angry));
        assert!(d.confidence >= 0.6);
    }

    #[test]
    fn long_gap_restarts_smoothing_and_hysteresis() {
        let mut e = engine(FusionConfig::default());
        for k in 0..20 {
            e.update(k * 33, Some(&logits(Emotion::Happy)), None);
        }
        // After more than stale_after_ms without any decision, a new label
        // is adopted at once: no smoothing lag, no dwell.
        let d = e.update(20 * 33 + 1600, Some(&logits(Emotion::Sad)), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Sad));
        assert_eq!(d.probs, softmax(&logits(Emotion::Sad)));
        e.reset();
        assert_eq!(e.update(5000, None, None), Decision::NO_DECISION);
    }

    #[test]
    fn invalid_config_is_rejected() {
        let c = FusionConfig {
            face_weight: 2.0,
            ..FusionConfig::default()
        };
        assert_eq!(
            FusionEngine::new(c),
            Err(FusionConfigError::FaceWeight(2.0))
        );
    }

    #[test]
    fn engine_is_small_and_copy() {
        fn is_copy<T: Copy>() {}
        is_copy::<FusionEngine>();
        assert!(core::mem::size_of::<FusionEngine>() <= 256);
    }
}
