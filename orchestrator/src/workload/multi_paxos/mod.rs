//! Multi-Paxos behind a key-value service: replicas and key-value clients.

mod section;

/// Its section's key in report.json.
const KEY: &str = "multi_paxos";

use super::{Describe, Plugin, RunView, Validate, Workload};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::{NodeSpec, Topology};
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::multi_paxos::Config;
use workloads::DetectorConfig;

/// `workload:` of the Multi-Paxos workload, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiPaxosFile {
    /// How many replicas (each a proposer, an acceptor and a learner).
    pub replicas: Option<u16>,
    /// How many key-value clients.
    pub clients: Option<u16>,
    /// How many registers the clients address.
    pub keys: Option<u64>,
    /// Operations per second per client (one at a time).
    pub rate: Option<Rate>,
    /// An operation unanswered this long ends `info`.
    pub deadline: Option<Dur>,
    /// Requests, proposals and elections are tried again after this.
    pub retry: Option<Dur>,
}

/// Parameters of the Multi-Paxos workload (the nodes are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct MultiPaxosParams {
    pub config: Config,
}

impl Describe for MultiPaxosParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
        Meaning::of("multi_paxos.slots", "log slots chosen: client operations and the no-ops a new leader filled holes with"),
        Meaning::of("multi_paxos.no_ops", "slots a new leader found open with nothing accepted in them, filled with a no-op"),
        Meaning::of("multi_paxos.elections", "times a replica stood for leader (phase 1 with a new ballot): once at the start, then after each suspicion of the leader"),
        Meaning::of("multi_paxos.leader_changes", "times a majority promised a candidate, which then led"),
        Meaning::of("multi_paxos.reproposed", "open slots new leaders proposed again with the highest ballot's value (or a no-op): how Paxos keeps a value a majority may have chosen"),
        Meaning::of("multi_paxos.log_divergences", "points of the log at which two replicas had applied different commands: Paxos never allows it"),
        Meaning::of("multi_paxos.catch_ups", "restarted replicas that fetched the slots they lost from the others and reached the commit point they heard of"),
        Meaning::of("multi_paxos.catch_up_seconds", "from a replica's restart to its having applied every slot up to that commit point"),
        Meaning::of("multi_paxos.catch_up_slots", "slots restarted replicas fetched and applied, in all"),
        Meaning::of("multi_paxos.serving_seconds", "from a new leader's election to its having applied every slot its election named, after which it answers clients"),
    ];
    const WATCH: &str = "- All along: operations served (availability), the leader, and the slots chosen.\n\
        - When the leader crashes: clients time out until another replica suspects it (detection), a majority promises it (election) and it has applied the open slots (catch-up); recovery_seconds.incidents breaks the outage down that way.\n\
        - When a replica restarts: it has lost its learned log and fetches it (catch_up_seconds, catch_up_slots).\n\
        - Under a partition: only the side with a majority serves; the other side's clients time out (info), and linearizability.ok stays true, unlike primary/backup's split brain.";
}

impl Plugin for MultiPaxosParams {
    fn kind(&self) -> &'static str {
        "multi-paxos"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::MultiPaxos(Config {
            replicas: run.ids(&["replica"]),
            clients: run.ids(&["client"]),
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.deadline
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.enable_detector(&run.ids(&["replica"]));
        recorder.requests_from_history();
        let names = run.topology.nodes.iter().map(|n| n.name.clone()).collect();
        recorder.set_section(KEY, Box::new(section::MultiPaxosRecorder::new(names)));
    }
}

impl Validate for MultiPaxosFile {
    const DETECTOR: bool = true;

    /// `kind: multi-paxos`: replicas and key-value clients.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let replicas = self.replicas.unwrap_or(3);
        if !(1..=9).contains(&replicas) {
            return Err(cx.value_err(
                "workload.replicas",
                format!("multi-paxos needs 1 to 9 replicas (3 or 5 tolerate 1 or 2 crashes); got {replicas}"),
            ));
        }
        let clients = cx.count("clients", self.clients, 2, 1..=16)?;
        let keys = cx.count("keys", self.keys, 3, 1..=1_000)?;
        let deadline = cx.positive_dur("deadline", self.deadline, Duration::from_millis(500))?;
        let retry = cx.positive_dur("retry", self.retry, Duration::from_millis(50))?;
        let rate = cx.rate(self.rate, 50.0)?;
        let config =
            Config { replicas: Vec::new(), clients: Vec::new(), keys, rate, deadline, retry, detector };
        let topology =
            Topology::from_roles(&[("replica", usize::from(replicas)), ("client", usize::from(clients))]);
        Ok((Workload::MultiPaxos(MultiPaxosParams { config }), topology))
    }
}
