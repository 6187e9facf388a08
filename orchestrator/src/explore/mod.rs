//! `faultlab explore FILE`: search the schedules of an experiment's workload
//! instead of sampling them, and show the trace that breaks it.
//!
//! The experiment file gives the workload, its nodes and the faults the
//! search may choose: the nodes its `crash` faults name may crash (as many
//! crashes as the file has crash entries), the nodes its `byzantine` faults
//! name may lie (as many as the workload's traitors). Each workload supported
//! states its invariants in its own module. The search runs on the bare
//! workload nodes (no interposer), in [`driver::explore`].

mod byzantine;
mod chart;
mod commit;
mod paxos;
pub mod replay;
mod rpc;
mod tmr;

use crate::experiment::{Experiment, FaultKind, Selection, Workload};
use crate::workload::RunView;
use anyhow::{bail, Context, Result};
use driver::explore::{
    self, Bounds, Choice, Faults, Finding, Invariant, Lie, Model, Report, Stats, Strategy,
};
use std::fmt::Debug;
use std::hash::Hash;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workloads::any::AnyConfig;
use workloads::{Node, NodeId};

/// The search order, as the command line names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    /// Breadth-first: the first trace found is a shortest one.
    Bfs,
    /// Depth-first.
    Dfs,
    /// Seeded random walks.
    Random,
}

/// Options of `faultlab explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// The experiment file.
    pub file: PathBuf,
    /// The search order.
    #[arg(long, value_enum, default_value = "bfs")]
    pub strategy: StrategyArg,
    /// At most this many steps along one path.
    #[arg(long, default_value_t = 40)]
    pub depth: usize,
    /// At most this many distinct states.
    #[arg(long, default_value_t = 1_000_000)]
    pub states: usize,
    /// At most this much wall time.
    #[arg(long, default_value = "30s", value_parser = crate::cli::parse_duration)]
    pub time: Duration,
    /// Seed of the random walks (default: the file's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Messages the search may drop along one path [default: one per
    /// omission fault of the file].
    #[arg(long)]
    pub drops: Option<usize>,
    /// Messages arrive within this long (overrides the workload's bound,
    /// which its timeouts assume).
    #[arg(long, value_parser = crate::cli::parse_duration)]
    pub max_delay: Option<Duration>,
    /// Where trace.json goes when something is found [default: out/<experiment>-explore].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The nodes' names, for an invariant's words: shared, and left out of the
/// state's fingerprint (they are the same in every state).
#[derive(Clone)]
pub(crate) struct Names(Arc<Vec<String>>);

impl std::hash::Hash for Names {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("names")
    }
}

impl Names {
    /// The names of `exp`'s nodes.
    pub fn of_nodes(exp: &Experiment) -> Names {
        Names(Arc::new(exp.topology.nodes.iter().map(|n| n.name.clone()).collect()))
    }

    /// The name of node `id`.
    pub fn of(&self, id: NodeId) -> String {
        self.0.get(usize::from(id.0)).cloned().unwrap_or_else(|| id.to_string())
    }
}

/// A workload as the explorer runs it: its nodes, its invariant, its timing.
pub(crate) struct Setup<N, I> {
    pub model: Model<N, I>,
    /// What the invariant checks, in words, for the verdict.
    pub checks: &'static str,
}

/// Run `faultlab explore`: 0 when nothing is found within the bounds, 1 when
/// a violation or a state the file asks to reach is found, 2 on bad input.
pub fn run(args: &ExploreArgs) -> Result<ExitCode> {
    let exp = match crate::experiment::load(&args.file) {
        Ok(exp) => exp,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bounds = Bounds { depth: args.depth, states: args.states.max(1), time: args.time };
    let strategy = match args.strategy {
        StrategyArg::Bfs => Strategy::Bfs,
        StrategyArg::Dfs => Strategy::Dfs,
        StrategyArg::Random => Strategy::Random { seed: args.seed.unwrap_or(exp.seed) },
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(format!("{}-explore", exp.name)));
    let options = Options { drops: args.drops, max_delay: args.max_delay };
    let search = Search { exp: &exp, options, bounds, strategy, out: &out };
    match dispatch(&exp, options, search)? {
        Some(code) => Ok(code),
        None => {
            eprintln!("{}", unsupported(&args.file, &exp));
            Ok(ExitCode::from(2))
        }
    }
}

/// Why explore cannot run `exp`'s workload.
fn unsupported(file: &Path, exp: &Experiment) -> String {
    format!(
        "{}: explore does not support workload `{}` yet (supported: byzantine-agreement, commit, rpc, paxos, tmr)",
        file.display(),
        exp.workload.plugin().kind()
    )
}

/// What the command line changes in the model the file describes; a trace
/// keeps them, so that its replay builds the same model.
#[derive(Copy, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Options {
    /// Messages the search may drop along one path (default: the file's omissions).
    pub drops: Option<usize>,
    /// The bound on message delay (default: the workload's).
    #[serde(default, with = "humantime_option")]
    pub max_delay: Option<Duration>,
}

/// `Option<Duration>` as nanoseconds in trace.json.
mod humantime_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_nanos))
    }
}

/// What to do with a workload's setup, whatever its node and invariant types.
pub(crate) trait WithSetup {
    type Out;
    fn with<N, I>(self, setup: Setup<N, I>) -> Result<Self::Out>
    where
        N: Node + Clone + Hash,
        N::Msg: Hash + PartialEq,
        I: Invariant;
}

/// Build the setup of `exp`'s workload (with `options` applied) and hand it
/// to `then`; `None` when explore does not support the workload.
pub(crate) fn dispatch<W: WithSetup>(exp: &Experiment, options: Options, then: W) -> Result<Option<W::Out>> {
    let faults = faults_of(exp, options.drops);
    let view = RunView { topology: &exp.topology, seed: exp.seed, window: 0 };
    let config = match exp.topology.nodes.first() {
        Some(node) => exp.workload.plugin().agent_config(&view, node),
        None => bail!("{}: the experiment has no nodes", exp.path.display()),
    };
    fn delayed<N, I>(mut setup: Setup<N, I>, options: Options) -> Setup<N, I> {
        if options.max_delay.is_some() {
            setup.model.faults.max_delay = options.max_delay;
        }
        setup
    }
    let out = match (&exp.workload, config) {
        (Workload::Byzantine(p), AnyConfig::Byzantine(config)) => {
            then.with(delayed(byzantine::setup(exp, p, &config, faults), options))?
        }
        (Workload::Commit(_), AnyConfig::Commit(config)) => {
            then.with(delayed(commit::setup(exp, &config, faults), options))?
        }
        (Workload::Rpc(_), AnyConfig::Rpc(config)) => {
            then.with(delayed(rpc::setup(exp, &config, faults), options))?
        }
        (Workload::Paxos(_), AnyConfig::Paxos(config)) => {
            then.with(delayed(paxos::setup(exp, &config, faults), options))?
        }
        (Workload::Tmr(_), AnyConfig::Tmr(config)) => {
            then.with(delayed(tmr::setup(exp, &config, faults), options))?
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// The faults the file lets the search choose.
fn faults_of(exp: &Experiment, drops: Option<usize>) -> Faults {
    let omissions = exp.faults.iter().filter(|f| f.kind == FaultKind::Omission).count();
    let mut faults = Faults { drops: drops.unwrap_or(omissions), ..Faults::default() };
    for f in &exp.faults {
        let targets = match &f.selection {
            Selection::Nodes(ids) => ids.clone(),
            Selection::Random { candidates, .. } => candidates.clone(),
            Selection::Link { .. } | Selection::Groups { .. } => Vec::new(),
        };
        let into = match f.kind {
            FaultKind::Crash => {
                faults.crashes += 1;
                &mut faults.crashable
            }
            FaultKind::Byzantine => &mut faults.liars,
            _ => continue,
        };
        for t in targets {
            if !into.contains(&t) {
                into.push(t);
            }
        }
    }
    faults.crashes = faults.crashes.min(faults.crashable.len());
    faults
}

/// A search of the schedules, its verdict printed and its trace written.
struct Search<'a> {
    exp: &'a Experiment,
    options: Options,
    bounds: Bounds,
    strategy: Strategy,
    out: &'a Path,
}

impl WithSetup for Search<'_> {
    type Out = ExitCode;

    fn with<N, I>(self, setup: Setup<N, I>) -> Result<ExitCode>
    where
        N: Node + Clone + Hash,
        N::Msg: Hash + PartialEq,
        I: Invariant,
    {
        let Search { exp, options, bounds, strategy, out } = self;
        let names: Vec<String> = exp.topology.nodes.iter().map(|n| n.name.clone()).collect();
        let name = |id: NodeId| names.get(usize::from(id.0)).cloned().unwrap_or_else(|| id.to_string());
        let f = &setup.model.faults;
        let list = |ids: &[NodeId]| ids.iter().map(|&i| name(i)).collect::<Vec<_>>().join(", ");
        println!(
            "exploring {} ({}, {} nodes): {}",
            exp.name,
            exp.workload.plugin().kind(),
            names.len(),
            setup.checks
        );
        println!(
            "  faults: {} drop(s); {} crash(es) of [{}]; {} traitor(s) among [{}]; {}",
            f.drops,
            f.crashes,
            list(&f.crashable),
            f.traitors.min(f.liars.len()),
            list(&f.liars),
            f.max_delay.map_or("asynchronous".to_string(), |d| format!("messages arrive within {d:?}"))
        );
        let started = Instant::now();
        let mut progress = |s: &Stats| {
            eprintln!(
                "  {} states, {:.0} states/s, depth {}, queue {}",
                s.states,
                s.states_per_second(),
                s.depth,
                s.frontier
            );
        };
        let report = explore::explore(&setup.model, bounds, strategy, &mut progress);
        let s = report.stats;
        let figures = format!(
            "{} states, {} transitions, depth {}, {:.2} s, {:.0} states/s",
            s.states,
            s.transitions,
            s.depth,
            started.elapsed().as_secs_f64(),
            s.states_per_second()
        );
        let Some(found) = &report.found else {
            let how = match (report.stopped, report.depth_cut) {
                (Some(explore::Stop::States), _) => format!("stopped at the state bound ({})", bounds.states),
                (Some(explore::Stop::Time), _) => format!("stopped at the time bound ({:?})", bounds.time),
                (Some(explore::Stop::Stale), _) => "the random walks stopped finding new states".to_string(),
                (None, true) => format!("every state within depth {} checked", bounds.depth),
                (None, false) => "every reachable state checked".to_string(),
            };
            println!("no violation within bounds: {figures}; {how}");
            return Ok(ExitCode::SUCCESS);
        };
        let label = label(&found.finding);
        println!("{label}: {}", found.finding.what());
        println!("  after {} steps ({figures}):", found.trace.len());
        print_steps(&names, &found.trace);
        let path = write_trace(out, exp, options, &names, &report, label)?;
        println!("  trace written to {}", path.display());
        let chart = out.join("explore.html");
        let title = format!("{}: the trace explore found", exp.name);
        let html = chart::page(&title, &format!("{label}: {}", found.finding.what()), &names, &found.trace);
        std::fs::write(&chart, html).with_context(|| format!("cannot write {}", chart.display()))?;
        println!("  drawn as a Lamport diagram in {}", chart.display());
        println!("  replay it with: faultlab run --replay {}", path.display());
        Ok(ExitCode::from(1))
    }
}

/// How a finding is labelled: a broken property, or a state the file asks to reach.
fn label(finding: &Finding) -> &'static str {
    match finding {
        Finding::Violation(_) => "violation",
        Finding::Reached(_) => "finding",
    }
}

/// Print a trace's steps, numbered, with what the nodes observed.
fn print_steps<M: Debug>(names: &[String], trace: &[explore::Step<M>]) {
    let name = |id: NodeId| names.get(usize::from(id.0)).cloned().unwrap_or_else(|| id.to_string());
    for (i, step) in trace.iter().enumerate() {
        let line = match &step.choice {
            Choice::Deliver { from, to, msg, lie } => {
                let lie = match lie {
                    Lie::Truth => String::new(),
                    Lie::Collude => "  [lie: collude]".into(),
                    Lie::Equivocate => "  [lie: equivocate]".into(),
                };
                format!("{} → {}: {msg:?}{lie}", name(*from), name(*to))
            }
            Choice::Drop { from, to, msg } => format!("{} → {}: {msg:?}  [dropped]", name(*from), name(*to)),
            Choice::Timer { node, timer, at } => {
                // Protocols number their own timers; the large ones are named from u64::MAX down.
                let id = match u64::MAX - timer.0 {
                    0 => "MAX".to_string(),
                    k if k < 1 << 16 => format!("MAX-{k}"),
                    _ => timer.0.to_string(),
                };
                format!("{}: timer {id} fires at {:?}", name(*node), at.since(workloads::Time::ZERO))
            }
            Choice::Crash { node } => format!("{} crashes", name(*node)),
        };
        println!("  {:>3}. {line}", i + 1);
        for (node, obs) in &step.observations {
            println!("         {} observes {obs:?}", name(*node));
        }
    }
}

/// Write `out/trace.json`: the finding, the figures, the nodes' names and the steps.
fn write_trace<M: serde::Serialize>(
    out: &Path,
    exp: &Experiment,
    options: Options,
    names: &[String],
    report: &Report<M>,
    label: &str,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("trace.json");
    // The experiment by its full path, so that a replay from elsewhere finds it.
    let experiment = std::fs::canonicalize(&exp.path).unwrap_or_else(|_| exp.path.clone());
    let doc = serde_json::json!({
        "experiment": experiment,
        "options": options,
        "workload": exp.workload.plugin().kind(),
        "verdict": label,
        "found": report.found,
        "nodes": names,
        "stats": report.stats,
    });
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut file, &doc)?;
    writeln!(file)?;
    Ok(path)
}
