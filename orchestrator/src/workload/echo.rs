//! Echo: one client, one server, every request sent back.

use super::{Describe, Plugin, RunView, Validate, Workload};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::topology::{NodeSpec, Topology};
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::DetectorConfig;
use workloads::NodeId;

/// `workload:` of the echo workload, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EchoFile {
    /// Requests per second from the client.
    pub rate: Option<Rate>,
    /// A reply later than this counts as failed.
    pub deadline: Option<Dur>,
}

/// Parameters of the echo workload.
#[derive(Clone, Debug, PartialEq)]
pub struct EchoParams {
    pub rate: f64,
    pub deadline: Duration,
}

impl Validate for EchoFile {
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let rate = cx.rate(self.rate, 500.0)?;
        let deadline = cx.positive_dur("deadline", self.deadline, Duration::from_millis(50))?;
        let topology = Topology::from_roles(&[("server", 1), ("client", 1)]);
        Ok((Workload::Echo(EchoParams { rate, deadline }), topology))
    }
}

impl Describe for EchoParams {}

impl Plugin for EchoParams {
    fn kind(&self) -> &'static str {
        "echo"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Echo(workloads::echo::Config {
            server: run.first("server"),
            rate: self.rate,
            deadline: self.deadline,
        })
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn open_loop_clients(&self, run: &RunView<'_>) -> Option<(f64, Vec<NodeId>)> {
        Some((self.rate, run.ids(&["client"])))
    }
}
