//! Finding labelled speech clips by the corpora's own file naming: RAVDESS,
//! TESS, SAVEE, CREMA-D, plus generic `<class>/<files>` folders.
//!
//! | corpus | example | label | speaker |
//! |---|---|---|---|
//! | RAVDESS | `Actor_12/03-01-05-01-02-01-12.wav` | 3rd field: 01 neutral, 02 calm (→ neutral), 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised | 7th field |
//! | TESS | `OAF_angry/OAF_back_angry.wav` | last field (`ps` = pleasant surprise) | first field (`OA` → `OAF`) |
//! | SAVEE | `ALL/DC_sa07.wav` or `AudioData/DC/sa07.wav` | letters before the digits: a, d, f, h, n, sa, su | prefix or folder |
//! | CREMA-D | `AudioWAV/1001_DFA_ANG_XX.wav` | 3rd field: ANG, DIS, FEA, HAP, NEU, SAD | 1st field |
//!
//! Anything else is labelled by its parent folder's name (our labels or a
//! common synonym, any case); its speaker is unknown.

use std::path::{Path, PathBuf};

use emoedge_shared::Emotion;
use serde::{Deserialize, Serialize};

/// Where a clip comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Corpus {
    /// RAVDESS (Livingstone & Russo 2018).
    Ravdess,
    /// Toronto emotional speech set.
    Tess,
    /// Surrey Audio-Visual Expressed Emotion.
    Savee,
    /// CREMA-D.
    CremaD,
    /// Generic class folders.
    Folders,
}

impl Corpus {
    /// All corpora, in report order.
    pub const ALL: [Corpus; 5] = [
        Corpus::Ravdess,
        Corpus::Tess,
        Corpus::Savee,
        Corpus::CremaD,
        Corpus::Folders,
    ];

    /// Short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Ravdess => "ravdess",
            Corpus::Tess => "tess",
            Corpus::Savee => "savee",
            Corpus::CremaD => "crema-d",
            Corpus::Folders => "folders",
        }
    }
}

/// A labelled clip found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceFile {
    /// The audio file.
    pub path: PathBuf,
    /// Its class.
    pub label: Emotion,
    /// Its corpus.
    pub corpus: Corpus,
    /// Speaker id within the corpus (`None` for generic folders).
    pub speaker: Option<String>,
    /// What was said (TESS word, SAVEE/CREMA-D sentence, RAVDESS statement),
    /// when the name tells.
    pub utterance: Option<String>,
}

/// Corpus, label, speaker and utterance of a clip from its path, or `None`
/// when neither a corpus naming nor a class folder tells its label.
pub fn parse_path(path: &Path) -> Option<(Corpus, Emotion, Option<String>, Option<String>)> {
    let stem = path.file_stem()?.to_str()?;
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|p| p.to_str())
        .unwrap_or("");
    if let Some(r) = ravdess(stem) {
        return Some(r);
    }
    if let Some(r) = crema_d(stem) {
        return Some(r);
    }
    if let Some(r) = tess(stem) {
        return Some(r);
    }
    if let Some(r) = savee(stem, parent) {
        return Some(r);
    }
    Emotion::parse(parent).map(|e| (Corpus::Folders, e, None, None))
}

type Parsed = (Corpus, Emotion, Option<String>, Option<String>);

fn ravdess(stem: &str) -> Option<Parsed> {
    let f: Vec<&str> = stem.split('-').collect();
    if f.len() != 7
        || !f
            .iter()
            .all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let label = match f[2] {
        "01" | "02" => Emotion::Neutral,
        "03" => Emotion::Happy,
        "04" => Emotion::Sad,
        "05" => Emotion::Angry,
        "06" => Emotion::Fear,
        "07" => Emotion::Disgust,
        "08" => Emotion::Surprise,
        _ => return None,
    };
    Some((
        Corpus::Ravdess,
        label,
        Some(f[6].to_string()),
        Some(format!("statement{}", f[4])),
    ))
}

fn crema_d(stem: &str) -> Option<Parsed> {
    let f: Vec<&str> = stem.split('_').collect();
    if f.len() != 4 || f[0].len() != 4 || !f[0].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let label = match f[2] {
        "ANG" => Emotion::Angry,
        "DIS" => Emotion::Disgust,
        "FEA" => Emotion::Fear,
        "HAP" => Emotion::Happy,
        "NEU" => Emotion::Neutral,
        "SAD" => Emotion::Sad,
        _ => return None,
    };
    Some((
        Corpus::CremaD,
        label,
        Some(f[0].to_string()),
        Some(f[1].to_string()),
    ))
}

fn tess(stem: &str) -> Option<Parsed> {
    let f: Vec<&str> = stem.split('_').collect();
    if f.len() != 3 {
        return None;
    }
    let speaker = match f[0].to_ascii_uppercase().as_str() {
        "OAF" | "OA" => "OAF",
        "YAF" => "YAF",
        _ => return None,
    };
    let label = match f[2].to_ascii_lowercase().as_str() {
        "ps" => Emotion::Surprise,
        other => Emotion::parse(other)?,
    };
    Some((
        Corpus::Tess,
        label,
        Some(speaker.to_string()),
        Some(f[1].to_ascii_lowercase()),
    ))
}

fn savee_code(code: &str) -> Option<(Emotion, &str)> {
    let digits = code.find(|c: char| c.is_ascii_digit())?;
    let (letters, num) = code.split_at(digits);
    if num.len() != 2 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let label = match letters {
        "a" => Emotion::Angry,
        "d" => Emotion::Disgust,
        "f" => Emotion::Fear,
        "h" => Emotion::Happy,
        "n" => Emotion::Neutral,
        "sa" => Emotion::Sad,
        "su" => Emotion::Surprise,
        _ => return None,
    };
    Some((label, num))
}

fn is_savee_speaker(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn savee(stem: &str, parent: &str) -> Option<Parsed> {
    let (speaker, code) = match stem.split_once('_') {
        Some((spk, code)) if is_savee_speaker(spk) => (spk, code),
        Some(_) => return None,
        None if is_savee_speaker(parent) => (parent, stem),
        None => return None,
    };
    let (label, num) = savee_code(code)?;
    // Sentence numbers restart per emotion; neutral reads the others' texts.
    Some((
        Corpus::Savee,
        label,
        Some(speaker.to_string()),
        Some(format!("{}{num}", &code[..code.len() - 2])),
    ))
}

/// Audio file extensions looked at (case-insensitive).
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "ogg", "oga", "mp3"];

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every labelled audio file under `dir` (recursively, sorted by path), and
/// the audio files whose label could not be told.
pub fn scan(dir: &Path) -> std::io::Result<(Vec<VoiceFile>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut unlabelled = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_audio(&path) {
                match parse_path(&path) {
                    Some((corpus, label, speaker, utterance)) => files.push(VoiceFile {
                        path,
                        label,
                        corpus,
                        speaker,
                        utterance,
                    }),
                    None => unlabelled.push(path),
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    unlabelled.sort();
    Ok((files, unlabelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<Parsed> {
        parse_path(Path::new(s))
    }

    #[test]
    fn ravdess_names() {
        let (c, e, spk, _) = p("x/Actor_12/03-01-05-01-02-01-12.flac").unwrap();
        assert_eq!(
            (c, e, spk.as_deref()),
            (Corpus::Ravdess, Emotion::Angry, Some("12"))
        );
        assert_eq!(p("03-01-02-01-01-01-01.wav").unwrap().1, Emotion::Neutral);
        assert_eq!(p("03-01-08-02-01-01-24.wav").unwrap().1, Emotion::Surprise);
        assert_eq!(p("03-01-09-01-01-01-01.wav"), None);
    }

    #[test]
    fn tess_names() {
        let (c, e, spk, w) = p("tess/OAF_Pleasant_surprise/OAF_pad_ps.ogg").unwrap();
        assert_eq!(c, Corpus::Tess);
        assert_eq!(e, Emotion::Surprise);
        assert_eq!(spk.as_deref(), Some("OAF"));
        assert_eq!(w.as_deref(), Some("pad"));
        assert_eq!(p("OA_bite_neutral.wav").unwrap().2.as_deref(), Some("OAF"));
        assert_eq!(p("YAF_fear/YAF_chain_fear.wav").unwrap().1, Emotion::Fear);
    }

    #[test]
    fn savee_names() {
        let (c, e, spk, _) = p("savee/ALL/JE_sa07.ogg").unwrap();
        assert_eq!(
            (c, e, spk.as_deref()),
            (Corpus::Savee, Emotion::Sad, Some("JE"))
        );
        assert_eq!(p("ALL/DC_su15.wav").unwrap().1, Emotion::Surprise);
        assert_eq!(p("ALL/KL_a01.wav").unwrap().1, Emotion::Angry);
        let (c, e, spk, _) = p("AudioData/JK/n30.wav").unwrap();
        assert_eq!(
            (c, e, spk.as_deref()),
            (Corpus::Savee, Emotion::Neutral, Some("JK"))
        );
        assert_eq!(p("ALL/DC_x01.wav"), None);
    }

    #[test]
    fn crema_d_names() {
        let (c, e, spk, s) = p("AudioWAV/1001_DFA_ANG_XX.wav").unwrap();
        assert_eq!((c, e), (Corpus::CremaD, Emotion::Angry));
        assert_eq!(spk.as_deref(), Some("1001"));
        assert_eq!(s.as_deref(), Some("DFA"));
        assert_eq!(p("1091_IEO_SAD_HI.wav").unwrap().1, Emotion::Sad);
        assert_eq!(p("1091_IEO_XYZ_HI.wav"), None);
    }

    #[test]
    fn class_folders_and_unknown_names() {
        let (c, e, spk, _) = p("mine/Happiness/clip one.wav").unwrap();
        assert_eq!((c, e, spk), (Corpus::Folders, Emotion::Happy, None));
        assert_eq!(p("mine/ANGRY/a.ogg").unwrap().1, Emotion::Angry);
        assert_eq!(p("mine/music/a.ogg"), None);
    }

    #[test]
    fn scan_finds_audio_and_reports_unlabelled() {
        let dir = tempfile::tempdir().unwrap();
        let mk = |rel: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        };
        mk("Actor_01/03-01-03-01-01-01-01.wav");
        mk("sad/x.FLAC");
        mk("other/y.wav");
        mk("sad/notes.txt");
        let (files, unlabelled) = scan(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(unlabelled.len(), 1);
        assert!(unlabelled[0].ends_with("other/y.wav"));
    }
}
