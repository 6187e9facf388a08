//! The recorder's section for Multi-Paxos: `multi_paxos` in report.json
//! (slots, elections, the log's agreement, catch-up), its dashboard line and
//! its Prometheus series.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::BTreeMap;
use tui::snapshot::Series;
use workloads::multi_paxos::{divergences, MpEvent};
use workloads::{NodeId, Observation};

/// Durations in seconds: how many, their mean and the largest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub mean: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        let count = v.len();
        Spread {
            count,
            mean: (count > 0).then(|| v.iter().sum::<f64>() / count as f64),
            max: v.iter().copied().reduce(f64::max),
        }
    }
}

/// `multi_paxos` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MultiPaxosReport {
    pub catch_up_seconds: Spread,
    pub catch_up_slots: u64,
    pub catch_ups: usize,
    pub elections: u64,
    pub leader: Option<String>,
    pub leader_changes: u64,
    pub log_divergences: u64,
    pub no_ops: u64,
    pub reproposed: u64,
    pub serving_seconds: Spread,
    pub slots: u64,
}

/// Elections, the applied log's digests and catch-ups, as the replicas reported them.
#[derive(Debug, Default)]
pub struct MultiPaxosRecorder {
    applied: Vec<(u64, u64)>,
    slots: u64,
    elections: u64,
    elected: u64,
    reproposed: u64,
    no_ops: u64,
    /// The last leader elected, and when.
    leader: Option<(NodeId, f64)>,
    serving: Vec<f64>,
    /// Replicas restarted and not yet caught up: since when.
    restarted: BTreeMap<NodeId, f64>,
    catch_ups: Vec<f64>,
    catch_up_slots: u64,
    /// Node names, by id.
    names: Vec<String>,
}

impl Section for MultiPaxosRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::MultiPaxos(e) = obs else { return None };
        match e {
            MpEvent::Applied { upto, digest } => {
                self.applied.push((upto, digest));
                self.slots = self.slots.max(upto);
            }
            MpEvent::Candidate { round } => {
                self.elections += 1;
                return Some(format!("stands for leader (ballot round {round})"));
            }
            MpEvent::Elected { round, open, holes } => {
                self.elected += 1;
                self.reproposed += open;
                self.no_ops += holes;
                self.leader = Some((seen.node, seen.t));
                return Some(format!(
                    "leads with ballot round {round}: a majority promised; {open} open slots proposed again ({holes} no-ops)"
                ));
            }
            MpEvent::Serving { .. } => {
                if let Some((n, t)) = self.leader.filter(|(n, _)| *n == seen.node) {
                    self.serving.push(seen.t - t);
                    self.leader = Some((n, seen.t));
                    return Some("has applied every slot its election named: serves".into());
                }
            }
            MpEvent::Restarted => {
                self.restarted.insert(seen.node, seen.t);
            }
            MpEvent::CaughtUp { slots } => {
                if let Some(since) = self.restarted.remove(&seen.node) {
                    self.catch_ups.push(seen.t - since);
                    self.catch_up_slots += slots;
                    return Some(format!("caught up: fetched and applied {slots} slots"));
                }
            }
        }
        None
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(self.summary(run))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(r) = self.summary(run) else { return Vec::new() };
        let text = format!(
            "leader {}, {} slots, {} elections, {} catch-ups, {} log divergences",
            r.leader.as_deref().unwrap_or("none"),
            r.slots,
            r.elections,
            r.catch_ups,
            r.log_divergences
        );
        vec![("paxos log".to_string(), text)]
    }

    fn series(&self, _run: SoFar<'_>) -> Vec<Series> {
        vec![
            Series::counter(
                "faultlab_multi_paxos_slots_total",
                "Log slots chosen and applied.",
                &[],
                self.slots as f64,
            ),
            Series::counter(
                "faultlab_multi_paxos_elections_total",
                "Times a replica stood for leader.",
                &[],
                self.elections as f64,
            ),
            Series::counter(
                "faultlab_multi_paxos_leader_changes_total",
                "Times a majority promised a candidate.",
                &[],
                self.elected as f64,
            ),
            Series::gauge(
                "faultlab_multi_paxos_log_divergences",
                "Log points at which two replicas applied different commands.",
                &[],
                divergences(&self.applied) as f64,
            ),
        ]
    }
}

impl MultiPaxosRecorder {
    /// The section of a run whose nodes have these names (by id).
    pub fn new(names: Vec<String>) -> MultiPaxosRecorder {
        MultiPaxosRecorder { names, ..MultiPaxosRecorder::default() }
    }

    fn summary(&self, _run: SoFar<'_>) -> Option<MultiPaxosReport> {
        if self.elections == 0 && self.applied.is_empty() {
            return None;
        }
        Some(MultiPaxosReport {
            catch_up_seconds: Spread::of(&self.catch_ups),
            catch_up_slots: self.catch_up_slots,
            catch_ups: self.catch_ups.len(),
            elections: self.elections,
            leader: self.leader.and_then(|(n, _)| self.names.get(usize::from(n.0)).cloned()),
            leader_changes: self.elected,
            log_divergences: divergences(&self.applied),
            no_ops: self.no_ops,
            reproposed: self.reproposed,
            serving_seconds: Spread::of(&self.serving),
            slots: self.slots,
        })
    }
}
