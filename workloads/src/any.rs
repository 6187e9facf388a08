//! The registry of workloads: one line per workload names its module's
//! [`Workload`] type, and from that one list come the node type and the
//! message type every agent runs ([`AnyNode`], [`AnyMsg`]) and the
//! configuration the orchestrator sends it ([`AnyConfig`]).
//!
//! Adding a workload: its module, with a type that implements [`Workload`],
//! and one line in the `registry!` call at the end of this file.

use crate::{Effects, Message, Node, NodeId, StableRecords, Time, TimerId};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// A workload, as its agents host it: the configuration of one node and
/// how that node is built when its agent starts or restarts.
pub trait Workload {
    /// One node's configuration, sent by the orchestrator to its agent.
    type Config: Clone + Debug + PartialEq + Serialize + DeserializeOwned;
    /// The node an agent hosts.
    type Node: Node + Debug;
    /// Build the node `me` configured by `config`.
    fn node(me: NodeId, config: &Self::Config, start: &Start) -> Self::Node;
}

/// Declare a workload as the registry names it: a unit type whose
/// [`Workload`] impl gives the node's configuration and type, and builds the
/// node `|me, config, start| ...`.
macro_rules! workload {
    ($(#[$doc:meta])* $name:ident: $config:ty => $node:ty, |$me:pat_param, $cfg:pat_param, $start:pat_param| $build:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl $crate::any::Workload for $name {
            type Config = $config;
            type Node = $node;

            fn node($me: $crate::NodeId, $cfg: &$config, $start: &$crate::any::Start) -> $node {
                $build
            }
        }
    };
}
pub(crate) use workload;

/// What an agent knows when it builds its node.
#[derive(Clone, Debug, Default)]
pub struct Start {
    /// The seed of this node's RNG streams (for this incarnation).
    pub seed: u64,
    /// Whether this is a restart after a crash (volatile state was lost).
    pub restarted: bool,
    /// The node's stable storage as its last incarnation left it.
    pub stable: StableRecords,
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

/// The message type of workload `W`.
pub type MsgOf<W> = <<W as Workload>::Node as Node>::Msg;

macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident => $w:ty,)*) => {
        /// A message of any workload.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum AnyMsg {
            $($variant(MsgOf<$w>),)*
        }

        impl Message for AnyMsg {
            fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
                match self { $(AnyMsg::$variant(m) => m.corrupt(rng),)* }
            }

            fn collude(&mut self, key: u64) -> bool {
                match self { $(AnyMsg::$variant(m) => m.collude(key),)* }
            }

            fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
                match self { $(AnyMsg::$variant(m) => m.equivocate(to, key),)* }
            }
        }

        /// A node of any workload.
        // An agent hosts one node: the size of the largest variant costs nothing.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug)]
        pub enum AnyNode {
            $($variant(Hosted<<$w as Workload>::Node>),)*
        }

        impl Node for AnyNode {
            type Msg = AnyMsg;

            fn on_start(&mut self, now: Time, out: &mut Effects<AnyMsg>) {
                match self { $(AnyNode::$variant(h) => h.call(out, AnyMsg::$variant, |n, e| n.on_start(now, e)),)* }
            }

            fn on_message(&mut self, now: Time, from: NodeId, msg: AnyMsg, out: &mut Effects<AnyMsg>) {
                match (self, msg) {
                    $((AnyNode::$variant(h), AnyMsg::$variant(m)) => {
                        h.call(out, AnyMsg::$variant, |n, e| n.on_message(now, from, m, e))
                    })*
                    // Another workload's message: not ours to interpret.
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }

            fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<AnyMsg>) {
                match self { $(AnyNode::$variant(h) => h.call(out, AnyMsg::$variant, |n, e| n.on_timer(now, timer, e)),)* }
            }
        }

        /// The configuration of a node of any workload.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum AnyConfig {
            $($(#[$doc])* $variant(<$w as Workload>::Config),)*
        }

        impl AnyConfig {
            /// Build the node this configuration describes.
            pub fn node(&self, me: NodeId, start: &Start) -> AnyNode {
                match self { $(AnyConfig::$variant(c) => AnyNode::$variant(Hosted::new(<$w>::node(me, c, start))),)* }
            }
        }

        $(
            impl From<<$w as Workload>::Config> for AnyConfig {
                fn from(c: <$w as Workload>::Config) -> AnyConfig {
                    AnyConfig::$variant(c)
                }
            }

            impl From<<$w as Workload>::Node> for AnyNode {
                fn from(n: <$w as Workload>::Node) -> AnyNode {
                    AnyNode::$variant(Hosted::new(n))
                }
            }
        )*
    };
}

registry! {
    /// A TMR client, replica or voter.
    Tmr => crate::tmr::Tmr,
    /// A checkpointing process.
    Checkpoint => crate::checkpoint::Checkpointing,
    /// A general of the Byzantine-agreement workload (OM(m)).
    Byzantine => crate::byzantine::Generals,
    /// A commit coordinator or participant (2PC / 3PC).
    Commit => crate::commit::Commit,
    /// An RPC client or server.
    Rpc => crate::rpc::Rpc,
    /// A heartbeat node watching its peers with a failure detector.
    Heartbeat => crate::heartbeat::Heartbeat,
    /// A primary/backup client or replica.
    PrimaryBackup => crate::primary_backup::PrimaryBackup,
    /// An echo client or server.
    Echo => crate::echo::Echo,
    /// A Paxos proposer (and learner) or acceptor.
    Paxos => crate::paxos::Paxos,
    /// A hosted program speaking Maelstrom's protocol, or a client of it.
    External => crate::external::External,
    /// A Multi-Paxos replica or key-value client.
    MultiPaxos => crate::multi_paxos::MultiPaxos,
    /// A member of a multicast group (reliable multicast, ordering, virtual synchrony).
    Multicast => crate::multicast::Multicast,
    /// A general of the two-army problem.
    TwoArmies => crate::two_armies::TwoArmies,
}
