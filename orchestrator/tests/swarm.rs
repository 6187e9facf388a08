//! The swarm backend against the real engine, with the real faultlab binary.
//!
//! When the engine is not in swarm mode, the first test to need it runs
//! `docker swarm init --advertise-addr 127.0.0.1` and the last one to finish
//! leaves the swarm again; a swarm that was there before is left alone.
//! Without a daemon every test prints why and passes, unless
//! `FAULTLAB_REQUIRE_DOCKER=1`, which turns that into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bollard::query_parameters::{ListContainersOptions, ListTasksOptions};
use bollard::Docker;
use orchestrator::backend::docker::{self, DockerBackend, NodeEvent};
use orchestrator::backend::swarm::{SwarmBackend, SwarmError};
use orchestrator::backend::{AgentEndpoint, BackendChoice, NodeLaunch, NodeState};
use orchestrator::experiment::parse_str;
use orchestrator::run::{run, RunOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use workloads::NodeId;

mod common;
use common::docker::{config, leftovers, run_id, RunGuard, AGENT};

/// (tests holding the swarm, whether a test of this binary created it).
static SWARM: Mutex<(usize, bool)> = Mutex::new((0, false));

/// Holds the one-node swarm for a test; the last holder leaves a swarm
/// this binary created.
struct SwarmGuard;

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        let mut s = SWARM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.0 -= 1;
        if s.0 == 0 && s.1 {
            let out = Command::new("docker").args(["swarm", "leave", "--force"]).output();
            assert!(out.is_ok_and(|o| o.status.success()), "cannot leave the swarm this test created");
            s.1 = false;
        }
    }
}

fn swarm_state() -> Option<String> {
    let out = Command::new("docker").args(["info", "--format", "{{.Swarm.LocalNodeState}}"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A one-node swarm for this test (made if need be), or None (the test
/// passes) when no daemon answers.
async fn swarm_or_skip(test: &str) -> Option<SwarmGuard> {
    if let Err(e) = DockerBackend::connect().await {
        assert!(
            std::env::var("FAULTLAB_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "{test}: FAULTLAB_REQUIRE_DOCKER=1 but {e}"
        );
        eprintln!("{test}: skipped: {e}");
        return None;
    }
    let mut s = SWARM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if s.0 == 0 && swarm_state().as_deref() != Some("active") {
        let out = Command::new("docker")
            .args(["swarm", "init", "--advertise-addr", "127.0.0.1"])
            .output()
            .expect("run docker swarm init");
        assert!(out.status.success(), "docker swarm init: {}", String::from_utf8_lossy(&out.stderr));
        s.1 = true;
    }
    s.0 += 1;
    Some(SwarmGuard)
}

fn nodes(n: u16) -> Vec<NodeLaunch> {
    (1..=n).map(|i| NodeLaunch::new(NodeId(i), format!("replica-{i}"), "replica")).collect()
}

/// The control connection once the agent passes the handshake (retried
/// while it starts). The agent exits when it closes: keep it while needed.
async fn handshake(ep: &AgentEndpoint, token: &str, what: &str) -> orchestrator::run::control::Conn {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = orchestrator::run::control::hello(ep.control, token, "test");
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(conn)) => return conn,
            _ if Instant::now() > deadline => {
                panic!("{what}: agent at {} never answered the handshake", ep.control)
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The next event of `node` in `state`, within 15 s.
async fn event(events: &mut UnboundedReceiver<NodeEvent>, node: NodeId, state: NodeState) {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some((n, s, _))) if n == node && s == state => return,
            Ok(Some(_)) => {}
            _ => panic!("no {state:?} event for {node:?}"),
        }
    }
}

/// The number of tasks swarm made for a service.
async fn task_count(docker: &Docker, service: &str) -> usize {
    let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
    docker.list_tasks(Some(ListTasksOptions { filters: Some(filters) })).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_deploy_crash_restart_pause_and_leave_nothing() {
    let Some(_swarm) = swarm_or_skip("services_deploy").await else { return };
    let id = run_id("svc");
    let _guard = RunGuard(id.clone());
    let cfg = config(&id);
    let mut backend = SwarmBackend::connect(None).await.unwrap();
    let eps = backend.deploy(&cfg, &nodes(3)).await.unwrap();
    let docker = backend.engine().clone();
    let mut events = backend.events().unwrap();
    assert_eq!(eps.len(), 3);
    let mut conns = Vec::new();
    for ep in &eps {
        conns.push(handshake(ep, &cfg.token, "deployed").await);
    }
    // One overlay address each, distinct, all on the run's overlay network.
    let addrs: std::collections::BTreeSet<_> = eps.iter().map(|e| e.data_addr).collect();
    assert_eq!(addrs.len(), 3, "{eps:?}");
    let label = format!("faultlab.run={id}");
    assert_eq!(leftovers(&docker, &label).await[..3], [3, 3, 1]);
    let net = docker
        .inspect_network(
            &format!("faultlab-{id}-data"),
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    assert_eq!(net.driver.as_deref(), Some("overlay"));
    assert_eq!(net.attachable, Some(true));
    // One replica, restart condition none, the node's labels on the service.
    let name = backend.service_name(NodeId(2)).unwrap().to_string();
    let svc = docker
        .inspect_service(&name, None::<bollard::query_parameters::InspectServiceOptions>)
        .await
        .unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(1));
    let task = spec.task_template.unwrap();
    assert_eq!(task.restart_policy.unwrap().condition.map(|c| c.to_string()).as_deref(), Some("none"));
    let labels = spec.labels.unwrap();
    assert_eq!(labels.get("faultlab.node").map(String::as_str), Some("replica-2"));
    assert_eq!(labels.get("faultlab.run"), Some(&id));

    // Crash: the engine's die event, and swarm does not bring it back by itself.
    backend.crash(NodeId(2)).await.unwrap();
    event(&mut events, NodeId(2), NodeState::Down).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        orchestrator::run::control::hello(eps[1].control, &cfg.token, "test").await.is_err(),
        "a crashed node stays down until faultlab restarts it"
    );
    assert_eq!(task_count(&docker, &name).await, 1, "swarm made no replacement task");
    // Restart: the same container again, with the same overlay address.
    let ep = backend.start(NodeId(2)).await.unwrap();
    event(&mut events, NodeId(2), NodeState::Up).await;
    assert_eq!(ep.data_addr, eps[1].data_addr, "the peers' address for replica-2 still holds");
    conns[1] = handshake(&ep, &cfg.token, "restarted").await;
    // Starting a running node is a no-op.
    assert_eq!(backend.start(NodeId(2)).await.unwrap(), ep);
    // Pause and resume through the engine.
    backend.pause(NodeId(3)).await.unwrap();
    event(&mut events, NodeId(3), NodeState::Paused).await;
    backend.resume(NodeId(3)).await.unwrap();
    event(&mut events, NodeId(3), NodeState::Up).await;
    // The resumed agent kept the connection made before the pause (no end of stream).
    use futures::StreamExt;
    let next = tokio::time::timeout(Duration::from_millis(300), conns[2].next()).await;
    assert!(!matches!(next, Ok(None) | Ok(Some(Err(_)))), "the resumed agent's connection closed");

    // `faultlab clean` sees the run with its services.
    let runs = docker::runs().await.unwrap();
    let mine = runs.iter().find(|r| r.run == id).expect("the run is listed");
    assert_eq!(mine.objects.services, 3, "{mine:?}");
    backend.teardown().await.unwrap();
    assert_eq!(leftovers(&docker, &label).await, [0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_run_cleanup_removes_services_too() {
    let Some(_swarm) = swarm_or_skip("stale_cleanup").await else { return };
    let id = run_id("clean");
    let _guard = RunGuard(id.clone());
    let mut backend = SwarmBackend::connect(None).await.unwrap();
    backend.deploy(&config(&id), &nodes(2)).await.unwrap();
    let docker = backend.engine().clone();
    // What `faultlab clean` does for one run.
    let report = docker::teardown_blocking(&id).unwrap();
    assert_eq!((report.services, report.networks), (2, 1), "{report}");
    assert!(report.to_string().starts_with("2 services, 0 configs, "), "{report}");
    assert_eq!(leftovers(&docker, &format!("faultlab.run={id}")).await, [0, 0, 0, 0]);
    backend.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_constraints_reach_swarm_and_an_impossible_one_fails_at_once() {
    let Some(_swarm) = swarm_or_skip("placement").await else { return };
    let id = run_id("place");
    let _guard = RunGuard(id.clone());
    let mut launches = nodes(2);
    launches[0].placement = vec!["node.role==manager".into()];
    launches[1].placement = vec!["node.labels.faultlab-zone==nowhere".into()];
    let mut backend = SwarmBackend::connect(None).await.unwrap();
    let docker = backend.engine().clone();
    let t = Instant::now();
    let err = backend.deploy(&config(&id), &launches).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(30), "failed after {:?}", t.elapsed());
    let text = err.to_string();
    assert!(matches!(err, SwarmError::TaskFailed { .. }), "{err:?}");
    assert!(text.contains("replica-2") && text.contains("node.labels.faultlab-zone==nowhere"), "{text}");
    // A failed deploy removes what it made.
    assert_eq!(leftovers(&docker, &format!("faultlab.run={id}")).await, [0, 0, 0, 0]);
    // The satisfiable one alone deploys, and swarm holds the constraint.
    let eps = backend.deploy(&config(&id), &launches[..1]).await.unwrap();
    let name = backend.service_name(NodeId(1)).unwrap().to_string();
    let svc = docker
        .inspect_service(&name, None::<bollard::query_parameters::InspectServiceOptions>)
        .await
        .unwrap();
    let constraints = svc.spec.unwrap().task_template.unwrap().placement.unwrap().constraints.unwrap();
    assert_eq!(constraints, ["node.role==manager"]);
    let _conn = handshake(&eps[0], &config(&id).token, "placed").await;
    backend.teardown().await.unwrap();
}

/// A swarm run of the faultlab binary writing to a temporary folder.
fn write_experiment(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("swarm-signal.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_ctrl_c_leave_no_service_network_or_container() {
    let Some(_swarm) = swarm_or_skip("signals").await else { return };
    let docker = Docker::connect_with_local_defaults().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_experiment(
        dir.path(),
        "name: swarm-signal\nseed: 1\nduration: 120s\nworkload: { kind: heartbeat, nodes: 3 }\n",
    );
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(AGENT)
            .args(["run", file.to_str().unwrap(), "--backend", "swarm", "--out"])
            .arg(dir.path().join(signal))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let label = format!("faultlab.pid={}", child.id());
        // Until its three agents run.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let filters = HashMap::from([
                ("label".to_string(), vec![label.clone()]),
                ("status".to_string(), vec!["running".to_string()]),
            ]);
            let running = docker
                .list_containers(Some(ListContainersOptions { filters: Some(filters), ..Default::default() }))
                .await
                .unwrap();
            if running.len() == 3 {
                break;
            }
            assert!(Instant::now() < until, "the run never had its 3 agents running");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed =
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let until = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "the run did not stop on SIG{signal}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(leftovers(&docker, &label).await, [0, 0, 0, 0], "left behind after SIG{signal}");
        // Stopped after its deploy, the run writes a report that says so
        // (stopped while still deploying, it writes none).
        if let Ok(report) = std::fs::read_to_string(dir.path().join(signal).join("report.json")) {
            let report: serde_json::Value = serde_json::from_str(&report).unwrap();
            assert_eq!(report["interrupted"], serde_json::Value::Bool(true), "SIG{signal}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmr_on_swarm_masks_a_crash_a_pause_and_an_isolation() {
    let Some(_swarm) = swarm_or_skip("tmr_on_swarm").await else { return };
    let text = "name: swarm-tmr\nseed: 11\nduration: 9s\nworkload: { kind: tmr, rate: 1000/s, deadline: 50ms }\nfaults:\n  - { at: 1s, for: 1500ms, kind: crash, target: replica-2 }\n  - { at: 4s, for: 1s, kind: pause, target: replica-1 }\n  - { at: 6s, for: 1s, kind: isolate, target: replica-3 }\nexpect:\n  requests.wrong: \"== 0\"\n  nodes.replica-2.crashes: \"== 1\"\n";
    let exp = parse_str(Path::new("swarm.yaml"), text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out_dir: Some(dir.path().to_path_buf()),
        backend: Some(BackendChoice::Swarm),
        watchdog: Duration::from_secs(5),
        ..RunOptions::new(PathBuf::from(AGENT))
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), run(&exp, &opts)).await.unwrap().unwrap();
    let r = outcome.report;
    assert_eq!(r.backend, "swarm");
    assert!(r.valid, "{:?}", r.run_failures);
    assert!(r.expect.iter().all(|e| e.passed), "{:?}", r.expect);
    // Every fault took effect and ended.
    for kind in ["crash", "pause", "isolate"] {
        let f = r.faults.iter().find(|f| f.kind == kind).unwrap();
        assert!(f.failed.is_none() && f.until_seconds.is_some(), "{f:?}");
    }
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(events.contains("\"node\":\"replica-2\",\"state\":\"down\""), "{events}");
    assert!(events.contains("\"node\":\"replica-2\",\"state\":\"up\""), "{events}");
    let docker = Docker::connect_with_local_defaults().unwrap();
    assert_eq!(leftovers(&docker, &format!("faultlab.run={}", r.run_id)).await, [0, 0, 0, 0]);
}
