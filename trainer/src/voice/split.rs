//! Speaker-independent validation split: a clip is held out by who speaks
//! (or, for TESS, by which word is said), never at random, so validation
//! accuracy says how the model does on people it has not heard.

use serde::{Deserialize, Serialize};

use super::corpora::{Corpus, VoiceFile};
use crate::train::mix_seed;

/// Which clips validate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// RAVDESS actors held out (numbers, e.g. 17-20).
    pub ravdess_actors: Vec<u32>,
    /// SAVEE speakers held out.
    pub savee_speakers: Vec<String>,
    /// TESS: fraction of the 200 words held out (both speakers; TESS has
    /// only two, so a speaker split would halve its training data).
    pub tess_word_fraction: f64,
    /// CREMA-D (and other corpora with speaker ids): fraction of speakers
    /// held out, chosen by a seeded hash of the speaker id.
    pub speaker_fraction: f64,
    /// Generic class folders (speaker unknown): fraction of files held out
    /// by a seeded hash of the file name; not speaker-independent.
    pub folder_fraction: f64,
    /// Seed of the hashed choices.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            ravdess_actors: vec![17, 18, 19, 20],
            savee_speakers: vec!["DC".into()],
            tess_word_fraction: 0.2,
            speaker_fraction: 0.15,
            folder_fraction: 0.15,
            seed: 7,
        }
    }
}

fn hash_unit(seed: u64, key: &str) -> f64 {
    let mut h = seed;
    for b in key.bytes() {
        h = mix_seed(h, u64::from(b));
    }
    (mix_seed(h, 0x5eed) >> 11) as f64 / (1u64 << 53) as f64
}

impl SplitConfig {
    /// True when `f` belongs to the validation split.
    pub fn is_val(&self, f: &VoiceFile) -> bool {
        let speaker = f.speaker.as_deref().unwrap_or("");
        match f.corpus {
            Corpus::Ravdess => speaker
                .parse::<u32>()
                .is_ok_and(|a| self.ravdess_actors.contains(&a)),
            Corpus::Savee => self.savee_speakers.iter().any(|s| s == speaker),
            Corpus::Tess => {
                let word = f.utterance.as_deref().unwrap_or("");
                hash_unit(self.seed, word) < self.tess_word_fraction
            }
            Corpus::CremaD => hash_unit(self.seed, speaker) < self.speaker_fraction,
            Corpus::Folders => {
                let name = f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                hash_unit(self.seed, &name) < self.folder_fraction
            }
        }
    }

    /// Splits `files` into (train, val).
    pub fn split(&self, files: Vec<VoiceFile>) -> (Vec<VoiceFile>, Vec<VoiceFile>) {
        files.into_iter().partition(|f| !self.is_val(f))
    }
}

/// Parses `17-20` or `17,18,20` into actor numbers.
pub fn parse_actors(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad actor list {s:?}: use numbers and ranges like 17-20 or 1,3,5");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::Emotion;
    use std::collections::HashSet;

    fn file(corpus: Corpus, speaker: &str, utt: &str) -> VoiceFile {
        VoiceFile {
            path: format!("{speaker}_{utt}.wav").into(),
            label: Emotion::Happy,
            corpus,
            speaker: Some(speaker.into()),
            utterance: Some(utt.into()),
        }
    }

    #[test]
    fn no_speaker_or_word_is_on_both_sides() {
        let cfg = SplitConfig::default();
        let mut files = Vec::new();
        for a in 1..=20 {
            for s in 0..4 {
                files.push(file(Corpus::Ravdess, &format!("{a:02}"), &format!("s{s}")));
            }
        }
        for spk in ["DC", "JE", "JK"] {
            files.push(file(Corpus::Savee, spk, "a01"));
        }
        for spk in ["OAF", "YAF"] {
            for w in 0..200 {
                files.push(file(Corpus::Tess, spk, &format!("w{w}")));
            }
        }
        for a in 1001..1092 {
            files.push(file(Corpus::CremaD, &a.to_string(), "IEO"));
        }
        let (train, val) = cfg.split(files);
        let key = |f: &VoiceFile| match f.corpus {
            Corpus::Tess => format!("tess:{}", f.utterance.as_deref().unwrap()),
            c => format!("{}:{}", c.name(), f.speaker.as_deref().unwrap()),
        };
        let t: HashSet<String> = train.iter().map(key).collect();
        let v: HashSet<String> = val.iter().map(key).collect();
        assert!(t.is_disjoint(&v));
        let ravdess_val: HashSet<&str> = val
            .iter()
            .filter(|f| f.corpus == Corpus::Ravdess)
            .map(|f| f.speaker.as_deref().unwrap())
            .collect();
        assert_eq!(ravdess_val, HashSet::from(["17", "18", "19", "20"]));
        let tess_val = val.iter().filter(|f| f.corpus == Corpus::Tess).count();
        assert!(
            (40..=120).contains(&tess_val),
            "{tess_val} TESS clips held out"
        );
        let crema_val = val.iter().filter(|f| f.corpus == Corpus::CremaD).count();
        assert!(
            (5..=25).contains(&crema_val),
            "{crema_val} CREMA-D actors held out"
        );
        assert!(val
            .iter()
            .any(|f| f.corpus == Corpus::Savee && f.speaker.as_deref() == Some("DC")));
    }

    #[test]
    fn actor_lists() {
        assert_eq!(parse_actors("17-20").unwrap(), vec![17, 18, 19, 20]);
        assert_eq!(parse_actors("1, 3,5-6").unwrap(), vec![1, 3, 5, 6]);
        assert!(parse_actors("x").is_err());
        assert!(parse_actors("5-2").is_err());
    }
}
