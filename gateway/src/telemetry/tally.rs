//! Counts by label, for events that come at most once per connection or request (closes,
//! registers, logins, restarts): a short lock each, and a bounded number of labels.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Labels a tally keeps apart; any further label counts under `other`, so a client that
/// closes with every code it can think of does not grow the exposition.
const MAX_LABELS: usize = 64;

/// Counts by label.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    /// Adds one under `label`.
    pub fn add(&self, label: &str) {
        let mut counts = self.counts.lock();
        if let Some(count) = counts.get_mut(label) {
            *count += 1;
            return;
        }
        let label = if counts.len() < MAX_LABELS {
            label
        } else {
            "other"
        };
        *counts.entry(label.to_owned()).or_default() += 1;
    }

    /// Makes `label` appear with 0 until something is counted under it.
    pub fn touch(&self, label: &str) {
        let mut counts = self.counts.lock();
        if counts.len() < MAX_LABELS && !counts.contains_key(label) {
            counts.insert(label.to_owned(), 0);
        }
    }

    /// Every label and its count, in label order.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.counts
            .lock()
            .iter()
            .map(|(label, count)| (label.clone(), *count))
            .collect()
    }

    /// The count under `label`.
    pub fn get(&self, label: &str) -> u64 {
        self.counts.lock().get(label).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_past_the_limit_count_as_other() {
        let tally = Tally::default();
        tally.touch("ok");
        assert_eq!(tally.snapshot(), vec![("ok".to_owned(), 0)]);
        for code in 0..MAX_LABELS + 10 {
            tally.add(&code.to_string());
        }
        tally.add("ok");
        let snapshot = tally.snapshot();
        assert_eq!(snapshot.len(), MAX_LABELS + 1);
        assert_eq!(tally.get("ok"), 1);
        assert_eq!(tally.get("other"), 11);
    }
}
