//! Sans-IO fault-tolerance protocols.
//!
//! Every workload is a deterministic state machine with no I/O and no clock of
//! its own: it is handed messages, timer expiries and the current time, and it
//! answers with [`Effects`] (messages to send, timers to set, observations to
//! report). The node agent drives it with real sockets and real time; unit tests
//! drive it message by message; a simulator can drive it with virtual time.

pub mod any;
pub mod byzantine;
pub mod checkpoint;
pub mod commit;
pub mod echo;
pub mod external;
pub mod heartbeat;
pub mod history;
pub mod kv;
pub mod multi_paxos;
pub mod multicast;
pub mod node;
pub mod observation;
pub mod paxos;
pub mod primary_backup;
pub mod rpc;
pub mod seed;
pub mod time;
pub mod tmr;
pub mod two_armies;

pub use heartbeat::{DetectorConfig, DetectorKind};
pub use node::{Effects, Message, Node, NodeId, StableRecords, StableWrite, TimerId};
pub use observation::{Observation, Outcome, Verdict};
pub use time::Time;
