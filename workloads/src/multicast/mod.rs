//! Reliable group communication (Tanenbaum §8.4): reliable multicast with
//! positive or negative feedback, scalable feedback control (SRM, and a
//! hierarchy of subgroups), message ordering (FIFO, causal, total), and
//! virtual synchrony over a group membership service built on the heartbeat
//! failure detectors.
//!
//! This module holds the workload's configuration and what its members
//! observe; the members and the oracle that checks their delivery logs
//! live beside it.

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
