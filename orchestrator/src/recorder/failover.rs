//! Primary/backup failovers: the phases a new primary reports, matched to
//! the outages they end, so that recovery time splits into detection,
//! failover and catch-up.

use workloads::observation::FailoverPhase;

/// The recovery breakdown of one outage (seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Breakdown {
    /// From the outage's start to the new primary's suspicion of the old one.
    pub detection: Option<f64>,
    /// From that suspicion until every trusted replica acknowledged the new view.
    pub failover: Option<f64>,
    /// From the new view to the new primary holding the newest state and serving.
    pub catch_up: Option<f64>,
}

/// Failover phases as reported, in run-relative seconds.
#[derive(Clone, Debug, Default)]
pub struct FailoverLog {
    phases: Vec<(f64, FailoverPhase, u64)>,
}

impl FailoverLog {
    /// A replica reached `phase` of taking over `view` at `t`.
    pub fn record(&mut self, t: f64, phase: FailoverPhase, view: u64) {
        self.phases.push((t, phase, view));
    }

    /// The breakdown of the outage [start, end]: the first takeover detected
    /// in it (or up to a second after its end, as the outage ends at the send
    /// time of a request the new primary answered later).
    pub fn breakdown(&self, start: f64, end: f64) -> Breakdown {
        let Some(&(td, _, view)) = self
            .phases
            .iter()
            .find(|(t, p, _)| *p == FailoverPhase::Detected && *t >= start && *t <= end + 1.0)
        else {
            return Breakdown::default();
        };
        let at =
            |phase| self.phases.iter().find(|(t, p, v)| *p == phase && *v == view && *t >= td).map(|x| x.0);
        let tv = at(FailoverPhase::ViewInstalled);
        let tc = at(FailoverPhase::CaughtUp);
        Breakdown {
            detection: Some(td - start),
            failover: tv.map(|v| v - td),
            catch_up: tv.zip(tc).map(|(v, c)| c - v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_splits_into_the_phases_of_the_takeover_it_contains() {
        let mut f = FailoverLog::default();
        f.record(3.0, FailoverPhase::Detected, 1);
        f.record(3.1, FailoverPhase::ViewInstalled, 1);
        f.record(3.15, FailoverPhase::CaughtUp, 1);
        f.record(9.0, FailoverPhase::Detected, 2);
        let b = f.breakdown(2.5, 3.2);
        assert!((b.detection.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert!((b.failover.unwrap_or(0.0) - 0.1).abs() < 1e-9);
        assert!((b.catch_up.unwrap_or(0.0) - 0.05).abs() < 1e-9);
        let b = f.breakdown(8.9, 9.5);
        assert_eq!((b.failover, b.catch_up), (None, None), "view 2 never installed");
        assert_eq!(f.breakdown(5.0, 6.0), Breakdown::default());
    }
}
