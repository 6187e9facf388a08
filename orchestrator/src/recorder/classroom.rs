//! Metrics of the classroom workloads: Byzantine agreement (OM(m)), commit
//! protocols (2PC / 3PC) and RPC failure semantics.
//!
//! Which generals are loyal is judged here, not by the generals: a general
//! is faulty in an instance when any executed fault (byzantine, crash,
//! omission...) covered it at any moment between the commander's order and
//! the last decision. Agreement (IC1) is checked among the loyal lieutenants
//! that decided; validity (IC2) only when the commander was loyal.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use workloads::byzantine::AgreementEvent;
use workloads::commit::CommitEvent;
use workloads::rpc::{CallOutcome, RpcEvent};
use workloads::{NodeId, Time};

/// An executed fault as the classroom metrics need it: the nodes it covered and when.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    pub nodes: Vec<NodeId>,
    pub start: f64,
    /// None while it lasts (or forever).
    pub end: Option<f64>,
}

impl FaultSpan {
    fn covers(&self, node: NodeId, from: f64, to: f64) -> bool {
        self.nodes.contains(&node) && self.start <= to && self.end.is_none_or(|e| e >= from)
    }
}

/// The classroom workloads' recorders, and the nodes each executed fault covered.
#[derive(Debug, Default)]
pub struct Classroom {
    pub byzantine: ByzantineRecorder,
    pub commit: CommitRecorder,
    pub rpc: RpcRecorder,
    /// Executed fault record (index into the report's faults) → nodes it covered.
    nodes: BTreeMap<usize, Vec<NodeId>>,
}

impl Classroom {
    /// Fault record `record` covers `nodes`.
    pub fn fault_nodes(&mut self, record: usize, nodes: Vec<NodeId>) {
        self.nodes.insert(record, nodes);
    }

    /// The spans of the executed faults, given each record's (start, end).
    pub fn spans(&self, times: impl Fn(usize) -> Option<(f64, Option<f64>)>) -> Vec<FaultSpan> {
        self.nodes
            .iter()
            .filter_map(|(r, nodes)| {
                times(*r).map(|(start, end)| FaultSpan { nodes: nodes.clone(), start, end })
            })
            .collect()
    }
}

fn faulty(spans: &[FaultSpan], node: NodeId, from: f64, to: f64) -> bool {
    spans.iter().any(|s| s.covers(node, from, to))
}

/// `byzantine` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ByzantineReport {
    /// Instances in which at least one loyal lieutenant decided.
    pub instances: u64,
    /// Instances in which every loyal lieutenant decided the same order (IC1).
    pub agreement: u64,
    /// Instances in which loyal lieutenants decided differently.
    pub disagreements: u64,
    /// Instances with a loyal commander (where validity applies).
    pub validity_checked: u64,
    /// Of those, instances in which every loyal lieutenant obeyed the commander (IC2).
    pub validity: u64,
    /// Of those, instances in which some loyal lieutenant decided otherwise.
    pub validity_violations: u64,
    /// Instances whose commander was faulty and lied: a loyal lieutenant received conflicting values.
    pub traitor_commander: u64,
    /// Instances with some faulty lieutenant whose lie a loyal lieutenant received (conflicting values).
    pub traitor_lieutenant: u64,
    /// Loyal lieutenants' decisions of the default order (no majority).
    pub retreats: u64,
    /// agreement / instances.
    pub agreement_rate: Option<f64>,
    /// validity / validity_checked.
    pub validity_rate: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct Instance {
    order: Option<(NodeId, f64, u64)>,
    /// (lieutenant, time, value, whether it received conflicting values).
    decisions: Vec<(NodeId, f64, u64, bool)>,
}

/// Byzantine-agreement instances, judged at the end of the run.
#[derive(Debug, Default)]
pub struct ByzantineRecorder {
    instances: BTreeMap<u64, Instance>,
}

impl ByzantineRecorder {
    /// Fold what `node` reported at run-relative `t`.
    pub fn observe(&mut self, node: NodeId, t: f64, e: AgreementEvent) {
        match e {
            AgreementEvent::Ordered { instance, value } => {
                self.instances.entry(instance).or_default().order = Some((node, t, value));
            }
            AgreementEvent::Decided { instance, value, conflicting } => {
                self.instances.entry(instance).or_default().decisions.push((node, t, value, conflicting));
            }
        }
    }

    /// The metrics over instances decided by `end`, under the executed faults `spans`.
    pub fn report(&self, spans: &[FaultSpan], end: f64) -> Option<ByzantineReport> {
        if self.instances.is_empty() {
            return None;
        }
        let mut r = ByzantineReport::default();
        for inst in self.instances.values() {
            let Some((from, last, loyal)) = loyal_decisions(inst, spans) else { continue };
            if last > end {
                continue;
            }
            // A fault window open during the instance is not enough: a traitor
            // counts only when a loyal lieutenant actually received its lie.
            let lie_received = inst.decisions.iter().any(|d| d.3 && !faulty(spans, d.0, from, last));
            if inst.decisions.len() > loyal.len() && lie_received {
                r.traitor_lieutenant += 1;
            }
            if loyal.is_empty() {
                continue;
            }
            r.instances += 1;
            r.retreats += loyal.iter().filter(|v| **v == workloads::byzantine::om::RETREAT).count() as u64;
            if loyal.iter().all(|v| *v == loyal[0]) {
                r.agreement += 1;
            } else {
                r.disagreements += 1;
            }
            match inst.order {
                Some((commander, _, order)) if !faulty(spans, commander, from, last) => {
                    r.validity_checked += 1;
                    if loyal.iter().all(|v| *v == order) {
                        r.validity += 1;
                    } else {
                        r.validity_violations += 1;
                    }
                }
                _ if lie_received => r.traitor_commander += 1,
                _ => {}
            }
        }
        r.agreement_rate = (r.instances > 0).then(|| r.agreement as f64 / r.instances as f64);
        r.validity_rate = (r.validity_checked > 0).then(|| r.validity as f64 / r.validity_checked as f64);
        Some(r)
    }

    /// The latest finished instance (one is finished once a later one has
    /// begun: the interval exceeds its m+1 rounds) with a loyal lieutenant
    /// that decided, under the executed faults `spans`: how many loyal
    /// lieutenants decided, and how many of them decided the commander's
    /// order (None when the commander was faulty).
    pub fn last_round(&self, spans: &[FaultSpan]) -> Option<LastRound> {
        let mut rounds = self.instances.values().rev();
        if self.instances.len() > 1 {
            // The newest may still be deciding.
            rounds.next();
        }
        rounds.find_map(|inst| {
            let (from, last, loyal) = loyal_decisions(inst, spans)?;
            if loyal.is_empty() {
                return None;
            }
            let followed = match inst.order {
                Some((commander, _, order)) if !faulty(spans, commander, from, last) => {
                    Some(loyal.iter().filter(|v| **v == order).count() as u64)
                }
                _ => None,
            };
            Some(LastRound { loyal: loyal.len() as u64, followed })
        })
    }
}

/// One instance as the dashboard shows it (see [`ByzantineRecorder::last_round`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastRound {
    pub loyal: u64,
    pub followed: Option<u64>,
}

/// An instance's span (the order, or a second before the first decision,
/// to the last decision) and the values its loyal lieutenants decided;
/// None before any decision.
fn loyal_decisions(inst: &Instance, spans: &[FaultSpan]) -> Option<(f64, f64, Vec<u64>)> {
    let last = inst.decisions.iter().map(|d| d.1).reduce(f64::max)?;
    let first = inst.decisions.iter().map(|d| d.1).reduce(f64::min).unwrap_or(last);
    // Without the order's time, the instance began at most a second before the first decision.
    let from = inst.order.map_or(first - 1.0, |o| o.1);
    let loyal = inst.decisions.iter().filter(|d| !faulty(spans, d.0, from, last)).map(|d| d.2).collect();
    Some((from, last, loyal))
}

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

/// `rpc` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RpcReport {
    /// Calls the client finished, and how.
    pub calls: u64,
    pub ok: u64,
    pub timed_out: u64,
    pub refused: u64,
    /// Client-visible failures: timed out or refused.
    pub failed: u64,
    /// Tries beyond the first.
    pub retries: u64,
    /// Executions of calls by the server, and of calls it had already executed.
    pub executions: u64,
    pub duplicate_executions: u64,
    /// Retries the server answered from its memory without executing (at-most-once).
    pub filtered: u64,
    /// Requests that reached the server (executed, filtered or refused).
    pub requests_received: u64,
    /// Tries that never reached the server (lost on the way, or to a dead server).
    pub lost_requests: u64,
    /// Replies the server sent that never reached the client.
    pub lost_replies: u64,
}

/// RPC calls, executions and losses.
#[derive(Debug, Default)]
pub struct RpcRecorder {
    seen: bool,
    r: RpcReport,
    executed: BTreeSet<u64>,
    /// Per call: tries the client made (once it finished the call), tries
    /// the server received, and replies the client got.
    calls: BTreeMap<u64, CallTally>,
}

#[derive(Debug, Default)]
struct CallTally {
    finished: bool,
    attempts: u64,
    received: u64,
    replies: u64,
}

impl RpcRecorder {
    /// Fold what a node reported (events after the run's end are ignored by the caller).
    pub fn observe(&mut self, e: RpcEvent) {
        self.seen = true;
        let r = &mut self.r;
        match e {
            RpcEvent::Call { seq, attempts, outcome, replies } => {
                r.calls += 1;
                r.retries += u64::from(attempts.saturating_sub(1));
                let c = self.calls.entry(seq).or_default();
                c.finished = true;
                c.attempts += u64::from(attempts);
                c.replies += u64::from(replies);
                match outcome {
                    CallOutcome::Ok => r.ok += 1,
                    CallOutcome::TimedOut => r.timed_out += 1,
                    CallOutcome::Refused => r.refused += 1,
                }
            }
            RpcEvent::LateReply { seq } => self.calls.entry(seq).or_default().replies += 1,
            RpcEvent::Executed { seq, .. } => {
                r.executions += 1;
                r.requests_received += 1;
                self.calls.entry(seq).or_default().received += 1;
                if !self.executed.insert(seq) {
                    r.duplicate_executions += 1;
                }
            }
            RpcEvent::Filtered { seq, .. } => {
                r.filtered += 1;
                r.requests_received += 1;
                self.calls.entry(seq).or_default().received += 1;
            }
            RpcEvent::Refused { seq, .. } => {
                r.requests_received += 1;
                self.calls.entry(seq).or_default().received += 1;
            }
        }
    }

    /// The metrics. Losses are counted over the calls the client finished
    /// within the run: a call still open at the end has tries and replies in
    /// flight, which are not lost.
    pub fn report(&self) -> Option<RpcReport> {
        if !self.seen {
            return None;
        }
        let mut r = self.r.clone();
        r.failed = r.timed_out + r.refused;
        let done = || self.calls.values().filter(|c| c.finished);
        r.lost_requests = done().map(|c| c.attempts.saturating_sub(c.received)).sum();
        r.lost_replies = done().map(|c| c.received.saturating_sub(c.replies)).sum();
        Some(r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;
    use workloads::byzantine::om::RETREAT;

    fn span(node: u16, start: f64, end: Option<f64>) -> FaultSpan {
        FaultSpan { nodes: vec![NodeId(node)], start, end }
    }

    #[test]
    fn loyalty_is_judged_from_the_faults_covering_the_instance() {
        let mut b = ByzantineRecorder::default();
        // Instance 1 at t=1: lieutenant 3 lies and decides something else; instance 2 at t=5: all loyal.
        b.observe(NodeId(0), 1.0, AgreementEvent::Ordered { instance: 1, value: 7 });
        // Lieutenant 1 heard lieutenant 3's lie (conflicting values); in instance 2
        // lieutenant 2 retreats for a lost message, with no lie heard.
        let decided = |instance, value, conflicting| AgreementEvent::Decided { instance, value, conflicting };
        b.observe(NodeId(1), 1.1, decided(1, 7, true));
        b.observe(NodeId(2), 1.1, decided(1, 7, false));
        b.observe(NodeId(3), 1.1, decided(1, 9, false));
        b.observe(NodeId(0), 5.0, AgreementEvent::Ordered { instance: 2, value: 8 });
        b.observe(NodeId(1), 5.1, decided(2, 8, false));
        b.observe(NodeId(2), 5.1, decided(2, RETREAT, false));
        let r = b.report(&[span(3, 0.5, Some(2.0))], 10.0).unwrap();
        assert_eq!((r.instances, r.agreement, r.disagreements), (2, 1, 1));
        assert_eq!((r.validity_checked, r.validity, r.validity_violations), (2, 1, 1));
        assert_eq!((r.traitor_lieutenant, r.retreats), (1, 1));
        // The same instances with the commander faulty: validity does not apply,
        // and only instance 1, where a lie was heard, has a traitor commander.
        let r = b.report(&[span(0, 0.0, None)], 10.0).unwrap();
        assert_eq!((r.validity_checked, r.traitor_commander), (0, 1));
        assert_eq!(r.validity_rate, None);
        // A fault window open over instance 2 makes no traitor when no loyal lieutenant heard a lie.
        let r = b.report(&[span(2, 4.0, Some(6.0))], 10.0).unwrap();
        assert_eq!((r.traitor_lieutenant, r.traitor_commander), (0, 0));
    }

    #[test]
    fn the_last_round_is_the_latest_finished_one_and_counts_the_loyal_who_obeyed() {
        let mut b = ByzantineRecorder::default();
        assert_eq!(b.last_round(&[]), None);
        let decided = |instance, value| AgreementEvent::Decided { instance, value, conflicting: false };
        b.observe(NodeId(0), 1.0, AgreementEvent::Ordered { instance: 1, value: 7 });
        b.observe(NodeId(1), 1.1, decided(1, 7));
        b.observe(NodeId(2), 1.1, decided(1, RETREAT));
        b.observe(NodeId(3), 1.1, decided(1, 9));
        // Alone, the first round is the last one: of three loyal lieutenants, one obeyed.
        assert_eq!(b.last_round(&[]), Some(LastRound { loyal: 3, followed: Some(1) }));
        // Lieutenant 3 was a traitor: of the two loyal ones, one obeyed.
        assert_eq!(b.last_round(&[span(3, 0.5, Some(2.0))]), Some(LastRound { loyal: 2, followed: Some(1) }));
        // A second round has begun, one decision in: the first is still the last finished one.
        b.observe(NodeId(0), 2.0, AgreementEvent::Ordered { instance: 2, value: 8 });
        b.observe(NodeId(1), 2.1, decided(2, 8));
        assert_eq!(b.last_round(&[]), Some(LastRound { loyal: 3, followed: Some(1) }));
        // With a traitor commander, obeying does not apply.
        assert_eq!(b.last_round(&[span(0, 0.0, None)]), Some(LastRound { loyal: 3, followed: None }));
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

    #[test]
    fn duplicates_and_losses_are_counted_from_both_ends() {
        let mut r = RpcRecorder::default();
        r.observe(RpcEvent::Executed { seq: 1, attempt: 0 });
        r.observe(RpcEvent::Executed { seq: 1, attempt: 1 });
        r.observe(RpcEvent::Call { seq: 1, attempts: 3, outcome: CallOutcome::Ok, replies: 1 });
        r.observe(RpcEvent::Refused { seq: 2, attempt: 1 });
        r.observe(RpcEvent::Call { seq: 2, attempts: 2, outcome: CallOutcome::Refused, replies: 1 });
        let rep = r.report().unwrap();
        assert_eq!((rep.calls, rep.ok, rep.failed, rep.retries), (2, 1, 1, 3));
        assert_eq!((rep.executions, rep.duplicate_executions), (2, 1));
        // 5 tries, 3 received: 2 lost on the way; 3 replies sent (a refusal is a
        // reply), 2 received: 1 lost.
        assert_eq!((rep.lost_requests, rep.lost_replies), (2, 1));
    }

    #[test]
    fn replies_in_flight_at_the_end_are_not_lost() {
        let mut r = RpcRecorder::default();
        r.observe(RpcEvent::Executed { seq: 1, attempt: 0 });
        r.observe(RpcEvent::Call { seq: 1, attempts: 1, outcome: CallOutcome::Ok, replies: 1 });
        // Call 2 was executed just before the end; the client had not got the reply yet.
        r.observe(RpcEvent::Executed { seq: 2, attempt: 0 });
        // Call 3 timed out; its reply came after the call ended (a late reply, after the run's end).
        r.observe(RpcEvent::Executed { seq: 3, attempt: 0 });
        r.observe(RpcEvent::Call { seq: 3, attempts: 1, outcome: CallOutcome::TimedOut, replies: 0 });
        r.observe(RpcEvent::LateReply { seq: 3 });
        let rep = r.report().unwrap();
        assert_eq!((rep.lost_requests, rep.lost_replies), (0, 0));
        assert_eq!(rep.requests_received, 3);
    }
}
