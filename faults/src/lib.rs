//! The fault model.
//!
//! - [`spec`]: the serde types of the `faults:` entries of an experiment file,
//!   exactly as written in YAML.
//! - [`rule`]: a message fault as installed on one node's interposer.
//! - [`interposer`]: the sans-IO interposer that sits between a node's effects
//!   and the wire and decides drop / delay / deliver / falsify per message.

pub mod duration;
pub mod interposer;
pub mod rule;
pub mod spec;
mod stream;
pub mod text;

pub use duration::{Dur, Offset};
pub use interposer::{Interposer, InterposerStats, ReceiveDecision, SendDecision};
pub use rule::{ByzantineMode, DelayDistribution, Direction, FaultId, LinkScope, MessageFault, STALE_LAG};
