//! Frames and bytes moved on one channel, and the totals of the channels that closed.
//!
//! Each count has one writer at a time: the channel's reader for what it received, whoever
//! holds the socket's lock for what it sent. So a count is bumped with a plain load and
//! store (no locked instruction), and a scrape reads it from any thread.

use std::sync::atomic::{AtomicU64, Ordering};

/// Frames and bytes one side of a channel moved.
#[derive(Debug, Default)]
pub struct Traffic {
    frames: AtomicU64,
    bytes: AtomicU64,
}

impl Traffic {
    /// Adds `frames` and `bytes`. Only the count's one writer calls this (see the module doc).
    pub fn add(&self, frames: u64, bytes: u64) {
        let bump = |counter: &AtomicU64, by: u64| {
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(by),
                Ordering::Relaxed,
            );
        };
        bump(&self.frames, frames);
        bump(&self.bytes, bytes);
    }

    /// Frames and bytes so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.frames.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Frames and bytes received and sent, as one set of numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSums {
    /// Frames clients sent.
    pub frames_in: u64,
    /// Payload bytes of those frames.
    pub bytes_in: u64,
    /// Frames sent to clients.
    pub frames_out: u64,
    /// Bytes of those frames on the wire.
    pub bytes_out: u64,
}

impl std::ops::AddAssign for TrafficSums {
    fn add_assign(&mut self, other: Self) {
        self.frames_in += other.frames_in;
        self.bytes_in += other.bytes_in;
        self.frames_out += other.frames_out;
        self.bytes_out += other.bytes_out;
    }
}

/// What closed channels moved, added once per channel as it closes.
#[derive(Debug, Default)]
pub struct TrafficTotals {
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl TrafficTotals {
    /// Adds a closed channel's numbers.
    pub fn add(&self, sums: TrafficSums) {
        self.frames_in.fetch_add(sums.frames_in, Ordering::Relaxed);
        self.bytes_in.fetch_add(sums.bytes_in, Ordering::Relaxed);
        self.frames_out
            .fetch_add(sums.frames_out, Ordering::Relaxed);
        self.bytes_out.fetch_add(sums.bytes_out, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn get(&self) -> TrafficSums {
        TrafficSums {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_adds_up_and_its_sums_join_the_totals() {
        let (received, sent) = (Traffic::default(), Traffic::default());
        received.add(1, 5);
        received.add(1, 7);
        sent.add(3, 30);
        let ((frames_in, bytes_in), (frames_out, bytes_out)) = (received.get(), sent.get());
        let sums = TrafficSums {
            frames_in,
            bytes_in,
            frames_out,
            bytes_out,
        };
        assert_eq!(
            sums,
            TrafficSums {
                frames_in: 2,
                bytes_in: 12,
                frames_out: 3,
                bytes_out: 30
            }
        );
        let totals = TrafficTotals::default();
        totals.add(sums);
        totals.add(sums);
        assert_eq!(totals.get().frames_in, 4);
        assert_eq!(totals.get().bytes_out, 60);
    }
}
