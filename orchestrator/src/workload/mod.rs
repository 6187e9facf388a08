//! The orchestrator's side of each workload: its validated parameters and
//! what the run needs to know of it (how each agent is configured, how long
//! a request may stay undecided, what the recorder follows, how fast its
//! clients send). The agent's side is `workloads::any`.
//!
//! Adding a workload: its module here, with a type that implements
//! [`Plugin`], and one line in the `registry!` call below.

mod byzantine;
mod checkpointing;
pub use checkpointing::table as checkpoint_table;
mod commit;
mod echo;
mod external;
mod fields;
mod heartbeat;
mod multi_paxos;
mod multicast;
mod paxos;
mod primary_backup;
mod rpc;
mod tmr;
mod two_armies;

pub use byzantine::{ByzantineFile, ByzantineParams};
pub use checkpointing::{CheckpointParams, CheckpointingFile};
pub use commit::{CommitFile, CommitParams};
pub use echo::{EchoFile, EchoParams};
pub use external::{ExternalFile, ExternalParams};
pub use heartbeat::{HeartbeatFile, HeartbeatParams};
pub use multi_paxos::{MultiPaxosFile, MultiPaxosParams};
pub use multicast::{MulticastFile, MulticastParams};
pub use paxos::{PaxosFile, PaxosParams};
pub use primary_backup::{PrimaryBackupFile, PrimaryBackupParams};
pub use rpc::{RpcFile, RpcParams};
pub use tmr::{TmrFile, TmrParams};
pub use two_armies::{TwoArmiesFile, TwoArmiesParams};

use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::DetectorFile;
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::{NodeSpec, Topology};
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::DetectorConfig;
use workloads::NodeId;

/// What a run tells a workload about itself.
#[derive(Clone, Copy, Debug)]
pub struct RunView<'a> {
    pub topology: &'a Topology,
    /// The experiment's seed (for shared protocol choices).
    pub seed: u64,
    /// Benchmark mode: clients keep this many requests outstanding instead
    /// of sending at the file's rate (0: the file's open-loop rate).
    pub window: usize,
}

impl RunView<'_> {
    /// The nodes of these roles, in this order.
    pub fn ids(&self, roles: &[&str]) -> Vec<NodeId> {
        roles.iter().flat_map(|r| self.topology.with_role(r).map(|n| n.id)).collect()
    }

    /// The first node of `role` (node 0 if there is none: validation saw to it).
    pub fn first(&self, role: &str) -> NodeId {
        self.topology.with_role(role).next().map_or(NodeId(0), |n| n.id)
    }
}

/// A workload as the orchestrator runs it.
pub trait Plugin: std::fmt::Debug {
    /// `kind:` as the experiment file names it.
    fn kind(&self) -> &'static str;

    /// The configuration `node`'s agent runs.
    fn agent_config(&self, run: &RunView<'_>, node: &NodeSpec) -> AnyConfig;

    /// How long a request (or a round) may stay undecided: at the end of a
    /// run, what was sent just before is given this long to be decided.
    fn deadline(&self) -> Duration;

    /// Tell the recorder what this workload's observations need (a failure
    /// detector to follow, a model to compare with) before the run starts.
    fn prepare(&self, _recorder: &mut Recorder, _run: &RunView<'_>, _faults: &[FaultPlan]) {}

    /// The rate at which each open-loop client sends while it is up, and
    /// the clients, for the check that they really sent (None: none).
    fn open_loop_clients(&self, _run: &RunView<'_>) -> Option<(f64, Vec<NodeId>)> {
        None
    }

    /// Whether its agents host real programs (external nodes): then it never
    /// runs in simulation.
    fn hosts_programs(&self) -> bool {
        false
    }

    /// Host folders its containers must see read-only (docker backend).
    fn host_paths(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// What a workload tells of itself besides the run: its section of
/// report.json and, for `faultlab explain`, what its metrics mean and what
/// to watch during a run.
pub(crate) trait Describe {
    /// Its section's key in report.json (None: it has none of its own).
    const REPORT_KEY: Option<&'static str> = None;

    /// What the metrics of its section mean.
    const MEANINGS: &'static [Meaning] = &[];

    /// What to watch all along a run.
    const WATCH: &'static str =
        "- All along: the node rows, the fault timeline and the workload's own counters.";
}

/// How a workload's `workload:` section becomes its parameters and topology.
pub(crate) trait Validate {
    /// Whether the workload runs a failure detector, set by `detector:`.
    const DETECTOR: bool = false;

    /// Check the section (errors located in the file) and build the
    /// workload; `detector` is the `detector:` section, or its defaults.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)>;
}

macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($params:ty, $file:ty) = $kind:literal,)*) => {
        /// The workload of an experiment and its validated parameters.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Workload {
            $($(#[$doc])* $variant($params),)*
        }

        impl Workload {
            /// What the run needs to know of this workload.
            pub fn plugin(&self) -> &dyn Plugin {
                match self {
                    $(Workload::$variant(p) => p,)*
                }
            }

            /// What to watch all along a run of this workload (for `explain`).
            pub fn watch(&self) -> &'static str {
                match self {
                    $(Workload::$variant(_) => <$params as Describe>::WATCH,)*
                }
            }
        }

        /// `workload:` as written: `kind` picks the variant, and each
        /// workload's own keys are the only ones it accepts.
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum WorkloadFile {
            $($(#[$doc])* #[serde(rename = $kind)] $variant($file),)*
        }

        impl WorkloadFile {
            /// Check the section and build the workload (`detector` only
            /// where the workload runs a failure detector).
            pub(crate) fn validate(&self, cx: &Checker<'_>, detector: Option<&DetectorFile>) -> Res<(Workload, Topology)> {
                let runs_detector = match self {
                    $(WorkloadFile::$variant(_) => <$file as Validate>::DETECTOR,)*
                };
                if detector.is_some() && !runs_detector {
                    let which: Vec<&str> = [$((<$file as Validate>::DETECTOR, $kind),)*]
                        .into_iter()
                        .filter_map(|(d, k)| d.then_some(k))
                        .collect();
                    let which = match which.split_last() {
                        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                        _ => which.join(""),
                    };
                    return Err(cx.key_err(
                        "detector",
                        format!("`detector` applies to the {which} workloads only; remove it"),
                    ));
                }
                let detector = cx.detector(detector)?;
                match self {
                    $(WorkloadFile::$variant(w) => w.validate(cx, detector),)*
                }
            }

            /// `kind:` as written.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(WorkloadFile::$variant(_) => $kind,)*
                }
            }
        }

        /// The workloads' section keys in report.json, in registry order.
        pub fn report_keys() -> Vec<&'static str> {
            [$(<$params as Describe>::REPORT_KEY,)*].into_iter().flatten().collect()
        }

        /// What every workload's metrics mean.
        pub fn meanings() -> impl Iterator<Item = &'static Meaning> {
            [$(<$params as Describe>::MEANINGS,)*].into_iter().flatten()
        }

        /// Every workload's `kind` and the keys it accepts, in registry order.
        pub fn keys() -> Vec<(&'static str, &'static [&'static str])> {
            vec![$(($kind, fields::of::<$file>()),)*]
        }
    };
}

registry! {
    /// Triple modular redundancy: replicas, voters, clients.
    Tmr(TmrParams, TmrFile) = "tmr",
    /// Checkpointing and rollback recovery.
    Checkpointing(CheckpointParams, CheckpointingFile) = "checkpointing",
    /// Byzantine agreement, OM(m).
    Byzantine(ByzantineParams, ByzantineFile) = "byzantine-agreement",
    /// Two- and three-phase commit.
    Commit(CommitParams, CommitFile) = "commit",
    /// RPC failure semantics.
    Rpc(RpcParams, RpcFile) = "rpc",
    /// Heartbeat failure detection.
    Heartbeat(HeartbeatParams, HeartbeatFile) = "heartbeat",
    /// Passive replication with failover.
    PrimaryBackup(PrimaryBackupParams, PrimaryBackupFile) = "primary-backup",
    /// One client, one server that sends every request back.
    Echo(EchoParams, EchoFile) = "echo",
    /// Reliable multicast, message ordering, virtual synchrony.
    Multicast(MulticastParams, MulticastFile) = "multicast",
    /// Single-decree Paxos: proposers and acceptors decide one value per instance.
    Paxos(PaxosParams, PaxosFile) = "paxos",
    /// Programs that speak Maelstrom's protocol, under faultlab's clients.
    External(ExternalParams, ExternalFile) = "external",
    /// Multi-Paxos: a replicated log behind a key-value service.
    MultiPaxos(MultiPaxosParams, MultiPaxosFile) = "multi-paxos",
    /// The two-army problem: two generals, a lossy link, k acknowledgments.
    TwoArmies(TwoArmiesParams, TwoArmiesFile) = "two-armies",
}

/// Which other workloads accept `key` (for an error that says where a key belongs).
pub fn kinds_accepting(key: &str) -> Vec<&'static str> {
    keys().into_iter().filter(|(_, k)| k.contains(&key)).map(|(kind, _)| kind).collect()
}
