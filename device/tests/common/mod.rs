//! Fixtures shared by the loop tests: small generated models (never the
//! shipped ones), a board profile pointing at them, replay frames and a
//! speech clip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use emoedge_shared::format::sample::tiny_classifier;
use emoedge_shared::format::{encode, Bias, ModelFile, ModelKind, Op, Weights};
use emoedge_shared::Emotion;

/// The tiny sample classifier with its last layer replaced so it always
/// answers `emotion` (logit 8 against 0: p ~ 0.998), whatever the input.
pub fn biased_model(kind: ModelKind, emotion: Emotion) -> ModelFile {
    let mut m = tiny_classifier(kind, 7);
    let fc = m
        .graph
        .nodes
        .iter_mut()
        .find(|n| n.name == "fc")
        .expect("the sample model has an fc layer");
    let Op::Dense(d) = &mut fc.op else {
        panic!("fc is a dense layer")
    };
    if let Weights::F32(w) = &mut d.weight.values {
        w.iter_mut().for_each(|v| *v = 0.0);
    }
    let mut bias = vec![0.0; 7];
    bias[emotion.index()] = 8.0;
    d.bias = Some(Bias::F32(bias));
    m.header.name = format!("always-{}", emotion.name());
    m
}

/// Writes a model file.
pub fn write_model(path: &Path, m: &ModelFile) {
    std::fs::write(path, encode(m).unwrap()).unwrap();
}

/// `root/boards/host.toml` (a copy of the shipped host profile, so its
/// `../models` is `root/models`) and `root/models/` with a face model that
/// always says happy and, with `voice`, a voice model that always says
/// surprise. No detector: the centre-square fallback.
pub fn board(root: &Path, voice: bool) -> PathBuf {
    let boards = root.join("boards");
    let models = root.join("models");
    std::fs::create_dir_all(&boards).unwrap();
    std::fs::create_dir_all(&models).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/host.toml");
    let profile = boards.join("host.toml");
    std::fs::copy(shipped, &profile).unwrap();
    write_model(
        &models.join("face.emo"),
        &biased_model(ModelKind::FaceClassifier, Emotion::Happy),
    );
    if voice {
        write_model(
            &models.join("voice.emo"),
            &biased_model(ModelKind::VoiceClassifier, Emotion::Surprise),
        );
    }
    profile
}

/// A 96x72 frame: textured (a "face" for the centre-square finder) or
/// flat (nobody).
pub fn frame_image(face: bool, n: u32) -> image::GrayImage {
    image::GrayImage::from_fn(96, 72, |x, y| {
        if face {
            image::Luma([((x * 7 + y * 13 + n * 3) % 200) as u8 + 20])
        } else {
            image::Luma([120])
        }
    })
}

/// Writes `pattern.len()` PNG frames into `dir` (`true`: a face).
pub fn write_frames(dir: &Path, pattern: &[bool]) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, &face) in pattern.iter().enumerate() {
        frame_image(face, n as u32)
            .save(dir.join(format!("frame{n:03}.png")))
            .unwrap();
    }
}

/// The espeak-ng speech fixture of the shared crate (16 kHz, 4.46 s).
pub fn speech_samples() -> Vec<i16> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/speech_16k.wav");
    let mut r = hound::WavReader::open(path).unwrap();
    r.samples::<i16>().map(|s| s.unwrap()).collect()
}

/// Writes a 16 kHz mono WAV: `before` s of silence, the speech fixture,
/// `after` s of silence.
pub fn write_speech(path: &Path, before: f32, after: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let silence = |s: f32| vec![0i16; (s * 16_000.0) as usize];
    for s in silence(before)
        .into_iter()
        .chain(speech_samples())
        .chain(silence(after))
    {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// The JSON objects of a log file.
pub fn read_log(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "the log ends with a whole line");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The records of one type.
pub fn of_type<'a>(log: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    log.iter().filter(|r| r["type"] == t).collect()
}
