//! `faultlab run --replay TRACE`: take the steps of a trace explore wrote
//! again, on the same simulated world of bare nodes the search ran (the
//! experiment the trace names, with the command-line options the search
//! had), and check the workload's invariant after every step. A trace that
//! still breaks the property ends as the search did: the same words, exit
//! code 1.

use super::{dispatch, label, print_steps, Options, Setup, WithSetup};
use crate::experiment::Experiment;
use anyhow::{Context, Result};
use driver::explore::{self, Choice, Finding, Invariant};
use serde::Deserialize;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workloads::Node;

/// trace.json as explore writes it (the parts a replay needs).
#[derive(Deserialize)]
struct TraceFile {
    experiment: PathBuf,
    #[serde(default)]
    options: Options,
    found: Option<FoundFile>,
}

#[derive(Deserialize)]
struct FoundFile {
    finding: Finding,
    trace: Vec<StepFile>,
}

#[derive(Deserialize)]
struct StepFile {
    choice: serde_json::Value,
}

/// Replay the trace in `path`; the chart of the replayed steps goes to `out`
/// (default: out/<experiment>-replay). 1 when the replay ends in a finding,
/// 0 when the invariant holds along the whole trace, 2 when the trace is not
/// one of the experiment's.
pub fn run(path: &Path, out: Option<&Path>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: TraceFile = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: not a trace explore wrote: {e}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let Some(found) = file.found else {
        eprintln!("{}: the trace records no finding to replay", path.display());
        return Ok(ExitCode::from(2));
    };
    let exp = match crate::experiment::load(&file.experiment) {
        Ok(exp) => exp,
        Err(e) => {
            eprintln!("{}: the experiment it names cannot be loaded: {e}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let out =
        out.map_or_else(|| PathBuf::from("out").join(format!("{}-replay", exp.name)), Path::to_path_buf);
    let replay = Replay { exp: &exp, trace: path, found, out: &out };
    match dispatch(&exp, file.options, replay)? {
        Some(code) => Ok(code),
        None => {
            eprintln!("{}", super::unsupported(&file.experiment, &exp));
            Ok(ExitCode::from(2))
        }
    }
}

struct Replay<'a> {
    exp: &'a Experiment,
    trace: &'a Path,
    found: FoundFile,
    out: &'a Path,
}

impl WithSetup for Replay<'_> {
    type Out = ExitCode;

    fn with<N, I>(self, setup: Setup<N, I>) -> Result<ExitCode>
    where
        N: Node + Clone + Hash,
        N::Msg: Hash + PartialEq,
        I: Invariant,
    {
        let Replay { exp, trace, found, out } = self;
        let mut choices: Vec<Choice<N::Msg>> = Vec::with_capacity(found.trace.len());
        for (i, step) in found.trace.into_iter().enumerate() {
            match serde_json::from_value(step.choice) {
                Ok(c) => choices.push(c),
                Err(e) => {
                    eprintln!(
                        "{}: step {} is not a step of workload `{}`: {e}",
                        trace.display(),
                        i + 1,
                        exp.workload.plugin().kind()
                    );
                    return Ok(ExitCode::from(2));
                }
            }
        }
        println!(
            "replaying {} ({} steps) on {} ({}): {}",
            trace.display(),
            choices.len(),
            exp.name,
            exp.workload.plugin().kind(),
            setup.checks
        );
        let replayed = match explore::replay(&setup.model, &choices) {
            Ok(r) => r,
            Err(d) => {
                eprintln!("{}: {d}", trace.display());
                return Ok(ExitCode::from(2));
            }
        };
        let names: Vec<String> = exp.topology.nodes.iter().map(|n| n.name.clone()).collect();
        print_steps(&names, &replayed.trace);
        let Some((at, finding)) = replayed.found else {
            println!(
                "no violation: the invariant holds along all {} steps (the search found: {})",
                choices.len(),
                found.finding.what()
            );
            return Ok(ExitCode::SUCCESS);
        };
        let label = label(&finding);
        println!("{label}: {}", finding.what());
        if finding == found.finding && at == choices.len() {
            println!("  after {at} steps, as the search found");
        } else {
            println!(
                "  after {at} of {} steps; the search found instead: {}",
                choices.len(),
                found.finding.what()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let chart = out.join("explore.html");
        let title = format!("{}: the trace replayed", exp.name);
        let html =
            super::chart::page(&title, &format!("{label}: {}", finding.what()), &names, &replayed.trace);
        std::fs::write(&chart, html).with_context(|| format!("cannot write {}", chart.display()))?;
        println!("  drawn as a Lamport diagram in {}", chart.display());
        Ok(ExitCode::from(1))
    }
}
