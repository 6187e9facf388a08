//! The messages group members exchange.

use super::MsgId;
use crate::{Message, NodeId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// One multicast as it travels: its id, the view it was multicast in, and
/// its sender's causal past (see [`super::MulticastEvent::Sent`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    pub id: MsgId,
    pub view: u64,
    pub deps: Vec<(NodeId, u64)>,
}

/// A group-communication message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// A multicast, first sent or sent again (`repair`).
    Data { packet: Packet, repair: bool },
    /// ACK: the receiver has `id`.
    Ack { id: MsgId },
    /// NACK, SRM, hierarchical: the requester misses these sequence numbers of `sender`.
    Nack { sender: NodeId, seqs: Vec<u64>, view: u64 },
    /// A sender's highest sequence number, sent while it is idle, so that a
    /// lost last message is noticed.
    Last { seq: u64, view: u64 },
    /// Total order: the sequencer's global numbers `first`, `first + 1`, ... for `ids`.
    Order { view: u64, first: u64, ids: Vec<MsgId> },
    /// Total order: a member misses the sequencer's numbers from `next` on.
    OrderNack { view: u64, next: u64 },
    /// Membership: a heartbeat of the incarnation `epoch`, with the sender's
    /// installed view (none while it joins), the lowest member of that view,
    /// and how far it delivered each sender's messages (for stability).
    Beat { epoch: u64, seq: u64, view: Option<u64>, low: Option<NodeId>, delivered: Vec<(NodeId, u64)> },
    /// Membership: the proposer asks for view `view` (following `prev`) of
    /// `members`; `joiners` come from no view of theirs (restarted, or from
    /// the other side of a healed partition).
    Propose { view: u64, prev: u64, members: Vec<NodeId>, joiners: Vec<NodeId> },
    /// Membership: a member's unstable messages of the old view, the
    /// sequencer's numbers it knows, and the highest sequence number it
    /// knows of each sender (the flush, with its acknowledgment).
    Flush { view: u64, packets: Vec<Packet>, orders: Vec<(u64, MsgId)>, next: Vec<(NodeId, u64)> },
    /// Membership: install `view`. Survivors of `prev` deliver what they miss
    /// of `packets` first; everyone starts each sender's numbering at `base`
    /// (the state transfer).
    Install {
        view: u64,
        prev: u64,
        members: Vec<NodeId>,
        joiners: Vec<NodeId>,
        packets: Vec<Packet>,
        orders: Vec<(u64, MsgId)>,
        base: Vec<(NodeId, u64)>,
    },
}

impl Message for Msg {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}
