//! The messages of Multi-Paxos: the clients' requests and replies, the
//! replicas' two phases over log slots, heartbeats and catch-up.

use super::{Cmd, Slot};
use crate::kv::{KvOp, KvWire};
use crate::paxos::Ballot;
use crate::{Message, NodeId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A Multi-Paxos message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Client to the replica it takes for the leader: apply operation `id`.
    Request { id: u64, op: KvOp },
    /// Leader to client: operation `id` took effect (`ok`) or was refused; a
    /// read's value, or a refused cas's current value.
    Reply { id: u64, ok: bool, value: Option<i64> },
    /// Replica to client: `leader` leads with ballot round `view` (a new
    /// leader's announcement, or a redirect from a replica that does not lead).
    Leader { view: u64, leader: NodeId },
    /// Phase 1a: promise `ballot` for every slot from `from` on.
    Prepare { ballot: Ballot, from: Slot },
    /// Phase 1b: promised; the acceptor's own first unlearned slot
    /// (`commit`: every slot below it is chosen) and what it accepted in the
    /// slots from the larger of `from` and `commit`.
    Promise { ballot: Ballot, commit: Slot, accepted: Vec<(Slot, Ballot, Cmd)> },
    /// Refused: the acceptor promised a higher ballot.
    Nack { ballot: Ballot, promised: Ballot },
    /// Phase 2a: accept `cmd` in `slot`.
    Accept { ballot: Ballot, slot: Slot, cmd: Cmd },
    /// Phase 2b, to every replica: accepted `cmd` in `slot` with `ballot`.
    Accepted { ballot: Ballot, slot: Slot, cmd: Cmd },
    /// Replica to replica: heartbeat `seq`, the sender's first unlearned
    /// slot, and the ballot round it leads with, if it leads.
    Heartbeat { seq: u64, commit: Slot, leading: Option<u64> },
    /// Send me the chosen commands from `from` on.
    CatchUp { from: Slot },
    /// Chosen commands, consecutive slots.
    Chosen { entries: Vec<(Slot, Cmd)> },
}

impl KvWire for Msg {
    fn request(id: u64, op: KvOp) -> Msg {
        Msg::Request { id, op }
    }
}

/// Replace the value a reply or a proposed command carries with `v`, if it carries one.
fn tamper(msg: &mut Msg, v: i64) -> bool {
    let slot = match msg {
        Msg::Reply { value: Some(x), .. } => x,
        Msg::Accept { cmd: Cmd::Op { op, .. }, .. } | Msg::Accepted { cmd: Cmd::Op { op, .. }, .. } => {
            match op.value.as_mut() {
                Some(x) => x,
                None => return false,
            }
        }
        _ => return false,
    };
    *slot = v;
    true
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        tamper(self, (rng.next_u64() >> 1) as i64)
    }

    fn collude(&mut self, key: u64) -> bool {
        tamper(self, (key >> 1) as i64)
    }
}
