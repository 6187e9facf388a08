//! Heartbeat failure detection: every node sends heartbeats to its peers
//! every η and runs one detector per peer (fixed timeout, φ-accrual or
//! Chen's estimator), reporting `Suspect` / `Trust` observations as its
//! view changes. The orchestrator compares them with what really happened.

mod chen;
mod detector;
mod fixed;
mod monitor;
mod phi;

pub use chen::Chen;
pub use detector::{Detector, DetectorConfig, DetectorKind};
pub use fixed::FixedTimeout;
pub use monitor::{Beacon, Monitor};
pub use phi::{phi, PhiAccrual, PhiParams};

use crate::{Effects, Message, Node, NodeId, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Sends the next heartbeat.
const BEAT_TIMER: TimerId = TimerId(1);
/// Asks the detectors.
const CHECK_TIMER: TimerId = TimerId(2);

/// Everything a heartbeat node needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Every node of the run (each watches all the others).
    pub nodes: Vec<NodeId>,
    /// Heartbeats and the detector.
    pub detector: DetectorConfig,
}

/// A heartbeat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Heartbeat number `seq` of the sender's incarnation started at `epoch`.
    Heartbeat { epoch: u64, seq: u64 },
}

impl Message for Msg {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}

/// A node that sends heartbeats and watches its peers.
#[derive(Debug)]
pub struct HeartbeatNode {
    me: NodeId,
    cfg: Config,
    beacon: Option<Beacon>,
    monitor: Option<Monitor>,
}

impl HeartbeatNode {
    /// Node `me` of `config` (a restarted node starts afresh: a new epoch).
    pub fn new(me: NodeId, config: &Config) -> HeartbeatNode {
        HeartbeatNode { me, cfg: config.clone(), beacon: None, monitor: None }
    }

    /// Whether this node suspects `peer` now.
    pub fn suspects(&self, peer: NodeId) -> bool {
        self.monitor.as_ref().is_some_and(|m| m.suspects(peer))
    }

    fn beat(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(b) = &mut self.beacon else { return };
        let (seq, next) = b.beat(now);
        let epoch = b.epoch();
        for &n in &self.cfg.nodes {
            if n != self.me {
                out.send(n, Msg::Heartbeat { epoch, seq });
            }
        }
        out.set_timer(next, BEAT_TIMER);
    }
}

impl Node for HeartbeatNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.beacon = Some(Beacon::new(now, self.cfg.detector.interval));
        let monitor = Monitor::new(self.me, &self.cfg.nodes, &self.cfg.detector, now);
        out.set_timer(monitor.check_every(), CHECK_TIMER);
        self.monitor = Some(monitor);
        self.beat(now, out);
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Heartbeat { epoch, seq } = msg;
        if let Some(m) = &mut self.monitor {
            m.heartbeat(now, from, epoch, seq, out);
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            BEAT_TIMER => self.beat(now, out),
            CHECK_TIMER => {
                if let Some(m) = &mut self.monitor {
                    m.check(now, out);
                    out.set_timer(m.check_every(), CHECK_TIMER);
                }
            }
            _ => {}
        }
    }
}

crate::any::workload! {
    /// Heartbeat failure detection, as the registry names it.
    Heartbeat: Config => HeartbeatNode, |me, config, _start| HeartbeatNode::new(me, config)
}
