//! Outages from request outcomes folded in send order (DESIGN.md, "Metrics"):
//! an outage starts at the send time of the first failed request and ends at
//! the send time of the next request answered correctly. Outages that touch
//! or overlap (a burst of requests sent at one instant, some failed and some
//! not) are one outage: a failure is a stretch of time, not a count of ties.

/// A finished outage, in run-relative seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    pub start: f64,
    pub end: f64,
    /// Requests failed or wrong in it.
    pub failed: u64,
}

/// What one folded request changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Started(f64),
    Ended { start: f64, end: f64 },
}

/// Folds request outcomes (in send order) into outages.
#[derive(Clone, Debug, Default)]
pub struct OutageTracker {
    open: Option<(f64, u64)>,
    done: Vec<Outage>,
}

impl OutageTracker {
    /// Fold a request sent at `t` that was (`correct`) or was not answered correctly.
    pub fn record(&mut self, t: f64, correct: bool) -> Option<Change> {
        match (&mut self.open, correct) {
            (None, true) => None,
            (None, false) => {
                self.open = Some((t, 1));
                Some(Change::Started(t))
            }
            (Some((_, n)), false) => {
                *n += 1;
                None
            }
            (Some((start, n)), true) => {
                let (start, failed) = (*start, *n);
                self.open = None;
                // A correct reply to a request sent at the very instant the
                // outage began ends nothing yet: the outage stays open until
                // a later request is answered.
                if t <= start {
                    self.open = Some((start, failed));
                    return None;
                }
                Some(self.push(Outage { start, end: t, failed }))
            }
        }
    }

    /// Add a finished outage, merged with the previous one when they touch.
    fn push(&mut self, o: Outage) -> Change {
        match self.done.last_mut() {
            Some(prev) if o.start <= prev.end => {
                prev.end = prev.end.max(o.end);
                prev.failed += o.failed;
                Change::Ended { start: prev.start, end: prev.end }
            }
            _ => {
                let change = Change::Ended { start: o.start, end: o.end };
                self.done.push(o);
                change
            }
        }
    }

    /// Fold `n` (at least one) requests due at `t` that all failed.
    pub fn record_failed(&mut self, t: f64, n: u64) -> Option<Change> {
        let change = self.record(t, false);
        if let Some((_, failed)) = &mut self.open {
            *failed += n.saturating_sub(1);
        }
        change
    }

    /// Close an outage still open at the run's end; returns its start.
    pub fn close(&mut self, end: f64) -> Option<f64> {
        let (start, failed) = self.open.take()?;
        self.push(Outage { start, end: end.max(start), failed });
        Some(start)
    }

    /// The open outage's start, if any.
    pub fn open(&self) -> Option<f64> {
        self.open.map(|(s, _)| s)
    }

    /// Finished outages.
    pub fn outages(&self) -> &[Outage] {
        &self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_runs_from_first_failure_to_next_success() {
        let mut t = OutageTracker::default();
        assert_eq!(t.record(1.0, true), None);
        assert_eq!(t.record(2.0, false), Some(Change::Started(2.0)));
        assert_eq!(t.record(2.5, false), None);
        assert_eq!(t.record(3.0, true), Some(Change::Ended { start: 2.0, end: 3.0 }));
        assert_eq!(t.outages(), &[Outage { start: 2.0, end: 3.0, failed: 2 }]);
    }

    #[test]
    fn ties_at_one_instant_make_one_outage_not_many() {
        // A burst sent at one instant (a host stall released), alternating
        // failed and answered: one outage, not one per failed request.
        let mut t = OutageTracker::default();
        t.record(19.0, true);
        for _ in 0..7 {
            t.record(19.2632, false);
            t.record(19.2632, true);
        }
        t.record(19.2637, true);
        assert_eq!(t.outages(), &[Outage { start: 19.2632, end: 19.2637, failed: 7 }]);
    }

    #[test]
    fn an_outage_that_starts_where_the_previous_ended_extends_it() {
        let mut t = OutageTracker::default();
        t.record(1.0, false);
        t.record(2.0, true);
        t.record(2.0, false);
        t.record(3.0, true);
        assert_eq!(t.outages(), &[Outage { start: 1.0, end: 3.0, failed: 2 }]);
    }

    #[test]
    fn an_outage_open_at_the_end_is_closed_there() {
        let mut t = OutageTracker::default();
        t.record(4.0, false);
        assert_eq!(t.close(10.0), Some(4.0));
        assert_eq!(t.outages()[0].end, 10.0);
        assert_eq!(t.close(11.0), None);
    }
}
