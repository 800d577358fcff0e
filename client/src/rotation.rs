//! Which URL to try next when a connection has several: round the list from the one after
//! the last in use, leaving out those that refused for good during this round of attempts.

/// The order of attempts over `len` URLs.
#[derive(Clone, Debug)]
pub(crate) struct Rotation {
    /// The URL tried (or used) last.
    current: usize,
    /// URLs that refused for a reason that will not change.
    refused: Vec<bool>,
}

impl Rotation {
    /// A rotation over `len` URLs (at least one) whose last used URL is `current`: the
    /// first [`Rotation::next`] is the one after it.
    pub fn after(current: usize, len: usize) -> Self {
        let len = len.max(1);
        Self {
            current: current % len,
            refused: vec![false; len],
        }
    }

    /// A rotation whose first [`Rotation::next`] is the first URL.
    pub fn from_start(len: usize) -> Self {
        Self::after(len.max(1) - 1, len)
    }

    /// The next URL to try, or `None` when every URL has refused for good.
    pub fn next(&mut self) -> Option<usize> {
        let len = self.refused.len();
        let next = (1..=len)
            .map(|step| (self.current + step) % len)
            .find(|&at| !self.refused[at])?;
        self.current = next;
        Some(next)
    }

    /// Whether some URL has not refused for good.
    pub fn any_left(&self) -> bool {
        self.refused.iter().any(|refused| !refused)
    }

    /// URL `at` refused for a reason that will not change: it is not tried again.
    pub fn refuse(&mut self, at: usize) {
        if let Some(refused) = self.refused.get_mut(at) {
            *refused = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(rotation: &mut Rotation, n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| rotation.next()).collect()
    }

    #[test]
    fn goes_round_from_the_one_after_the_current() {
        let mut rotation = Rotation::after(1, 3);
        assert_eq!(take(&mut rotation, 4), [Some(2), Some(0), Some(1), Some(2)]);
        let mut first = Rotation::from_start(3);
        assert_eq!(take(&mut first, 3), [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn one_url_is_always_the_next() {
        let mut rotation = Rotation::after(0, 1);
        assert_eq!(take(&mut rotation, 3), [Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn refused_urls_are_left_out_until_none_is_left() {
        let mut rotation = Rotation::from_start(3);
        assert_eq!(rotation.next(), Some(0));
        rotation.refuse(0);
        assert_eq!(take(&mut rotation, 3), [Some(1), Some(2), Some(1)]);
        rotation.refuse(1);
        assert_eq!(take(&mut rotation, 2), [Some(2), Some(2)]);
        assert!(rotation.any_left());
        rotation.refuse(2);
        assert!(!rotation.any_left());
        assert_eq!(rotation.next(), None);
    }
}
