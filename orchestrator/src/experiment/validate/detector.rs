//! Validation of the workloads that run a failure detector (`heartbeat`,
//! `primary-backup`) and of the experiment's `detector:` section.

use super::super::yaml::{DetectorFile, DetectorKindFile};
use super::{Checker, Res};
use faults::Dur;
use std::time::Duration;
use workloads::{DetectorConfig, DetectorKind};

/// Akka's `akka.cluster.failure-detector` defaults.
const AKKA_THRESHOLD: f64 = 8.0;
const AKKA_WINDOW: usize = 1000;
const AKKA_MIN_STD_DEV: Duration = Duration::from_millis(100);
const AKKA_PAUSE: Duration = Duration::from_secs(3);

impl Checker<'_> {
    /// The `detector:` section; absent, a fixed 500 ms timeout over 100 ms heartbeats.
    pub(crate) fn detector(&self, d: Option<&DetectorFile>) -> Res<DetectorConfig> {
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
