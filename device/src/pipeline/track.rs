//! A small IoU tracker: gives each face a stable ID across detection
//! passes, so smoothing and visits are per person.
//!
//! Each detection pass matches new boxes to live tracks greedily by
//! decreasing intersection over union (at least [`Tracker::iou_threshold`]);
//! an unmatched box starts a new track (an *enter* event) and a track not
//! matched for [`Tracker::lost_after_ms`] ends (a *leave* event).

use emoedge_shared::face::FaceBox;

use super::faces::Found;

/// One tracked face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Track {
    /// Stable ID, from 1.
    pub id: u32,
    /// Latest box.
    pub bbox: FaceBox,
    /// Latest detector score.
    pub score: f32,
    /// When the track started, ms.
    pub first_ms: u64,
    /// When it was last matched, ms.
    pub last_seen_ms: u64,
}

impl Track {
    /// Box area in square pixels.
    pub fn area(&self) -> f32 {
        self.bbox.w * self.bbox.h
    }
}

/// A change in the set of tracks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrackEvent {
    /// A new face.
    Enter(Track),
    /// A face not seen for `lost_after_ms`; the track as last seen.
    Leave(Track),
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.w).min(b.x + b.w);
    let y1 = (a.y + a.h).min(b.y + b.h);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.w * a.h + b.w * b.h - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The tracker.
#[derive(Clone, Debug)]
pub struct Tracker {
    tracks: Vec<Track>,
    next_id: u32,
    /// Minimum IoU for a box to continue a track.
    pub iou_threshold: f32,
    /// A track not matched for this long leaves.
    pub lost_after_ms: u64,
}

impl Tracker {
    /// A tracker with no tracks.
    pub fn new(iou_threshold: f32, lost_after_ms: u64) -> Self {
        Tracker {
            tracks: Vec::new(),
            next_id: 1,
            iou_threshold,
            lost_after_ms,
        }
    }

    /// Live tracks, oldest first.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// One detection pass at `now_ms`: matches, starts and ends tracks.
    pub fn update(&mut self, found: &[Found], now_ms: u64) -> Vec<TrackEvent> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (fi, f) in found.iter().enumerate() {
                let o = iou(&t.bbox, &f.bbox);
                if o >= self.iou_threshold {
                    pairs.push((o, ti, fi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut found_used = vec![false; found.len()];
        for (_, ti, fi) in pairs {
            if track_used[ti] || found_used[fi] {
                continue;
            }
            track_used[ti] = true;
            found_used[fi] = true;
            let t = &mut self.tracks[ti];
            t.bbox = found[fi].bbox;
            t.score = found[fi].score;
            t.last_seen_ms = now_ms;
        }
        let mut events = self.expire(now_ms);
        for (f, used) in found.iter().zip(found_used) {
            if used {
                continue;
            }
            let t = Track {
                id: self.next_id,
                bbox: f.bbox,
                score: f.score,
                first_ms: now_ms,
                last_seen_ms: now_ms,
            };
            self.next_id = self.next_id.wrapping_add(1).max(1);
            self.tracks.push(t);
            events.push(TrackEvent::Enter(t));
        }
        events
    }

    /// Ends the tracks not matched for `lost_after_ms` (also called when
    /// there is no frame, e.g. while the camera is lost).
    pub fn expire(&mut self, now_ms: u64) -> Vec<TrackEvent> {
        let lost_after = self.lost_after_ms;
        let mut events = Vec::new();
        self.tracks.retain(|t| {
            let gone = now_ms.saturating_sub(t.last_seen_ms) >= lost_after;
            if gone {
                events.push(TrackEvent::Leave(*t));
            }
            !gone
        });
        events
    }

    /// Ends every track now (the loop is stopping).
    pub fn clear(&mut self) -> Vec<TrackEvent> {
        self.tracks.drain(..).map(TrackEvent::Leave).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(x: f32, y: f32) -> Found {
        Found {
            bbox: FaceBox::new(x, y, 50.0, 50.0),
            score: 0.9,
        }
    }

    #[test]
    fn ids_are_stable_under_small_motion_and_new_faces_get_new_ids() {
        let mut t = Tracker::new(0.3, 500);
        let ev = t.update(&[found(0.0, 0.0)], 0);
        assert!(matches!(ev[..], [TrackEvent::Enter(Track { id: 1, .. })]));
        let ev = t.update(&[found(5.0, 3.0), found(200.0, 0.0)], 100);
        assert_eq!(ev.len(), 1);
        assert!(matches!(ev[0], TrackEvent::Enter(Track { id: 2, .. })));
        assert_eq!(t.tracks()[0].bbox.x, 5.0);
        // Swapped order in the detector output: still matched by overlap.
        t.update(&[found(205.0, 0.0), found(8.0, 3.0)], 200);
        assert_eq!(t.tracks()[0].bbox.x, 8.0);
        assert_eq!(t.tracks()[1].bbox.x, 205.0);
    }

    #[test]
    fn tracks_leave_after_the_timeout() {
        let mut t = Tracker::new(0.3, 500);
        t.update(&[found(0.0, 0.0)], 0);
        assert!(t.update(&[], 400).is_empty());
        let ev = t.expire(500);
        assert!(matches!(
            ev[..],
            [TrackEvent::Leave(Track {
                id: 1,
                first_ms: 0,
                last_seen_ms: 0,
                ..
            })]
        ));
        assert!(t.tracks().is_empty());
        t.update(&[found(0.0, 0.0)], 600);
        assert_eq!(t.tracks()[0].id, 2, "a returning face is a new visit");
        assert_eq!(t.clear().len(), 1);
        assert!((iou(&found(0.0, 0.0).bbox, &found(25.0, 0.0).bbox) - 1.0 / 3.0).abs() < 1e-6);
    }
}
