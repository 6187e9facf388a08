//! A workload's own part of the recorder: it folds the observations only its
//! workload makes and gives its section of report.json, its lines on the
//! dashboard and its panel there. The recorder core keeps what several
//! workloads share (requests, outages, the detector, failover, recovery).

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use tui::snapshot::{Series, Signal};
use workloads::{NodeId, Observation, Time};

/// An executed fault as a workload's metrics need it: the nodes it covered and when.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    pub nodes: Vec<NodeId>,
    pub start: f64,
    /// None while it lasts (or forever).
    pub end: Option<f64>,
}

impl FaultSpan {
    /// Whether this fault covered `node` at any moment from `from` to `to`.
    pub fn covers(&self, node: NodeId, from: f64, to: f64) -> bool {
        self.nodes.contains(&node) && self.start <= to && self.end.is_none_or(|e| e >= from)
    }
}

/// The nodes each executed fault covered (by the fault's record in the report).
#[derive(Debug, Default)]
pub(super) struct FaultNodes(BTreeMap<usize, Vec<NodeId>>);

impl FaultNodes {
    pub(super) fn insert(&mut self, record: usize, nodes: Vec<NodeId>) {
        self.0.insert(record, nodes);
    }

    /// The spans of the executed faults, given each record's (start, end).
    pub(super) fn spans(&self, times: impl Fn(usize) -> Option<(f64, Option<f64>)>) -> Vec<FaultSpan> {
        self.0
            .iter()
            .filter_map(|(r, nodes)| {
                times(*r).map(|(start, end)| FaultSpan { nodes: nodes.clone(), start, end })
            })
            .collect()
    }
}

/// Where an observation stands in the run.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    /// The node that made it.
    pub node: NodeId,
    /// When, in run-relative seconds.
    pub t: f64,
    /// Whether that falls within the run (the agents keep serving while it drains).
    pub within_run: bool,
    t0: Time,
}

impl Seen {
    pub(crate) fn new(node: NodeId, t: f64, within_run: bool, t0: Time) -> Seen {
        Seen { node, t, within_run, t0 }
    }

    /// Run-relative seconds of a time the protocol reported.
    pub fn rel(&self, at: Time) -> f64 {
        (i128::from(at.as_nanos()) - i128::from(self.t0.as_nanos())) as f64 / 1e9
    }
}

/// The run as far as it went, for a section's report, lines and panel.
#[derive(Clone, Copy, Debug)]
pub struct SoFar<'a> {
    /// Run-relative seconds: the end of the run, or now.
    pub now: f64,
    /// The executed faults and the nodes they covered.
    pub faults: &'a [FaultSpan],
}

/// A workload's part of the recorder.
pub trait Section: std::fmt::Debug + Send + Sync {
    /// Fold one of the workload's own observations; a line for the event log, if any.
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String>;

    /// `node` went down at run-relative `t`.
    fn node_down(&mut self, _node: NodeId, _t: f64) {}

    /// Its section of report.json (None: nothing to report, written as null).
    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value>;

    /// Its numbers on the dashboard, one line each (label, text).
    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)>;

    /// Its Prometheus series, now (served beside the exporter's own families).
    fn series(&self, _run: SoFar<'_>) -> Vec<Series> {
        Vec::new()
    }

    /// The panel shown in place of the request panels, for a workload
    /// without client requests.
    fn signal(&self, _run: SoFar<'_>) -> Option<Signal> {
        None
    }
}

/// The workloads' sections of report.json, one key each in the registry's
/// order, null where the run's workload has none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sections(pub Vec<(&'static str, Option<serde_json::Value>)>);

impl Sections {
    /// Every registered key, null.
    pub fn none() -> Sections {
        Sections(crate::workload::report_keys().iter().map(|k| (*k, None)).collect())
    }

    /// Set `key`'s section.
    pub fn set(&mut self, key: &'static str, value: Option<serde_json::Value>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// `key`'s section, when there is one.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.as_ref())
    }
}

impl Serialize for Sections {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A serializable section as report.json holds it.
pub fn to_json<T: Serialize>(section: Option<T>) -> Option<serde_json::Value> {
    section.and_then(|s| serde_json::to_value(s).ok())
}
