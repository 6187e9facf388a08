//! The node agent: the tokio runtime that hosts one workload node.
//!
//! It listens for its orchestrator on a control port, receives its
//! configuration, runs the node's sans-IO state machine with real sockets and
//! real time, passes every message through the fault interposer, streams
//! observations up, and exits by itself when its orchestrator is gone.

pub mod proto;
