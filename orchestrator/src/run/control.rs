//! The orchestrator's side of the control channel: one TCP connection per
//! agent, length-delimited postcard frames (see `node_agent::proto`).

use futures::{SinkExt, StreamExt};
use node_agent::proto::{AgentConfig, Down, Up, MAX_FRAME};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use workloads::NodeId;

/// Errors on a control connection.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("agent {node} did not answer on {addr} within {secs:.1} s (last error: {last})")]
    Unreachable { node: String, addr: SocketAddr, secs: f64, last: String },
    #[error("agent {node} closed the control connection during the handshake")]
    Closed { node: String },
    #[error("agent {node} refused: {message}")]
    Refused { node: String, message: String },
    #[error("agent {node} answered {got} where {expected} was expected")]
    Unexpected { node: String, got: String, expected: &'static str },
    #[error("control connection to {node}: {source}")]
    Io { node: String, source: std::io::Error },
    #[error("control frame: {0}")]
    Codec(#[from] postcard::Error),
}

/// What arrives from the agents, tagged with node and incarnation (a frame
/// from an agent's previous life is told apart from the current one).
#[derive(Debug)]
pub struct Inbound {
    pub node: NodeId,
    pub incarnation: u32,
    /// The frame, or None when the connection closed.
    pub up: Option<Up>,
}

/// A live control connection: send with `send`; frames arrive on the runner's channel.
#[derive(Debug, Clone)]
pub struct AgentLink {
    tx: mpsc::UnboundedSender<Down>,
}

impl AgentLink {
    /// Queue a frame for the agent; false when the connection is gone.
    pub fn send(&self, down: Down) -> bool {
        self.tx.send(down).is_ok()
    }
}

/// A control connection.
pub type Conn = Framed<TcpStream, LengthDelimitedCodec>;

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

async fn send(conn: &mut Conn, node: &str, down: &Down) -> Result<(), ControlError> {
    let bytes = postcard::to_allocvec(down)?;
    conn.send(bytes::Bytes::from(bytes))
        .await
        .map_err(|source| ControlError::Io { node: node.into(), source })
}

async fn recv(conn: &mut Conn, node: &str) -> Result<Up, ControlError> {
    match conn.next().await {
        Some(Ok(frame)) => Ok(postcard::from_bytes(&frame)?),
        Some(Err(source)) => Err(ControlError::Io { node: node.into(), source }),
        None => Err(ControlError::Closed { node: node.into() }),
    }
}

/// One attempt at the handshake: connect and prove the token. A refused
/// token is `PermissionDenied`; anything else may pass on a retry.
pub async fn hello(addr: SocketAddr, token: &str, node: &str) -> std::io::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut conn = Framed::new(stream, codec());
    send(&mut conn, node, &Down::Hello { token: token.to_string() })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match recv(&mut conn, node).await.map_err(|e| std::io::Error::other(e.to_string()))? {
        Up::Hello { .. } => Ok(conn),
        Up::Error(m) => Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, m)),
        other => Err(std::io::Error::other(format!("unexpected {other:?}"))),
    }
}

/// Connect to an agent (retrying while it starts), hand it its configuration,
/// wait until it is ready, and start forwarding its frames to `inbound`.
pub async fn connect(
    addr: SocketAddr,
    token: &str,
    config: AgentConfig,
    within: Duration,
    inbound: mpsc::UnboundedSender<Inbound>,
) -> Result<AgentLink, ControlError> {
    let node = config.name.clone();
    let started = tokio::time::Instant::now();
    let mut conn = loop {
        match tokio::time::timeout(Duration::from_secs(2), hello(addr, token, &node)).await {
            Ok(Ok(conn)) => break conn,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ControlError::Refused { node, message: e.to_string() })
            }
            res => {
                let last = match res {
                    Ok(Err(e)) => e.to_string(),
                    _ => "handshake timed out".to_string(),
                };
                if started.elapsed() >= within {
                    return Err(ControlError::Unreachable { node, addr, secs: within.as_secs_f64(), last });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let me = config.node;
    let incarnation = config.incarnation;
    send(&mut conn, &node, &Down::Configure(Box::new(config))).await?;
    match recv(&mut conn, &node).await? {
        Up::Ready => {}
        Up::Error(message) => return Err(ControlError::Refused { node, message }),
        other => return Err(ControlError::Unexpected { node, got: format!("{other:?}"), expected: "Ready" }),
    }
    let (mut sink, mut stream) = conn.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Down>();
    tokio::spawn(async move {
        while let Some(down) = rx.recv().await {
            let Ok(bytes) = postcard::to_allocvec(&down) else { continue };
            if sink.send(bytes::Bytes::from(bytes)).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let up = match stream.next().await {
                Some(Ok(frame)) => postcard::from_bytes::<Up>(&frame).ok(),
                _ => None,
            };
            let closed = up.is_none();
            if inbound.send(Inbound { node: me, incarnation, up }).is_err() || closed {
                break;
            }
        }
    });
    Ok(AgentLink { tx })
}
