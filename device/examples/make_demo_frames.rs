//! Makes the frames of `emoedge demo` (device/assets/demo/frames/) from two
//! public-domain photos of scikit-image's data folder; run by
//! device/assets/demo/make_demo_assets.sh, which fetches them.
//!
//!     cargo run -p emoedge-device --example make_demo_frames -- \
//!         ASTRONAUT.png CAMERA.png OUT_DIR
//!
//! 66 grayscale 320x240 JPEG frames, 8.25 s at 8 fps: an empty scene
//! (sky), a first visitor (the astronaut portrait) moving slightly, the
//! empty scene, a second visitor (the photographer), the empty scene again.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, Luma};

const W: u32 = 320;
const H: u32 = 240;
const QUALITY: u8 = 80;

/// Bilinear sample of `img` at `(x, y)` (pixel centres at `i + 0.5`).
fn sample(img: &GrayImage, x: f32, y: f32) -> f32 {
    let (w, h) = img.dimensions();
    let x = (x - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (y - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| f32::from(img.get_pixel(x, y).0[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// A `W x H` view of `img` centred on `(cx, cy)`, `scale` source pixels per
/// output pixel, brightness offset `gain`.
fn view(img: &GrayImage, cx: f32, cy: f32, scale: f32, gain: f32) -> GrayImage {
    GrayImage::from_fn(W, H, |u, v| {
        let x = cx + (u as f32 + 0.5 - W as f32 / 2.0) * scale;
        let y = cy + (v as f32 + 0.5 - H as f32 / 2.0) * scale;
        Luma([(sample(img, x, y) + gain).round().clamp(0.0, 255.0) as u8])
    })
}

fn save(frame: &GrayImage, dir: &Path, n: usize) {
    let path = dir.join(format!("frame{n:03}.jpg"));
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut enc = JpegEncoder::new_with_quality(std::io::BufWriter::new(file), QUALITY);
    enc.encode_image(frame)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [astronaut, camera, out] = &args[..] else {
        eprintln!("usage: make_demo_frames ASTRONAUT.png CAMERA.png OUT_DIR");
        std::process::exit(2);
    };
    let astronaut = image::open(astronaut)
        .unwrap_or_else(|e| panic!("{astronaut}: {e}"))
        .to_luma8();
    let camera = image::open(camera)
        .unwrap_or_else(|e| panic!("{camera}: {e}"))
        .to_luma8();
    let out = Path::new(out);
    std::fs::create_dir_all(out).unwrap();
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jpg") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let tau = std::f32::consts::TAU;
    let mut n = 0;
    let empty = |count: usize, n: &mut usize| {
        // The sky above the photographer's field: no face.
        for k in 0..count {
            let drift = k as f32 * 0.5;
            save(&view(&camera, 400.0 + drift, 50.0, 0.4, 0.0), out, *n);
            *n += 1;
        }
    };
    empty(8, &mut n);
    // Visitor 1: the astronaut's face (about x 180-272, y 75-185 of the
    // 512x512 photo) in the centre, swaying and leaning in a little.
    for k in 0..28 {
        let a = tau * k as f32 / 28.0;
        let scale = 0.61 * (1.0 + 0.04 * (a + 1.0).sin());
        let frame = view(
            &astronaut,
            226.0 + 8.0 * a.sin(),
            130.0 + 4.0 * (2.0 * a).sin(),
            scale,
            0.0,
        );
        save(&frame, out, n);
        n += 1;
    }
    empty(8, &mut n);
    // Visitor 2: the photographer's face (about x 160-250, y 75-200).
    for k in 0..16 {
        let a = tau * k as f32 / 16.0;
        let frame = view(
            &camera,
            222.0 + 5.0 * a.sin(),
            140.0 + 3.0 * a.cos(),
            0.62,
            0.0,
        );
        save(&frame, out, n);
        n += 1;
    }
    empty(6, &mut n);
    println!("{n} frames in {}", out.display());
}
