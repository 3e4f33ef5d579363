//! IoU tracker: gives each face a stable ID across frames, so smoothing and
//! kiosk events are per person.
//!
//! Every frame, the detections are matched greedily to the live tracks by
//! decreasing IoU (pairs below [`TrackerConfig::iou_threshold`] never
//! match). A matched track takes the new detection; an unmatched detection
//! starts a new track with a new ID; an unmatched track counts a missed
//! frame and is dropped after more than [`TrackerConfig::max_missed`]
//! consecutive misses. A track is *confirmed* (and reported as entered)
//! once it has been seen in [`TrackerConfig::min_hits`] frames; an
//! unconfirmed track is dropped at its first miss, which filters out
//! one-frame false detections when `min_hits > 1`.
//!
//! `no_std` + `alloc`, no clock: a "frame" is one call of
//! [`Tracker::update`].

use alloc::vec::Vec;

use super::decode::iou;
use super::Detection;

/// Tracker parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrackerConfig {
    /// Least IoU between a track's last box and a detection to match them.
    pub iou_threshold: f32,
    /// Consecutive frames a confirmed track survives without a detection.
    pub max_missed: u32,
    /// Frames a track must be seen in before it is confirmed (1 = at once).
    pub min_hits: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_threshold: 0.3,
            max_missed: 5,
            min_hits: 1,
        }
    }
}

/// One tracked face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Track {
    /// Stable ID, unique for the tracker's life (wraps after 2^32 tracks).
    pub id: u32,
    /// Last matched detection.
    pub detection: Detection,
    /// Frames the track was seen in.
    pub hits: u32,
    /// Consecutive frames without a match (0 = seen in the last frame).
    pub missed: u32,
    /// Seen in at least `min_hits` frames.
    pub confirmed: bool,
}

impl Track {
    /// True when the track was matched in the last frame.
    pub fn is_visible(&self) -> bool {
        self.missed == 0
    }
}

/// A change in the set of confirmed tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrackEvent {
    /// A track was confirmed: a new face is present.
    Entered { id: u32 },
    /// A confirmed track missed more than `max_missed` frames: the face left.
    Left { id: u32 },
}

/// The IoU tracker.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u32,
}

impl Tracker {
    /// A tracker with no tracks; IDs start at 0.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            tracks: Vec::new(),
            next_id: 0,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Every live track, confirmed or not, oldest first.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Confirmed tracks, oldest first.
    pub fn confirmed(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.confirmed)
    }

    /// The live track with ID `id`.
    pub fn get(&self, id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Drops every track (IDs keep counting up).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Feeds the detections of one frame; returns the enter/leave events
    /// of this frame (leaves first, then entries in track order).
    pub fn update(&mut self, detections: &[Detection]) -> Vec<TrackEvent> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                let v = iou(&t.detection.bbox, &d.bbox);
                if v >= self.config.iou_threshold && v > 0.0 {
                    pairs.push((v, ti, di));
                }
            }
        }
        // Highest IoU first; ties by older track, then detection order.
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_match: Vec<Option<usize>> = alloc::vec![None; self.tracks.len()];
        let mut det_taken: Vec<bool> = alloc::vec![false; detections.len()];
        for (_, ti, di) in pairs {
            if track_match[ti].is_none() && !det_taken[di] {
                track_match[ti] = Some(di);
                det_taken[di] = true;
            }
        }
        let mut events = Vec::new();
        let mut entered = Vec::new();
        let min_hits = self.config.min_hits.max(1);
        let max_missed = self.config.max_missed;
        let mut kept = Vec::with_capacity(self.tracks.len() + detections.len());
        for (mut t, m) in self.tracks.drain(..).zip(track_match) {
            match m {
                Some(di) => {
                    t.detection = detections[di];
                    t.hits = t.hits.saturating_add(1);
                    t.missed = 0;
                    if !t.confirmed && t.hits >= min_hits {
                        t.confirmed = true;
                        entered.push(TrackEvent::Entered { id: t.id });
                    }
                    kept.push(t);
                }
                None => {
                    t.missed = t.missed.saturating_add(1);
                    if !t.confirmed {
                        continue;
                    }
                    if t.missed > max_missed {
                        events.push(TrackEvent::Left { id: t.id });
                        continue;
                    }
                    kept.push(t);
                }
            }
        }
        for (d, taken) in detections.iter().zip(det_taken) {
            if taken {
                continue;
            }
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let confirmed = min_hits <= 1;
            if confirmed {
                entered.push(TrackEvent::Entered { id });
            }
            kept.push(Track {
                id,
                detection: *d,
                hits: 1,
                missed: 0,
                confirmed,
            });
        }
        self.tracks = kept;
        events.extend(entered);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::MAX_KEYPOINTS;
    use crate::face::FaceBox;
    use alloc::vec;

    fn face(x: f32, y: f32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, 40.0, 40.0),
            score: 0.9,
            keypoints: [(x + 20.0, y + 20.0); MAX_KEYPOINTS],
        }
    }

    fn ids(t: &Tracker) -> Vec<u32> {
        t.confirmed().map(|t| t.id).collect()
    }

    #[test]
    fn ids_are_stable_while_faces_move() {
        let mut t = Tracker::new(TrackerConfig::default());
        let ev = t.update(&[face(0.0, 0.0), face(200.0, 0.0)]);
        assert_eq!(
            ev,
            vec![TrackEvent::Entered { id: 0 }, TrackEvent::Entered { id: 1 }]
        );
        for step in 1..20 {
            let dx = step as f32 * 4.0;
            // Detection order swaps every frame: IDs must follow the boxes.
            let ev = if step % 2 == 0 {
                t.update(&[face(dx, 0.0), face(200.0 - dx, 5.0)])
            } else {
                t.update(&[face(200.0 - dx, 5.0), face(dx, 0.0)])
            };
            assert!(ev.is_empty(), "step {step}: {ev:?}");
            assert_eq!(t.get(0).unwrap().detection.bbox.x, dx);
            assert_eq!(t.get(1).unwrap().detection.bbox.x, 200.0 - dx);
        }
        assert_eq!(ids(&t), vec![0, 1]);
    }

    #[test]
    fn a_face_leaves_after_max_missed_frames_and_returns_with_a_new_id() {
        let cfg = TrackerConfig {
            max_missed: 2,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg);
        t.update(&[face(0.0, 0.0)]);
        assert!(t.update(&[]).is_empty());
        assert!(!t.get(0).unwrap().is_visible());
        // Reappears within the allowance: same ID.
        assert!(t.update(&[face(2.0, 0.0)]).is_empty());
        assert!(t.get(0).unwrap().is_visible());
        assert!(t.update(&[]).is_empty());
        assert!(t.update(&[]).is_empty());
        assert_eq!(t.update(&[]), vec![TrackEvent::Left { id: 0 }]);
        assert!(t.tracks().is_empty());
        assert_eq!(
            t.update(&[face(2.0, 0.0)]),
            vec![TrackEvent::Entered { id: 1 }]
        );
    }

    #[test]
    fn distant_detection_starts_a_new_track() {
        let mut t = Tracker::new(TrackerConfig::default());
        t.update(&[face(0.0, 0.0)]);
        // Jumped farther than any overlap: old one missed, new one entered.
        let ev = t.update(&[face(100.0, 100.0)]);
        assert_eq!(ev, vec![TrackEvent::Entered { id: 1 }]);
        assert_eq!(t.get(0).unwrap().missed, 1);
        assert_eq!(t.get(1).unwrap().missed, 0);
    }

    #[test]
    fn min_hits_filters_one_frame_detections() {
        let cfg = TrackerConfig {
            min_hits: 3,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg);
        assert!(t.update(&[face(0.0, 0.0), face(300.0, 0.0)]).is_empty());
        // The second face was a one-frame flicker: gone without an event.
        assert!(t.update(&[face(1.0, 0.0)]).is_empty());
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(
            t.update(&[face(2.0, 0.0)]),
            vec![TrackEvent::Entered { id: 0 }]
        );
        assert_eq!(ids(&t), vec![0]);
    }

    #[test]
    fn one_detection_matches_one_track_only() {
        let mut t = Tracker::new(TrackerConfig::default());
        t.update(&[face(0.0, 0.0), face(10.0, 0.0)]);
        let ev = t.update(&[face(9.0, 0.0)]);
        assert!(ev.is_empty());
        // The closer track (1) took it; track 0 missed.
        assert_eq!(t.get(1).unwrap().missed, 0);
        assert_eq!(t.get(0).unwrap().missed, 1);
    }
}
