//! The command line: `faultlab run | validate | clean | agent ...`.

use crate::backend::BackendChoice;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// faultlab: inject faults into a cluster of node agents and measure availability,
/// reliability and recovery time.
#[derive(Debug, Parser)]
#[command(name = "faultlab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment: deploy the agents, inject its faults, report the numbers.
    Run(RunArgs),
    /// Check experiment files without running them.
    Validate {
        /// Experiment files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Remove every container, network and volume labelled faultlab.*.
    Clean,
    /// Measure voted requests per second and latency of TMR with no faults.
    Bench {
        /// Requests kept outstanding (repeat for several points).
        #[arg(long = "window", default_values_t = vec![1usize, 16, 64])]
        windows: Vec<usize>,
        /// Seconds per point.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Where the agents run.
        #[arg(long, value_enum, default_value = "process")]
        backend: BackendChoice,
        /// The tmr-limit reference binary, run at the same windows for a ratio.
        #[arg(long)]
        tmr_limit: Option<PathBuf>,
        /// Measure deploy time on docker (N agents, beside docker-compose) instead.
        #[arg(long)]
        deploy: bool,
        /// Agent counts for --deploy.
        #[arg(long = "nodes", default_values_t = vec![3usize, 5, 10])]
        nodes: Vec<usize>,
    },
    /// A sandbox: deploy the experiment's topology with no schedule and inject faults by hand.
    Up(RunArgs),
    /// Run a node agent (started by the orchestrator, not by hand).
    #[command(hide = true)]
    Agent {
        /// Address to listen on for the orchestrator.
        #[arg(long)]
        control: std::net::SocketAddr,
        /// Exit when the orchestrator is silent this long.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        watchdog: Duration,
    },
}

/// Options of `faultlab run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Where agents run (overrides the file).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Seed of every random decision (overrides the file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory for report.json and events.jsonl [default: out/<experiment>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run for this long instead of the file's duration; later faults are skipped.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Open the live dashboard (keys inject faults by hand).
    #[arg(long)]
    pub tui: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Parse a humane duration (`250ms`, `30s`, `2m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    faults::Dur::parse(s).map(|d| d.0)
}

/// Run the command; the exit code says whether every expectation held.
pub fn main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Agent { control, watchdog } => {
            let token = std::env::var(node_agent::proto::TOKEN_ENV)
                .with_context(|| format!("{} is not set", node_agent::proto::TOKEN_ENV))?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(node_agent::run(node_agent::AgentArgs { control, token, watchdog }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { files } => {
            let mut bad = 0;
            for f in &files {
                match crate::experiment::load(f) {
                    Ok(exp) => println!(
                        "{}: ok ({} nodes, {} faults)",
                        f.display(),
                        exp.topology.nodes.len(),
                        exp.faults.len()
                    ),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Run(args) => run(args, false),
        Command::Up(args) => run(args, true),
        Command::Bench { deploy: true, nodes, .. } => {
            let exe = std::env::current_exe().context("cannot find the faultlab executable")?;
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let points = rt.block_on(crate::bench::deploy::run(&exe, &nodes))?;
            print!("{}", crate::bench::deploy::render(&points));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { windows, seconds, backend, tmr_limit, .. } => {
            let opts = crate::bench::BenchOptions {
                windows,
                seconds,
                backend,
                agent_exe: std::env::current_exe().context("cannot find the faultlab executable")?,
                limit: tmr_limit,
            };
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let points = rt.block_on(crate::bench::run(&opts))?;
            print!("{}", crate::bench::render(&points, &format!("{backend:?}").to_lowercase()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = rt.block_on(crate::backend::docker::clean_all())?;
            println!(
                "removed {} containers, {} networks, {} volumes labelled faultlab.*",
                report.containers, report.networks, report.volumes
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(args: RunArgs, sandbox: bool) -> Result<ExitCode> {
    let exp = crate::experiment::load(&args.experiment)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("out").join(&exp.name));
    // A sandbox runs until it is stopped (q, Ctrl-C), unless told otherwise.
    let duration = match (sandbox, args.duration) {
        (true, None) => Some(Duration::from_secs(24 * 3600)),
        (_, d) => d,
    };
    let opts = crate::run::RunOptions {
        agent_exe: std::env::current_exe().context("cannot find the faultlab executable")?,
        out_dir: Some(out),
        backend: args.backend,
        seed: args.seed,
        duration,
        progress: if args.tui { crate::run::Progress::quiet() } else { crate::run::Progress::detect() },
        watchdog: Duration::from_secs(10),
        window: 0,
        tui: args.tui,
        metrics_addr: args.metrics_addr,
        sandbox,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = rt.block_on(crate::run::run(&exp, &opts))?;
    if sandbox {
        print!("{}", crate::summary::render(&outcome.report, outcome.out_dir.as_deref()));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", crate::summary::render(&outcome.report, outcome.out_dir.as_deref()));
    Ok(if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
