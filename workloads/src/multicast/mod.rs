//! Reliable group communication (Tanenbaum §8.4): reliable multicast with
//! positive or negative feedback, scalable feedback control (SRM, and a
//! hierarchy of subgroups), message ordering (FIFO, causal, total), and
//! virtual synchrony over a group membership service built on the heartbeat
//! failure detectors.
//!
//! This module holds the workload's configuration and what its members
//! observe; the members ([`MulticastNode`], one node type for every member)
//! and the oracle that checks their delivery logs ([`oracle`]) live beside it.
//!
//! # Reliability
//!
//! Every sender numbers its multicasts 1, 2, ... and keeps them in a history
//! buffer. **ACK**: every receiver acknowledges every message (also a
//! duplicate, in case its acknowledgment was lost); the sender resends to the
//! silent receivers every `retransmit` and drops a message from its buffer
//! once every member of the view acknowledged it (or after `history`, so that
//! a crashed receiver without a membership service does not pin it forever).
//! **NACK**: a receiver notices a gap in a sender's numbers (or learns the
//! sender's last number from the `Last` message an idle sender repeats every
//! `retransmit`) and, once the gap is `retransmit` old, sends one NACK per
//! sender listing what it misses; the sender keeps each message `history`.
//! **SRM**: the NACK is multicast to the group after a delay drawn from
//! [1, 2] × `retransmit` (the member's seeded RNG); a member that hears
//! another's NACK for a message it misses too suppresses its own
//! (`Suppressed`) and draws a new delay; every member keeps what it received
//! `history` long, the sender answers a NACK at once and any other holder
//! after its own random delay unless a repair arrives first. A NACK multicast
//! to the group counts as one feedback message, as a data multicast is one
//! multicast. **Hierarchical**: the view is cut into subgroups of `subgroup`
//! members, whose first member coordinates and keeps a history buffer; a
//! receiver NACKs its coordinator, a coordinator answers from its buffer or
//! asks its parent in a binary tree of coordinators rooted at the sender's
//! subgroup (the root asks the sender) and forwards the repair.
//!
//! # Ordering
//!
//! FIFO holds back a sender's message until its predecessors are delivered;
//! causal until, besides, every message its sender had delivered when it
//! sent it (the vector `deps`) is delivered; total order follows the numbers
//! the sequencer — the lowest member of the view — gives the messages as it
//! receives them (`Order`; a member that waits asks it again with
//! `OrderNack`, counted as feedback). A sender delivers its own messages
//! through the same rules.
//!
//! # Virtual synchrony (`atomic: true`)
//!
//! Every member heartbeats every other configured member and watches each
//! with the configured detector. When a member of the view is suspected, or
//! someone asks to join, the lowest unsuspected member of the view proposes
//! view v' (higher than any view number heard of) to the members it trusts
//! and the joiners. A member that accepts a proposal stops delivering and
//! sending messages of the old view, and answers with its flush: every
//! message of the old view it received and does not know to be stable
//! (delivered by every member, as heartbeats report), the sequencer's numbers
//! it knows, and the highest number it knows of each sender. Once every
//! proposed member flushed, the proposer installs the view: survivors deliver
//! the union of the flushes (as far as the order allows — all survivors hold
//! the same messages, so they deliver the same ones), then every member starts
//! each sender's numbering where the flushes left it (the state transfer).
//! Each member passes the install on once, so a proposer that crashes halfway
//! through installing leaves no survivor behind; a proposer that crashes
//! earlier is suspected and the next lowest member proposes a higher view
//! (the higher view wins, between equal ones the lower proposer). Messages are
//! delivered only in the view they were multicast in: a message of the old
//! view that arrives after the flush is dropped. View numbers may skip.
//!
//! A restarted member has no view: it heartbeats with none, which asks to
//! join; it neither multicasts nor delivers until a view that includes it is
//! installed, and it learns every sender's next number (its own too) from
//! the install. Its own last number is also kept in stable storage.
//!
//! **Partitions.** Each side suspects the other and installs a view of its
//! own. When the partition heals, the side whose view has the lowest member
//! wins: its lowest member takes the other side's members in as joiners,
//! and they abandon their view (what they had not delivered of it is
//! dropped) and take the state transfer, as a restarted member does.

mod member;
mod membership;
mod msg;
pub mod oracle;
mod seqset;

pub use member::{MulticastNode, View};
pub use msg::{Msg, Packet};

use crate::{DetectorConfig, NodeId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How receivers tell the sender what they got (the feedback).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Every receiver acknowledges every message; the sender retransmits to
    /// those that did not acknowledge within `retransmit` (ACK implosion:
    /// about N feedback messages per multicast).
    Ack,
    /// Receivers report only what they miss (a gap in a sender's sequence
    /// numbers, or nothing heard for `retransmit`), to the sender.
    Nack,
    /// Scalable Reliable Multicasting: a receiver that misses a message
    /// multicasts its NACK to the whole group after a random delay; one that
    /// hears another's NACK for the same message first suppresses its own;
    /// any member holding the message may answer.
    Srm,
    /// Receivers in subgroups of `subgroup` members, each with a coordinator
    /// that keeps a history buffer, arranged in a tree: a receiver asks its
    /// coordinator, a coordinator that missed a message asks its parent.
    Hierarchical,
}

/// The order in which a member delivers what it received.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ordering {
    /// As received.
    None,
    /// Each sender's messages in the order it sent them.
    Fifo,
    /// A message after every message that causally precedes it (vector clocks).
    Causal,
    /// Every member in the same order, assigned by a sequencer (the lowest
    /// member of the current view).
    Total,
}

/// One multicast: its sender and the sender's sequence number (from 1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    pub sender: NodeId,
    pub seq: u64,
}

/// Everything a member needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub protocol: Protocol,
    pub ordering: Ordering,
    /// Virtual synchrony: a message is delivered to every member of a view
    /// or to none (a view change flushes unstable messages first).
    pub atomic: bool,
    /// Every member of the group, in order; the first view holds them all.
    pub members: Vec<NodeId>,
    /// The members that multicast (a subset of `members`).
    pub senders: Vec<NodeId>,
    /// Multicasts per second each sender starts (open loop).
    pub rate: f64,
    /// ACK: resend to the silent receivers after this; NACK: report a gap
    /// this old; SRM: the NACK's random delay is drawn from [1, 2] × this.
    pub retransmit: Duration,
    /// Hierarchical: members per subgroup (its first member coordinates it).
    pub subgroup: usize,
    /// How long a message stays in a history buffer when no feedback says
    /// everyone has it (NACK, SRM, hierarchical).
    pub history: Duration,
    /// The detector the membership service follows (with `atomic`).
    pub detector: DetectorConfig,
    /// This member's random streams (SRM's delays).
    pub seed: u64,
}

/// Which kind of feedback a member sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Feedback {
    Ack,
    Nack,
}

/// What a member observed: the oracle and the metrics are built from these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MulticastEvent {
    /// This member multicast `id` in view `view`. `deps` is its causal
    /// past: for each sender, the highest sequence number of that sender
    /// this member had delivered when it sent (its own: `id.seq - 1`).
    Sent { id: MsgId, view: u64, deps: Vec<(NodeId, u64)> },
    /// This member delivered `id` to its application in view `view`.
    Delivered { id: MsgId, view: u64 },
    /// This member sent `count` feedback messages (acknowledgments, or
    /// negative acknowledgments) in one call.
    Feedback { kind: Feedback, count: u32 },
    /// This member sent `id` again (a sender, a coordinator, or a peer
    /// answering a NACK), to `count` members.
    Retransmitted { id: MsgId, count: u32 },
    /// SRM: this member held back its NACK for `id` because it heard another's.
    Suppressed { id: MsgId },
    /// How many messages this member's history buffer holds (sampled
    /// whenever it changes by a tenth, and at least every second).
    History { messages: u32 },
    /// The membership service began changing to view `view` (this member
    /// suspects a member, or one asked to join).
    ViewChange { view: u64 },
    /// This member installed view `view` with these members, after
    /// flushing `flushed` unstable messages to the others.
    ViewInstalled { view: u64, members: Vec<NodeId>, flushed: u32 },
}

impl Config {
    /// A small group for tests and examples: `n` members (ids 0..n), the
    /// first `senders` of them multicasting 50 times a second.
    pub fn small(protocol: Protocol, ordering: Ordering, n: u16, senders: u16) -> Config {
        Config {
            protocol,
            ordering,
            atomic: false,
            members: (0..n).map(NodeId).collect(),
            senders: (0..senders).map(NodeId).collect(),
            rate: 50.0,
            retransmit: Duration::from_millis(20),
            subgroup: 4,
            history: Duration::from_secs(1),
            detector: DetectorConfig {
                interval: Duration::from_millis(20),
                check: Duration::from_millis(2),
                kind: crate::DetectorKind::Fixed { timeout: Duration::from_millis(100) },
            },
            seed: 1,
        }
    }
}

crate::any::workload! {
    /// Reliable group communication, as the registry names it.
    Multicast: Config => MulticastNode, |me, config, start| MulticastNode::new(me, config, start.seed, start.restarted, &start.stable)
}
