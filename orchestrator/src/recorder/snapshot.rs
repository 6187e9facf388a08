//! The live view of the recorder: what the dashboard draws and the
//! Prometheus exporter serves, built from the same folded state as the report.

use super::events::Event;
use super::section::SoFar;
use super::{NodeState, Recorder};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use tui::snapshot::{
    DetectionView, DetectorView, FaultView, LogLine, NodeStatus, NodeView, RunState, Series, ServiceView,
    Signal, Snapshot, TmrView, LATENCY_BUCKETS,
};
use workloads::NodeId;

/// Event-log lines kept for the dashboard.
const LOG_LINES: usize = 200;

/// Requests sent in one second of the run.
#[derive(Debug)]
struct Second {
    sent: u64,
    ok: u64,
    latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        // Two significant digits keep a per-second histogram small.
        let mut latency =
            Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits are valid"));
        latency.auto(true);
        Second { sent: 0, ok: 0, latency }
    }
}

/// Per-node transport counters, as the agents last reported them.
#[derive(Copy, Clone, Debug, Default)]
struct Traffic {
    sent: u64,
    received: u64,
    dropped: u64,
}

/// What only the live view needs.
#[derive(Debug)]
pub(super) struct Live {
    /// The detector's numbers stand in for the request panels (a workload
    /// whose section has a panel of its own shows that instead).
    detection: bool,
    /// A sandbox (`faultlab up`): runs until stopped.
    sandbox: bool,
    seconds: Vec<Second>,
    log: VecDeque<LogLine>,
    recovering: Vec<bool>,
    traffic: Vec<Traffic>,
    injected: BTreeMap<String, u64>,
    planned: Vec<FaultView>,
    manual: BTreeSet<usize>,
    latency_sum: f64,
}

impl Live {
    pub(super) fn new(nodes: usize) -> Live {
        Live {
            detection: false,
            sandbox: false,
            seconds: Vec::new(),
            log: VecDeque::new(),
            recovering: vec![false; nodes],
            traffic: vec![Traffic::default(); nodes],
            injected: BTreeMap::new(),
            planned: Vec::new(),
            manual: BTreeSet::new(),
            latency_sum: 0.0,
        }
    }

    /// A request sent at run second `t` was folded.
    pub(super) fn request(&mut self, t: f64, correct: bool, latency: Option<Duration>) {
        let idx = t.max(0.0) as usize;
        while self.seconds.len() <= idx {
            self.seconds.push(Second::new());
        }
        let s = &mut self.seconds[idx];
        s.sent += 1;
        if correct {
            s.ok += 1;
        }
        if let Some(l) = latency {
            let _ = s.latency.record(u64::try_from(l.as_micros()).unwrap_or(u64::MAX).max(1));
            self.latency_sum += l.as_secs_f64();
        }
    }

    /// `count` requests due at `t` that the client could not send (none served).
    pub(super) fn unsent(&mut self, t: f64, count: u64) {
        let idx = t.max(0.0) as usize;
        while self.seconds.len() <= idx {
            self.seconds.push(Second::new());
        }
        self.seconds[idx].sent += count;
    }

    pub(super) fn set_recovering(&mut self, node: NodeId, on: bool) {
        if let Some(r) = self.recovering.get_mut(usize::from(node.0)) {
            *r = on;
        }
    }

    pub(super) fn injected(&mut self, kind: &str) {
        *self.injected.entry(kind.to_string()).or_default() += 1;
    }

    /// Keep a readable line for the dashboard's event log.
    pub(super) fn log(&mut self, e: &Event) {
        let (t, text) = match e {
            Event::RunStarted { experiment, backend, .. } => {
                (0.0, format!("{experiment} started ({backend})"))
            }
            Event::FaultStarted { t, kind, target, .. } => (*t, format!("{kind} {target}")),
            Event::FaultEnded { t, kind, target, .. } => (*t, format!("{kind} {target} ended")),
            Event::FaultSkipped { kind, target, .. } => {
                (0.0, format!("{kind} {target} skipped (after the end)"))
            }
            Event::NodeState { t, node, state } => (*t, format!("{node} is {state}")),
            Event::RecoveryStarted { t, node, reason } => (*t, format!("{node} fetches state ({reason})")),
            Event::RecoveryCompleted { t, node, restore_seconds } => {
                (*t, format!("{node} recovered: state transfer {:.1} ms", restore_seconds * 1e3))
            }
            Event::Suspect { t, node, peer } => (*t, format!("{node} suspects {peer}")),
            Event::Trust { t, node, peer } => (*t, format!("{node} trusts {peer} again")),
            Event::OutageStarted { t } => (*t, "OUTAGE: requests failing".to_string()),
            Event::OutageEnded { t, seconds, .. } => (*t, format!("service back after {seconds:.3} s")),
            Event::Note { t, node, text } => {
                (*t, node.as_ref().map(|n| format!("{n}: {text}")).unwrap_or_else(|| text.clone()))
            }
            Event::RunInvalid { t, reason, .. } => (*t, format!("RUN INVALID: {reason}")),
            Event::RunEnded { t, interrupted } => {
                (*t, if *interrupted { "run interrupted".into() } else { "run finished".into() })
            }
            Event::Window { .. } => return,
        };
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { t, text });
    }
}

/// What the runner knows that the recorder does not.
#[derive(Clone, Debug, Default)]
pub struct SnapshotContext {
    pub experiment: String,
    pub run_id: String,
    pub concept: Option<String>,
    pub backend: String,
    pub seed: u64,
    pub run_state: RunState,
    pub elapsed_seconds: f64,
    /// Active faults per node, short names, indexed by node id.
    pub node_faults: Vec<Vec<String>>,
}

impl Recorder {
    /// The agents' latest transport counters for `node`.
    pub fn node_traffic(&mut self, node: NodeId, sent: u64, received: u64, dropped: u64) {
        if let Some(t) = self.live.traffic.get_mut(usize::from(node.0)) {
            *t = Traffic { sent, received, dropped };
        }
    }

    /// The faults the schedule will execute (shown dim on the timeline until they run).
    pub fn set_planned(&mut self, planned: Vec<FaultView>) {
        self.live.planned = planned;
    }

    /// The workload sends no client requests and its failure detectors are
    /// what it shows: the dashboard puts their numbers in place of the request panels.
    pub fn show_detection(&mut self) {
        self.live.detection = true;
    }

    /// The run is a sandbox (`faultlab up`): no schedule, it runs until stopped.
    pub fn set_sandbox(&mut self, sandbox: bool) {
        self.live.sandbox = sandbox;
    }

    /// The executed fault `record` was injected by hand.
    pub fn mark_manual(&mut self, record: usize) {
        self.live.manual.insert(record);
    }

    /// Everything the dashboard and the exporter show, now.
    pub fn snapshot(&self, ctx: &SnapshotContext) -> Snapshot {
        let r = &self.requests;
        let elapsed = ctx.elapsed_seconds.max(1e-9);
        let outage_time: f64 = self.outages.outages().iter().map(|o| o.end - o.start).sum::<f64>()
            + self.outages.open().map(|s| (elapsed - s).max(0.0)).unwrap_or(0.0);
        let failures = self.outages.outages().len() as u64;
        let recovery: Vec<f64> = self.outages.outages().iter().map(|o| o.end - o.start).collect();
        let mut sorted = recovery.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let p95 = (!sorted.is_empty())
            .then(|| sorted[((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]);
        // The last whole seconds folded so far (the newest may still be filling).
        let full = self.live.seconds.len().saturating_sub(1);
        let recent = &self.live.seconds[full.saturating_sub(10)..full];
        let (rs, ro) = recent.iter().fold((0, 0), |(s, o), x| (s + x.sent, o + x.ok));
        let q = |p: f64| (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(p) as f64 / 1e9);
        let service = ServiceView {
            requests_total: r.total,
            requests_ok: r.ok,
            requests_failed: r.failed,
            requests_wrong: r.wrong,
            availability: (r.total > 0).then(|| r.ok as f64 / r.total as f64),
            availability_recent: (rs > 0).then(|| ro as f64 / rs as f64),
            availability_time: (1.0 - outage_time / elapsed).clamp(0.0, 1.0),
            in_outage: self.outages.open().is_some(),
            failures,
            mttf_seconds: (failures > 0).then(|| (elapsed - outage_time) / failures as f64),
            mttr_seconds: (failures > 0).then(|| outage_time / failures as f64),
            recovery_last_seconds: recovery.last().copied(),
            recovery_p95_seconds: p95,
            recovery_seconds: recovery,
            latency_p50_seconds: q(0.5),
            latency_p99_seconds: q(0.99),
            latency_buckets: LATENCY_BUCKETS
                .iter()
                .map(|b| {
                    let ns = (b * 1e9) as u64;
                    if self.latency.is_empty() {
                        0
                    } else {
                        self.latency.count_between(0, ns)
                    }
                })
                .collect(),
            latency_sum_seconds: self.live.latency_sum,
            throughput: self.live.seconds[..full].iter().map(|s| s.ok).collect(),
            latency_p99_us: self.live.seconds[..full]
                .iter()
                .map(|s| if s.latency.is_empty() { 0 } else { s.latency.value_at_quantile(0.99) })
                .collect(),
            availability_permille: self.live.seconds[..full]
                .iter()
                .map(|s| (s.ok * 1000).checked_div(s.sent).unwrap_or(1000))
                .collect(),
        };
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let t = self.live.traffic[i];
                NodeView {
                    name: n.name.clone(),
                    role: n.role.clone(),
                    status: match n.state {
                        NodeState::Down => NodeStatus::Down,
                        NodeState::Paused => NodeStatus::Paused,
                        NodeState::Up if self.live.recovering[i] => NodeStatus::Recovering,
                        NodeState::Up => NodeStatus::Up,
                    },
                    faults: ctx.node_faults.get(i).cloned().unwrap_or_default(),
                    crashes: n.crashes,
                    messages_sent: t.sent,
                    messages_received: t.received,
                    dropped: t.dropped,
                }
            })
            .collect();
        let mut faults: Vec<FaultView> = self
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| FaultView {
                kind: f.kind.clone(),
                target: f.target.clone(),
                start: f.at_seconds.unwrap_or(0.0),
                end: f.until_seconds,
                executed: true,
                manual: self.live.manual.contains(&i),
            })
            .collect();
        // Planned faults are on the schedule's clock: a pause moves them on.
        // One that ends past the run's end (`for: 1000h`) lasts the rest of the run.
        let held = self.paused.as_secs_f64();
        let run_end = (self.duration + self.paused).as_secs_f64();
        faults.extend(
            self.live
                .planned
                .iter()
                .map(|p| FaultView {
                    start: p.start + held,
                    end: p.end.map(|e| e + held).filter(|e| *e < run_end),
                    ..p.clone()
                })
                .filter(|p| p.start > ctx.elapsed_seconds),
        );
        Snapshot {
            experiment: ctx.experiment.clone(),
            run_id: ctx.run_id.clone(),
            concept: ctx.concept.clone(),
            backend: ctx.backend.clone(),
            seed: ctx.seed,
            run_state: ctx.run_state,
            elapsed_seconds: ctx.elapsed_seconds,
            duration_seconds: run_end,
            sandbox: self.live.sandbox,
            signal: self.signal(ctx.elapsed_seconds),
            report: None,
            invalid: self.run_failures.first().map(|f| f.reason.clone()),
            host_stalls: self.stalls.len() as u64,
            nodes,
            service,
            tmr: self.nodes.iter().any(|n| n.role == "voter").then_some(TmrView {
                unanimous: self.tmr.unanimous,
                majority: self.tmr.majority,
                no_majority: self.tmr.no_majority,
                state_transfers: self.tmr.state_transfers,
            }),
            suspicion: self.detector.matrix(),
            detector: self.detector.enabled().then(|| {
                let (false_suspicions, detection_seconds) = self.detector.totals(ctx.elapsed_seconds);
                DetectorView { false_suspicions: false_suspicions as u64, detection_seconds }
            }),
            workload: self.workload_lines(ctx.elapsed_seconds),
            series: self.workload_series(ctx.elapsed_seconds),
            faults,
            faults_injected: self.live.injected.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            log: self.live.log.iter().cloned().collect(),
        }
    }
}

impl Recorder {
    /// The numbers of a workload without client requests, at run second `now`.
    fn signal(&self, now: f64) -> Option<Signal> {
        if self.live.detection {
            return Some(Signal::Detection(self.detection(now)));
        }
        let faults = self.fault_spans();
        self.section.as_ref()?.1.signal(SoFar { now, faults: &faults })
    }

    fn detection(&self, now: f64) -> DetectionView {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let Some(d) = self.detector.report(now, &names) else { return DetectionView::default() };
        DetectionView {
            detections: d.detection_seconds.count as u64,
            false_suspicions: d.false_suspicions as u64,
            detection_p50_seconds: d.detection_seconds.p50,
            detection_max_seconds: d.detection_seconds.max,
            undetected: d.undetected as u64,
            query_accuracy: d.query_accuracy,
        }
    }

    /// The running workload's own Prometheus series.
    fn workload_series(&self, now: f64) -> Vec<Series> {
        let faults = self.fault_spans();
        let mut series =
            self.section.as_ref().map(|(_, s)| s.series(SoFar { now, faults: &faults })).unwrap_or_default();
        if self.history.invocations() > 0 {
            series.push(Series::counter(
                "faultlab_history_operations_total",
                "Operations the key-value clients invoked (history.jsonl).",
                &[],
                self.history.invocations() as f64,
            ));
        }
        if let Some(ok) = self.history.verdict().and_then(|v| v.ok) {
            series.push(Series::gauge(
                "faultlab_linearizable",
                "1 when the clients' history is linearizable, 0 when not (set at the end of the run).",
                &[],
                if ok { 1.0 } else { 0.0 },
            ));
        }
        series
    }

    /// The running workload's own numbers, a line each, for the dashboard.
    fn workload_lines(&self, now: f64) -> Vec<(String, String)> {
        let faults = self.fault_spans();
        let mut lines =
            self.section.as_ref().map(|(_, s)| s.lines(SoFar { now, faults: &faults })).unwrap_or_default();
        // The clients' history is checked once, at the end of the run.
        if let Some(verdict) = self.history.verdict() {
            lines.push(("linearizability".into(), super::history::verdict_text(verdict)));
        } else if self.history.invocations() > 0 {
            let ops = crate::words::count(self.history.invocations() as f64, "operation");
            lines.push(("history".into(), format!("{ops} recorded; checked at the end")));
        }
        lines
    }
}

/// A recorder and its snapshots, for tests of the live view (here and in
/// the workloads' sections).
#[cfg(test)]
pub(crate) mod testing {
    use super::{Recorder, SnapshotContext};
    use crate::recorder::events::EventLog;
    use crate::topology::Topology;
    use std::time::Duration;
    use tui::snapshot::Snapshot;
    use workloads::Time;

    /// A recorder over nodes of these roles, for a run of `seconds`.
    pub(crate) fn recorder(roles: &[(&str, usize)], seconds: u64) -> Recorder {
        Recorder::new(
            Topology::from_roles(roles),
            Time::ZERO,
            Duration::from_secs(seconds),
            EventLog::discard(),
        )
    }

    /// The snapshot at run second `t`.
    pub(crate) fn at(r: &Recorder, t: f64) -> Snapshot {
        r.snapshot(&SnapshotContext { elapsed_seconds: t, ..SnapshotContext::default() })
    }

    /// `ms` milliseconds on the monotonic clock.
    pub(crate) fn ms(ms: u64) -> Time {
        Time::from_millis(ms)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::testing::{at, ms, recorder};
    use super::*;
    use workloads::Observation;

    #[test]
    fn a_request_workload_has_no_signal_and_a_sandbox_says_so() {
        let mut r = recorder(&[("replica", 3), ("voter", 1), ("client", 1)], 30);
        let s = at(&r, 1.0);
        assert_eq!((s.signal, s.sandbox), (None, false));
        r.set_sandbox(true);
        assert!(at(&r, 1.0).sandbox);
    }

    #[test]
    fn the_clients_history_is_counted_live_and_its_verdict_shown_at_the_end() {
        use workloads::history::{EventType, Function, Step, Value};
        let mut r = recorder(&[("replica", 2), ("client", 2)], 2);
        let write = Step::new(2, EventType::Invoke, Function::Write, 0, Value::Single(Some(1)));
        r.observe(NodeId(2), ms(10), Observation::History(write));
        r.observe(NodeId(2), ms(12), Observation::History(Step { kind: EventType::Ok, ..write }));
        let line = |r: &Recorder, t: f64| {
            at(r, t).workload.into_iter().find(|(k, _)| k.contains("histor") || k.contains("linear"))
        };
        assert_eq!(
            line(&r, 1.0),
            Some(("history".into(), "1 operation recorded; checked at the end".into()))
        );
        let report = r.finish(2.0, false);
        assert_eq!(report.linearizability.as_ref().and_then(|l| l.ok), Some(true));
        let (k, v) = line(&r, 2.0).unwrap();
        let series = at(&r, 2.0).series;
        let value = |name: &str| series.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("faultlab_history_operations_total"), Some(1.0));
        assert_eq!(value("faultlab_linearizable"), Some(1.0));
        assert_eq!((k.as_str(), v.starts_with("linearizable (1 ops")), ("linearizability", true));
    }

    #[test]
    fn heartbeat_detections_and_false_suspicions_fill_the_detection_signal() {
        let mut r = recorder(&[("node", 3)], 30);
        r.enable_detector(&[NodeId(0), NodeId(1), NodeId(2)]);
        r.show_detection();
        let Some(Signal::Detection(d)) = at(&r, 0.5).signal else {
            panic!("a detection signal from the start")
        };
        assert_eq!((d.detections, d.false_suspicions, d.query_accuracy), (0, 0, Some(1.0)));
        // node-2 crashes at 2 s; node-1 and node-3 suspect it 0.6 s and 0.8 s later.
        r.node_state(NodeId(1), NodeState::Down, ms(2000));
        r.observe(NodeId(0), ms(2600), Observation::Suspect { peer: NodeId(1) });
        r.observe(NodeId(2), ms(2800), Observation::Suspect { peer: NodeId(1) });
        // node-1 wrongly suspects node-3, which was up, for a second.
        r.observe(NodeId(0), ms(4000), Observation::Suspect { peer: NodeId(2) });
        r.observe(NodeId(0), ms(5000), Observation::Trust { peer: NodeId(2) });
        let Some(Signal::Detection(d)) = at(&r, 6.0).signal else { panic!("a detection signal") };
        assert_eq!((d.detections, d.false_suspicions, d.undetected), (2, 1, 0));
        assert!((d.detection_p50_seconds.unwrap() - 0.6).abs() < 1e-9);
        assert!((d.detection_max_seconds.unwrap() - 0.8).abs() < 1e-9);
        assert!(d.query_accuracy.is_some_and(|a| a < 1.0));
    }

    #[test]
    fn a_planned_fault_past_the_runs_end_lasts_the_rest_of_the_run() {
        let mut r = recorder(&[("replica", 3), ("voter", 1), ("client", 1)], 60);
        let planned = |start: f64, end: f64| FaultView {
            kind: "crash".into(),
            target: "replica-1".into(),
            start,
            end: Some(end),
            ..FaultView::default()
        };
        r.set_planned(vec![planned(10.0, 3_600_010.0), planned(20.0, 25.0)]);
        let s = at(&r, 1.0);
        let ends: Vec<Option<f64>> = s.faults.iter().map(|f| f.end).collect();
        assert_eq!(ends, [None, Some(25.0)]);
    }
}
