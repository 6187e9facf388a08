//! One failure detector per monitored peer, whichever kind the experiment chose.

use super::chen::Chen;
use super::fixed::FixedTimeout;
use super::phi::{PhiAccrual, PhiParams};
use crate::Time;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which detector, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DetectorKind {
    /// Suspect `timeout` after the last heartbeat received.
    Fixed { timeout: Duration },
    /// φ-accrual (Akka's defaults: threshold 8, window 1000, min std dev 100 ms, pause 3 s).
    PhiAccrual { threshold: f64, window: usize, min_std_dev: Duration, acceptable_pause: Duration },
    /// Chen's expected arrival plus safety margin `alpha`, over `window` arrivals.
    Chen { alpha: Duration, window: usize },
}

/// How heartbeats are sent and judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Heartbeat interval η.
    pub interval: Duration,
    /// How often a node asks its detectors (the granularity added to detection times).
    pub check: Duration,
    /// The detector.
    pub kind: DetectorKind,
}

impl DetectorConfig {
    /// The default checking period: η/20, between 1 and 5 ms.
    pub fn default_check(interval: Duration) -> Duration {
        (interval / 20).clamp(Duration::from_millis(1), Duration::from_millis(5))
    }
}

/// One peer's detector.
#[derive(Clone, Debug, Hash)]
pub enum Detector {
    Fixed(FixedTimeout),
    PhiAccrual(PhiAccrual),
    Chen(Chen),
}

impl Detector {
    /// A fresh detector that counts from `start` (a monitor's start or a peer's new incarnation).
    pub fn new(cfg: &DetectorConfig, start: Time) -> Detector {
        match &cfg.kind {
            DetectorKind::Fixed { timeout } => Detector::Fixed(FixedTimeout::new(*timeout, start)),
            DetectorKind::PhiAccrual { threshold, window, min_std_dev, acceptable_pause } => {
                Detector::PhiAccrual(PhiAccrual::new(
                    PhiParams {
                        threshold: *threshold,
                        window: *window,
                        min_std_dev: *min_std_dev,
                        acceptable_pause: *acceptable_pause,
                        first_estimate: cfg.interval,
                    },
                    start,
                ))
            }
            DetectorKind::Chen { alpha, window } => {
                Detector::Chen(Chen::new(cfg.interval, *alpha, *window, start))
            }
        }
    }

    /// Heartbeat number `seq` arrived at `now`.
    pub fn heartbeat(&mut self, now: Time, seq: u64) {
        match self {
            Detector::Fixed(d) => d.heartbeat(now),
            Detector::PhiAccrual(d) => d.heartbeat(now),
            Detector::Chen(d) => d.heartbeat(now, seq),
        }
    }

    /// Whether the peer is suspected at `now`.
    pub fn suspects(&self, now: Time) -> bool {
        match self {
            Detector::Fixed(d) => d.suspects(now),
            Detector::PhiAccrual(d) => d.suspects(now),
            Detector::Chen(d) => d.suspects(now),
        }
    }
}
