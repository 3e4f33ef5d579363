//! A fixed-capacity audio ring buffer between the microphone and the
//! voice pipeline (VAD, log-mel). It never allocates after construction:
//! when the consumer falls behind, the oldest samples are overwritten and
//! counted, so the loop keeps the freshest audio and knows how much it lost.

/// A ring of `T` samples with overwrite-oldest semantics.
#[derive(Clone, Debug)]
pub struct AudioRing<T> {
    buf: Box<[T]>,
    /// Index of the oldest sample.
    head: usize,
    /// Number of unread samples.
    len: usize,
    dropped: u64,
    pushed: u64,
}

impl<T: Copy + Default> AudioRing<T> {
    /// A ring holding up to `capacity` samples (at least 1).
    pub fn new(capacity: usize) -> Self {
        AudioRing {
            buf: vec![T::default(); capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            dropped: 0,
            pushed: 0,
        }
    }

    /// Maximum number of samples held.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Number of unread samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Samples overwritten before they were read, since construction.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Samples pushed since construction.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Appends `samples`; when the ring is full the oldest unread samples
    /// are overwritten and added to [`dropped`](Self::dropped). Returns the
    /// number of samples dropped by this call.
    pub fn push(&mut self, samples: &[T]) -> usize {
        let cap = self.buf.len();
        self.pushed += samples.len() as u64;
        // Only the last `cap` samples can survive.
        let skipped = samples.len().saturating_sub(cap);
        let samples = &samples[skipped..];
        let overflow = (self.len + samples.len()).saturating_sub(cap);
        if overflow > 0 {
            self.head = (self.head + overflow) % cap;
            self.len -= overflow;
        }
        let tail = (self.head + self.len) % cap;
        let first = samples.len().min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&samples[..first]);
        self.buf[..samples.len() - first].copy_from_slice(&samples[first..]);
        self.len += samples.len();
        let lost = skipped + overflow;
        self.dropped += lost as u64;
        lost
    }

    /// Moves up to `out.len()` of the oldest unread samples into `out`;
    /// returns how many.
    pub fn pop(&mut self, out: &mut [T]) -> usize {
        let n = self.peek(out);
        self.consume(n);
        n
    }

    /// Copies up to `out.len()` of the oldest unread samples into `out`
    /// without consuming them; returns how many.
    pub fn peek(&self, out: &mut [T]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        let first = n.min(cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        n
    }

    /// Copies the `out.len()` most recent samples into `out` (oldest first)
    /// without consuming anything; `false` (and `out` untouched) when fewer
    /// are held. For sliding analysis windows.
    pub fn latest(&self, out: &mut [T]) -> bool {
        if out.len() > self.len {
            return false;
        }
        let cap = self.buf.len();
        let start = (self.head + self.len - out.len()) % cap;
        let first = out.len().min(cap - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        let n = out.len();
        out[first..].copy_from_slice(&self.buf[..n - first]);
        true
    }

    /// Discards up to `n` of the oldest unread samples; returns how many.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        n
    }

    /// Discards every unread sample (the counters are kept).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut AudioRing<i16>) -> Vec<i16> {
        let mut out = vec![0; r.len()];
        let n = r.pop(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn fifo_order_across_the_wrap() {
        let mut r = AudioRing::<i16>::new(5);
        assert_eq!(r.push(&[1, 2, 3]), 0);
        let mut two = [0; 2];
        assert_eq!(r.pop(&mut two), 2);
        assert_eq!(two, [1, 2]);
        assert_eq!(r.push(&[4, 5, 6, 7]), 0); // wraps
        assert_eq!(r.len(), 5);
        assert_eq!(drain(&mut r), vec![3, 4, 5, 6, 7]);
        assert!(r.is_empty());
        assert_eq!(r.dropped(), 0);
        assert_eq!(r.pushed(), 7);
    }

    #[test]
    fn overflow_overwrites_oldest_and_counts() {
        let mut r = AudioRing::<i16>::new(4);
        r.push(&[1, 2, 3]);
        assert_eq!(r.push(&[4, 5, 6]), 2);
        assert_eq!(r.dropped(), 2);
        assert_eq!(drain(&mut r), vec![3, 4, 5, 6]);
        // A push longer than the ring keeps only its tail.
        r.push(&[9]);
        assert_eq!(r.push(&[10, 11, 12, 13, 14, 15]), 3);
        assert_eq!(r.dropped(), 5);
        assert_eq!(drain(&mut r), vec![12, 13, 14, 15]);
    }

    #[test]
    fn latest_and_peek_do_not_consume() {
        let mut r = AudioRing::<f32>::new(6);
        r.push(&[1.0, 2.0, 3.0, 4.0]);
        r.consume(2);
        r.push(&[5.0, 6.0, 7.0]); // wraps: holds 3..=7
        let mut w = [0.0; 3];
        assert!(r.latest(&mut w));
        assert_eq!(w, [5.0, 6.0, 7.0]);
        let mut big = [0.0; 6];
        assert!(!r.latest(&mut big));
        let mut p = [0.0; 2];
        assert_eq!(r.peek(&mut p), 2);
        assert_eq!(p, [3.0, 4.0]);
        assert_eq!(r.len(), 5);
        assert_eq!(r.consume(10), 5);
        assert!(r.is_empty());
    }

    #[test]
    fn matches_a_reference_model_under_random_operations() {
        // A tiny LCG keeps the test deterministic without extra crates.
        let mut seed = 0x1234_5678_u64;
        let mut rnd = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let mut r = AudioRing::<i16>::new(7);
        let mut model: std::collections::VecDeque<i16> = Default::default();
        let mut dropped = 0u64;
        let mut next = 0i16;
        for _ in 0..2000 {
            if rnd(2) == 0 {
                let n = rnd(12) as usize;
                let chunk: Vec<i16> = (0..n)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                r.push(&chunk);
                for s in chunk {
                    if model.len() == 7 {
                        model.pop_front();
                        dropped += 1;
                    }
                    model.push_back(s);
                }
            } else {
                let mut out = vec![0; rnd(9) as usize];
                let n = r.pop(&mut out);
                let expect: Vec<i16> = (0..n).map(|_| model.pop_front().unwrap()).collect();
                assert_eq!(&out[..n], &expect[..]);
                assert_eq!(n, expect.len());
            }
            assert_eq!(r.len(), model.len());
            assert_eq!(r.dropped(), dropped);
        }
    }
}
