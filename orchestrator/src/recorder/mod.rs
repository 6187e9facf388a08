//! The recorder: folds observations and node/fault events into the metrics of
//! DESIGN.md. The report, the event log (and the dashboard and exporter) read
//! it, so they never disagree.

pub mod checkpoint;
pub mod classroom;
pub mod detector;
pub mod events;
mod failover;
pub mod intervals;
mod outage;
pub mod rebuild;
pub mod snapshot;

use crate::report::{FaultRecord, Incident, Latency, NodeRecord, Recovery, Report, Requests, Tmr};
use crate::topology::Topology;
use events::{Event, EventLog};
use hdrhistogram::Histogram;
use intervals::RunIntervals;
use outage::OutageTracker;
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::observation::RecoveryReason;
use workloads::{NodeId, Observation, Outcome, Time, Verdict};

/// How long after an outage's start a fault may be recorded and still count
/// as its cause (seconds): requests in flight when it strikes fail too.
const CAUSE_GRACE: f64 = 0.25;

/// Width of the request-outcome windows in events.jsonl.
pub const WINDOW: Duration = Duration::from_millis(100);

/// A node's state as the orchestrator knows it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Down,
    Paused,
}

impl NodeState {
    fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Down => "down",
            NodeState::Paused => "paused",
        }
    }
}

#[derive(Clone, Debug)]
struct NodeTrack {
    name: String,
    role: String,
    state: NodeState,
    since: f64,
    down_seconds: f64,
    crashes: u64,
    recoveries: u64,
}

#[derive(Clone, Debug)]
struct Pending {
    sent: Time,
    outcome: Outcome,
    latency: Option<Duration>,
}

#[derive(Clone, Debug, Default)]
struct WindowCounts {
    sent: u64,
    ok: u64,
    failed: u64,
    wrong: u64,
    unanimous: u64,
    majority: u64,
    no_majority: u64,
}

/// Folds everything a run observes into metrics.
pub struct Recorder {
    t0: Time,
    duration: Duration,
    topology: Topology,
    nodes: Vec<NodeTrack>,
    events: EventLog,
    /// Requests decided but not yet folded, by sequence number (folded in send order).
    pending: BTreeMap<u64, Pending>,
    /// The next sequence number to fold (None until the first request).
    next_seq: Option<u64>,
    requests: Requests,
    latency: Histogram<u64>,
    outages: OutageTracker,
    windows: BTreeMap<u64, WindowCounts>,
    /// (ok, sent) of every window written, by index: batch means read them.
    window_log: Vec<(f64, f64)>,
    /// Windows below this index are written; a request folded later into one
    /// of them is written as a second line for the same window (readers add them).
    written_below: u64,
    /// How long after a window's end its requests are all decided (the
    /// workload's deadline plus transport): it is written then.
    settle: Duration,
    /// The last outage was still open when the run ended.
    open_at_end: bool,
    tmr: Tmr,
    recoveries: Vec<(f64, NodeId, f64)>,
    faults: Vec<FaultRecord>,
    skipped: Vec<FaultRecord>,
    /// What the dashboard and the exporter read besides the above.
    live: snapshot::Live,
    /// The checkpointing workload's metrics.
    checkpoint: checkpoint::CheckpointRecorder,
    /// Failure-detector QoS against ground truth, and the suspicion matrix.
    detector: detector::DetectorTracker,
    /// Primary/backup takeover phases, for the recovery breakdown.
    failovers: failover::FailoverLog,
    /// Byzantine agreement, commit protocols and RPC semantics.
    classroom: classroom::Classroom,
}

impl Recorder {
    /// A recorder for a run that starts at `t0` and lasts `duration`.
    pub fn new(topology: Topology, t0: Time, duration: Duration, events: EventLog) -> Recorder {
        let n_nodes = topology.nodes.len();
        let nodes = topology
            .nodes
            .iter()
            .map(|n| NodeTrack {
                name: n.name.clone(),
                role: n.role.clone(),
                state: NodeState::Up,
                since: 0.0,
                down_seconds: 0.0,
                crashes: 0,
                recoveries: 0,
            })
            .collect();
        // Auto-resizing, 3 significant digits: construction cannot fail for sigfig 3.
        let mut latency =
            Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"));
        latency.auto(true);
        Recorder {
            t0,
            duration,
            topology,
            nodes,
            events,
            pending: BTreeMap::new(),
            next_seq: None,
            requests: Requests::default(),
            latency,
            outages: OutageTracker::default(),
            windows: BTreeMap::new(),
            window_log: Vec::new(),
            written_below: 0,
            settle: Duration::from_millis(100),
            open_at_end: false,
            tmr: Tmr::default(),
            recoveries: Vec::new(),
            faults: Vec::new(),
            skipped: Vec::new(),
            live: snapshot::Live::new(n_nodes),
            checkpoint: checkpoint::CheckpointRecorder::default(),
            detector: detector::DetectorTracker::new(n_nodes),
            failovers: failover::FailoverLog::default(),
            classroom: classroom::Classroom::default(),
        }
    }

    /// The run hosts the checkpointing workload with this configuration (for its oracle).
    /// `mttf`: the system's MTTF when the faults give one (for Young's interval).
    pub fn expect_checkpointing(&mut self, config: &workloads::checkpoint::Config, mttf: Option<Duration>) {
        self.checkpoint.configure(config, mttf);
    }

    /// Requests are decided within `deadline` of their sending: a window is
    /// written once that (and a little transport) has passed since its end,
    /// but never more than 200 ms after it, so a killed run loses little; a
    /// request decided later is written as a second line for its window.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.settle = deadline.min(Duration::from_millis(150)) + Duration::from_millis(50);
    }

    /// The clock moved to `now`: write the windows that can no longer change.
    pub fn tick(&mut self, now: Time) {
        let horizon = self.rel(now) - self.settle.as_secs_f64();
        self.flush_windows_before(horizon);
    }

    /// Run-relative seconds of a monotonic time.
    pub fn rel(&self, t: Time) -> f64 {
        (i128::from(t.as_nanos()) - i128::from(self.t0.as_nanos())) as f64 / 1e9
    }

    /// Set the run's start (the moment agents are told to start).
    pub fn set_start(&mut self, t0: Time) {
        self.t0 = t0;
    }

    /// The run's start on the monotonic clock.
    pub fn t0(&self) -> Time {
        self.t0
    }

    fn name(&self, id: NodeId) -> String {
        self.topology.by_id(id).map(|n| n.name.clone()).unwrap_or_else(|| id.to_string())
    }

    /// Write an event to events.jsonl.
    pub fn event(&mut self, e: Event) {
        self.live.log(&e);
        self.events.write(&e);
    }

    /// Fold one observation that `node` made at `at`.
    pub fn observe(&mut self, node: NodeId, at: Time, obs: Observation) {
        self.observe_one(node, at, obs);
        self.tick(at);
    }

    fn observe_one(&mut self, node: NodeId, at: Time, obs: Observation) {
        match obs {
            Observation::Request { seq, sent, outcome, latency } => {
                if sent.since(self.t0) < self.duration && sent >= self.t0 {
                    self.pending.insert(seq, Pending { sent, outcome, latency });
                    self.fold_ready(false);
                } else if self.next_seq == Some(seq) {
                    self.next_seq = Some(seq + 1);
                }
            }
            // Votes count within the run only, like requests (the agents
            // keep serving while the run drains).
            Observation::Vote { .. } if at.since(self.t0) >= self.duration => {}
            Observation::Vote { verdict, .. } => {
                let w = window_in(&mut self.windows, self.t0, at);
                match verdict {
                    Verdict::Unanimous => {
                        self.tmr.unanimous += 1;
                        w.unanimous += 1;
                    }
                    Verdict::Majority => {
                        self.tmr.majority += 1;
                        w.majority += 1;
                    }
                    Verdict::NoMajority => {
                        self.tmr.no_majority += 1;
                        w.no_majority += 1;
                    }
                }
            }
            Observation::RecoveryStarted { reason } => {
                self.live.set_recovering(node, true);
                let reason = match reason {
                    RecoveryReason::Restart => "restart",
                    RecoveryReason::Gap => "gap",
                };
                let e =
                    Event::RecoveryStarted { t: self.rel(at), node: self.name(node), reason: reason.into() };
                self.event(e);
            }
            Observation::RecoveryCompleted { restore, .. } => {
                self.live.set_recovering(node, false);
                self.tmr.state_transfers += 1;
                let t = self.rel(at);
                self.recoveries.push((t, node, restore.as_secs_f64()));
                if let Some(n) = self.nodes.get_mut(usize::from(node.0)) {
                    n.recoveries += 1;
                }
                let e = Event::RecoveryCompleted {
                    t,
                    node: self.name(node),
                    restore_seconds: restore.as_secs_f64(),
                };
                self.event(e);
            }
            Observation::Suspect { peer } => {
                self.detector.suspicion(usize::from(node.0), usize::from(peer.0), true, self.rel(at));
                let e = Event::Suspect { t: self.rel(at), node: self.name(node), peer: self.name(peer) };
                self.event(e);
            }
            Observation::Trust { peer } => {
                self.detector.suspicion(usize::from(node.0), usize::from(peer.0), false, self.rel(at));
                let e = Event::Trust { t: self.rel(at), node: self.name(node), peer: self.name(peer) };
                self.event(e);
            }
            Observation::Failover { phase, view } => {
                let t = self.rel(at);
                self.failovers.record(t, phase, view);
                let text = format!("failover to view {view}: {phase:?}");
                self.event(Event::Note { t, node: Some(self.name(node)), text });
            }
            Observation::Checkpoint(e) => {
                let t = self.rel(at);
                let t0 = self.t0;
                self.checkpoint.observe(node, t, e, |p| {
                    (i128::from(p.as_nanos()) - i128::from(t0.as_nanos())) as f64 / 1e9
                });
            }
            Observation::Agreement(e) => {
                let t = self.rel(at);
                self.classroom.byzantine.observe(node, t, e);
            }
            Observation::Commit(e) => {
                let t0 = self.t0;
                let rel = |p: Time| (i128::from(p.as_nanos()) - i128::from(t0.as_nanos())) as f64 / 1e9;
                let t = self.rel(at);
                if let Some(text) = self.classroom.commit.observe(node, t, e, rel) {
                    self.event(Event::Note { t, node: Some(self.name(node)), text });
                }
            }
            // Within the run only, like requests; but a reply to a try made
            // within the run still arrives (else it would count as lost).
            Observation::Rpc(e) if at.since(self.t0) >= self.duration => {
                if matches!(e, workloads::rpc::RpcEvent::LateReply { .. }) {
                    self.classroom.rpc.observe(e);
                }
            }
            Observation::Rpc(e) => self.classroom.rpc.observe(e),
            Observation::Note { text } => {
                let e = Event::Note { t: self.rel(at), node: Some(self.name(node)), text };
                self.event(e);
            }
        }
    }

    fn window_of(&mut self, at: Time) -> &mut WindowCounts {
        window_in(&mut self.windows, self.t0, at)
    }

    /// Fold decided requests in sequence order: the client decides them out
    /// of order (a timeout after a later reply), but outages are defined on
    /// send order. With `all`, fold everything left (end of run).
    fn fold_ready(&mut self, all: bool) {
        while let Some((&seq, _)) = self.pending.first_key_value() {
            // A gap can only be waited for so long: the client decides every
            // request within its deadline, so a long-missing one is lost.
            if self.next_seq.is_some_and(|n| n != seq) && !all && self.pending.len() < 200_000 {
                break;
            }
            let Some((seq, p)) = self.pending.pop_first() else { break };
            self.next_seq = Some(seq + 1);
            self.fold(p);
        }
        if all {
            self.flush_windows_before(f64::INFINITY);
        }
    }

    fn fold(&mut self, p: Pending) {
        let t = self.rel(p.sent);
        self.requests.total += 1;
        let w = self.window_of(p.sent);
        w.sent += 1;
        match p.outcome {
            Outcome::Ok => {
                w.ok += 1;
                self.requests.ok += 1;
                if let Some(l) = p.latency {
                    let ns = u64::try_from(l.as_nanos()).unwrap_or(u64::MAX).max(1_000);
                    let _ = self.latency.record(ns);
                }
            }
            Outcome::Failed => {
                w.failed += 1;
                self.requests.failed += 1;
            }
            Outcome::Wrong => {
                w.wrong += 1;
                self.requests.wrong += 1;
            }
        }
        let correct = p.outcome == Outcome::Ok;
        self.live.request(t, correct, p.latency.filter(|_| correct));
        match self.outages.record(t, correct) {
            Some(outage::Change::Started(start)) => self.event(Event::OutageStarted { t: start }),
            Some(outage::Change::Ended { start, end }) => {
                self.event(Event::OutageEnded { t: end, start, seconds: end - start })
            }
            None => {}
        }
    }

    /// Write the windows that end before `horizon` (run-relative seconds).
    fn flush_windows_before(&mut self, horizon: f64) {
        while let Some((&idx, _)) = self.windows.first_key_value() {
            let t = idx as f64 * WINDOW.as_secs_f64();
            // A nanosecond of slack against rounding of the run-relative times.
            if t + WINDOW.as_secs_f64() > horizon + 1e-9 {
                break;
            }
            let Some((_, w)) = self.windows.pop_first() else { break };
            if let Some(slot) = usize::try_from(idx).ok().filter(|&i| i < 10_000_000) {
                if self.window_log.len() <= slot {
                    self.window_log.resize(slot + 1, (0.0, 0.0));
                }
                self.window_log[slot].0 += w.ok as f64;
                self.window_log[slot].1 += w.sent as f64;
            }
            self.written_below = self.written_below.max(idx + 1);
            self.event(Event::Window {
                t: (t * 10.0).round() / 10.0,
                sent: w.sent,
                ok: w.ok,
                failed: w.failed,
                wrong: w.wrong,
                unanimous: w.unanimous,
                majority: w.majority,
                no_majority: w.no_majority,
            });
        }
    }

    /// These nodes run failure detectors, each watching the others: the
    /// report gets a `detector` section and the dashboard a suspicion matrix.
    pub fn enable_detector(&mut self, monitors: &[NodeId]) {
        self.detector.enable(monitors.iter().map(|n| usize::from(n.0)).collect());
    }

    /// Who suspects whom now, `[monitor][monitored]` (None when no detector runs).
    pub fn suspicion(&self) -> Option<Vec<Vec<bool>>> {
        self.detector.matrix()
    }

    /// False suspicions and detection times so far, for the exporter
    /// (`faultlab_detector_false_suspicions_total`, `faultlab_detector_detection_seconds`).
    pub fn detector_totals(&self, now: Time) -> Option<(usize, Vec<f64>)> {
        self.detector.enabled().then(|| self.detector.totals(self.rel(now).max(0.0)))
    }

    /// A node changed state at `at` (from the backend or the runner).
    pub fn node_state(&mut self, node: NodeId, state: NodeState, at: Time) {
        let t = self.rel(at);
        let Some(n) = self.nodes.get_mut(usize::from(node.0)) else { return };
        if n.state == state {
            return;
        }
        if n.state != NodeState::Up {
            n.down_seconds += t - n.since;
        }
        if state == NodeState::Down {
            self.checkpoint.crashed(node, t);
            n.crashes += 1;
            self.live.set_recovering(node, false);
        }
        n.state = state;
        n.since = t;
        self.detector.node_state(usize::from(node.0), state == NodeState::Up, t);
        let e = Event::NodeState { t, node: n.name.clone(), state: state.as_str().into() };
        self.event(e);
    }

    /// A fault was executed at `at`.
    pub fn fault_started(&mut self, fault: usize, kind: &str, target: &str, at: Time) -> usize {
        let t = self.rel(at);
        self.faults.push(FaultRecord {
            fault,
            kind: kind.into(),
            target: target.into(),
            at_seconds: Some(t),
            until_seconds: None,
        });
        self.live.injected(kind);
        self.event(Event::FaultStarted { t, fault, kind: kind.into(), target: target.into() });
        self.faults.len() - 1
    }

    /// The executed fault `record` (from `fault_started`) covers `nodes`.
    pub fn fault_nodes(&mut self, record: usize, nodes: Vec<NodeId>) {
        self.classroom.fault_nodes(record, nodes);
    }

    /// The executed fault `record` (from `fault_started`) ended at `at`.
    pub fn fault_ended(&mut self, record: usize, at: Time) {
        let t = self.rel(at);
        let Some(r) = self.faults.get_mut(record) else { return };
        r.until_seconds = Some(t);
        let e = Event::FaultEnded { t, fault: r.fault, kind: r.kind.clone(), target: r.target.clone() };
        self.event(e);
    }

    /// A planned fault was skipped (it would start after the run's end).
    pub fn fault_skipped(&mut self, fault: usize, kind: &str, target: &str) {
        self.skipped.push(FaultRecord {
            fault,
            kind: kind.into(),
            target: target.into(),
            at_seconds: None,
            until_seconds: None,
        });
        self.event(Event::FaultSkipped { fault, kind: kind.into(), target: target.into() });
    }

    /// Counts so far, for progress lines.
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// Whether the service is in an outage now (as far as folded).
    pub fn in_outage(&self) -> bool {
        self.outages.open().is_some()
    }

    /// Fold everything left and build the report. `end` is the run's
    /// run-relative end (the duration, or the moment it was interrupted).
    pub fn finish(&mut self, end: f64, interrupted: bool) -> Report {
        self.fold_ready(true);
        if let Some(start) = self.outages.close(end) {
            self.open_at_end = true;
            self.event(Event::OutageEnded { t: end, start, seconds: end - start });
        }
        for n in &mut self.nodes {
            if n.state != NodeState::Up {
                n.down_seconds += end - n.since;
                n.since = end;
            }
        }
        self.event(Event::RunEnded { t: end, interrupted });
        self.report(end, interrupted)
    }

    fn report(&self, end: f64, interrupted: bool) -> Report {
        let q = |p: f64| (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(p) as f64 / 1e9);
        let latency = Latency {
            p50: q(0.5),
            p99: q(0.99),
            max: (!self.latency.is_empty()).then(|| self.latency.max() as f64 / 1e9),
        };
        let outages = self.outages.outages();
        let outage_time: f64 = outages.iter().map(|o| o.end - o.start).sum();
        let failures = outages.len() as u64;
        let incidents: Vec<Incident> = outages
            .iter()
            .map(|o| {
                let restore = self
                    .recoveries
                    .iter()
                    .filter(|(t, _, _)| *t >= o.start && *t <= o.end + 1.0)
                    .map(|(_, _, r)| *r)
                    .next_back();
                // A request sent just before a crash fails because of it: a
                // fault recorded up to CAUSE_GRACE after the outage's start
                // still caused it.
                let cause = self
                    .faults
                    .iter()
                    .filter(|f| f.at_seconds.is_some_and(|a| a <= o.start + CAUSE_GRACE))
                    .max_by(|a, b| {
                        a.at_seconds.partial_cmp(&b.at_seconds).unwrap_or(std::cmp::Ordering::Equal)
                    });
                let split = self.failovers.breakdown(o.start, o.end);
                Incident {
                    start: o.start,
                    end: o.end,
                    seconds: o.end - o.start,
                    detection: split.detection,
                    failover: split.failover,
                    restore,
                    catch_up: split.catch_up,
                    fault: cause.map(|f| f.fault),
                    fault_to_outage: cause.and_then(|f| f.at_seconds).map(|a| (o.start - a).max(0.0)),
                    failed_requests: o.failed,
                }
            })
            .collect();
        let mut secs: Vec<f64> = incidents.iter().map(|i| i.seconds).collect();
        secs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let pct = |p: f64| -> Option<f64> {
            if secs.is_empty() {
                return None;
            }
            let idx = ((p * secs.len() as f64).ceil() as usize).clamp(1, secs.len()) - 1;
            secs.get(idx).copied()
        };
        let recovery = Recovery {
            count: incidents.len(),
            p50: pct(0.5),
            p95: pct(0.95),
            max: secs.last().copied(),
            incidents,
        };
        // Outages and availability come from requests: a workload that sent
        // none has neither (null, not a perfect score).
        let sent = self.requests.total > 0;
        let (mttf, mttr, bound) = if !sent {
            (None, None, None)
        } else if failures == 0 {
            // No failure seen: only a one-sided bound, T / ln(1/alpha) at alpha = 0.05.
            (None, None, Some(end / (1.0f64 / 0.05).ln()))
        } else {
            (Some((end - outage_time) / failures as f64), Some(outage_time / failures as f64), None)
        };
        let ci = if sent {
            intervals::run_intervals(outages, self.open_at_end, end, &self.window_log)
        } else {
            RunIntervals::default()
        };
        Report {
            experiment: String::new(),
            concept: None,
            seed: 0,
            backend: String::new(),
            run_id: String::new(),
            duration_seconds: end,
            interrupted,
            throughput_per_second: if end > 0.0 { self.requests.ok as f64 / end } else { 0.0 },
            availability: (self.requests.total > 0)
                .then(|| self.requests.ok as f64 / self.requests.total as f64),
            availability_ci: ci.availability,
            availability_time: sent.then(|| {
                if end > 0.0 {
                    (1.0 - outage_time / end).clamp(0.0, 1.0)
                } else {
                    1.0
                }
            }),
            availability_time_ci: ci.availability_time,
            availability_model: None,
            availability_exponential_ci: ci.availability_exponential,
            requests: self.requests.clone(),
            latency_seconds: latency,
            failures,
            mttf_seconds: mttf,
            mttf_ci: ci.mttf,
            mttr_seconds: mttr,
            mttr_ci: ci.mttr,
            mttf_lower_bound_seconds: bound,
            intervals: sent.then(intervals::methods),
            schedule_drawn: None,
            recovery_seconds: recovery,
            faults: self.faults.clone(),
            skipped_faults: self.skipped.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeRecord {
                    name: n.name.clone(),
                    role: n.role.clone(),
                    crashes: n.crashes,
                    recoveries: n.recoveries,
                    down_seconds: n.down_seconds,
                })
                .collect(),
            detector: self
                .detector
                .report(end, &self.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>())
                .and_then(|r| serde_json::to_value(r).ok()),
            tmr: self.nodes.iter().any(|n| n.role == "voter").then(|| self.tmr.clone()),
            checkpointing: self.checkpoint.report().and_then(|r| serde_json::to_value(r).ok()),
            byzantine: self.classroom.byzantine.report(
                &self
                    .classroom
                    .spans(|r| self.faults.get(r).and_then(|f| Some((f.at_seconds?, f.until_seconds)))),
                end,
            ),
            commit: self.classroom.commit.report(end),
            rpc: self.classroom.rpc.report(),
            repeat: None,
            expect: Vec::new(),
        }
    }

    /// The first error writing events.jsonl, if any.
    pub fn take_event_error(&mut self) -> Option<std::io::Error> {
        self.events.take_error()
    }
}

fn window_in(windows: &mut BTreeMap<u64, WindowCounts>, t0: Time, at: Time) -> &mut WindowCounts {
    let idx = u64::try_from(at.since(t0).as_nanos() / WINDOW.as_nanos()).unwrap_or(u64::MAX);
    windows.entry(idx).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(r: &mut Recorder, seq: u64, sent_ms: u64, outcome: Outcome) {
        let sent = Time::from_millis(sent_ms);
        r.observe(NodeId(4), sent, Observation::Request { seq, sent, outcome, latency: None });
    }

    #[test]
    fn requests_fold_in_send_order_into_one_outage_caused_by_the_fault_that_struck_during_it() {
        let topo = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(4), EventLog::discard());
        r.fault_started(0, "crash", "replica-1", Time::from_millis(500));
        // The crash is recorded a hair after the first request it made fail was sent.
        r.fault_started(1, "crash", "replica-2", Time::from_millis(1002));
        // Decided out of order: the failed ones time out after a later success arrives.
        request(&mut r, 1, 900, Outcome::Ok);
        request(&mut r, 4, 3000, Outcome::Ok);
        request(&mut r, 2, 1000, Outcome::Failed);
        request(&mut r, 3, 2000, Outcome::Wrong);
        let report = r.finish(4.0, false);
        assert_eq!(report.requests, Requests { total: 4, ok: 2, failed: 1, wrong: 1 });
        assert_eq!(report.failures, 1);
        let i = &report.recovery_seconds.incidents[0];
        assert_eq!((i.start, i.end), (1.0, 3.0));
        assert_eq!(i.fault, Some(1), "the second crash, not the first");
        assert_eq!(i.fault_to_outage, Some(0.0));
        assert_eq!(report.mttr_seconds, Some(2.0));
        assert_eq!(report.mttf_seconds, Some(2.0));
        assert!(report.availability_time.is_some_and(|a| (a - 0.5).abs() < 1e-9));
        assert!(report.tmr.is_some(), "a TMR topology reports its verdicts");
    }

    #[test]
    fn windows_are_written_once_the_deadline_has_passed_since_their_end() {
        let topo = Topology::from_roles(&[("server", 1), ("client", 1)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut r =
            Recorder::new(topo, Time::ZERO, Duration::from_secs(10), EventLog::create(&path).unwrap());
        r.set_deadline(Duration::from_millis(50));
        request(&mut r, 1, 1010, Outcome::Ok);
        request(&mut r, 2, 1050, Outcome::Failed);
        let windows = |p: &std::path::Path| {
            std::fs::read_to_string(p).unwrap().lines().filter(|l| l.contains("\"window\"")).count()
        };
        r.tick(Time::from_millis(1195));
        assert_eq!(
            windows(&path),
            0,
            "[1.0, 1.1) may still get requests until 1.15 s, and their replies 50 ms later"
        );
        r.tick(Time::from_millis(1200));
        assert_eq!(windows(&path), 1, "written 100 ms after its end, within 200 ms");
        // A straggler for that window is written as a second line for it, not lost.
        request(&mut r, 3, 1090, Outcome::Ok);
        r.tick(Time::from_millis(1300));
        assert_eq!(windows(&path), 2);
        let report = r.finish(10.0, false);
        assert_eq!(report.requests.total, 3);
    }

    #[test]
    fn a_long_deadline_still_writes_windows_within_200_ms() {
        let topo = Topology::from_roles(&[("server", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(10), EventLog::discard());
        r.set_deadline(Duration::from_secs(2));
        request(&mut r, 1, 1010, Outcome::Ok);
        r.tick(Time::from_millis(1300));
        assert_eq!(r.window_log.len(), 11, "[1.0, 1.1) written 200 ms after its end");
        // Decided 1.5 s later: its count joins the window, in the report too.
        request(&mut r, 2, 1020, Outcome::Failed);
        r.tick(Time::from_millis(2600));
        assert_eq!(r.window_log[10], (1.0, 2.0));
    }

    #[test]
    fn a_workload_without_requests_reports_no_availability() {
        let topo = Topology::from_roles(&[("node", 3)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(5), EventLog::discard());
        let report = r.finish(5.0, false);
        assert_eq!((report.availability, report.availability_time), (None, None));
        assert_eq!((report.mttf_lower_bound_seconds, report.mttf_seconds), (None, None));
        assert_eq!((report.availability_ci, report.intervals), (None, None));
    }

    #[test]
    fn workloads_without_voters_report_no_tmr_section() {
        let topo = Topology::from_roles(&[("server", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(1), EventLog::discard());
        assert!(r.finish(1.0, false).tmr.is_none());
    }
}
