//! Deploy time on the docker backend: N agents until every one answers on its
//! control channel, beside `docker-compose up -d` of the same image and N;
//! and the engine's kill-to-detected and restart-to-serving times. With
//! `swarm`, the same three figures on the swarm backend (the local engine
//! must be a swarm manager) beside docker's.

use crate::backend::docker::{self, DockerBackend};
use crate::backend::swarm::SwarmBackend;
use crate::backend::{Backend, BackendConfig, DockerRun, NodeLaunch, NodeState, SwarmRun};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use workloads::NodeId;

/// One measured N.
#[derive(Clone, Debug)]
pub struct DeployPoint {
    pub nodes: usize,
    /// faultlab's docker backend: create + start + every control port answering.
    pub faultlab: Duration,
    /// `docker-compose up -d` of the same image and N, until every agent answers.
    pub compose: Option<Duration>,
    /// SIGKILL sent → the engine's `die` event received.
    pub kill_to_detected: Duration,
    /// Start of a killed node → its agent answers on its control channel again.
    pub restart_to_serving: Duration,
    /// The same three figures on the swarm backend, when measured.
    pub swarm: Option<Figures>,
}

/// Deploy, kill-to-detected and restart-to-serving of one backend.
#[derive(Clone, Debug)]
pub struct Figures {
    pub deploy: Duration,
    pub kill_to_detected: Duration,
    pub restart_to_serving: Duration,
}

/// Wait until the agent at `addr` passes the control handshake.
async fn handshake(addr: SocketAddr, token: &str, within: Duration) -> Result<crate::run::control::Conn> {
    let until = Instant::now() + within;
    loop {
        let attempt = crate::run::control::hello(addr, token, "bench");
        match tokio::time::timeout(Duration::from_millis(500), attempt).await {
            Ok(Ok(conn)) => return Ok(conn),
            _ if Instant::now() >= until => bail!("agent at {addr} did not answer within {within:?}"),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn launches(n: usize) -> Vec<NodeLaunch> {
    (0..n).map(|i| NodeLaunch::new(NodeId(i as u16), format!("node-{}", i + 1), "node")).collect()
}

/// faultlab's deploy of `n` agents on `backend` (docker or swarm), then a
/// kill and a restart of node-1.
async fn faultlab_deploy(mut backend: Backend, token: &str, n: usize) -> Result<Figures> {
    let t = Instant::now();
    let result = async {
        let eps = backend.deploy(&launches(n)).await?;
        // Held open: an agent exits when its control connection closes.
        let _conns = futures::future::try_join_all(
            eps.iter().map(|e| handshake(e.control, token, Duration::from_secs(30))),
        )
        .await?;
        let deploy = t.elapsed();
        let mut events = backend.events().context("no events stream")?;
        let kill = Instant::now();
        backend.crash(NodeId(0)).await?;
        let kill_to_detected = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Some((NodeId(0), NodeState::Down, _))) => break kill.elapsed(),
                Ok(Some(_)) => continue,
                _ => bail!("no die event for node-1"),
            }
        };
        let start = Instant::now();
        let ep = backend.start(NodeId(0)).await?;
        handshake(ep.control, token, Duration::from_secs(30)).await?;
        Ok::<_, anyhow::Error>(Figures { deploy, kill_to_detected, restart_to_serving: start.elapsed() })
    }
    .await;
    backend.teardown().await?;
    result
}

fn bench_config(exe: &Path) -> BackendConfig {
    BackendConfig {
        run_id: format!("bench{:08x}", rand::random::<u32>()),
        token: format!("{:032x}", rand::random::<u128>()),
        agent_exe: exe.to_path_buf(),
        watchdog: Duration::from_secs(30),
        host_paths: Vec::new(),
    }
}

/// `docker-compose up -d` of the same image and `n`, until every agent answers.
async fn compose_deploy(image: &str, n: usize) -> Result<Duration> {
    let dir = tempfile_dir()?;
    let token = format!("{:032x}", rand::random::<u128>());
    let project = format!("faultlab-bench-{:08x}", rand::random::<u32>());
    let mut ports = Vec::new();
    let mut yaml = String::from("version: \"2.4\"\nservices:\n");
    for i in 1..=n {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        ports.push(SocketAddr::from(([127, 0, 0, 1], port)));
        let _ = write!(
            yaml,
            "  node-{i}:\n    image: {image}\n    command: [\"agent\", \"--control\", \"0.0.0.0:7000\", \"--watchdog\", \"30s\"]\n    init: true\n    environment: [\"{}={token}\"]\n    ports: [\"127.0.0.1:{port}:7000\"]\n    labels: {{ faultlab.run: \"{project}\" }}\n",
            node_agent::proto::TOKEN_ENV
        );
    }
    let file = dir.join("docker-compose.yml");
    std::fs::write(&file, yaml)?;
    let compose = |args: &[&str]| {
        let mut c = tokio::process::Command::new("docker-compose");
        c.arg("-f").arg(&file).arg("-p").arg(&project).args(args);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    let t = Instant::now();
    let up = compose(&["up", "-d"]).status().await.context("cannot run docker-compose")?;
    let result = async {
        if !up.success() {
            bail!("docker-compose up failed");
        }
        futures::future::try_join_all(ports.iter().map(|p| handshake(*p, &token, Duration::from_secs(30))))
            .await?;
        Ok(t.elapsed())
    }
    .await;
    let _ = compose(&["down", "-t", "0"]).status().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultlab-bench-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Measure N = each of `sizes`: faultlab on docker, compose, and faultlab
/// on swarm when `swarm`.
pub async fn run(exe: &Path, sizes: &[usize], swarm: bool) -> Result<Vec<DeployPoint>> {
    let compose_available = tokio::process::Command::new("docker-compose")
        .arg("version")
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    let _ = docker::sweep_stale().await;
    let mut points = Vec::new();
    for &n in sizes {
        let backend = DockerBackend::connect().await?;
        // The image is built once, outside the timing (both sides use the same one).
        let image = backend.ensure_image(exe).await?.reference;
        let cfg = bench_config(exe);
        let token = cfg.token.clone();
        let d = faultlab_deploy(Backend::Docker(Box::new(DockerRun { backend, cfg })), &token, n).await?;
        let compose = if compose_available { Some(compose_deploy(&image, n).await?) } else { None };
        let swarm = if swarm {
            let backend = SwarmBackend::connect(None).await?;
            let cfg = bench_config(exe);
            let token = cfg.token.clone();
            Some(faultlab_deploy(Backend::Swarm(Box::new(SwarmRun { backend, cfg })), &token, n).await?)
        } else {
            None
        };
        points.push(DeployPoint {
            nodes: n,
            faultlab: d.deploy,
            compose,
            kill_to_detected: d.kill_to_detected,
            restart_to_serving: d.restart_to_serving,
            swarm,
        });
    }
    Ok(points)
}

/// The figures as a table.
pub fn render(points: &[DeployPoint]) -> String {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    let mut s = String::from("docker backend: deploy until every agent answers on its control channel\n");
    let _ = writeln!(
        s,
        "{:>5} {:>12} {:>16} {:>8} {:>18} {:>20}",
        "N", "faultlab", "docker-compose", "ratio", "kill->detected", "restart->serving"
    );
    for p in points {
        let (c, r) = match p.compose {
            Some(c) => (ms(c), format!("{:.2}", p.faultlab.as_secs_f64() / c.as_secs_f64())),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:>5} {:>12} {:>16} {:>8} {:>18} {:>20}",
            p.nodes,
            ms(p.faultlab),
            c,
            r,
            ms(p.kill_to_detected),
            ms(p.restart_to_serving)
        );
    }
    s.push_str("ratio = faultlab / docker-compose (below 1: faultlab is faster)\n");
    if points.iter().any(|p| p.swarm.is_some()) {
        s.push_str("\nswarm backend (one service per agent) beside the docker backend above\n");
        let _ = writeln!(
            s,
            "{:>5} {:>12} {:>12} {:>8} {:>18} {:>20}",
            "N", "docker", "swarm", "ratio", "kill->detected", "restart->serving"
        );
        for p in points {
            let Some(w) = &p.swarm else { continue };
            let _ = writeln!(
                s,
                "{:>5} {:>12} {:>12} {:>8.2} {:>18} {:>20}",
                p.nodes,
                ms(p.faultlab),
                ms(w.deploy),
                w.deploy.as_secs_f64() / p.faultlab.as_secs_f64(),
                ms(w.kill_to_detected),
                ms(w.restart_to_serving)
            );
        }
        s.push_str("ratio = swarm / docker (above 1: swarm is slower)\n");
    }
    s
}
