//! Face preprocessing: crop a face region (with margin) out of a grayscale
//! frame, resize it to the model's input size, normalise it.
//!
//! Both the trainer and the device call into this module, so a face crop is
//! produced by exactly the same code at training and at inference time:
//! - [`preprocess_face`] / [`preprocess_face_rotated`]: device side, a face
//!   box found by a detector in a camera frame.
//! - [`preprocess_full`]: an image that already is a face crop (FER-2013's
//!   48x48 images), resized as a whole.
//!
//! # Geometry
//!
//! Coordinates are continuous pixel coordinates: pixel `(i, j)` covers the
//! square `[i, i+1) x [j, j+1)` and its centre is `(i + 0.5, j + 0.5)`; `x`
//! grows to the right and `y` downwards. A face box is expanded by
//! [`FacePreprocessing::margin`] times its side on each side, then made
//! square (side = the longer expanded side) around its centre.
//!
//! # Sampling
//!
//! Every output pixel is inverse-mapped into the frame (so a rotation costs
//! nothing extra) and sampled bilinearly. Outside the frame the edge pixels
//! are repeated (clamp-to-edge), so a box that sticks out of the frame, or
//! lies entirely outside it, still gives a well-defined crop.
//!
//! When an output pixel covers more than 2 source pixels along an axis
//! (downscaling by more than 2x), plain bilinear sampling would skip source
//! pixels and alias (a fine texture turns into a coarse false pattern). The
//! output pixel is then area-averaged instead: its footprint is covered by
//! `ceil(scale)` bilinear samples per axis (at most
//! [`MAX_SUPERSAMPLES_PER_AXIS`]) and their mean is taken. For an integer
//! scale this is the exact box-filter (area) average of the covered pixels;
//! for other scales it is a close approximation of it. Up to 2x, bilinear
//! sampling already reads every source pixel and is used as is.
//!
//! Nothing here allocates: the caller owns the output slice.

use core::fmt;

use serde::{Deserialize, Serialize};

/// Face model preprocessing parameters, stored in every face model file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FacePreprocessing {
    /// Side of the square model input in pixels (48).
    pub crop_size: u16,
    /// Margin added around a detected face box, as a fraction of the box
    /// side on each side (0.0 = the box as is).
    pub margin: f32,
    /// Pixel normalisation: `(p / 255 - mean) / std`.
    pub mean: f32,
    /// Divisor of the normalisation (see `mean`); must be `> 0`.
    pub std: f32,
}

impl Default for FacePreprocessing {
    fn default() -> Self {
        FacePreprocessing {
            crop_size: 48,
            margin: 0.1,
            mean: 0.5,
            std: 0.25,
        }
    }
}

impl FacePreprocessing {
    /// Number of `f32` values one preprocessed face occupies
    /// (`crop_size * crop_size`).
    pub const fn output_len(&self) -> usize {
        self.crop_size as usize * self.crop_size as usize
    }

    /// Checks the parameters: `crop_size > 0`, `margin` finite and `>= 0`,
    /// `mean` finite, `std` finite and `> 0`.
    pub fn validate(&self) -> Result<(), FaceError> {
        if self.crop_size == 0 {
            return Err(FaceError::ZeroCropSize);
        }
        if !self.margin.is_finite() || self.margin < 0.0 {
            return Err(FaceError::InvalidMargin);
        }
        if !self.mean.is_finite() || !self.std.is_finite() || self.std <= 0.0 {
            return Err(FaceError::InvalidNormalisation);
        }
        Ok(())
    }

    /// Normalises one pixel value in `0.0..=255.0`: `(p / 255 - mean) / std`.
    #[inline]
    pub fn normalise(&self, p: f32) -> f32 {
        (p / 255.0 - self.mean) / self.std
    }
}

/// Most bilinear samples taken per axis and output pixel when
/// area-averaging a strong downscale. Bounds the cost for very large face
/// boxes (a scale above this is averaged slightly sparsely).
pub const MAX_SUPERSAMPLES_PER_AXIS: usize = 16;

/// Why a face could not be preprocessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FaceError {
    /// The frame has zero width or zero height.
    EmptyFrame,
    /// The row stride is smaller than the frame width.
    StrideTooSmall { stride: usize, width: usize },
    /// The pixel buffer is shorter than `(height - 1) * stride + width`.
    BufferTooShort { needed: usize, actual: usize },
    /// The output slice length is not `crop_size * crop_size`.
    OutputLength { expected: usize, actual: usize },
    /// The face box has a zero or negative width or height.
    EmptyBox,
    /// The face box (or the crop derived from it with the margin) has a
    /// NaN or infinite coordinate.
    NonFiniteBox,
    /// The rotation angle is NaN or infinite.
    NonFiniteAngle,
    /// `crop_size` is zero.
    ZeroCropSize,
    /// `margin` is negative, NaN or infinite.
    InvalidMargin,
    /// `mean` is not finite, or `std` is not finite and positive.
    InvalidNormalisation,
}

impl fmt::Display for FaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FaceError::EmptyFrame => {
                f.write_str("frame has zero width or height; pass a frame with at least one pixel")
            }
            FaceError::StrideTooSmall { stride, width } => write!(
                f,
                "row stride {stride} is smaller than the frame width {width}; the stride is the \
                 distance in bytes between row starts and must be at least the width"
            ),
            FaceError::BufferTooShort { needed, actual } => write!(
                f,
                "pixel buffer holds {actual} bytes but the frame size needs {needed} \
                 ((height - 1) * stride + width); check width, height and stride"
            ),
            FaceError::OutputLength { expected, actual } => write!(
                f,
                "output slice has {actual} values but crop_size^2 = {expected} are written; \
                 size it with FacePreprocessing::output_len()"
            ),
            FaceError::EmptyBox => f.write_str(
                "face box has zero or negative width or height; skip detections with an empty box",
            ),
            FaceError::NonFiniteBox => f.write_str(
                "face box (or the crop derived from it with the margin) is NaN or infinite; \
                 skip this detection",
            ),
            FaceError::NonFiniteAngle => f.write_str(
                "rotation angle is NaN or infinite; pass 0.0 when the eye line is unknown",
            ),
            FaceError::ZeroCropSize => {
                f.write_str("crop_size is 0; the model input side must be at least 1 pixel")
            }
            FaceError::InvalidMargin => {
                f.write_str("margin must be a finite fraction >= 0 (0.0 = the box as is)")
            }
            FaceError::InvalidNormalisation => f.write_str(
                "normalisation needs a finite mean and a finite std > 0; check the model file",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FaceError {}

/// A borrowed 8-bit grayscale frame, rows `stride` bytes apart.
#[derive(Clone, Copy, Debug)]
pub struct GrayFrame<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> GrayFrame<'a> {
    /// Wraps `data` as a `width x height` frame whose rows start `stride`
    /// bytes apart (`stride >= width`; the last row may be unpadded).
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<Self, FaceError> {
        if width == 0 || height == 0 {
            return Err(FaceError::EmptyFrame);
        }
        if stride < width {
            return Err(FaceError::StrideTooSmall { stride, width });
        }
        let needed = (height - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(width))
            .ok_or(FaceError::BufferTooShort {
                needed: usize::MAX,
                actual: data.len(),
            })?;
        if data.len() < needed {
            return Err(FaceError::BufferTooShort {
                needed,
                actual: data.len(),
            });
        }
        Ok(GrayFrame {
            data,
            width,
            height,
            stride,
        })
    }

    /// Wraps a tightly packed frame (`stride == width`).
    pub fn packed(data: &'a [u8], width: usize, height: usize) -> Result<Self, FaceError> {
        Self::new(data, width, height, width)
    }

    /// Frame width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Row stride in bytes.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `y` as `width` pixels.
    ///
    /// # Panics
    ///
    /// When `y >= height`.
    pub fn row(&self, y: usize) -> &'a [u8] {
        assert!(
            y < self.height,
            "row {y} outside a frame of height {}",
            self.height
        );
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }

    /// Pixel at `(x, y)`, `None` outside the frame.
    pub fn get(&self, x: usize, y: usize) -> Option<u8> {
        if x < self.width && y < self.height {
            self.data.get(y * self.stride + x).copied()
        } else {
            None
        }
    }

    /// Bilinear sample at pixel-index coordinates (pixel `i` centred at
    /// `i`), clamped to the edge outside the frame.
    #[inline]
    fn sample(&self, x: f32, y: f32) -> f32 {
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        // `max(0).min(max)` rather than `clamp`: never panics, and a NaN
        // (impossible after validation) would land on 0.
        let x = x.max(0.0).min(max_x);
        let y = y.max(0.0).min(max_y);
        let x0 = x as usize;
        let y0 = y as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        // In bounds: x0, x1 < width, y0, y1 < height and the buffer holds
        // (height - 1) * stride + width bytes (checked in `new`).
        let r0 = y0 * self.stride;
        let r1 = y1 * self.stride;
        let p00 = f32::from(self.data[r0 + x0]);
        let p10 = f32::from(self.data[r0 + x1]);
        let p01 = f32::from(self.data[r1 + x0]);
        let p11 = f32::from(self.data[r1 + x1]);
        let top = p00 * (1.0 - fx) + p10 * fx;
        let bottom = p01 * (1.0 - fx) + p11 * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A detected face box in frame pixels: top-left corner `(x, y)`, size
/// `w x h`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl FaceBox {
    /// A box from its top-left corner and size.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        FaceBox { x, y, w, h }
    }

    /// Checks that all coordinates are finite and the size is positive.
    pub fn validate(&self) -> Result<(), FaceError> {
        if !(self.x.is_finite() && self.y.is_finite() && self.w.is_finite() && self.h.is_finite()) {
            return Err(FaceError::NonFiniteBox);
        }
        if self.w <= 0.0 || self.h <= 0.0 {
            return Err(FaceError::EmptyBox);
        }
        Ok(())
    }

    /// The square region actually cropped: the box expanded by `margin`
    /// times its side on each side, made square around its centre.
    pub fn square_region(&self, margin: f32) -> Result<SquareRegion, FaceError> {
        self.validate()?;
        if !margin.is_finite() || margin < 0.0 {
            return Err(FaceError::InvalidMargin);
        }
        let region = SquareRegion {
            cx: self.x + self.w * 0.5,
            cy: self.y + self.h * 0.5,
            side: self.w.max(self.h) * (1.0 + 2.0 * margin),
        };
        if region.cx.is_finite() && region.cy.is_finite() && region.side.is_finite() {
            Ok(region)
        } else {
            Err(FaceError::NonFiniteBox)
        }
    }
}

/// A square crop region in frame pixels, given by its centre and side.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SquareRegion {
    /// Centre x.
    pub cx: f32,
    /// Centre y.
    pub cy: f32,
    /// Side length.
    pub side: f32,
}

/// Angle in radians of the line from the left eye to the right eye (as seen
/// in the image), in image coordinates (`x` right, `y` down): positive when
/// the right-hand eye is lower. Pass it to [`preprocess_face_rotated`] to
/// level the eyes in the crop.
pub fn eye_line_angle(left_eye: (f32, f32), right_eye: (f32, f32)) -> f32 {
    libm::atan2f(right_eye.1 - left_eye.1, right_eye.0 - left_eye.0)
}

/// Crops the face `face` out of `frame` (margin, square, clamp-to-edge),
/// resizes it to `crop_size x crop_size` and writes the normalised pixels
/// row-major into `out` (length [`FacePreprocessing::output_len`]).
pub fn preprocess_face(
    frame: &GrayFrame<'_>,
    face: FaceBox,
    pre: &FacePreprocessing,
    out: &mut [f32],
) -> Result<(), FaceError> {
    preprocess_face_rotated(frame, face, 0.0, pre, out)
}

/// Like [`preprocess_face`], with the crop rotated by `angle` radians
/// around the box centre so that a line at `angle` in the frame (see
/// [`eye_line_angle`]) comes out horizontal. `angle == 0.0` is exactly
/// [`preprocess_face`].
pub fn preprocess_face_rotated(
    frame: &GrayFrame<'_>,
    face: FaceBox,
    angle: f32,
    pre: &FacePreprocessing,
    out: &mut [f32],
) -> Result<(), FaceError> {
    pre.validate()?;
    check_output(pre, out)?;
    if !angle.is_finite() {
        return Err(FaceError::NonFiniteAngle);
    }
    let region = face.square_region(pre.margin)?;
    let scale = region.side / f32::from(pre.crop_size);
    let (sin, cos) = if angle == 0.0 {
        (0.0, 1.0)
    } else {
        (libm::sinf(angle), libm::cosf(angle))
    };
    // Output pixel (s, t) in crop units maps to
    // centre + R(angle) * ((s, t) * scale - side / 2).
    let half = region.side * 0.5;
    let map = AffineMap {
        origin: (
            region.cx + cos * -half - sin * -half,
            region.cy + sin * -half + cos * -half,
        ),
        step_x: (cos * scale, sin * scale),
        step_y: (-sin * scale, cos * scale),
    };
    resample(frame, &map, pre, out);
    Ok(())
}

/// Resizes a whole tightly packed `width x height` grayscale image (already
/// a face crop, e.g. a FER-2013 48x48 image) to `crop_size x crop_size` and
/// writes the normalised pixels row-major into `out`. A non-square image is
/// stretched to the square. The trainer uses this for every training image
/// so training and device share one preprocessing path; `margin` is not
/// applied.
pub fn preprocess_full(
    gray: &[u8],
    width: usize,
    height: usize,
    pre: &FacePreprocessing,
    out: &mut [f32],
) -> Result<(), FaceError> {
    let frame = GrayFrame::packed(gray, width, height)?;
    pre.validate()?;
    check_output(pre, out)?;
    let n = f32::from(pre.crop_size);
    let map = AffineMap {
        origin: (0.0, 0.0),
        step_x: (width as f32 / n, 0.0),
        step_y: (0.0, height as f32 / n),
    };
    resample(&frame, &map, pre, out);
    Ok(())
}

fn check_output(pre: &FacePreprocessing, out: &[f32]) -> Result<(), FaceError> {
    let expected = pre.output_len();
    if out.len() != expected {
        return Err(FaceError::OutputLength {
            expected,
            actual: out.len(),
        });
    }
    Ok(())
}

/// Maps output crop coordinates `(s, t)` (in output pixels, continuous) to
/// continuous frame coordinates `origin + s * step_x + t * step_y`.
struct AffineMap {
    origin: (f32, f32),
    step_x: (f32, f32),
    step_y: (f32, f32),
}

/// Bilinear samples per axis for an output pixel spanning `scale` source
/// pixels along that axis.
fn samples_per_axis(scale: f32) -> usize {
    if scale > 2.0 {
        // `scale` is finite here; the float-to-int cast saturates anyway.
        (libm::ceilf(scale) as usize).min(MAX_SUPERSAMPLES_PER_AXIS)
    } else {
        1
    }
}

fn resample(frame: &GrayFrame<'_>, map: &AffineMap, pre: &FacePreprocessing, out: &mut [f32]) {
    let n = usize::from(pre.crop_size);
    let len = |v: (f32, f32)| libm::sqrtf(v.0 * v.0 + v.1 * v.1);
    let nx = samples_per_axis(len(map.step_x));
    let ny = samples_per_axis(len(map.step_y));
    let inv_count = 1.0 / (nx * ny) as f32;
    for (j, row) in out.chunks_exact_mut(n).enumerate() {
        for (i, px) in row.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for sj in 0..ny {
                let t = j as f32 + (sj as f32 + 0.5) / ny as f32;
                for si in 0..nx {
                    let s = i as f32 + (si as f32 + 0.5) / nx as f32;
                    // Continuous coordinate -> pixel-index coordinate: -0.5.
                    let x = map.origin.0 + s * map.step_x.0 + t * map.step_y.0 - 0.5;
                    let y = map.origin.1 + s * map.step_x.1 + t * map.step_y.1 - 0.5;
                    acc += frame.sample(x, y);
                }
            }
            let value = if nx * ny == 1 { acc } else { acc * inv_count };
            *px = pre.normalise(value);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn pre(crop: u16, margin: f32) -> FacePreprocessing {
        FacePreprocessing {
            crop_size: crop,
            margin,
            mean: 0.5,
            std: 0.25,
        }
    }

    /// Deterministic pseudo-random bytes (LCG).
    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 24) as u8
            })
            .collect()
    }

    /// Inverse of the normalisation, for readable assertions.
    fn denorm(p: &FacePreprocessing, v: f32) -> f32 {
        (v * p.std + p.mean) * 255.0
    }

    #[test]
    fn identity_resize_is_exact() {
        let img = noise(48 * 48, 7);
        let p = pre(48, 0.1);
        let mut out = vec![0.0; p.output_len()];
        preprocess_full(&img, 48, 48, &p, &mut out).unwrap();
        for (o, &px) in out.iter().zip(&img) {
            assert_eq!(*o, (px as f32 / 255.0 - p.mean) / p.std);
        }
        // The same crop through the face path (box = whole frame, no margin).
        let frame = GrayFrame::packed(&img, 48, 48).unwrap();
        let mut out2 = vec![0.0; p.output_len()];
        preprocess_face(
            &frame,
            FaceBox::new(0.0, 0.0, 48.0, 48.0),
            &pre(48, 0.0),
            &mut out2,
        )
        .unwrap();
        assert_eq!(out, out2);
    }

    #[test]
    fn margin_and_squaring_pick_the_expected_region() {
        // 12x12 box at (10, 20), margin 0.5 -> 24x24 square at (4, 14):
        // with crop 24 that is an identity copy of that window.
        let (w, h) = (40, 50);
        let img = noise(w * h, 3);
        let frame = GrayFrame::packed(&img, w, h).unwrap();
        let p = pre(24, 0.5);
        let mut out = vec![0.0; p.output_len()];
        preprocess_face(&frame, FaceBox::new(10.0, 20.0, 12.0, 12.0), &p, &mut out).unwrap();
        for j in 0..24 {
            for i in 0..24 {
                let src = img[(14 + j) * w + 4 + i];
                assert_eq!(out[j * 24 + i], p.normalise(src as f32));
            }
        }
        // A 6 wide x 12 high box is squared to 12x12 around its centre.
        let region = FaceBox::new(13.0, 20.0, 6.0, 12.0)
            .square_region(0.0)
            .unwrap();
        assert_eq!(
            region,
            SquareRegion {
                cx: 16.0,
                cy: 26.0,
                side: 12.0
            }
        );
    }

    #[test]
    fn box_outside_frame_is_clamped_to_edge() {
        let (w, h) = (20, 20);
        let img: Vec<u8> = (0..w * h).map(|k| ((k % w) * 10 + (k / w)) as u8).collect();
        let frame = GrayFrame::packed(&img, w, h).unwrap();
        let p = pre(8, 0.0);
        let mut out = vec![0.0; p.output_len()];
        // Entirely outside, beyond the bottom-right corner.
        preprocess_face(&frame, FaceBox::new(100.0, 100.0, 10.0, 10.0), &p, &mut out).unwrap();
        let corner = p.normalise(img[(h - 1) * w + w - 1] as f32);
        assert!(out.iter().all(|&v| v == corner));
        // Half off the left edge: the off-frame columns repeat column 0.
        preprocess_face(&frame, FaceBox::new(-8.0, 4.0, 16.0, 16.0), &p, &mut out).unwrap();
        for j in 0..8 {
            let y = 4 + 2 * j; // 2x downscale samples at source row 4+2j+0.5
            let col0 = (img[y * w] as f32 + img[(y + 1) * w] as f32) / 2.0;
            for i in 0..4 {
                assert!((denorm(&p, out[j * 8 + i]) - col0).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn gradient_resampled_gives_expected_values() {
        // p(x, y) = 4x + y on 32x32: linear, so every resampling reproduces
        // the value at the output pixel centre.
        let n = 32;
        let img: Vec<u8> = (0..n * n).map(|k| (4 * (k % n) + k / n) as u8).collect();
        let g = |x: f32, y: f32| 4.0 * x + y;
        for &crop in &[16u16, 8, 64] {
            let p = pre(crop, 0.0);
            let mut out = vec![0.0; p.output_len()];
            preprocess_full(&img, n, n, &p, &mut out).unwrap();
            let scale = n as f32 / crop as f32;
            for j in 0..crop as usize {
                for i in 0..crop as usize {
                    // Source pixel-index coordinate of the output centre,
                    // clamped to the edge.
                    let sx = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, 31.0);
                    let sy = ((j as f32 + 0.5) * scale - 0.5).clamp(0.0, 31.0);
                    let got = denorm(&p, out[j * crop as usize + i]);
                    assert!(
                        (got - g(sx, sy)).abs() < 1e-3,
                        "crop {crop} ({i},{j}): {got} vs {}",
                        g(sx, sy)
                    );
                }
            }
        }
    }

    #[test]
    fn strong_downscale_area_averages() {
        // 1-pixel checkerboard of 0/255: a 4x downscale must average to
        // mid-grey; plain bilinear sampling would return 0 or 255.
        let n = 64;
        let img: Vec<u8> = (0..n * n)
            .map(|k| if (k % n + k / n) % 2 == 0 { 0 } else { 255 })
            .collect();
        let p = pre(16, 0.0);
        let mut out = vec![0.0; p.output_len()];
        preprocess_full(&img, n, n, &p, &mut out).unwrap();
        for &v in &out {
            assert!((denorm(&p, v) - 127.5).abs() < 1e-3, "{}", denorm(&p, v));
        }
        // Exact box average for an integer scale: 4x4 blocks of noise.
        let img = noise(n * n, 11);
        preprocess_full(&img, n, n, &p, &mut out).unwrap();
        for j in 0..16 {
            for i in 0..16 {
                let mut sum = 0.0;
                for y in 0..4 {
                    for x in 0..4 {
                        sum += img[(4 * j + y) * n + 4 * i + x] as f32;
                    }
                }
                assert!((denorm(&p, out[j * 16 + i]) - sum / 16.0).abs() < 1e-2);
            }
        }
    }

    #[test]
    fn rotation_levels_a_tilted_line() {
        // Intensity varies only along direction `angle`: after rotating by
        // `angle`, the crop varies only along its x axis.
        let n = 101;
        let angle = 0.4f32;
        let (s, c) = (libm::sinf(angle), libm::cosf(angle));
        let img: Vec<u8> = (0..n * n)
            .map(|k| {
                let (x, y) = ((k % n) as f32 - 50.0, (k / n) as f32 - 50.0);
                (128.0 + 2.0 * (x * c + y * s)) as u8
            })
            .collect();
        let frame = GrayFrame::packed(&img, n, n).unwrap();
        let p = pre(16, 0.0);
        let mut out = vec![0.0; p.output_len()];
        preprocess_face_rotated(
            &frame,
            FaceBox::new(34.5, 34.5, 32.0, 32.0),
            angle,
            &p,
            &mut out,
        )
        .unwrap();
        for i in 0..16 {
            let col: Vec<f32> = (0..16).map(|j| denorm(&p, out[j * 16 + i])).collect();
            let (lo, hi) = col
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(hi - lo <= 2.0, "column {i} varies by {}", hi - lo);
        }
        // And it increases left to right (by ~2 * 2 per output pixel).
        let row = |i: usize| denorm(&p, out[8 * 16 + i]);
        assert!(row(15) - row(0) > 50.0);
        // Without the rotation the columns are not constant.
        preprocess_face(&frame, FaceBox::new(34.5, 34.5, 32.0, 32.0), &p, &mut out).unwrap();
        let col0: Vec<f32> = (0..16).map(|j| denorm(&p, out[j * 16])).collect();
        assert!(col0[15] - col0[0] > 15.0);
        // eye_line_angle agrees with the convention.
        let a = eye_line_angle((10.0, 10.0), (10.0 + 10.0 * c, 10.0 + 10.0 * s));
        assert!((a - angle).abs() < 1e-5);
    }

    #[test]
    fn quarter_turn_maps_axes() {
        // p = 2x on 40x40; a +90 degree turn maps crop x to frame +y and
        // crop y to frame -x.
        let n = 40;
        let img: Vec<u8> = (0..n * n).map(|k| (2 * (k % n)) as u8).collect();
        let frame = GrayFrame::packed(&img, n, n).unwrap();
        let p = pre(20, 0.0);
        let mut out = vec![0.0; p.output_len()];
        let b = FaceBox::new(10.0, 10.0, 20.0, 20.0);
        preprocess_face_rotated(&frame, b, core::f32::consts::FRAC_PI_2, &p, &mut out).unwrap();
        for j in 0..20 {
            // Crop row j centre offset v = j + 0.5 - 10 maps to frame
            // x = 20 - v (pixel index 19.5 - v).
            let expected = 2.0 * (19.5 - (j as f32 + 0.5 - 10.0));
            for i in 0..20 {
                assert!((denorm(&p, out[j * 20 + i]) - expected).abs() < 1e-2);
            }
        }
    }

    #[test]
    fn odd_sizes() {
        let p = pre(48, 0.1);
        let mut out = vec![0.0; p.output_len()];
        // 1x1: every output is that pixel.
        preprocess_full(&[77], 1, 1, &p, &mut out).unwrap();
        assert!(out.iter().all(|&v| v == p.normalise(77.0)));
        let frame = GrayFrame::packed(&[77], 1, 1).unwrap();
        preprocess_face(&frame, FaceBox::new(0.0, 0.0, 1.0, 1.0), &p, &mut out).unwrap();
        assert!(out.iter().all(|&v| v == p.normalise(77.0)));

        // 3x7 (stretched): values stay within the image range and the
        // monotone gradient stays monotone.
        let img: Vec<u8> = (0..21)
            .map(|k| (10 * (k % 3) + 30 * (k / 3)) as u8)
            .collect();
        preprocess_full(&img, 3, 7, &p, &mut out).unwrap();
        for j in 0..48 {
            for i in 0..48 {
                let v = denorm(&p, out[j * 48 + i]);
                assert!((-1e-3..=200.0 + 1e-3).contains(&v));
                if i > 0 {
                    assert!(v >= denorm(&p, out[j * 48 + i - 1]) - 1e-3);
                }
                if j > 0 {
                    assert!(v >= denorm(&p, out[(j - 1) * 48 + i]) - 1e-3);
                }
            }
        }

        // 641x479 with a padded stride: padding bytes never leak in.
        let (w, h, stride) = (641, 479, 648);
        let mut img = vec![255u8; stride * (h - 1) + w];
        for y in 0..h {
            img[y * stride..y * stride + w].fill(9);
        }
        let frame = GrayFrame::new(&img, w, h, stride).unwrap();
        for b in [
            FaceBox::new(600.0, 440.0, 80.0, 80.0),
            FaceBox::new(0.0, 0.0, 641.0, 479.0),
            FaceBox::new(-50.0, 200.0, 33.3, 41.7),
        ] {
            preprocess_face_rotated(&frame, b, 0.3, &p, &mut out).unwrap();
            assert!(
                out.iter().all(|&v| (denorm(&p, v) - 9.0).abs() < 1e-3),
                "{b:?}"
            );
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let p = FacePreprocessing::default();
        let mut out = vec![0.0; p.output_len()];
        let img = [0u8; 100];
        assert_eq!(
            preprocess_full(&img, 0, 10, &p, &mut out),
            Err(FaceError::EmptyFrame)
        );
        assert_eq!(
            preprocess_full(&img, 11, 10, &p, &mut out),
            Err(FaceError::BufferTooShort {
                needed: 110,
                actual: 100
            })
        );
        assert_eq!(
            GrayFrame::new(&img, 10, 10, 9).unwrap_err(),
            FaceError::StrideTooSmall {
                stride: 9,
                width: 10
            }
        );
        assert_eq!(
            GrayFrame::new(&img, 10, 3, usize::MAX).unwrap_err(),
            FaceError::BufferTooShort {
                needed: usize::MAX,
                actual: 100
            }
        );
        assert_eq!(
            preprocess_full(&img, 10, 10, &p, &mut out[..10]),
            Err(FaceError::OutputLength {
                expected: 48 * 48,
                actual: 10
            })
        );
        let frame = GrayFrame::packed(&img, 10, 10).unwrap();
        let cases = [
            (FaceBox::new(1.0, 1.0, 0.0, 5.0), FaceError::EmptyBox),
            (FaceBox::new(1.0, 1.0, 5.0, -1.0), FaceError::EmptyBox),
            (
                FaceBox::new(f32::NAN, 1.0, 5.0, 5.0),
                FaceError::NonFiniteBox,
            ),
            (
                FaceBox::new(1.0, 1.0, f32::INFINITY, 5.0),
                FaceError::NonFiniteBox,
            ),
            (
                FaceBox::new(f32::MAX, 1.0, f32::MAX, 5.0),
                FaceError::NonFiniteBox,
            ),
        ];
        for (b, e) in cases {
            assert_eq!(preprocess_face(&frame, b, &p, &mut out), Err(e), "{b:?}");
        }
        let good = FaceBox::new(1.0, 1.0, 5.0, 5.0);
        assert_eq!(
            preprocess_face_rotated(&frame, good, f32::NAN, &p, &mut out),
            Err(FaceError::NonFiniteAngle)
        );
        let bad_pre = [
            (
                FacePreprocessing { crop_size: 0, ..p },
                FaceError::ZeroCropSize,
            ),
            (
                FacePreprocessing { margin: -0.1, ..p },
                FaceError::InvalidMargin,
            ),
            (
                FacePreprocessing { std: 0.0, ..p },
                FaceError::InvalidNormalisation,
            ),
            (
                FacePreprocessing {
                    mean: f32::NAN,
                    ..p
                },
                FaceError::InvalidNormalisation,
            ),
        ];
        for (bp, e) in bad_pre {
            assert_eq!(preprocess_face(&frame, good, &bp, &mut out), Err(e));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_in_range(
            x in proptest::num::f32::ANY,
            y in -1e6f32..1e6,
            w in proptest::num::f32::ANY,
            h in 0.0f32..5000.0,
            angle in -10.0f32..10.0,
            fw in 1usize..40,
            fh in 1usize..40,
            crop in 1u16..20,
        ) {
            let img = noise(fw * fh, fw as u32 * 31 + fh as u32);
            let frame = GrayFrame::packed(&img, fw, fh).unwrap();
            let p = pre(crop, 0.2);
            let mut out = vec![0.0; p.output_len()];
            if preprocess_face_rotated(&frame, FaceBox::new(x, y, w, h), angle, &p, &mut out).is_ok() {
                for &v in &out {
                    let d = denorm(&p, v);
                    proptest::prop_assert!((-1e-2..=255.0 + 1e-2).contains(&d));
                }
            }
        }
    }
}
