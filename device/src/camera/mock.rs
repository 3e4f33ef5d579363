//! A scripted camera for tests of the loop: each call to
//! [`Camera::read_frame`] plays the next step of the script.

use std::collections::VecDeque;

use super::{Camera, CameraError, Frame};
use crate::kind::ErrorKind;

/// One scripted step: a frame, or a failure of the given kind.
pub type Step = Result<Frame, ErrorKind>;

/// A camera that plays a fixed script, then reports
/// [`ErrorKind::EndOfStream`].
#[derive(Debug, Default)]
pub struct MockCamera {
    steps: VecDeque<Step>,
    delivered: u64,
    calls: u64,
}

impl MockCamera {
    /// A camera playing `steps` in order.
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        MockCamera {
            steps: steps.into_iter().collect(),
            delivered: 0,
            calls: 0,
        }
    }

    /// Appends a step.
    pub fn push(&mut self, step: Step) {
        self.steps.push_back(step);
    }

    /// Number of `read_frame` calls so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Steps not yet played.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }
}

impl Camera for MockCamera {
    fn describe(&self) -> String {
        format!("mock camera ({} steps left)", self.steps.len())
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<(), CameraError> {
        self.calls += 1;
        match self.steps.pop_front() {
            Some(Ok(f)) => {
                frame.gray.clear();
                frame.gray.extend_from_slice(&f.gray);
                frame.width = f.width;
                frame.height = f.height;
                frame.timestamp_ms = f.timestamp_ms;
                frame.sequence = f.sequence;
                self.delivered += 1;
                Ok(())
            }
            Some(Err(kind)) => Err(CameraError::Scripted(kind)),
            None => Err(CameraError::EndOfStream {
                device: "mock".into(),
                frames: self.delivered,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_the_script_then_ends() {
        let mut cam = MockCamera::new([
            Ok(Frame::filled(2, 2, 1)),
            Err(ErrorKind::Timeout),
            Ok(Frame::filled(3, 1, 9)),
        ]);
        assert_eq!(cam.next_frame().unwrap().gray, vec![1; 4]);
        assert_eq!(cam.next_frame().unwrap_err().kind(), ErrorKind::Timeout);
        let mut reused = Frame::filled(10, 10, 0);
        cam.read_frame(&mut reused).unwrap();
        assert_eq!(
            (reused.width, reused.height, reused.gray.clone()),
            (3, 1, vec![9; 3])
        );
        let end = cam.next_frame().unwrap_err();
        assert_eq!(end.kind(), ErrorKind::EndOfStream);
        assert_eq!(cam.calls(), 4);
    }
}
