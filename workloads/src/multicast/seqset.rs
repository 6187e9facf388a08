//! A set of one sender's sequence numbers: a contiguous prefix and the
//! numbers received beyond it.

use std::collections::BTreeSet;

/// Sequence numbers 1..=prefix, and `above`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqSet {
    prefix: u64,
    above: BTreeSet<u64>,
}

impl SeqSet {
    /// Every number up to `prefix` and none beyond.
    pub fn upto(prefix: u64) -> SeqSet {
        SeqSet { prefix, above: BTreeSet::new() }
    }

    /// Add `seq`; false when it was there already.
    pub fn insert(&mut self, seq: u64) -> bool {
        if self.contains(seq) {
            return false;
        }
        if seq == self.prefix + 1 {
            self.prefix = seq;
            while self.above.remove(&(self.prefix + 1)) {
                self.prefix += 1;
            }
        } else {
            self.above.insert(seq);
        }
        true
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        seq <= self.prefix || self.above.contains(&seq)
    }

    /// The highest n such that 1..=n are all in the set.
    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    /// The highest number in the set (0 when empty).
    pub fn max(&self) -> u64 {
        self.above.last().copied().unwrap_or(0).max(self.prefix)
    }

    /// The numbers missing up to `upto`.
    pub fn missing(&self, upto: u64) -> impl Iterator<Item = u64> + '_ {
        (self.prefix + 1..=upto).filter(|s| !self.above.contains(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_grows_over_what_arrived_ahead() {
        let mut s = SeqSet::default();
        assert!(s.insert(2) && s.insert(3));
        assert_eq!((s.prefix(), s.max()), (0, 3));
        assert_eq!(s.missing(5).collect::<Vec<_>>(), vec![1, 4, 5]);
        assert!(s.insert(1));
        assert_eq!(s.prefix(), 3);
        assert!(!s.insert(2));
        assert!(SeqSet::upto(7).contains(7) && !SeqSet::upto(7).contains(8));
    }
}
