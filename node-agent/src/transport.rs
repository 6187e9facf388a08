//! The data path between agents: a listener for peers' connections and one
//! lazily opened outgoing connection per peer.
//!
//! Every connection starts with a [`DataHello`] frame (the sender's id and a
//! proof keyed with the run's token; a connection without it is refused), then carries
//! length-delimited postcard frames of the workload's messages. The event loop
//! encodes a whole batch of messages per peer into one buffer and hands it to
//! that peer's writer task at the end of the batch, so a busy node wakes each
//! writer once per batch, and an idle one sends each message at once.
//! The transport never tells the node a peer is gone: messages to an
//! unreachable peer are dropped and counted, and the link retries later.

use crate::control::{codec, encode_frame};
use crate::proto::{DataHello, Peer};
use crate::AgentError;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use workloads::{Message, NodeId};

/// Messages from one peer that arrived together.
pub(crate) type Inbound<M> = (NodeId, Vec<M>);

/// How many frames a reader decodes before handing them to the event loop.
const READ_BATCH: usize = 256;
/// How long a connection attempt to a peer may take (a crashed host answers nothing).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(25);

/// Counters the transport's tasks share with the event loop.
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    /// Messages dropped because their peer could not be reached (or is unknown).
    pub(crate) unreachable: AtomicU64,
    /// Inbound connections refused (wrong run, bad handshake, undecodable frame).
    pub(crate) rejected: AtomicU64,
}

/// Binds a listener (control or data) with SO_REUSEPORT: on the process
/// backend the orchestrator holds each agent's ports, bound but not
/// listening, for the whole run, so no other socket can take them between
/// the pick and this bind, or while a crashed agent is down (a connection
/// to a held port is still refused: only a listening socket accepts).
/// Joining a port needs SO_REUSEPORT on both sockets and the same user, so a
/// port bound by anyone else is still a bind error.
pub(crate) fn listen(addr: SocketAddr) -> Result<TcpListener, AgentError> {
    let bind = || -> std::io::Result<TcpListener> {
        let socket =
            if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    bind().map_err(|source| AgentError::Bind { addr, source })
}

/// Accepts peers' connections until the returned task is aborted; each
/// connection's messages go to `tx` in batches.
pub(crate) fn spawn_acceptor<M: Message>(
    listener: TcpListener,
    token: String,
    tx: mpsc::Sender<Inbound<M>>,
    counters: Arc<TransportCounters>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let token: Arc<str> = token.into();
        let mut readers = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        readers.spawn(read_peer(stream, token.clone(), tx.clone(), counters.clone()));
                    }
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                // Reap finished readers so the set does not grow with reconnects.
                Some(_) = readers.join_next(), if !readers.is_empty() => {}
            }
        }
    })
}

async fn read_peer<M: Message>(
    stream: TcpStream,
    token: Arc<str>,
    tx: mpsc::Sender<Inbound<M>>,
    counters: Arc<TransportCounters>,
) {
    let _ = stream.set_nodelay(true);
    let mut frames = FramedRead::new(stream, codec());
    let hello = match frames.next().await {
        Some(Ok(f)) => postcard::from_bytes::<DataHello>(&f).ok(),
        _ => None,
    };
    let from = match hello {
        Some(h) if h.verify(&token) => h.from,
        _ => {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut chunks = frames.ready_chunks(READ_BATCH);
    while let Some(chunk) = chunks.next().await {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut broken = false;
        for frame in chunk {
            match frame.ok().and_then(|f| postcard::from_bytes::<M>(&f).ok()) {
                Some(msg) => batch.push(msg),
                None => {
                    broken = true;
                    break;
                }
            }
        }
        if !batch.is_empty() && tx.send((from, batch)).await.is_err() {
            return;
        }
        if broken {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// A batch of frames for one peer.
struct Chunk {
    frames: u64,
    bytes: Bytes,
}

/// One peer's outgoing link, as the event loop sees it.
struct Link {
    addr: SocketAddr,
    buf: BytesMut,
    frames: u64,
    writer: Option<mpsc::UnboundedSender<Chunk>>,
}

/// The outgoing side: frames are encoded into per-peer buffers during a batch
/// and handed to the peers' writer tasks by [`Outbox::flush`].
pub(crate) struct Outbox {
    /// This node's data hello, sent first on every outgoing connection.
    hello: DataHello,
    links: HashMap<NodeId, Link>,
    counters: Arc<TransportCounters>,
    /// Frames handed to writers so far.
    pub(crate) sent: u64,
}

impl Outbox {
    pub(crate) fn new(me: NodeId, token: &str, peers: &[Peer], counters: Arc<TransportCounters>) -> Self {
        let links = peers
            .iter()
            .filter(|p| p.id != me)
            .map(|p| (p.id, Link { addr: p.addr, buf: BytesMut::new(), frames: 0, writer: None }))
            .collect();
        Outbox { hello: DataHello::new(token, me), links, counters, sent: 0 }
    }

    /// Encodes `msg` for `to`; it leaves with the next `flush`.
    pub(crate) fn push<M: Message>(&mut self, to: NodeId, msg: &M) {
        let Some(link) = self.links.get_mut(&to) else {
            self.counters.unreachable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        reserve(&mut link.buf);
        if encode_frame(&mut link.buf, msg).is_ok() {
            link.frames += 1;
        } else {
            self.counters.unreachable.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands every peer's pending frames to its writer, starting writers lazily.
    pub(crate) fn flush(&mut self) {
        for link in self.links.values_mut() {
            if link.frames == 0 {
                continue;
            }
            let chunk = Chunk { frames: link.frames, bytes: link.buf.split().freeze() };
            self.sent += link.frames;
            link.frames = 0;
            let writer = link.writer.get_or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(write_peer(link.addr, self.hello.clone(), rx, self.counters.clone()));
                tx
            });
            if let Err(e) = writer.send(chunk) {
                // The writer only ends when we drop its sender; count defensively.
                self.counters.unreachable.fetch_add(e.0.frames, Ordering::Relaxed);
                link.writer = None;
            }
        }
    }
}

/// Keeps room in an encode buffer so frames split off it share few allocations.
fn reserve(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(64 * 1024);
    }
}

/// One peer's writer: connects on the first chunk, writes chunks as they come,
/// and on failure drops what it cannot send and retries after a backoff.
async fn write_peer(
    addr: SocketAddr,
    hello: DataHello,
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    counters: Arc<TransportCounters>,
) {
    let mut hello_frame = BytesMut::new();
    if encode_frame(&mut hello_frame, &hello).is_err() {
        return;
    }
    let mut backoff = BACKOFF_MIN;
    let mut retry_at: Option<Instant> = None;
    let drop_chunk = |c: &Chunk| {
        counters.unreachable.fetch_add(c.frames, Ordering::Relaxed);
    };
    while let Some(first) = rx.recv().await {
        if retry_at.is_some_and(|t| Instant::now() < t) {
            drop_chunk(&first);
            continue;
        }
        let mut stream = match connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                drop_chunk(&first);
                // Whatever queued while we tried is stale too.
                while let Ok(c) = rx.try_recv() {
                    drop_chunk(&c);
                }
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        retry_at = None;
        if stream.write_all(&hello_frame).await.is_err() {
            drop_chunk(&first);
            continue;
        }
        let mut chunk = first;
        loop {
            if stream.write_all(&chunk.bytes).await.is_err() {
                drop_chunk(&chunk);
                retry_at = Some(Instant::now() + backoff);
                break;
            }
            match rx.recv().await {
                Some(c) => chunk = c,
                None => {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
