//! The experiment runner: deploy, start, inject faults on schedule, fold
//! observations, stop, report. One `select!` loop owns the run's state.

mod actuator;
pub mod control;
mod live;
mod progress;
mod runner;
mod steps;

use crate::backend::{Backend, BackendChoice, BackendConfig, NodeLaunch};
use crate::experiment::Experiment;
use crate::recorder::events::EventLog;
use crate::recorder::Recorder;
use crate::report::{self, Report};
use anyhow::{Context, Result};
use node_agent::proto::{Down, Peer};
pub use progress::Progress;
use runner::Running;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use workloads::Time;

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
    /// A fault-free control run (`--no-faults`): the note the report carries.
    pub control: Option<String>,
    /// Print the terminal summary once the report is written (before the
    /// exporter lingers; after the dashboard closes, with one).
    pub summary: bool,
    /// How long the exporter goes on serving the final values after the run.
    pub metrics_linger: Duration,
    /// No schedule: run until stopped, faults only by hand (`faultlab up`).
    pub sandbox: bool,
    /// Benchmark mode: the client keeps this many requests outstanding
    /// instead of sending at the file's rate (0 = the file's open-loop rate).
    pub window: usize,
    /// The sim backend's pace: virtual seconds per wall second (None: as
    /// fast as the CPU allows).
    pub speed: Option<f64>,
    /// The swarm backend pushes the agent image here (`host:port`) so that
    /// every swarm node can pull it (None: the local engine's image, one node).
    pub registry: Option<String>,
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
            metrics_linger: Duration::ZERO,
            control: None,
            summary: false,
            sandbox: false,
            window: 0,
            speed: None,
            registry: None,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report,
    pub out_dir: Option<PathBuf>,
    /// On the sim backend: messages handed to a node's driver over the run.
    pub delivered: Option<u64>,
    /// On the sim backend: virtual time simulated, the drain after the end included.
    pub simulated: Option<Duration>,
}

impl RunOutcome {
    /// Whether every expectation held in a valid run that went to its end.
    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Passed
    }

    /// What the run comes to, one exit code each.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.report)
    }
}

/// What a run comes to. Each has its own exit code, documented in the README.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Exit 0: a valid run, and every `expect:` held.
    Passed,
    /// Exit 1: a valid run, and an `expect:` failed.
    ExpectationFailed,
    /// Exit 3: the run did not run as written (an agent died or went
    /// silent outside a fault, a fault could not be executed, a client
    /// stopped sending, or it was interrupted): its numbers prove nothing.
    Invalid,
}

impl Verdict {
    /// The verdict of a report.
    pub fn of(report: &Report) -> Verdict {
        if report.interrupted || !report.valid {
            Verdict::Invalid
        } else if report.expect.iter().all(|e| e.passed) {
            Verdict::Passed
        } else {
            Verdict::ExpectationFailed
        }
    }

    /// The process exit code (2 is bad input or an error before the run).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Passed => 0,
            Verdict::ExpectationFailed => 1,
            Verdict::Invalid => 3,
        }
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
    registry: Option<String>,
) -> Result<Backend> {
    use crate::backend::{docker, process::ProcessBackend, swarm::SwarmBackend, DockerRun, SwarmRun};
    let docker = match choice {
        BackendChoice::Sim => return Ok(Backend::Sim),
        BackendChoice::Process => false,
        BackendChoice::Swarm => {
            let backend = SwarmBackend::connect(registry).await?;
            let _ = docker::sweep_stale().await;
            return Ok(Backend::Swarm(Box::new(SwarmRun { backend, cfg: cfg.clone() })));
        }
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

/// How long a run interrupted while deploying waits for the deploy's
/// requests in flight before it removes what the run made.
const DEPLOY_DRAIN: Duration = Duration::from_secs(30);

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
    // Before anything is deployed: an address in use must not cost a deploy.
    let metrics = live::bind_metrics(opts).await?;
    let run_id = format!("{:012x}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF);
    let token = format!("{:032x}", rand::random::<u128>());
    let bcfg = BackendConfig {
        run_id: run_id.clone(),
        token: token.clone(),
        agent_exe: opts.agent_exe.clone(),
        watchdog: opts.watchdog,
        host_paths: exp.workload.plugin().host_paths(),
    };
    let choice = opts.backend.unwrap_or(exp.backend);
    if choice == BackendChoice::Sim && exp.workload.plugin().hosts_programs() {
        anyhow::bail!(
            "{}: the sim backend cannot host the experiment's programs; run it with --backend process or docker",
            exp.name
        );
    }
    let mut backend =
        choose_backend(choice, &bcfg, opts.out_dir.as_ref().map(|d| d.join("logs")), opts.registry.clone())
            .await?;
    // The file was checked against the backend it names; `auto` or `--backend` may have chosen another.
    let (max_nodes, why) = crate::experiment::limits::max_nodes(backend.choice());
    if exp.topology.nodes.len() > max_nodes {
        anyhow::bail!(
            "{}: {} nodes is over the limit of {max_nodes}: {why}",
            exp.path.display(),
            exp.topology.nodes.len()
        );
    }
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
        .map(|n| NodeLaunch {
            placement: exp.placement.get(&n.id).cloned().unwrap_or_default(),
            ..NodeLaunch::new(n.id, n.name.clone(), n.role.clone())
        })
        .collect();
    let mut stop = Stop::new()?;
    let simulated = matches!(backend, Backend::Sim);
    // A signal does not drop the deploy half-way: a request already sent
    // (create a network, a container) would still be carried out by the
    // engine after the teardown below had looked for what to remove. The
    // deploy is let finish (at most DEPLOY_DRAIN, or until a second signal)
    // and everything it made is then removed.
    let deployed = {
        let deploy = backend.deploy(&launches);
        tokio::pin!(deploy);
        tokio::select! {
            r = &mut deploy => Some(r),
            _ = stop.recv() => {
                eprintln!("interrupted while deploying: waiting for the requests in flight, then removing everything the run made");
                tokio::select! {
                    _ = tokio::time::timeout(DEPLOY_DRAIN, &mut deploy) => {}
                    _ = stop.recv() => {}
                }
                None
            }
        }
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
            if matches!(backend, Backend::Docker(_) | Backend::Swarm(_)) {
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
    // Stable storage that survives a node's crash: the run's volume in a
    // container, a host directory for processes.
    let host_state = match &opts.out_dir {
        Some(dir) => std::path::absolute(dir.join("state")).unwrap_or_else(|_| dir.join("state")),
        None => std::env::temp_dir().join(format!("faultlab-{run_id}-state")),
    };
    let state_root = backend.state_dir().unwrap_or_else(|| host_state.clone());
    let mut running = Running::new(
        exp,
        runner::Identity { seed, token, run_id },
        backend,
        state_root,
        endpoints.iter().map(|e| (e.control, e.data_listen)).collect(),
        peers,
        tx,
        Recorder::new(exp.topology.clone(), Time::ZERO, duration, events),
        opts.window,
    );
    running.metrics = metrics;
    running.recorder.set_sandbox(opts.sandbox);
    if let Some(dir) = &opts.out_dir {
        running.recorder.set_history_file(dir.join("history.jsonl"));
    }
    let view = crate::workload::RunView { topology: &exp.topology, seed, window: opts.window };
    exp.workload.plugin().prepare(&mut running.recorder, &view, &exp.faults);
    let mut sim_from = None;
    let result = if simulated {
        let configs =
            exp.topology.nodes.iter().map(|n| exp.workload.plugin().agent_config(&view, n)).collect();
        let world = runner::SimWorld::new(configs, seed, exp.network.clone());
        sim_from = Some(world.sim.now());
        running.sim = Some(std::sync::Mutex::new(world));
        running.drive_sim(duration, opts, &mut stop).await
    } else {
        running.drive(duration, rx, opts, &mut stop).await
    };
    // Whatever happened, nothing the run made outlives it: the agents stop
    // now, not at their watchdog, whatever the dashboard does.
    for link in running.links.values() {
        link.send(Down::Shutdown);
    }
    if !simulated {
        // Time for the shutdown to reach the agents; simulated nodes have none.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Waits for backend actions still in flight (the lock is fair).
    let teardown = running.backend.lock().await.teardown().await;
    if opts.out_dir.is_none() {
        let _ = std::fs::remove_dir_all(&host_state);
    }
    let (mut report, live) = result?;
    // The report is written before the dashboard is left, so that closing
    // the terminal or never pressing q loses nothing.
    let written = teardown
        .context("removing the run's agents failed")
        .and_then(|()| complete(&mut report, exp, &running, seed, duration, opts));
    if let (Ok(()), Some(dir)) = (&written, &opts.out_dir) {
        live.report_written(&dir.join("report.html"));
    }
    // A run stopped by a signal or by quitting the dashboard ends now.
    let linger = if report.interrupted { Duration::ZERO } else { opts.metrics_linger };
    let summary =
        (opts.summary && written.is_ok()).then(|| crate::summary::render(&report, opts.out_dir.as_deref()));
    if let (Some(text), false) = (&summary, opts.tui) {
        print!("{text}");
    }
    live.finish(&mut stop, linger).await;
    if let (Some(text), true) = (&summary, opts.tui) {
        print!("{text}");
    }
    written?;
    if let Some(e) = running.recorder.take_event_error() {
        opts.progress.line(&format!("warning: writing events.jsonl failed: {e}"));
    }
    let world = running.sim.take().map(|w| w.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner));
    let delivered = world.as_ref().map(|w| w.sim.delivered);
    let simulated = world.as_ref().zip(sim_from).map(|(w, from)| w.sim.now().since(from));
    Ok(RunOutcome { report, out_dir: opts.out_dir.clone(), delivered, simulated })
}

/// Fill in what the recorder cannot know, judge `expect:`, and write
/// report.json and report.html.
fn complete(
    report: &mut Report,
    exp: &Experiment,
    running: &Running<'_>,
    seed: u64,
    duration: Duration,
    opts: &RunOptions,
) -> Result<()> {
    report.experiment = exp.name.clone();
    report.concept = exp.concept.clone();
    report.control = opts.control.clone();
    report.seed = seed;
    report.backend = running.backend_name.to_string();
    report.run_id = running.id.run_id.clone();
    report.availability_model = exp.availability_model();
    report.schedule_drawn = exp.schedule_drawn(seed, duration);
    report.availability_model_with_restart = exp
        .repair_model()
        .zip(running.recorder.mean_restart_seconds())
        .map(|((mttf, mttr), restart)| mttf / (mttf + mttr + restart));
    report::evaluate(report, &exp.expect)?;
    if let Some(dir) = &opts.out_dir {
        report::write(dir, report)?;
    }
    Ok(())
}

/// Ctrl-C, SIGTERM and SIGHUP (the terminal was closed), listened for from
/// the start of a run so that an interrupt at any point ends in an orderly
/// teardown and a complete report.
pub struct Stop {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Stop {
    /// Start listening (from now on the signals no longer kill the process).
    pub fn new() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Wait for either signal.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// The monotonic instant `ago` before now.
fn before_now(ago: Duration) -> Time {
    let now = monotonic_now();
    Time::from_nanos(now.as_nanos().saturating_sub(u64::try_from(ago.as_nanos()).unwrap_or(u64::MAX)))
}
