//! The agent's life: accept the orchestrator, handshake, configure, then one
//! event loop that owns the node and its interposer and drives them with
//! real sockets and real time.

use crate::clock::{monotonic_now, PreciseTimer};
use crate::control::{self, Control, Watchdog};
use crate::proto::{AgentConfig, AgentStats, Down, Up};
use crate::stable::Stable;
use crate::transport::{self, Inbound, Outbox, TransportCounters};
use crate::AgentError;
use driver::Driver;
use faults::{FaultId, Interposer, MessageFault};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use workloads::{Node, NodeId, Observation, Time};

/// Observations buffered beyond this are sent up without waiting for the tick.
const OBSERVATION_BATCH: usize = 4096;
/// Inbound batches queued between the readers and the event loop.
const INBOUND_QUEUE: usize = 1024;
/// Inbound batches handled before the loop looks at control, timers and ticks again.
const INBOUND_BURST: usize = 64;
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Everything `Configure` set up, waiting for `Start`.
struct Configured<M> {
    cfg: AgentConfig,
    interposer: Interposer,
    inbound: mpsc::Receiver<Inbound<M>>,
    acceptor: tokio::task::JoinHandle<()>,
    counters: Arc<TransportCounters>,
    /// The run's token, which keys the data hellos.
    token: String,
}

/// Runs an agent on an already bound control listener until shutdown or failure.
pub(crate) async fn serve<N, F>(
    listener: TcpListener,
    token: &str,
    watchdog: Duration,
    accept_within: Duration,
    build: F,
) -> Result<(), AgentError>
where
    N: Node,
    F: FnOnce(&AgentConfig) -> Result<N, AgentError>,
{
    let mut control = control::accept(&listener, token, accept_within).await?;
    // One orchestrator per agent: nobody else may connect from now on.
    drop(listener);

    let mut dog = Watchdog::new(watchdog);
    let configured = match setup::<N::Msg>(&mut control, &mut dog, token).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            control.close().await;
            return Ok(());
        }
        Err(e) => return Err(control.fail(e).await),
    };
    // Before the node is built: a first start must not see a previous run's records.
    let stable = match Stable::open(configured.cfg.state_dir.as_deref(), configured.cfg.incarnation == 0) {
        Ok(s) => s,
        Err(e) => {
            configured.acceptor.abort();
            return Err(control.fail(e.into()).await);
        }
    };
    let node = match build(&configured.cfg) {
        Ok(n) => n,
        Err(e) => {
            configured.acceptor.abort();
            return Err(control.fail(e).await);
        }
    };
    let acceptor = configured.acceptor.abort_handle();
    let mut rt = Runtime::new(node, configured, stable);
    let result = rt.run(&mut control, &mut dog).await;
    acceptor.abort();
    match result {
        Ok(()) => {
            control.close().await;
            Ok(())
        }
        Err(e) => Err(control.fail(e).await),
    }
}

/// Handles control frames until `Start` (Some) or `Shutdown` (None).
async fn setup<M: workloads::Message>(
    control: &mut Control,
    dog: &mut Watchdog,
    token: &str,
) -> Result<Option<Configured<M>>, AgentError> {
    let mut configured: Option<Configured<M>> = None;
    // Rules that arrive before the configuration are applied after its own.
    let mut early: Vec<Down> = Vec::new();
    let mut tick = tokio::time::interval(dog.period());
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            down = control.recv() => {
                dog.feed();
                match down? {
                    Down::Configure(cfg) => {
                        if configured.is_some() {
                            return Err(AgentError::Protocol("configured twice".into()));
                        }
                        let mut c = configure::<M>(*cfg, token).await?;
                        for d in early.drain(..) {
                            apply_rule(&mut c.interposer, d);
                        }
                        control.send(Up::Ready);
                        configured = Some(c);
                    }
                    Down::Start => match configured.take() {
                        Some(c) => return Ok(Some(c)),
                        None => return Err(AgentError::Protocol("Start before Configure".into())),
                    },
                    d @ (Down::Install { .. } | Down::Remove { .. }) => match configured.as_mut() {
                        Some(c) => apply_rule(&mut c.interposer, d),
                        None => early.push(d),
                    },
                    Down::Ping => {}
                    Down::Shutdown => {
                        if let Some(c) = configured {
                            c.acceptor.abort();
                        }
                        return Ok(None);
                    }
                    Down::Hello { .. } => return Err(AgentError::Protocol("a second Hello".into())),
                }
            }
            _ = tick.tick() => dog.check(Instant::now())?,
        }
    }
}

/// Binds the data port, starts accepting peers, and builds the interposer
/// with the faults already active.
async fn configure<M: workloads::Message>(
    cfg: AgentConfig,
    token: &str,
) -> Result<Configured<M>, AgentError> {
    let listener = transport::listen(cfg.listen)?;
    let counters = Arc::new(TransportCounters::default());
    let (tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    let acceptor = transport::spawn_acceptor::<M>(listener, token.to_string(), tx, counters.clone());
    let mut interposer = Interposer::new(cfg.node, driver::interposer_seed(cfg.seed));
    for (id, fault) in &cfg.faults {
        interposer.install(*id, fault.clone());
    }
    Ok(Configured { cfg, interposer, inbound, acceptor, counters, token: token.to_string() })
}

fn apply_rule(interposer: &mut Interposer, down: Down) {
    match down {
        Down::Install { id, fault } => install(interposer, id, fault),
        Down::Remove { id } => interposer.remove(id),
        _ => {}
    }
}

fn install(interposer: &mut Interposer, id: FaultId, fault: MessageFault) {
    interposer.install(id, fault);
}

fn name(down: &Down) -> &'static str {
    match down {
        Down::Hello { .. } => "Hello",
        Down::Configure(_) => "Configure",
        Down::Start => "Start",
        Down::Install { .. } => "Install",
        Down::Remove { .. } => "Remove",
        Down::Ping => "Ping",
        Down::Shutdown => "Shutdown",
    }
}

/// The event loop's state: the node's driver, the outgoing links and what
/// goes up to the orchestrator.
struct Runtime<N: Node> {
    driver: Driver<N>,
    outbox: Outbox,
    inbound: mpsc::Receiver<Inbound<N::Msg>>,
    counters: Arc<TransportCounters>,
    observations: Vec<(Time, Observation)>,
    flush_interval: Duration,
    /// The worst lateness of the loop's tick since the last stats.
    worst_lag: Option<(Time, Duration)>,
    /// The node's stable storage.
    stable: Stable,
    /// A stable-storage write failed: the node's guarantees are gone, so the agent stops.
    fatal: Option<AgentError>,
}

impl<N: Node> Runtime<N> {
    fn new(node: N, c: Configured<N::Msg>, stable: Stable) -> Self {
        let outbox = Outbox::new(c.cfg.node, &c.token, &c.cfg.peers, c.counters.clone());
        Runtime {
            driver: Driver::new(node, c.interposer),
            outbox,
            inbound: c.inbound,
            counters: c.counters,
            observations: Vec::new(),
            flush_interval: c.cfg.flush_interval.max(Duration::from_millis(1)),
            worst_lag: None,
            stable,
            fatal: None,
        }
    }

    /// Runs the node until `Shutdown` (Ok) or a failure of the control channel.
    async fn run(&mut self, control: &mut Control, dog: &mut Watchdog) -> Result<(), AgentError> {
        self.driver.start(monotonic_now());
        self.carry_out();

        let mut tick = tokio::time::interval(self.flush_interval.min(dog.period()));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_flush = Instant::now() + self.flush_interval;
        let mut next_stats = Instant::now() + STATS_INTERVAL;
        // Timers and delayed messages wake the loop on the kernel's clock, not tokio's 1 ms wheel.
        let mut wake = PreciseTimer::new()?;

        loop {
            match self.driver.poll_timeout() {
                Some(t) => wake.arm(t)?,
                None => wake.disarm()?,
            }
            tokio::select! {
                // Control first: after a SIGCONT the pings queued during the
                // pause are read before the watchdog is judged.
                biased;
                down = control.recv() => {
                    dog.feed();
                    match down? {
                        Down::Install { id, fault } => self.driver.install(id, fault),
                        Down::Remove { id } => self.driver.remove(id),
                        Down::Ping => {}
                        Down::Shutdown => {
                            self.flush_observations(control);
                            control.send(Up::Stats(self.stats()));
                            return Ok(());
                        }
                        other => {
                            return Err(AgentError::Protocol(format!("unexpected {} after Start", name(&other))));
                        }
                    }
                }
                fired = wake.fired(), if wake.armed().is_some() => {
                    fired?;
                    self.driver.handle_timeout(monotonic_now());
                }
                at = tick.tick() => {
                    let now = Instant::now();
                    let late = now.saturating_duration_since(at);
                    if self.worst_lag.is_none_or(|(_, w)| late > w) {
                        self.worst_lag = Some((monotonic_now(), late));
                    }
                    dog.check(now)?;
                    if now >= next_flush {
                        self.flush_observations(control);
                        next_flush = now + self.flush_interval;
                    }
                    if now >= next_stats {
                        control.send(Up::Stats(self.stats()));
                        next_stats = now + STATS_INTERVAL;
                    }
                }
                Some((from, msgs)) = self.inbound.recv() => {
                    self.deliver_batch(from, msgs);
                    for _ in 1..INBOUND_BURST {
                        match self.inbound.try_recv() {
                            Ok((from, msgs)) => self.deliver_batch(from, msgs),
                            Err(_) => break,
                        }
                    }
                }
            }
            if self.driver.has_loopback() {
                self.driver.handle_timeout(monotonic_now());
            }
            self.carry_out();
            if self.observations.len() >= OBSERVATION_BATCH {
                self.flush_observations(control);
            }
            if let Some(e) = self.fatal.take() {
                self.flush_observations(control);
                return Err(e);
            }
        }
    }

    fn deliver_batch(&mut self, from: NodeId, msgs: Vec<N::Msg>) {
        let now = monotonic_now();
        for msg in msgs {
            self.driver.handle_message(now, from, msg);
        }
    }

    /// Carries out what the driver asked for: stable writes, then sends.
    fn carry_out(&mut self) {
        let mut writes = Vec::new();
        while let Some(w) = self.driver.poll_stable_write() {
            writes.push(w);
        }
        if !writes.is_empty() {
            if let Err(e) = self.stable.write(writes) {
                self.driver.discard_transmits();
                self.fatal.get_or_insert(AgentError::Io(e));
            }
        }
        while let Some(t) = self.driver.poll_transmit() {
            self.outbox.push(t.to, &t.msg);
        }
        self.outbox.flush();
        self.observations.extend(self.driver.drain_observations());
    }

    fn flush_observations(&mut self, control: &Control) {
        if !self.observations.is_empty() {
            let batch = std::mem::replace(&mut self.observations, Vec::with_capacity(256));
            control.send(Up::Observations(batch));
        }
    }

    fn stats(&mut self) -> AgentStats {
        let d = self.driver.stats();
        let i = d.interposer;
        AgentStats {
            messages_sent: self.outbox.sent,
            messages_received: d.received,
            dropped_send: i.dropped_send,
            dropped_receive: i.dropped_receive,
            delayed: i.delayed,
            falsified: i.falsified,
            dropped_unreachable: self.counters.unreachable.load(Ordering::Relaxed),
            worst_lag: self.worst_lag.take(),
        }
    }
}
