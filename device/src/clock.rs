//! Time, passed in rather than read or slept on directly, so every piece of
//! pacing logic (replay frame rates, log fsync intervals, LED transition
//! timestamps) runs instantly and deterministically in tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock that can also wait.
pub trait Clock {
    /// Time since the clock's origin; never decreases.
    fn now(&self) -> Duration;

    /// Blocks for `d` (the system clock) or moves time forward by `d`
    /// (the mock clock).
    fn sleep(&self, d: Duration);

    /// [`now`](Self::now) in whole milliseconds (saturating).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.now().as_millis()).unwrap_or(u64::MAX)
    }

    /// Waits until [`now`](Self::now) reaches `t`; returns at once when it
    /// already has.
    fn sleep_until(&self, t: Duration) {
        let now = self.now();
        if t > now {
            self.sleep(t - now);
        }
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

/// The real clock: [`Instant`] since creation, [`std::thread::sleep`].
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    /// A clock reading zero now.
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that only moves when told to, or when someone sleeps on it.
///
/// Clones share the same time, so a test can keep one handle and give
/// another to the code under test.
#[derive(Clone, Debug, Default)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// A clock reading `start`.
    pub fn new(start: Duration) -> Self {
        let clock = MockClock::default();
        clock.set(start);
        clock
    }

    /// Sets the time (may go backwards: only for tests that need it).
    pub fn set(&self, t: Duration) {
        let n = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(n, Ordering::SeqCst);
    }

    /// Moves time forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(n))
            });
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }
}

impl Clock for MockClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

impl emoedge_shared::fusion::Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        Clock::now_ms(self)
    }
}

impl emoedge_shared::fusion::Clock for MockClock {
    fn now_ms(&self) -> u64 {
        Clock::now_ms(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_moves_only_when_told_or_slept_on() {
        let c = MockClock::new(Duration::from_millis(5));
        let shared = c.clone();
        assert_eq!(c.now_ms(), 5);
        c.advance_ms(10);
        assert_eq!(shared.now_ms(), 15);
        shared.sleep(Duration::from_millis(100));
        assert_eq!(c.now_ms(), 115);
        c.sleep_until(Duration::from_millis(50));
        assert_eq!(c.now_ms(), 115, "sleeping until the past does nothing");
        c.sleep_until(Duration::from_millis(200));
        assert_eq!(c.now_ms(), 200);
        c.set(Duration::from_nanos(u64::MAX - 1));
        c.advance_ms(1);
        assert_eq!(c.now(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn system_clock_is_monotonic_and_sleeps() {
        let c = SystemClock::new();
        let a = c.now();
        c.sleep(Duration::from_millis(2));
        assert!(c.now() >= a + Duration::from_millis(2));
    }

    #[test]
    fn clocks_serve_fusion() {
        fn fusion_now(c: &impl emoedge_shared::fusion::Clock) -> u64 {
            c.now_ms()
        }
        let c = MockClock::new(Duration::from_millis(42));
        assert_eq!(fusion_now(&c), 42);
    }
}
