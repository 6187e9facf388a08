//! The recorder's section for RPC failure semantics: `rpc` in report.json
//! (calls, retries, executions, duplicates, losses) and its dashboard line.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use workloads::rpc::{CallOutcome, RpcEvent};
use workloads::Observation;

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
    /// Calls a crash of the client interrupted (reported by its next incarnation).
    pub lost_calls: u64,
    /// Long calls: the computations a client crash orphaned, and what became of them.
    pub orphans: Option<OrphanReport>,
}

/// Orphan computations: long calls still computing when their client crashed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OrphanReport {
    /// Long calls the server began computing.
    pub computations: u64,
    /// Of those, computing when their client crashed.
    pub orphans: u64,
    /// Orphans the remedy killed.
    pub killed: u64,
    /// Orphans that ran to the end for nobody.
    pub completed: u64,
    /// Orphans the client's new incarnation claimed (gentle reincarnation).
    pub adopted: u64,
    /// Orphans still computing at the end.
    pub running_at_end: u64,
    /// Server time spent on orphans nobody claimed, from their start to their end (or the run's).
    pub wasted_seconds: f64,
    /// From the client's crash to the last orphan's end (null while one still runs).
    pub cleared_seconds: Option<f64>,
    /// Replies the restarted client got for calls it did not know.
    pub stray_replies: u64,
}

/// A computation orphaned by a client crash.
#[derive(Debug)]
struct Orphan {
    started: f64,
    crash: f64,
    end: Option<f64>,
    killed: bool,
    adopted: bool,
}

/// RPC calls, executions and losses.
#[derive(Debug, Default)]
pub struct RpcRecorder {
    /// The client (its crashes orphan the computations running then).
    client: Option<workloads::NodeId>,
    /// Long calls computing, by call: when they started.
    computing: BTreeMap<u64, f64>,
    computations: u64,
    orphans: BTreeMap<u64, Orphan>,
    /// When the client last crashed.
    crashed: Option<f64>,
    stray_replies: u64,
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
                    CallOutcome::Lost => r.lost_calls += 1,
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
            RpcEvent::Started { .. }
            | RpcEvent::Killed { .. }
            | RpcEvent::Adopted { .. }
            | RpcEvent::Restarted { .. } => {}
        }
    }

    /// The section of a run whose client is `client`.
    pub fn for_client(client: workloads::NodeId) -> RpcRecorder {
        RpcRecorder { client: Some(client), ..RpcRecorder::default() }
    }

    /// Follow the long calls' computations, within the run or after it.
    fn computation(&mut self, t: f64, e: &RpcEvent) {
        match *e {
            RpcEvent::Started { seq, .. } => {
                self.computations += 1;
                self.computing.insert(seq, t);
            }
            RpcEvent::Executed { seq, .. } | RpcEvent::Killed { seq } => {
                self.computing.remove(&seq);
                if let Some(o) = self.orphans.get_mut(&seq).filter(|o| o.end.is_none()) {
                    o.end = Some(t);
                    o.killed = matches!(e, RpcEvent::Killed { .. });
                }
            }
            RpcEvent::Adopted { seq } => {
                if let Some(o) = self.orphans.get_mut(&seq) {
                    o.adopted = true;
                }
            }
            RpcEvent::LateReply { .. } if self.crashed.is_some() => self.stray_replies += 1,
            _ => {}
        }
    }

    fn orphan_report(&self, now: f64) -> Option<OrphanReport> {
        if self.computations == 0 {
            return None;
        }
        let o = self.orphans.values();
        let unclaimed = || self.orphans.values().filter(|o| !o.adopted);
        Some(OrphanReport {
            computations: self.computations,
            orphans: self.orphans.len() as u64,
            killed: o.clone().filter(|o| o.killed).count() as u64,
            completed: unclaimed().filter(|o| o.end.is_some() && !o.killed).count() as u64,
            adopted: o.clone().filter(|o| o.adopted).count() as u64,
            running_at_end: o.clone().filter(|o| o.end.is_none()).count() as u64,
            // + 0.0: an empty sum is -0.0, which would print as such.
            wasted_seconds: unclaimed().map(|o| o.end.unwrap_or(now) - o.started).sum::<f64>() + 0.0,
            cleared_seconds: if o.clone().any(|o| o.end.is_none()) {
                None
            } else {
                o.filter_map(|o| o.end.map(|e| e - o.crash)).reduce(f64::max)
            },
            stray_replies: self.stray_replies,
        })
    }

    /// The metrics. Losses are counted over the calls the client finished
    /// within the run: a call still open at the end has tries and replies in
    /// flight, which are not lost.
    pub fn report(&self) -> Option<RpcReport> {
        if !self.seen {
            return None;
        }
        let mut r = self.r.clone();
        r.failed = r.timed_out + r.refused + r.lost_calls;
        let done = || self.calls.values().filter(|c| c.finished);
        r.lost_requests = done().map(|c| c.attempts.saturating_sub(c.received)).sum();
        r.lost_replies = done().map(|c| c.received.saturating_sub(c.replies)).sum();
        Some(r)
    }
}

impl Section for RpcRecorder {
    /// Within the run only, like requests; but a reply to a try made
    /// within the run still arrives (else it would count as lost).
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::Rpc(e) = obs else { return None };
        self.computation(seen.t, &e);
        let note = match &e {
            RpcEvent::Killed { seq } => Some(format!("killed the computation of call {seq}")),
            RpcEvent::Adopted { seq } => Some(format!("handed call {seq} to the client's new incarnation")),
            RpcEvent::Restarted { outstanding } => {
                Some(format!("restarted with {outstanding} calls in its log that the crash interrupted"))
            }
            _ => None,
        };
        if seen.within_run || matches!(e, RpcEvent::LateReply { .. }) {
            RpcRecorder::observe(self, e);
        }
        note
    }

    /// The client crashed: every computation running now is an orphan.
    fn node_down(&mut self, node: workloads::NodeId, t: f64) {
        if Some(node) != self.client {
            return;
        }
        self.crashed = Some(t);
        for (&seq, &started) in &self.computing {
            self.orphans.insert(seq, Orphan { started, crash: t, end: None, killed: false, adopted: false });
        }
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        let mut r = RpcRecorder::report(self)?;
        r.orphans = self.orphan_report(run.now);
        to_json(Some(r))
    }

    fn lines(&self, _run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(r) = RpcRecorder::report(self) else { return Vec::new() };
        let text = format!(
            "{} calls, {} retries, {} executions, {} DUPLICATE executions",
            r.calls, r.retries, r.executions, r.duplicate_executions
        );
        vec![("rpc".to_string(), text)]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
