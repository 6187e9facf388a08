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
    ];
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

    fn prepare(&self, recorder: &mut Recorder, _run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.set_section(KEY, Box::<section::RpcRecorder>::default());
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
        let config = workloads::rpc::Config {
            semantics,
            client: NodeId(0),
            server: NodeId(0),
            rate,
            timeout,
            retries,
        };
        let topology = Topology::from_roles(&[("server", 1), ("client", 1)]);
        Ok((Workload::Rpc(RpcParams { config }), topology))
    }
}
