//! What a node runs to watch its peers: a heartbeat schedule for itself
//! ([`Beacon`]) and one detector per peer ([`Monitor`]). Shared by the
//! heartbeat workload and primary/backup.

use super::detector::{Detector, DetectorConfig};
use crate::{Effects, NodeId, Observation, Time};
use std::time::Duration;

/// When this node sends its heartbeats: slot k is due at start + k·η, so a
/// late timer neither drifts the schedule nor bursts to catch up.
#[derive(Clone, Debug)]
pub struct Beacon {
    start: Time,
    interval: Duration,
    next: u64,
}

impl Beacon {
    /// A schedule starting at `start` (also this incarnation's epoch).
    pub fn new(start: Time, interval: Duration) -> Beacon {
        Beacon { start, interval: interval.max(Duration::from_micros(1)), next: 0 }
    }

    /// This incarnation's epoch, carried in heartbeats so a restart is told apart.
    pub fn epoch(&self) -> u64 {
        self.start.as_nanos()
    }

    /// The heartbeat due at `now`: its number, and how long until the next one.
    pub fn beat(&mut self, now: Time) -> (u64, Duration) {
        let eta = self.interval.as_nanos().max(1);
        let slot = u64::try_from(now.since(self.start).as_nanos() / eta).unwrap_or(u64::MAX).max(self.next);
        self.next = slot.saturating_add(1);
        let due = Time(
            self.start
                .as_nanos()
                .saturating_add(u64::try_from(eta).unwrap_or(u64::MAX).saturating_mul(self.next)),
        );
        (slot, due.since(now))
    }
}

#[derive(Clone, Debug)]
struct Watched {
    id: NodeId,
    epoch: Option<u64>,
    detector: Detector,
    suspected: bool,
}

/// One detector per peer, and who is suspected now.
#[derive(Clone, Debug)]
pub struct Monitor {
    cfg: DetectorConfig,
    peers: Vec<Watched>,
}

impl Monitor {
    /// Watch every node of `nodes` but `me`, counting from `now` (all trusted at first).
    pub fn new(me: NodeId, nodes: &[NodeId], cfg: &DetectorConfig, now: Time) -> Monitor {
        let peers = nodes
            .iter()
            .filter(|n| **n != me)
            .map(|&id| Watched { id, epoch: None, detector: Detector::new(cfg, now), suspected: false })
            .collect();
        Monitor { cfg: cfg.clone(), peers }
    }

    /// The checking period.
    pub fn check_every(&self) -> Duration {
        self.cfg.check.max(Duration::from_micros(100))
    }

    /// Heartbeat `seq` of `from`'s incarnation `epoch` arrived at `now`; a
    /// suspected peer is trusted again at once (emitting `Trust`). Returns
    /// true when that happened.
    pub fn heartbeat<M>(
        &mut self,
        now: Time,
        from: NodeId,
        epoch: u64,
        seq: u64,
        out: &mut Effects<M>,
    ) -> bool {
        let Some(w) = self.peers.iter_mut().find(|w| w.id == from) else { return false };
        match w.epoch {
            Some(e) if e > epoch => return false,
            // A new incarnation: its numbering and timing start afresh.
            Some(e) if e < epoch => w.detector = Detector::new(&self.cfg, now),
            _ => {}
        }
        w.epoch = Some(epoch);
        w.detector.heartbeat(now, seq);
        if w.suspected && !w.detector.suspects(now) {
            w.suspected = false;
            out.emit(Observation::Trust { peer: from });
            return true;
        }
        false
    }

    /// Ask every detector at `now`; emit `Suspect` / `Trust` for each change.
    /// Returns true when anything changed.
    pub fn check<M>(&mut self, now: Time, out: &mut Effects<M>) -> bool {
        let mut changed = false;
        for w in &mut self.peers {
            let s = w.detector.suspects(now);
            if s != w.suspected {
                w.suspected = s;
                changed = true;
                out.emit(if s {
                    Observation::Suspect { peer: w.id }
                } else {
                    Observation::Trust { peer: w.id }
                });
            }
        }
        changed
    }

    /// Whether `peer` is suspected now (as of the last check or heartbeat).
    pub fn suspects(&self, peer: NodeId) -> bool {
        self.peers.iter().any(|w| w.id == peer && w.suspected)
    }

    /// The peers trusted now.
    pub fn trusted(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.iter().filter(|w| !w.suspected).map(|w| w.id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::detector::DetectorKind;
    use super::*;

    fn cfg() -> DetectorConfig {
        DetectorConfig {
            interval: Duration::from_millis(100),
            check: Duration::from_millis(5),
            kind: DetectorKind::Fixed { timeout: Duration::from_millis(300) },
        }
    }

    #[test]
    fn beacon_keeps_its_schedule_and_skips_slots_missed_during_a_pause() {
        let mut b = Beacon::new(Time::from_millis(1000), Duration::from_millis(100));
        assert_eq!(b.beat(Time::from_millis(1000)), (0, Duration::from_millis(100)));
        assert_eq!(b.beat(Time::from_millis(1103)), (1, Duration::from_millis(97)));
        // Frozen for 1 s: the next beat carries the current slot, no burst.
        assert_eq!(b.beat(Time::from_millis(2250)), (12, Duration::from_millis(50)));
        // A timer firing early in the same slot still moves on.
        assert_eq!(b.beat(Time::from_millis(2250)).0, 13);
    }

    #[test]
    fn monitor_suspects_trusts_and_resets_on_a_new_incarnation() {
        let mut m = Monitor::new(NodeId(0), &[NodeId(0), NodeId(1), NodeId(2)], &cfg(), Time::ZERO);
        let mut out: Effects<()> = Effects::new();
        m.heartbeat(Time::from_millis(100), NodeId(1), 7, 1, &mut out);
        assert!(!m.check(Time::from_millis(300), &mut out));
        assert!(m.check(Time::from_millis(301), &mut out), "node 2 never heard from");
        assert_eq!(out.observations, vec![Observation::Suspect { peer: NodeId(2) }]);
        out.clear();
        m.check(Time::from_millis(401), &mut out);
        assert_eq!(out.observations, vec![Observation::Suspect { peer: NodeId(1) }]);
        out.clear();
        // An old incarnation's heartbeat after a newer one is ignored; the new one is trusted at once.
        assert!(m.heartbeat(Time::from_millis(500), NodeId(1), 9, 0, &mut out));
        assert!(!m.heartbeat(Time::from_millis(501), NodeId(1), 7, 2, &mut out));
        assert_eq!(out.observations, vec![Observation::Trust { peer: NodeId(1) }]);
        assert!(!m.suspects(NodeId(1)) && m.suspects(NodeId(2)));
        assert_eq!(m.trusted().collect::<Vec<_>>(), vec![NodeId(1)]);
    }
}
