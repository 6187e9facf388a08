//! The experiment runner: deploy, start, inject faults on schedule, fold
//! observations, stop, report. One `select!` loop owns the run's state.

pub mod control;
mod live;
mod progress;

use crate::backend::{Backend, BackendChoice, BackendConfig, NodeLaunch};
use crate::experiment::{Action, Experiment, FaultKind, Occurrence, Workload};
use crate::recorder::events::{Event, EventLog};
use crate::recorder::snapshot::SnapshotContext;
use crate::recorder::{NodeState, Recorder};
use crate::report::{self, Report};
use anyhow::{Context, Result};
use control::{AgentLink, Inbound};
use faults::{FaultId, MessageFault};
use node_agent::proto::{AgentConfig, Down, Peer, Up, WorkloadConfig};
pub use progress::Progress;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tui::snapshot::RunState;
use workloads::seed::splitmix64;
use workloads::{tmr, NodeId, Time};

/// How to run an experiment (the command line's overrides).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The faultlab executable agents run (`current_exe()` in the binary).
    pub agent_exe: PathBuf,
    /// Where report.json, events.jsonl and agent logs go (None: nowhere).
    pub out_dir: Option<PathBuf>,
    pub backend: Option<BackendChoice>,
    pub seed: Option<u64>,
    pub duration: Option<Duration>,
    pub progress: Progress,
    /// Agents' watchdog.
    pub watchdog: Duration,
    /// Open the dashboard.
    pub tui: bool,
    /// Serve Prometheus metrics here.
    pub metrics_addr: Option<SocketAddr>,
    /// No schedule: run until stopped, faults only by hand (`faultlab up`).
    pub sandbox: bool,
    /// Benchmark mode: the client keeps this many requests outstanding
    /// instead of sending at the file's rate (0 = the file's open-loop rate).
    pub window: usize,
}

impl RunOptions {
    /// A headless run of the file as written: the file's backend, seed and
    /// duration, no outputs, no dashboard, nothing printed.
    pub fn new(agent_exe: PathBuf) -> RunOptions {
        RunOptions {
            agent_exe,
            out_dir: None,
            backend: None,
            seed: None,
            duration: None,
            progress: Progress::quiet(),
            watchdog: Duration::from_secs(10),
            tui: false,
            metrics_addr: None,
            sandbox: false,
            window: 0,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report,
    pub out_dir: Option<PathBuf>,
}

impl RunOutcome {
    /// Whether every expectation held (and the run was not interrupted).
    pub fn passed(&self) -> bool {
        !self.report.interrupted && self.report.expect.iter().all(|e| e.passed)
    }
}

/// The monotonic clock agents stamp with (CLOCK_MONOTONIC, shared by every
/// process and container on the host).
pub use node_agent::monotonic_now;

/// Pick the backend: the file's choice unless overridden; `auto` is docker
/// when the daemon answers a ping, else process.
pub async fn choose_backend(
    choice: BackendChoice,
    cfg: &BackendConfig,
    log_dir: Option<PathBuf>,
) -> Result<Backend> {
    use crate::backend::{docker, process::ProcessBackend, DockerRun};
    let docker = match choice {
        BackendChoice::Process => false,
        BackendChoice::Docker => true,
        BackendChoice::Auto => docker::DockerBackend::available().await,
    };
    if !docker {
        return Ok(Backend::Process(ProcessBackend::new(cfg.clone(), log_dir)));
    }
    let backend = docker::DockerBackend::connect().await?;
    // Leftovers of runs whose orchestrator died are swept before we add ours.
    let _ = docker::sweep_stale().await;
    Ok(Backend::Docker(Box::new(DockerRun { backend, cfg: cfg.clone() })))
}

struct Running<'a> {
    exp: &'a Experiment,
    seed: u64,
    token: String,
    run_id: String,
    backend: Backend,
    /// Where each node's stable storage lives (`<root>/<node>`), as the agent sees it.
    state_root: PathBuf,
    links: BTreeMap<NodeId, AgentLink>,
    incarnation: Vec<u32>,
    up: Vec<bool>,
    endpoints: Vec<(SocketAddr, SocketAddr)>,
    peers: Vec<Peer>,
    /// Message faults installed per node, so a restarted node gets them again.
    rules: BTreeMap<NodeId, Vec<(FaultId, MessageFault)>>,
    /// Per occurrence: the installed rule ids, the fault record.
    installed: BTreeMap<usize, Vec<(NodeId, FaultId)>>,
    records: BTreeMap<usize, usize>,
    next_fault_id: u64,
    inbound: mpsc::UnboundedSender<Inbound>,
    recorder: Recorder,
    connect_within: Duration,
    window: usize,
    /// Every fault occurrence of the run (scheduled or injected by hand), its target as shown.
    occurrences: Vec<Occurrence>,
    targets: Vec<String>,
    /// Pending steps: (run time, order) -> (occurrence, begin?).
    schedule: BTreeMap<(Duration, u64), (usize, bool)>,
    step_seq: u64,
    /// Occurrences begun and not yet ended.
    active: std::collections::BTreeSet<usize>,
    /// Faults injected by hand so far.
    manual: usize,
    /// Node state changes as the engine reports them (docker).
    engine_events: Option<mpsc::UnboundedReceiver<crate::backend::docker::NodeEvent>>,
}

/// Run one experiment to its end (or until Ctrl-C / SIGTERM) and report.
pub async fn run(exp: &Experiment, opts: &RunOptions) -> Result<RunOutcome> {
    let seed = opts.seed.unwrap_or(exp.seed);
    let duration = opts.duration.unwrap_or(exp.duration);
    // Faults injected by hand are validated against the run's own length.
    let exp = &Experiment { duration, ..exp.clone() };
    if let Some(dir) = &opts.out_dir {
        std::fs::create_dir_all(dir.join("logs"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let events = match &opts.out_dir {
        Some(dir) => EventLog::create(&dir.join("events.jsonl"))
            .with_context(|| format!("cannot create {}", dir.join("events.jsonl").display()))?,
        None => EventLog::discard(),
    };
    let run_id = format!("{:012x}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF);
    let token = format!("{:032x}", rand::random::<u128>());
    let bcfg = BackendConfig {
        run_id: run_id.clone(),
        token: token.clone(),
        agent_exe: opts.agent_exe.clone(),
        watchdog: opts.watchdog,
    };
    let choice = opts.backend.unwrap_or(exp.backend);
    let mut backend = choose_backend(choice, &bcfg, opts.out_dir.as_ref().map(|d| d.join("logs"))).await?;
    opts.progress.line(&format!(
        "faultlab: {} on the {} backend{} (run {run_id}, seed {seed}, {:.1} s)",
        exp.name,
        backend.name(),
        if choice == BackendChoice::Auto { " (auto)" } else { "" },
        duration.as_secs_f64()
    ));
    let launches: Vec<NodeLaunch> = exp
        .topology
        .nodes
        .iter()
        .map(|n| NodeLaunch { id: n.id, name: n.name.clone(), role: n.role.clone() })
        .collect();
    let mut stop = Stop::new()?;
    let deployed = tokio::select! {
        r = backend.deploy(&launches) => Some(r),
        _ = stop.recv() => None,
    };
    let endpoints = match deployed {
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            let _ = backend.teardown().await;
            return Err(e).context("deploying the agents failed");
        }
        None => {
            // Interrupted half-way: remove what the deploy made, by the run's label.
            let _ = backend.teardown().await;
            if backend.name() == "docker" {
                let id = run_id.clone();
                let _ =
                    tokio::task::spawn_blocking(move || crate::backend::docker::teardown_blocking(&id)).await;
            }
            anyhow::bail!("interrupted while deploying; everything the run made was removed");
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let peers = exp
        .topology
        .nodes
        .iter()
        .zip(&endpoints)
        .map(|(n, e)| Peer { id: n.id, name: n.name.clone(), addr: e.data_addr })
        .collect();
    let n = exp.topology.nodes.len();
    // Stable storage that survives a node's crash: the run's volume in a
    // container, a host directory for processes.
    let host_state = match &opts.out_dir {
        Some(dir) => std::path::absolute(dir.join("state")).unwrap_or_else(|_| dir.join("state")),
        None => std::env::temp_dir().join(format!("faultlab-{run_id}-state")),
    };
    let state_root = if backend.name() == "docker" {
        PathBuf::from(crate::backend::docker::STATE_DIR)
    } else {
        host_state.clone()
    };
    let mut running = Running {
        exp,
        seed,
        token,
        run_id,
        backend,
        state_root,
        links: BTreeMap::new(),
        incarnation: vec![0; n],
        up: vec![true; n],
        endpoints: endpoints.iter().map(|e| (e.control, e.data_listen)).collect(),
        peers,
        rules: BTreeMap::new(),
        installed: BTreeMap::new(),
        records: BTreeMap::new(),
        next_fault_id: 1,
        inbound: tx,
        recorder: Recorder::new(exp.topology.clone(), Time::ZERO, duration, events),
        connect_within: Duration::from_secs(20),
        window: opts.window,
        engine_events: None,
        occurrences: Vec::new(),
        targets: Vec::new(),
        schedule: BTreeMap::new(),
        step_seq: 0,
        active: std::collections::BTreeSet::new(),
        manual: 0,
    };
    running.engine_events = running.backend.events();
    let deadline = running.deadline();
    running.recorder.set_deadline(deadline);
    match &exp.workload {
        Workload::Heartbeat(_) => running.recorder.enable_detector(&running.ids(&["node"])),
        Workload::PrimaryBackup(_) => running.recorder.enable_detector(&running.ids(&["replica"])),
        _ => {}
    }
    if let Workload::Checkpointing(p) = &exp.workload {
        let config = running.checkpoint_config(p);
        // The system's MTTF for Young's interval: the mean up time of the
        // first crash fault on a random schedule (each occurrence is one failure).
        let mttf = exp.faults.iter().find_map(|f| match (&f.kind, &f.schedule) {
            (FaultKind::Crash, crate::experiment::Schedule::Random { mttf, .. }) => Some(*mttf),
            _ => None,
        });
        running.recorder.expect_checkpointing(&config, mttf);
    }
    let result = running.drive(duration, rx, opts, &mut stop).await;
    // Whatever happened, nothing the run made outlives it.
    for link in running.links.values() {
        link.send(Down::Shutdown);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let teardown = running.backend.teardown().await;
    if opts.out_dir.is_none() {
        let _ = std::fs::remove_dir_all(&host_state);
    }
    let mut report = result?;
    teardown.context("removing the run's agents failed")?;
    report.experiment = exp.name.clone();
    report.concept = exp.concept.clone();
    report.seed = seed;
    report.backend = running.backend.name().to_string();
    report.run_id = running.run_id.clone();
    report.availability_model = exp.availability_model();
    report.schedule_drawn = exp.schedule_drawn(seed, duration);
    report::evaluate(&mut report, &exp.expect)?;
    if let Some(dir) = &opts.out_dir {
        let path = dir.join("report.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(e) = running.recorder.take_event_error() {
        opts.progress.line(&format!("warning: writing events.jsonl failed: {e}"));
    }
    Ok(RunOutcome { report, out_dir: opts.out_dir.clone() })
}

impl Running<'_> {
    /// The checkpointing processes' configuration: every process, and the experiment's seed.
    fn checkpoint_config(&self, p: &crate::experiment::CheckpointParams) -> workloads::checkpoint::Config {
        let mut c = p.config.clone();
        c.processes = self.exp.topology.with_role("process").map(|n| n.id).collect();
        c.seed = self.seed;
        c
    }

    /// The nodes of these roles, in this order.
    fn ids(&self, roles: &[&str]) -> Vec<NodeId> {
        roles.iter().flat_map(|r| self.exp.topology.with_role(r).map(|n| n.id)).collect()
    }

    fn agent_config(&self, node: NodeId) -> Result<AgentConfig> {
        let spec = self.exp.topology.by_id(node).context("node outside the topology")?;
        let idx = usize::from(node.0);
        let incarnation = self.incarnation[idx];
        let workload = match &self.exp.workload {
            Workload::Checkpointing(p) => WorkloadConfig::Checkpoint(self.checkpoint_config(p)),
            Workload::Byzantine(p) => {
                let mut c = p.config.clone();
                c.generals = self.ids(&["commander", "lieutenant"]);
                c.seed = self.seed;
                WorkloadConfig::Byzantine(c)
            }
            Workload::Commit(p) => {
                let mut c = p.config.clone();
                c.coordinator = self.ids(&["coordinator"]).first().copied().unwrap_or(NodeId(0));
                c.participants = self.ids(&["participant"]);
                c.seed = self.seed;
                WorkloadConfig::Commit(c)
            }
            Workload::Rpc(p) => {
                let mut c = p.config.clone();
                c.server = self.ids(&["server"]).first().copied().unwrap_or(NodeId(0));
                c.client = self.ids(&["client"]).first().copied().unwrap_or(NodeId(0));
                WorkloadConfig::Rpc(c)
            }
            Workload::Heartbeat(p) => WorkloadConfig::Heartbeat(workloads::heartbeat::Config {
                nodes: self.ids(&["node"]),
                detector: p.detector.clone(),
            }),
            Workload::PrimaryBackup(p) => {
                use workloads::primary_backup::{Config, Role};
                WorkloadConfig::PrimaryBackup(Config {
                    role: if spec.role == "client" { Role::Client } else { Role::Replica },
                    replicas: self.ids(&["replica"]),
                    clients: self.ids(&["client"]),
                    rate: p.rate,
                    deadline: p.deadline,
                    retry: p.retry,
                    gap_timeout: p.gap_timeout,
                    detector: p.detector.clone(),
                })
            }
            Workload::Tmr(p) => {
                let ids = |role: &str| self.exp.topology.with_role(role).map(|n| n.id).collect::<Vec<_>>();
                let role = match spec.role.as_str() {
                    "client" => tmr::Role::Client,
                    "voter" => tmr::Role::Voter,
                    _ => tmr::Role::Replica,
                };
                WorkloadConfig::Tmr(tmr::Config {
                    role,
                    replicas: ids("replica"),
                    voters: ids("voter"),
                    clients: ids("client"),
                    rate: if self.window > 0 { 0.0 } else { p.rate },
                    deadline: p.deadline,
                    vote_timeout: p.vote_timeout,
                    gap_timeout: p.gap_timeout,
                    window: self.window,
                })
            }
        };
        Ok(AgentConfig {
            run_id: self.run_id.clone(),
            node,
            name: spec.name.clone(),
            listen: self.endpoints[idx].1,
            peers: self.peers.iter().filter(|p| p.id != node).cloned().collect(),
            workload,
            seed: splitmix64(self.seed ^ splitmix64(u64::from(node.0) << 32 | u64::from(incarnation))),
            incarnation,
            faults: self.rules.get(&node).cloned().unwrap_or_default(),
            flush_interval: Duration::from_millis(20),
            state_dir: Some(self.state_root.join(&spec.name)),
        })
    }

    async fn connect(&self, node: NodeId) -> Result<AgentLink> {
        let cfg = self.agent_config(node)?;
        let control = self.endpoints[usize::from(node.0)].0;
        Ok(control::connect(control, &self.token, cfg, self.connect_within, self.inbound.clone()).await?)
    }

    async fn drive(
        &mut self,
        duration: Duration,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
        opts: &RunOptions,
        stop: &mut Stop,
    ) -> Result<Report> {
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
        self.recorder.set_start(t0);
        for link in self.links.values() {
            link.send(Down::Start);
        }
        self.recorder.event(Event::RunStarted {
            t: 0.0,
            experiment: self.exp.name.clone(),
            backend: self.backend.name().to_string(),
            seed: self.seed,
            duration_seconds: duration.as_secs_f64(),
        });
        if !opts.sandbox {
            self.plan(duration, opts);
        }
        let (snap_tx, mut live) =
            live::start(opts, self.snapshot_now(RunState::Starting, Duration::ZERO)).await?;
        let mut commands = live.commands.take();
        let mut start = tokio::time::Instant::now();
        let mut end = start + duration;
        let mut paused_at: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut interrupted = false;
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        // events.jsonl gets each 100 ms window soon after it is final, even when nothing arrives.
        let mut flush = tokio::time::interval(Duration::from_millis(50));
        loop {
            let next_step = match (paused_at, self.schedule.first_key_value()) {
                (None, Some((&(at, _), _))) => start + at,
                _ => end + Duration::from_secs(3600),
            };
            let end_at = if paused_at.is_some() { end + Duration::from_secs(3600) } else { end };
            tokio::select! {
                biased;
                _ = stop.recv() => { interrupted = true; break; }
                _ = tokio::time::sleep_until(end_at) => break,
                _ = tokio::time::sleep_until(next_step) => {
                    if let Some((_, (i, begin))) = self.schedule.pop_first() {
                        let occ = self.occurrences[i].clone();
                        if begin { self.begin(i, &occ, opts).await?; } else { self.finish(i, &occ, opts).await?; }
                    }
                }
                Some(msg) = rx.recv() => self.inbound(msg, opts),
                Some(ev) = engine_event(&mut self.engine_events) => self.engine_event(ev),
                Some(cmd) = live::next(&mut commands) => match cmd {
                    tui::Command::Quit => { interrupted = true; break; }
                    tui::Command::TogglePause => match paused_at.take() {
                        // The schedule and the end move on by the time spent paused.
                        Some(p) => {
                            let held = p.elapsed();
                            start += held;
                            end += held;
                            self.recorder.event(Event::Note { t: self.recorder.rel(monotonic_now()), node: None, text: "schedule resumed".into() });
                        }
                        None => {
                            paused_at = Some(tokio::time::Instant::now());
                            self.recorder.event(Event::Note { t: self.recorder.rel(monotonic_now()), node: None, text: "schedule paused".into() });
                        }
                    },
                    tui::Command::HealAll => self.heal_all(opts).await?,
                    tui::Command::Inject(spec) => {
                        let now = start.elapsed();
                        self.inject(&spec, now, opts).await?;
                    }
                },
                _ = flush.tick() => self.recorder.tick(monotonic_now()),
                _ = ping.tick() => {
                    for link in self.links.values() { link.send(Down::Ping); }
                }
                _ = tick.tick() => {
                    opts.progress.tick(start.elapsed(), duration, &self.recorder);
                    let state = if paused_at.is_some() { RunState::Paused } else { RunState::Running };
                    let _ = snap_tx.send(Arc::new(self.snapshot_now(state, start.elapsed())));
                }
            }
        }
        // Requests sent just before the end are decided within the deadline:
        // wait for them before stopping the agents.
        if !interrupted {
            let drain = tokio::time::Instant::now() + self.deadline() + Duration::from_millis(300);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(drain) => break,
                    Some(msg) = rx.recv() => self.inbound(msg, opts),
                }
            }
        }
        opts.progress.done();
        let end_rel = if interrupted { start.elapsed().min(duration) } else { duration };
        let report = self.recorder.finish(end_rel.as_secs_f64(), interrupted);
        let state = if interrupted { RunState::Interrupted } else { RunState::Finished };
        let _ = snap_tx.send(Arc::new(self.snapshot_now(state, end_rel)));
        live.finish().await;
        Ok(report)
    }

    /// Expand the file's schedule into steps.
    fn plan(&mut self, duration: Duration, opts: &RunOptions) {
        let (occurrences, skipped) = self.exp.occurrences(self.seed, duration);
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

    fn add_occurrence(&mut self, occ: Occurrence, target: String, duration: Duration) -> usize {
        let i = self.occurrences.len();
        self.schedule.insert((occ.start, self.step_seq), (i, true));
        if let Some(end) = occ.end.filter(|e| *e < duration) {
            self.schedule.insert((end, self.step_seq + 1), (i, false));
        }
        self.step_seq += 2;
        self.occurrences.push(occ);
        self.targets.push(target);
        i
    }

    /// A fault asked for by hand: validated like a file's, executed now, in the report.
    async fn inject(
        &mut self,
        spec: &faults::spec::FaultSpec,
        now: Duration,
        opts: &RunOptions,
    ) -> Result<()> {
        let index = self.exp.faults.len() + self.manual;
        self.manual += 1;
        let occs = match self.exp.live_occurrences(spec, now, index) {
            Ok(o) => o,
            Err(e) => {
                opts.progress.line(&format!("fault refused: {e}"));
                let t = self.recorder.rel(monotonic_now());
                self.recorder.event(Event::Note { t, node: None, text: format!("fault refused: {e}") });
                return Ok(());
            }
        };
        for mut occ in occs {
            let first = occ.start <= now;
            occ.start = occ.start.max(now);
            let target = self.target(&occ);
            let i = self.add_occurrence(occ, target, Duration::MAX);
            if first {
                // Run the begin step at once rather than on the next turn of the loop.
                let key = self.schedule.iter().find(|(_, v)| **v == (i, true)).map(|(k, _)| *k);
                if let Some(key) = key {
                    self.schedule.remove(&key);
                }
                let occ = self.occurrences[i].clone();
                self.begin(i, &occ, opts).await?;
                if let Some(r) = self.records.get(&i).copied() {
                    self.recorder.mark_manual(r);
                }
            }
        }
        Ok(())
    }

    /// End every active fault now: crashed nodes restart, paused ones resume, rules go.
    async fn heal_all(&mut self, opts: &RunOptions) -> Result<()> {
        let active: Vec<usize> = self.active.iter().copied().collect();
        for i in active {
            self.schedule.retain(|_, v| v.0 != i);
            let occ = self.occurrences[i].clone();
            self.finish(i, &occ, opts).await?;
        }
        // Nodes down for good (a permanent crash) come back too.
        let down: Vec<NodeId> =
            (0..self.up.len()).filter(|i| !self.up[*i]).map(|i| NodeId(i as u16)).collect();
        for n in down {
            self.restart(n).await?;
        }
        Ok(())
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
            concept: self.exp.concept.clone(),
            backend: self.backend.name().to_string(),
            seed: self.seed,
            run_state,
            elapsed_seconds: elapsed.as_secs_f64(),
            node_faults,
        })
    }

    /// Record a state change the engine reported, at the engine's time
    /// (wall clock, turned into the monotonic clock by the current offset).
    fn engine_event(&mut self, (node, state, at): crate::backend::docker::NodeEvent) {
        let ago = std::time::SystemTime::now().duration_since(at).unwrap_or_default();
        let now = monotonic_now();
        let at = Time::from_nanos(now.as_nanos().saturating_sub(u64::try_from(ago.as_nanos()).unwrap_or(0)));
        let state = match state {
            crate::backend::NodeState::Up => NodeState::Up,
            crate::backend::NodeState::Down => NodeState::Down,
            crate::backend::NodeState::Paused => NodeState::Paused,
        };
        self.recorder.node_state(node, state, at);
    }

    /// Record a state change the runner caused, unless the backend reports
    /// it itself (the engine's word and time win).
    fn node_state(&mut self, node: NodeId, state: NodeState) {
        if !self.backend.reports_state() {
            self.recorder.node_state(node, state, monotonic_now());
        }
    }

    fn deadline(&self) -> Duration {
        match &self.exp.workload {
            Workload::Tmr(p) => p.deadline,
            Workload::Checkpointing(p) => p.config.step,
            Workload::Byzantine(p) => p.config.interval,
            Workload::Commit(p) => p.config.timeout,
            Workload::Rpc(p) => p.config.timeout * (p.config.retries + 1),
            Workload::Heartbeat(p) => p.detector.interval,
            Workload::PrimaryBackup(p) => p.deadline,
        }
    }

    fn inbound(&mut self, msg: Inbound, opts: &RunOptions) {
        let idx = usize::from(msg.node.0);
        match msg.up {
            Some(Up::Observations(batch)) => {
                for (at, obs) in batch {
                    self.recorder.observe(msg.node, at, obs);
                }
            }
            Some(Up::Stats(st)) => {
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
            None => {
                // The current incarnation's connection closed without us
                // crashing it: the agent died on its own.
                if self.incarnation.get(idx) == Some(&msg.incarnation) && self.up.get(idx) == Some(&true) {
                    self.up[idx] = false;
                    self.links.remove(&msg.node);
                    let name = self.name(msg.node);
                    opts.progress.line(&format!("{name}: agent exited unexpectedly (see its log)"));
                    self.recorder.node_state(msg.node, NodeState::Down, monotonic_now());
                }
            }
        }
    }

    fn name(&self, node: NodeId) -> String {
        self.exp.topology.by_id(node).map(|n| n.name.clone()).unwrap_or_else(|| node.to_string())
    }

    fn target(&self, occ: &Occurrence) -> String {
        let names: Vec<String> = occurrence_nodes(occ).iter().map(|n| self.name(*n)).collect();
        let Some(written) = self.exp.faults.get(occ.fault).map(|p| p.target.clone()) else {
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
        self.rules.entry(node).or_default().push((id, fault));
        self.installed.entry(occurrence).or_default().push((node, id));
    }

    async fn begin(&mut self, i: usize, occ: &Occurrence, opts: &RunOptions) -> Result<()> {
        let now = monotonic_now();
        let target = self.targets.get(i).cloned().unwrap_or_else(|| self.target(occ));
        self.active.insert(i);
        let record = self.recorder.fault_started(occ.fault, occ.kind.as_str(), &target, now);
        self.recorder.fault_nodes(record, occurrence_nodes(occ));
        self.records.insert(i, record);
        opts.progress.line(&format!(
            "{:>7.2}s  {} {target}{}",
            self.recorder.rel(now),
            occ.kind.as_str(),
            occ.end.map(|e| format!(" for {:.1} s", (e - occ.start).as_secs_f64())).unwrap_or_default()
        ));
        match &occ.action {
            Action::Crash(nodes) => {
                self.crash_all(nodes).await?;
            }
            Action::Restart(nodes) => {
                self.crash_all(nodes).await?;
                self.restart_all(nodes).await?;
                self.active.remove(&i);
                if let Some(r) = self.records.get(&i) {
                    self.recorder.fault_ended(*r, monotonic_now());
                }
            }
            Action::Pause(nodes) => {
                for &n in nodes {
                    if self.up[usize::from(n.0)] {
                        self.backend.pause(n).await?;
                        self.node_state(n, NodeState::Paused);
                    }
                }
            }
            Action::Isolate(nodes) => {
                for &n in nodes {
                    match self.backend.isolate(n).await {
                        Some(res) => res?,
                        None => {
                            let cut =
                                self.exp.topology.nodes.iter().map(|p| p.id).filter(|p| *p != n).collect();
                            self.install(i, n, MessageFault::Partition { cut, one_way: false });
                        }
                    }
                }
            }
            Action::Message(rules) => {
                for (n, fault) in rules {
                    self.install(i, *n, fault.clone());
                }
            }
        }
        Ok(())
    }

    async fn finish(&mut self, i: usize, occ: &Occurrence, _opts: &RunOptions) -> Result<()> {
        if !self.active.remove(&i) {
            return Ok(());
        }
        match &occ.action {
            Action::Crash(nodes) => {
                self.restart_all(nodes).await?;
            }
            Action::Restart(_) => return Ok(()),
            Action::Pause(nodes) => {
                for &n in nodes {
                    if self.up[usize::from(n.0)] {
                        self.backend.resume(n).await?;
                        self.node_state(n, NodeState::Up);
                    }
                }
            }
            Action::Isolate(nodes) => {
                for &n in nodes {
                    if let Some(res) = self.backend.reconnect(n).await {
                        res?;
                    }
                }
            }
            Action::Message(_) => {}
        }
        for (node, id) in self.installed.remove(&i).unwrap_or_default() {
            if let Some(link) = self.links.get(&node) {
                link.send(Down::Remove { id });
            }
            if let Some(r) = self.rules.get_mut(&node) {
                r.retain(|(f, _)| *f != id);
            }
        }
        if let Some(r) = self.records.get(&i) {
            self.recorder.fault_ended(*r, monotonic_now());
        }
        Ok(())
    }

    /// Kill these nodes together (those already down stay down).
    async fn crash_all(&mut self, nodes: &[NodeId]) -> Result<()> {
        let nodes: Vec<NodeId> = nodes.iter().copied().filter(|n| self.up[usize::from(n.0)]).collect();
        for &n in &nodes {
            self.up[usize::from(n.0)] = false;
            self.links.remove(&n);
        }
        self.backend.crash_all(&nodes).await?;
        for &n in &nodes {
            self.node_state(n, NodeState::Down);
        }
        Ok(())
    }

    async fn restart(&mut self, n: NodeId) -> Result<()> {
        self.restart_all(&[n]).await
    }

    /// Start these crashed nodes again together, each as a new incarnation
    /// that gets the message faults active on it.
    async fn restart_all(&mut self, nodes: &[NodeId]) -> Result<()> {
        let nodes: Vec<NodeId> = nodes.iter().copied().filter(|n| !self.up[usize::from(n.0)]).collect();
        if nodes.is_empty() {
            return Ok(());
        }
        for &n in &nodes {
            self.incarnation[usize::from(n.0)] += 1;
        }
        let endpoints = self.backend.start_all(&nodes).await?;
        for (&n, ep) in nodes.iter().zip(&endpoints) {
            self.endpoints[usize::from(n.0)] = (ep.control, ep.data_listen);
        }
        let links = futures::future::join_all(nodes.iter().map(|&n| self.connect(n))).await;
        for (&n, link) in nodes.iter().zip(links) {
            let link = link?;
            link.send(Down::Start);
            self.links.insert(n, link);
            self.up[usize::from(n.0)] = true;
            self.node_state(n, NodeState::Up);
        }
        Ok(())
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

/// Ctrl-C and SIGTERM, listened for from the start of a run so that an
/// interrupt at any point ends in an orderly teardown.
pub struct Stop {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Stop {
    /// Start listening (from now on the signals no longer kill the process).
    pub fn new() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    /// Wait for either signal.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
