//! One node type over every workload, so an agent (which learns its workload
//! only from its configuration) runs a single event loop for all of them.
//!
//! Adding a workload: a variant in [`AnyNode`], one in [`AnyMsg`], and an arm
//! in each `match` below.

use crate::{
    byzantine, checkpoint, commit, heartbeat, primary_backup, rpc, tmr, Effects, Message, Node, NodeId, Time,
    TimerId,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A message of any workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AnyMsg {
    Tmr(tmr::Msg),
    Checkpoint(checkpoint::Msg),
    Byzantine(byzantine::Msg),
    Commit(commit::Msg),
    Rpc(rpc::Msg),
    Heartbeat(heartbeat::Msg),
    PrimaryBackup(primary_backup::Msg),
}

impl Message for AnyMsg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            AnyMsg::Tmr(m) => m.corrupt(rng),
            AnyMsg::Checkpoint(m) => m.corrupt(rng),
            AnyMsg::Byzantine(m) => m.corrupt(rng),
            AnyMsg::Commit(m) => m.corrupt(rng),
            AnyMsg::Rpc(m) => m.corrupt(rng),
            AnyMsg::Heartbeat(m) => m.corrupt(rng),
            AnyMsg::PrimaryBackup(m) => m.corrupt(rng),
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            AnyMsg::Tmr(m) => m.collude(key),
            AnyMsg::Checkpoint(m) => m.collude(key),
            AnyMsg::Byzantine(m) => m.collude(key),
            AnyMsg::Commit(m) => m.collude(key),
            AnyMsg::Rpc(m) => m.collude(key),
            AnyMsg::Heartbeat(m) => m.collude(key),
            AnyMsg::PrimaryBackup(m) => m.collude(key),
        }
    }

    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        match self {
            AnyMsg::Tmr(m) => m.equivocate(to, key),
            AnyMsg::Checkpoint(m) => m.equivocate(to, key),
            AnyMsg::Byzantine(m) => m.equivocate(to, key),
            AnyMsg::Commit(m) => m.equivocate(to, key),
            AnyMsg::Rpc(m) => m.equivocate(to, key),
            AnyMsg::Heartbeat(m) => m.equivocate(to, key),
            AnyMsg::PrimaryBackup(m) => m.equivocate(to, key),
        }
    }
}

/// A node of any workload.
// An agent hosts one node: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyNode {
    Tmr(Hosted<tmr::TmrNode>),
    Checkpoint(Hosted<checkpoint::CheckpointNode>),
    Byzantine(Hosted<byzantine::General>),
    Commit(Hosted<commit::CommitNode>),
    Rpc(Hosted<rpc::RpcNode>),
    Heartbeat(Hosted<heartbeat::HeartbeatNode>),
    PrimaryBackup(Hosted<primary_backup::PrimaryBackupNode>),
}

/// A workload node with a scratch buffer for its effects, reused on every
/// call so that wrapping costs no allocation.
#[derive(Debug)]
pub struct Hosted<N: Node> {
    pub node: N,
    scratch: Effects<N::Msg>,
}

impl<N: Node> Hosted<N> {
    /// Host `node`.
    pub fn new(node: N) -> Self {
        Hosted { node, scratch: Effects::new() }
    }

    /// Run `f` on the node, then move what it asked for into `out`, wrapping messages.
    fn call<F>(&mut self, out: &mut Effects<AnyMsg>, wrap: fn(N::Msg) -> AnyMsg, f: F)
    where
        F: FnOnce(&mut N, &mut Effects<N::Msg>),
    {
        self.scratch.clear();
        f(&mut self.node, &mut self.scratch);
        out.sends.extend(self.scratch.sends.drain(..).map(|(to, m)| (to, wrap(m))));
        out.timers.append(&mut self.scratch.timers);
        out.observations.append(&mut self.scratch.observations);
        out.stable.append(&mut self.scratch.stable);
    }
}

impl From<tmr::TmrNode> for AnyNode {
    fn from(n: tmr::TmrNode) -> Self {
        AnyNode::Tmr(Hosted::new(n))
    }
}

impl From<heartbeat::HeartbeatNode> for AnyNode {
    fn from(n: heartbeat::HeartbeatNode) -> Self {
        AnyNode::Heartbeat(Hosted::new(n))
    }
}

impl From<primary_backup::PrimaryBackupNode> for AnyNode {
    fn from(n: primary_backup::PrimaryBackupNode) -> Self {
        AnyNode::PrimaryBackup(Hosted::new(n))
    }
}

impl From<byzantine::General> for AnyNode {
    fn from(n: byzantine::General) -> Self {
        AnyNode::Byzantine(Hosted::new(n))
    }
}

impl From<commit::CommitNode> for AnyNode {
    fn from(n: commit::CommitNode) -> Self {
        AnyNode::Commit(Hosted::new(n))
    }
}

impl From<rpc::RpcNode> for AnyNode {
    fn from(n: rpc::RpcNode) -> Self {
        AnyNode::Rpc(Hosted::new(n))
    }
}

impl From<checkpoint::CheckpointNode> for AnyNode {
    fn from(n: checkpoint::CheckpointNode) -> Self {
        AnyNode::Checkpoint(Hosted::new(n))
    }
}

impl Node for AnyNode {
    type Msg = AnyMsg;

    fn on_start(&mut self, now: Time, out: &mut Effects<AnyMsg>) {
        match self {
            AnyNode::Tmr(h) => h.call(out, AnyMsg::Tmr, |n, e| n.on_start(now, e)),
            AnyNode::Checkpoint(h) => h.call(out, AnyMsg::Checkpoint, |n, e| n.on_start(now, e)),
            AnyNode::Byzantine(h) => h.call(out, AnyMsg::Byzantine, |n, e| n.on_start(now, e)),
            AnyNode::Commit(h) => h.call(out, AnyMsg::Commit, |n, e| n.on_start(now, e)),
            AnyNode::Rpc(h) => h.call(out, AnyMsg::Rpc, |n, e| n.on_start(now, e)),
            AnyNode::Heartbeat(h) => h.call(out, AnyMsg::Heartbeat, |n, e| n.on_start(now, e)),
            AnyNode::PrimaryBackup(h) => h.call(out, AnyMsg::PrimaryBackup, |n, e| n.on_start(now, e)),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: AnyMsg, out: &mut Effects<AnyMsg>) {
        match (self, msg) {
            (AnyNode::Tmr(h), AnyMsg::Tmr(m)) => {
                h.call(out, AnyMsg::Tmr, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::Checkpoint(h), AnyMsg::Checkpoint(m)) => {
                h.call(out, AnyMsg::Checkpoint, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::Byzantine(h), AnyMsg::Byzantine(m)) => {
                h.call(out, AnyMsg::Byzantine, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::Commit(h), AnyMsg::Commit(m)) => {
                h.call(out, AnyMsg::Commit, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::Rpc(h), AnyMsg::Rpc(m)) => {
                h.call(out, AnyMsg::Rpc, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::Heartbeat(h), AnyMsg::Heartbeat(m)) => {
                h.call(out, AnyMsg::Heartbeat, |n, e| n.on_message(now, from, m, e))
            }
            (AnyNode::PrimaryBackup(h), AnyMsg::PrimaryBackup(m)) => {
                h.call(out, AnyMsg::PrimaryBackup, |n, e| n.on_message(now, from, m, e))
            }
            // Another workload's message: not ours to interpret.
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<AnyMsg>) {
        match self {
            AnyNode::Tmr(h) => h.call(out, AnyMsg::Tmr, |n, e| n.on_timer(now, timer, e)),
            AnyNode::Checkpoint(h) => h.call(out, AnyMsg::Checkpoint, |n, e| n.on_timer(now, timer, e)),
            AnyNode::Byzantine(h) => h.call(out, AnyMsg::Byzantine, |n, e| n.on_timer(now, timer, e)),
            AnyNode::Commit(h) => h.call(out, AnyMsg::Commit, |n, e| n.on_timer(now, timer, e)),
            AnyNode::Rpc(h) => h.call(out, AnyMsg::Rpc, |n, e| n.on_timer(now, timer, e)),
            AnyNode::Heartbeat(h) => h.call(out, AnyMsg::Heartbeat, |n, e| n.on_timer(now, timer, e)),
            AnyNode::PrimaryBackup(h) => h.call(out, AnyMsg::PrimaryBackup, |n, e| n.on_timer(now, timer, e)),
        }
    }
}
