//! Passive replication: a primary, backups, failover.

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::experiment::FaultPlan;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::primary_backup::{Config, Role};
use workloads::DetectorConfig;
use workloads::NodeId;

/// `workload:` of the primary-backup workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrimaryBackupFile {
    pub replicas: Option<usize>,
    pub clients: Option<usize>,
    pub rate: Option<Rate>,
    pub deadline: Option<Dur>,
    /// The client sends an unanswered request again after this.
    pub timeout: Option<Dur>,
    pub gap_timeout: Option<Dur>,
    /// Key-value clients over this many registers (read, write, cas, each
    /// recorded in history.jsonl) instead of the open-loop ledger client.
    pub keys: Option<u64>,
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
    pub detector: workloads::DetectorConfig,
    /// Key-value mode: registers the clients address (0: request mode).
    pub keys: u64,
    /// Clients (several only in key-value mode).
    pub clients: usize,
}

impl Describe for PrimaryBackupParams {
    const WATCH: &'static str = "- All along: the node rows, and who the replicas think is primary.\n\
        - When the primary fails: requests fail until a backup suspects it, installs the new view and catches up (recovery_seconds.incidents).\n\
        - With key-value clients (`keys:`): the history's verdict (linearizability.ok) at the end; under a partition with a timeout detector, two primaries serve at once and the anomaly's timeline in report.html shows the operations no single copy explains.";
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
            keys: self.keys,
        })
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.enable_detector(&run.ids(&["replica"]));
        if self.keys > 0 {
            recorder.requests_from_history();
        }
    }

    fn open_loop_clients(&self, run: &RunView<'_>) -> Option<(f64, Vec<NodeId>)> {
        // Key-value clients wait for each operation before the next: they are not open-loop.
        (self.keys == 0).then(|| (self.rate, run.ids(&["client"])))
    }
}

impl Validate for PrimaryBackupFile {
    const DETECTOR: bool = true;

    /// `kind: primary-backup`: replicas, one client, and `detector` on the replicas.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        let positive = |name: &str, v: Option<Dur>, default: Duration| -> Res<Duration> {
            let v = v.map_or(default, |d| d.0);
            if v.is_zero() {
                return Err(cx.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
            }
            Ok(v)
        };
        let replicas = w.replicas.unwrap_or(3);
        if !(2..=9).contains(&replicas) {
            return Err(cx.value_err(
                "workload.replicas",
                format!("primary-backup needs 2 to 9 replicas (a primary and its backups); got {replicas}"),
            ));
        }
        let keys = w.keys.unwrap_or(0);
        if w.keys == Some(0) || keys > 1_000 {
            return Err(cx.value_err("workload.keys", format!("keys must be 1 to 1000; got {keys}")));
        }
        let clients = w.clients.unwrap_or(1);
        if keys == 0 && clients != 1 {
            return Err(cx.value_err(
                "workload.clients",
                format!("clients must be 1 (several need `keys:`, the key-value clients); got {clients}"),
            ));
        }
        let clients = cx.count("clients", Some(clients), 1, 1..=8)?;
        let deadline = positive("deadline", w.deadline, Duration::from_millis(100))?;
        let retry = positive("timeout", w.timeout, deadline / 4)?;
        let gap_timeout = positive("gap_timeout", w.gap_timeout, Duration::from_millis(20))?;
        let rate = cx.rate(w.rate, 200.0)?;
        let params =
            PrimaryBackupParams { replicas, rate, deadline, retry, gap_timeout, detector, keys, clients };
        let topology = Topology::from_roles(&[("replica", replicas), ("client", clients)]);
        Ok((Workload::PrimaryBackup(params), topology))
    }
}
