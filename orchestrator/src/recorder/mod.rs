//! The recorder: folds observations and node/fault events into the metrics of
//! DESIGN.md. The report, the event log (and the dashboard and exporter) read
//! it, so they never disagree.

pub mod detector;
pub mod events;
mod failover;
pub mod history;
pub mod intervals;
mod outage;
pub mod rebuild;
pub mod section;
pub mod snapshot;

use crate::report::{
    FaultRecord, HostStall, Incident, Latency, NodeRecord, Recovery, Report, Requests, RunFailure, Tmr,
};
use crate::topology::Topology;
use events::{Event, EventLog};
use hdrhistogram::Histogram;
use intervals::RunIntervals;
use outage::OutageTracker;
use section::{FaultNodes, Section, Seen, SoFar};
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::observation::RecoveryReason;
use workloads::{NodeId, Observation, Outcome, Time, Verdict};

/// How long after an outage's start a fault may be recorded and still count
/// as its cause (seconds): requests in flight when it strikes fail too.
const CAUSE_GRACE: f64 = 0.25;

/// How far the orchestrator's loop or an agent's may run late before the
/// host counts as stalled (seconds). Tokio's timers are late by about a
/// millisecond on an idle host; 25 ms is half the tightest deadline of the
/// library, enough to fail requests on its own.
pub const STALL_THRESHOLD: f64 = 0.025;

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
    /// How long the schedule has been held paused so far: the run's end on
    /// the wall-clock axis is `duration + paused`.
    paused: Duration,
    topology: Topology,
    nodes: Vec<NodeTrack>,
    events: EventLog,
    /// Requests decided but not yet folded, by sequence number (folded in send order).
    pending: BTreeMap<u64, Pending>,
    /// The next sequence number to fold (None until the first request).
    next_seq: Option<u64>,
    /// Requests the client could not send, by the time they were due (in
    /// order): folded among the sent ones by time.
    unsent: std::collections::VecDeque<(Time, u64)>,
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
    /// Failure-detector QoS against ground truth, and the suspicion matrix.
    detector: detector::DetectorTracker,
    /// Primary/backup takeover phases, for the recovery breakdown.
    failovers: failover::FailoverLog,
    /// The workload's own metrics, when it has any, and their key in report.json.
    section: Option<(&'static str, Box<dyn Section>)>,
    /// The clients' operations (history.jsonl) and the linearizability verdict.
    history: history::HistoryLog,
    /// When the service's clients record histories rather than requests:
    /// their operations, numbered as invoked, become the requests.
    history_requests: Option<history::AsRequests>,
    /// The nodes each executed fault covered.
    fault_nodes: FaultNodes,
    /// When each node came back up after being down, and when its restart
    /// was issued (run-relative), for the recovery breakdown.
    ups: Vec<(f64, NodeId, Option<f64>)>,
    /// How long after a fault ends an outage that starts may still be its
    /// effect (seconds): requests in flight when it ended, the workload's deadline.
    effect_window: f64,
    /// Host stalls seen: (start, end, source).
    stalls: Vec<(f64, f64, String)>,
    /// What made the run invalid.
    run_failures: Vec<RunFailure>,
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
            paused: Duration::ZERO,
            topology,
            nodes,
            events,
            pending: BTreeMap::new(),
            unsent: std::collections::VecDeque::new(),
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
            detector: detector::DetectorTracker::new(n_nodes),
            failovers: failover::FailoverLog::default(),
            section: None,
            history: history::HistoryLog::default(),
            history_requests: None,
            fault_nodes: FaultNodes::default(),
            ups: Vec::new(),
            effect_window: CAUSE_GRACE,
            stalls: Vec::new(),
            run_failures: Vec::new(),
        }
    }

    /// The host stalled from `start` to `end` (monotonic), as `source` saw it
    /// (a late wake-up of the orchestrator's loop, or an agent's lag).
    pub fn host_stall(&mut self, start: Time, end: Time, source: &str) {
        let (s, e) = (self.rel(start), self.rel(end));
        if e - s < STALL_THRESHOLD {
            return;
        }
        // Stalls seen by several agents at once are one stretch per source.
        if let Some(last) = self.stalls.iter_mut().rev().find(|(_, _, src)| src == source) {
            if s <= last.1 {
                last.1 = last.1.max(e);
                return;
            }
        }
        self.stalls.push((s, e, source.to_string()));
        let text = format!("host stall: {source} ran {:.0} ms late", (e - s) * 1e3);
        self.event(Event::Note { t: s, node: None, text });
    }

    /// The run stopped being a valid run at `at`: an agent died or went
    /// silent outside a fault, a fault could not be executed...
    pub fn run_failure(&mut self, at: Time, node: Option<NodeId>, reason: String) {
        let t = self.rel(at);
        let node = node.map(|n| self.name(n));
        self.event(Event::RunInvalid { t, node: node.clone(), reason: reason.clone() });
        self.run_failures.push(RunFailure { t, node, reason });
    }

    /// Whether something has made the run invalid.
    pub fn is_valid(&self) -> bool {
        self.run_failures.is_empty()
    }

    /// The workload's own part of the recorder: it gets the observations the
    /// core does not fold and gives its section of report.json.
    pub fn set_section(&mut self, key: &'static str, section: Box<dyn Section>) {
        self.section = Some((key, section));
    }

    /// Write the clients' history to `path` (history.jsonl) as it arrives.
    pub fn set_history_file(&mut self, path: std::path::PathBuf) {
        self.history = history::HistoryLog::to_file(path);
    }

    /// The executed faults and the nodes they covered, up to now.
    fn fault_spans(&self) -> Vec<section::FaultSpan> {
        self.fault_nodes.spans(|r| self.faults.get(r).and_then(|f| Some((f.at_seconds?, f.until_seconds))))
    }

    /// Requests are decided within `deadline` of their sending: a window is
    /// written once that (and a little transport) has passed since its end,
    /// but never more than 200 ms after it, so a killed run loses little; a
    /// request decided later is written as a second line for its window.
    /// Outages that start up to `deadline` (plus a grace) after a fault
    /// ended may still be its effect.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.settle = deadline.min(Duration::from_millis(150)) + Duration::from_millis(50);
        self.effect_window = deadline.as_secs_f64() + CAUSE_GRACE;
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
                if self.within_run(sent) {
                    self.pending.insert(seq, Pending { sent, outcome, latency });
                    self.fold_ready(false);
                } else if self.next_seq == Some(seq) {
                    self.next_seq = Some(seq + 1);
                }
            }
            Observation::Unsent { count, at: due } => {
                if self.within_run(due) && count > 0 {
                    self.unsent.push_back((due, count));
                    self.fold_ready(false);
                }
            }
            // Votes count within the run only, like requests (the agents
            // keep serving while the run drains).
            Observation::Vote { .. } if !self.within_run(at) => {}
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
            Observation::History(step) => {
                let t = Time::from_nanos(u64::try_from(at.since(self.t0).as_nanos()).unwrap_or(u64::MAX));
                self.history.record(step.at(t));
                if let Some(request) = self.history_requests.as_mut().and_then(|h| h.step(node, at, &step)) {
                    self.observe_one(node, at, request);
                }
            }
            Observation::Note { text } => {
                let e = Event::Note { t: self.rel(at), node: Some(self.name(node)), text };
                self.event(e);
            }
            other => {
                let t = self.rel(at);
                let seen = Seen::new(node, t, self.within_run(at), self.t0);
                let note = self.section.as_mut().and_then(|(_, s)| s.observe(seen, other));
                if let Some(text) = note {
                    self.event(Event::Note { t, node: Some(self.name(node)), text });
                }
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
            self.fold_unsent(Some(p.sent));
            self.fold(p);
        }
        if all {
            self.fold_unsent(None);
            self.flush_windows_before(f64::INFINITY);
        }
    }

    /// Fold the unsent requests due before `until` (all with None): each is
    /// a request not served, so availability and outages count it as failed.
    fn fold_unsent(&mut self, until: Option<Time>) {
        while let Some(&(due, count)) = self.unsent.front() {
            if until.is_some_and(|u| due > u) {
                break;
            }
            self.unsent.pop_front();
            let t = self.rel(due);
            self.requests.total += count;
            self.requests.failed += count;
            self.requests.unsent += count;
            let w = self.window_of(due);
            w.sent += count;
            w.failed += count;
            self.live.unsent(t, count);
            if let Some(outage::Change::Started(start)) = self.outages.record_failed(t, count) {
                self.event(Event::OutageStarted { t: start });
            }
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

    /// The service's clients record histories, not requests: count each
    /// operation as a request (served when it ends `ok` or `fail`, not when
    /// it ends `info` or its client crashes first), for availability,
    /// outages and latency.
    pub fn requests_from_history(&mut self) {
        self.history_requests = Some(history::AsRequests::default());
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
        if n.state == NodeState::Down && state == NodeState::Up {
            self.ups.push((t, node, None));
        }
        if state == NodeState::Down {
            if let Some((_, s)) = self.section.as_mut() {
                s.node_down(node, t);
            }
            n.crashes += 1;
            self.live.set_recovering(node, false);
        }
        n.state = state;
        n.since = t;
        self.detector.node_state(usize::from(node.0), state == NodeState::Up, t);
        let e = Event::NodeState { t, node: n.name.clone(), state: state.as_str().into() };
        self.event(e);
        if state == NodeState::Down {
            let lost = self.history_requests.as_mut().map(|h| h.node_down(node)).unwrap_or_default();
            for request in lost {
                self.observe_one(node, at, request);
            }
        }
    }

    /// A crashed node serves again at `up`; its restart was issued at `issued`.
    pub fn node_restarted(&mut self, node: NodeId, issued: Time, up: Time) {
        self.node_state(node, NodeState::Up, up);
        let issued = self.rel(issued);
        if let Some(last) = self.ups.last_mut().filter(|u| u.1 == node) {
            last.2 = Some(issued);
        }
    }

    /// A fault was issued at `at` (for a crash: just before the kill); the
    /// schedule wanted it at `scheduled` (run-relative seconds, None when
    /// injected by hand).
    pub fn fault_started(
        &mut self,
        fault: usize,
        kind: &str,
        target: &str,
        scheduled: Option<f64>,
        at: Time,
    ) -> usize {
        let t = self.rel(at);
        self.faults.push(FaultRecord {
            fault,
            kind: kind.into(),
            target: target.into(),
            at_seconds: Some(t),
            scheduled_seconds: scheduled,
            ..FaultRecord::default()
        });
        self.live.injected(kind);
        self.event(Event::FaultStarted { t, fault, kind: kind.into(), target: target.into() });
        self.faults.len() - 1
    }

    /// The executed fault `record` (from `fault_started`) covers `nodes`.
    pub fn fault_nodes(&mut self, record: usize, nodes: Vec<NodeId>) {
        self.fault_nodes.insert(record, nodes);
    }

    /// The fault's start took effect at `at`, as the engine or agent reported it.
    pub fn fault_effective(&mut self, record: usize, at: Time) {
        let t = self.rel(at);
        if let Some(r) = self.faults.get_mut(record) {
            r.effective_seconds.get_or_insert(t);
        }
    }

    /// The backend could not execute the fault: it is marked failed and the run is invalid.
    pub fn fault_failed(&mut self, record: usize, at: Time, error: String) {
        let Some(r) = self.faults.get_mut(record) else { return };
        r.failed = Some(error.clone());
        let reason = format!("{} {} could not be executed: {error}", r.kind, r.target);
        self.run_failure(at, None, reason);
    }

    /// The executed fault `record` (from `fault_started`) ended at `at`
    /// (issued); the schedule wanted it at `scheduled`.
    pub fn fault_ended(&mut self, record: usize, scheduled: Option<f64>, at: Time) {
        let t = self.rel(at);
        let Some(r) = self.faults.get_mut(record) else { return };
        r.until_seconds = Some(t);
        r.end_scheduled_seconds = scheduled;
        if r.kind == "crash" {
            r.repair_requested_seconds = scheduled.zip(r.scheduled_seconds).map(|(e, s)| e - s);
        }
        let e = Event::FaultEnded { t, fault: r.fault, kind: r.kind.clone(), target: r.target.clone() };
        self.event(e);
    }

    /// The fault's end took effect at `at` (a crashed node serves again):
    /// for a crash, the repair achieved runs from the kill to this instant.
    pub fn fault_end_effective(&mut self, record: usize, at: Time) {
        let t = self.rel(at);
        let Some(r) = self.faults.get_mut(record) else { return };
        r.end_effective_seconds = Some(t);
        if r.kind == "crash" {
            r.repair_achieved_seconds = r.at_seconds.map(|a| t - a);
        }
    }

    /// Mean time from a crashed node's restart being issued to it serving
    /// again, over the run's fail-resume crashes (None when there were none).
    pub fn mean_restart_seconds(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .faults
            .iter()
            .filter(|f| f.kind == "crash")
            .filter_map(|f| Some(f.end_effective_seconds? - f.until_seconds?))
            .filter(|d| *d >= 0.0)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// A planned fault was skipped (it would start after the run's end).
    pub fn fault_skipped(&mut self, fault: usize, kind: &str, target: &str) {
        self.skipped.push(FaultRecord {
            fault,
            kind: kind.into(),
            target: target.into(),
            ..FaultRecord::default()
        });
        self.event(Event::FaultSkipped { fault, kind: kind.into(), target: target.into() });
    }

    /// How long `node` has been down or paused up to `end` (run-relative seconds).
    pub fn down_seconds(&self, node: NodeId, end: f64) -> f64 {
        self.nodes.get(usize::from(node.0)).map_or(0.0, |n| {
            n.down_seconds + if n.state != NodeState::Up { (end - n.since).max(0.0) } else { 0.0 }
        })
    }

    /// Counts so far, for progress lines.
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// Whether the service is in an outage now (as far as folded).
    pub fn in_outage(&self) -> bool {
        self.outages.open().is_some()
    }

    /// Whether `at` falls within the run: from its start to its planned
    /// end, moved on by the time the schedule was held paused.
    fn within_run(&self, at: Time) -> bool {
        at >= self.t0 && at.since(self.t0) < self.duration + self.paused
    }

    /// The schedule has been held paused for `paused` in all (so far).
    pub fn set_paused(&mut self, paused: Duration) {
        self.paused = paused;
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
        self.history.check();
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
        let incidents: Vec<Incident> = outages.iter().map(|o| self.incident(o)).collect();
        let failures_excluding_host_stalls = incidents.iter().filter(|i| !i.host_stall).count() as u64;
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
            planned_seconds: self.duration.as_secs_f64(),
            paused_seconds: self.paused.as_secs_f64(),
            interrupted,
            not_judged: None,
            control: None,
            valid: self.run_failures.is_empty(),
            run_failures: self.run_failures.clone(),
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
            availability_model_with_restart: None,
            failures_excluding_host_stalls,
            host_stalls: self
                .stalls
                .iter()
                .map(|(s, e, src)| HostStall { start: *s, end: *e, seconds: e - s, source: src.clone() })
                .collect(),
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
            linearizability: self.history.verdict().cloned(),
            sections: self.sections(end),
            repeat: None,
            expect: Vec::new(),
        }
    }

    /// The workloads' sections of report.json at run-relative `end`.
    fn sections(&self, end: f64) -> section::Sections {
        let mut sections = section::Sections::none();
        if let Some((key, s)) = &self.section {
            let faults = self.fault_spans();
            sections.set(key, s.report(SoFar { now: end, faults: &faults }));
        }
        sections
    }

    /// One outage with its cause and its recovery breakdown.
    fn incident(&self, o: &outage::Outage) -> Incident {
        // The cause: the most recent fault active at the outage's start. A
        // request sent just before a crash fails because of it, so a fault
        // issued up to CAUSE_GRACE after the start counts; one that ended
        // more than the effect window before it does not.
        let cause = self
            .faults
            .iter()
            .filter(|f| f.failed.is_none())
            .filter(|f| f.at_seconds.is_some_and(|a| a <= o.start + CAUSE_GRACE))
            .filter(|f| f.until_seconds.is_none_or(|u| o.start <= u + self.effect_window))
            .max_by(|a, b| a.at_seconds.partial_cmp(&b.at_seconds).unwrap_or(std::cmp::Ordering::Equal));
        let host_stall = self.stalls.iter().any(|(s, e, _)| *s <= o.end && o.start <= e + self.effect_window);
        let split = self.failovers.breakdown(o.start, o.end);
        let mut incident = Incident {
            start: o.start,
            end: o.end,
            seconds: o.end - o.start,
            detection: split.detection,
            failover: split.failover,
            restore: None,
            catch_up: split.catch_up,
            down: None,
            restart: None,
            recovered_node: None,
            fault: cause.map(|f| f.fault),
            fault_to_outage: cause.and_then(|f| f.at_seconds).map(|a| (o.start - a).max(0.0)),
            cause: match (cause, host_stall) {
                (Some(_), _) => "fault",
                (None, true) => "host_stall",
                (None, false) => "none",
            }
            .to_string(),
            host_stall,
            failed_requests: o.failed,
        };
        if split.detection.is_none() {
            // A restart ended it: the first node back up during the outage
            // (down until its restart was issued, then restarting), then
            // that node's own state transfer, then the first correct reply.
            let up = self.ups.iter().find(|(t, _, _)| *t >= o.start && *t <= o.end);
            if let Some(&(up_at, node, issued)) = up {
                let issued = issued.unwrap_or(up_at).clamp(o.start, up_at);
                let restored = self
                    .recoveries
                    .iter()
                    .find(|(t, n, _)| *n == node && *t >= up_at)
                    .map(|(t, _, _)| t.min(o.end).max(up_at));
                let ready = restored.unwrap_or(up_at);
                incident.down = Some(issued - o.start);
                incident.restart = Some(up_at - issued);
                incident.restore = restored.map(|r| r - up_at);
                incident.catch_up = Some((o.end - ready).max(0.0));
                incident.recovered_node = Some(self.name(node));
            }
        }
        incident
    }

    /// The first error writing events.jsonl (or history.jsonl), if any.
    pub fn take_event_error(&mut self) -> Option<std::io::Error> {
        self.events.take_error().or_else(|| self.history.take_error())
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
    fn unsent_requests_are_failed_requests_folded_in_time_order() {
        let topo = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(4), EventLog::discard());
        request(&mut r, 1, 100, Outcome::Ok);
        // Reported before request 2 (sent earlier) is decided: still folded after it.
        r.observe(
            NodeId(4),
            Time::from_millis(250),
            Observation::Unsent { count: 5, at: Time::from_millis(250) },
        );
        request(&mut r, 2, 200, Outcome::Ok);
        request(&mut r, 3, 300, Outcome::Ok);
        // After the run's end: not counted.
        r.observe(
            NodeId(4),
            Time::from_millis(5000),
            Observation::Unsent { count: 9, at: Time::from_millis(5000) },
        );
        let report = r.finish(4.0, false);
        assert_eq!(report.requests, Requests { total: 8, ok: 3, failed: 5, wrong: 0, unsent: 5 });
        assert_eq!(report.availability, Some(3.0 / 8.0));
        assert_eq!(report.failures, 1);
        let i = &report.recovery_seconds.incidents[0];
        assert_eq!((i.start, i.end), (0.25, 0.3));
    }

    #[test]
    fn requests_fold_in_send_order_into_one_outage_caused_by_the_fault_that_struck_during_it() {
        let topo = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(4), EventLog::discard());
        r.fault_started(0, "crash", "replica-1", Some(0.5), Time::from_millis(500));
        // The crash is recorded a hair after the first request it made fail was sent.
        r.fault_started(1, "crash", "replica-2", Some(1.0), Time::from_millis(1002));
        // Decided out of order: the failed ones time out after a later success arrives.
        request(&mut r, 1, 900, Outcome::Ok);
        request(&mut r, 4, 3000, Outcome::Ok);
        request(&mut r, 2, 1000, Outcome::Failed);
        request(&mut r, 3, 2000, Outcome::Wrong);
        let report = r.finish(4.0, false);
        assert_eq!(report.requests, Requests { total: 4, ok: 2, failed: 1, wrong: 1, unsent: 0 });
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

    fn tmr() -> Recorder {
        let topo = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        Recorder::new(topo, Time::ZERO, Duration::from_secs(30), EventLog::discard())
    }

    #[test]
    fn an_outage_is_blamed_only_on_a_fault_active_at_its_start() {
        let mut r = tmr();
        r.set_deadline(Duration::from_millis(50));
        let b = r.fault_started(0, "byzantine", "replica-3", Some(24.0), Time::from_millis(24_000));
        r.fault_ended(b, Some(28.0), Time::from_millis(28_000));
        // Late requests 0.9 s after the fault ended: not its doing.
        request(&mut r, 1, 28_000, Outcome::Ok);
        request(&mut r, 2, 28_900, Outcome::Failed);
        request(&mut r, 3, 28_950, Outcome::Ok);
        // Within the effect window after the end (0.05 + 0.25 s): still its effect.
        request(&mut r, 4, 28_010, Outcome::Ok);
        let report = r.finish(30.0, false);
        let i = &report.recovery_seconds.incidents[0];
        assert_eq!((i.fault, i.cause.as_str()), (None, "none"));
        assert_eq!(report.failures_excluding_host_stalls, 1);
    }

    #[test]
    fn an_outage_during_a_host_stall_with_no_fault_is_flagged_and_excluded() {
        let mut r = tmr();
        request(&mut r, 1, 1000, Outcome::Ok);
        r.host_stall(Time::from_millis(1990), Time::from_millis(2200), "orchestrator");
        // Shorter than the threshold: not a stall.
        r.host_stall(Time::from_millis(5000), Time::from_millis(5010), "client-1");
        request(&mut r, 2, 2100, Outcome::Failed);
        request(&mut r, 3, 2300, Outcome::Ok);
        let c = r.fault_started(0, "crash", "replica-1", Some(10.0), Time::from_millis(10_000));
        request(&mut r, 4, 10_001, Outcome::Failed);
        request(&mut r, 5, 10_500, Outcome::Ok);
        r.fault_ended(c, Some(12.0), Time::from_millis(12_000));
        let report = r.finish(30.0, false);
        assert_eq!(report.host_stalls.len(), 1);
        assert!((report.host_stalls[0].seconds - 0.21).abs() < 1e-9);
        let causes: Vec<&str> = report.recovery_seconds.incidents.iter().map(|i| i.cause.as_str()).collect();
        assert_eq!(causes, ["host_stall", "fault"]);
        assert_eq!((report.failures, report.failures_excluding_host_stalls), (2, 1));
    }

    #[test]
    fn a_restart_incident_splits_into_down_restart_restore_catch_up_that_add_up() {
        let mut r = tmr();
        let (a, c) = (NodeId(0), NodeId(2));
        let f1 = r.fault_started(0, "crash", "replica-1", Some(10.0), Time::from_millis(10_000));
        let f3 = r.fault_started(1, "crash", "replica-3", Some(10.0), Time::from_millis(10_000));
        r.node_state(a, NodeState::Down, Time::from_millis(10_000));
        r.node_state(c, NodeState::Down, Time::from_millis(10_001));
        request(&mut r, 1, 9_999, Outcome::Ok);
        request(&mut r, 2, 10_000, Outcome::Failed);
        // replica-1 restarts first and ends the outage; replica-3 recovers after it.
        r.fault_ended(f1, Some(14.0), Time::from_millis(14_000));
        r.node_restarted(a, Time::from_millis(14_000), Time::from_millis(14_030));
        r.fault_end_effective(f1, Time::from_millis(14_030));
        let rec = |restore_ms| Observation::RecoveryCompleted {
            seq: 1,
            restore: Duration::from_millis(restore_ms),
        };
        r.observe(a, Time::from_millis(14_032), rec(2));
        request(&mut r, 3, 14_040, Outcome::Ok);
        r.fault_ended(f3, Some(14.05), Time::from_millis(14_050));
        r.node_restarted(c, Time::from_millis(14_050), Time::from_millis(14_060));
        r.observe(c, Time::from_millis(14_069), rec(2));
        let report = r.finish(30.0, false);
        let i = &report.recovery_seconds.incidents[0];
        assert_eq!(i.recovered_node.as_deref(), Some("replica-1"), "the recovery that ended it");
        let parts = [i.down, i.restart, i.restore, i.catch_up].map(|p| p.unwrap_or(f64::NAN));
        for (got, want) in parts.iter().zip([4.0, 0.03, 0.002, 0.008]) {
            assert!((got - want).abs() < 1e-6, "{parts:?}");
        }
        assert!((parts.iter().sum::<f64>() - i.seconds).abs() < 1e-9, "the parts add up to the outage");
        let f = &report.faults[f1];
        assert!((f.repair_achieved_seconds.unwrap_or(0.0) - 4.03).abs() < 1e-9);
        assert_eq!(f.repair_requested_seconds, Some(4.0));
    }

    #[test]
    fn a_failed_fault_or_a_lost_agent_makes_the_run_invalid() {
        let mut r = tmr();
        assert!(r.is_valid());
        let f = r.fault_started(0, "pause", "replica-1", Some(1.0), Time::from_millis(1000));
        r.fault_failed(f, Time::from_millis(1001), "no such container".into());
        r.run_failure(Time::from_millis(5000), Some(NodeId(4)), "client-1 died at 5.0 s".into());
        let report = r.finish(30.0, false);
        assert!(!report.valid);
        assert_eq!(report.run_failures.len(), 2);
        assert_eq!(report.run_failures[1].node.as_deref(), Some("client-1"));
        assert!(report.faults[0].failed.is_some());
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
    fn every_number_of_the_report_can_be_named_in_expect() {
        // What the report carries besides its identity and the expectations themselves.
        let identity = [
            "experiment",
            "concept",
            "backend",
            "run_id",
            "interrupted",
            "not_judged",
            "expect",
            "intervals",
            "control",
        ];
        let mut r = tmr();
        request(&mut r, 1, 1000, Outcome::Ok);
        let report = serde_json::to_value(r.finish(30.0, false)).unwrap_or_default();
        let keys: Vec<&String> = report.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert!(keys.len() > 20);
        for k in keys {
            assert!(
                identity.contains(&k.as_str())
                    || crate::experiment::yaml::REPORT_ROOTS.contains(&k.as_str())
                    || crate::workload::report_keys().contains(&k.as_str()),
                "report.json's `{k}` cannot be named in expect: add it to REPORT_ROOTS"
            );
        }
    }

    #[test]
    fn workloads_without_voters_report_no_tmr_section() {
        let topo = Topology::from_roles(&[("server", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(1), EventLog::discard());
        assert!(r.finish(1.0, false).tmr.is_none());
    }
}
