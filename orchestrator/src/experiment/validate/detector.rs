//! Validation of the workloads that run a failure detector (`heartbeat`,
//! `primary-backup`) and of the experiment's `detector:` section.

use super::super::limits::MAX_HEARTBEATS_PER_SECOND;
use super::super::yaml::{DetectorFile, DetectorKindFile};
use super::super::{HeartbeatParams, PrimaryBackupParams, Workload};
use super::{Checker, Res};
use crate::topology::Topology;
use crate::workload::{HeartbeatFile, PrimaryBackupFile};
use faults::Dur;
use std::time::Duration;
use workloads::heartbeat::{DetectorConfig, DetectorKind};

/// Akka's `akka.cluster.failure-detector` defaults.
const AKKA_THRESHOLD: f64 = 8.0;
const AKKA_WINDOW: usize = 1000;
const AKKA_MIN_STD_DEV: Duration = Duration::from_millis(100);
const AKKA_PAUSE: Duration = Duration::from_secs(3);

impl Checker<'_> {
    /// `kind: heartbeat`: `nodes` nodes watching each other with `detector`.
    pub(super) fn heartbeat(&self, w: &HeartbeatFile, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        {
            let nodes = w.nodes.unwrap_or(4);
            if nodes < 2 {
                return Err(self.value_err("workload.nodes", format!("nodes must be 2 or more; got {nodes}")));
            }
            // Every node heartbeats every other one each interval: the
            // traffic grows with the square of the group (the backend's node
            // limit is checked with the rest of the topology).
            let per_second = (nodes * (nodes - 1)) as f64 / detector.interval.as_secs_f64();
            if per_second > MAX_HEARTBEATS_PER_SECOND {
                return Err(self.value_err(
                    "workload.nodes",
                    format!(
                        "{nodes} nodes heartbeating every {} send {per_second:.0} heartbeats/s, over the limit \
                         of {MAX_HEARTBEATS_PER_SECOND:.0}/s that keeps a 2-core machine's detection times \
                         honest (measured: 9,920/s made no false suspicion, 22,560/s made thousands, a late \
                         heartbeat from an overloaded host reading as a failure); use fewer nodes or a \
                         longer `detector.interval`",
                        Dur(detector.interval)
                    ),
                ));
            }
            let topology = Topology::from_roles(&[("node", nodes)]);
            Ok((Workload::Heartbeat(HeartbeatParams { nodes, detector }), topology))
        }
    }

    /// `kind: primary-backup`: replicas, one client, and `detector` on the replicas.
    pub(super) fn primary_backup(
        &self,
        w: &PrimaryBackupFile,
        detector: DetectorConfig,
    ) -> Res<(Workload, Topology)> {
        let positive = |name: &str, v: Option<Dur>, default: Duration| -> Res<Duration> {
            let v = v.map_or(default, |d| d.0);
            if v.is_zero() {
                return Err(self.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
            }
            Ok(v)
        };
        let replicas = w.replicas.unwrap_or(3);
        if !(2..=9).contains(&replicas) {
            return Err(self.value_err(
                "workload.replicas",
                format!("primary-backup needs 2 to 9 replicas (a primary and its backups); got {replicas}"),
            ));
        }
        let clients = w.clients.unwrap_or(1);
        if clients != 1 {
            return Err(self.value_err("workload.clients", format!("clients must be 1; got {clients}")));
        }
        let deadline = positive("deadline", w.deadline, Duration::from_millis(100))?;
        let retry = positive("timeout", w.timeout, deadline / 4)?;
        let gap_timeout = positive("gap_timeout", w.gap_timeout, Duration::from_millis(20))?;
        let rate = self.rate(w.rate, 200.0)?;
        let params = PrimaryBackupParams { replicas, rate, deadline, retry, gap_timeout, detector };
        let topology = Topology::from_roles(&[("replica", replicas), ("client", 1)]);
        Ok((Workload::PrimaryBackup(params), topology))
    }

    /// The `detector:` section; absent, a fixed 500 ms timeout over 100 ms heartbeats.
    pub(super) fn detector(&self, d: Option<&DetectorFile>) -> Res<DetectorConfig> {
        let Some(d) = d else {
            let interval = Duration::from_millis(100);
            return Ok(DetectorConfig {
                interval,
                check: DetectorConfig::default_check(interval),
                kind: DetectorKind::Fixed { timeout: Duration::from_millis(500) },
            });
        };
        let (name, allowed): (&str, &[&str]) = match d.kind {
            DetectorKindFile::Fixed => ("fixed", &["timeout"]),
            DetectorKindFile::PhiAccrual => {
                ("phi-accrual", &["threshold", "window", "min_std_dev", "acceptable_pause"])
            }
            DetectorKindFile::Chen => ("chen", &["alpha", "window"]),
        };
        let given = [
            ("timeout", d.timeout.is_some()),
            ("threshold", d.threshold.is_some()),
            ("window", d.window.is_some()),
            ("min_std_dev", d.min_std_dev.is_some()),
            ("acceptable_pause", d.acceptable_pause.is_some()),
            ("alpha", d.alpha.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(n, g)| *g && !allowed.contains(n)) {
            return Err(self.key_err(
                &format!("detector.{field}"),
                format!("`{field}` does not apply to `kind: {name}`"),
            ));
        }
        let interval = d.interval.map_or(Duration::from_millis(100), |v| v.0);
        if interval < Duration::from_millis(1) {
            return Err(self.value_err("detector.interval", "the heartbeat interval must be at least 1ms"));
        }
        let check = d.check.map_or(DetectorConfig::default_check(interval), |v| v.0);
        if check < Duration::from_millis(1) || check > interval {
            return Err(self.value_err(
                "detector.check",
                format!("check must be between 1ms and the interval ({})", Dur(interval)),
            ));
        }
        let window = d.window.unwrap_or(AKKA_WINDOW);
        if !(1..=100_000).contains(&window) {
            return Err(
                self.value_err("detector.window", format!("window must be 1 to 100000; got {window}"))
            );
        }
        let kind = match d.kind {
            DetectorKindFile::Fixed => {
                let timeout = d.timeout.map_or(interval * 5, |v| v.0);
                if timeout <= interval {
                    return Err(self.value_err(
                        &format!("detector.{}", if d.timeout.is_some() { "timeout" } else { "interval" }),
                        format!(
                            "the timeout ({}) must exceed the heartbeat interval ({}), or every node is suspected between heartbeats",
                            Dur(timeout),
                            Dur(interval)
                        ),
                    ));
                }
                DetectorKind::Fixed { timeout }
            }
            DetectorKindFile::PhiAccrual => {
                let threshold = d.threshold.unwrap_or(AKKA_THRESHOLD);
                if !(threshold.is_finite() && threshold > 0.0 && threshold <= 100.0) {
                    return Err(self.value_err(
                        "detector.threshold",
                        format!("threshold must be above 0 and at most 100; got {threshold}"),
                    ));
                }
                let min_std_dev = d.min_std_dev.map_or(AKKA_MIN_STD_DEV, |v| v.0);
                if min_std_dev.is_zero() {
                    return Err(self.value_err("detector.min_std_dev", "min_std_dev must be above zero"));
                }
                let acceptable_pause = d.acceptable_pause.map_or(AKKA_PAUSE, |v| v.0);
                DetectorKind::PhiAccrual { threshold, window, min_std_dev, acceptable_pause }
            }
            DetectorKindFile::Chen => {
                let alpha = d.alpha.map_or(interval, |v| v.0);
                DetectorKind::Chen { alpha, window }
            }
        };
        Ok(DetectorConfig { interval, check, kind })
    }
}
