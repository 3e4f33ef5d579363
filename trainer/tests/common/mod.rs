//! Synthetic face-like data for the trainer tests: seven classes of simple
//! 48x48 patterns (stripes, blobs, rings, ...) with noise and jitter.
#![allow(dead_code)]

pub mod files;

use emoedge_trainer::augment::AugmentConfig;
use emoedge_trainer::data::{gray_to_input, FaceData, FaceSet, Layout};
use emoedge_trainer::model::FaceNetConfig;
use emoedge_trainer::train::{TrainConfig, TrainOptions};
use rand::{Rng, SeedableRng};

/// A 48x48 grayscale pattern of class `class` (0..7).
pub fn pattern(class: usize, rng: &mut impl Rng) -> Vec<u8> {
    let n = 48usize;
    let (ox, oy) = (rng.random_range(-3i32..=3), rng.random_range(-3i32..=3));
    let mut img = vec![0u8; n * n];
    for y in 0..n {
        for x in 0..n {
            let (xf, yf) = ((x as i32 - ox) as f32, (y as i32 - oy) as f32);
            let (dx, dy) = (xf - 23.5, yf - 23.5);
            let r = (dx * dx + dy * dy).sqrt();
            let on = match class {
                0 => (yf as i32 / 6) % 2 == 0, // horizontal stripes
                1 => (xf as i32 / 6) % 2 == 0, // vertical stripes
                2 => r < 14.0,                 // disc
                3 => r > 10.0 && r < 18.0,     // ring
                4 => ((xf as i32 / 8) + (yf as i32 / 8)) % 2 == 0, // checkerboard
                5 => dx.abs() < 6.0 || dy.abs() < 6.0, // cross
                _ => yf > 24.0,                // lower half bright
            };
            let base: f32 = if on { 200.0 } else { 50.0 };
            let v = base + rng.random_range(-30.0f32..30.0);
            img[y * n + x] = v.clamp(0.0, 255.0) as u8;
        }
    }
    img
}

/// `per_class` preprocessed images of every class.
pub fn synthetic_set(per_class: usize, seed: u64) -> FaceSet {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut set = FaceSet::default();
    for i in 0..per_class {
        for class in 0..7 {
            let img = pattern(class, &mut rng);
            let px = gray_to_input(&img, 48, 48).expect("synthetic images are not blank");
            set.push(&px, class as u8, format!("synthetic:{class}:{i}"));
        }
    }
    set
}

/// Face data of `train` training and `val` validation images per class.
pub fn synthetic_data(train: usize, val: usize) -> FaceData {
    FaceData {
        train: synthetic_set(train, 1),
        val: synthetic_set(val, 2),
        skipped: Vec::new(),
        layout: Layout::ClassTree("synthetic".into()),
        val_duplicates: Vec::new(),
    }
}

/// A fast, seeded configuration of the `tiny` preset for `epochs` epochs.
pub fn tiny_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        model: FaceNetConfig::preset("tiny").expect("tiny preset"),
        epochs,
        batch_size: 16,
        lr: 5e-3,
        weight_decay: 1e-4,
        warmup_epochs: 0.5,
        patience: 100,
        augment: AugmentConfig {
            erase_prob: 0.0,
            ..AugmentConfig::default()
        },
        seed: 7,
        ..TrainConfig::default()
    }
}

/// Options of a quiet run writing to `out`, stopping after `stop_after`
/// epochs of this call (`None` = run to the end).
pub fn quiet(out: &std::path::Path, stop_after: Option<usize>) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        stop_after,
        quiet: true,
        ..TrainOptions::default()
    }
}
