//! Face expression on full frames: face detection first, then the
//! expression model on the best face.
//!
//! - [`best_face_input`]: detection on a whole image, crop of the
//!   highest-scoring face (margin, optional eye-line alignment) into the
//!   face model's input; `None` when no face is found.
//! - [`compose`]: builds a labelled full-frame test set from face crops
//!   (e.g. FER-2013's 48x48 validation images): each face is pasted,
//!   resized, into a larger frame at a random place over a procedural or
//!   photographic background. Generated when needed, never committed.
//! - [`sweep`]: detection rate, localisation and expression accuracy on
//!   such a set for several crop margins, with and without alignment,
//!   against the accuracy on the original crops.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use emoedge_shared::detect::{crop_face, iou, FaceDetector};
use emoedge_shared::face::{preprocess_full, FaceBox, FacePreprocessing, GrayFrame};
use emoedge_shared::format::{ModelKind, Preprocessing};
use emoedge_shared::io::{load_gray, GrayImage};
use emoedge_shared::runtime::Model;
use emoedge_shared::{Emotion, NUM_CLASSES};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::data::class_tree_files;

/// Detects the faces of `img` and crops the best (highest-score) one into
/// the face model input of `pre` (margin `pre.margin`; eye line levelled
/// when `align`). `None` when no face is detected.
pub fn best_face_input(
    detector: &FaceDetector,
    img: &GrayImage,
    pre: &FacePreprocessing,
    align: bool,
) -> Result<Option<Vec<f32>>> {
    let frame = GrayFrame::packed(&img.pixels, img.width as usize, img.height as usize)?;
    let faces = detector.detect(&frame)?;
    let Some(best) = faces.first() else {
        return Ok(None);
    };
    let mut out = vec![0f32; pre.output_len()];
    crop_face(&frame, best, pre, align, &mut out)?;
    Ok(Some(out))
}

/// Options of [`compose`].
#[derive(Clone, Debug)]
pub struct ComposeOptions {
    /// Images taken per class (the first ones after a seeded shuffle).
    pub per_class: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Frame sizes, picked at random per image.
    pub frame_sizes: Vec<(u32, u32)>,
    /// Face side as a fraction of the frame height, picked uniformly.
    pub face_fraction: (f32, f32),
    /// Background photos (any size, cropped and rescaled at random);
    /// procedural backgrounds when empty.
    pub backgrounds: Vec<PathBuf>,
}

impl Default for ComposeOptions {
    fn default() -> Self {
        ComposeOptions {
            per_class: 40,
            seed: 7,
            frame_sizes: vec![(320, 240), (640, 480)],
            face_fraction: (0.2, 0.6),
            backgrounds: Vec::new(),
        }
    }
}

/// One composed frame: where the face went and where it came from.
#[derive(Clone, Debug)]
pub struct Composed {
    pub file: PathBuf,
    pub source: PathBuf,
    pub label: u8,
    /// The pasted face's square, in frame pixels.
    pub face: FaceBox,
}

/// Name of the index [`compose`] writes beside the class folders.
pub const INDEX_FILE: &str = "frames.csv";

/// Writes `out/<class>/<n>.png` frames with one pasted face each, and
/// `out/frames.csv` (`file,source,label,x,y,side`).
pub fn compose(src: &Path, out: &Path, opts: &ComposeOptions) -> Result<Vec<Composed>> {
    ensure!(!opts.frame_sizes.is_empty(), "no frame size");
    let files = class_tree_files(src)?;
    ensure!(
        !files.is_empty(),
        "no class folders with images in {}",
        src.display()
    );
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let backgrounds: Vec<GrayImage> = opts
        .backgrounds
        .iter()
        .map(|p| load_gray(p).with_context(|| format!("background {}", p.display())))
        .collect::<Result<_>>()?;
    let mut done = Vec::new();
    for class in 0..NUM_CLASSES as u8 {
        let mut of_class: Vec<&PathBuf> = files
            .iter()
            .filter(|f| f.label == class)
            .map(|f| &f.path)
            .collect();
        of_class.shuffle(&mut rng);
        let name = Emotion::ALL[class as usize].name();
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut n = 0;
        for path in of_class {
            if n == opts.per_class {
                break;
            }
            let face = load_gray(path)?;
            if crate::data::is_blank(&face.pixels) {
                continue;
            }
            let (w, h) = opts.frame_sizes[rng.random_range(0..opts.frame_sizes.len())];
            let mut frame = if backgrounds.is_empty() {
                procedural_background(w, h, &mut rng)
            } else {
                let bg = &backgrounds[rng.random_range(0..backgrounds.len())];
                photo_background(bg, w, h, &mut rng)
            };
            let frac = rng.random_range(opts.face_fraction.0..=opts.face_fraction.1);
            let side = ((h as f32 * frac).round() as u32).clamp(8, w.min(h));
            let x = rng.random_range(0..=w - side);
            let y = rng.random_range(0..=h - side);
            paste(&mut frame, &face, x, y, side);
            let file = dir.join(format!("{n:04}.png"));
            image::GrayImage::from_raw(w, h, frame.pixels)
                .context("frame buffer")?
                .save(&file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            done.push(Composed {
                file,
                source: path.clone(),
                label: class,
                face: FaceBox::new(x as f32, y as f32, side as f32, side as f32),
            });
            n += 1;
        }
    }
    let mut csv = String::from("file,source,label,x,y,side\n");
    for c in &done {
        writeln!(
            csv,
            "{},{},{},{},{},{}",
            c.file.strip_prefix(out).unwrap_or(&c.file).display(),
            c.source.display(),
            c.label,
            c.face.x,
            c.face.y,
            c.face.w
        )?;
    }
    std::fs::write(out.join(INDEX_FILE), csv)?;
    Ok(done)
}

/// Reads the index written by [`compose`].
pub fn read_index(dir: &Path) -> Result<Vec<Composed>> {
    let path = dir.join(INDEX_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (made by `emoedge-train detect compose`)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            bail!("{}:{}: expected 6 fields", path.display(), i + 1);
        }
        let num = |s: &str| {
            s.parse::<f32>()
                .with_context(|| format!("{}:{}", path.display(), i + 1))
        };
        out.push(Composed {
            file: dir.join(f[0]),
            source: PathBuf::from(f[1]),
            label: f[2].parse()?,
            face: FaceBox::new(num(f[3])?, num(f[4])?, num(f[5])?, num(f[5])?),
        });
    }
    Ok(out)
}

/// Smooth random background: a gradient, a few low-frequency waves and
/// some flat shapes (furniture-like clutter).
fn procedural_background(w: u32, h: u32, rng: &mut StdRng) -> GrayImage {
    let base = rng.random_range(40.0..200.0f32);
    let gx = rng.random_range(-60.0..60.0f32) / w as f32;
    let gy = rng.random_range(-60.0..60.0f32) / h as f32;
    let waves: Vec<(f32, f32, f32, f32)> = (0..3)
        .map(|_| {
            (
                rng.random_range(0.005..0.05f32),
                rng.random_range(0.005..0.05f32),
                rng.random_range(0.0..6.3f32),
                rng.random_range(5.0..25.0f32),
            )
        })
        .collect();
    let mut px = vec![0u8; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let mut v = base + gx * xf + gy * yf;
            for &(fx, fy, ph, a) in &waves {
                v += a * (fx * xf + fy * yf + ph).sin();
            }
            px[(y * w + x) as usize] = v.clamp(0.0, 255.0) as u8;
        }
    }
    for _ in 0..rng.random_range(0..5) {
        let rw = rng.random_range(10..w / 2);
        let rh = rng.random_range(10..h / 2);
        let rx = rng.random_range(0..w - rw);
        let ry = rng.random_range(0..h - rh);
        let v: u8 = rng.random();
        for y in ry..ry + rh {
            px[(y * w + rx) as usize..(y * w + rx + rw) as usize].fill(v);
        }
    }
    GrayImage {
        width: w,
        height: h,
        pixels: px,
    }
}

/// A random crop of `bg` with the frame's aspect ratio, rescaled to `w x h`.
fn photo_background(bg: &GrayImage, w: u32, h: u32, rng: &mut StdRng) -> GrayImage {
    let aspect = w as f32 / h as f32;
    let max_h = (bg.height as f32).min(bg.width as f32 / aspect);
    let ch = rng.random_range(0.5 * max_h..=max_h);
    let cw = ch * aspect;
    let cx = rng.random_range(0.0..=(bg.width as f32 - cw).max(0.0));
    let cy = rng.random_range(0.0..=(bg.height as f32 - ch).max(0.0));
    let mut px = vec![0u8; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let sx = (cx + (x as f32 + 0.5) * cw / w as f32) as u32;
            let sy = (cy + (y as f32 + 0.5) * ch / h as f32) as u32;
            px[(y * w + x) as usize] = bg
                .get(sx.min(bg.width - 1), sy.min(bg.height - 1))
                .unwrap_or(0);
        }
    }
    GrayImage {
        width: w,
        height: h,
        pixels: px,
    }
}

/// Pastes `face` resized (bilinear) to `side x side` at `(x, y)`.
fn paste(frame: &mut GrayImage, face: &GrayImage, x: u32, y: u32, side: u32) {
    let sample = |fx: f32, fy: f32| -> f32 {
        let fx = fx.clamp(0.0, (face.width - 1) as f32);
        let fy = fy.clamp(0.0, (face.height - 1) as f32);
        let (x0, y0) = (fx as u32, fy as u32);
        let (x1, y1) = ((x0 + 1).min(face.width - 1), (y0 + 1).min(face.height - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let p = |x, y| f32::from(face.get(x, y).unwrap_or(0));
        let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
        let bottom = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
        top * (1.0 - ay) + bottom * ay
    };
    for j in 0..side {
        for i in 0..side {
            let fx = (i as f32 + 0.5) * face.width as f32 / side as f32 - 0.5;
            let fy = (j as f32 + 0.5) * face.height as f32 / side as f32 - 0.5;
            let at = ((y + j) * frame.width + x + i) as usize;
            frame.pixels[at] = sample(fx, fy).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Results of [`sweep`] for one crop setting.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SweepRow {
    pub margin: f32,
    pub align: bool,
    /// Correct over all frames (a frame without a face counts wrong).
    pub accuracy: f64,
    /// Correct over the frames with a face.
    pub accuracy_detected: f64,
}

/// Everything [`sweep`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SweepReport {
    pub frames: usize,
    /// Fraction of frames with at least one face.
    pub detected: f64,
    /// Detection rate by face size (pasted side / frame height): bins
    /// `[lo, hi)`, frames in the bin, fraction detected.
    pub detected_by_size: Vec<(f32, f32, usize, f64)>,
    /// Fraction of frames whose best face overlaps the pasted face with IoU >= 0.5.
    pub localised: f64,
    /// Mean IoU of the best face with the pasted face (frames with a face).
    pub mean_iou: f64,
    /// Over the localised frames, the mean detected box relative to the
    /// pasted crop: width and height ratios, centre offset in crop sides
    /// (positive = right of / below the crop centre).
    pub box_ratio: (f64, f64),
    pub centre_offset: (f64, f64),
    /// Expression accuracy on the original crops of the same images.
    pub crop_accuracy: f64,
    /// The same, over the frames with a detected face only.
    pub crop_accuracy_detected: f64,
    pub rows: Vec<SweepRow>,
}

/// Runs detection on every frame of a [`compose`]d set and the face model
/// on the best face for every margin, with and without eye-line alignment;
/// also the face model on the original crops.
pub fn sweep(model: &Path, detector: &Path, data: &Path, margins: &[f32]) -> Result<SweepReport> {
    let face = Model::load_kind(model, ModelKind::FaceClassifier)?;
    let Preprocessing::Face(pre) = face.header().preprocessing.clone() else {
        bail!("the face model has no face preprocessing parameters");
    };
    let det = FaceDetector::load(detector)?;
    let frames = read_index(data)?;
    ensure!(!frames.is_empty(), "no frames in {}", data.display());
    let predict = |x: &[f32]| -> Result<usize> {
        let logits = face.run(x)?;
        Ok(logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i))
    };
    let settings: Vec<(f32, bool)> = margins
        .iter()
        .flat_map(|&m| [(m, false), (m, true)])
        .collect();
    let mut correct = vec![0usize; settings.len()];
    let (mut detected, mut localised, mut iou_sum, mut crop_correct) =
        (0usize, 0usize, 0f64, 0usize);
    let (mut ratio, mut offset) = ((0f64, 0f64), (0f64, 0f64));
    let mut crop_detected_correct = 0usize;
    const BINS: [f32; 6] = [0.0, 0.2, 0.3, 0.4, 0.5, 1.01];
    let mut by_size = [(0usize, 0usize); 5];
    for f in &frames {
        let src = load_gray(&f.source)?;
        let mut x = vec![0f32; pre.output_len()];
        preprocess_full(
            &src.pixels,
            src.width as usize,
            src.height as usize,
            &pre,
            &mut x,
        )?;
        let crop_ok = usize::from(predict(&x)? == f.label as usize);
        crop_correct += crop_ok;
        let img = load_gray(&f.file)?;
        let frame = GrayFrame::packed(&img.pixels, img.width as usize, img.height as usize)?;
        let faces = det.detect(&frame)?;
        let frac = f.face.h / img.height as f32;
        let bin = BINS
            .windows(2)
            .position(|b| frac >= b[0] && frac < b[1])
            .unwrap_or(4);
        by_size[bin].0 += 1;
        let Some(best) = faces.first() else { continue };
        by_size[bin].1 += 1;
        detected += 1;
        crop_detected_correct += crop_ok;
        let v = iou(&best.bbox, &f.face);
        iou_sum += f64::from(v);
        if v >= 0.5 {
            localised += 1;
            let (b, g) = (best.bbox, f.face);
            ratio.0 += f64::from(b.w / g.w);
            ratio.1 += f64::from(b.h / g.h);
            offset.0 += f64::from((b.x + b.w / 2.0 - g.x - g.w / 2.0) / g.w);
            offset.1 += f64::from((b.y + b.h / 2.0 - g.y - g.h / 2.0) / g.h);
        }
        for (k, &(margin, align)) in settings.iter().enumerate() {
            let p = FacePreprocessing { margin, ..pre };
            crop_face(&frame, best, &p, align, &mut x)?;
            correct[k] += usize::from(predict(&x)? == f.label as usize);
        }
    }
    let n = frames.len() as f64;
    Ok(SweepReport {
        frames: frames.len(),
        detected: detected as f64 / n,
        detected_by_size: by_size
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 > 0)
            .map(|(i, b)| (BINS[i], BINS[i + 1].min(1.0), b.0, b.1 as f64 / b.0 as f64))
            .collect(),
        localised: localised as f64 / n,
        mean_iou: if detected > 0 {
            iou_sum / detected as f64
        } else {
            0.0
        },
        box_ratio: (
            ratio.0 / localised.max(1) as f64,
            ratio.1 / localised.max(1) as f64,
        ),
        centre_offset: (
            offset.0 / localised.max(1) as f64,
            offset.1 / localised.max(1) as f64,
        ),
        crop_accuracy: crop_correct as f64 / n,
        crop_accuracy_detected: crop_detected_correct as f64 / detected.max(1) as f64,
        rows: settings
            .iter()
            .zip(&correct)
            .map(|(&(margin, align), &c)| SweepRow {
                margin,
                align,
                accuracy: c as f64 / n,
                accuracy_detected: if detected > 0 {
                    c as f64 / detected as f64
                } else {
                    0.0
                },
            })
            .collect(),
    })
}

/// The report as a text table.
pub fn sweep_table(r: &SweepReport) -> String {
    let mut s = format!(
        "{} frames: face detected in {:.1} %, localised (IoU >= 0.5) in {:.1} %, mean IoU {:.3}\ndetected box / pasted crop: width x{:.2}, height x{:.2}, centre offset ({:+.3}, {:+.3}) crop sides\nexpression accuracy on the original crops: {:.1} % (all), {:.1} % (frames with a face)\n",
        r.frames,
        100.0 * r.detected,
        100.0 * r.localised,
        r.mean_iou,
        r.box_ratio.0,
        r.box_ratio.1,
        r.centre_offset.0,
        r.centre_offset.1,
        100.0 * r.crop_accuracy,
        100.0 * r.crop_accuracy_detected,
            );
    for &(lo, hi, n, d) in &r.detected_by_size {
        let _ = writeln!(
            s,
            "faces {lo:.1}-{hi:.1} of the frame height: {n} frames, {:.1} % detected",
            100.0 * d
        );
    }
    let _ = writeln!(
        s,
        "\n{:>7} {:>6} {:>10} {:>16}",
        "margin", "align", "accuracy", "acc. (detected)"
    );
    for row in &r.rows {
        let _ = writeln!(
            s,
            "{:>7.2} {:>6} {:>9.1} % {:>15.1} %",
            row.margin,
            if row.align { "yes" } else { "no" },
            100.0 * row.accuracy,
            100.0 * row.accuracy_detected
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_writes_frames_and_an_index() {
        let src = tempfile::tempdir().unwrap();
        for (class, v) in [("happy", 200u8), ("sad", 50)] {
            let d = src.path().join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..3u8 {
                let px: Vec<u8> = (0..48 * 48).map(|p| (p % 48) as u8 + v / 2 + i).collect();
                image::GrayImage::from_raw(48, 48, px)
                    .unwrap()
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
        let out = tempfile::tempdir().unwrap();
        let opts = ComposeOptions {
            per_class: 2,
            ..ComposeOptions::default()
        };
        let made = compose(src.path(), out.path(), &opts).unwrap();
        assert_eq!(made.len(), 4);
        let index = read_index(out.path()).unwrap();
        assert_eq!(index.len(), 4);
        for (a, b) in made.iter().zip(&index) {
            assert_eq!((&a.file, a.label, a.face), (&b.file, b.label, b.face));
            let img = load_gray(&b.file).unwrap();
            assert!([(320, 240), (640, 480)].contains(&(img.width, img.height)));
            let f = b.face;
            assert!(f.x >= 0.0 && f.x + f.w <= img.width as f32 && f.y + f.h <= img.height as f32);
            // The pasted face's top-left pixel is the source's (a gradient
            // from v/2 + i): darker than 80 for sad, brighter for happy.
            let p = img.get(f.x as u32 + 1, f.y as u32 + 1).unwrap();
            assert_eq!(p > 80, b.label == Emotion::Happy.index() as u8, "{p}");
        }
    }
}
