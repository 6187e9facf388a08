//! RPC failure semantics.

mod section;

/// Its section's key in report.json.
const KEY: &str = "rpc";

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::{Rate, RpcSemantics};
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

/// `workload:` of the RPC workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcFile {
    /// Calls per second from the client.
    pub rate: Option<Rate>,
    /// `at-least-once` or `at-most-once`.
    pub semantics: Option<RpcSemantics>,
    /// How long the client waits before retrying.
    pub timeout: Option<Dur>,
    /// Tries after the first before the client gives up.
    pub retries: Option<u32>,
    /// How long the server computes on each call (long calls; 0: at once).
    pub work: Option<Dur>,
    /// What is done about orphan computations when the client crashes:
    /// `none`, `extermination`, `reincarnation`, `gentle` or `expiration`.
    pub orphans: Option<OrphansFile>,
    /// Expiration: how long a computation runs before its client must renew it.
    pub quantum: Option<Dur>,
}

/// The orphan remedies, as written.
#[derive(Copy, Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrphansFile {
    None,
    Extermination,
    Reincarnation,
    Gentle,
    Expiration,
}

/// Parameters of the RPC workload (the nodes are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct RpcParams {
    pub config: workloads::rpc::Config,
}

impl Describe for RpcParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("rpc.duplicate_executions", "extra executions: the server ran a call it had already run (a retry of a call whose reply was lost)"),
    Meaning::of("rpc.filtered", "retried requests the server recognised as duplicates and answered from its reply cache instead of executing again"),
    Meaning::of("rpc.lost_replies", "replies lost on the way back to the client"),
    Meaning::of("rpc.lost_calls", "calls the client's crash interrupted, reported by its next incarnation from its call log"),
    Meaning::of("rpc.orphans.orphans", "long calls still computing on the server when their client crashed: orphan computations"),
    Meaning::of("rpc.orphans.killed", "orphans the remedy killed (extermination, reincarnation, gentle, expiration)"),
    Meaning::of("rpc.orphans.completed", "orphans that ran to the end for nobody: their replies reach a client that no longer knows the call"),
    Meaning::of("rpc.orphans.adopted", "orphans the restarted client claimed (gentle reincarnation): their work is not wasted"),
    Meaning::of("rpc.orphans.wasted_seconds", "server time spent on orphans nobody claimed, from their start to their end"),
    Meaning::of("rpc.orphans.cleared_seconds", "from the client's crash to the last orphan's end"),
    Meaning::of("rpc.orphans.stray_replies", "replies the restarted client got for calls it did not know"),
    ];
    const WATCH: &str = "- All along: calls, retries, executions and duplicate executions.\n\
        - With long calls (`work:`) and a client crash: orphans, and what the remedy does with them: killed at once (extermination, reincarnation), claimed (gentle), killed within a quantum (expiration), or run for nobody (none) — wasted_seconds and cleared_seconds.";
}

impl Plugin for RpcParams {
    fn kind(&self) -> &'static str {
        "rpc"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Rpc(workloads::rpc::Config {
            server: run.first("server"),
            client: run.first("client"),
            ..self.config.clone()
        })
    }

    /// A call is decided after its last try's timeout.
    fn deadline(&self) -> Duration {
        self.config.timeout * (self.config.retries + 1)
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.set_section(KEY, Box::new(section::RpcRecorder::for_client(run.first("client"))));
    }
}

impl Validate for RpcFile {
    /// `kind: rpc`: `client-1` calling `server-1`.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        use workloads::rpc::Semantics;
        let semantics = match w.semantics {
            Some(RpcSemantics::AtLeastOnce) => Semantics::AtLeastOnce,
            Some(RpcSemantics::AtMostOnce) => Semantics::AtMostOnce,
            None => {
                return Err(cx
                    .value_err("workload.kind", "kind: rpc needs `semantics: at-least-once | at-most-once`"))
            }
        };
        let rate = cx.rate(w.rate, 100.0)?;
        let timeout = cx.positive_dur("timeout", w.timeout, Duration::from_millis(50))?;
        let retries = w.retries.unwrap_or(3);
        if retries > 100 {
            return Err(cx.value_err("workload.retries", format!("retries must be 0 to 100; got {retries}")));
        }
        let work = w.work.map_or(Duration::ZERO, |d| d.0);
        if !work.is_zero() && timeout <= work {
            return Err(cx.value_err(
                "workload.timeout",
                format!("timeout ({timeout:?}) must exceed work ({work:?}): every call would time out while it computes"),
            ));
        }
        let quantum = cx.positive_dur("quantum", w.quantum, (work / 4).max(Duration::from_millis(10)))?;
        use workloads::rpc::Orphans;
        let orphans =
            match w.orphans {
                None | Some(OrphansFile::None) => Orphans::None,
                Some(_) if work.is_zero() => return Err(cx.value_err(
                    "workload.orphans",
                    "orphan remedies act on long calls: set `work:` (how long the server computes on a call)",
                )),
                Some(OrphansFile::Extermination) => Orphans::Extermination,
                Some(OrphansFile::Reincarnation) => Orphans::Reincarnation,
                Some(OrphansFile::Gentle) => Orphans::Gentle,
                Some(OrphansFile::Expiration) => Orphans::Expiration { quantum },
            };
        if w.quantum.is_some() && !matches!(orphans, Orphans::Expiration { .. }) {
            return Err(cx.value_err("workload.quantum", "`quantum` applies to `orphans: expiration` only"));
        }
        let config = workloads::rpc::Config {
            semantics,
            client: NodeId(0),
            server: NodeId(0),
            rate,
            timeout,
            retries,
            work,
            orphans,
        };
        let topology = Topology::from_roles(&[("server", 1), ("client", 1)]);
        Ok((Workload::Rpc(RpcParams { config }), topology))
    }
}
