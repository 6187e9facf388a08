//! Single-decree Paxos, one decree per instance.

mod section;

/// Its section's key in report.json.
const KEY: &str = "paxos";

use super::{Describe, Plugin, RunView, Validate, Workload};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::{NodeSpec, Topology};
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::paxos::{Config, Leader};
use workloads::DetectorConfig;

/// Who may propose, as written.
#[derive(Copy, Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaderFile {
    /// Every proposer proposes (they may duel).
    None,
    /// The lowest proposer no failure detector suspects.
    Elected,
}

/// `workload:` of the Paxos workload, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaxosFile {
    /// How many proposers (also the learners).
    pub proposers: Option<u16>,
    /// How many acceptors.
    pub acceptors: Option<u16>,
    /// `none` (every proposer proposes) or `elected` (through the detectors).
    pub leader: Option<LeaderFile>,
    /// A new instance (decree) begins this often.
    pub interval: Option<Dur>,
    /// A round not accepted in this long is tried again, higher.
    pub retry: Option<Dur>,
    /// Teaching bugs to switch on: `acceptor-forgets-promise`.
    pub bugs: Option<Vec<BugFile>>,
}

/// The teaching bugs, as written.
#[derive(Copy, Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BugFile {
    /// An acceptor accepts ballots it promised not to.
    AcceptorForgetsPromise,
}

/// Parameters of the Paxos workload (the nodes are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct PaxosParams {
    pub config: Config,
}

impl Describe for PaxosParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
        Meaning::of("paxos.instances", "decrees begun during the run (one every `interval`)"),
        Meaning::of("paxos.decided", "instances in which a learner saw a value chosen (a majority of acceptors accepted it in one ballot)"),
        Meaning::of("paxos.undecided", "instances begun that no learner saw decided by the end (with the drain after it)"),
        Meaning::of("paxos.rounds", "rounds (phase 1 with a new ballot) the proposers began"),
        Meaning::of("paxos.failed_rounds", "rounds refused by an acceptor that had promised a higher ballot, or not accepted in time: dueling proposers preempt each other"),
        Meaning::of("paxos.rounds_per_decision", "rounds begun per instance decided: 1 with a lone leader, more when proposers duel"),
        Meaning::of("paxos.decide_seconds", "from an instance's first round to the first learner seeing its value chosen"),
        Meaning::of("paxos.longest_wait_seconds", "the longest stretch of the run in which an instance was open and none was decided: a majority of acceptors down stops every decision"),
        Meaning::of("paxos.agreement_violations", "instances in which two learners saw different values chosen: Paxos never allows it, whatever fails"),
        Meaning::of("paxos.validity_violations", "values chosen that no proposer proposes in that instance (each proposes its own)"),
        Meaning::of("paxos.leader_changes", "times a proposer took over as leader (`leader: elected`)"),
    ];
    const WATCH: &str = "- All along: decided against undecided, and rounds per decision: 1 with one leader.\n\
        - When acceptors crash: fewer than half down, every instance still decides; half or more, nothing decides until they return (longest_wait_seconds), and it decides after.\n\
        - When proposers duel: failed rounds climb, decisions come late or not at all (Paxos gives up termination), and agreement_violations stays 0 (never agreement).";
}

impl Plugin for PaxosParams {
    fn kind(&self) -> &'static str {
        "paxos"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Paxos(Config {
            proposers: run.ids(&["proposer"]),
            acceptors: run.ids(&["acceptor"]),
            ..self.config.clone()
        })
    }

    /// An instance begun just before the end is given one interval to decide.
    fn deadline(&self) -> Duration {
        self.config.interval
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.set_section(KEY, Box::new(section::PaxosRecorder::new(run.ids(&["proposer"]))));
    }
}

impl Validate for PaxosFile {
    const DETECTOR: bool = true;

    /// `kind: paxos`: proposers (learners too) and acceptors.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let proposers = self.proposers.unwrap_or(2);
        let acceptors = self.acceptors.unwrap_or(5);
        if proposers == 0 {
            return Err(cx.value_err("workload.proposers", "paxos needs at least one proposer"));
        }
        if acceptors == 0 {
            return Err(cx.value_err("workload.acceptors", "paxos needs at least one acceptor"));
        }
        let interval = cx.positive_dur("interval", self.interval, Duration::from_millis(200))?;
        let retry = cx.positive_dur("retry", self.retry, Duration::from_millis(30))?;
        let leader = match self.leader {
            Some(LeaderFile::None) => Leader::None,
            Some(LeaderFile::Elected) | None => Leader::Elected,
        };
        let bugs = self
            .bugs
            .iter()
            .flatten()
            .map(|b| match b {
                BugFile::AcceptorForgetsPromise => workloads::paxos::Bug::AcceptorForgetsPromise,
            })
            .collect();
        let config =
            Config { proposers: Vec::new(), acceptors: Vec::new(), leader, interval, retry, detector, bugs };
        let topology = Topology::from_roles(&[
            ("proposer", usize::from(proposers)),
            ("acceptor", usize::from(acceptors)),
        ]);
        Ok((Workload::Paxos(PaxosParams { config }), topology))
    }
}
