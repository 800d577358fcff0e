//! The wait before a program is started again: exponential from [`FIRST`] and capped at
//! [`MOST`], each wait drawn between half and all of its step so that programs that fail
//! together do not come back together. A program that stayed up [`RESET_AFTER`] starts
//! from the first step again.

use std::time::Duration;

use rand::Rng;

/// The first step.
pub const FIRST: Duration = Duration::from_millis(200);
/// The largest step.
pub const MOST: Duration = Duration::from_secs(30);
/// A run at least this long resets the steps.
pub const RESET_AFTER: Duration = Duration::from_secs(60);

/// The steps taken so far, for one program.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next start, after a run that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.failures = 0;
        }
        let step = step(self.failures);
        self.failures = self.failures.saturating_add(1);
        rand::thread_rng().gen_range(step / 2..=step)
    }
}

/// The `n`th step (from 0): `FIRST · 2ⁿ`, at most `MOST`.
fn step(n: u32) -> Duration {
    FIRST
        .saturating_mul(2u32.saturating_pow(n.min(16)))
        .min(MOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_up_to_the_cap() {
        assert_eq!(step(0), FIRST);
        assert_eq!(step(1), FIRST * 2);
        assert_eq!(step(3), FIRST * 8);
        assert_eq!(step(20), MOST);
        assert_eq!(step(u32::MAX), MOST);
    }

    #[test]
    fn waits_lie_in_the_upper_half_of_each_step_and_reset_after_a_long_run() {
        let mut backoff = Backoff::default();
        for n in 0..12 {
            let wait = backoff.next(Duration::from_secs(1));
            assert!(wait >= step(n) / 2 && wait <= step(n), "{n}: {wait:?}");
        }
        let wait = backoff.next(RESET_AFTER);
        assert!(wait <= FIRST, "{wait:?}");
    }
}
