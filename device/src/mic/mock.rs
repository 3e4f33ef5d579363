//! A scripted microphone for tests of the loop.

use std::collections::VecDeque;

use super::{MicError, Microphone};
use crate::kind::ErrorKind;

/// One scripted step: a block of samples, or a failure of the given kind.
pub type Step = Result<Vec<i16>, ErrorKind>;

/// A microphone that plays a fixed script, then reports
/// [`ErrorKind::EndOfStream`]. A block longer than the caller's buffer is
/// delivered over several reads.
#[derive(Debug)]
pub struct MockMicrophone {
    rate: u32,
    steps: VecDeque<Step>,
    pending: Vec<i16>,
    pending_pos: usize,
    delivered: u64,
}

impl MockMicrophone {
    /// A microphone at `rate` Hz playing `steps` in order.
    pub fn new(rate: u32, steps: impl IntoIterator<Item = Step>) -> Self {
        MockMicrophone {
            rate,
            steps: steps.into_iter().collect(),
            pending: Vec::new(),
            pending_pos: 0,
            delivered: 0,
        }
    }

    /// Samples delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

impl Microphone for MockMicrophone {
    fn describe(&self) -> String {
        format!("mock microphone {} Hz", self.rate)
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn read(&mut self, out: &mut [i16]) -> Result<usize, MicError> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pending_pos >= self.pending.len() {
            match self.steps.pop_front() {
                Some(Ok(block)) => {
                    self.pending = block;
                    self.pending_pos = 0;
                }
                Some(Err(kind)) => return Err(MicError::Scripted(kind)),
                None => {
                    return Err(MicError::EndOfStream {
                        device: "mock".into(),
                        samples: self.delivered,
                    })
                }
            }
        }
        let n = out.len().min(self.pending.len() - self.pending_pos);
        out[..n].copy_from_slice(&self.pending[self.pending_pos..self.pending_pos + n]);
        self.pending_pos += n;
        self.delivered += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_blocks_errors_then_ends() {
        let mut mic = MockMicrophone::new(
            16_000,
            [
                Ok(vec![1, 2, 3]),
                Err(ErrorKind::Overrun),
                Ok(vec![]),
                Ok(vec![4]),
            ],
        );
        let mut buf = [0i16; 2];
        assert_eq!(mic.read(&mut buf).unwrap(), 2);
        assert_eq!(buf, [1, 2]);
        assert_eq!(mic.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], 3);
        assert_eq!(mic.read(&mut buf).unwrap_err().kind(), ErrorKind::Overrun);
        assert_eq!(mic.read(&mut buf).unwrap(), 1, "empty blocks are skipped");
        assert_eq!(buf[0], 4);
        assert_eq!(
            mic.read(&mut buf).unwrap_err().kind(),
            ErrorKind::EndOfStream
        );
        assert_eq!(mic.delivered(), 4);
        assert_eq!(mic.sample_rate(), 16_000);
    }
}
