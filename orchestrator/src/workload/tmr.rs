//! Triple modular redundancy.

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::library::Meaning;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::tmr;
use workloads::DetectorConfig;
use workloads::NodeId;

/// `workload:` of the TMR workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmrFile {
    pub replicas: Option<usize>,
    pub voters: Option<usize>,
    pub clients: Option<usize>,
    pub rate: Option<Rate>,
    pub deadline: Option<Dur>,
    pub vote_timeout: Option<Dur>,
    pub gap_timeout: Option<Dur>,
    /// Teaching bugs to switch on: `voter-trusts-first-reply`.
    pub bugs: Option<Vec<BugFile>>,
}

/// The teaching bugs, as written.
#[derive(Copy, Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BugFile {
    /// The voter forwards the first result instead of a majority's.
    VoterTrustsFirstReply,
}

/// Parameters of the TMR workload.
#[derive(Clone, Debug, PartialEq)]
pub struct TmrParams {
    pub replicas: usize,
    pub voters: usize,
    pub clients: usize,
    pub rate: f64,
    pub deadline: Duration,
    pub vote_timeout: Duration,
    pub gap_timeout: Duration,
    /// Teaching bugs switched on.
    pub bugs: Vec<tmr::Bug>,
}

impl Describe for TmrParams {
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("tmr.unanimous", "votes where every replica agreed"),
    Meaning::of("tmr.majority", "votes decided by a majority while the third result disagreed, was missing or came late: a fault masked"),
    Meaning::of("tmr.no_majority", "votes where no majority agreed: the voter could not answer"),
    Meaning::of("tmr.state_transfers", "restarted replicas that fetched the state from their peers before voting again"),
    ];
    const WATCH: &'static str =
        "- All along: the availability gauge and the throughput line, the voter verdicts \
         (unanimous / majority / no majority) and the fault timeline at the bottom.\n\
         - At the end: the client's history (linearizability.ok): linearizable while the vote masks \
         every fault, unanswered requests counting as unknown; once liars agree and win the vote, not, \
         and the anomaly's timeline in report.html shows the account's requests up to the lie.";
}

impl Plugin for TmrParams {
    fn kind(&self) -> &'static str {
        "tmr"
    }

    fn agent_config(&self, run: &RunView<'_>, node: &NodeSpec) -> AnyConfig {
        let role = match node.role.as_str() {
            "client" => tmr::Role::Client,
            "voter" => tmr::Role::Voter,
            _ => tmr::Role::Replica,
        };
        AnyConfig::Tmr(tmr::Config {
            role,
            replicas: run.ids(&["replica"]),
            voters: run.ids(&["voter"]),
            clients: run.ids(&["client"]),
            rate: if run.window > 0 { 0.0 } else { self.rate },
            deadline: self.deadline,
            vote_timeout: self.vote_timeout,
            gap_timeout: self.gap_timeout,
            window: run.window,
            bugs: self.bugs.clone(),
        })
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn open_loop_clients(&self, run: &RunView<'_>) -> Option<(f64, Vec<NodeId>)> {
        (run.window == 0).then(|| (self.rate, run.ids(&["client"])))
    }
}

impl Validate for TmrFile {
    /// `kind: tmr`: replicas, voters and a client.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        let replicas = w.replicas.unwrap_or(3);
        if replicas % 2 != 1 {
            return Err(cx.value_err(
                "workload.replicas",
                format!("replicas must be odd (1, 3, 5, ...) so that a majority exists; got {replicas}"),
            ));
        }
        let voters = w.voters.unwrap_or(1);
        if voters != 1 && voters != 3 {
            return Err(cx.value_err("workload.voters", format!("voters must be 1 or 3; got {voters}")));
        }
        let clients = w.clients.unwrap_or(1);
        if clients != 1 {
            return Err(cx.value_err(
                "workload.clients",
                format!(
                    "several clients need a sequencer, not supported yet; use clients: 1 (got {clients})"
                ),
            ));
        }
        let positive = |name: &str, d: Option<Dur>, default: Duration| -> Res<Duration> {
            let v = d.map_or(default, |d| d.0);
            if v.is_zero() {
                return Err(cx.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
            }
            Ok(v)
        };
        let deadline = positive("deadline", w.deadline, Duration::from_millis(50))?;
        let vote_timeout = positive("vote_timeout", w.vote_timeout, deadline / 2)?;
        if vote_timeout > deadline {
            return Err(cx.value_err(
                "workload.vote_timeout",
                format!(
                    "vote_timeout ({}) must not exceed the deadline ({})",
                    Dur(vote_timeout),
                    Dur(deadline)
                ),
            ));
        }
        let gap_timeout = positive("gap_timeout", w.gap_timeout, Duration::from_millis(20))?;
        let rate = cx.rate(w.rate, 1000.0)?;
        let bugs = (w.bugs.iter().flatten())
            .map(|b| match b {
                BugFile::VoterTrustsFirstReply => tmr::Bug::VoterTrustsFirstReply,
            })
            .collect();
        let params = TmrParams { replicas, voters, clients, rate, deadline, vote_timeout, gap_timeout, bugs };
        let topology = Topology::from_roles(&[("replica", replicas), ("voter", voters), ("client", clients)]);
        Ok((Workload::Tmr(params), topology))
    }
}
