//! What one machine can run, measured rather than guessed, and why.
//!
//! Figures from a 2-core, 24 GiB machine shared with other builds (load
//! average 12 to 27 while measuring), debug build, `faultlab run FILE
//! --backend B --duration 3s`:
//! - process: a TMR with 101 replicas (103 agents, about 12 to 19 MB of
//!   RSS each) deployed in about 4 s and served at 50 requests/s
//!   (availability 0.88); 125 replicas (127 agents) deployed in 5.5 s but
//!   its one voter, counting 6,250 results/s, kept only 0.17; 201 replicas
//!   (203 agents) did not all answer within the 20 s deploy timeout.
//! - docker: 31 replicas (33 containers) deployed and served (23 s in all,
//!   availability 0.70 at 50 requests/s under that load);
//!   47 replicas (49 containers) did not deploy (no published control port
//!   after 49 s) and 63 replicas neither: each container start costs the
//!   engine 0.7 to 1.1 s and a published port.
//! - rate: one client agent sending to 3 replicas held availability 0.9996
//!   at 10,000 requests/s (client RSS 13 MB); at 20,000/s it fell to 0.58
//!   and at 50,000/s to 0, and `faultlab bench` peaks at about 12,800 voted
//!   requests/s with 64 outstanding. Above the limit the client's requests
//!   only fail: the numbers would measure the client's host, not the service.

use crate::backend::BackendChoice;

/// Agents the process backend runs at most (see the module's figures).
pub const MAX_NODES_PROCESS: usize = 128;
/// Containers the docker backend runs at most (see the module's figures).
pub const MAX_NODES_DOCKER: usize = 33;
/// Requests per second one client agent sends at most.
pub const MAX_RATE: f64 = 10_000.0;
/// Heartbeats per second the whole heartbeat group sends at most
/// (n (n - 1) / interval). Measured with a fixed 500 ms detector over
/// 100 ms heartbeats for 4 s: 32 nodes (9,920/s) made no false suspicion,
/// 48 nodes (22,560/s) made 2,390 (query accuracy 0.946): past this the
/// host, not the detector, decides who is suspected.
pub const MAX_HEARTBEATS_PER_SECOND: f64 = 10_000.0;

/// The most nodes the sim backend runs.
pub const MAX_NODES_SIM: usize = 2048;

/// The most nodes `backend` runs, and why (`Auto` may become either: the
/// larger figure here, and the run checks again once it has chosen).
pub fn max_nodes(backend: BackendChoice) -> (usize, &'static str) {
    match backend {
        BackendChoice::Docker => (
            MAX_NODES_DOCKER,
            "the docker backend runs at most 33 containers: each start costs the engine about 1 s and a \
             published port; 33 deployed on a 2-core machine, 49 did not",
        ),
        BackendChoice::Swarm => (
            MAX_NODES_DOCKER,
            "the swarm backend runs at most 33 services, the docker backend's limit: it was measured on a \
             one-node swarm, where every task is a container on one engine (docs/swarm.md has the plan past it)",
        ),
        BackendChoice::Sim => (
            MAX_NODES_SIM,
            "the sim backend keeps a latest-arrival time per link (n² of them) and numbers nodes in 16 bits",
        ),
        BackendChoice::Process | BackendChoice::Auto => (
            MAX_NODES_PROCESS,
            "the process backend runs at most 128 agents: 127 deployed in 5.5 s on a 2-core machine, \
             203 did not all answer within the 20 s deploy timeout",
        ),
    }
}

/// The reason given with [`MAX_RATE`].
pub const RATE_REASON: &str = "one client agent sustains about 10,000 requests/s on a 2-core machine \
     (measured: availability 0.9996 at 10,000/s, 0.58 at 20,000/s); beyond it the requests fail for the \
     client's own sake and the run would measure the client, not the service";
