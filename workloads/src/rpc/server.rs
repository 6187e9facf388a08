//! The RPC server: executes calls on an account, filtering duplicates under
//! at-most-once with a memory of replies it loses when it crashes.

use super::{Config, Msg, RpcEvent, Semantics};
use crate::{Effects, NodeId, Observation, Time};
use std::collections::BTreeMap;

/// Replies remembered at most (the oldest go first).
const MEMORY: usize = 65_536;

/// The RPC server.
#[derive(Debug)]
pub struct Server {
    semantics: Semantics,
    restarted: bool,
    /// This incarnation: the time it started (the host's clock only moves on).
    epoch: u64,
    balance: i64,
    /// At-most-once: the reply of every call executed in this incarnation.
    replies: BTreeMap<u64, i64>,
}

impl Server {
    /// A server; `restarted` when an earlier incarnation may have run calls.
    pub fn new(config: &Config, restarted: bool) -> Server {
        Server { semantics: config.semantics, restarted, epoch: 0, balance: 0, replies: BTreeMap::new() }
    }

    pub(super) fn on_start(&mut self, now: Time) {
        self.epoch = now.as_nanos().max(1);
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

    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Request { seq, attempt, epoch, amount } = msg else { return };
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
        self.balance = self.balance.wrapping_add(amount);
        out.emit(Observation::Rpc(RpcEvent::Executed { seq, attempt }));
        if self.semantics == Semantics::AtMostOnce {
            self.replies.insert(seq, self.balance);
            if self.replies.len() > MEMORY {
                self.replies.pop_first();
            }
        }
        out.send(from, Msg::Reply { seq, epoch: epoch_now, balance: self.balance });
    }
}
