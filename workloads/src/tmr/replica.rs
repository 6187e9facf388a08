//! A replica: applies requests in sequence order, sends each result to the
//! voters, and fetches the state from its peers after a restart or a gap.

use super::ledger::{Ledger, Op, Snapshot};
use super::{Config, Msg, TICK_TIMER};
use crate::observation::RecoveryReason;
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Out-of-order requests a replica keeps at most; beyond, the oldest are
/// dropped (state transfer covers them).
const MAX_BUFFER: usize = 1 << 16;

/// Unanswered rounds of state requests after which a replica fills its gap itself.
const GIVE_UP_ROUNDS: u32 = 3;

/// A state transfer in progress.
#[derive(Clone, Debug, Hash)]
struct Recovery {
    reason: RecoveryReason,
    started: Time,
    asked: Time,
    /// State requests sent without a usable reply.
    rounds: u32,
}

/// The replica's state.
#[derive(Clone, Debug, Hash)]
pub struct Replica {
    me: NodeId,
    peers: Vec<NodeId>,
    voters: Vec<NodeId>,
    gap_timeout: Duration,
    restarted: bool,
    ledger: Ledger,
    /// Requests received ahead of the next one to apply.
    buffer: BTreeMap<u64, Op>,
    /// Since when the next request has been missing while later ones wait.
    gap_since: Option<Time>,
    recovery: Option<Recovery>,
}

impl Replica {
    /// Replica `me` for `config`; a `restarted` one fetches its state before it votes.
    pub fn new(me: NodeId, config: &Config, restarted: bool) -> Replica {
        Replica {
            me,
            peers: config.replicas.iter().copied().filter(|r| *r != me).collect(),
            voters: config.voters.clone(),
            gap_timeout: config.gap_timeout,
            restarted,
            ledger: Ledger::new(),
            buffer: BTreeMap::new(),
            gap_since: None,
            recovery: None,
        }
    }

    /// The ledger's state (tests and diagnostics).
    pub fn snapshot(&self) -> Snapshot {
        self.ledger.snapshot()
    }

    /// True while the replica fetches state from its peers (and does not vote).
    pub fn is_recovering(&self) -> bool {
        self.recovery.is_some()
    }

    /// How often the replica looks for gaps and retries state requests.
    fn tick(&self) -> Duration {
        (self.gap_timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(50))
    }

    /// How long a recovering replica waits for a usable state reply before asking again.
    fn retry(&self) -> Duration {
        self.gap_timeout.max(Duration::from_millis(5))
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.restarted {
            self.start_recovery(now, RecoveryReason::Restart, out);
        }
        out.set_timer(self.tick(), TICK_TIMER);
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match msg {
            Msg::Request { seq, op } => self.on_request(now, seq, op, out),
            Msg::StateRequest => {
                if self.recovery.is_none() && from != self.me {
                    out.send(from, Msg::StateReply { snapshot: self.ledger.snapshot() });
                }
            }
            Msg::StateReply { snapshot } => self.on_state_reply(now, snapshot, out),
            Msg::Result { .. } | Msg::Output { .. } => {}
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer != TICK_TIMER {
            return;
        }
        let retry = self.retry();
        match &mut self.recovery {
            Some(r) if r.reason == RecoveryReason::Gap && r.rounds >= GIVE_UP_ROUNDS => {
                let started = r.started;
                self.fill_gap(now, started, out);
            }
            Some(r) if now >= r.asked + retry => {
                r.asked = now;
                r.rounds += 1;
                self.ask_peers(out);
            }
            Some(_) => {}
            None => {
                if self.gap_since.is_some_and(|since| now >= since + self.gap_timeout) {
                    self.start_recovery(now, RecoveryReason::Gap, out);
                }
            }
        }
        out.set_timer(self.tick(), TICK_TIMER);
    }

    fn on_request(&mut self, now: Time, seq: u64, op: Op, out: &mut Effects<Msg>) {
        if seq <= self.ledger.seq() {
            return;
        }
        if self.recovery.is_none() && seq == self.ledger.seq() + 1 && self.buffer.is_empty() {
            // The common case: in order, nothing waiting.
            self.apply(seq, op, out);
            return;
        }
        self.buffer.insert(seq, op);
        if self.buffer.len() > MAX_BUFFER {
            self.buffer.pop_first();
        }
        if self.recovery.is_none() {
            self.drain(now, out);
        }
    }

    fn apply(&mut self, seq: u64, op: Op, out: &mut Effects<Msg>) {
        let value = self.ledger.apply(seq, op);
        for v in &self.voters {
            out.send(*v, Msg::Result { seq, value });
        }
    }

    /// Apply the buffered requests that follow the ledger, and track whether a gap remains.
    fn drain(&mut self, now: Time, out: &mut Effects<Msg>) {
        let mut progressed = false;
        while let Some(entry) = self.buffer.first_entry() {
            let seq = *entry.key();
            if seq <= self.ledger.seq() {
                entry.remove();
            } else if seq == self.ledger.seq() + 1 {
                let op = entry.remove();
                self.apply(seq, op, out);
                progressed = true;
            } else {
                break;
            }
        }
        self.gap_since = match self.gap_since {
            _ if self.buffer.is_empty() => None,
            Some(since) if !progressed => Some(since),
            _ => Some(now),
        };
    }

    fn start_recovery(&mut self, now: Time, reason: RecoveryReason, out: &mut Effects<Msg>) {
        self.recovery = Some(Recovery { reason, started: now, asked: now, rounds: 1 });
        self.gap_since = None;
        out.emit(Observation::RecoveryStarted { reason });
        if self.peers.is_empty() {
            // A lone replica has nobody to ask: it goes on from what it has
            // (after a restart, the initial state), and a gap is filled by
            // re-deriving the missing requests, as when no peer could fill it.
            match reason {
                RecoveryReason::Restart => self.complete(now, now, out),
                RecoveryReason::Gap => self.fill_gap(now, now, out),
            }
            return;
        }
        self.ask_peers(out);
    }

    fn ask_peers(&self, out: &mut Effects<Msg>) {
        for p in &self.peers {
            out.send(*p, Msg::StateRequest);
        }
    }

    fn on_state_reply(&mut self, now: Time, snapshot: Snapshot, out: &mut Effects<Msg>) {
        let Some(recovery) = &self.recovery else { return };
        // Usable only if it does not go back and the buffer continues right after it.
        let continues = match self.buffer.range(snapshot.seq.saturating_add(1)..).next() {
            Some((first, _)) => *first == snapshot.seq + 1,
            None => true,
        };
        if snapshot.seq < self.ledger.seq() || !continues {
            return;
        }
        let started = recovery.started;
        self.ledger = Ledger::restore(snapshot);
        self.complete(now, started, out);
    }

    /// No peer could fill the gap (the request was lost to every replica, or
    /// the peers are down): re-derive the missing requests, whose ops this
    /// workload defines as a function of the sequence number. Without this one
    /// request lost to all replicas would stop every one of them for good.
    fn fill_gap(&mut self, now: Time, started: Time, out: &mut Effects<Msg>) {
        let upto = self.buffer.keys().next().map_or(self.ledger.seq(), |first| first - 1);
        for seq in self.ledger.seq() + 1..=upto {
            // No Result: the voters have long given their verdict on these.
            self.ledger.apply(seq, Op::for_seq(seq));
        }
        self.complete(now, started, out);
    }

    fn complete(&mut self, now: Time, started: Time, out: &mut Effects<Msg>) {
        self.recovery = None;
        self.drain(now, out);
        out.emit(Observation::RecoveryCompleted { seq: self.ledger.seq(), restore: now.since(started) });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    fn results(out: &Effects<Msg>) -> Vec<(u64, i64)> {
        out.sends
            .iter()
            .filter_map(|(_, m)| match m {
                Msg::Result { seq, value } => Some((*seq, *value)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn applies_in_order_and_buffers_out_of_order_requests() {
        let cfg = config(3, 1, 1000.0);
        let mut r = Replica::new(cfg.replicas[0], &cfg, false);
        let mut out = Effects::new();
        r.on_start(Time::ZERO, &mut out);
        out.clear();
        let req = |seq| Msg::Request { seq, op: Op::for_seq(seq) };
        r.on_message(Time::from_millis(1), cfg.clients[0], req(2), &mut out);
        assert!(results(&out).is_empty());
        r.on_message(Time::from_millis(1), cfg.clients[0], req(1), &mut out);
        r.on_message(Time::from_millis(1), cfg.clients[0], req(1), &mut out);
        let mut oracle = Ledger::new();
        let expected: Vec<_> = (1..=2).map(|s| (s, oracle.apply(s, Op::for_seq(s)))).collect();
        assert_eq!(results(&out), expected);
        assert_eq!(r.snapshot(), oracle.snapshot());
        assert_eq!(r.gap_since, None);
    }

    #[test]
    fn restarted_replica_rejects_a_snapshot_its_buffer_cannot_continue() {
        let cfg = config(3, 1, 1000.0);
        let mut r = Replica::new(cfg.replicas[0], &cfg, true);
        let mut out = Effects::new();
        r.on_start(Time::ZERO, &mut out);
        assert_eq!(out.observations, vec![Observation::RecoveryStarted { reason: RecoveryReason::Restart }]);
        out.clear();
        let mut peer = Ledger::new();
        for s in 1..=10 {
            peer.apply(s, Op::for_seq(s));
        }
        let behind = peer.snapshot();
        r.on_message(
            Time::from_millis(1),
            cfg.clients[0],
            Msg::Request { seq: 12, op: Op::for_seq(12) },
            &mut out,
        );
        r.on_message(Time::from_millis(2), cfg.replicas[1], Msg::StateReply { snapshot: behind }, &mut out);
        assert!(r.is_recovering() && out.is_empty(), "seq 11 would be missing");
        peer.apply(11, Op::for_seq(11));
        r.on_message(
            Time::from_millis(3),
            cfg.replicas[2],
            Msg::StateReply { snapshot: peer.snapshot() },
            &mut out,
        );
        assert!(!r.is_recovering());
        assert_eq!(r.snapshot().seq, 12);
        assert_eq!(
            out.observations,
            vec![Observation::RecoveryCompleted { seq: 12, restore: Duration::from_millis(3) }]
        );
    }

    #[test]
    fn a_lone_replica_restarts_without_waiting_for_peers_and_answers_again() {
        let cfg = config(1, 1, 1000.0);
        let mut r = Replica::new(cfg.replicas[0], &cfg, true);
        let mut out = Effects::new();
        r.on_start(Time::ZERO, &mut out);
        assert!(!r.is_recovering(), "nobody to fetch from: recovery ends at once");
        assert!(out.sends.iter().all(|(_, m)| !matches!(m, Msg::StateRequest)));
        // Requests resume at seq 100: the gap is filled from the ops and it answers.
        out.clear();
        r.on_request(Time::from_millis(1), 100, Op::for_seq(100), &mut out);
        let mut t = 1;
        while results(&out).is_empty() && t < 1000 {
            t += 1;
            r.on_timer(Time::from_millis(t), TICK_TIMER, &mut out);
        }
        let mut oracle = Ledger::new();
        let expected = (1..=100).map(|seq| oracle.apply(seq, Op::for_seq(seq))).last().unwrap();
        assert_eq!(results(&out), vec![(100, expected)]);
    }
}
