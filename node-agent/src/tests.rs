//! End-to-end tests: a fake orchestrator drives real agents over loopback,
//! hosting a small ping/echo node.

use crate::proto::{AgentConfig, AgentStats, Down, Peer, Up, WorkloadConfig};
use crate::{monotonic_now, Agent, AgentArgs, AgentError};
use faults::{FaultId, MessageFault};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use workloads::{Effects, Message, Node, NodeId, Observation, Outcome, Time, TimerId};

const TOKEN: &str = "secret";

/// A ping or its echo; `seq` carries the pinged peer in its low byte.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum TestMsg {
    Ping { seq: u64, sent: Time },
    Pong { seq: u64, sent: Time },
}

impl Message for TestMsg {
    fn corrupt(&mut self, _rng: &mut dyn rand::RngCore) -> bool {
        false
    }
    fn collude(&mut self, _key: u64) -> bool {
        false
    }
    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        // Above the low byte (the pinged peer): a lie of its own per receiver.
        match self {
            TestMsg::Ping { seq, .. } => {
                *seq ^= (key ^ u64::from(to.0)) << 40;
                true
            }
            TestMsg::Pong { .. } => false,
        }
    }
}

/// Pings `targets` every `interval` (if any) and answers every ping; each
/// pong becomes an `Observation::Request` whose `seq` names the answering peer.
struct PingNode {
    targets: Vec<NodeId>,
    interval: Duration,
    next: u64,
}

impl Node for PingNode {
    type Msg = TestMsg;

    fn on_start(&mut self, _now: Time, out: &mut Effects<TestMsg>) {
        if !self.targets.is_empty() {
            out.set_timer(self.interval, TimerId(7));
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: TestMsg, out: &mut Effects<TestMsg>) {
        match msg {
            TestMsg::Ping { seq, sent } => out.send(from, TestMsg::Pong { seq, sent }),
            TestMsg::Pong { seq, sent } => out.emit(Observation::Request {
                seq,
                sent,
                outcome: Outcome::Ok,
                latency: Some(now.since(sent)),
            }),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<TestMsg>) {
        assert_eq!(timer, TimerId(7));
        for &t in &self.targets {
            self.next += 1;
            out.send(t, TestMsg::Ping { seq: (self.next << 8) | u64::from(t.0), sent: now });
        }
        out.set_timer(self.interval, TimerId(7));
    }
}

fn peer_of(seq: u64) -> NodeId {
    NodeId((seq & 0xff) as u16)
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn args(watchdog: Duration) -> AgentArgs {
    AgentArgs { control: "127.0.0.1:0".parse().expect("addr"), token: TOKEN.into(), watchdog }
}

/// Starts an agent hosting a `PingNode` that pings `targets`; returns its control address.
async fn spawn_agent(
    watchdog: Duration,
    targets: Vec<NodeId>,
) -> (SocketAddr, JoinHandle<Result<(), AgentError>>) {
    let agent = Agent::bind(args(watchdog)).await.expect("bind");
    let addr = agent.local_addr().expect("addr");
    let task = tokio::spawn(agent.serve(move |_cfg: &AgentConfig| {
        Ok(PingNode { targets, interval: Duration::from_millis(5), next: 0 })
    }));
    (addr, task)
}

/// The orchestrator's end of one control connection.
struct Orch {
    framed: Framed<TcpStream, LengthDelimitedCodec>,
}

impl Orch {
    async fn connect(addr: SocketAddr) -> Orch {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Orch { framed: Framed::new(stream, crate::control::codec()) }
    }

    async fn send(&mut self, down: Down) {
        let bytes = postcard::to_stdvec(&down).expect("encode");
        self.framed.send(bytes::Bytes::from(bytes)).await.expect("send");
    }

    /// The next frame, or None when the agent closed the connection.
    async fn recv(&mut self) -> Option<Up> {
        match timeout(Duration::from_secs(5), self.framed.next()).await.expect("agent answers in time") {
            Some(Ok(f)) => Some(postcard::from_bytes(&f).expect("decode")),
            _ => None,
        }
    }

    /// Hello, then Configure; waits for Ready.
    async fn handshake(&mut self, cfg: AgentConfig) {
        self.send(Down::Hello { token: TOKEN.into() }).await;
        assert!(matches!(self.recv().await, Some(Up::Hello { pid }) if pid == std::process::id()));
        self.send(Down::Configure(Box::new(cfg))).await;
        assert_eq!(self.recv().await, Some(Up::Ready));
    }
}

fn tmr_placeholder() -> WorkloadConfig {
    // The test nodes ignore the workload; any valid one will do.
    WorkloadConfig::Tmr(workloads::tmr::Config {
        role: workloads::tmr::Role::Client,
        replicas: vec![],
        voters: vec![],
        clients: vec![],
        rate: 0.0,
        deadline: Duration::from_millis(50),
        vote_timeout: Duration::from_millis(20),
        gap_timeout: Duration::from_millis(20),
        window: 0,
        bugs: Vec::new(),
    })
}

/// Configurations for nodes 0..n with data ports picked now.
fn configs(n: u16, run_id: &str) -> Vec<AgentConfig> {
    let peers: Vec<Peer> =
        (0..n).map(|i| Peer { id: NodeId(i), name: format!("node-{}", i + 1), addr: free_port() }).collect();
    peers
        .iter()
        .map(|p| AgentConfig {
            run_id: run_id.into(),
            node: p.id,
            name: p.name.clone(),
            listen: p.addr,
            peers: peers.iter().filter(|q| q.id != p.id).cloned().collect(),
            workload: tmr_placeholder(),
            seed: 42 + u64::from(p.id.0),
            incarnation: 0,
            faults: vec![],
            flush_interval: Duration::from_millis(20),
            state_dir: None,
        })
        .collect()
}

/// Pongs per answering peer, and the last stats, seen on `orch` until
/// `enough` holds or `within` passes.
async fn collect(
    orch: &mut Orch,
    within: Duration,
    mut enough: impl FnMut(&[u64; 4], &Option<AgentStats>) -> bool,
) -> ([u64; 4], Option<AgentStats>) {
    let mut pongs = [0u64; 4];
    let mut stats = None;
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline && !enough(&pongs, &stats) {
        let before = monotonic_now();
        match timeout(deadline - tokio::time::Instant::now(), orch.recv()).await {
            Ok(Some(Up::Observations(obs))) => {
                for (t, o) in obs {
                    assert!(t <= monotonic_now(), "stamped in the future");
                    let _ = before;
                    if let Observation::Request { seq, outcome: Outcome::Ok, latency: Some(l), .. } = o {
                        assert!(l < Duration::from_secs(1));
                        pongs[usize::from(peer_of(seq).0)] += 1;
                    }
                }
            }
            Ok(Some(Up::Stats(s))) => stats = Some(s),
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => panic!("agent closed the control connection"),
            Err(_) => break,
        }
    }
    (pongs, stats)
}

/// Three agents of run `run`, configured and started, node 0 pinging nodes
/// 1 and 2: their control connections and their tasks.
async fn start_three(run: &str) -> (Vec<Orch>, [JoinHandle<Result<(), AgentError>>; 3]) {
    let (a0, t0) = spawn_agent(Duration::from_secs(5), vec![NodeId(1), NodeId(2)]).await;
    let (a1, t1) = spawn_agent(Duration::from_secs(5), vec![]).await;
    let (a2, t2) = spawn_agent(Duration::from_secs(5), vec![]).await;
    let mut orchs = Vec::new();
    for (addr, cfg) in [a0, a1, a2].into_iter().zip(configs(3, run)) {
        let mut o = Orch::connect(addr).await;
        o.handshake(cfg).await;
        orchs.push(o);
    }
    for o in &mut orchs {
        o.send(Down::Start).await;
    }
    (orchs, [t0, t1, t2])
}

async fn finishes(task: JoinHandle<Result<(), AgentError>>) -> Result<(), AgentError> {
    timeout(Duration::from_secs(2), task).await.expect("agent exits within 2 s").expect("no panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_ping_and_report_observations_and_stats() {
    timeout(Duration::from_secs(20), async {
        let (mut orchs, [t0, t1, t2]) = start_three("run-a").await;
        let (pongs, stats) = collect(&mut orchs[0], Duration::from_secs(5), |p, s| {
            p[1] >= 50 && p[2] >= 50 && s.as_ref().is_some_and(|s| s.messages_received >= 50)
        })
        .await;
        assert!(pongs[1] >= 50 && pongs[2] >= 50, "pongs {pongs:?}");
        let stats = stats.expect("stats within a second or so");
        assert!(stats.messages_sent >= 100, "{stats:?}");
        assert_eq!(stats.dropped_unreachable, 0);
        for o in &mut orchs {
            o.send(Down::Shutdown).await;
        }
        for t in [t0, t1, t2] {
            finishes(t).await.expect("clean exit on Shutdown");
        }
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test]
async fn wrong_control_connections_are_refused_and_the_agent_keeps_listening() {
    use tokio::io::AsyncWriteExt;
    timeout(Duration::from_secs(10), async {
        let (addr, task) = spawn_agent(Duration::from_secs(5), vec![]).await;
        // A silent connection stays open meanwhile: it must not hold up the others.
        let _silent = TcpStream::connect(addr).await.expect("connect");
        let mut o = Orch::connect(addr).await;
        o.send(Down::Hello { token: "wrong".into() }).await;
        assert!(matches!(o.recv().await, Some(Up::Error(e)) if e.contains("bad token")));
        assert_eq!(o.recv().await, None, "connection closed after the error");
        // Garbage instead of a frame, then a frame that is not a Hello.
        let mut junk = TcpStream::connect(addr).await.expect("connect");
        junk.write_all(b"GET / HTTP/1.0\r\n\r\n").await.expect("write");
        let mut o = Orch::connect(addr).await;
        o.send(Down::Start).await;
        assert!(matches!(o.recv().await, Some(Up::Error(e)) if e.contains("expected Hello")));
        assert!(!task.is_finished(), "a wrong connection killed the agent");

        // The orchestrator still gets through and runs the node to the end.
        let mut o = Orch::connect(addr).await;
        o.handshake(configs(1, "run-a2").remove(0)).await;
        o.send(Down::Start).await;
        o.send(Down::Shutdown).await;
        finishes(task).await.expect("clean exit on Shutdown");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test]
async fn the_agent_exits_when_the_control_connection_drops() {
    timeout(Duration::from_secs(10), async {
        let cfg = configs(1, "run-b").remove(0);
        let (addr, task) = spawn_agent(Duration::from_secs(30), vec![]).await;
        let mut o = Orch::connect(addr).await;
        o.handshake(cfg).await;
        o.send(Down::Start).await;
        drop(o);
        assert!(matches!(finishes(task).await, Err(AgentError::ControlLost(_))));
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test]
async fn the_watchdog_fires_without_pings_and_not_with_them() {
    timeout(Duration::from_secs(10), async {
        let cfg = configs(1, "run-c").remove(0);
        let (addr, task) = spawn_agent(Duration::from_millis(300), vec![]).await;
        let mut o = Orch::connect(addr).await;
        o.handshake(cfg).await;
        o.send(Down::Start).await;
        // Pinged every 100 ms, it lives well past its watchdog.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            o.send(Down::Ping).await;
        }
        assert!(!task.is_finished(), "agent died although pinged");
        // Silent orchestrator: it exits by itself, with an error it reports.
        let started = tokio::time::Instant::now();
        assert!(matches!(finishes(task).await, Err(AgentError::Watchdog(_))));
        assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
        let mut saw_error = false;
        while let Some(up) = o.recv().await {
            saw_error |= matches!(up, Up::Error(e) if e.contains("watchdog"));
        }
        assert!(saw_error);
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test]
async fn the_agent_exits_when_no_orchestrator_connects() {
    timeout(Duration::from_secs(10), async {
        let (_addr, task) = spawn_agent(Duration::from_millis(200), vec![]).await;
        assert!(matches!(finishes(task).await, Err(AgentError::NoOrchestrator(_))));
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test]
async fn a_used_data_port_is_a_clear_bind_error() {
    timeout(Duration::from_secs(10), async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut cfg = configs(1, "run-d").remove(0);
        cfg.listen = taken.local_addr().expect("addr");
        let (addr, task) = spawn_agent(Duration::from_secs(5), vec![]).await;
        let mut o = Orch::connect(addr).await;
        o.send(Down::Hello { token: TOKEN.into() }).await;
        assert!(matches!(o.recv().await, Some(Up::Hello { .. })));
        o.send(Down::Configure(Box::new(cfg.clone()))).await;
        let want = format!("bind failed on {}", cfg.listen);
        assert!(matches!(o.recv().await, Some(Up::Error(e)) if e.contains(&want)));
        assert!(matches!(finishes(task).await, Err(AgentError::Bind { .. })));
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_installed_on_a_peer_stops_its_pongs_until_removed() {
    timeout(Duration::from_secs(20), async {
        let (mut orchs, _tasks) = start_three("run-e").await;
        let (p, _) = collect(&mut orchs[0], Duration::from_secs(5), |p, _| p[1] >= 20 && p[2] >= 20).await;
        assert!(p[1] >= 20 && p[2] >= 20, "{p:?}");

        orchs[1].send(Down::Install { id: FaultId(9), fault: MessageFault::Silence }).await;
        // Let pongs already in flight arrive, then count over a quiet window.
        let _ = collect(&mut orchs[0], Duration::from_millis(200), |_, _| false).await;
        let (p, _) = collect(&mut orchs[0], Duration::from_millis(500), |_, _| false).await;
        assert_eq!(p[1], 0, "a silenced node answered: {p:?}");
        assert!(p[2] >= 20, "the other peer kept answering: {p:?}");
        // The silenced node's stats count what its interposer dropped.
        let (_, s) = collect(&mut orchs[1], Duration::from_secs(3), |_, s| s.is_some()).await;
        assert!(s.is_some_and(|s| s.dropped_send > 0));

        orchs[1].send(Down::Remove { id: FaultId(9) }).await;
        let (p, _) = collect(&mut orchs[0], Duration::from_secs(5), |p, _| p[1] >= 20).await;
        assert!(p[1] >= 20, "answers resume after Remove: {p:?}");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_reached_again_and_drops_are_counted() {
    timeout(Duration::from_secs(20), async {
        let cfgs = configs(2, "run-f");
        let (a0, _t0) = spawn_agent(Duration::from_secs(5), vec![NodeId(1)]).await;
        let (a1, t1) = spawn_agent(Duration::from_secs(5), vec![]).await;
        let mut o0 = Orch::connect(a0).await;
        o0.handshake(cfgs[0].clone()).await;
        let mut o1 = Orch::connect(a1).await;
        o1.handshake(cfgs[1].clone()).await;
        o0.send(Down::Start).await;
        o1.send(Down::Start).await;
        let (p, _) = collect(&mut o0, Duration::from_secs(5), |p, _| p[1] >= 20).await;
        assert!(p[1] >= 20, "{p:?}");

        // The peer goes away: pings to it are dropped and counted, never reported to the node.
        o1.send(Down::Shutdown).await;
        finishes(t1).await.expect("clean exit");
        let (_, s) = collect(&mut o0, Duration::from_secs(3), |_, s| {
            s.as_ref().is_some_and(|s| s.dropped_unreachable > 0)
        })
        .await;
        assert!(s.is_some_and(|s| s.dropped_unreachable > 0));

        // Its new incarnation, on the same data port, gets pings again.
        let (a1, _t1) = spawn_agent(Duration::from_secs(5), vec![]).await;
        let mut o1 = Orch::connect(a1).await;
        let mut cfg = cfgs[1].clone();
        cfg.incarnation = 1;
        o1.handshake(cfg).await;
        o1.send(Down::Start).await;
        let (p, _) = collect(&mut o0, Duration::from_secs(5), |p, _| p[1] >= 20).await;
        assert!(p[1] >= 20, "pongs after the restart: {p:?}");
    })
    .await
    .expect("test finishes in time");
}

/// Opens a data connection to `addr` that says `hello`, then sends one ping `seq`.
async fn data_connection(
    addr: SocketAddr,
    hello: &crate::proto::DataHello,
    seq: u64,
) -> Framed<TcpStream, LengthDelimitedCodec> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut f = Framed::new(stream, crate::control::codec());
    f.send(bytes::Bytes::from(postcard::to_stdvec(hello).expect("encode"))).await.expect("send");
    let ping = TestMsg::Ping { seq, sent: monotonic_now() };
    let _ = f.send(bytes::Bytes::from(postcard::to_stdvec(&ping).expect("encode"))).await;
    f
}

#[tokio::test]
async fn a_forged_data_connection_claiming_another_nodes_id_is_refused() {
    use crate::proto::{data_proof, DataHello};
    timeout(Duration::from_secs(10), async {
        let cfgs = configs(2, "run-g");
        let listen = cfgs[0].listen;
        // Node 1 is played by the test: node 0 sends its pongs here.
        let node1 = tokio::net::TcpListener::bind(cfgs[1].listen).await.expect("bind node 1");
        let (addr, _task) = spawn_agent(Duration::from_secs(5), vec![]).await;
        let mut o = Orch::connect(addr).await;
        o.handshake(cfgs[0].clone()).await;
        o.send(Down::Start).await;

        // Knowing the run id (printed on stderr) is not enough...
        let keyed_with_run_id = DataHello { from: NodeId(1), proof: data_proof("run-g", NodeId(1)) };
        // ... nor is a genuine proof made for another node.
        let someone_elses = DataHello { from: NodeId(1), proof: data_proof(TOKEN, NodeId(5)) };
        for (seq, hello) in [(1, keyed_with_run_id), (2, someone_elses)] {
            let mut f = data_connection(listen, &hello, seq).await;
            // The agent hangs up instead of reading on.
            assert!(timeout(Duration::from_secs(2), f.next()).await.expect("closed in time").is_none());
        }

        // The genuine node 1 is heard: its ping is answered on node 1's port,
        // by a connection that proves node 0 holds the token too.
        let _f = data_connection(listen, &DataHello::new(TOKEN, NodeId(1)), 3).await;
        let (stream, _) =
            timeout(Duration::from_secs(2), node1.accept()).await.expect("node 0 connects").expect("accept");
        let mut back = Framed::new(stream, crate::control::codec());
        async fn frame(back: &mut Framed<TcpStream, LengthDelimitedCodec>) -> bytes::BytesMut {
            timeout(Duration::from_secs(2), back.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("frame")
        }
        let hello: DataHello = postcard::from_bytes(&frame(&mut back).await).expect("hello");
        assert_eq!(hello.from, NodeId(0));
        assert!(hello.verify(TOKEN) && !hello.verify("another token"));
        // The first pong is the genuine ping's: the forged ones never reached the node.
        match postcard::from_bytes::<TestMsg>(&frame(&mut back).await).expect("pong") {
            TestMsg::Pong { seq, .. } => assert_eq!(seq, 3),
            other => panic!("expected a pong, got {other:?}"),
        }
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_fault_holds_messages_back_in_order() {
    timeout(Duration::from_secs(20), async {
        let cfgs = configs(2, "run-h");
        let (a0, _t0) = spawn_agent(Duration::from_secs(5), vec![NodeId(1)]).await;
        let (a1, _t1) = spawn_agent(Duration::from_secs(5), vec![]).await;
        let mut o0 = Orch::connect(a0).await;
        o0.handshake(cfgs[0].clone()).await;
        let mut o1 = Orch::connect(a1).await;
        let mut cfg1 = cfgs[1].clone();
        // Active before start, as after a restart during the fault.
        cfg1.faults = vec![(
            FaultId(1),
            MessageFault::Delay {
                distribution: faults::DelayDistribution::Fixed(Duration::from_millis(60)),
                reorder: false,
                links: faults::LinkScope::All,
            },
        )];
        o1.handshake(cfg1).await;
        o0.send(Down::Start).await;
        o1.send(Down::Start).await;
        let mut latencies = Vec::new();
        let mut seqs = Vec::new();
        while latencies.len() < 30 {
            match o0.recv().await {
                Some(Up::Observations(obs)) => {
                    for (_, o) in obs {
                        if let Observation::Request { seq, latency: Some(l), .. } = o {
                            latencies.push(l);
                            seqs.push(seq);
                        }
                    }
                }
                Some(Up::Stats(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(latencies.iter().all(|l| *l >= Duration::from_millis(60)), "{latencies:?}");
        assert!(latencies.iter().all(|l| *l < Duration::from_millis(500)), "{latencies:?}");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept on the link: {seqs:?}");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tmr_workload_runs_end_to_end_through_run() {
    use workloads::tmr::{Config, Role};
    timeout(Duration::from_secs(30), async {
        // replica-1..3 = #0..#2, voter-1 = #3, client-1 = #4.
        let mut cfgs = configs(5, "run-tmr");
        let base = Config {
            role: Role::Replica,
            replicas: (0..3).map(NodeId).collect(),
            voters: vec![NodeId(3)],
            clients: vec![NodeId(4)],
            rate: 1000.0,
            deadline: Duration::from_millis(200),
            vote_timeout: Duration::from_millis(50),
            gap_timeout: Duration::from_millis(50),
            window: 0,
            bugs: Vec::new(),
        };
        for (i, c) in cfgs.iter_mut().enumerate() {
            let role = match i {
                0..=2 => Role::Replica,
                3 => Role::Voter,
                _ => Role::Client,
            };
            c.workload = WorkloadConfig::Tmr(Config { role, ..base.clone() });
        }
        let mut orchs = Vec::new();
        let mut tasks = Vec::new();
        for cfg in cfgs {
            let agent = Agent::bind(args(Duration::from_secs(5))).await.expect("bind");
            let mut o = Orch::connect(agent.local_addr().expect("addr")).await;
            tasks.push(tokio::spawn(agent.run()));
            o.handshake(cfg).await;
            orchs.push(o);
        }
        for o in &mut orchs {
            o.send(Down::Start).await;
        }
        let (mut ok, mut wrong) = (0u64, 0u64);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ok < 1000 && tokio::time::Instant::now() < deadline {
            if let Some(Up::Observations(obs)) = orchs[4].recv().await {
                for (_, o) in obs {
                    match o {
                        Observation::Request { outcome: Outcome::Ok, .. } => ok += 1,
                        Observation::Request { outcome: Outcome::Wrong, .. } => wrong += 1,
                        _ => {}
                    }
                }
            }
        }
        assert!(ok >= 1000, "only {ok} requests answered correctly");
        assert_eq!(wrong, 0);
        for o in &mut orchs {
            o.send(Down::Shutdown).await;
        }
        for t in tasks {
            finishes(t).await.expect("clean exit");
        }
    })
    .await
    .expect("test finishes in time");
}

/// Set in the child process of the pause test.
const CHILD_ENV: &str = "FAULTLAB_TEST_AGENT_CHILD";

/// The child half of `a_paused_agent_survives_its_resume`: an agent in its
/// own process (run only by that test, which sets `CHILD_ENV`).
#[test]
#[ignore = "runs as the child process of a_paused_agent_survives_its_resume"]
fn agent_child_process() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let code = rt.block_on(async {
        let agent = Agent::bind(args(Duration::from_millis(500))).await.expect("bind");
        println!("CONTROL {}", agent.local_addr().expect("addr"));
        let r = agent
            .serve(|_cfg: &AgentConfig| {
                Ok(PingNode { targets: vec![], interval: Duration::from_millis(5), next: 0 })
            })
            .await;
        i32::from(r.is_err()) * 3
    });
    std::process::exit(code);
}

#[tokio::test]
async fn a_paused_agent_survives_its_resume_and_still_has_a_watchdog() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use tokio::io::AsyncBufReadExt;
    timeout(Duration::from_secs(20), async {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = tokio::process::Command::new(exe)
            .args(["--exact", "tests::agent_child_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the child agent");
        let pid = Pid::from_raw(i32::try_from(child.id().expect("pid")).expect("pid fits"));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr: SocketAddr = loop {
            let line = lines.next_line().await.expect("read").expect("child prints its address");
            // libtest prints the test's name on the same line first.
            if let Some((_, a)) = line.split_once("CONTROL ") {
                break a.trim().parse().expect("an address");
            }
        };
        let mut o = Orch::connect(addr).await;
        let mut cfg = configs(1, "run-p").remove(0);
        cfg.flush_interval = Duration::from_millis(50);
        o.send(Down::Hello { token: TOKEN.into() }).await;
        assert!(
            matches!(o.recv().await, Some(Up::Hello { pid: p }) if i64::from(p) == i64::from(pid.as_raw()))
        );
        o.send(Down::Configure(Box::new(cfg))).await;
        assert_eq!(o.recv().await, Some(Up::Ready));
        o.send(Down::Start).await;

        // Frozen for three watchdog periods while the orchestrator keeps pinging.
        kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            o.send(Down::Ping).await;
        }
        kill(pid, Signal::SIGCONT).expect("SIGCONT");
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            o.send(Down::Ping).await;
        }
        assert!(child.try_wait().expect("wait").is_none(), "the resumed agent killed itself");

        // Still judged: an orchestrator that falls silent loses it.
        let status = timeout(Duration::from_secs(3), child.wait()).await.expect("exits").expect("status");
        assert_eq!(status.code(), Some(3), "watchdog exit is non-zero");
    })
    .await
    .expect("test finishes in time");
}

/// Starts `n` agents (node 0 pings `targets`) with `faults[i]` active on node
/// i from the start; returns their control connections, started.
async fn started_with_faults(
    run_id: &str,
    targets: Vec<NodeId>,
    faults: Vec<Vec<(FaultId, MessageFault)>>,
) -> Vec<Orch> {
    let mut orchs = Vec::new();
    for (i, (mut cfg, f)) in configs(faults.len() as u16, run_id).into_iter().zip(faults).enumerate() {
        let (addr, _task) =
            spawn_agent(Duration::from_secs(5), if i == 0 { targets.clone() } else { vec![] }).await;
        cfg.faults = f;
        let mut o = Orch::connect(addr).await;
        o.handshake(cfg).await;
        orchs.push(o);
    }
    for o in &mut orchs {
        o.send(Down::Start).await;
    }
    orchs
}

/// Request observations (with the agent's stamp) seen on `orch` until `n` arrived.
async fn requests(orch: &mut Orch, n: usize) -> Vec<(Time, u64, Time, Duration)> {
    let mut out = Vec::new();
    while out.len() < n {
        match orch.recv().await {
            Some(Up::Observations(obs)) => {
                for (stamp, o) in obs {
                    if let Observation::Request { seq, sent, latency: Some(l), .. } = o {
                        out.push((stamp, seq, sent, l));
                    }
                }
            }
            Some(Up::Stats(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_node_handles_each_message_late_by_the_asked_amount() {
    timeout(Duration::from_secs(20), async {
        let slow =
            MessageFault::Slow { distribution: faults::DelayDistribution::Fixed(Duration::from_millis(60)) };
        let mut orchs =
            started_with_faults("run-slow", vec![NodeId(1)], vec![vec![], vec![(FaultId(1), slow)]]).await;
        let seen = requests(&mut orchs[0], 30).await;
        assert!(seen.iter().all(|(.., l)| *l >= Duration::from_millis(60)), "{seen:?}");
        assert!(seen.iter().all(|(.., l)| *l < Duration::from_millis(500)), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "handled in arrival order");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_shifts_and_speeds_the_nodes_time_only() {
    timeout(Duration::from_secs(20), async {
        let skew = MessageFault::ClockSkew { offset_nanos: 10_000_000_000, drift: 1.0 };
        let mut orchs =
            started_with_faults("run-skew", vec![NodeId(1)], vec![vec![(FaultId(1), skew)], vec![]]).await;
        let seen = requests(&mut orchs[0], 150).await;
        let (first, last) = (seen[0], seen[seen.len() - 1]);
        // The node's own times run 10 s ahead of the agent's stamps...
        assert!(first.2.as_nanos() > first.0.as_nanos() + 9_000_000_000, "{first:?}");
        // ...and twice as fast: its 5 ms timer fires every 2.5 ms of host time.
        let node = last.2.since(first.2).as_secs_f64();
        let host = last.0.since(first.0).as_secs_f64();
        assert!(host > 0.1, "{host}");
        assert!((node / host - 2.0).abs() < 0.3, "node {node} s over host {host} s");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplication_hands_every_pong_over_twice() {
    timeout(Duration::from_secs(20), async {
        let dup = MessageFault::Duplicate { probability: 1.0, links: faults::LinkScope::All };
        let mut orchs =
            started_with_faults("run-dup", vec![NodeId(1)], vec![vec![(FaultId(1), dup)], vec![]]).await;
        let seen = requests(&mut orchs[0], 40).await;
        let mut seqs: Vec<u64> = seen.iter().map(|r| r.1).collect();
        seqs.sort_unstable();
        // Every pong is observed twice, the copies one after the other.
        for pair in seqs.chunks(2).filter(|c| c.len() == 2) {
            assert_eq!(pair[0], pair[1], "{seqs:?}");
        }
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sender_sends_the_answers_elsewhere() {
    timeout(Duration::from_secs(20), async {
        // Node 1 takes node 0's pings for node 2's, so it answers node 2.
        let forge = MessageFault::Forge { liar: NodeId(0), claimed: NodeId(2) };
        let mut orchs = started_with_faults(
            "run-forge",
            vec![NodeId(1)],
            vec![vec![], vec![(FaultId(1), forge)], vec![]],
        )
        .await;
        let (p, _) = collect(&mut orchs[2], Duration::from_secs(5), |p, _| p[1] >= 20).await;
        assert!(p[1] >= 20, "node 2 gets the pongs node 0 asked for: {p:?}");
        let (p, _) = collect(&mut orchs[0], Duration::from_millis(300), |_, _| false).await;
        assert_eq!(p[1], 0, "node 0 hears nothing back: {p:?}");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_node_sends_different_values_to_different_peers() {
    timeout(Duration::from_secs(20), async {
        let lie = MessageFault::Byzantine {
            mode: faults::ByzantineMode::Equivocate,
            key: 0x5eed,
            links: faults::LinkScope::All,
        };
        let mut orchs = started_with_faults(
            "run-equiv",
            vec![NodeId(1), NodeId(2)],
            vec![vec![(FaultId(1), lie)], vec![], vec![]],
        )
        .await;
        let seen = requests(&mut orchs[0], 40).await;
        let lies_to = |peer: u16| -> Vec<u64> {
            seen.iter().filter(|r| peer_of(r.1) == NodeId(peer)).map(|r| r.1 >> 40).collect()
        };
        let (to1, to2) = (lies_to(1), lies_to(2));
        assert!(!to1.is_empty() && !to2.is_empty());
        // Each peer was told its own value, and neither the truth (zero).
        assert!(to1.iter().all(|v| *v == 0x5eed ^ 1), "{to1:?}");
        assert!(to2.iter().all(|v| *v == 0x5eed ^ 2), "{to2:?}");
    })
    .await
    .expect("test finishes in time");
}

/// Sets timers out of order at start and reports each firing: `seq` is the
/// timer, `sent` its due instant, `latency` how late it fired (None: early).
struct TimerOrderNode {
    due: Vec<(TimerId, Time)>,
}

impl Node for TimerOrderNode {
    type Msg = TestMsg;

    fn on_start(&mut self, now: Time, out: &mut Effects<TestMsg>) {
        // Two timers share a deadline: they must fire in the order they were set.
        for (id, ms) in [(1u64, 30u64), (2, 10), (3, 20), (4, 10), (5, 0)] {
            out.set_timer(Duration::from_millis(ms), TimerId(id));
            self.due.push((TimerId(id), Time(now.as_nanos() + ms * 1_000_000)));
        }
    }

    fn on_message(&mut self, _: Time, _: NodeId, _: TestMsg, _: &mut Effects<TestMsg>) {}

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<TestMsg>) {
        let due = self.due.iter().find(|(id, _)| *id == timer).map(|(_, t)| *t).unwrap_or(Time::ZERO);
        out.emit(Observation::Request {
            seq: timer.0,
            sent: due,
            outcome: Outcome::Ok,
            latency: (now >= due).then(|| now.since(due)),
        });
    }
}

#[tokio::test]
async fn timers_fire_in_deadline_order_never_early_and_ties_in_setting_order() {
    timeout(Duration::from_secs(10), async {
        let agent = Agent::bind(args(Duration::from_secs(5))).await.expect("bind");
        let addr = agent.local_addr().expect("addr");
        let task = tokio::spawn(agent.serve(|_cfg: &AgentConfig| Ok(TimerOrderNode { due: Vec::new() })));
        let mut o = Orch::connect(addr).await;
        o.handshake(configs(1, "run-t").remove(0)).await;
        o.send(Down::Start).await;
        let mut fired = Vec::new();
        while fired.len() < 5 {
            match o.recv().await {
                Some(Up::Observations(obs)) => {
                    for (_, ob) in obs {
                        if let Observation::Request { seq, latency, .. } = ob {
                            fired.push((seq, latency));
                        }
                    }
                }
                Some(Up::Stats(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let order: Vec<u64> = fired.iter().map(|(s, _)| *s).collect();
        assert_eq!(order, vec![5, 2, 4, 3, 1], "deadline order, ties in setting order");
        assert!(fired.iter().all(|(_, late)| late.is_some()), "a timer fired before its deadline: {fired:?}");
        o.send(Down::Shutdown).await;
        finishes(task).await.expect("clean exit");
    })
    .await
    .expect("test finishes in time");
}
