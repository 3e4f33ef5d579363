//! Millisecond clocks. The fusion code never reads a clock itself: callers
//! pass `now_ms`, typically from a [`Clock`].

use core::cell::Cell;

/// A monotonic millisecond clock.
pub trait Clock {
    /// Milliseconds since an arbitrary, fixed origin; never decreases.
    fn now_ms(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// A manually driven clock for tests and replays: time only moves when
/// [`MockClock::set`] or [`MockClock::advance`] is called.
#[derive(Clone, Debug, Default)]
pub struct MockClock {
    now: Cell<u64>,
}

impl MockClock {
    /// A clock reading `start_ms`.
    pub const fn new(start_ms: u64) -> Self {
        MockClock {
            now: Cell::new(start_ms),
        }
    }

    /// Sets the current time.
    pub fn set(&self, now_ms: u64) {
        self.now.set(now_ms);
    }

    /// Moves the clock forward by `dt_ms` (saturating) and returns the new
    /// time.
    pub fn advance(&self, dt_ms: u64) -> u64 {
        let t = self.now.get().saturating_add(dt_ms);
        self.now.set(t);
        t
    }
}

impl Clock for MockClock {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
}

/// Wall-clock-independent monotonic clock from [`std::time::Instant`],
/// counting from its creation.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    start: std::time::Instant,
}

#[cfg(feature = "std")]
impl StdClock {
    /// A clock reading 0 now.
    pub fn new() -> Self {
        StdClock {
            start: std::time::Instant::now(),
        }
    }
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_moves_only_when_told() {
        let c = MockClock::new(5);
        assert_eq!(c.now_ms(), 5);
        assert_eq!(c.advance(10), 15);
        fn read<C: Clock>(c: C) -> u64 {
            c.now_ms()
        }
        assert_eq!(read(&c), 15);
        c.set(3);
        assert_eq!(c.now_ms(), 3);
        c.set(u64::MAX - 1);
        assert_eq!(c.advance(10), u64::MAX);
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_clock_is_monotonic() {
        let c = StdClock::new();
        let a = c.now_ms();
        let b = c.now_ms();
        assert!(b >= a);
    }
}
