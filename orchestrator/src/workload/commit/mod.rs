//! Two- and three-phase commit.

mod section;

/// Its section's key in report.json.
const KEY: &str = "commit";

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::CommitProtocol;
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::DetectorConfig;
use workloads::NodeId;

/// `workload:` of the commit workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommitFile {
    /// `2pc` or `3pc`.
    pub protocol: Option<CommitProtocol>,
    /// Participants besides the coordinator.
    pub participants: Option<usize>,
    /// A new transaction every `interval`.
    pub interval: Option<Dur>,
    /// The coordinator's log write between the last vote and the decision.
    pub decide_after: Option<Dur>,
    /// How long a node waits before acting.
    pub timeout: Option<Dur>,
    /// Probability that a participant votes to abort.
    pub abort_probability: Option<f64>,
    /// Teaching bugs to switch on: `participant-presumes-commit`.
    pub bugs: Option<Vec<BugFile>>,
}

/// The teaching bugs, as written.
#[derive(Copy, Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BugFile {
    /// A 2PC participant that times out commits on its own.
    ParticipantPresumesCommit,
}

/// Parameters of the commit workload (the nodes and the seed are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct CommitParams {
    pub participants: usize,
    pub config: workloads::commit::Config,
}

impl Describe for CommitParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("commit.committed", "transactions that committed"),
    Meaning::of("commit.blocked", "participant–transaction pairs that blocked: a participant voted yes and then could neither commit nor abort on its own"),
    Meaning::of("commit.blocked_seconds", "the time participants spent blocked, summed over participants and transactions, in seconds"),
    Meaning::of("commit.max_blocked_seconds", "the longest a participant stayed blocked, in seconds"),
    Meaning::of("commit.inconsistent", "transactions some participants committed and others aborted: atomicity broken"),
    Meaning::of("commit.undecided", "transactions started that no participant had decided by the end of the run: participants left hanging"),
    Meaning::of("commit.hung", "transactions still undecided at the end that had waited longer than any transaction took to be decided: left hanging, not merely in flight"),
    Meaning::of("commit.max_termination_seconds", "the longest from a transaction's start to its decision by the termination protocol: how long participants waited for the silent coordinator"),
    Meaning::of("commit.terminations", "transactions the participants decided among themselves without the coordinator (the termination protocol)"),
    ];
}

impl Plugin for CommitParams {
    fn kind(&self) -> &'static str {
        "commit"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Commit(workloads::commit::Config {
            coordinator: run.first("coordinator"),
            participants: run.ids(&["participant"]),
            seed: run.seed,
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.timeout
    }

    fn prepare(&self, recorder: &mut Recorder, _run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.set_section(KEY, Box::<section::CommitRecorder>::default());
    }
}

impl Validate for CommitFile {
    /// `kind: commit`: `coordinator-1` and `participant-1`... running 2PC or 3PC.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        use workloads::commit::Protocol;
        let protocol = match w.protocol {
            Some(CommitProtocol::TwoPhaseCommit) => Protocol::TwoPhase,
            Some(CommitProtocol::ThreePhaseCommit) => Protocol::ThreePhase,
            None => return Err(cx.value_err("workload.kind", "kind: commit needs `protocol: 2pc | 3pc`")),
        };
        let participants = w.participants.unwrap_or(3);
        if !(2..=16).contains(&participants) {
            return Err(cx.value_err(
                "workload.participants",
                format!("participants must be 2 to 16; got {participants}"),
            ));
        }
        let interval = cx.positive_dur("interval", w.interval, Duration::from_millis(100))?;
        let decide_after = w.decide_after.map_or(Duration::from_millis(250), |d| d.0);
        let timeout = cx.positive_dur("timeout", w.timeout, Duration::from_millis(500))?;
        if decide_after >= timeout {
            return Err(cx.value_err(
                "workload.decide_after",
                format!(
                    "decide_after ({}) must be below the timeout ({}), or participants time out on a live coordinator",
                    Dur(decide_after),
                    Dur(timeout)
                ),
            ));
        }
        let abort_probability = w.abort_probability.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&abort_probability) {
            return Err(cx.value_err(
                "workload.abort_probability",
                format!("abort_probability must be between 0 and 1; got {abort_probability}"),
            ));
        }
        let config = workloads::commit::Config {
            protocol,
            coordinator: NodeId(0),
            participants: Vec::new(),
            interval,
            decide_after,
            timeout,
            abort_probability,
            seed: 0,
            bugs: (w.bugs.iter().flatten())
                .map(|b| match b {
                    BugFile::ParticipantPresumesCommit => workloads::commit::Bug::ParticipantPresumesCommit,
                })
                .collect(),
        };
        let topology = Topology::from_roles(&[("coordinator", 1), ("participant", participants)]);
        Ok((Workload::Commit(CommitParams { participants, config }), topology))
    }
}
