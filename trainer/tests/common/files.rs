//! Files for the end-to-end tests: model files, textured gray images and
//! WAV clips of pulsed tones (shared by `eval.rs` and `fusion.rs`).

use std::path::{Path, PathBuf};

use emoedge_shared::format::{self, ModelFile};
use emoedge_shared::Emotion;

/// The seven class names in label order.
pub fn labels() -> Vec<String> {
    Emotion::NAMES.iter().map(|s| s.to_string()).collect()
}

/// Encodes `file` into `dir/name`.
pub fn write_model(dir: &Path, name: &str, file: &ModelFile) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format::encode(file).expect("model encodes")).unwrap();
    path
}

/// A textured `w x h` gray image around `base` (pixel spread 40, so not blank).
pub fn textured(w: u32, h: u32, base: i32) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, y| {
        let v = base + ((x * 7 + y * 13) % 41) as i32 - 20;
        image::Luma([v.clamp(0, 255) as u8])
    })
}

/// Image brightness levels.
pub const DARK: i32 = 50;
pub const GRAY: i32 = 128;
pub const BRIGHT: i32 = 205;

/// Saves `img` at `path`, creating its folder.
pub fn save(img: &image::GrayImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

/// Writes `bytes` at `path`, creating its folder.
pub fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// 16-bit PCM WAV of `samples` (mono, copied to every channel).
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data_len = samples.len() as u32 * channels as u32 * 2;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        for _ in 0..channels {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    put(path, &b);
}

/// `seconds` of a tone at `hz` switched on and off every 200 ms over a
/// little noise, at `rate`.
pub fn pulsed_tone(hz: f32, seconds: f32, rate: u32) -> Vec<f32> {
    let mut seed = 0x2545_f491_u32;
    (0..(seconds * rate as f32) as usize)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2e-3;
            let t = i as f32 / rate as f32;
            let on = ((t / 0.2) as usize).is_multiple_of(2);
            let tone = if on {
                0.5 * (2.0 * std::f32::consts::PI * hz * t).sin()
            } else {
                0.0
            };
            tone + noise
        })
        .collect()
}

/// A low and a high tone.
pub const LOW_HZ: f32 = 300.0;
/// See [`LOW_HZ`].
pub const HIGH_HZ: f32 = 3000.0;
