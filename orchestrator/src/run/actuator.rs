//! Backend actions off the run loop: the loop hands a batch of container
//! actions to the actuator and goes on folding observations, serving
//! snapshots and reading keys; each action reports back on a channel with
//! the instants it was issued and took effect.
//!
//! Actions run in the order they were issued (one lock on the backend, fair);
//! the nodes of one batch, the faults due at one instant, run concurrently.

use super::control::{self, AgentLink, Inbound};
use crate::backend::Backend;
use node_agent::monotonic_now;
use node_agent::proto::AgentConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use workloads::{NodeId, Time};

/// A container-level action.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Crash,
    Start,
    Pause,
    Resume,
    Isolate,
    Reconnect,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Crash => "kill",
            Op::Start => "restart",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Isolate => "isolate",
            Op::Reconnect => "reconnect",
        }
    }
}

/// One node of a batch: the fault records it serves and, to start it, its configuration.
#[derive(Debug)]
pub struct Target {
    pub node: NodeId,
    pub records: Vec<usize>,
    pub config: Option<AgentConfig>,
}

/// What an action did to one node.
#[derive(Debug)]
pub struct Done {
    pub op: Op,
    pub node: NodeId,
    pub records: Vec<usize>,
    /// Just before the action was issued to the backend.
    pub issued: Time,
    /// When the backend said it was done (a crashed process reaped, a
    /// restarted agent configured and ready).
    pub effective: Time,
    pub result: Result<Option<AgentLink>, String>,
    /// The incarnation a start connected to.
    pub incarnation: u32,
}

/// Runs batches of backend actions in their own tasks.
#[derive(Clone)]
pub struct Actuator {
    backend: Arc<Mutex<Backend>>,
    done: mpsc::UnboundedSender<Done>,
    inbound: mpsc::UnboundedSender<Inbound>,
    token: String,
    connect_within: Duration,
}

impl Actuator {
    pub fn new(
        backend: Arc<Mutex<Backend>>,
        done: mpsc::UnboundedSender<Done>,
        inbound: mpsc::UnboundedSender<Inbound>,
        token: String,
        connect_within: Duration,
    ) -> Actuator {
        Actuator { backend, done, inbound, token, connect_within }
    }

    /// Issue `op` on these nodes together; results arrive on the done channel.
    pub fn issue(&self, op: Op, targets: Vec<Target>) {
        if targets.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.execute(op, targets).await });
    }

    async fn execute(&self, op: Op, targets: Vec<Target>) {
        let nodes: Vec<NodeId> = targets.iter().map(|t| t.node).collect();
        let mut backend = self.backend.lock().await;
        let issued = monotonic_now();
        let results: Vec<Result<Option<crate::backend::AgentEndpoint>, String>> = match op {
            Op::Crash => each(backend.crash_all(&nodes).await.map(|()| None), nodes.len()),
            Op::Start => match backend.start_all(&nodes).await {
                Ok(eps) => eps.into_iter().map(|e| Ok(Some(e))).collect(),
                Err(e) => each(Err(e), nodes.len()),
            },
            Op::Pause => each(backend.pause_all(&nodes).await.map(|()| None), nodes.len()),
            Op::Resume => each(backend.resume_all(&nodes).await.map(|()| None), nodes.len()),
            Op::Isolate => each(backend.isolate_all(&nodes).await.map(|()| None), nodes.len()),
            Op::Reconnect => each(backend.reconnect_all(&nodes).await.map(|()| None), nodes.len()),
        };
        drop(backend);
        let after = monotonic_now();
        if op != Op::Start {
            for (t, result) in targets.into_iter().zip(results) {
                let result = result.map(|_| None).map_err(|e| format!("cannot {} it: {e}", op.verb()));
                let _ = self.done.send(Done {
                    op,
                    node: t.node,
                    records: t.records,
                    issued,
                    effective: after,
                    result,
                    incarnation: 0,
                });
            }
            return;
        }
        // A restarted agent is up once it is configured and ready; connect
        // to every one of the batch at once.
        let connects = targets.into_iter().zip(results).map(|(t, result)| async move {
            let incarnation = t.config.as_ref().map(|c| c.incarnation).unwrap_or(0);
            let result = match (result, t.config) {
                (Ok(Some(ep)), Some(cfg)) => {
                    control::connect(ep.control, &self.token, cfg, self.connect_within, self.inbound.clone())
                        .await
                        .map(Some)
                        .map_err(|e| format!("it did not come back: {e}"))
                }
                (Err(e), _) => Err(format!("cannot restart it: {e}")),
                _ => Err("no configuration to restart it with".to_string()),
            };
            Done {
                op,
                node: t.node,
                records: t.records,
                issued,
                effective: monotonic_now(),
                result,
                incarnation,
            }
        });
        for done in futures::future::join_all(connects).await {
            let _ = self.done.send(done);
        }
    }
}

/// One result for each of `n` nodes of a batch that succeeds or fails as a whole.
fn each<T: Clone>(r: Result<T, crate::backend::BackendError>, n: usize) -> Vec<Result<T, String>> {
    let r = r.map_err(|e| e.to_string());
    vec![r; n]
}
