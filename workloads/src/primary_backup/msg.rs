//! The messages of primary/backup.

use crate::kv::{KvOp, KvStore};
use crate::tmr::{Op, Snapshot};
use crate::{Message, NodeId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A primary/backup message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Client to the primary: apply request `seq`.
    Request { seq: u64, op: Op },
    /// Primary to client: the result of request `seq`.
    Reply { seq: u64, value: i64 },
    /// Replica to client: the primary of `view` is `primary` (a redirect, or a new primary's announcement).
    Primary { view: u64, primary: NodeId },
    /// Primary to backup: apply request `seq` in `view`.
    Update { view: u64, seq: u64, op: Op },
    /// Backup to primary: everything up to `seq` is applied.
    Ack { view: u64, seq: u64 },
    /// Replica to replica: heartbeat `seq` of incarnation `epoch`, and the sender's view.
    Heartbeat { epoch: u64, seq: u64, view: u64, primary: Option<NodeId> },
    /// New primary to the replicas it trusts: I lead `view`.
    NewView { view: u64 },
    /// Replica to the new primary: I follow `view`; my state is at `seq`.
    ViewAck { view: u64, seq: u64 },
    /// Send me your state.
    StateRequest,
    /// A replica's state in `view` (its registers too, in key-value mode).
    StateReply { view: u64, snapshot: Snapshot, kv: Option<Box<KvStore>> },
    /// Key-value client to the primary: apply its operation `id`.
    KvRequest { id: u64, op: KvOp },
    /// Primary to key-value client: operation `id` took effect (`ok`) or was
    /// refused; a read's or a refused cas's value.
    KvReply { id: u64, ok: bool, value: Option<i64> },
    /// Primary to backup: apply `client`'s operation `id` as entry `seq` in `view`.
    KvUpdate { view: u64, seq: u64, client: NodeId, id: u64, op: KvOp },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            Msg::Reply { value, .. } => {
                *value = value.wrapping_add(rng.next_u64().max(1) as i64);
                true
            }
            _ => false,
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            Msg::Reply { seq, value } => {
                *value = value.wrapping_add(1 + (crate::tmr::ledger::mix(*seq ^ key) % 1_000_000) as i64);
                true
            }
            _ => false,
        }
    }
}
