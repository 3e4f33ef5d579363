//! The voice side of the loop: microphone samples → streaming log-mel →
//! voice activity detection, and the most recent window of frames for the
//! voice model (e.g. 2 s every 0.5 s while the detector says speech).

use emoedge_shared::audio::{LogMel, Vad, VadConfig, VoicePreprocessing};

use crate::mic::i16_to_f32;
use crate::ring::AudioRing;

/// Shortest speech, in log-mel frames, worth a voice window (shorter
/// windows would be mostly padding).
pub const MIN_WINDOW_FRAMES: usize = 50;
/// Silence, in log-mel frames, that ends an utterance: a window never
/// reaches back across a pause this long (shorter pauses between words
/// stay inside it).
pub const UTTERANCE_GAP_FRAMES: usize = 50;

/// Streaming log-mel features, VAD and the window history.
pub struct VoiceFront {
    pre: VoicePreprocessing,
    logmel: LogMel,
    vad: Vad,
    /// The last `pre.frames` log-mel frames, row-major.
    history: AudioRing<f32>,
    scratch: Vec<f32>,
    window: Vec<f32>,
    /// Frames of the current utterance (speech plus short pauses).
    utterance: usize,
    /// Consecutive frames without speech.
    silent: usize,
    frames_total: u64,
    speech_started: bool,
    speech_ended: bool,
}

impl VoiceFront {
    /// A front end for `pre` (the voice model's preprocessing, or the
    /// default one when there is no voice model, for the VAD alone).
    pub fn new(pre: VoicePreprocessing, vad: VadConfig) -> anyhow::Result<Self> {
        let logmel = LogMel::new(pre.logmel).map_err(|e| anyhow::anyhow!("log-mel: {e}"))?;
        let vad = Vad::new(&pre.logmel, vad).map_err(|e| anyhow::anyhow!("VAD: {e}"))?;
        let n = pre.window_len();
        Ok(VoiceFront {
            pre,
            logmel,
            vad,
            history: AudioRing::new(n),
            scratch: Vec::new(),
            window: vec![0.0; n],
            utterance: 0,
            silent: 0,
            frames_total: 0,
            speech_started: false,
            speech_ended: false,
        })
    }

    /// Sample rate the samples must have.
    pub fn sample_rate(&self) -> u32 {
        self.pre.logmel.sample_rate
    }

    /// Feeds microphone samples (at [`sample_rate`](Self::sample_rate)).
    pub fn push(&mut self, samples: &[i16]) {
        self.scratch.clear();
        self.scratch.extend(samples.iter().map(|&s| i16_to_f32(s)));
        let VoiceFront {
            logmel,
            vad,
            history,
            scratch,
            utterance,
            silent,
            frames_total,
            speech_started,
            speech_ended,
            ..
        } = self;
        logmel.process(scratch, |frame| {
            let was = vad.is_speech();
            let v = vad.process(frame);
            history.push(frame);
            *frames_total += 1;
            if v.speech {
                *silent = 0;
                *utterance += 1;
                if !was {
                    *speech_started = true;
                }
            } else {
                *silent += 1;
                if *silent >= UTTERANCE_GAP_FRAMES {
                    if *utterance > 0 {
                        // The utterance is over: face only from now on.
                        *speech_ended = true;
                    }
                    *utterance = 0;
                } else if *utterance > 0 {
                    *utterance += 1;
                }
            }
        });
    }

    /// Forgets the audio (after a gap: the microphone was lost).
    pub fn reset(&mut self) {
        self.logmel.reset();
        self.vad.reset();
        self.history.clear();
        self.utterance = 0;
        self.silent = 0;
    }

    /// Whether the detector says speech now.
    pub fn is_speech(&self) -> bool {
        self.vad.is_speech()
    }

    /// Whether an utterance ended (speech followed by
    /// [`UTTERANCE_GAP_FRAMES`] of silence) since the last call; then the
    /// voice observations are dropped: face only.
    pub fn take_speech_ended(&mut self) -> bool {
        std::mem::take(&mut self.speech_ended)
    }

    /// Whether speech started since the last call.
    pub fn take_speech_started(&mut self) -> bool {
        std::mem::take(&mut self.speech_started)
    }

    /// Log-mel frames computed since the start.
    pub fn frames_total(&self) -> u64 {
        self.frames_total
    }

    /// The most recent frames of the current utterance for a window (at
    /// most one window, at least [`MIN_WINDOW_FRAMES`] or the whole
    /// window), row-major; `None` in silence or when there is not enough
    /// speech yet.
    pub fn window(&mut self) -> Option<&[f32]> {
        let n_mels = usize::from(self.pre.logmel.n_mels);
        let held = self.history.len() / n_mels;
        let want = usize::from(self.pre.frames);
        // The window reaches back a little before the detector's onset.
        let frames = (self.utterance + usize::from(self.vad.config().onset_frames))
            .min(held)
            .min(want);
        if !self.vad.is_speech() || frames < MIN_WINDOW_FRAMES.min(want) {
            return None;
        }
        let out = &mut self.window[..frames * n_mels];
        self.history.latest(out).then_some(&*out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech() -> Vec<i16> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/tests/fixtures/speech_16k.wav"
        );
        let mut r = hound::WavReader::open(path).unwrap();
        r.samples::<i16>().map(|s| s.unwrap()).collect()
    }

    #[test]
    fn speech_opens_windows_and_silence_closes_them() {
        let mut v = VoiceFront::new(VoicePreprocessing::default(), VadConfig::default()).unwrap();
        v.push(&vec![0i16; 16_000]);
        assert!(!v.is_speech());
        assert!(v.window().is_none());
        v.push(&speech()[..24_000]);
        assert!(v.take_speech_started());
        assert!(v.is_speech());
        let w = v.window().expect("1.5 s into speech");
        assert_eq!(w.len() % 64, 0);
        assert!(w.len() / 64 >= MIN_WINDOW_FRAMES);
        v.push(&speech()[24_000..]);
        v.push(&vec![0i16; 16_000]);
        assert!(!v.is_speech());
        assert!(v.take_speech_ended());
        assert!(v.window().is_none());
        assert_eq!(v.frames_total(), (16_000 + 71_285 + 16_000 - 400) / 160 + 1);
    }
}
