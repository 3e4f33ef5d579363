//! Paired validation sets and the fusion decisions on them.
//!
//! The acted corpora have no face and voice of the same moment, so each
//! voice clip is paired with `K` faces of its class drawn at random (a
//! fixed seed; distinct faces while the class has at least `K`). Classes
//! with faces but no clips, or clips but no faces, cannot be paired and are
//! reported.
//!
//! Every decision goes through the shared [`FusionEngine`] (the device's
//! code): a fresh engine per pair, one update with the face's and the
//! voice's logits at the same instant. With a fresh engine smoothing takes
//! the observation as is and the hysteresis adopts the top class at once,
//! so the decision is the calibrated sum rule
//! [`fuse`](emoedge_shared::fusion::fuse) of the two modalities, `uncertain`
//! when its top probability is below the threshold. A single modality is
//! the same engine fed only that modality's logits (the device's behaviour
//! when the other one is missing).

use emoedge_shared::fusion::{top_class, Decision, FusionConfig, FusionEngine, Outcome};
use emoedge_shared::{Emotion, NUM_CLASSES};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::temperature::Logits;

/// A face index and a voice index (into the scored sets) of one class.
pub type Pair = (usize, usize);

/// A scored file's logits and true class.
pub type Labelled = (Logits, Emotion);

/// The pairs and the classes that could not be paired.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairSet {
    /// `(face, voice)` index pairs, voice clip by voice clip.
    pub pairs: Vec<Pair>,
    /// Classes with faces but no voice clip, and how many faces.
    pub no_voice: Vec<(Emotion, usize)>,
    /// Classes with voice clips but no face, and how many clips.
    pub no_face: Vec<(Emotion, usize)>,
}

impl PairSet {
    /// One line per side naming the skipped classes, if any.
    pub fn skipped_lines(&self) -> Vec<String> {
        let list = |v: &[(Emotion, usize)], what: &str| {
            v.iter()
                .map(|(e, n)| format!("{e} ({n} {what})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = Vec::new();
        if !self.no_voice.is_empty() {
            out.push(format!(
                "skipped classes without voice clips: {}",
                list(&self.no_voice, "faces")
            ));
        }
        if !self.no_face.is_empty() {
            out.push(format!(
                "skipped classes without faces: {}",
                list(&self.no_face, "clips")
            ));
        }
        out
    }
}

/// Pairs every voice clip (class `voice[i]`) with `k` faces of the same
/// class (`face[j]`), drawn with a generator seeded by `seed`: distinct
/// faces while the class has at least `k`, else every face once and the
/// rest drawn again.
pub fn make_pairs(face: &[Emotion], voice: &[Emotion], k: usize, seed: u64) -> PairSet {
    let mut by_class: [Vec<usize>; NUM_CLASSES] = Default::default();
    for (i, e) in face.iter().enumerate() {
        by_class[e.index()].push(i);
    }
    let mut clips = [0usize; NUM_CLASSES];
    for e in voice {
        clips[e.index()] += 1;
    }
    let mut set = PairSet::default();
    for e in Emotion::ALL {
        let (nf, nv) = (by_class[e.index()].len(), clips[e.index()]);
        if nf > 0 && nv == 0 {
            set.no_voice.push((e, nf));
        }
        if nv > 0 && nf == 0 {
            set.no_face.push((e, nv));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (v, e) in voice.iter().enumerate() {
        let faces = &by_class[e.index()];
        if faces.is_empty() {
            continue;
        }
        let distinct = k.min(faces.len());
        for j in sample(&mut rng, faces.len(), distinct) {
            set.pairs.push((faces[j], v));
        }
        for _ in distinct..k {
            set.pairs.push((faces[rng.random_range(0..faces.len())], v));
        }
    }
    set
}

/// The decision of a fresh engine with `config` on one face and one voice
/// observation at the same instant (either may be missing).
pub fn decide(engine: &FusionEngine, face: Option<&Logits>, voice: Option<&Logits>) -> Decision {
    let mut e = *engine;
    e.update(0, face, voice)
}

/// What one pair gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairResult {
    /// True class.
    pub class: Emotion,
    /// Face alone: top class.
    pub face: Emotion,
    /// Voice alone: top class.
    pub voice: Emotion,
    /// Fused: top class of the fused probabilities.
    pub fused: Emotion,
    /// The fused top probability.
    pub fused_confidence: f32,
    /// The fused probability of the true class.
    pub fused_true: f32,
    /// The engine said `uncertain`.
    pub uncertain: bool,
    /// The engine would say `uncertain` with the face alone (the device
    /// in silence).
    pub face_uncertain: bool,
    /// The engine would say `uncertain` with the voice alone (the device
    /// with no face in view).
    pub voice_uncertain: bool,
}

/// Every pair through the engine built from `config`.
pub fn run_pairs(
    config: &FusionConfig,
    pairs: &[Pair],
    face: &[Labelled],
    voice: &[Labelled],
) -> Result<Vec<PairResult>, String> {
    let engine = FusionEngine::new(*config).map_err(|e| e.to_string())?;
    Ok(pairs
        .iter()
        .map(|&(f, v)| {
            let (fl, class) = (&face[f].0, face[f].1);
            let vl = &voice[v].0;
            let fused = decide(&engine, Some(fl), Some(vl));
            let (top, confidence) = top_class(&fused.probs);
            let face = decide(&engine, Some(fl), None);
            let voice = decide(&engine, None, Some(vl));
            PairResult {
                class,
                face: top_class(&face.probs).0,
                voice: top_class(&voice.probs).0,
                face_uncertain: face.label == Outcome::Uncertain,
                voice_uncertain: voice.label == Outcome::Uncertain,
                fused: top,
                fused_confidence: confidence,
                fused_true: fused.probs[class.index()],
                uncertain: fused.label == Outcome::Uncertain,
            }
        })
        .collect())
}

/// Accuracies over the pairs: the `fusion eval` JSON.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionMetrics {
    /// Number of pairs.
    pub n: u64,
    /// Face alone: fraction of pairs whose face top class is right.
    pub face_accuracy: f64,
    /// Voice alone.
    pub voice_accuracy: f64,
    /// Fused: the top class of the fused probabilities, over all pairs
    /// (uncertain ones included).
    pub fused_accuracy: f64,
    /// Fraction of pairs the engine reports as `uncertain`.
    pub uncertain_rate: f64,
}

/// [`FusionMetrics`] of pair results.
pub fn metrics(results: &[PairResult]) -> FusionMetrics {
    let n = results.len();
    let rate = |f: &dyn Fn(&PairResult) -> bool| {
        if n == 0 {
            0.0
        } else {
            results.iter().filter(|r| f(r)).count() as f64 / n as f64
        }
    };
    FusionMetrics {
        n: n as u64,
        face_accuracy: rate(&|r| r.face == r.class),
        voice_accuracy: rate(&|r| r.voice == r.class),
        fused_accuracy: rate(&|r| r.fused == r.class),
        uncertain_rate: rate(&|r| r.uncertain),
    }
}

/// Fused accuracy on the pairs the engine decided (not `uncertain`);
/// `None` when all are uncertain.
pub fn decided_accuracy(results: &[PairResult]) -> Option<f64> {
    let decided: Vec<&PairResult> = results.iter().filter(|r| !r.uncertain).collect();
    (!decided.is_empty()).then(|| {
        decided.iter().filter(|r| r.fused == r.class).count() as f64 / decided.len() as f64
    })
}

/// Per class: pairs, face, voice and fused accuracy.
pub fn per_class(results: &[PairResult]) -> Vec<(Emotion, usize, f64, f64, f64)> {
    Emotion::ALL
        .iter()
        .filter_map(|&e| {
            let rs: Vec<&PairResult> = results.iter().filter(|r| r.class == e).collect();
            if rs.is_empty() {
                return None;
            }
            let acc = |f: &dyn Fn(&PairResult) -> Emotion| {
                rs.iter().filter(|r| f(r) == e).count() as f64 / rs.len() as f64
            };
            Some((
                e,
                rs.len(),
                acc(&|r| r.face),
                acc(&|r| r.voice),
                acc(&|r| r.fused),
            ))
        })
        .collect()
}

/// Step of the face-weight grid.
pub const WEIGHT_STEP: f32 = 0.05;
/// Step of the uncertainty-threshold grid.
pub const THRESHOLD_STEP: f32 = 0.01;

/// One point of the weight grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightPoint {
    /// Face weight.
    pub face_weight: f32,
    /// Fused accuracy over all pairs.
    pub accuracy: f64,
    /// Mean negative log of the fused probability of the true class.
    pub nll: f64,
}

/// The face weight on the grid `0, 0.05, .., 1` with the highest fused
/// accuracy on the pairs; ties go to the lower fused NLL, then to the
/// weight nearer 0.5. Returns the chosen point and the whole grid.
pub fn fit_weight(
    config: &FusionConfig,
    pairs: &[Pair],
    face: &[Labelled],
    voice: &[Labelled],
) -> Result<(WeightPoint, Vec<WeightPoint>), String> {
    let steps = (1.0 / WEIGHT_STEP).round() as usize;
    let mut grid = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        // k / steps, not k * step: 0.65, not 0.65000004.
        let w = k as f32 / steps as f32;
        let cfg = FusionConfig {
            face_weight: w,
            uncertain_threshold: 0.0,
            ..*config
        };
        let results = run_pairs(&cfg, pairs, face, voice)?;
        let m = metrics(&results);
        let nll = results
            .iter()
            .map(|r| -f64::from(r.fused_true.max(1e-12)).ln())
            .sum::<f64>()
            / results.len().max(1) as f64;
        grid.push(WeightPoint {
            face_weight: w,
            accuracy: m.fused_accuracy,
            nll,
        });
    }
    let best = grid
        .iter()
        .copied()
        .reduce(|b, p| {
            let better = p.accuracy > b.accuracy + 1e-12
                || ((p.accuracy - b.accuracy).abs() <= 1e-12
                    && (p.nll < b.nll - 1e-12
                        || ((p.nll - b.nll).abs() <= 1e-12
                            && (p.face_weight - 0.5).abs() < (b.face_weight - 0.5).abs())));
            if better {
                p
            } else {
                b
            }
        })
        .expect("the grid is not empty");
    Ok((best, grid))
}

/// The largest threshold on the grid `0, 0.01, .., 1` that leaves at most
/// `max_uncertain` of the pairs uncertain (fused top probability below
/// it), from the fused confidences of the pairs.
pub fn fit_threshold(confidences: &[f32], max_uncertain: f64) -> f32 {
    let steps = (1.0 / THRESHOLD_STEP).round() as usize;
    let n = confidences.len().max(1) as f64;
    (0..=steps)
        .rev()
        .map(|k| k as f32 / steps as f32)
        .find(|&t| confidences.iter().filter(|&&c| c < t).count() as f64 / n <= max_uncertain)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn classes(counts: [usize; NUM_CLASSES]) -> Vec<Emotion> {
        Emotion::ALL
            .iter()
            .zip(counts)
            .flat_map(|(&e, n)| std::iter::repeat_n(e, n))
            .collect()
    }

    #[test]
    fn pairs_are_same_class_seeded_and_report_missing_classes() {
        let face = classes([4, 0, 2, 5, 3, 0, 0]);
        let voice = classes([2, 1, 3, 0, 1, 0, 0]);
        let set = make_pairs(&face, &voice, 3, 11);
        // angry 2 clips x 3, fear 3 x 3, neutral 1 x 3; disgust has no faces.
        assert_eq!(set.pairs.len(), 2 * 3 + 3 * 3 + 3);
        for &(f, v) in &set.pairs {
            assert_eq!(face[f], voice[v]);
        }
        // Distinct faces per clip while the class has enough; fear has only
        // 2 faces for 3 draws: both, then one again.
        for (v, &class) in voice.iter().enumerate() {
            let fs: Vec<usize> = set.pairs.iter().filter(|p| p.1 == v).map(|p| p.0).collect();
            if class == Emotion::Disgust {
                assert!(fs.is_empty());
                continue;
            }
            assert_eq!(fs.len(), 3);
            let distinct: std::collections::BTreeSet<usize> = fs.iter().copied().collect();
            let want = if class == Emotion::Fear { 2 } else { 3 };
            assert_eq!(distinct.len(), want, "clip {v}: {fs:?}");
        }
        assert_eq!(set.no_face, vec![(Emotion::Disgust, 1)]);
        assert_eq!(set.no_voice, vec![(Emotion::Happy, 5)]);
        let lines = set.skipped_lines().join("\n");
        assert!(lines.contains("happy (5 faces)") && lines.contains("disgust (1 clips)"));
        // Same seed, same pairs; another seed, other draws.
        assert_eq!(make_pairs(&face, &voice, 3, 11), set);
        assert_ne!(make_pairs(&face, &voice, 3, 12).pairs, set.pairs);
    }

    /// Logits putting `margin` on `class`.
    fn peaked(class: usize, margin: f32) -> Logits {
        let mut z = [0.0; NUM_CLASSES];
        z[class] = margin;
        z
    }

    #[test]
    fn weight_fit_picks_the_informative_modality() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let n = 700;
        // Face right 80 % of the time with a clear margin; voice random.
        let mut face = Vec::new();
        let mut voice = Vec::new();
        for i in 0..n {
            let e = Emotion::ALL[i % NUM_CLASSES];
            let fc = if rng.random_range(0.0..1.0) < 0.8 {
                e.index()
            } else {
                rng.random_range(0..NUM_CLASSES)
            };
            face.push((peaked(fc, 3.0), e));
            let noise: Logits = std::array::from_fn(|_| rng.random_range(-3.0f32..3.0));
            voice.push((noise, e));
        }
        let pairs: Vec<Pair> = (0..n).map(|i| (i, i)).collect();
        let cfg = FusionConfig::default();
        let (best, grid) = fit_weight(&cfg, &pairs, &face, &voice).unwrap();
        assert_eq!(grid.len(), 21);
        assert!(best.face_weight >= 0.8, "{best:?}");
        assert!(
            best.accuracy >= grid[0].accuracy + 0.4,
            "{best:?} vs {:?}",
            grid[0]
        );
        // Swap the roles: the voice is informative, the face noise.
        let swapped: Vec<Pair> = pairs.iter().map(|&(f, v)| (v, f)).collect();
        let (best, _) = fit_weight(&cfg, &swapped, &voice, &face).unwrap();
        assert!(best.face_weight <= 0.2, "{best:?}");
    }

    #[test]
    fn threshold_keeps_the_uncertain_share_under_the_cap() {
        let conf: Vec<f32> = (0..100).map(|i| 0.2 + i as f32 * 0.007).collect();
        let t = fit_threshold(&conf, 0.1);
        let below = conf.iter().filter(|&&c| c < t).count();
        assert!(below <= 10, "{t}: {below}");
        // The next step would exceed the cap.
        let next = conf.iter().filter(|&&c| c < t + THRESHOLD_STEP).count();
        assert!(next > 10, "{t}: {next}");
        assert_eq!(fit_threshold(&conf, 1.0), 1.0);
        assert_eq!(fit_threshold(&[], 0.1), 1.0);
    }

    #[test]
    fn decisions_are_the_engine_s_with_missing_modalities() {
        let engine = FusionEngine::new(FusionConfig {
            uncertain_threshold: 0.6,
            ..FusionConfig::default()
        })
        .unwrap();
        let (f, v) = (peaked(0, 4.0), peaked(3, 4.0));
        // Face only / voice only: that modality alone, with weight 1.
        let d = decide(&engine, Some(&f), None);
        assert_eq!(d.label, Outcome::Emotion(Emotion::Angry));
        assert!(d.sources.face && !d.sources.voice);
        let d = decide(&engine, None, Some(&v));
        assert_eq!(d.label, Outcome::Emotion(Emotion::Happy));
        // Neither: no decision.
        assert_eq!(decide(&engine, None, None), Decision::NO_DECISION);
        // Both, disagreeing: the weighted sum is below the threshold.
        let d = decide(&engine, Some(&f), Some(&v));
        assert_eq!(d.label, Outcome::Uncertain);
        // A fresh engine per pair: one pair does not affect the next.
        let again = decide(&engine, Some(&f), None);
        assert_eq!(again.label, Outcome::Emotion(Emotion::Angry));
    }
}
