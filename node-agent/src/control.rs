//! The control channel: accepting the orchestrator, the handshake, framing,
//! and the watchdog that makes an orphaned agent exit by itself.

use crate::proto::{Down, Up, MAX_FRAME};
use crate::AgentError;
use futures::StreamExt;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// The codec of both the control channel and the data path.
pub(crate) fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

/// Appends `value` to `buf` as one length-prefixed postcard frame.
pub(crate) fn encode_frame<T: serde::Serialize>(
    buf: &mut bytes::BytesMut,
    value: &T,
) -> Result<(), postcard::Error> {
    use bytes::BufMut;
    let start = buf.len();
    buf.put_u32(0);
    let taken = std::mem::take(buf);
    match postcard::to_extend(value, taken) {
        Ok(b) => *buf = b,
        Err(e) => return Err(e),
    }
    let len = buf.len() - start - 4;
    if len > MAX_FRAME {
        buf.truncate(start);
        return Err(postcard::Error::SerializeBufferFull);
    }
    // len <= MAX_FRAME < u32::MAX, checked just above.
    let len = u32::try_from(len).map_err(|_| postcard::Error::SerializeBufferFull)?;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Waits at most `within` for the orchestrator: the first connection whose
/// first frame is `Hello` with `token` wins and is answered. Any other
/// connection (a wrong token, garbage, a port scanner, a silent client) is
/// told why if it can be, closed, and forgotten: the agent keeps listening,
/// so a stray connection during deploy cannot kill it. Handshakes run side by
/// side, so a silent connection holds up nobody.
pub(crate) async fn accept(
    listener: &TcpListener,
    token: &str,
    within: Duration,
) -> Result<Control, AgentError> {
    let deadline = Instant::now() + within;
    let mut handshakes = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if Instant::now() < deadline => match accepted {
                Ok((stream, _)) => {
                    let token = token.to_string();
                    handshakes.spawn(async move { hello(stream, &token, within).await });
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                if let Ok(Ok(control)) = done {
                    // Dropping the set aborts the other handshakes.
                    return Ok(control);
                }
            }
            _ = tokio::time::sleep_until(deadline), if handshakes.is_empty() => {
                return Err(AgentError::NoOrchestrator(within));
            }
        }
    }
}

/// One connection's handshake: `Hello` with the token within `within`, answered with ours.
async fn hello(stream: TcpStream, token: &str, within: Duration) -> Result<Control, AgentError> {
    stream.set_nodelay(true)?;
    let mut control = Control::new(stream);
    match tokio::time::timeout(within, control.recv()).await {
        Ok(Ok(Down::Hello { token: t })) if t == token => {
            control.send(Up::Hello { pid: std::process::id() });
            Ok(control)
        }
        Ok(Ok(Down::Hello { .. })) => Err(control.fail(AgentError::BadToken).await),
        Ok(Ok(_)) => Err(control.fail(AgentError::Protocol("expected Hello first".into())).await),
        Ok(Err(e)) => Err(control.fail(e).await),
        Err(_) => Err(control.fail(AgentError::Watchdog(within)).await),
    }
}

/// The orchestrator's connection, split: frames are read in the event loop,
/// written by a task so a slow orchestrator never stalls the node.
pub(crate) struct Control {
    reader: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    up: mpsc::UnboundedSender<Up>,
    writer: JoinHandle<()>,
}

impl Control {
    pub(crate) fn new(stream: TcpStream) -> Self {
        let (read, write) = stream.into_split();
        let (up, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_up(write, rx));
        Control { reader: FramedRead::new(read, codec()), up, writer }
    }

    /// The next frame from the orchestrator. Cancel-safe (for `select!`).
    pub(crate) async fn recv(&mut self) -> Result<Down, AgentError> {
        match self.reader.next().await {
            Some(Ok(frame)) => postcard::from_bytes(&frame)
                .map_err(|e| AgentError::Protocol(format!("undecodable control frame: {e}"))),
            Some(Err(e)) => Err(AgentError::ControlLost(e.to_string())),
            None => Err(AgentError::ControlLost("closed by the orchestrator".into())),
        }
    }

    /// Queues a frame for the orchestrator; a closed connection shows up on `recv`.
    pub(crate) fn send(&self, up: Up) {
        let _ = self.up.send(up);
    }

    /// Sends everything queued, then closes the connection (bounded in time).
    pub(crate) async fn close(self) {
        let Control { reader, up, writer } = self;
        drop(up);
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        drop(reader);
    }

    /// Reports `err` to the orchestrator, closes, and hands the error back.
    pub(crate) async fn fail(self, err: AgentError) -> AgentError {
        self.send(Up::Error(err.to_string()));
        self.close().await;
        err
    }
}

async fn write_up(mut write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Up>) {
    let mut buf = bytes::BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Batch whatever is already queued into one write.
        while let Some(up) = next {
            if encode_frame(&mut buf, &up).is_err() {
                // Only an oversized observation batch can fail; say so instead.
                let _ = encode_frame(&mut buf, &Up::Error("an upward frame exceeded MAX_FRAME".into()));
            }
            next = if buf.len() < 1024 * 1024 { rx.try_recv().ok() } else { None };
        }
        if write.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = write.shutdown().await;
}

/// The watchdog: expires when no control frame arrived for `timeout` of the
/// agent's own running time. Time the process spent stopped (SIGSTOP, the
/// pause fault) or starved is not counted: on each check, a gap between checks
/// much longer than the check period is forgiven, so a resumed agent reads the
/// pings queued while it was frozen before judging its orchestrator.
#[derive(Debug)]
pub(crate) struct Watchdog {
    timeout: Duration,
    period: Duration,
    last_frame: Instant,
    last_check: Instant,
}

impl Watchdog {
    pub(crate) fn new(timeout: Duration) -> Self {
        let now = Instant::now();
        let period = (timeout / 8).clamp(Duration::from_millis(5), Duration::from_millis(250));
        Watchdog { timeout, period, last_frame: now, last_check: now }
    }

    /// How often `check` should run.
    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// A frame arrived.
    pub(crate) fn feed(&mut self) {
        self.last_frame = Instant::now();
    }

    /// Checks at `now`; an error when the watchdog expired.
    pub(crate) fn check(&mut self, now: Instant) -> Result<(), AgentError> {
        let gap = now.saturating_duration_since(self.last_check);
        let stall_threshold = self.period * 2 + Duration::from_millis(100);
        if gap > stall_threshold {
            // We were not running: do not blame the orchestrator for that time.
            self.last_frame += gap - self.period;
        }
        self.last_check = now;
        if now.saturating_duration_since(self.last_frame) > self.timeout {
            Err(AgentError::Watchdog(self.timeout))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_expires_without_frames_and_forgives_a_stall() {
        let mut w = Watchdog::new(Duration::from_secs(1));
        let t0 = w.last_check;
        // Regular checks, no frames: expires after the timeout.
        let mut t = t0;
        let mut expired_at = None;
        for _ in 0..20 {
            t += w.period();
            if w.check(t).is_err() {
                expired_at = Some(t - t0);
                break;
            }
        }
        let expired_at = expired_at.expect("watchdog expires");
        assert!(expired_at > Duration::from_secs(1) && expired_at <= Duration::from_millis(1200));

        // A 30 s stall (SIGSTOP) right after a frame does not expire it...
        let mut w = Watchdog::new(Duration::from_secs(1));
        let mut t = w.last_check + Duration::from_secs(30);
        assert!(w.check(t).is_ok());
        // ... but regular checks afterwards count again.
        let resumed = t;
        loop {
            t += w.period();
            if w.check(t).is_err() {
                break;
            }
            assert!(t - resumed < Duration::from_secs(2), "never expired after the stall");
        }
        assert!(t - resumed >= Duration::from_millis(800), "expired too early: {:?}", t - resumed);
    }

    #[test]
    fn frames_round_trip_through_the_codec() {
        use tokio_util::codec::Decoder;
        let mut buf = bytes::BytesMut::new();
        encode_frame(&mut buf, &Down::Ping).expect("encodes");
        encode_frame(&mut buf, &Down::Hello { token: "t".into() }).expect("encodes");
        let mut c = codec();
        let a = c.decode(&mut buf).expect("decodes").expect("a frame");
        let b = c.decode(&mut buf).expect("decodes").expect("a frame");
        assert_eq!(postcard::from_bytes::<Down>(&a).expect("postcard"), Down::Ping);
        assert_eq!(postcard::from_bytes::<Down>(&b).expect("postcard"), Down::Hello { token: "t".into() });
        assert!(buf.is_empty());
    }
}
