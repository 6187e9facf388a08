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
    /// Remove the containers, networks and volumes of runs whose orchestrator
    /// is gone (live runs are left alone), and list what was removed.
    Clean {
        /// Remove every run's objects, live runs included (asks first).
        #[arg(long)]
        all: bool,
        /// With --all: do not ask (needed when there is no terminal to ask on).
        #[arg(long)]
        yes: bool,
    },
    /// The experiment library, one line per file: file, duration, concept.
    List {
        /// The library directory.
        #[arg(default_value = "experiments")]
        dir: PathBuf,
    },
    /// The seed's "message logging at a glance" table, measured: a
    /// checkpointing experiment run once per protocol under its crash and
    /// once without its faults; blocking, messages and bytes added, output
    /// commit, recovery time, rollback extent, orphans and golden match, on
    /// the terminal and in <out>/table.html. Exit code 1 when a protocol
    /// missed the golden run or a run was invalid.
    Table {
        /// A `kind: checkpointing` experiment with a crash.
        #[arg(default_value = "experiments/checkpoint-table.yaml")]
        file: PathBuf,
        /// Where the runs happen.
        #[arg(long, value_enum, default_value = "sim")]
        backend: BackendChoice,
        /// Seed of every run (overrides the file).
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory [default: out/<experiment>-table].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Explain an experiment: the concept, what to watch, what the numbers should show.
    Explain {
        /// The experiment file.
        file: PathBuf,
    },
    /// Rebuild DIR/report.html from DIR/report.json and DIR/events.jsonl
    /// (and report.json itself from events.jsonl when it is missing, as after
    /// the orchestrator was killed: marked `rebuilt`, with what it lacks).
    /// A DIR/history.jsonl is checked again, and its verdict replaces
    /// report.json's `linearizability` (and re-judges `expect:` on it).
    Report {
        /// A run's output directory.
        dir: PathBuf,
    },
    /// Search the schedules of an experiment's workload instead of sampling
    /// them (model checking): every delivery, drop, timer and the file's
    /// faults are choices. Exit code 0: nothing found within the bounds;
    /// 1: a violation (or a state the file asks for) found, its trace in
    /// <out>/trace.json; 2: bad input.
    Explore(crate::explore::ExploreArgs),
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
        /// Measure deploy time on docker (N agents, beside docker-compose) instead;
        /// with --backend swarm, on swarm too, beside docker.
        #[arg(long)]
        deploy: bool,
        /// Measure how exactly a fixed delay is injected instead: the same
        /// open-loop load without and with this delay on the replica -> voter
        /// links, and how far the added p50 and p99 are from it.
        #[arg(long, value_parser = parse_duration)]
        delay: Option<Duration>,
        /// Agent counts for --deploy.
        #[arg(long = "nodes", default_values_t = vec![3usize, 5, 10])]
        nodes: Vec<usize>,
        /// Measure the sim backend instead, on one core: message deliveries
        /// and simulated seconds per wall second for TMR at 2,000 requests/s
        /// (60 simulated s) and heartbeat meshes of 50 (60 s) and 200 nodes (10 s).
        #[arg(long, conflicts_with_all = ["deploy", "delay", "tmr_limit"])]
        sim: bool,
        /// Measure the linearizability checker instead: a generated history of
        /// 100,000 operations by 8 clients over 100 keys, and the time as more
        /// clients share one key.
        #[arg(long, conflicts_with_all = ["deploy", "delay", "tmr_limit", "sim"])]
        checker: bool,
        /// Measure the model checker instead: states per second of `faultlab
        /// explore` on OM(1) with four and with five generals, every state checked.
        #[arg(long, conflicts_with_all = ["deploy", "delay", "tmr_limit", "sim", "checker"])]
        explore: bool,
        /// With --sim: scale the simulated durations by this factor.
        #[arg(long, default_value_t = 1.0, requires = "sim")]
        sim_scale: f64,
        /// With --sim: write events.jsonl and report.json as a run does (into a temporary directory).
        #[arg(long, requires = "sim")]
        sim_events: bool,
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
    #[arg(required_unless_present = "replay")]
    pub experiment: Option<PathBuf>,
    /// Replay a trace `faultlab explore` wrote (trace.json) on the world it
    /// was found in, and check that it breaks the property again.
    #[arg(long, value_name = "TRACE", conflicts_with_all = ["experiment", "repeat", "tui", "no_faults"])]
    pub replay: Option<PathBuf>,
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
    /// With --metrics-addr: go on serving the final values this long after the
    /// run (report.json is written first), so that Prometheus scrapes them; the
    /// default is two of its default 15 s scrape intervals. 0s exits at once, and
    /// so does a run stopped by Ctrl-C; Ctrl-C during the wait ends it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub metrics_linger: Duration,
    /// Run N times (seeds derived from the base seed) and report R(t), MTTF and availability's spread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: Option<u32>,
    /// A fault-free control: run with the file's `faults:` removed. Its `expect:`
    /// should then fail, which shows the faults mattered.
    #[arg(long)]
    pub no_faults: bool,
    /// On the sim backend: run N times faster than real time (1 paces it to the
    /// wall clock, for a class watching --tui) [default: as fast as the CPU
    /// allows; 1 for `faultlab up`].
    #[arg(long, value_name = "N", value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// With --backend swarm on several hosts: push the agent image to this
    /// registry (host:port) so that every swarm node can pull it.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_registry)]
    pub registry: Option<String>,
}

fn parse_registry(s: &str) -> Result<String, String> {
    let ok = s.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a registry; expected host:port, such as 10.0.0.5:5000"))
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a speed; expected a number above zero, such as 1 or 10")),
    }
}

/// What a control run says on its output and in report.json.
const CONTROL_NOTE: &str = "control run: faults removed";

/// Load the experiment the command line names, without its faults for a control run.
fn load_for_run(args: &RunArgs) -> Result<crate::experiment::Experiment> {
    let Some(file) = &args.experiment else {
        anyhow::bail!("no experiment file given");
    };
    let mut exp = crate::experiment::load(file)?;
    if args.no_faults {
        exp.faults.clear();
    }
    Ok(exp)
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
        Command::List { dir } => {
            let entries = crate::library::entries(&dir)
                .with_context(|| format!("cannot list the library {}", dir.display()))?;
            print!("{}", crate::library::render_list(&entries));
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { file } => {
            let exp = crate::experiment::load(&file)?;
            print!("{}", crate::library::explain(&exp));
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir } => {
            if let Some(path) = crate::html::rebuild_report_if_missing(&dir)? {
                eprintln!(
                    "{} was missing: rebuilt from events.jsonl (see its `rebuilt` object)",
                    path.display()
                );
            }
            if let Some(verdict) = crate::report::recheck_history(&dir)? {
                eprintln!(
                    "history.jsonl checked again: {}",
                    crate::recorder::history::verdict_text(&verdict)
                );
            }
            let out = crate::html::write_for_dir(&dir)?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Explore(args) => crate::explore::run(&args),
        Command::Table { file, backend, seed, out } => table(&file, backend, seed, out),
        Command::Run(RunArgs { replay: Some(trace), out, .. }) => {
            crate::explore::replay::run(&trace, out.as_deref())
        }
        Command::Run(args) if args.repeat.is_some_and(|n| n > 1) => run_repeated(args),
        Command::Run(args) => run(args, false),
        Command::Up(args) => run(args, true),
        Command::Bench { explore: true, .. } => {
            print!("{}", crate::bench::explore::render(&crate::bench::explore::run()?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { checker: true, .. } => {
            print!("{}", crate::bench::checker::render(&crate::bench::checker::run()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { sim: true, sim_scale, sim_events, .. } => {
            // One core: a current-thread runtime, every run on this thread.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut points = Vec::new();
            let scratch = std::env::temp_dir().join(format!("faultlab-bench-sim-{}", std::process::id()));
            for s in crate::bench::sim::scenarios(sim_scale) {
                let out = sim_events.then(|| scratch.join(s.name.replace([' ', ','], "-")));
                let point = rt.block_on(crate::bench::sim::measure(&s, out));
                if sim_events {
                    let _ = std::fs::remove_dir_all(&scratch);
                }
                points.push(point?);
            }
            print!("{}", crate::bench::sim::render(&points, sim_events));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { deploy: true, nodes, backend, .. } => {
            let exe = std::env::current_exe().context("cannot find the faultlab executable")?;
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let swarm = backend == BackendChoice::Swarm;
            let points = rt.block_on(crate::bench::deploy::run(&exe, &nodes, swarm))?;
            print!("{}", crate::bench::deploy::render(&points));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { windows, seconds, backend, tmr_limit, delay, .. } => {
            let opts = crate::bench::BenchOptions {
                windows,
                seconds,
                backend,
                agent_exe: std::env::current_exe().context("cannot find the faultlab executable")?,
                limit: tmr_limit,
                delay,
            };
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            if let Some(d) = opts.delay {
                // The delay's accuracy instead of the throughput table.
                // Rounds of (without, with) pairs: the host's load drifts
                // between runs, so one pair alone can mislead.
                let mut rounds = Vec::new();
                for _ in 0..crate::bench::DELAY_ROUNDS {
                    rounds.push(rt.block_on(crate::bench::delay_accuracy(&opts, d))?);
                }
                print!("{}", crate::bench::render_delay(&rounds));
                return Ok(ExitCode::SUCCESS);
            }
            let points = rt.block_on(crate::bench::run(&opts))?;
            print!("{}", crate::bench::render(&points, &format!("{backend:?}").to_lowercase()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean { all, yes } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            if all && !yes && !confirm_clean_all(&rt)? {
                println!("nothing removed");
                return Ok(ExitCode::from(1));
            }
            let outcome = rt.block_on(crate::backend::docker::clean(all))?;
            print!("{}", render_clean(&outcome));
            Ok(if outcome.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// Lists every run `clean --all` would remove and asks on the terminal.
/// Without a terminal there is nobody to ask: refused (use --yes).
fn confirm_clean_all(rt: &tokio::runtime::Runtime) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("clean --all removes live runs too; with no terminal to confirm on, pass --yes");
    }
    let runs = rt.block_on(crate::backend::docker::runs())?;
    if runs.is_empty() {
        return Ok(true);
    }
    println!("clean --all removes every faultlab run on this engine, live ones included:");
    for r in &runs {
        println!("  run {}  ({}): {}", r.run, r.owner, r.objects);
    }
    print!("remove all {} runs? [y/N] ", runs.len());
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// What `clean` removed, one line per run, and what it left and why.
fn render_clean(outcome: &crate::backend::docker::CleanOutcome) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for (run, removed) in &outcome.removed {
        let _ = writeln!(s, "removed run {} ({}): {removed}", run.run, run.owner);
    }
    for run in &outcome.kept {
        let _ = writeln!(s, "kept run {} ({}): {}", run.run, run.owner, run.objects);
    }
    for (run, e) in &outcome.failed {
        let _ = writeln!(s, "could not remove run {} ({}): {e}", run.run, run.owner);
    }
    if outcome.removed.is_empty() && outcome.failed.is_empty() {
        let _ = writeln!(s, "nothing to remove");
    }
    if outcome.kept.iter().any(|r| !matches!(r.owner, crate::backend::docker::Owner::Alive { .. })) {
        let _ = writeln!(s, "(`faultlab clean --all` removes the runs kept here too)");
    }
    s
}

/// The run options the command line asks for (a headless run unless --tui).
fn run_options(args: &RunArgs, out: PathBuf) -> Result<crate::run::RunOptions> {
    let exe = std::env::current_exe().context("cannot find the faultlab executable")?;
    Ok(crate::run::RunOptions {
        out_dir: Some(out),
        backend: args.backend,
        seed: args.seed,
        duration: args.duration,
        progress: if args.tui { crate::run::Progress::quiet() } else { crate::run::Progress::detect() },
        tui: args.tui,
        metrics_addr: args.metrics_addr,
        metrics_linger: args.metrics_linger,
        // A control run's report says so, so that its numbers are never taken for the experiment's.
        control: args.no_faults.then(|| CONTROL_NOTE.to_string()),
        speed: args.speed,
        registry: args.registry.clone(),
        ..crate::run::RunOptions::new(exe)
    })
}

fn run(args: RunArgs, sandbox: bool) -> Result<ExitCode> {
    let exp = load_for_run(&args)?;
    if args.no_faults {
        println!("{CONTROL_NOTE}");
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&exp.name));
    // A sandbox runs until it is stopped (q, Ctrl-C), unless told otherwise.
    let duration = match (sandbox, args.duration) {
        (true, None) => Some(Duration::from_secs(24 * 3600)),
        (_, d) => d,
    };
    // A sandbox on sim runs in step with the wall clock unless told
    // otherwise: as fast as the CPU allows, it would be over before a key is pressed.
    let speed = args.speed.or(sandbox.then_some(1.0));
    let opts = crate::run::RunOptions { duration, sandbox, summary: true, speed, ..run_options(&args, out)? };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = rt.block_on(crate::run::run(&exp, &opts))?;
    // A sandbox has no expectations: stopping it is how it ends.
    Ok(if sandbox { ExitCode::SUCCESS } else { ExitCode::from(outcome.verdict().exit_code()) })
}

/// `faultlab run FILE --repeat N`: N runs, then the reliability statistics.
fn run_repeated(args: RunArgs) -> Result<ExitCode> {
    if args.tui {
        anyhow::bail!("--repeat runs headless; drop --tui");
    }
    let exp = load_for_run(&args)?;
    if args.no_faults {
        println!("{CONTROL_NOTE}");
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&exp.name));
    let opts = run_options(&args, out)?;
    let n = args.repeat.unwrap_or(1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = rt.block_on(crate::repeat::run(&exp, &opts, n))?;
    print!("{}", crate::repeat::render_summary(&outcome.report, &outcome.repeat));
    if let Some(d) = &outcome.out_dir {
        println!("  output         {}", d.display());
    }
    let r = &outcome.report;
    let invalid = r.get("interrupted").and_then(serde_json::Value::as_bool) == Some(true)
        || r.get("valid").and_then(serde_json::Value::as_bool) == Some(false);
    Ok(if invalid {
        ExitCode::from(crate::run::Verdict::Invalid.exit_code())
    } else if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::run::Verdict::ExpectationFailed.exit_code())
    })
}

/// `faultlab table`: every protocol under the experiment's crash, and without it.
fn table(
    file: &std::path::Path,
    backend: BackendChoice,
    seed: Option<u64>,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    use crate::workload::checkpoint_table as t;
    let mut exp = crate::experiment::load(file)?;
    if let Some(s) = seed {
        exp.seed = s;
    }
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(format!("{}-table", exp.name)));
    let exe = std::env::current_exe().context("cannot find the faultlab executable")?;
    let opts = crate::run::RunOptions {
        backend: Some(backend),
        seed: Some(exp.seed),
        progress: crate::run::Progress::quiet(),
        ..crate::run::RunOptions::new(exe)
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let rows = rt.block_on(t::measure(&exp, &opts, &out))?;
    let backend = format!("{backend:?}").to_lowercase();
    print!("{}", t::render(&rows, &exp, &backend));
    let page = out.join("table.html");
    std::fs::write(&page, t::html(&rows, &exp, &backend, &out))
        .with_context(|| format!("cannot write {}", page.display()))?;
    println!("  table          {}", page.display());
    let golden = |r: &t::Row| r.crash.get("golden_match").and_then(serde_json::Value::as_bool) == Some(true);
    Ok(if rows.iter().all(|r| r.valid && golden(r)) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
