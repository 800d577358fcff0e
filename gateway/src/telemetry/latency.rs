//! The time from a push to its bytes reaching the socket, sampled: one push in
//! [`SAMPLE_EVERY`] is timed, so a fan-out to a thousand channels reads the clock some
//! fifteen times, not a thousand.
//!
//! A sampled push that is written at once (the fast path) is timed around the write. One
//! that is queued leaves its time in the channel's [`Stamp`]; the writer takes the stamp
//! with the batch that holds the frame and records the time once that batch is written.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use metrics::Histogram;

/// One push in this many is timed.
pub const SAMPLE_EVERY: u32 = 64;

thread_local! {
    static TICK: Cell<u32> = const { Cell::new(0) };
}

/// Whether this push is one to time.
pub fn sampled() -> bool {
    TICK.with(|tick| {
        let next = tick.get().wrapping_add(1);
        tick.set(next);
        next % SAMPLE_EVERY == 0
    })
}

/// Nanoseconds since a fixed moment of this process; never 0.
pub fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let nanos = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

/// Records the time since `since` (from [`now`]) in `histogram`, in seconds.
pub fn record_since(histogram: &Histogram, since: u64) {
    let elapsed = now().saturating_sub(since);
    histogram.record(elapsed as f64 / 1e9);
}

/// When a sampled push that waits in a channel's queue was made; 0 when none waits.
#[derive(Debug, Default)]
pub struct Stamp(AtomicU64);

impl Stamp {
    /// Notes a sampled push made at `at`, unless an older one waits already.
    pub fn set(&self, at: u64) {
        if self.0.load(Ordering::Relaxed) == 0 {
            let _ = self
                .0
                .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Takes the waiting push's time, if any.
    pub fn take(&self) -> Option<u64> {
        if self.0.load(Ordering::Relaxed) == 0 {
            return None;
        }
        match self.0.swap(0, Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_push_in_sample_every_is_timed() {
        let timed = (0..SAMPLE_EVERY * 4).filter(|_| sampled()).count();
        assert_eq!(timed, 4);
    }

    #[test]
    fn a_stamp_keeps_the_oldest_push_until_taken() {
        let stamp = Stamp::default();
        assert_eq!(stamp.take(), None);
        stamp.set(10);
        stamp.set(20);
        assert_eq!(stamp.take(), Some(10));
        assert_eq!(stamp.take(), None);
        assert!(now() > 0);
    }
}
