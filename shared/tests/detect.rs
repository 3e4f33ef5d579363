//! The committed face detector (`models/face_detector.emo`, BlazeFace short
//! range) on the committed astronaut fixture
//! (`tests/fixtures/astronaut_320x240.png`, see `tests/fixtures/README.md`):
//! one face, where the portrait has it.
#![cfg(all(feature = "runtime", feature = "io"))]

use std::path::{Path, PathBuf};

use emoedge_shared::detect::{
    crop_face, keypoint, Detection, FaceDetector, NmsMode, TrackEvent, Tracker, TrackerConfig,
};
use emoedge_shared::face::{FacePreprocessing, GrayFrame};
use emoedge_shared::io::{load_gray, GrayImage};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn detector() -> FaceDetector {
    FaceDetector::load(root().join("models/face_detector.emo")).expect("committed detector loads")
}

fn astronaut() -> GrayImage {
    let p: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/astronaut_320x240.png");
    load_gray(p).expect("fixture decodes")
}

fn frame(img: &GrayImage) -> GrayFrame<'_> {
    GrayFrame::packed(&img.pixels, img.width as usize, img.height as usize).unwrap()
}

/// The face of the 320x240 fixture: the portrait's face (x 175-290,
/// y 60-190 of the 512x512 original) scaled by 0.625.
const FACE_CENTRE: (f32, f32) = (145.0, 78.0);

fn check_face(d: &Detection, scale: f32) {
    let b = d.bbox;
    let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
    let (ex, ey) = (FACE_CENTRE.0 * scale, FACE_CENTRE.1 * scale);
    assert!(
        (cx - ex).abs() < 15.0 * scale && (cy - ey).abs() < 15.0 * scale,
        "box centre ({cx}, {cy}) far from ({ex}, {ey}): {d:?}"
    );
    assert!(
        b.w > 45.0 * scale && b.w < 110.0 * scale && b.h > 45.0 * scale && b.h < 110.0 * scale,
        "box size {}x{}",
        b.w,
        b.h
    );
    assert!(d.score > 0.75, "score {}", d.score);
    let kp = d.keypoints;
    let inside = |p: (f32, f32)| p.0 > b.x && p.0 < b.x + b.w && p.1 > b.y && p.1 < b.y + b.h;
    for k in [
        keypoint::RIGHT_EYE,
        keypoint::LEFT_EYE,
        keypoint::NOSE_TIP,
        keypoint::MOUTH,
    ] {
        assert!(inside(kp[k]), "keypoint {k} {:?} outside the box", kp[k]);
    }
    // The person's right eye is on the image's left; eyes above the nose
    // above the mouth; eyes roughly level (the portrait is upright).
    assert!(kp[keypoint::RIGHT_EYE].0 < kp[keypoint::LEFT_EYE].0);
    let eyes_y = (kp[keypoint::RIGHT_EYE].1 + kp[keypoint::LEFT_EYE].1) / 2.0;
    assert!(eyes_y < kp[keypoint::NOSE_TIP].1 && kp[keypoint::NOSE_TIP].1 < kp[keypoint::MOUTH].1);
    assert!(d.eye_angle().abs() < 0.2, "eye angle {}", d.eye_angle());
}

#[test]
fn finds_the_astronaut_face() {
    let det = detector();
    let img = astronaut();
    let faces = det.detect(&frame(&img)).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    check_face(&faces[0], 1.0);
    // Plain NMS finds the same face.
    let hard = detector()
        .with_nms(NmsMode::Hard)
        .detect(&frame(&img))
        .unwrap();
    assert_eq!(hard.len(), 1);
    check_face(&hard[0], 1.0);
}

#[test]
fn boxes_follow_the_frame_scale() {
    // The same picture at 640x480 (pixel-doubled): the box doubles.
    let img = astronaut();
    let (w, h) = (img.width as usize, img.height as usize);
    let mut big = vec![0u8; 4 * w * h];
    for y in 0..2 * h {
        for x in 0..2 * w {
            big[y * 2 * w + x] = img.pixels[(y / 2) * w + x / 2];
        }
    }
    let frame = GrayFrame::packed(&big, 2 * w, 2 * h).unwrap();
    let faces = detector().detect(&frame).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    check_face(&faces[0], 2.0);
}

#[test]
fn no_face_in_a_blank_or_noisy_frame() {
    let det = detector();
    let gray = vec![128u8; 320 * 240];
    assert!(det
        .detect(&GrayFrame::packed(&gray, 320, 240).unwrap())
        .unwrap()
        .is_empty());
    let mut s = 1u32;
    let noise: Vec<u8> = (0..320 * 240)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect();
    assert!(det
        .detect(&GrayFrame::packed(&noise, 320, 240).unwrap())
        .unwrap()
        .is_empty());
    // A threshold of 1.0 keeps nothing, even on a face.
    let img = astronaut();
    assert!(detector()
        .with_min_score(1.0)
        .detect(&frame(&img))
        .unwrap()
        .is_empty());
}

#[test]
fn tracker_keeps_the_id_while_the_face_moves() {
    let det = detector();
    let img = astronaut();
    let (w, h) = (img.width as usize, img.height as usize);
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut shifted = vec![0u8; w * h];
    for step in 0..4 {
        // Shift the picture right by 8 px per frame (edge repeated).
        let dx = step * 8;
        for y in 0..h {
            for x in 0..w {
                shifted[y * w + x] = img.pixels[y * w + x.saturating_sub(dx)];
            }
        }
        let faces = det
            .detect(&GrayFrame::packed(&shifted, w, h).unwrap())
            .unwrap();
        assert_eq!(faces.len(), 1, "frame {step}");
        let events = tracker.update(&faces);
        if step == 0 {
            assert_eq!(events, vec![TrackEvent::Entered { id: 0 }]);
        } else {
            assert!(events.is_empty(), "frame {step}: {events:?}");
        }
    }
    assert_eq!(tracker.confirmed().count(), 1);
    // Then nobody: the track leaves after max_missed + 1 empty frames.
    let empty = vec![128u8; w * h];
    let blank = GrayFrame::packed(&empty, w, h).unwrap();
    let mut left = vec![];
    for _ in 0..=TrackerConfig::default().max_missed {
        left.extend(tracker.update(&det.detect(&blank).unwrap()));
    }
    assert_eq!(left, vec![TrackEvent::Left { id: 0 }]);
}

#[test]
fn crop_for_the_expression_model() {
    let img = astronaut();
    let f = frame(&img);
    let face = detector().detect(&f).unwrap()[0];
    let pre = FacePreprocessing::default();
    let mut out = vec![0f32; pre.output_len()];
    crop_face(&f, &face, &pre, true, &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    // A real face crop is not flat.
    let mean = out.iter().sum::<f32>() / out.len() as f32;
    let var = out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out.len() as f32;
    assert!(var > 0.05, "variance {var}");
}
