//! The recorder's section for external nodes: `external` in report.json.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::BTreeMap;
use workloads::external::{delta_of, ExtEvent};
use workloads::Observation;

/// How long a value acknowledged before the end has to become stable
/// before it counts as lost (seconds; ten rounds of reads).
pub const SETTLE: f64 = 1.0;

/// broadcast and g-set: how the values spread.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Adds acknowledged.
    pub acked: usize,
    /// Values every node's read came to hold.
    pub stable: usize,
    /// Acknowledged values some node never showed, of those acknowledged
    /// at least [`SETTLE`] seconds before the end of the run.
    pub lost: usize,
    /// Acknowledged values neither stable nor old enough to call lost.
    pub unsettled: usize,
    /// From a value's send to the read that made it stable (seconds).
    pub stable_latency_p50: Option<f64>,
    pub stable_latency_max: Option<f64>,
}

/// g-counter: the nodes' reads against the deltas added.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counter {
    /// The deltas acknowledged at least [`SETTLE`] seconds before the end:
    /// every node's last read must reach it.
    pub acked_sum: u64,
    /// Each node's last read, n1 first (null: never read).
    pub final_reads: Vec<Option<u64>>,
    /// Nodes whose last read is below `acked_sum`: acknowledged adds lost.
    pub too_low: usize,
    /// Reads above the sum of every delta sent before them: counted twice.
    pub too_high: u64,
}

/// `external` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExternalReport {
    pub convergence: Option<Spread>,
    pub counter: Option<Counter>,
    pub duplicate_ids: u64,
    pub exits: u64,
    /// The first line a program wrote that was not a message or named an unknown node.
    pub first_offence: Option<String>,
    pub invalid_lines: u64,
    pub unknown_nodes: u64,
}

/// What the hosted programs did wrong, as their agents saw it.
#[derive(Debug, Default)]
pub struct ExternalRecorder {
    report: ExternalReport,
    /// Acknowledged values, with when (run-relative seconds).
    acked: BTreeMap<u64, f64>,
    stable: BTreeMap<u64, f64>,
    /// g-counter: each node's last read, and reads above what was sent.
    reads: BTreeMap<u16, u64>,
    too_high: u64,
}

impl ExternalRecorder {
    /// When each acknowledged value not yet stable was acknowledged.
    fn unstable(&self) -> impl Iterator<Item = f64> + '_ {
        self.acked.iter().filter(|(v, _)| !self.stable.contains_key(v)).map(|(_, t)| *t)
    }

    fn summary(&self, end: f64) -> ExternalReport {
        let mut r = self.report.clone();
        if !self.reads.is_empty() {
            let acked_sum =
                self.acked.iter().filter(|(_, t)| **t < end - SETTLE).map(|(s, _)| delta_of(*s)).sum();
            let last = self.reads.keys().next_back().copied().unwrap_or(0);
            let final_reads: Vec<Option<u64>> = (0..=last).map(|n| self.reads.get(&n).copied()).collect();
            let too_low = final_reads.iter().filter(|v| v.is_none_or(|v| v < acked_sum)).count();
            r.counter = Some(Counter { acked_sum, final_reads, too_low, too_high: self.too_high });
        } else if !self.acked.is_empty() || !self.stable.is_empty() {
            let mut lat: Vec<f64> = self.stable.values().copied().collect();
            lat.sort_by(f64::total_cmp);
            r.convergence = Some(Spread {
                acked: self.acked.len(),
                stable: self.stable.len(),
                lost: self.unstable().filter(|t| *t < end - SETTLE).count(),
                unsettled: self.unstable().filter(|t| *t >= end - SETTLE).count(),
                stable_latency_p50: lat.get(lat.len() / 2).copied(),
                stable_latency_max: lat.last().copied(),
            });
        }
        r
    }
}

impl Section for ExternalRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::External(e) = obs else { return None };
        let r = &mut self.report;
        match e {
            ExtEvent::InvalidLine { line } => {
                r.invalid_lines += 1;
                r.first_offence.get_or_insert(line.clone());
                Some(format!("wrote a line that is not a message: {line}"))
            }
            ExtEvent::UnknownNode { line } => {
                r.unknown_nodes += 1;
                r.first_offence.get_or_insert(line.clone());
                Some(format!("addressed a node that does not exist: {line}"))
            }
            ExtEvent::Exited { status } => {
                r.exits += 1;
                Some(format!("program {status}"))
            }
            ExtEvent::Duplicate { id } => {
                r.duplicate_ids += 1;
                Some(format!("id {id} handed out twice"))
            }
            ExtEvent::Acked { value } => {
                self.acked.insert(value, seen.t);
                None
            }
            ExtEvent::Stable { value, latency } => {
                self.stable.insert(value, latency.as_secs_f64());
                None
            }
            ExtEvent::CounterRead { node, value, sent_sum } => {
                self.reads.insert(node, value);
                if value > sent_sum {
                    self.too_high += 1;
                    return Some(format!("n{} read {value}, above the {sent_sum} ever added", node + 1));
                }
                None
            }
        }
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(Some(self.summary(run.now)))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let r = self.summary(run.now);
        let text = format!(
            "{} invalid lines, {} to unknown nodes, {} exits, {} duplicate ids",
            r.invalid_lines, r.unknown_nodes, r.exits, r.duplicate_ids
        );
        let mut lines = vec![("program".to_string(), text)];
        if let Some(c) = r.convergence {
            let text = format!("{} acked, {} stable, {} lost", c.acked, c.stable, c.lost);
            lines.push(("values".to_string(), text));
        }
        lines
    }
}
