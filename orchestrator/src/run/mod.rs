//! The experiment runner: deploy, start, inject faults on schedule, fold
//! observations, stop, report. One `select!` loop owns the run's state.

pub mod control;
mod progress;

use crate::backend::{Backend, BackendChoice, BackendConfig, NodeLaunch};
use crate::experiment::{Action, Experiment, FaultKind, Occurrence, Workload};
use crate::recorder::events::{Event, EventLog};
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
use std::time::Duration;
use tokio::sync::mpsc;
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
    /// Benchmark mode: the client keeps this many requests outstanding
    /// instead of sending at the file's rate (0 = the file's open-loop rate).
    pub window: usize,
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
pub fn monotonic_now() -> Time {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => Time::from_nanos(
            u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000_000
                + u64::try_from(ts.tv_nsec()).unwrap_or(0),
        ),
        Err(_) => Time::ZERO,
    }
}

fn mix(mut z: u64) -> u64 {
    // splitmix64: derive independent seeds from the experiment's.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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

struct Step {
    at: Duration,
    occurrence: usize,
    begin: bool,
}

struct Running<'a> {
    exp: &'a Experiment,
    seed: u64,
    token: String,
    run_id: String,
    backend: Backend,
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
    /// Node state changes as the engine reports them (docker).
    engine_events: Option<mpsc::UnboundedReceiver<crate::backend::docker::NodeEvent>>,
}

/// Run one experiment to its end (or until Ctrl-C / SIGTERM) and report.
pub async fn run(exp: &Experiment, opts: &RunOptions) -> Result<RunOutcome> {
    let seed = opts.seed.unwrap_or(exp.seed);
    let duration = opts.duration.unwrap_or(exp.duration);
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
    let endpoints = match backend.deploy(&launches).await {
        Ok(e) => e,
        Err(e) => {
            let _ = backend.teardown().await;
            return Err(e).context("deploying the agents failed");
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
    let mut running = Running {
        exp,
        seed,
        token,
        run_id,
        backend,
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
    };
    running.engine_events = running.backend.events();
    let result = running.drive(duration, rx, opts).await;
    // Whatever happened, nothing the run made outlives it.
    for link in running.links.values() {
        link.send(Down::Shutdown);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let teardown = running.backend.teardown().await;
    let mut report = result?;
    teardown.context("removing the run's agents failed")?;
    report.experiment = exp.name.clone();
    report.concept = exp.concept.clone();
    report.seed = seed;
    report.backend = running.backend.name().to_string();
    report.run_id = running.run_id.clone();
    report.availability_model = exp.availability_model();
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
    fn agent_config(&self, node: NodeId) -> Result<AgentConfig> {
        let spec = self.exp.topology.by_id(node).context("node outside the topology")?;
        let idx = usize::from(node.0);
        let incarnation = self.incarnation[idx];
        let workload = match &self.exp.workload {
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
            seed: mix(self.seed ^ mix(u64::from(node.0) << 32 | u64::from(incarnation))),
            incarnation,
            faults: self.rules.get(&node).cloned().unwrap_or_default(),
            flush_interval: Duration::from_millis(20),
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
    ) -> Result<Report> {
        // Connect to every agent in parallel, then start them together.
        let nodes: Vec<NodeId> = self.exp.topology.nodes.iter().map(|n| n.id).collect();
        let links = futures::future::join_all(nodes.iter().map(|&n| self.connect(n))).await;
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
        let mut steps: Vec<Step> = Vec::new();
        for (i, o) in occurrences.iter().enumerate() {
            steps.push(Step { at: o.start, occurrence: i, begin: true });
            if let Some(end) = o.end.filter(|e| *e < duration) {
                steps.push(Step { at: end, occurrence: i, begin: false });
            }
        }
        steps.sort_by_key(|s| (s.at, !s.begin));
        let mut steps = steps.into_iter().peekable();

        let start = tokio::time::Instant::now();
        let end = start + duration;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupted = false;
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        loop {
            let next_step = steps.peek().map(|s| start + s.at).unwrap_or(end + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => { interrupted = true; break; }
                _ = sigterm.recv() => { interrupted = true; break; }
                _ = tokio::time::sleep_until(end) => break,
                _ = tokio::time::sleep_until(next_step) => {
                    if let Some(step) = steps.next() {
                        let occ = &occurrences[step.occurrence];
                        if step.begin {
                            self.begin(step.occurrence, occ, opts).await?;
                        } else {
                            self.finish(step.occurrence, occ, opts).await?;
                        }
                    }
                }
                Some(msg) = rx.recv() => self.inbound(msg, opts),
                Some(ev) = engine_event(&mut self.engine_events) => self.engine_event(ev),
                _ = ping.tick() => {
                    for link in self.links.values() { link.send(Down::Ping); }
                }
                _ = tick.tick() => opts.progress.tick(start.elapsed(), duration, &self.recorder),
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
        Ok(self.recorder.finish(end_rel.as_secs_f64(), interrupted))
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
        let nodes = match &occ.action {
            Action::Crash(n) | Action::Pause(n) | Action::Restart(n) | Action::Isolate(n) => n.clone(),
            Action::Message(rules) => {
                let mut n: Vec<NodeId> = rules.iter().map(|(n, _)| *n).collect();
                n.dedup();
                n
            }
        };
        let written = self.exp.faults.get(occ.fault).map(|p| p.target.clone()).unwrap_or_default();
        let names: Vec<String> = nodes.iter().map(|n| self.name(*n)).collect();
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
        let target = self.target(occ);
        let record = self.recorder.fault_started(occ.fault, occ.kind.as_str(), &target, now);
        self.records.insert(i, record);
        opts.progress.line(&format!(
            "{:>7.2}s  {} {target}{}",
            self.recorder.rel(now),
            occ.kind.as_str(),
            occ.end.map(|e| format!(" for {:.1} s", (e - occ.start).as_secs_f64())).unwrap_or_default()
        ));
        match &occ.action {
            Action::Crash(nodes) => {
                for &n in nodes {
                    self.crash(n).await?;
                }
            }
            Action::Restart(nodes) => {
                for &n in nodes {
                    self.crash(n).await?;
                    self.restart(n).await?;
                }
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
        match &occ.action {
            Action::Crash(nodes) => {
                for &n in nodes {
                    self.restart(n).await?;
                }
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

    async fn crash(&mut self, n: NodeId) -> Result<()> {
        let idx = usize::from(n.0);
        if !self.up[idx] {
            return Ok(());
        }
        self.up[idx] = false;
        self.links.remove(&n);
        self.backend.crash(n).await?;
        self.node_state(n, NodeState::Down);
        Ok(())
    }

    async fn restart(&mut self, n: NodeId) -> Result<()> {
        let idx = usize::from(n.0);
        if self.up[idx] {
            return Ok(());
        }
        self.incarnation[idx] += 1;
        let ep = self.backend.start(n).await?;
        self.endpoints[idx] = (ep.control, ep.data_listen);
        let link = self.connect(n).await?;
        link.send(Down::Start);
        self.links.insert(n, link);
        self.up[idx] = true;
        self.node_state(n, NodeState::Up);
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
