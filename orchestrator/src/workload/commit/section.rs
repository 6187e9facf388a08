//! The recorder's section for the commit protocols (2PC / 3PC): `commit` in
//! report.json (transactions, outcomes, blocking), the commit panel and
//! line of the dashboard.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tui::snapshot::{CommitView, Signal};
use workloads::commit::CommitEvent;
use workloads::{NodeId, Observation, Time};

/// `commit` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CommitReport {
    /// Transactions the coordinator started.
    pub transactions: u64,
    /// Transactions some node committed / aborted.
    pub committed: u64,
    pub aborted: u64,
    /// Transactions committed by some node and aborted by another (atomicity broken; should be 0).
    pub inconsistent: u64,
    /// Started transactions no node had decided by the end.
    pub undecided: u64,
    /// Of those, the ones older at the end than the slowest decided transaction
    /// took to be decided: left hanging, not merely in flight when the run stopped.
    pub hung: u64,
    /// Participant-transaction pairs that blocked (2PC: READY, nobody could tell the outcome).
    pub blocked: u64,
    /// Distinct transactions with a blocked participant.
    pub blocked_transactions: u64,
    /// Time participants spent blocked, summed (still blocked at the end: until the end).
    pub blocked_seconds: f64,
    /// The longest a participant stayed blocked on one transaction.
    pub max_blocked_seconds: f64,
    /// Transactions a participant decided for a silent coordinator (3PC termination).
    pub terminations: u64,
    /// The longest from a transaction's start to its decision by the termination
    /// protocol: how long participants waited for a silent coordinator (null: no termination).
    pub max_termination_seconds: Option<f64>,
    /// Coordinator restarts, and the undecided transactions it found in its log.
    pub coordinator_recoveries: u64,
    pub in_doubt_at_recovery: u64,
}

#[derive(Debug, Default)]
struct TxnTrack {
    started: bool,
    /// Run-relative time the coordinator started it, and the first decision.
    started_at: Option<f64>,
    decided_at: Option<f64>,
    commit: bool,
    abort: bool,
}

/// Commit-protocol transactions and blocking.
#[derive(Debug, Default)]
pub struct CommitRecorder {
    txns: BTreeMap<u64, TxnTrack>,
    /// Open blocks: (participant, txn) → since.
    open: BTreeMap<(NodeId, u64), f64>,
    blocked: BTreeSet<(NodeId, u64)>,
    durations: Vec<f64>,
    terminations: u64,
    /// Start-to-termination time of each transaction decided by the termination protocol.
    termination_waits: Vec<f64>,
    recoveries: u64,
    in_doubt: u64,
}

impl CommitRecorder {
    /// Fold what `node` reported at `t`; a note for the event log when a participant blocks or unblocks.
    pub fn observe(
        &mut self,
        node: NodeId,
        t: f64,
        e: CommitEvent,
        rel: impl Fn(Time) -> f64,
    ) -> Option<String> {
        match e {
            CommitEvent::Started { txn } => {
                let tr = self.txns.entry(txn).or_default();
                tr.started = true;
                tr.started_at = Some(t);
            }
            CommitEvent::Decided { txn, commit } => {
                let tr = self.txns.entry(txn).or_default();
                tr.decided_at = Some(tr.decided_at.map_or(t, |d| d.min(t)));
                if commit {
                    tr.commit = true;
                } else {
                    tr.abort = true;
                }
            }
            CommitEvent::Blocked { txn, since } => {
                self.blocked.insert((node, txn));
                self.open.insert((node, txn), rel(since));
                return Some(format!("blocked on transaction {txn}: READY, and nobody knows the outcome"));
            }
            CommitEvent::Unblocked { txn, blocked } => {
                if self.open.remove(&(node, txn)).is_some() {
                    self.durations.push(blocked.as_secs_f64());
                }
                return Some(format!("unblocked on transaction {txn} after {:.2} s", blocked.as_secs_f64()));
            }
            CommitEvent::Terminated { txn, commit } => {
                self.terminations += 1;
                if let Some(start) = self.txns.get(&txn).and_then(|tr| tr.started_at) {
                    self.termination_waits.push((t - start).max(0.0));
                }
                let what = if commit { "commit" } else { "abort" };
                return Some(format!(
                    "termination protocol: transaction {txn} decided {what} without the coordinator"
                ));
            }
            CommitEvent::Recovered { in_doubt } => {
                self.recoveries += 1;
                self.in_doubt += in_doubt;
                return Some(format!("coordinator read its log: {in_doubt} transactions without a decision"));
            }
        }
        None
    }

    /// How many participants are blocked now (for the live view).
    pub fn blocked_now(&self) -> usize {
        self.open.len()
    }

    /// The metrics at run-relative `end`.
    pub fn report(&self, end: f64) -> Option<CommitReport> {
        if self.txns.is_empty() {
            return None;
        }
        let mut durations = self.durations.clone();
        durations.extend(self.open.values().map(|since| (end - since).max(0.0)));
        let started = self.txns.values().filter(|t| t.started);
        // A transaction younger than the slowest decision may still be in flight.
        let slowest =
            self.txns.values().filter_map(|t| Some(t.decided_at? - t.started_at?)).fold(0.0, f64::max);
        let hung = started
            .clone()
            .filter(|t| !t.commit && !t.abort && t.started_at.is_some_and(|s| end - s > slowest))
            .count() as u64;
        Some(CommitReport {
            transactions: started.clone().count() as u64,
            committed: self.txns.values().filter(|t| t.commit).count() as u64,
            aborted: self.txns.values().filter(|t| t.abort).count() as u64,
            inconsistent: self.txns.values().filter(|t| t.commit && t.abort).count() as u64,
            undecided: started.filter(|t| !t.commit && !t.abort).count() as u64,
            hung,
            blocked: self.blocked.len() as u64,
            blocked_transactions: self.blocked.iter().map(|(_, t)| *t).collect::<BTreeSet<_>>().len() as u64,
            blocked_seconds: durations.iter().fold(0.0, |a, b| a + b),
            max_blocked_seconds: durations.iter().copied().fold(0.0, f64::max),
            terminations: self.terminations,
            max_termination_seconds: self.termination_waits.iter().copied().reduce(f64::max),
            coordinator_recoveries: self.recoveries,
            in_doubt_at_recovery: self.in_doubt,
        })
    }
}

impl Section for CommitRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::Commit(e) = obs else { return None };
        CommitRecorder::observe(self, seen.node, seen.t, e, |p| seen.rel(p))
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(CommitRecorder::report(self, run.now))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(c) = CommitRecorder::report(self, run.now) else { return Vec::new() };
        let text = format!(
            "{} transactions, {} committed, {} aborted; BLOCKED now: {} participants",
            c.transactions,
            c.committed,
            c.aborted,
            self.blocked_now()
        );
        vec![("commit".to_string(), text)]
    }

    fn signal(&self, run: SoFar<'_>) -> Option<Signal> {
        let blocked_now = self.blocked_now() as u64;
        let Some(c) = CommitRecorder::report(self, run.now) else {
            return Some(Signal::Commit(CommitView { blocked_now, ..CommitView::default() }));
        };
        Some(Signal::Commit(CommitView {
            transactions: c.transactions,
            committed: c.committed,
            aborted: c.aborted,
            blocked_now,
            max_blocked_seconds: c.max_blocked_seconds,
            terminations: c.terminations,
            inconsistent: c.inconsistent,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::recorder::snapshot::testing::{at, ms, recorder};
    use std::time::Duration;

    #[test]
    fn commit_fills_blocked_participants_commits_and_aborts() {
        let mut r = recorder(&[("coordinator", 1), ("participant", 3)], 30);
        r.set_section(super::super::KEY, Box::new(CommitRecorder::default()));
        let commit = |e| Observation::Commit(e);
        r.observe(NodeId(0), ms(1000), commit(CommitEvent::Started { txn: 1 }));
        r.observe(NodeId(0), ms(1000), commit(CommitEvent::Started { txn: 2 }));
        r.observe(NodeId(1), ms(1100), commit(CommitEvent::Decided { txn: 1, commit: true }));
        r.observe(NodeId(2), ms(1500), commit(CommitEvent::Decided { txn: 2, commit: false }));
        r.observe(NodeId(3), ms(2000), commit(CommitEvent::Started { txn: 3 }));
        r.observe(NodeId(3), ms(2500), commit(CommitEvent::Blocked { txn: 3, since: ms(2200) }));
        let Some(Signal::Commit(c)) = at(&r, 4.0).signal else { panic!("a commit signal") };
        assert_eq!((c.transactions, c.committed, c.aborted, c.blocked_now), (3, 1, 1, 1));
        assert!((c.max_blocked_seconds - 1.8).abs() < 1e-9, "{}", c.max_blocked_seconds);
    }

    #[test]
    fn blocked_time_counts_until_unblocked_or_the_end() {
        let mut c = CommitRecorder::default();
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        c.observe(NodeId(0), 1.0, CommitEvent::Started { txn: 1 }, rel);
        c.observe(NodeId(0), 1.0, CommitEvent::Started { txn: 2 }, rel);
        c.observe(NodeId(1), 2.0, CommitEvent::Blocked { txn: 1, since: Time::from_millis(1500) }, rel);
        c.observe(NodeId(2), 2.0, CommitEvent::Blocked { txn: 1, since: Time::from_millis(1500) }, rel);
        c.observe(
            NodeId(1),
            4.0,
            CommitEvent::Unblocked { txn: 1, blocked: Duration::from_millis(2500) },
            rel,
        );
        c.observe(NodeId(1), 4.0, CommitEvent::Decided { txn: 1, commit: false }, rel);
        c.observe(NodeId(2), 4.0, CommitEvent::Decided { txn: 2, commit: true }, rel);
        let r = c.report(10.0).unwrap();
        assert_eq!((r.transactions, r.committed, r.aborted, r.undecided), (2, 1, 1, 0));
        assert_eq!((r.blocked, r.blocked_transactions), (2, 1));
        assert!((r.blocked_seconds - (2.5 + 8.5)).abs() < 1e-9, "{}", r.blocked_seconds);
        assert!((r.max_blocked_seconds - 8.5).abs() < 1e-9);
        assert_eq!(c.blocked_now(), 1);
        assert_eq!(r.max_termination_seconds, None, "no termination, no wait");
    }

    #[test]
    fn termination_waits_run_from_the_transactions_start() {
        let mut c = CommitRecorder::default();
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        c.observe(NodeId(0), 8.0, CommitEvent::Started { txn: 80 }, rel);
        c.observe(NodeId(0), 8.1, CommitEvent::Started { txn: 81 }, rel);
        c.observe(NodeId(1), 8.9, CommitEvent::Terminated { txn: 80, commit: true }, rel);
        c.observe(NodeId(1), 8.9, CommitEvent::Decided { txn: 80, commit: true }, rel);
        c.observe(NodeId(1), 9.3, CommitEvent::Terminated { txn: 81, commit: false }, rel);
        c.observe(NodeId(1), 9.3, CommitEvent::Decided { txn: 81, commit: false }, rel);
        // 82 starts at 9.9: undecided at the end but younger than the slowest decision (1.2 s).
        c.observe(NodeId(0), 9.9, CommitEvent::Started { txn: 82 }, rel);
        let r = c.report(10.0).unwrap();
        assert_eq!((r.terminations, r.undecided, r.hung), (2, 1, 0));
        // Still undecided 1.5 s after its start: hanging.
        assert_eq!(c.report(11.4).unwrap().hung, 1);
        let wait = r.max_termination_seconds.unwrap();
        assert!((wait - 1.2).abs() < 1e-9, "{wait}");
    }
}
