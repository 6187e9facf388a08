//! Checkpointing and message logging: rollback recovery of a distributed
//! computation whose right answer is known in advance.
//!
//! The computation ([`bank`]) is a bank whose money moves in tokens: token `t`
//! makes `hops` hops along a route drawn from the seed, each hop carrying an
//! amount from its sender's balance to its receiver's; a token's last hop is
//! an *output* to the outside world. The money is invariant (balances plus
//! tokens in flight), and because every hop's sender, receiver and amount are
//! fixed by the seed, the final balances do not depend on the order messages
//! arrive in: a fault-free golden run ([`golden`]) gives the exact final state
//! every correct recovery must reach.
//!
//! Seven protocols, one module each:
//! - [`independent`]: uncoordinated checkpoints with dependency tracking; the
//!   recovery line is computed at recovery time ([`line`]) and may domino;
//! - [`coordinated`]: Chandy–Lamport snapshots (markers, recorded channel
//!   state) with a commit round; every process rolls back to the last
//!   committed snapshot;
//! - [`pessimistic`]: receiver-based pessimistic logging; only the crashed
//!   process replays its log;
//! - [`optimistic`]: asynchronous logging with dependency vectors; a crash
//!   loses the unlogged tail and processes that depend on it (orphans) roll back;
//! - [`causal`]: causal logging: determinants `{source, ssn, dest, desn}` kept
//!   in volatile memory and piggybacked until stable at f+1 = 2 processes;
//!   neither blocks nor creates orphans, and does not cover two overlapping
//!   failures;
//! - [`koo_toueg`]: Koo–Toueg coordinated checkpointing: tentative then
//!   permanent checkpoints of only the processes the initiator depends on,
//!   and rollback of only the processes that depend on undone work;
//! - [`cic`]: communication-induced (index-based, BCS) checkpointing: a
//!   message carrying a higher checkpoint index forces a checkpoint before it
//!   is delivered, so checkpoints of equal index are consistent: no domino.
//!
//! **Piecewise determinism** is assumed throughout: a process's state is a
//! function of the sequence of messages it delivered. The bank relies on it in
//! one place, [`bank::Bank::deliver`] and [`bank::Bank::forward`]: a delivery
//! adds a fixed amount, and forwarding a held token draws its next hop from
//! the seed, never from the clock or from arrival order. Replaying the logged
//! deliveries (logging protocols) or re-executing from a checkpoint therefore
//! reproduces the lost state, and forwarding on the periodic tick (a timer, a
//! nondeterministic event) does not need logging because what is forwarded
//! does not depend on when.
//!
//! **Stable storage** is an effect: a node asks for [`crate::StableWrite`]s and
//! its driver carries them out before any send of the same call, then hands
//! the records back ([`crate::StableRecords`]) when the node restarts.
//!
//! Assumptions, stated where they bite: links are reliable and FIFO (TCP)
//! except while a process is down.
//!
//! **Overlapping failures.** Any process may crash at any step of another's
//! recovery, and a recovering process may crash again. The blocking
//! protocols (independent, coordinated) number recoveries so that each
//! restarted process starts a later one than any it knew of
//! ([`next_epoch`]); a recovery gives way to a later one, and the decider
//! caps a process that missed the last rollback (it was down when the
//! rollback was sent) to that rollback's line. The logging protocols resend
//! a restarted process's last hops, keep every loss announced on stable
//! storage and tell a restarted process of the losses it missed. A protocol
//! that cannot recover from a combination of failures says so with
//! [`CheckpointEvent::Unrecoverable`] rather than leave a silent mismatch:
//! causal logging with f = 1 stops that way when two recoveries overlap.

pub mod bank;
pub mod causal;
pub mod cic;
pub mod coordinated;
mod core;
pub mod independent;
pub mod koo_toueg;
pub mod line;
pub mod optimistic;
pub mod pessimistic;
pub mod stable;

pub use bank::{golden, Transfer};

use crate::{Effects, Message, Node, NodeId, StableRecords, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which rollback-recovery protocol the processes run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Uncoordinated checkpoints, recovery line computed at recovery time.
    Independent,
    /// Chandy–Lamport snapshots committed by the initiator.
    Coordinated,
    /// Receiver-based pessimistic message logging.
    PessimisticLogging,
    /// Optimistic message logging with dependency vectors.
    OptimisticLogging,
    /// Causal message logging: determinants piggybacked until stable at f+1 processes.
    CausalLogging,
    /// Koo–Toueg: two-phase checkpoints of the processes the initiator depends on.
    KooToueg,
    /// Communication-induced checkpointing, index-based (BCS).
    Cic,
}

impl Protocol {
    /// The name used in YAML and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Independent => "independent",
            Protocol::Coordinated => "coordinated",
            Protocol::PessimisticLogging => "pessimistic-logging",
            Protocol::OptimisticLogging => "optimistic-logging",
            Protocol::CausalLogging => "causal-logging",
            Protocol::KooToueg => "koo-toueg",
            Protocol::Cic => "cic",
        }
    }

    /// Its checkpoints, as `checkpoints:` names them (the logging protocols
    /// checkpoint each process on its own: independently).
    pub fn checkpoints(self) -> &'static str {
        match self {
            Protocol::Coordinated => "coordinated",
            Protocol::KooToueg => "koo-toueg",
            Protocol::Cic => "cic",
            Protocol::Independent
            | Protocol::PessimisticLogging
            | Protocol::OptimisticLogging
            | Protocol::CausalLogging => "independent",
        }
    }

    /// Its message logging, as `logging:` names it.
    pub fn logging(self) -> &'static str {
        match self {
            Protocol::PessimisticLogging => "pessimistic",
            Protocol::OptimisticLogging => "optimistic",
            Protocol::CausalLogging => "causal",
            Protocol::Independent | Protocol::Coordinated | Protocol::KooToueg | Protocol::Cic => "none",
        }
    }

    /// Every protocol, in the order reports and tables list them
    /// (`faultlab table` runs one experiment per entry).
    pub const ALL: [Protocol; 7] = [
        Protocol::Independent,
        Protocol::Coordinated,
        Protocol::KooToueg,
        Protocol::Cic,
        Protocol::PessimisticLogging,
        Protocol::OptimisticLogging,
        Protocol::CausalLogging,
    ];
}

/// Everything a checkpointing process needs to know, the same for all of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The protocol.
    pub protocol: Protocol,
    /// Every process, in order (index = position).
    pub processes: Vec<NodeId>,
    /// Tokens circulating.
    pub tokens: u32,
    /// Hops each token makes; the last one is an output.
    pub hops: u32,
    /// A process forwards the tokens it holds every `step`.
    pub step: Duration,
    /// Each process's opening balance.
    pub balance: i64,
    /// Checkpoint (snapshot) interval.
    pub interval: Duration,
    /// δ: a process does no work for this long after each checkpoint.
    pub checkpoint_cost: Duration,
    /// Optimistic logging: how often the volatile log is written to stable storage.
    pub log_flush: Duration,
    /// The computation's seed (every process draws the same routes).
    pub seed: u64,
}

impl Config {
    /// A small configuration for tests and examples: `n` processes (ids
    /// 0..n), fast steps, a checkpoint every 40 ms.
    pub fn small(protocol: Protocol, n: u16) -> Config {
        Config {
            protocol,
            processes: (0..n).map(NodeId).collect(),
            tokens: 6,
            hops: 60,
            step: Duration::from_millis(5),
            balance: 1000,
            interval: Duration::from_millis(40),
            checkpoint_cost: Duration::from_millis(1),
            log_flush: Duration::from_millis(10),
            seed: 7,
        }
    }
}

/// What a checkpointing process reports, for the recorder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckpointEvent {
    /// A checkpoint reached stable storage. `forced`: another process asked
    /// for it (a marker) rather than the local timer.
    Taken { index: u64, bytes: u64, forced: bool, cost: Duration },
    /// Messages written to the stable log.
    Logged { messages: u64, bytes: u64 },
    /// This process rolled back (`crashed`: it is the one that failed and
    /// restarted). `distance`: checkpoints discarded; `undone`: deliveries
    /// lost (None when unknown: a crashed process forgot them);
    /// `restored_to`: when the state it returned to was current;
    /// `replayed`: log records re-delivered.
    RolledBack { crashed: bool, distance: u64, undone: Option<u64>, restored_to: Time, replayed: u64 },
    /// A crashed process computes again; `took` since it restarted.
    Recovered { took: Duration },
    /// Messages thrown away because they were sent from a rolled-back state.
    Orphans { messages: u64 },
    /// An output (token `token`'s last hop) left for the outside world after
    /// waiting `waited` to become impossible to roll back.
    Output { token: u32, waited: Duration },
    /// The process's ledger, for the golden-run oracle.
    Ledger { balance: i64, delivered: u64, absorbed: u32 },
    /// Messages and bytes the protocol added since the last report: every
    /// message other than the computation's transfers, and what is
    /// piggybacked on the transfers (epochs, intervals, dependency vectors).
    Overhead { messages: u64, bytes: u64 },
    /// The failures so far are beyond what this protocol tolerates (for
    /// example more overlapping crashes than the copies of what they lost):
    /// the run cannot reach the golden state, and `reason` says why.
    Unrecoverable { reason: String },
    /// Koo–Toueg: a checkpoint round this process initiated ended;
    /// `participants`: processes that took a tentative checkpoint (the
    /// initiator included); `committed`: made permanent (else aborted).
    Round { participants: u32, committed: bool },
    /// The process held back its sends for `blocked` (Koo–Toueg: between its
    /// tentative checkpoint and the decision).
    Blocked { blocked: Duration },
    /// Causal logging: determinants piggybacked on application messages (or
    /// sent alone when nothing else goes out), and their bytes.
    Piggybacked { determinants: u64, bytes: u64 },
}

/// A checkpointing message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// A token hop. `epoch`/`interval`: the sender's recovery epoch and
    /// checkpoint interval (checkpointing protocols); `dv`: the sender's
    /// dependency vector (optimistic logging), empty otherwise.
    Transfer { tr: Transfer, epoch: u32, interval: u64, dv: Vec<Dep> },
    /// Independent: checkpoint `index` taken in `epoch`, with the intervals it depends on.
    CheckpointInfo { epoch: u32, index: u64, deps: Deps },
    /// A restarted process asks every peer to stop and describe its state.
    RecoveryRequest { epoch: u32 },
    /// Independent: the dependencies of every stable checkpoint and of the
    /// current state, and the last rollback this process applied (`applied`,
    /// its `line`), so that a recovery can tell who missed one.
    DepsReply { epoch: u32, checkpoints: Vec<Deps>, volatile: Deps, applied: u32, line: Vec<u64> },
    /// Coordinated: the latest snapshot complete here, and the last rollback
    /// this process applied (`applied`, to snapshot `line`).
    LatestReply { epoch: u32, snapshot: u64, applied: u32, line: u64 },
    /// Roll back to `line` (independent: a checkpoint per process;
    /// coordinated: one snapshot id) and resume in `epoch`.
    Rollback { epoch: u32, line: Vec<u64> },
    /// Coordinated: Chandy–Lamport marker of snapshot `snapshot`, taken in `epoch`.
    Marker { epoch: u32, snapshot: u64 },
    /// Coordinated: this process's part of `snapshot` is on stable storage.
    SnapshotDone { snapshot: u64 },
    /// Coordinated: `snapshot` is complete everywhere.
    Commit { snapshot: u64 },
    /// Logging: process `process` restarted; its incarnation `incarnation`
    /// is recoverable up to delivery `upto` (states after it are lost).
    Recovered { process: u16, incarnation: u32, upto: u64 },
    /// Optimistic: the sender's deliveries up to `upto` of `incarnation` are logged.
    Logged { incarnation: u32, upto: u64 },
    /// Causal: a token hop with the sender's send sequence number and the
    /// determinants the sender piggybacks (not yet stable at f+1 processes).
    Causal { tr: Transfer, ssn: u64, dets: Vec<causal::Determinant> },
    /// Causal: determinants alone (nothing else was going out), to make them stable.
    Determinants { dets: Vec<causal::Determinant> },
    /// Causal: the sender now holds the determinants of `dest`'s deliveries up to `desn`.
    Held { dest: u16, desn: u64 },
    /// Causal: process `process` checkpointed with these per-token hops seen;
    /// senders drop what it no longer needs from their volatile logs.
    CheckpointedAt { seen: Vec<u32>, desn: u64 },
    /// Causal: a restarted process (incarnation `incarnation`) asks for its
    /// determinants and the messages it was sent.
    CausalRequest { incarnation: u32 },
    /// Causal: what a peer holds for a restarted process: determinants of its
    /// deliveries and the messages the peer sent it (ssn, transfer);
    /// `recovering`: the peer is itself recovering (a second failure).
    CausalReply {
        incarnation: u32,
        dets: Vec<causal::Determinant>,
        sent: Vec<(u64, Transfer)>,
        recovering: bool,
    },
    /// Causal: the failures overlap; nobody can recover.
    Halt { reason: String },
    /// Koo–Toueg: take a tentative checkpoint for `round` if the message the
    /// requester received from you in your `interval` is after your last
    /// permanent checkpoint.
    TakeTentative { round: koo_toueg::Round, interval: u64 },
    /// Koo–Toueg: answer, to the initiator, to `asker`'s `TakeTentative`:
    /// `took` a tentative checkpoint; `asked`: the processes it asked in turn;
    /// `willing`: false if busy with another round.
    Tentative { round: koo_toueg::Round, asker: u16, took: bool, asked: Vec<u16>, willing: bool },
    /// Koo–Toueg: the round's decision.
    Decide { round: koo_toueg::Round, commit: bool },
    /// Koo–Toueg: a peer's state for a recovery: permanent checkpoint index,
    /// the intervals its current state depends on, its tentative round, and
    /// the last round it committed as initiator.
    KtState { epoch: u32, index: u64, deps: Deps, tentative: Option<koo_toueg::Round>, committed: u64 },
    /// Koo–Toueg: settle the rounds in flight (`keep`: make the tentative
    /// checkpoint permanent) and roll back the minimal set: `rollback[p]` is
    /// the first interval of `p` undone, for the processes that roll back.
    KtRollback { epoch: u32, keep: Vec<bool>, rollback: Vec<Option<u64>> },
}

/// Per process: the latest checkpoint interval a state depends on (None: none).
pub type Deps = Vec<Option<u64>>;

/// One entry of a dependency vector: (incarnation, delivery count), ordered
/// lexicographically.
pub type Dep = (u32, u64);

impl Message for Msg {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        // No result to falsify: the workload studies crashes, not values.
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}

/// The timers a checkpointing process sets.
pub(crate) mod timer {
    use crate::TimerId;
    /// Forward held tokens.
    pub const STEP: TimerId = TimerId(1);
    /// Take a checkpoint (the initiator: start a snapshot).
    pub const CHECKPOINT: TimerId = TimerId(2);
    /// Optimistic: flush the volatile log.
    pub const FLUSH: TimerId = TimerId(3);
    /// Retry an unanswered recovery request or announcement.
    pub const RETRY: TimerId = TimerId(4);
}

/// How long a restarted process waits for answers before asking again.
pub(crate) const RETRY: Duration = Duration::from_millis(100);

/// The recovery a restarted process `me` of `n` starts, after every recovery
/// it has applied or answered (`after`): the next number that is `me` modulo
/// `n`. Two processes never start recoveries with the same number, so when
/// recoveries overlap every process agrees which one is the latest.
pub(crate) fn next_epoch(after: u32, me: u16, n: usize) -> u32 {
    let n = n.max(1) as u32;
    (after / n + 1).saturating_mul(n).saturating_add(u32::from(me) % n)
}

/// Whether a process that applied recovery `applied` and answered
/// `answered` takes part in recovery `epoch`. An earlier one is left
/// unanswered: its process gives way when a later request reaches it. When
/// it does take part, `answered` moves forward, on stable storage too.
pub(crate) fn join_recovery(epoch: u32, applied: u32, answered: &mut u32, out: &mut Effects<Msg>) -> bool {
    if epoch <= applied || epoch < *answered {
        return false;
    }
    if epoch > *answered {
        *answered = epoch;
        out.store(stable::put("answered", &epoch));
    }
    true
}

/// A checkpointing process running one of the protocols.
#[derive(Debug)]
pub enum CheckpointNode {
    Independent(Box<independent::Process>),
    Coordinated(Box<coordinated::Process>),
    Pessimistic(Box<pessimistic::Process>),
    Optimistic(Box<optimistic::Process>),
    Causal(Box<causal::Process>),
    KooToueg(Box<koo_toueg::Process>),
    Cic(Box<cic::Process>),
}

impl CheckpointNode {
    /// Process `me` of `config`; a `restarted` one recovers from `stable`
    /// (the records its stable storage held when it crashed).
    pub fn new(me: NodeId, config: &Config, stable: StableRecords, restarted: bool) -> CheckpointNode {
        let stable = restarted.then_some(stable);
        match config.protocol {
            Protocol::Independent => {
                CheckpointNode::Independent(Box::new(independent::Process::new(me, config, stable)))
            }
            Protocol::Coordinated => {
                CheckpointNode::Coordinated(Box::new(coordinated::Process::new(me, config, stable)))
            }
            Protocol::PessimisticLogging => {
                CheckpointNode::Pessimistic(Box::new(pessimistic::Process::new(me, config, stable)))
            }
            Protocol::OptimisticLogging => {
                CheckpointNode::Optimistic(Box::new(optimistic::Process::new(me, config, stable)))
            }
            Protocol::CausalLogging => {
                CheckpointNode::Causal(Box::new(causal::Process::new(me, config, stable)))
            }
            Protocol::KooToueg => {
                CheckpointNode::KooToueg(Box::new(koo_toueg::Process::new(me, config, stable)))
            }
            Protocol::Cic => CheckpointNode::Cic(Box::new(cic::Process::new(me, config, stable))),
        }
    }

    /// The bank state (tests and the simulator).
    pub fn bank(&self) -> &bank::Bank {
        match self {
            CheckpointNode::Independent(p) => &p.core.bank,
            CheckpointNode::Coordinated(p) => &p.core.bank,
            CheckpointNode::Pessimistic(p) => &p.core.bank,
            CheckpointNode::Optimistic(p) => &p.core.bank,
            CheckpointNode::Causal(p) => &p.core.bank,
            CheckpointNode::KooToueg(p) => &p.core.bank,
            CheckpointNode::Cic(p) => p.bank(),
        }
    }

    /// True while the process takes part in a recovery and does no work.
    pub fn is_recovering(&self) -> bool {
        match self {
            CheckpointNode::Independent(p) => p.is_recovering(),
            CheckpointNode::Coordinated(p) => p.is_recovering(),
            CheckpointNode::KooToueg(p) => p.is_recovering(),
            CheckpointNode::Cic(p) => p.is_recovering(),
            CheckpointNode::Causal(p) => p.is_recovering(),
            CheckpointNode::Pessimistic(_) | CheckpointNode::Optimistic(_) => false,
        }
    }
}

impl CheckpointNode {
    fn core_mut(&mut self) -> &mut core::Core {
        match self {
            CheckpointNode::Independent(p) => &mut p.core,
            CheckpointNode::Coordinated(p) => &mut p.core,
            CheckpointNode::Pessimistic(p) => &mut p.core,
            CheckpointNode::Optimistic(p) => &mut p.core,
            CheckpointNode::KooToueg(p) => &mut p.core,
            CheckpointNode::Cic(p) => p.core_mut(),
            CheckpointNode::Causal(p) => &mut p.core,
        }
    }

    /// Count what the protocol added to the sends from `from` on.
    fn count_overhead(&mut self, out: &Effects<Msg>, from: usize) {
        let core = self.core_mut();
        for (_, msg) in out.sends.iter().skip(from) {
            core.count_overhead(msg);
        }
    }
}

impl Node for CheckpointNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        let sends = out.sends.len();
        self.start(now, out);
        self.count_overhead(out, sends);
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let sends = out.sends.len();
        self.message(now, from, msg, out);
        self.count_overhead(out, sends);
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        let sends = out.sends.len();
        self.timer(now, timer, out);
        self.count_overhead(out, sends);
    }
}

impl CheckpointNode {
    fn start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            CheckpointNode::Independent(p) => p.on_start(now, out),
            CheckpointNode::Coordinated(p) => p.on_start(now, out),
            CheckpointNode::Pessimistic(p) => p.on_start(now, out),
            CheckpointNode::Optimistic(p) => p.on_start(now, out),
            CheckpointNode::Causal(p) => p.on_start(now, out),
            CheckpointNode::KooToueg(p) => p.on_start(now, out),
            CheckpointNode::Cic(p) => p.on_start(now, out),
        }
    }

    fn message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            CheckpointNode::Independent(p) => p.on_message(now, from, msg, out),
            CheckpointNode::Coordinated(p) => p.on_message(now, from, msg, out),
            CheckpointNode::Pessimistic(p) => p.on_message(now, from, msg, out),
            CheckpointNode::Optimistic(p) => p.on_message(now, from, msg, out),
            CheckpointNode::Causal(p) => p.on_message(now, from, msg, out),
            CheckpointNode::KooToueg(p) => p.on_message(now, from, msg, out),
            CheckpointNode::Cic(p) => p.on_message(now, from, msg, out),
        }
    }

    fn timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            CheckpointNode::Independent(p) => p.on_timer(now, timer, out),
            CheckpointNode::Coordinated(p) => p.on_timer(now, timer, out),
            CheckpointNode::Pessimistic(p) => p.on_timer(now, timer, out),
            CheckpointNode::Optimistic(p) => p.on_timer(now, timer, out),
            CheckpointNode::Causal(p) => p.on_timer(now, timer, out),
            CheckpointNode::KooToueg(p) => p.on_timer(now, timer, out),
            CheckpointNode::Cic(p) => p.on_timer(now, timer, out),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The small configuration of the tests.
    pub(crate) fn config(protocol: Protocol, n: u16) -> Config {
        Config::small(protocol, n)
    }

    /// The checkpointing events among `out`'s observations.
    pub(crate) fn events(out: &Effects<Msg>) -> Vec<CheckpointEvent> {
        out.observations
            .iter()
            .filter_map(|o| match o {
                crate::Observation::Checkpoint(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn messages_carry_no_result_to_falsify() {
        let mut m = Msg::Commit { snapshot: 1 };
        let mut rng = rand_chacha::ChaCha8Rng::from_seed([0; 32]);
        assert!(!m.corrupt(&mut rng));
        assert!(!m.collude(1));
        assert_eq!(m, Msg::Commit { snapshot: 1 });
    }

    use rand::SeedableRng;
}

/// Checkpointing and rollback recovery, as the registry names it.
#[derive(Debug)]
pub struct Checkpointing;

impl crate::any::Workload for Checkpointing {
    type Config = Config;
    type Node = CheckpointNode;

    fn node(me: NodeId, config: &Config, start: &crate::any::Start) -> CheckpointNode {
        CheckpointNode::new(me, config, start.stable.clone(), start.restarted)
    }
}
