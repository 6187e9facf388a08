//! Outages from request outcomes folded in send order (DESIGN.md, "Metrics"):
//! an outage starts at the send time of the first failed request and ends at
//! the send time of the next request answered correctly.

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
                self.done.push(Outage { start, end: t, failed });
                Some(Change::Ended { start, end: t })
            }
        }
    }

    /// Close an outage still open at the run's end; returns its start.
    pub fn close(&mut self, end: f64) -> Option<f64> {
        let (start, failed) = self.open.take()?;
        self.done.push(Outage { start, end: end.max(start), failed });
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
    fn an_outage_open_at_the_end_is_closed_there() {
        let mut t = OutageTracker::default();
        t.record(4.0, false);
        assert_eq!(t.close(10.0), Some(4.0));
        assert_eq!(t.outages()[0].end, 10.0);
        assert_eq!(t.close(11.0), None);
    }
}
