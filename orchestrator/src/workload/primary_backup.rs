//! Passive replication: a primary, backups, failover.

use super::{Plugin, RunView};
use crate::experiment::yaml::Rate;
use crate::experiment::FaultPlan;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::primary_backup::{Config, Role};

/// `workload:` of the primary-backup workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryBackupFile {
    #[serde(default)]
    pub replicas: Option<usize>,
    #[serde(default)]
    pub clients: Option<usize>,
    #[serde(default)]
    pub rate: Option<Rate>,
    #[serde(default)]
    pub deadline: Option<Dur>,
    /// The client sends an unanswered request again after this.
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub gap_timeout: Option<Dur>,
}

/// Parameters of primary/backup: replicas, one open-loop client, the detector.
#[derive(Clone, Debug, PartialEq)]
pub struct PrimaryBackupParams {
    pub replicas: usize,
    pub rate: f64,
    pub deadline: Duration,
    /// The client sends an unanswered request again after this.
    pub retry: Duration,
    pub gap_timeout: Duration,
    pub detector: workloads::heartbeat::DetectorConfig,
}

impl Plugin for PrimaryBackupParams {
    fn kind(&self) -> &'static str {
        "primary-backup"
    }

    fn agent_config(&self, run: &RunView<'_>, node: &NodeSpec) -> AnyConfig {
        AnyConfig::PrimaryBackup(Config {
            role: if node.role == "client" { Role::Client } else { Role::Replica },
            replicas: run.ids(&["replica"]),
            clients: run.ids(&["client"]),
            rate: self.rate,
            deadline: self.deadline,
            retry: self.retry,
            gap_timeout: self.gap_timeout,
            detector: self.detector.clone(),
        })
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.enable_detector(&run.ids(&["replica"]));
    }

    fn client_rate(&self, _run: &RunView<'_>) -> Option<f64> {
        Some(self.rate)
    }
}
