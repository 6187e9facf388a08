//! The run's schedule as steps: sans-IO, it turns the fault occurrences
//! (from the file or injected by hand) and `now` into the steps due, every
//! step due at one instant together, so that faults scheduled for the same
//! instant are executed as one batch.

use std::collections::BTreeMap;
use std::time::Duration;

/// One step: an occurrence begins or ends, at its scheduled run time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub occurrence: usize,
    pub begin: bool,
    pub at: Duration,
}

/// Pending steps, ordered by run time, then by the order they were added.
#[derive(Debug, Default)]
pub struct Steps {
    pending: BTreeMap<(Duration, u64), (usize, bool)>,
    seq: u64,
}

impl Steps {
    /// Schedule an occurrence: its begin at `start`, its end at `end` when
    /// that falls before `horizon` (the run's end ends everything anyway).
    pub fn add(&mut self, occurrence: usize, start: Duration, end: Option<Duration>, horizon: Duration) {
        self.pending.insert((start, self.seq), (occurrence, true));
        if let Some(end) = end.filter(|e| *e < horizon) {
            self.pending.insert((end, self.seq + 1), (occurrence, false));
        }
        self.seq += 2;
    }

    /// When the next step is due (run time), if any.
    pub fn next_due(&self) -> Option<Duration> {
        self.pending.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Every step due at or before `now`, in order.
    pub fn due(&mut self, now: Duration) -> Vec<Step> {
        let mut out = Vec::new();
        while let Some((&(at, seq), _)) = self.pending.first_key_value() {
            if at > now {
                break;
            }
            if let Some((occurrence, begin)) = self.pending.remove(&(at, seq)) {
                out.push(Step { occurrence, begin, at });
            }
        }
        out
    }

    /// Take the begin step of an occurrence out of the schedule (to run it now).
    pub fn take_begin(&mut self, occurrence: usize) -> Option<Step> {
        let key = self.pending.iter().find(|(_, v)| **v == (occurrence, true)).map(|(k, _)| *k)?;
        self.pending.remove(&key).map(|_| Step { occurrence, begin: true, at: key.0 })
    }

    /// Forget every pending step of an occurrence.
    pub fn cancel(&mut self, occurrence: usize) {
        self.pending.retain(|_, v| v.0 != occurrence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_due_at_one_instant_come_out_together_in_the_order_added() {
        let mut s = Steps::default();
        s.add(0, ms(5000), Some(ms(7000)), ms(30_000));
        s.add(1, ms(5000), Some(ms(7000)), ms(30_000));
        s.add(2, ms(6000), None, ms(30_000));
        assert_eq!(s.next_due(), Some(ms(5000)));
        assert!(s.due(ms(4999)).is_empty());
        let due = s.due(ms(5000));
        assert_eq!(due.iter().map(|d| (d.occurrence, d.begin)).collect::<Vec<_>>(), [(0, true), (1, true)]);
        // A late wake-up (a stalled loop) gets everything overdue, in time order.
        let due = s.due(ms(7500));
        assert_eq!(
            due.iter().map(|d| (d.occurrence, d.begin, d.at)).collect::<Vec<_>>(),
            [(2, true, ms(6000)), (0, false, ms(7000)), (1, false, ms(7000))]
        );
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn ends_past_the_horizon_are_left_to_the_run_end_and_steps_can_be_taken_or_cancelled() {
        let mut s = Steps::default();
        s.add(0, ms(1000), Some(ms(40_000)), ms(30_000));
        s.add(1, ms(2000), Some(ms(3000)), ms(30_000));
        assert_eq!(s.take_begin(1), Some(Step { occurrence: 1, begin: true, at: ms(2000) }));
        s.cancel(1);
        let due = s.due(ms(60_000));
        assert_eq!(due, [Step { occurrence: 0, begin: true, at: ms(1000) }]);
    }
}
