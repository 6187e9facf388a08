//! Distributed commit: two-phase commit (2PC) and three-phase commit (3PC)
//! with the state machines of the lecture notes, between one coordinator and
//! its participants. The coordinator starts a transaction every `interval`.
//!
//! - 2PC: the coordinator asks for votes (INIT → WAIT), decides COMMIT when
//!   every vote is yes and ABORT otherwise or on a timeout. A participant that
//!   voted yes is READY; if the decision does not come within `timeout` it
//!   asks the coordinator and the other participants (cooperative
//!   termination: a peer that committed, aborted or never saw the vote
//!   request tells it what to do). When everyone it can reach is READY too
//!   it is **blocked** until the coordinator comes back.
//! - 3PC: between WAIT and COMMIT the coordinator sends PRECOMMIT and waits
//!   for acknowledgements. A participant that times out in READY or PRECOMMIT
//!   runs the termination protocol with the participant of lowest rank as the
//!   new coordinator (the next one if that one does not answer): any COMMIT or
//!   PRECOMMIT → commit, any ABORT or INIT → abort, all READY → abort. No
//!   participant waits for the crashed coordinator.
//!
//! The coordinator writes START, PRECOMMIT and its decision to stable storage
//! before sending; after a crash it reads its log: 2PC aborts the
//! transactions it had not decided (it never sent COMMIT for them), 3PC asks
//! the participants what the termination protocol decided. Participants keep
//! their state in memory only (experiments crash the coordinator).

mod coordinator;
mod participant;
#[cfg(test)]
mod tests;

pub use coordinator::Coordinator;
pub use participant::Participant;

use crate::{Effects, Message, Node, NodeId, StableRecords, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which commit protocol runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Two-phase commit (blocking).
    TwoPhase,
    /// Three-phase commit (non-blocking under a coordinator crash).
    ThreePhase,
}

impl Protocol {
    /// The name used in YAML and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::TwoPhase => "2pc",
            Protocol::ThreePhase => "3pc",
        }
    }
}

/// A small, named break of the protocol for teaching (off unless the
/// experiment file asks for it): `faultlab explore` finds its consequence.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// 2PC: a participant that voted yes and hears nothing within its
    /// timeout commits on its own, presuming the coordinator will, instead
    /// of asking and waiting (blocked): the coordinator may have aborted.
    ParticipantPresumesCommit,
}

/// Everything a commit node needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub protocol: Protocol,
    /// The coordinator.
    pub coordinator: NodeId,
    /// The participants, in rank order (the first terminates for a crashed coordinator in 3PC).
    pub participants: Vec<NodeId>,
    /// A transaction starts this often.
    pub interval: Duration,
    /// How long the coordinator takes, once every vote is in, to write its
    /// decision (2PC) or PRECOMMIT (3PC) to its log: the window in which a
    /// crash leaves every participant READY.
    pub decide_after: Duration,
    /// How long any node waits for the next message of a transaction before acting.
    pub timeout: Duration,
    /// Probability that a participant votes to abort a transaction.
    pub abort_probability: f64,
    /// The experiment's seed, from which votes are drawn.
    pub seed: u64,
    /// Teaching bugs switched on (none unless the file names them).
    #[serde(default)]
    pub bugs: Vec<Bug>,
}

impl Config {
    /// A small configuration for tests and examples: coordinator 0 and
    /// participants 1 to 3, deciding after 250 ms, a 500 ms timeout.
    pub fn small(protocol: Protocol) -> Config {
        Config {
            protocol,
            coordinator: NodeId(0),
            participants: vec![NodeId(1), NodeId(2), NodeId(3)],
            interval: Duration::from_millis(100),
            decide_after: Duration::from_millis(250),
            timeout: Duration::from_millis(500),
            abort_probability: 0.0,
            seed: 3,
            bugs: Vec::new(),
        }
    }
}

/// A participant's (or the coordinator's) state for one transaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Init,
    Ready,
    PreCommit,
    Commit,
    Abort,
}

/// A commit-protocol message; every one names its transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Coordinator to participants: vote on `txn`.
    VoteRequest { txn: u64 },
    /// Participant to coordinator: its vote.
    Vote { txn: u64, commit: bool },
    /// 3PC: every vote was yes (from the coordinator or a terminating participant).
    PreCommit { txn: u64 },
    /// 3PC: PRECOMMIT received.
    Ack { txn: u64 },
    /// The outcome of `txn`.
    Decision { txn: u64, commit: bool },
    /// What became of `txn`? (a READY participant, or a recovering coordinator).
    DecisionRequest { txn: u64 },
    /// 3PC termination: the new coordinator asks for each participant's state.
    StateRequest { txn: u64 },
    /// 3PC termination: a participant's state.
    StateReply { txn: u64, state: State },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        let _ = rng;
        self.flip()
    }

    fn collude(&mut self, key: u64) -> bool {
        let _ = key;
        self.flip()
    }
}

impl Msg {
    /// A lying node reverses the votes and decisions it sends.
    fn flip(&mut self) -> bool {
        match self {
            Msg::Vote { commit, .. } | Msg::Decision { commit, .. } => {
                *commit = !*commit;
                true
            }
            _ => false,
        }
    }
}

/// What a commit node reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommitEvent {
    /// The coordinator started `txn`.
    Started { txn: u64 },
    /// This node reached the final state of `txn`.
    Decided { txn: u64, commit: bool },
    /// A READY participant asked everyone and nobody could tell it the
    /// outcome: it cannot decide alone (2PC). Blocked since `since`.
    Blocked { txn: u64, since: Time },
    /// A blocked participant learnt the outcome after `blocked`.
    Unblocked { txn: u64, blocked: Duration },
    /// A participant decided `txn` for a silent coordinator (3PC termination).
    Terminated { txn: u64, commit: bool },
    /// A restarted coordinator read its log: `in_doubt` transactions had no decision.
    Recovered { in_doubt: u64 },
}

/// A commit node: the coordinator or a participant.
#[derive(Clone, Debug, Hash)]
pub enum CommitNode {
    Coordinator(Coordinator),
    Participant(Participant),
}

impl CommitNode {
    /// Node `me`; a coordinator rebuilds its log from `records` (its stable storage).
    pub fn new(me: NodeId, config: &Config, records: &StableRecords) -> CommitNode {
        if me == config.coordinator {
            CommitNode::Coordinator(Coordinator::new(config, records))
        } else {
            CommitNode::Participant(Participant::new(me, config))
        }
    }
}

impl Node for CommitNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            CommitNode::Coordinator(n) => n.on_start(now, out),
            CommitNode::Participant(_) => {}
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            CommitNode::Coordinator(n) => n.on_message(now, from, msg, out),
            CommitNode::Participant(n) => n.on_message(now, from, msg, out),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            CommitNode::Coordinator(n) => n.on_timer(now, timer, out),
            CommitNode::Participant(n) => n.on_timer(now, timer, out),
        }
    }
}

crate::any::workload! {
    /// Distributed commit (2PC, 3PC), as the registry names it.
    Commit: Config => CommitNode, |me, config, start| CommitNode::new(me, config, &start.stable)
}
