//! On-the-fly augmentation of normalised 48x48 faces.
//!
//! Random affine (rotation, scale, shift; bilinear, edge-replicating),
//! horizontal flip, brightness/contrast and random erasing. Works on the
//! normalised pixels so it runs after the shared preprocessing.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::FACE_SIZE;

/// Augmentation strengths. All zero = identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    pub flip_prob: f32,
    /// Largest rotation in degrees (uniform in ±).
    pub max_rotation_deg: f32,
    /// Largest relative zoom change (uniform scale in `1 ± max_scale`).
    pub max_scale: f32,
    /// Largest shift in pixels along each axis.
    pub max_shift: f32,
    /// Largest brightness offset, in units of the normalised pixel scale.
    pub max_brightness: f32,
    /// Largest relative contrast change (factor in `1 ± max_contrast`).
    pub max_contrast: f32,
    /// Probability of erasing one random rectangle.
    pub erase_prob: f32,
    /// Largest erased area as a fraction of the image.
    pub erase_max_area: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            flip_prob: 0.5,
            max_rotation_deg: 10.0,
            max_scale: 0.1,
            max_shift: 4.0,
            // 0.1 of the 0..1 range, with std 0.25.
            max_brightness: 0.4,
            max_contrast: 0.25,
            erase_prob: 0.3,
            erase_max_area: 0.15,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        AugmentConfig {
            flip_prob: 0.0,
            max_rotation_deg: 0.0,
            max_scale: 0.0,
            max_shift: 0.0,
            max_brightness: 0.0,
            max_contrast: 0.0,
            erase_prob: 0.0,
            erase_max_area: 0.0,
        }
    }
}

fn sym<R: Rng>(rng: &mut R, max: f32) -> f32 {
    if max > 0.0 {
        rng.random_range(-max..=max)
    } else {
        0.0
    }
}

/// Writes an augmented copy of the `FACE_SIZE`² image `src` into `dst`.
pub fn augment<R: Rng>(src: &[f32], dst: &mut [f32], cfg: &AugmentConfig, rng: &mut R) {
    let n = FACE_SIZE;
    debug_assert_eq!(src.len(), n * n);
    debug_assert_eq!(dst.len(), n * n);
    let flip = cfg.flip_prob > 0.0 && rng.random::<f32>() < cfg.flip_prob;
    let angle = sym(rng, cfg.max_rotation_deg).to_radians();
    let scale = 1.0 + sym(rng, cfg.max_scale);
    let (dx, dy) = (sym(rng, cfg.max_shift), sym(rng, cfg.max_shift));
    let contrast = 1.0 + sym(rng, cfg.max_contrast);
    let brightness = sym(rng, cfg.max_brightness);

    // Inverse map: destination pixel -> source position, about the centre.
    let c = (n as f32 - 1.0) * 0.5;
    let (sin, cos) = angle.sin_cos();
    let inv = 1.0 / scale;
    let identity = angle == 0.0 && scale == 1.0 && dx == 0.0 && dy == 0.0;
    let max = (n - 1) as f32;
    for y in 0..n {
        for x in 0..n {
            let xo = if flip { n - 1 - x } else { x };
            let v = if identity {
                src[y * n + xo]
            } else {
                let u = xo as f32 - c - dx;
                let w = y as f32 - c - dy;
                let sx = (cos * u + sin * w) * inv + c;
                let sy = (-sin * u + cos * w) * inv + c;
                bilinear(src, n, sx.clamp(0.0, max), sy.clamp(0.0, max))
            };
            dst[y * n + x] = v * contrast + brightness;
        }
    }

    if cfg.erase_prob > 0.0 && rng.random::<f32>() < cfg.erase_prob {
        let area = rng.random_range(0.02..=cfg.erase_max_area.max(0.02)) * (n * n) as f32;
        let aspect = rng.random_range(0.5f32..2.0);
        let h = ((area * aspect).sqrt().round() as usize).clamp(1, n);
        let w = ((area / aspect).sqrt().round() as usize).clamp(1, n);
        let y0 = rng.random_range(0..=n - h);
        let x0 = rng.random_range(0..=n - w);
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                dst[y * n + x] = rng.random_range(-2.0f32..2.0);
            }
        }
    }
}

fn bilinear(src: &[f32], n: usize, x: f32, y: f32) -> f32 {
    let x0 = x.floor() as usize;
    let y0 = y.floor() as usize;
    let x1 = (x0 + 1).min(n - 1);
    let y1 = (y0 + 1).min(n - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let top = src[y0 * n + x0] * (1.0 - fx) + src[y0 * n + x1] * fx;
    let bottom = src[y1 * n + x0] * (1.0 - fx) + src[y1 * n + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn no_augmentation_is_identity() {
        let src: Vec<f32> = (0..FACE_SIZE * FACE_SIZE)
            .map(|i| i as f32 * 0.01)
            .collect();
        let mut dst = vec![0.0; src.len()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        augment(&src, &mut dst, &AugmentConfig::none(), &mut rng);
        assert_eq!(src, dst);
    }

    #[test]
    fn flip_mirrors_rows() {
        let src: Vec<f32> = (0..FACE_SIZE * FACE_SIZE)
            .map(|i| (i % FACE_SIZE) as f32)
            .collect();
        let mut dst = vec![0.0; src.len()];
        let cfg = AugmentConfig {
            flip_prob: 1.0,
            ..AugmentConfig::none()
        };
        augment(
            &src,
            &mut dst,
            &cfg,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        assert_eq!(dst[0], (FACE_SIZE - 1) as f32);
        assert_eq!(dst[FACE_SIZE - 1], 0.0);
    }

    #[test]
    fn default_augmentation_stays_finite_and_changes_image() {
        let src: Vec<f32> = (0..FACE_SIZE * FACE_SIZE)
            .map(|i| ((i * 7) % 13) as f32 - 6.0)
            .collect();
        let mut dst = vec![0.0; src.len()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        augment(&src, &mut dst, &AugmentConfig::default(), &mut rng);
        assert!(dst.iter().all(|v| v.is_finite()));
        assert_ne!(src, dst);
    }
}
