//! Letterboxing a grayscale frame into the detector's square RGB input.
//!
//! The frame is scaled uniformly so that its longer side fills the input
//! (`size` pixels), centred, and the rest is padded with black (MediaPipe's
//! `keep_aspect_ratio` with a zero border). Gray is replicated to the three
//! channels, as the model expects RGB. Downscaling averages the source
//! pixels each input pixel covers (a box filter, exact fractional
//! coverage); upscaling interpolates bilinearly. Both are separable: a
//! horizontal pass per frame row, then a vertical pass.

use alloc::vec;
use alloc::vec::Vec;

use crate::face::GrayFrame;

/// The mapping between frame pixels and detector input pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Letterbox {
    /// Side of the square detector input in pixels.
    pub size: u16,
    /// Input pixels per frame pixel.
    pub scale: f32,
    /// Left and top padding in input pixels (continuous).
    pub pad_x: f32,
    pub pad_y: f32,
}

/// Memory order of the detector input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layout {
    /// `[1, 3, size, size]`: three planes.
    Nchw,
    /// `[1, size, size, 3]`: interleaved.
    Nhwc,
}

/// Source taps of one output index along one axis.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

impl Letterbox {
    /// The letterbox of a `width x height` frame into a `size x size`
    /// input (both sides non-zero).
    pub fn new(width: usize, height: usize, size: u16) -> Letterbox {
        let s = f32::from(size);
        let scale = (s / width.max(1) as f32).min(s / height.max(1) as f32);
        Letterbox {
            size,
            scale,
            pad_x: (s - width as f32 * scale) * 0.5,
            pad_y: (s - height as f32 * scale) * 0.5,
        }
    }

    /// Maps detector input coordinates (pixels, continuous) to frame
    /// coordinates.
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale)
    }

    /// Maps frame coordinates to detector input coordinates.
    pub fn to_input(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale + self.pad_x, y * self.scale + self.pad_y)
    }

    /// Number of values [`Letterbox::fill`] writes (`3 * size * size`).
    pub fn input_len(&self) -> usize {
        3 * usize::from(self.size) * usize::from(self.size)
    }

    /// Writes the letterboxed frame, normalised as `(p / 255 - mean) / std`
    /// and replicated to three channels, into `out` (length
    /// [`Letterbox::input_len`]). Padding is black (`p = 0`).
    ///
    /// # Panics
    ///
    /// When `out` has another length than [`Letterbox::input_len`].
    pub fn fill(
        &self,
        frame: &GrayFrame<'_>,
        mean: f32,
        std: f32,
        layout: Layout,
        out: &mut [f32],
    ) {
        let n = usize::from(self.size);
        assert_eq!(out.len(), 3 * n * n, "letterbox output length");
        let cols = taps(frame.width(), n, self.scale, self.pad_x);
        let rows = taps(frame.height(), n, self.scale, self.pad_y);
        // Horizontal pass over the frame rows some output row reads.
        let first = rows.iter().flatten().map(|t| t.start).min().unwrap_or(0);
        let last = rows
            .iter()
            .flatten()
            .map(|t| t.start + t.weights.len())
            .max()
            .unwrap_or(0);
        let mut tmp = vec![0f32; (last.saturating_sub(first)) * n];
        for (y, line) in (first..last).zip(tmp.chunks_exact_mut(n)) {
            let row = frame.row(y);
            for (v, t) in line.iter_mut().zip(&cols) {
                if let Some(t) = t {
                    *v = t
                        .weights
                        .iter()
                        .zip(&row[t.start..])
                        .map(|(w, &p)| w * f32::from(p))
                        .sum();
                }
            }
        }
        let inv = 1.0 / (255.0 * std);
        let offset = mean / std;
        let pad = -offset;
        let plane = n * n;
        for (j, rt) in rows.iter().enumerate() {
            for (i, ct) in cols.iter().enumerate() {
                let value = match (rt, ct) {
                    (Some(rt), Some(_)) => {
                        let mut acc = 0.0f32;
                        for (k, w) in rt.weights.iter().enumerate() {
                            acc += w * tmp[(rt.start + k - first) * n + i];
                        }
                        acc * inv - offset
                    }
                    _ => pad,
                };
                match layout {
                    Layout::Nchw => {
                        let at = j * n + i;
                        out[at] = value;
                        out[plane + at] = value;
                        out[2 * plane + at] = value;
                    }
                    Layout::Nhwc => {
                        let at = (j * n + i) * 3;
                        out[at..at + 3].fill(value);
                    }
                }
            }
        }
    }
}

/// Taps of every output index `0..n` along an axis of `len` source pixels
/// placed at `pad + i * scale`; `None` where the output pixel's centre lies
/// outside the source (padding).
fn taps(len: usize, n: usize, scale: f32, pad: f32) -> Vec<Option<Taps>> {
    let lenf = len as f32;
    (0..n)
        .map(|u| {
            let a = (u as f32 - pad) / scale;
            let b = (u as f32 + 1.0 - pad) / scale;
            let centre = (a + b) * 0.5;
            if !(0.0..lenf).contains(&centre) {
                return None;
            }
            if b - a > 1.0 {
                // Box filter: fractional coverage of each source pixel.
                let start = libm::floorf(a.max(0.0)) as usize;
                let end = (libm::ceilf(b.min(lenf)) as usize).clamp(start + 1, len);
                let mut weights: Vec<f32> = (start..end)
                    .map(|i| (b.min(i as f32 + 1.0) - a.max(i as f32)).max(0.0))
                    .collect();
                let total: f32 = weights.iter().sum();
                weights.iter_mut().for_each(|w| *w /= total);
                Some(Taps { start, weights })
            } else {
                // Bilinear at the centre, pixel-index coordinates, clamped.
                let x = (centre - 0.5).clamp(0.0, lenf - 1.0);
                let x0 = x as usize;
                let x1 = (x0 + 1).min(len - 1);
                let f = x - x0 as f32;
                if x1 == x0 || f == 0.0 {
                    Some(Taps {
                        start: x0,
                        weights: vec![1.0],
                    })
                } else {
                    Some(Taps {
                        start: x0,
                        weights: vec![1.0 - f, f],
                    })
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_of_a_landscape_frame() {
        let lb = Letterbox::new(320, 240, 128);
        assert!((lb.scale - 0.4).abs() < 1e-6);
        assert_eq!(lb.pad_x, 0.0);
        assert!((lb.pad_y - 16.0).abs() < 1e-5);
        let (x, y) = lb.to_frame(64.0, 64.0);
        assert!((x - 160.0).abs() < 1e-4 && (y - 120.0).abs() < 1e-4);
        let (u, v) = lb.to_input(x, y);
        assert!((u - 64.0).abs() < 1e-4 && (v - 64.0).abs() < 1e-4);
    }

    #[test]
    fn uniform_frame_pads_black_and_replicates_gray() {
        let data = vec![200u8; 320 * 240];
        let frame = GrayFrame::packed(&data, 320, 240).unwrap();
        let lb = Letterbox::new(320, 240, 128);
        let mut out = vec![0f32; lb.input_len()];
        lb.fill(&frame, 0.5, 0.5, Layout::Nchw, &mut out);
        let inside = (200.0 / 255.0 - 0.5) / 0.5;
        let plane = 128 * 128;
        for c in 0..3 {
            // Rows 0..16 and 112..128 are padding, the rest the frame.
            assert_eq!(out[c * plane + 5 * 128 + 7], -1.0);
            assert_eq!(out[c * plane + 120 * 128 + 100], -1.0);
            assert!((out[c * plane + 64 * 128 + 64] - inside).abs() < 1e-5);
            assert!((out[c * plane + 16 * 128] - inside).abs() < 1e-5);
        }
        let mut nhwc = vec![0f32; lb.input_len()];
        lb.fill(&frame, 0.5, 0.5, Layout::Nhwc, &mut nhwc);
        for j in 0..128 {
            for i in 0..128 {
                for c in 0..3 {
                    assert_eq!(nhwc[(j * 128 + i) * 3 + c], out[c * plane + j * 128 + i]);
                }
            }
        }
    }

    #[test]
    fn downscaling_averages_the_covered_pixels() {
        // 256 x 256 checkerboard of 2x2 cells -> 64: every input pixel
        // covers two black and two white cells: mean gray.
        let data: Vec<u8> = (0..256 * 256)
            .map(|i| {
                if (i % 256 / 2 + i / 256 / 2) % 2 == 0 {
                    0
                } else {
                    255
                }
            })
            .collect();
        let frame = GrayFrame::packed(&data, 256, 256).unwrap();
        let lb = Letterbox::new(256, 256, 64);
        let mut out = vec![0f32; lb.input_len()];
        lb.fill(&frame, 0.0, 1.0, Layout::Nchw, &mut out);
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-5));
    }

    #[test]
    fn upscaling_interpolates_and_keeps_a_small_frame_centred() {
        // 64 x 32 horizontal ramp -> 128: scale 2, 32 rows of padding above.
        let data: Vec<u8> = (0..64 * 32).map(|i| (i % 64 * 4) as u8).collect();
        let frame = GrayFrame::packed(&data, 64, 32).unwrap();
        let lb = Letterbox::new(64, 32, 128);
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (2.0, 0.0, 32.0));
        let mut out = vec![0f32; lb.input_len()];
        lb.fill(&frame, 0.0, 1.0 / 255.0, Layout::Nchw, &mut out);
        assert_eq!(out[31 * 128 + 10], 0.0);
        // Output column 11 centre = source 5.75 - 0.5 = 5.25: 21.0 gray.
        assert!((out[40 * 128 + 11] - 21.0).abs() < 1e-3);
        assert!((out[95 * 128 + 127] - 252.0).abs() < 1e-3);
    }
}
