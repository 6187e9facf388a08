//! The run's state and its loop. One `select!` loop owns everything and
//! never awaits the engine: backend actions go to the actuator and come
//! back as `Done`s, while the loop keeps folding observations, serving
//! snapshots, pinging agents and reading keys.

mod sim;

pub(crate) use sim::SimWorld;

use super::actuator::{Actuator, Done, Op, Target};
use super::control::{self, AgentLink, Inbound};
use super::steps::{Step, Steps};
use super::{before_now, live, monotonic_now, RunOptions, Stop};
use crate::backend::Backend;
use crate::experiment::{Action, Experiment, FaultKind, Occurrence};
use crate::recorder::events::Event;
use crate::recorder::snapshot::SnapshotContext;
use crate::recorder::{NodeState, Recorder, STALL_THRESHOLD};
use crate::report::Report;
use anyhow::{Context, Result};
use faults::{FaultId, MessageFault};
use node_agent::proto::{AgentConfig, Down, Peer, Up};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::Instant;
use tui::snapshot::RunState;
use workloads::seed::splitmix64;
use workloads::{NodeId, Time};

/// An agent that sends nothing for this long while it should be up has
/// gone silent (agents answer every ping, once a second).
const SILENCE: Duration = Duration::from_secs(3);

/// How often the loop checks its own lateness.
const STALL_PROBE: Duration = Duration::from_millis(20);

/// The run's identity: its seed, control token and id.
pub struct Identity {
    pub seed: u64,
    pub token: String,
    pub run_id: String,
}

/// Everything one run owns.
pub struct Running<'a> {
    exp: &'a Experiment,
    pub id: Identity,
    pub backend: Arc<Mutex<Backend>>,
    pub backend_name: &'static str,
    /// Whether the backend isolates nodes itself (else the interposer does).
    isolates: bool,
    actuator: Actuator,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Where each node's stable storage lives (`<root>/<node>`), as the agent sees it.
    state_root: PathBuf,
    pub links: BTreeMap<NodeId, AgentLink>,
    incarnation: Vec<u32>,
    /// Whether each node should be serving (not crashed by a fault, not dead).
    up: Vec<bool>,
    /// Frozen by a fault (its silence is expected).
    paused: Vec<bool>,
    /// A restart was issued and has not come back yet.
    starting: Vec<bool>,
    /// When each node's agent was last heard from.
    heard: Vec<Instant>,
    /// Nodes already reported dead or silent.
    lost: Vec<bool>,
    endpoints: Vec<(SocketAddr, SocketAddr)>,
    peers: Vec<Peer>,
    /// Message faults installed per node, so a restarted node gets them again.
    rules: BTreeMap<NodeId, Vec<(FaultId, MessageFault)>>,
    /// Per occurrence: the installed rule ids, the fault record.
    installed: BTreeMap<usize, Vec<(NodeId, FaultId)>>,
    records: BTreeMap<usize, usize>,
    next_fault_id: u64,
    inbound: mpsc::UnboundedSender<Inbound>,
    pub recorder: Recorder,
    window: usize,
    /// Every fault occurrence of the run (scheduled or injected by hand), its target as shown.
    occurrences: Vec<Occurrence>,
    targets: Vec<String>,
    steps: Steps,
    /// Occurrences begun and not yet ended.
    active: BTreeSet<usize>,
    /// Faults injected by hand so far.
    manual: usize,
    /// The targets of faults injected by hand, as written, by fault index.
    manual_targets: BTreeMap<usize, String>,
    /// Crash records whose kill the engine has yet to confirm (docker's die event).
    dying: BTreeMap<NodeId, Vec<usize>>,
    /// Node state changes as the engine reports them (docker).
    engine_events: Option<mpsc::UnboundedReceiver<crate::backend::docker::NodeEvent>>,
    /// The end of the loop's last stall (silence is not judged right after one).
    last_stall: Instant,
    /// When each node was last resumed from a pause fault.
    resumed: Vec<Option<Time>>,
    /// Docker: crashed nodes whose death is still to be seen, by the
    /// incarnation killed. The node is down when that incarnation's control
    /// connection closes (its process died), or at the engine's die event.
    falling: BTreeMap<NodeId, u32>,
    /// The exporter's listener, bound before deploy; taken when the run starts.
    pub metrics: Option<tokio::net::TcpListener>,
    /// The rules each node's latest configuration carried.
    configured_rules: BTreeMap<NodeId, Vec<FaultId>>,
    /// The sim backend's nodes (None on the other backends). Behind a
    /// mutex only so that the run stays `Sync`; the loop owns it alone.
    pub sim: Option<std::sync::Mutex<SimWorld>>,
}

/// A batch of backend actions gathered from the steps due at one instant.
#[derive(Default)]
struct Batch {
    ops: Vec<(Op, Target)>,
}

impl Batch {
    fn push(&mut self, op: Op, node: NodeId, record: Option<usize>, config: Option<AgentConfig>) {
        let records: Vec<usize> = record.into_iter().collect();
        if let Some((_, t)) = self.ops.iter_mut().find(|(o, t)| *o == op && t.node == node) {
            t.records.extend(records);
            return;
        }
        self.ops.push((op, Target { node, records, config }));
    }
}

impl<'a> Running<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        exp: &'a Experiment,
        id: Identity,
        mut backend: Backend,
        state_root: PathBuf,
        endpoints: Vec<(SocketAddr, SocketAddr)>,
        peers: Vec<Peer>,
        inbound: mpsc::UnboundedSender<Inbound>,
        recorder: Recorder,
        window: usize,
    ) -> Running<'a> {
        let n = exp.topology.nodes.len();
        let engine_events = backend.events();
        let backend_name = backend.name();
        let isolates = backend.isolates();
        let backend = Arc::new(Mutex::new(backend));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let actuator = Actuator::new(
            backend.clone(),
            done_tx,
            inbound.clone(),
            id.token.clone(),
            Duration::from_secs(20),
        );
        let mut recorder = recorder;
        recorder.set_deadline(exp.workload.plugin().deadline());
        Running {
            exp,
            id,
            backend,
            backend_name,
            isolates,
            actuator,
            done_rx,
            state_root,
            links: BTreeMap::new(),
            incarnation: vec![0; n],
            up: vec![true; n],
            paused: vec![false; n],
            starting: vec![false; n],
            heard: vec![Instant::now(); n],
            lost: vec![false; n],
            endpoints,
            peers,
            rules: BTreeMap::new(),
            installed: BTreeMap::new(),
            records: BTreeMap::new(),
            next_fault_id: 1,
            inbound,
            recorder,
            window,
            occurrences: Vec::new(),
            targets: Vec::new(),
            steps: Steps::default(),
            active: BTreeSet::new(),
            manual: 0,
            manual_targets: BTreeMap::new(),
            dying: BTreeMap::new(),
            engine_events,
            last_stall: Instant::now(),
            configured_rules: BTreeMap::new(),
            metrics: None,
            falling: BTreeMap::new(),
            resumed: vec![None; n],
            sim: None,
        }
    }

    /// Now: the virtual clock on the sim backend, the host's monotonic clock otherwise.
    fn clock(&self) -> Time {
        match &self.sim {
            Some(w) => w.lock().unwrap_or_else(|e| e.into_inner()).sim.now(),
            None => monotonic_now(),
        }
    }

    /// The simulated nodes, on the sim backend.
    fn world(&mut self) -> Option<&mut SimWorld> {
        sim::world(&mut self.sim)
    }

    /// What the workload is told about this run.
    pub fn view(&self) -> crate::workload::RunView<'_> {
        crate::workload::RunView { topology: &self.exp.topology, seed: self.id.seed, window: self.window }
    }

    fn agent_config(&self, node: NodeId) -> Result<AgentConfig> {
        let spec = self.exp.topology.by_id(node).context("node outside the topology")?;
        let idx = usize::from(node.0);
        let incarnation = self.incarnation[idx];
        let workload = self.exp.workload.plugin().agent_config(&self.view(), spec);
        Ok(AgentConfig {
            run_id: self.id.run_id.clone(),
            node,
            name: spec.name.clone(),
            listen: self.endpoints[idx].1,
            peers: self.peers.iter().filter(|p| p.id != node).cloned().collect(),
            workload,
            seed: splitmix64(self.id.seed ^ splitmix64(u64::from(node.0) << 32 | u64::from(incarnation))),
            incarnation,
            faults: self.rules.get(&node).cloned().unwrap_or_default(),
            flush_interval: Duration::from_millis(20),
            state_dir: Some(self.state_root.join(&spec.name)),
        })
    }

    async fn connect(&self, node: NodeId) -> Result<AgentLink> {
        let cfg = self.agent_config(node)?;
        let control = self.endpoints[usize::from(node.0)].0;
        Ok(control::connect(control, &self.id.token, cfg, Duration::from_secs(20), self.inbound.clone())
            .await?)
    }

    pub async fn drive(
        &mut self,
        duration: Duration,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
        opts: &RunOptions,
        stop: &mut Stop,
    ) -> Result<(Report, live::Live)> {
        // Connect to every agent in parallel, then start them together.
        let nodes: Vec<NodeId> = self.exp.topology.nodes.iter().map(|n| n.id).collect();
        let links = tokio::select! {
            links = futures::future::join_all(nodes.iter().map(|&n| self.connect(n))) => links,
            _ = stop.recv() => anyhow::bail!("interrupted while connecting to the agents"),
        };
        for (n, link) in nodes.iter().zip(links) {
            self.links.insert(*n, link?);
        }
        let t0 = monotonic_now();
        // The run's wall clock starts with the recorder's: report times and
        // the schedule's instants share one origin.
        let start = Instant::now();
        self.recorder.set_start(t0);
        for link in self.links.values() {
            link.send(Down::Start);
        }
        self.heard = vec![Instant::now(); nodes.len()];
        let (snap_tx, mut live) = self.opening(duration, opts).await?;
        let mut commands = live.commands.take();
        // Two clocks. Report times are wall-clock (`start.elapsed()`):
        // traffic and outages go on while the schedule is paused. The
        // schedule's time is the wall clock minus the time it was held
        // paused (`held`); a step due at schedule time s runs at wall time
        // s + held, and the run ends at duration + held.
        let mut held = Duration::ZERO;
        let mut paused_at: Option<Instant> = None;
        let run_time = |held: Duration, paused_at: Option<Instant>| -> Duration {
            let now = paused_at.unwrap_or_else(Instant::now);
            now.saturating_duration_since(start).saturating_sub(held)
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut interrupted = false;
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        // events.jsonl gets each 100 ms window soon after it is final, even when nothing arrives.
        let mut flush = tokio::time::interval(Duration::from_millis(50));
        let mut probe = tokio::time::interval(STALL_PROBE);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Duration::from_secs(365 * 24 * 3600);
        loop {
            let (next_step, end_at) = match paused_at {
                Some(_) => (start + far, start + far),
                None => (start + held + self.steps.next_due().unwrap_or(far), start + held + duration),
            };
            tokio::select! {
                biased;
                _ = stop.recv() => { interrupted = true; break; }
                _ = tokio::time::sleep_until(end_at) => break,
                at = probe.tick() => {
                    let late = at.elapsed();
                    if late.as_secs_f64() >= STALL_THRESHOLD {
                        self.recorder.host_stall(before_now(late), monotonic_now(), "orchestrator");
                        self.last_stall = Instant::now();
                    }
                }
                _ = tokio::time::sleep_until(next_step) => {
                    let now = run_time(held, paused_at);
                    let due = self.steps.due(now);
                    self.run_steps(&due, held, opts);
                }
                Some(done) = self.done_rx.recv() => self.action_done(done, &opts.progress),
                Some(msg) = rx.recv() => self.inbound(msg, opts),
                Some(ev) = engine_event(&mut self.engine_events) => self.engine_event(ev),
                Some(cmd) = live::next(&mut commands) => match cmd {
                    tui::Command::Quit => { interrupted = true; break; }
                    tui::Command::TogglePause => match paused_at.take() {
                        Some(p) => {
                            held += p.elapsed();
                            self.recorder.set_paused(held);
                            self.note(&format!("schedule resumed after {:.1} s", p.elapsed().as_secs_f64()));
                        }
                        None => {
                            paused_at = Some(Instant::now());
                            self.note("schedule paused");
                        }
                    },
                    tui::Command::HealAll => self.heal_all(),
                    tui::Command::Inject(spec) => {
                        let now = run_time(held, paused_at);
                        self.inject(&spec, now, opts);
                    }
                },
                _ = flush.tick() => self.recorder.tick(monotonic_now()),
                _ = ping.tick() => {
                    for link in self.links.values() { link.send(Down::Ping); }
                    self.check_silence(opts);
                }
                _ = tick.tick() => {
                    opts.progress.tick(run_time(held, paused_at), duration, &self.recorder);
                    // While paused, the end on the wall-clock axis recedes.
                    let holding = held + paused_at.map(|p| p.elapsed()).unwrap_or_default();
                    self.recorder.set_paused(holding);
                    let state = if paused_at.is_some() { RunState::Paused } else { RunState::Running };
                    let _ = snap_tx.send(Arc::new(self.snapshot_now(state, start.elapsed())));
                }
            }
        }
        // Requests sent just before the end are decided within the deadline:
        // wait for them before stopping the agents (and take in what the
        // backend still reports).
        if !interrupted {
            let drain = Instant::now() + self.exp.workload.plugin().deadline() + Duration::from_millis(300);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(drain) => break,
                    Some(done) = self.done_rx.recv() => self.action_done(done, &opts.progress),
                    Some(msg) = rx.recv() => self.inbound(msg, opts),
                }
            }
        }
        opts.progress.done();
        // The end on the wall-clock axis: the planned length plus the time
        // the schedule was held (a pause still running when quit counts).
        if let Some(p) = paused_at.take() {
            held += p.elapsed();
        }
        let end_rel = if interrupted { start.elapsed().min(duration + held) } else { duration + held };
        Ok(self.closing(held, end_rel, interrupted, snap_tx, live))
    }

    /// The run has started: say so, plan the schedule, open the dashboard and the exporter.
    async fn opening(
        &mut self,
        duration: Duration,
        opts: &RunOptions,
    ) -> Result<(watch::Sender<Arc<tui::Snapshot>>, live::Live)> {
        self.recorder.event(Event::RunStarted {
            t: 0.0,
            experiment: self.exp.name.clone(),
            backend: self.backend_name.to_string(),
            seed: self.id.seed,
            duration_seconds: duration.as_secs_f64(),
        });
        if !opts.sandbox {
            self.plan(duration, opts);
        }
        live::start(opts, self.metrics.take(), self.snapshot_now(RunState::Starting, Duration::ZERO)).await
    }

    /// The run has ended at `end_rel` (the schedule held `held` of it): judge
    /// the clients' rate, finish the report, show the final snapshot.
    fn closing(
        &mut self,
        held: Duration,
        end_rel: Duration,
        interrupted: bool,
        snap_tx: watch::Sender<Arc<tui::Snapshot>>,
        mut live: live::Live,
    ) -> (Report, live::Live) {
        self.recorder.set_paused(held);
        self.check_client_rate(end_rel);
        let report = self.recorder.finish(end_rel.as_secs_f64(), interrupted);
        let state = if interrupted { RunState::Interrupted } else { RunState::Finished };
        let _ = snap_tx.send(Arc::new(self.snapshot_now(state, end_rel)));
        live.keep(snap_tx);
        (report, live)
    }

    fn note(&mut self, text: &str) {
        let t = self.recorder.rel(self.clock());
        self.recorder.event(Event::Note { t, node: None, text: text.into() });
    }

    /// Expand the file's schedule into steps.
    fn plan(&mut self, duration: Duration, opts: &RunOptions) {
        let (occurrences, skipped) = self.exp.occurrences(self.id.seed, duration);
        for plan in &skipped {
            self.recorder.fault_skipped(plan.index, plan.kind.as_str(), &plan.target);
            opts.progress.line(&format!(
                "skipped: {} {} (line {}) would start after the run's end",
                plan.kind.as_str(),
                plan.target,
                plan.line
            ));
        }
        let mut planned = Vec::new();
        for occ in occurrences {
            let target = self.target(&occ);
            planned.push(tui::snapshot::FaultView {
                kind: occ.kind.as_str().into(),
                target: target.clone(),
                start: occ.start.as_secs_f64(),
                end: occ.end.map(|e| e.as_secs_f64()),
                executed: false,
                manual: false,
            });
            self.add_occurrence(occ, target, duration);
        }
        self.recorder.set_planned(planned);
    }

    fn add_occurrence(&mut self, occ: Occurrence, target: String, horizon: Duration) -> usize {
        let i = self.occurrences.len();
        self.steps.add(i, occ.start, occ.end, horizon);
        self.occurrences.push(occ);
        self.targets.push(target);
        i
    }

    /// Execute the steps due now as one batch: backend actions of the same
    /// kind go to the engine together.
    /// `held` is how long the schedule was paused so far: a step due at
    /// schedule time `at` was scheduled for wall time `at + held`.
    fn run_steps(&mut self, due: &[Step], held: Duration, opts: &RunOptions) {
        let mut batch = Batch::default();
        // One instant for the whole batch: they are issued together.
        let now = self.clock();
        for step in due {
            if step.begin {
                self.begin(step.occurrence, Some(step.at + held), now, &mut batch, opts);
            } else {
                self.finish(step.occurrence, Some(step.at + held), now, &mut batch);
            }
        }
        self.dispatch(batch);
    }

    fn dispatch(&mut self, batch: Batch) {
        if self.sim.is_some() {
            return self.execute_sim(batch);
        }
        let mut by_op: BTreeMap<Op, Vec<Target>> = BTreeMap::new();
        // Kills before starts, as the steps asked (a `restart` is both).
        for (op, target) in batch.ops {
            by_op.entry(op).or_default().push(target);
        }
        for (op, targets) in by_op {
            self.actuator.issue(op, targets);
        }
    }

    /// A fault asked for by hand: validated like a file's, executed now, in the report.
    fn inject(&mut self, spec: &faults::spec::FaultSpec, now: Duration, opts: &RunOptions) {
        let index = self.exp.faults.len() + self.manual;
        self.manual += 1;
        // The target as written (`replica-3`, `[replica-1] | [replica-2, voter-1]`).
        if let Ok(plan) = self.exp.live_plan(spec, now, index) {
            self.manual_targets.insert(index, plan.target);
        }
        let occs = match self.exp.live_occurrences(spec, now, index) {
            Ok(o) => o,
            Err(e) => {
                opts.progress.line(&format!("fault refused: {e}"));
                self.note(&format!("fault refused: {e}"));
                return;
            }
        };
        let mut batch = Batch::default();
        for mut occ in occs {
            let first = occ.start <= now;
            occ.start = occ.start.max(now);
            let target = self.target(&occ);
            let i = self.add_occurrence(occ, target, Duration::MAX);
            if first {
                // Run the begin step at once rather than on the next turn of the loop.
                if self.steps.take_begin(i).is_some() {
                    self.begin(i, None, self.clock(), &mut batch, opts);
                    if let Some(r) = self.records.get(&i).copied() {
                        self.recorder.mark_manual(r);
                    }
                }
            }
        }
        self.dispatch(batch);
    }

    /// End every active fault now: crashed nodes restart, paused ones resume, rules go.
    fn heal_all(&mut self) {
        let mut batch = Batch::default();
        let active: Vec<usize> = self.active.iter().copied().collect();
        for i in active {
            self.steps.cancel(i);
            self.finish(i, None, self.clock(), &mut batch);
        }
        // Nodes down for good (a permanent crash) come back too.
        for idx in 0..self.up.len() {
            let n = NodeId(idx as u16);
            if !self.up[idx] && !batch.ops.iter().any(|(op, t)| *op == Op::Start && t.node == n) {
                self.restart_into(n, None, &mut batch);
            }
        }
        self.dispatch(batch);
    }

    fn snapshot_now(&self, run_state: RunState, elapsed: Duration) -> tui::Snapshot {
        let mut node_faults = vec![Vec::new(); self.up.len()];
        for &i in &self.active {
            let occ = &self.occurrences[i];
            for n in occurrence_nodes(occ) {
                if let Some(v) = node_faults.get_mut(usize::from(n.0)) {
                    v.push(occ.kind.as_str().to_string());
                }
            }
        }
        self.recorder.snapshot(&SnapshotContext {
            experiment: self.exp.name.clone(),
            run_id: self.id.run_id.clone(),
            concept: self.exp.concept.clone(),
            backend: self.backend_name.to_string(),
            seed: self.id.seed,
            run_state,
            elapsed_seconds: elapsed.as_secs_f64(),
            node_faults,
        })
    }

    /// A state change the engine reported, at the engine's time (wall
    /// clock, turned into the monotonic clock by the current offset). The
    /// runner's own instants drive node states; the engine's `die` tells
    /// when a kill took effect.
    fn engine_event(&mut self, (node, state, at): crate::backend::docker::NodeEvent) {
        let ago = std::time::SystemTime::now().duration_since(at).unwrap_or_default();
        let at = before_now(ago);
        if state == crate::backend::NodeState::Down {
            for r in self.dying.remove(&node).unwrap_or_default() {
                self.recorder.fault_effective(r, at);
            }
            if self.falling.remove(&node).is_some() {
                self.recorder.node_state(node, NodeState::Down, at);
            }
        }
    }

    /// A backend action came back.
    fn action_done(&mut self, done: Done, progress: &super::Progress) {
        let idx = usize::from(done.node.0);
        let name = self.name(done.node);
        if done.op == Op::Start {
            // A later restart (or a crash) of the same node supersedes this one.
            if self.incarnation.get(idx) != Some(&done.incarnation) {
                return;
            }
            self.starting[idx] = false;
        }
        if let Err(e) = &done.result {
            progress.line(&format!("{name}: {e}"));
            let reason = format!("{name}: {e}");
            if done.records.is_empty() {
                self.recorder.run_failure(done.effective, Some(done.node), reason);
            }
            for &r in &done.records {
                self.recorder.fault_failed(r, done.effective, e.clone());
            }
            return;
        }
        match done.op {
            Op::Crash => {
                // A killed process stops at once; a container's process stops
                // when the engine gets to it (see `falling`).
                if self.engine_events.is_none() {
                    self.recorder.node_state(done.node, NodeState::Down, done.issued);
                    for &r in &done.records {
                        self.recorder.fault_effective(r, done.effective);
                    }
                }
            }
            Op::Start => {
                match done.result {
                    Ok(Some(link)) => {
                        if self.falling.remove(&done.node).is_some() {
                            // Its death was never seen: down at the latest when the restart began.
                            self.recorder.node_state(done.node, NodeState::Down, done.issued);
                        }
                        self.sync_rules(done.node, &link);
                        link.send(Down::Start);
                        self.links.insert(done.node, link);
                    }
                    // A simulated node has no link: it runs again already.
                    Ok(None) if self.sim.is_some() => {}
                    _ => return,
                }
                self.up[idx] = true;
                self.heard[idx] = Instant::now();
                self.recorder.node_restarted(done.node, done.issued, done.effective);
                for &r in &done.records {
                    self.recorder.fault_end_effective(r, done.effective);
                }
            }
            Op::Pause => {
                self.recorder.node_state(done.node, NodeState::Paused, done.issued);
                for &r in &done.records {
                    self.recorder.fault_effective(r, done.effective);
                }
            }
            Op::Resume => {
                self.heard[idx] = Instant::now();
                self.resumed[idx] = Some(done.effective);
                if self.up[idx] {
                    self.recorder.node_state(done.node, NodeState::Up, done.issued);
                }
                for &r in &done.records {
                    self.recorder.fault_end_effective(r, done.effective);
                }
            }
            Op::Isolate => {
                for &r in &done.records {
                    self.recorder.fault_effective(r, done.effective);
                }
            }
            Op::Reconnect => {
                for &r in &done.records {
                    self.recorder.fault_end_effective(r, done.effective);
                }
            }
        }
    }

    /// A restarted agent was configured with the rules active when its
    /// restart was issued: bring it up to date with the rules now.
    fn sync_rules(&self, node: NodeId, link: &AgentLink) {
        let now: Vec<FaultId> =
            self.rules.get(&node).map(|r| r.iter().map(|(id, _)| *id).collect()).unwrap_or_default();
        let configured = self.configured_rules.get(&node).cloned().unwrap_or_default();
        for (id, fault) in self.rules.get(&node).into_iter().flatten() {
            if !configured.contains(id) {
                link.send(Down::Install { id: *id, fault: fault.clone() });
            }
        }
        for id in configured {
            if !now.contains(&id) {
                link.send(Down::Remove { id });
            }
        }
    }

    fn inbound(&mut self, msg: Inbound, opts: &RunOptions) {
        let idx = usize::from(msg.node.0);
        if self.incarnation.get(idx) == Some(&msg.incarnation) {
            if let Some(h) = self.heard.get_mut(idx) {
                *h = Instant::now();
            }
        }
        match msg.up {
            Some(Up::Observations(batch)) => {
                for (at, obs) in batch {
                    self.recorder.observe(msg.node, at, obs);
                }
            }
            Some(Up::Stats(st)) => {
                if let Some((at, late)) = st.worst_lag {
                    let start = Time::from_nanos(
                        at.as_nanos().saturating_sub(u64::try_from(late.as_nanos()).unwrap_or(0)),
                    );
                    // A node frozen by a pause fault is late because of the fault.
                    let frozen = self.paused.get(idx) == Some(&true)
                        || self.resumed.get(idx).copied().flatten().is_some_and(|r| start <= r);
                    if !frozen {
                        let name = self.name(msg.node);
                        self.recorder.host_stall(start, at, &name);
                    }
                }
                let dropped = st.dropped_send + st.dropped_receive + st.dropped_unreachable;
                self.recorder.node_traffic(msg.node, st.messages_sent, st.messages_received, dropped);
            }
            Some(Up::Error(text)) => {
                let name = self.name(msg.node);
                opts.progress.line(&format!("{name}: {text}"));
                self.recorder.event(Event::Note {
                    t: self.recorder.rel(monotonic_now()),
                    node: Some(name),
                    text,
                });
            }
            Some(_) => {}
            None if self.falling.get(&msg.node) == Some(&msg.incarnation) => {
                // The crashed container's agent is gone: its sockets closed.
                self.falling.remove(&msg.node);
                self.recorder.node_state(msg.node, NodeState::Down, monotonic_now());
            }
            None => {
                // The current incarnation's connection closed without us
                // crashing it: the agent died on its own, and the run is
                // no longer the run the file describes.
                if self.incarnation.get(idx) == Some(&msg.incarnation) && self.up.get(idx) == Some(&true) {
                    self.up[idx] = false;
                    self.links.remove(&msg.node);
                    let now = monotonic_now();
                    let name = self.name(msg.node);
                    let t = self.recorder.rel(now);
                    opts.progress
                        .line(&format!("{name}: agent exited unexpectedly at {t:.1} s (see its log)"));
                    self.recorder.node_state(msg.node, NodeState::Down, now);
                    self.lose(msg.node, now, format!("{name} died at {t:.1} s outside any fault"));
                }
            }
        }
    }

    fn lose(&mut self, node: NodeId, at: Time, reason: String) {
        let idx = usize::from(node.0);
        if self.lost.get(idx) == Some(&false) {
            self.lost[idx] = true;
            self.recorder.run_failure(at, Some(node), reason);
        }
    }

    /// An agent that should be serving and has said nothing for SILENCE
    /// has gone silent (unless the loop itself just stalled).
    fn check_silence(&mut self, opts: &RunOptions) {
        if self.last_stall.elapsed() < SILENCE {
            return;
        }
        for idx in 0..self.up.len() {
            let node = NodeId(idx as u16);
            if !self.up[idx] || self.paused[idx] || !self.links.contains_key(&node) {
                continue;
            }
            let quiet = self.heard[idx].elapsed();
            if quiet >= SILENCE && !self.lost[idx] {
                let now = monotonic_now();
                let name = self.name(node);
                let t = self.recorder.rel(now);
                opts.progress.line(&format!("{name}: silent for {:.1} s", quiet.as_secs_f64()));
                self.lose(
                    node,
                    now,
                    format!("{name} went silent at {t:.1} s (nothing for {:.1} s)", quiet.as_secs_f64()),
                );
            }
        }
    }

    /// An open-loop client sends at its rate whatever happens: one that
    /// sent far fewer requests than its rate asks for stopped sending, and
    /// availability over what it did send would flatter the service.
    fn check_client_rate(&mut self, end: Duration) {
        let Some((rate, clients)) = self.exp.workload.plugin().open_loop_clients(&self.view()) else {
            return;
        };
        let up_seconds: f64 = clients
            .iter()
            .map(|&c| (end.as_secs_f64() - self.recorder.down_seconds(c, end.as_secs_f64())).max(0.0))
            .sum();
        let expected = rate * up_seconds;
        let sent = self.recorder.requests().total as f64;
        // A second's worth of slack: start-up, and requests in flight at the end.
        if expected >= 100.0 && sent + rate < 0.8 * expected {
            let reason = format!(
                "the clients sent {sent:.0} requests where their rate asks for about {expected:.0}: a client stopped sending"
            );
            self.recorder.run_failure(self.clock(), None, reason);
        }
    }

    fn name(&self, node: NodeId) -> String {
        self.exp.topology.by_id(node).map(|n| n.name.clone()).unwrap_or_else(|| node.to_string())
    }

    fn target(&self, occ: &Occurrence) -> String {
        let names: Vec<String> = occurrence_nodes(occ).iter().map(|n| self.name(*n)).collect();
        let written = self.exp.faults.get(occ.fault).map(|p| p.target.clone());
        let Some(written) = written.or_else(|| self.manual_targets.get(&occ.fault).cloned()) else {
            return names.join(", ");
        };
        if names.join(", ") == written || occ.kind == FaultKind::Partition {
            written
        } else {
            format!("{written} ({})", names.join(", "))
        }
    }

    fn install(&mut self, occurrence: usize, node: NodeId, fault: MessageFault) {
        let id = FaultId(self.next_fault_id);
        self.next_fault_id += 1;
        if let Some(link) = self.links.get(&node) {
            link.send(Down::Install { id, fault: fault.clone() });
        }
        if let Some(world) = self.world() {
            world.sim.install(node, id, fault.clone());
        }
        self.rules.entry(node).or_default().push((id, fault));
        self.installed.entry(occurrence).or_default().push((node, id));
    }

    /// Begin occurrence `i` (scheduled at `scheduled`, None by hand): the
    /// fault is recorded as issued now, its backend actions join `batch`.
    fn begin(
        &mut self,
        i: usize,
        scheduled: Option<Duration>,
        now: Time,
        batch: &mut Batch,
        opts: &RunOptions,
    ) {
        let occ = self.occurrences[i].clone();
        let target = self.targets.get(i).cloned().unwrap_or_else(|| self.target(&occ));
        self.active.insert(i);
        let record = self.recorder.fault_started(
            occ.fault,
            occ.kind.as_str(),
            &target,
            scheduled.map(|s| s.as_secs_f64()),
            now,
        );
        self.recorder.fault_nodes(record, occurrence_nodes(&occ));
        self.records.insert(i, record);
        opts.progress.line(&format!(
            "{:>7.2}s  {} {target}{}",
            self.recorder.rel(now),
            occ.kind.as_str(),
            match occ.end {
                Some(e) if e < self.exp.duration => format!(" for {:.1} s", (e - occ.start).as_secs_f64()),
                _ => " for the rest of the run".into(),
            }
        ));
        match &occ.action {
            Action::Crash(nodes) => {
                for &n in nodes {
                    self.crash_into(n, Some(record), batch);
                }
            }
            Action::Restart(nodes) => {
                for &n in nodes {
                    self.crash_into(n, Some(record), batch);
                    self.restart_into(n, Some(record), batch);
                }
                self.active.remove(&i);
                self.recorder.fault_ended(record, scheduled.map(|s| s.as_secs_f64()), now);
                self.end_crashes_restarted(now);
            }
            Action::Pause(nodes) => {
                for &n in nodes {
                    let idx = usize::from(n.0);
                    if self.up[idx] && !self.paused[idx] {
                        self.paused[idx] = true;
                        batch.push(Op::Pause, n, Some(record), None);
                    }
                }
            }
            Action::Isolate(nodes) => {
                for &n in nodes {
                    if self.isolates {
                        batch.push(Op::Isolate, n, Some(record), None);
                    } else {
                        let cut = self.exp.topology.nodes.iter().map(|p| p.id).filter(|p| *p != n).collect();
                        self.install(i, n, MessageFault::Partition { cut, one_way: false });
                    }
                }
                if !self.isolates {
                    // Interposer rules act once installed, as for message faults.
                    self.recorder.fault_effective(record, now);
                }
            }
            Action::Message(rules) => {
                for (n, fault) in rules {
                    self.install(i, *n, fault.clone());
                }
                self.recorder.fault_effective(record, now);
            }
        }
    }

    /// End occurrence `i` (due at `scheduled`, None by hand).
    fn finish(&mut self, i: usize, scheduled: Option<Duration>, now: Time, batch: &mut Batch) {
        if !self.active.remove(&i) {
            return;
        }
        let occ = self.occurrences[i].clone();
        let record = self.records.get(&i).copied();
        match &occ.action {
            Action::Crash(nodes) => {
                for &n in nodes {
                    self.restart_into(n, record, batch);
                }
            }
            Action::Restart(_) => return,
            Action::Pause(nodes) => {
                for &n in nodes {
                    let idx = usize::from(n.0);
                    if self.paused[idx] {
                        self.paused[idx] = false;
                        self.heard[idx] = Instant::now();
                        batch.push(Op::Resume, n, record, None);
                    }
                }
            }
            Action::Isolate(nodes) => {
                if self.isolates {
                    for &n in nodes {
                        batch.push(Op::Reconnect, n, record, None);
                    }
                }
            }
            Action::Message(_) => {}
        }
        for (node, id) in self.installed.remove(&i).unwrap_or_default() {
            if let Some(link) = self.links.get(&node) {
                link.send(Down::Remove { id });
            }
            if let Some(world) = self.world() {
                world.sim.remove(node, id);
            }
            if let Some(r) = self.rules.get_mut(&node) {
                r.retain(|(f, _)| *f != id);
            }
        }
        if let Some(r) = record {
            self.recorder.fault_ended(r, scheduled.map(|s| s.as_secs_f64()), now);
            if matches!(occ.action, Action::Message(_))
                || (matches!(occ.action, Action::Isolate(_)) && !self.isolates)
            {
                self.recorder.fault_end_effective(r, now);
            }
        }
    }

    /// A restart by hand (or a file's `restart`) brings back nodes that an
    /// active crash holds down: a crash whose every node is up or starting
    /// again has ended, now, and its planned end is dropped.
    fn end_crashes_restarted(&mut self, now: Time) {
        let ended: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&j| match &self.occurrences[j].action {
                Action::Crash(nodes) => nodes.iter().all(|n| {
                    let k = usize::from(n.0);
                    self.up[k] || self.starting[k]
                }),
                _ => false,
            })
            .collect();
        for j in ended {
            self.active.remove(&j);
            self.steps.cancel(j);
            if let Some(&r) = self.records.get(&j) {
                self.recorder.fault_ended(r, None, now);
            }
        }
    }

    /// Kill a node that is up (one already down stays down).
    fn crash_into(&mut self, n: NodeId, record: Option<usize>, batch: &mut Batch) {
        let idx = usize::from(n.0);
        if self.starting[idx] {
            // Crashed again before its restart came back: the restart's
            // result is stale, and the kill (issued after it) undoes it.
            self.starting[idx] = false;
            self.incarnation[idx] += 1;
        } else if !self.up[idx] {
            return;
        }
        if self.engine_events.is_some() && self.up[idx] {
            self.falling.insert(n, self.incarnation[idx]);
        }
        self.up[idx] = false;
        self.paused[idx] = false;
        self.links.remove(&n);
        if self.engine_events.is_some() {
            // The engine's die event (which may come before its answer to
            // the kill) says when the kill took effect.
            self.dying.entry(n).or_default().extend(record);
        }
        batch.push(Op::Crash, n, record, None);
    }

    /// Start a crashed node again as a new incarnation with the message
    /// faults active on it.
    fn restart_into(&mut self, n: NodeId, record: Option<usize>, batch: &mut Batch) {
        let idx = usize::from(n.0);
        if self.up[idx] && !batch.ops.iter().any(|(op, t)| *op == Op::Crash && t.node == n) {
            return;
        }
        self.incarnation[idx] += 1;
        if self.sim.is_some() {
            // The simulator rebuilds the node itself, with the rules it keeps.
            self.starting[idx] = true;
            batch.push(Op::Start, n, record, None);
            return;
        }
        match self.agent_config(n) {
            Ok(cfg) => {
                self.starting[idx] = true;
                self.configured_rules.insert(n, cfg.faults.iter().map(|(id, _)| *id).collect());
                batch.push(Op::Start, n, record, Some(cfg));
            }
            Err(e) => self.recorder.run_failure(self.clock(), Some(n), format!("cannot restart it: {e}")),
        }
    }
}

async fn engine_event(
    rx: &mut Option<mpsc::UnboundedReceiver<crate::backend::docker::NodeEvent>>,
) -> Option<crate::backend::docker::NodeEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The nodes an occurrence acts on.
fn occurrence_nodes(occ: &Occurrence) -> Vec<NodeId> {
    match &occ.action {
        Action::Crash(n) | Action::Pause(n) | Action::Restart(n) | Action::Isolate(n) => n.clone(),
        Action::Message(rules) => {
            let mut n: Vec<NodeId> = rules.iter().map(|(n, _)| *n).collect();
            n.sort();
            n.dedup();
            n
        }
    }
}
