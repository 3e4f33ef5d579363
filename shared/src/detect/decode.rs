//! SSD anchors, box decoding and non-maximum suppression, as MediaPipe's
//! `SsdAnchorsCalculator` and `TensorsToDetectionsCalculator` do them for
//! BlazeFace.

use alloc::vec::Vec;

use super::{DetectError, Detection, Letterbox, MAX_KEYPOINTS};
use crate::face::FaceBox;
use crate::format::DetectorPreprocessing;

/// Raw scores are clipped to `[-SCORE_CLIP, SCORE_CLIP]` before the sigmoid.
pub const SCORE_CLIP: f32 = 100.0;

/// Centre of one anchor in normalised input coordinates (`[0, 1]`). Anchors
/// have a fixed size of 1 (BlazeFace's `fixed_anchor_size`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    pub cx: f32,
    pub cy: f32,
}

/// The anchors of a detector, in the order of its outputs: for each stride,
/// row by row, cell by cell, `anchors_per_cell` anchors at the cell centre
/// (896 for BlazeFace short range: 16x16x2 at stride 8, then 8x8x6 at
/// stride 16).
pub fn ssd_anchors(pre: &DetectorPreprocessing) -> Vec<Anchor> {
    let mut out = Vec::with_capacity(pre.anchor_count().unwrap_or(0));
    for (&stride, &per_cell) in pre.strides.iter().zip(&pre.anchors_per_cell) {
        if stride == 0 {
            continue;
        }
        let cells = usize::from(pre.input_size.div_ceil(stride));
        for y in 0..cells {
            for x in 0..cells {
                let a = Anchor {
                    cx: (x as f32 + 0.5) / cells as f32,
                    cy: (y as f32 + 0.5) / cells as f32,
                };
                out.extend(core::iter::repeat_n(a, usize::from(per_cell)));
            }
        }
    }
    out
}

/// Numerically safe logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// How overlapping detections are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NmsMode {
    /// MediaPipe's weighted NMS: every cluster of boxes overlapping the
    /// best one above the IoU threshold is replaced by their score-weighted
    /// mean box (and keypoints), with the best score. Steadier boxes.
    #[default]
    Weighted,
    /// Plain NMS: the best box of each cluster is kept as is.
    Hard,
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.w).min(b.x + b.w);
    let y1 = (a.y + a.h).min(b.y + b.h);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.w.max(0.0) * a.h.max(0.0) + b.w.max(0.0) * b.h.max(0.0) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Decodes the raw outputs of a detector: `boxes` holds, per anchor,
/// `4 + 2 * keypoints` values (box centre offset x, y, width, height, then
/// keypoint offsets x, y, all in input pixels of the detector, relative to
/// the anchor centre); `scores` one raw logit per anchor. Returns the
/// anchors whose sigmoid score reaches `min_score`, in frame coordinates
/// through `letterbox`, before NMS, in anchor order.
pub fn decode(
    pre: &DetectorPreprocessing,
    anchors: &[Anchor],
    boxes: &[f32],
    scores: &[f32],
    min_score: f32,
    letterbox: &Letterbox,
) -> Result<Vec<Detection>, DetectError> {
    let n = anchors.len();
    let keypoints = usize::from(pre.keypoints);
    if keypoints > MAX_KEYPOINTS {
        return Err(DetectError::Model {
            reason: "the detector has more keypoints than a Detection holds (6)",
        });
    }
    let per = 4 + 2 * keypoints;
    if scores.len() != n {
        return Err(DetectError::OutputSize {
            expected: n,
            found: scores.len(),
        });
    }
    if boxes.len() != n * per {
        return Err(DetectError::OutputSize {
            expected: n * per,
            found: boxes.len(),
        });
    }
    // Skip the sigmoid for anchors below the threshold (logit comparison).
    let min_logit = if min_score <= 0.0 {
        f32::NEG_INFINITY
    } else if min_score >= 1.0 {
        f32::INFINITY
    } else {
        libm::logf(min_score / (1.0 - min_score))
    };
    let size = f32::from(pre.input_size);
    // Normalised input coordinates -> frame coordinates.
    let to_frame = |x: f32, y: f32| letterbox.to_frame(x * size, y * size);
    let mut out = Vec::new();
    for (i, (a, &raw)) in anchors.iter().zip(scores).enumerate() {
        let logit = raw.clamp(-SCORE_CLIP, SCORE_CLIP);
        if logit.is_nan() || logit < min_logit {
            continue;
        }
        let score = sigmoid(logit);
        if score < min_score {
            continue;
        }
        let r = &boxes[i * per..(i + 1) * per];
        if r.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let cx = r[0] / pre.box_scale + a.cx;
        let cy = r[1] / pre.box_scale + a.cy;
        let w = r[2] / pre.box_scale;
        let h = r[3] / pre.box_scale;
        if w <= 0.0 || h <= 0.0 {
            continue;
        }
        let (x0, y0) = to_frame(cx - w * 0.5, cy - h * 0.5);
        let (x1, y1) = to_frame(cx + w * 0.5, cy + h * 0.5);
        let mut kp = [(0.0f32, 0.0f32); MAX_KEYPOINTS];
        for (k, p) in kp.iter_mut().enumerate().take(keypoints) {
            *p = to_frame(
                r[4 + 2 * k] / pre.box_scale + a.cx,
                r[5 + 2 * k] / pre.box_scale + a.cy,
            );
        }
        out.push(Detection {
            bbox: FaceBox::new(x0, y0, x1 - x0, y1 - y0),
            score,
            keypoints: kp,
        });
    }
    Ok(out)
}

/// Non-maximum suppression of `dets` with IoU threshold `iou_threshold`;
/// the result is sorted by decreasing score.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32, mode: NmsMode) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut remaining = dets;
    while !remaining.is_empty() {
        let best = remaining[0];
        let mut cluster = Vec::new();
        let mut rest = Vec::with_capacity(remaining.len());
        for d in remaining {
            if iou(&best.bbox, &d.bbox) > iou_threshold || cluster.is_empty() {
                cluster.push(d);
            } else {
                rest.push(d);
            }
        }
        remaining = rest;
        out.push(match mode {
            NmsMode::Hard => best,
            NmsMode::Weighted => weighted_mean(&cluster, best.score),
        });
    }
    out
}

/// Score-weighted mean of a cluster's boxes and keypoints, with `score`.
fn weighted_mean(cluster: &[Detection], score: f32) -> Detection {
    let total: f32 = cluster.iter().map(|d| d.score).sum();
    let mut x0 = 0.0;
    let mut y0 = 0.0;
    let mut x1 = 0.0;
    let mut y1 = 0.0;
    let mut kp = [(0.0f32, 0.0f32); MAX_KEYPOINTS];
    for d in cluster {
        let w = d.score / total;
        x0 += w * d.bbox.x;
        y0 += w * d.bbox.y;
        x1 += w * (d.bbox.x + d.bbox.w);
        y1 += w * (d.bbox.y + d.bbox.h);
        for (acc, p) in kp.iter_mut().zip(&d.keypoints) {
            acc.0 += w * p.0;
            acc.1 += w * p.1;
        }
    }
    Detection {
        bbox: FaceBox::new(x0, y0, x1 - x0, y1 - y0),
        score,
        keypoints: kp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    pub(crate) fn blazeface_pre() -> DetectorPreprocessing {
        DetectorPreprocessing {
            input_size: 128,
            mean: 0.5,
            std: 0.5,
            channels_last: false,
            strides: vec![8, 16],
            anchors_per_cell: vec![2, 6],
            box_scale: 128.0,
            keypoints: 6,
            score_threshold: 0.5,
            iou_threshold: 0.3,
        }
    }

    fn det(x: f32, y: f32, w: f32, score: f32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, w, w),
            score,
            keypoints: [(x, y); MAX_KEYPOINTS],
        }
    }

    #[test]
    fn blazeface_anchor_layout() {
        let a = ssd_anchors(&blazeface_pre());
        assert_eq!(a.len(), 896);
        assert_eq!(
            a[0],
            Anchor {
                cx: 0.5 / 16.0,
                cy: 0.5 / 16.0
            }
        );
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2].cx, 1.5 / 16.0);
        assert_eq!(
            a[511],
            Anchor {
                cx: 15.5 / 16.0,
                cy: 15.5 / 16.0
            }
        );
        assert_eq!(
            a[512],
            Anchor {
                cx: 0.5 / 8.0,
                cy: 0.5 / 8.0
            }
        );
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518].cx, 1.5 / 8.0);
        assert_eq!(
            a[895],
            Anchor {
                cx: 7.5 / 8.0,
                cy: 7.5 / 8.0
            }
        );
    }

    #[test]
    fn decodes_offsets_relative_to_the_anchor_into_frame_pixels() {
        let pre = blazeface_pre();
        let anchors = ssd_anchors(&pre);
        let mut boxes = vec![0f32; 896 * 16];
        let mut scores = vec![-50f32; 896];
        // Anchor 584: stride 16, cell (x 4, y 1) -> centre (72, 24) in
        // input pixels; box 10 px right, 40 x 20 px.
        let i = 584;
        assert_eq!((i - 512) / 6, 8 + 4);
        scores[i] = 2.0;
        boxes[i * 16..i * 16 + 6].copy_from_slice(&[10.0, 0.0, 40.0, 20.0, -8.0, -4.0]);
        // The frame is 256 x 256: input pixels are doubled.
        let lb = Letterbox::new(256, 256, 128);
        let d = decode(&pre, &anchors, &boxes, &scores, 0.5, &lb).unwrap();
        assert_eq!(d.len(), 1);
        let d = d[0];
        assert!((d.score - sigmoid(2.0)).abs() < 1e-6);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(close(d.bbox.x, 2.0 * (82.0 - 20.0)), "{d:?}");
        assert!(close(d.bbox.y, 2.0 * (24.0 - 10.0)));
        assert!(close(d.bbox.w, 80.0) && close(d.bbox.h, 40.0));
        assert!(close(d.keypoints[0].0, 2.0 * 64.0) && close(d.keypoints[0].1, 2.0 * 20.0));
        assert!(close(d.keypoints[1].0, 2.0 * 72.0) && close(d.keypoints[1].1, 2.0 * 24.0));
        // Threshold and clipping.
        assert!(decode(&pre, &anchors, &boxes, &scores, 0.9, &lb)
            .unwrap()
            .is_empty());
        scores[i] = 1e9;
        let d = decode(&pre, &anchors, &boxes, &scores, 0.5, &lb).unwrap();
        assert_eq!(d[0].score, sigmoid(SCORE_CLIP));
        assert!(matches!(
            decode(&pre, &anchors, &boxes[1..], &scores, 0.5, &lb),
            Err(DetectError::OutputSize { .. })
        ));
    }

    #[test]
    fn iou_of_simple_boxes() {
        let a = FaceBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &FaceBox::new(20.0, 0.0, 10.0, 10.0)), 0.0);
        let b = FaceBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((iou(&a, &b) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn hard_nms_keeps_the_best_of_each_cluster() {
        let dets = vec![
            det(0.0, 0.0, 10.0, 0.6),
            det(1.0, 0.0, 10.0, 0.9),
            det(50.0, 50.0, 10.0, 0.7),
        ];
        let out = nms(dets, 0.3, NmsMode::Hard);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], det(1.0, 0.0, 10.0, 0.9));
        assert_eq!(out[1], det(50.0, 50.0, 10.0, 0.7));
    }

    #[test]
    fn weighted_nms_averages_the_cluster() {
        let dets = vec![det(0.0, 0.0, 10.0, 0.25), det(2.0, 0.0, 10.0, 0.75)];
        let out = nms(dets, 0.3, NmsMode::Weighted);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].score, 0.75);
        assert!((out[0].bbox.x - 1.5).abs() < 1e-6);
        assert!((out[0].bbox.w - 10.0).abs() < 1e-6);
        assert!((out[0].keypoints[3].0 - 1.5).abs() < 1e-6);
    }
}
