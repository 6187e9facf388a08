//! Observations: what nodes report, and what every measurement is built from.

use crate::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How one client request ended, as the client (which knows the right answer) judged it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// A correct reply arrived within the deadline.
    Ok,
    /// No correct reply within the deadline (no reply, a late one, or the
    /// service could not decide).
    Failed,
    /// A reply arrived within the deadline and it was wrong: the service let a
    /// wrong value through (the oracle caught it).
    Wrong,
}

/// A voter's verdict on one request.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Every replica's result arrived and all agreed.
    Unanimous,
    /// A majority agreed; some results were missing or different.
    Majority,
    /// No value reached a majority before the vote timed out.
    NoMajority,
}

/// One thing a node saw happen. The driver stamps each with the time of the
/// call that emitted it; times carried inside are protocol times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Observation {
    /// A client request was decided. `sent` is when the client sent it (an
    /// outage is measured between send times), `latency` is set for replies
    /// that arrived (also for wrong ones).
    Request { seq: u64, sent: Time, outcome: Outcome, latency: Option<Duration> },
    /// The client could not send `count` requests that were due by `at`
    /// (its bound on outstanding requests was reached): they count as
    /// requests that were not served. They carry no sequence numbers.
    Unsent { count: u64, at: Time },
    /// A voter decided a request.
    Vote { seq: u64, verdict: Verdict },
    /// A replica started recovering (state transfer) from its peers.
    RecoveryStarted { reason: RecoveryReason },
    /// A replica finished state transfer at sequence number `seq` and votes again.
    RecoveryCompleted { seq: u64, restore: Duration },
    /// This node now suspects `peer` to have failed.
    Suspect { peer: NodeId },
    /// This node trusts `peer` again.
    Trust { peer: NodeId },
    /// Free-form note for the event log.
    Note { text: String },
    /// A primary/backup replica went through a phase of taking over `view`.
    Failover { phase: FailoverPhase, view: u64 },
    /// What a checkpointing process did (checkpoint, rollback, log, output...).
    Checkpoint(crate::checkpoint::CheckpointEvent),
    /// What a general did in one Byzantine-agreement instance (ordered, decided).
    Agreement(crate::byzantine::AgreementEvent),
    /// What a commit-protocol node did (started, decided, blocked, terminated...).
    Commit(crate::commit::CommitEvent),
    /// What an RPC client or server did (a call finished, an execution, a filtered retry...).
    Rpc(crate::rpc::RpcEvent),
    /// What a Paxos proposer, acceptor or learner did (a round, a proposal, a value chosen...).
    Paxos(crate::paxos::PaxosEvent),
    /// What a Multi-Paxos replica did (stood for leader, was elected, caught up...).
    MultiPaxos(crate::multi_paxos::MpEvent),
    /// What an external (Maelstrom-protocol) node did wrong, or how it ended.
    External(crate::external::ExtEvent),
    /// What a group member did (multicast, delivered, sent feedback, installed a view...).
    Multicast(crate::multicast::MulticastEvent),
    /// What a general of the two-army problem did (proposed, decided to attack or not).
    TwoArmies(crate::two_armies::ArmiesEvent),
    /// A client of a replicated service invoked an operation or saw how it
    /// ended: one line of history.jsonl, at the time the driver stamps.
    History(crate::history::Step),
}

/// The phases of a primary/backup failover, in order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailoverPhase {
    /// The backup that takes over suspects the primary (detection ends).
    Detected,
    /// Every trusted replica acknowledged the new view (failover ends).
    ViewInstalled,
    /// The new primary holds the newest state and serves (catch-up ends).
    CaughtUp,
}

/// Why a replica fetched the state from its peers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecoveryReason {
    /// It was restarted after a crash and lost its state.
    Restart,
    /// It missed requests (a gap in the sequence) and could not fill it.
    Gap,
}
