//! The RPC server: executes calls on an account, filtering duplicates under
//! at-most-once with a memory of replies it loses when it crashes; long
//! calls are computations that orphan remedies may kill.

use super::{Config, Msg, Orphans, RpcEvent, Semantics};
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// The timer of the gentle remedy's deadline for claims.
const CLAIMS: TimerId = TimerId(u64::MAX - 1);
/// The timer of the expiration remedy's check.
const QUANTA: TimerId = TimerId(u64::MAX - 2);
/// The timer of the gentle remedy's next round of questions.
const LOCATE: TimerId = TimerId(u64::MAX - 3);
/// Rounds of questions the gentle remedy asks before its claims deadline.
const LOCATE_ROUNDS: u32 = 20;

/// A long call being computed.
#[derive(Clone, Debug, Hash)]
struct Computation {
    client: NodeId,
    incarnation: u64,
    amount: i64,
    /// Renewed last (expiration), or started.
    renewed: Time,
    /// Gentle: asked about, not claimed yet.
    unclaimed: bool,
}

/// Replies remembered at most (the oldest go first).
const MEMORY: usize = 65_536;

/// The RPC server.
#[derive(Clone, Debug, Hash)]
pub struct Server {
    semantics: Semantics,
    restarted: bool,
    /// This incarnation: the time it started (the host's clock only moves on).
    epoch: u64,
    balance: i64,
    /// At-most-once: the reply of every call executed in this incarnation.
    replies: BTreeMap<u64, i64>,
    work: Duration,
    orphans: Orphans,
    /// How long a client has to claim its calls (gentle).
    timeout: Duration,
    /// Long calls being computed, by call number.
    computing: BTreeMap<u64, Computation>,
    /// The newest client incarnation heard of.
    client_incarnation: u64,
}

impl Server {
    /// A server; `restarted` when an earlier incarnation may have run calls.
    pub fn new(config: &Config, restarted: bool) -> Server {
        Server {
            semantics: config.semantics,
            restarted,
            epoch: 0,
            balance: 0,
            replies: BTreeMap::new(),
            work: config.work,
            orphans: config.orphans,
            timeout: config.timeout,
            computing: BTreeMap::new(),
            client_incarnation: 0,
        }
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.epoch = now.as_nanos().max(1);
        if let Orphans::Expiration { quantum } = self.orphans {
            out.set_timer(quantum / 4, QUANTA);
        }
    }

    /// Execute a call: the account changes, the client gets the balance.
    fn execute(&mut self, to: NodeId, seq: u64, attempt: u32, amount: i64, out: &mut Effects<Msg>) {
        self.balance = self.balance.wrapping_add(amount);
        out.emit(Observation::Rpc(RpcEvent::Executed { seq, attempt }));
        if self.semantics == Semantics::AtMostOnce {
            self.replies.insert(seq, self.balance);
            if self.replies.len() > MEMORY {
                self.replies.pop_first();
            }
        }
        out.send(to, Msg::Reply { seq, epoch: self.epoch, balance: self.balance });
    }

    fn kill(&mut self, seq: u64, out: &mut Effects<Msg>) {
        if self.computing.remove(&seq).is_some() {
            out.emit(Observation::Rpc(RpcEvent::Killed { seq }));
        }
    }

    /// A long call: computed for `work`, then executed (unless killed).
    fn begin(
        &mut self,
        now: Time,
        from: NodeId,
        seq: u64,
        incarnation: u64,
        amount: i64,
        out: &mut Effects<Msg>,
    ) {
        if self.computing.contains_key(&seq) {
            return;
        }
        if let Some(&balance) = self.replies.get(&seq) {
            out.emit(Observation::Rpc(RpcEvent::Filtered { seq, attempt: 0 }));
            out.send(from, Msg::Reply { seq, epoch: self.epoch, balance });
            return;
        }
        self.client_incarnation = self.client_incarnation.max(incarnation);
        let c = Computation { client: from, incarnation, amount, renewed: now, unclaimed: false };
        self.computing.insert(seq, c);
        out.emit(Observation::Rpc(RpcEvent::Started { seq, incarnation }));
        out.set_timer(self.work, TimerId(seq));
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            LOCATE => {
                // Gentle: ask again about what is still unclaimed (a question
                // or its answer may have been lost on the way).
                self.locate(out);
                if self.computing.values().any(|c| c.unclaimed) {
                    out.set_timer(self.timeout / LOCATE_ROUNDS, LOCATE);
                }
            }
            CLAIMS => {
                // Gentle: nobody claimed these: they are orphans.
                let orphans: Vec<u64> =
                    self.computing.iter().filter(|(_, c)| c.unclaimed).map(|(s, _)| *s).collect();
                for seq in orphans {
                    self.kill(seq, out);
                }
            }
            QUANTA => {
                if let Orphans::Expiration { quantum } = self.orphans {
                    let expired: Vec<u64> = self
                        .computing
                        .iter()
                        .filter(|(_, c)| now > c.renewed + quantum)
                        .map(|(s, _)| *s)
                        .collect();
                    for seq in expired {
                        self.kill(seq, out);
                    }
                    out.set_timer(quantum / 4, QUANTA);
                }
            }
            TimerId(seq) => {
                if let Some(c) = self.computing.remove(&seq) {
                    self.execute(c.client, seq, 0, c.amount, out);
                }
            }
        }
    }

    /// Whether a retry stamped with `epoch` may have run in an earlier incarnation.
    fn maybe_ran_before(&self, epoch: u64) -> bool {
        if epoch == 0 {
            // The client had heard from no incarnation: only the first one is safe.
            self.restarted
        } else {
            epoch != self.epoch
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let (seq, attempt, epoch, amount) = match msg {
            Msg::Request { seq, attempt, epoch, amount } => (seq, attempt, epoch, amount),
            Msg::Call { seq, incarnation, amount } => {
                return self.begin(now, from, seq, incarnation, amount, out)
            }
            Msg::Kill { seqs } => {
                for seq in seqs {
                    self.kill(seq, out);
                }
                return;
            }
            Msg::NewEpoch { incarnation } => return self.new_epoch(from, incarnation, out),
            Msg::Adopt { seq, incarnation } => {
                if let Some(c) = self.computing.get_mut(&seq).filter(|c| c.unclaimed) {
                    c.unclaimed = false;
                    c.incarnation = incarnation;
                    c.client = from;
                    out.emit(Observation::Rpc(RpcEvent::Adopted { seq }));
                }
                return;
            }
            Msg::Renew { seqs } => {
                for seq in seqs {
                    if let Some(c) = self.computing.get_mut(&seq) {
                        c.renewed = now;
                    }
                }
                return;
            }
            Msg::Reply { .. } | Msg::Refused { .. } | Msg::Locate { .. } => return,
        };
        let epoch_now = self.epoch;
        if self.semantics == Semantics::AtMostOnce {
            if let Some(&balance) = self.replies.get(&seq) {
                out.emit(Observation::Rpc(RpcEvent::Filtered { seq, attempt }));
                out.send(from, Msg::Reply { seq, epoch: epoch_now, balance });
                return;
            }
            if attempt > 0 && self.maybe_ran_before(epoch) {
                out.emit(Observation::Rpc(RpcEvent::Refused { seq, attempt }));
                out.send(from, Msg::Refused { seq, epoch: epoch_now });
                return;
            }
        }
        self.execute(from, seq, attempt, amount, out);
    }

    /// Gentle: ask the client about every computation nobody has claimed yet.
    fn locate(&self, out: &mut Effects<Msg>) {
        for (&seq, c) in self.computing.iter().filter(|(_, c)| c.unclaimed) {
            out.send(c.client, Msg::Locate { seq });
        }
    }

    /// A client's new incarnation: reincarnation kills the older
    /// computations; gentle asks about each (again every twentieth of the
    /// client's timeout, until claimed) and kills what nobody claims within
    /// that timeout.
    fn new_epoch(&mut self, from: NodeId, incarnation: u64, out: &mut Effects<Msg>) {
        self.client_incarnation = self.client_incarnation.max(incarnation);
        let older: Vec<u64> =
            self.computing.iter().filter(|(_, c)| c.incarnation < incarnation).map(|(s, _)| *s).collect();
        match self.orphans {
            Orphans::Reincarnation => {
                for seq in older {
                    self.kill(seq, out);
                }
            }
            Orphans::Gentle if !older.is_empty() => {
                for seq in older {
                    if let Some(c) = self.computing.get_mut(&seq) {
                        c.unclaimed = true;
                        c.client = from;
                    }
                }
                self.locate(out);
                out.set_timer(self.timeout / LOCATE_ROUNDS, LOCATE);
                out.set_timer(self.timeout, CLAIMS);
            }
            _ => {}
        }
    }
}
