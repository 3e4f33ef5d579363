//! The seven emotion classes, in the project-wide order.

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// Number of emotion classes everywhere in emoedge.
pub const NUM_CLASSES: usize = 7;

/// One emotion class. The discriminant is the class index used by every
/// model, file and probability vector in emoedge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Emotion {
    Angry = 0,
    Disgust = 1,
    Fear = 2,
    Happy = 3,
    Neutral = 4,
    Sad = 5,
    Surprise = 6,
}

impl Emotion {
    /// All classes in index order.
    pub const ALL: [Emotion; NUM_CLASSES] = [
        Emotion::Angry,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Happy,
        Emotion::Neutral,
        Emotion::Sad,
        Emotion::Surprise,
    ];

    /// Canonical lower-case names in index order.
    pub const NAMES: [&'static str; NUM_CLASSES] = [
        "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise",
    ];

    /// Class index (0..7).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Class from its index, `None` when out of range.
    pub const fn from_index(i: usize) -> Option<Emotion> {
        if i < NUM_CLASSES {
            Some(Self::ALL[i])
        } else {
            None
        }
    }

    /// Canonical lower-case name.
    pub const fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses a class name or a common synonym, case-insensitively
    /// (`Anger`, `happiness`, `SADNESS`, `fearful`, `surprised`, `disgusted`,
    /// `calm` (as neutral), `ps`/`pleasant_surprise`, ...). Surrounding
    /// whitespace is ignored.
    pub fn parse(s: &str) -> Option<Emotion> {
        const SYNONYMS: &[(&str, Emotion)] = &[
            ("angry", Emotion::Angry),
            ("anger", Emotion::Angry),
            ("ang", Emotion::Angry),
            ("mad", Emotion::Angry),
            ("disgust", Emotion::Disgust),
            ("disgusted", Emotion::Disgust),
            ("dis", Emotion::Disgust),
            ("fear", Emotion::Fear),
            ("fearful", Emotion::Fear),
            ("afraid", Emotion::Fear),
            ("scared", Emotion::Fear),
            ("fea", Emotion::Fear),
            ("happy", Emotion::Happy),
            ("happiness", Emotion::Happy),
            ("joy", Emotion::Happy),
            ("hap", Emotion::Happy),
            ("neutral", Emotion::Neutral),
            ("calm", Emotion::Neutral),
            ("neu", Emotion::Neutral),
            ("sad", Emotion::Sad),
            ("sadness", Emotion::Sad),
            ("surprise", Emotion::Surprise),
            ("surprised", Emotion::Surprise),
            ("ps", Emotion::Surprise),
            ("pleasant_surprise", Emotion::Surprise),
            ("pleasant_surprised", Emotion::Surprise),
            ("sur", Emotion::Surprise),
        ];
        let s = s.trim();
        SYNONYMS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, e)| e)
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when a string names no emotion class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownEmotion;

impl fmt::Display for UnknownEmotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown emotion name; expected one of angry, disgust, fear, happy, neutral, sad, surprise (or a synonym)")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnknownEmotion {}

impl FromStr for Emotion {
    type Err = UnknownEmotion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Emotion::parse(s).ok_or(UnknownEmotion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_the_project_order() {
        assert_eq!(
            Emotion::NAMES,
            ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
        );
        for (i, e) in Emotion::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Emotion::from_index(i), Some(*e));
            assert_eq!(Emotion::parse(e.name()), Some(*e));
        }
        assert_eq!(Emotion::from_index(7), None);
    }

    #[test]
    fn synonyms_case_insensitive() {
        assert_eq!(Emotion::parse("Anger"), Some(Emotion::Angry));
        assert_eq!(Emotion::parse("HAPPINESS"), Some(Emotion::Happy));
        assert_eq!(Emotion::parse("sadness"), Some(Emotion::Sad));
        assert_eq!(Emotion::parse("Fearful"), Some(Emotion::Fear));
        assert_eq!(Emotion::parse("surprised"), Some(Emotion::Surprise));
        assert_eq!(Emotion::parse(" disgusted "), Some(Emotion::Disgust));
        assert_eq!(Emotion::parse("calm"), Some(Emotion::Neutral));
        assert_eq!("ps".parse::<Emotion>(), Ok(Emotion::Surprise));
        assert_eq!(Emotion::parse("contempt"), None);
        assert_eq!(Emotion::parse(""), None);
    }
}
