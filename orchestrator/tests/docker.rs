//! The docker backend against the real daemon, with the real faultlab binary.
//!
//! Without a daemon every test prints why and passes, unless
//! `FAULTLAB_REQUIRE_DOCKER=1`, which turns that into a failure. Every test
//! uses its own run id and a guard that removes the run even when it fails.
//! `cargo test -p orchestrator --test docker -- --ignored --nocapture` also
//! times "deploy N agents until every control port answers" for N = 3, 5, 10.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bollard::Docker;
use common::docker::objects;
use node_agent::proto::{Down, Up};
use orchestrator::backend::docker::{self, image, DockerBackend, NodeEvent};
use orchestrator::backend::{AgentEndpoint, NodeLaunch, NodeState};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::RwLockReadGuard;
use workloads::NodeId;

mod common;
use common::docker::{config, run_id, RunGuard, AGENT};
/// Set in a child copy of this test binary: `<mode>:<run id>`.
const CHILD_ENV: &str = "FAULTLAB_DOCKER_TEST_CHILD";

/// `clean_all` removes every run: it takes this for writing, all others for reading.
static SUITE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn nodes(n: u16) -> Vec<NodeLaunch> {
    (1..=n).map(|i| NodeLaunch::new(NodeId(i), format!("replica-{i}"), "replica")).collect()
}

/// A connected backend, or None (the test passes) when no daemon answers.
async fn backend_or_skip(test: &str) -> Option<DockerBackend> {
    // available() allows 1 s; a loaded machine may take longer, so ask connect() for the reason.
    let why = if DockerBackend::available().await {
        None
    } else {
        match DockerBackend::connect().await {
            Ok(b) => return Some(b),
            Err(e) => Some(e.to_string()),
        }
    };
    if !common::docker::goes_on(test, why) {
        return None;
    }
    Some(DockerBackend::connect().await.expect("connect"))
}

/// What a test of its own run holds, or None (the test passes) when no
/// daemon answers: the suite's lock for reading, a connected backend, the
/// run's id and the guard that removes the run.
async fn own_run(test: &str) -> Option<(RwLockReadGuard<'static, ()>, DockerBackend, String, RunGuard)> {
    let suite = SUITE.read().await;
    let backend = backend_or_skip(test).await?;
    let id = run_id(test);
    let guard = RunGuard(id.clone());
    Some((suite, backend, id, guard))
}

/// An open control connection that passed the handshake.
struct Control {
    _stream: TcpStream,
    pid: u32,
}

async fn write_frame(s: &mut TcpStream, msg: &Down) -> std::io::Result<()> {
    let body = postcard::to_stdvec(msg).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes()).await?;
    s.write_all(&body).await
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Up> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

async fn try_handshake(ep: &AgentEndpoint, token: &str) -> std::io::Result<Control> {
    let mut s = TcpStream::connect(ep.control).await?;
    write_frame(&mut s, &Down::Hello { token: token.to_string() }).await?;
    match tokio::time::timeout(Duration::from_secs(2), read_frame(&mut s)).await {
        Ok(Ok(Up::Hello { pid })) => Ok(Control { _stream: s, pid }),
        Ok(Ok(other)) => Err(std::io::Error::other(format!("expected Up::Hello, got {other:?}"))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::other("no answer to Hello within 2 s")),
    }
}

/// Handshake with an agent, retrying until it is up (docker-proxy accepts
/// before the agent listens, then closes: that is "not yet").
async fn handshake(ep: &AgentEndpoint, token: &str) -> Control {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match try_handshake(ep, token).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => {
                panic!("agent at {} never answered the handshake: {e}", ep.control)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Wait for `(node, state)` on the events stream, skipping others.
async fn expect_event(rx: &mut UnboundedReceiver<NodeEvent>, node: NodeId, state: NodeState) -> NodeEvent {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = rx.recv().await {
            if ev.0 == node && ev.1 == state {
                return Some(ev);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("the events stream ended before {node} became {state:?}"),
        Err(_) => panic!("no event {node} {state:?} within 10 s"),
    }
}

async fn container_state(docker: &Docker, name: &str) -> String {
    let info = docker.inspect_container(name, None).await.unwrap();
    info.state.and_then(|s| s.status).map(|s| s.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn deploys_three_agents_and_reaches_every_control_port() {
    let Some((_suite, mut backend, id, _guard)) = own_run("deploy").await else { return };
    let cfg = config(&id);
    let started = Instant::now();
    let endpoints = backend.deploy(&cfg, &nodes(3)).await.unwrap();
    let deployed = started.elapsed();
    let mut controls = Vec::new();
    for ep in &endpoints {
        controls.push(handshake(ep, &cfg.token).await);
    }
    eprintln!(
        "deploy of 3 agents: {deployed:?} (image {:?}), all control ports answered after {:?}",
        backend.agent_image().map(|i| (i.imported, i.elapsed)),
        started.elapsed()
    );
    assert!(controls.iter().all(|c| c.pid > 0));

    // Control ports on loopback, distinct; data addresses fixed and distinct.
    let docker = backend.engine().clone();
    for (i, ep) in endpoints.iter().enumerate() {
        assert!(ep.control.ip().is_loopback(), "{ep:?}");
        assert_eq!(ep.data_listen.port(), docker::DATA_PORT);
        assert_eq!(ep.data_addr.port(), docker::DATA_PORT);
        for other in &endpoints[i + 1..] {
            assert_ne!(ep.control, other.control);
            assert_ne!(ep.data_addr.ip(), other.data_addr.ip());
        }
    }
    // Each container: hostname = node, labels, init, /state, the data IP on the data network.
    let data_net = backend.data_network().unwrap().to_string();
    for (node, ep) in nodes(3).iter().zip(&endpoints) {
        let name = backend.container_name(node.id).unwrap();
        let info = docker.inspect_container(name, None).await.unwrap();
        let config = info.config.unwrap();
        assert_eq!(config.hostname.as_deref(), Some(node.name.as_str()));
        let labels = config.labels.unwrap();
        assert_eq!(labels.get("faultlab.run"), Some(&id));
        assert_eq!(labels.get("faultlab.node"), Some(&node.name));
        assert_eq!(labels.get("faultlab.role"), Some(&node.role));
        assert_eq!(info.host_config.unwrap().init, Some(true));
        assert!(info.mounts.unwrap().iter().any(|m| m.destination.as_deref() == Some("/state")));
        let nets = info.network_settings.unwrap().networks.unwrap();
        assert_eq!(nets.len(), 2, "control and data networks: {:?}", nets.keys());
        assert_eq!(nets[&data_net].ip_address.as_deref(), Some(ep.data_addr.ip().to_string().as_str()));
    }
    let net = docker.inspect_network(&data_net, None).await.unwrap();
    assert_eq!(net.internal, Some(true), "the data network must be internal");

    backend.teardown().await.unwrap();
    assert_eq!(objects(&docker, &id).await, (0, 0, 0));
}

#[tokio::test]
async fn a_crashed_node_starts_again_and_the_events_say_so() {
    let Some((_suite, mut backend, id, _guard)) = own_run("crash").await else { return };
    let cfg = config(&id);
    let endpoints = backend.deploy(&cfg, &nodes(2)).await.unwrap();
    let mut events = backend.events().expect("an events stream");
    assert!(backend.events().is_none(), "the stream is taken once");
    let node = NodeId(2);
    expect_event(&mut events, node, NodeState::Up).await;
    let _first = handshake(&endpoints[1], &cfg.token).await;

    backend.crash(node).await.unwrap();
    let name = backend.container_name(node).unwrap().to_string();
    assert_eq!(container_state(backend.engine(), &name).await, "exited");
    let down = expect_event(&mut events, node, NodeState::Down).await;
    backend.crash(node).await.expect("crashing a crashed node is a no-op");

    let ep = backend.start(node).await.unwrap();
    let up = expect_event(&mut events, node, NodeState::Up).await;
    assert!(up.2 >= down.2, "start is reported after die");
    assert_eq!(ep.data_addr, endpoints[1].data_addr, "the data address survives a restart");
    let again = handshake(&ep, &cfg.token).await;
    assert!(again.pid > 0);
    // The other node never went down.
    assert_eq!(
        container_state(backend.engine(), backend.container_name(NodeId(1)).unwrap()).await,
        "running"
    );
    backend.teardown().await.unwrap();
}

#[tokio::test]
async fn pause_freezes_a_node_and_resume_thaws_it() {
    let Some((_suite, mut backend, id, _guard)) = own_run("pause").await else { return };
    let cfg = config(&id);
    let endpoints = backend.deploy(&cfg, &nodes(1)).await.unwrap();
    let mut events = backend.events().unwrap();
    let node = NodeId(1);
    let name = backend.container_name(node).unwrap().to_string();
    let _control = handshake(&endpoints[0], &cfg.token).await;

    backend.pause(node).await.unwrap();
    assert_eq!(container_state(backend.engine(), &name).await, "paused");
    expect_event(&mut events, node, NodeState::Paused).await;
    // A frozen agent accepts nothing: the handshake gets no answer.
    let frozen = tokio::time::timeout(Duration::from_secs(3), try_handshake(&endpoints[0], &cfg.token)).await;
    assert!(!matches!(frozen, Ok(Ok(_))), "a paused agent answered");

    backend.resume(node).await.unwrap();
    assert_eq!(container_state(backend.engine(), &name).await, "running");
    expect_event(&mut events, node, NodeState::Up).await;
    backend.teardown().await.unwrap();
}

#[tokio::test]
async fn isolate_cuts_the_data_network_and_reconnect_restores_the_same_ip() {
    let Some((_suite, mut backend, id, _guard)) = own_run("isolate").await else { return };
    let cfg = config(&id);
    let endpoints = backend.deploy(&cfg, &nodes(2)).await.unwrap();
    let node = NodeId(1);
    let name = backend.container_name(node).unwrap().to_string();
    let data_net = backend.data_network().unwrap().to_string();
    let data_ip = |docker: Docker, name: String, net: String| async move {
        let info = docker.inspect_container(&name, None).await.unwrap();
        info.network_settings.unwrap().networks.unwrap().get(&net).and_then(|e| e.ip_address.clone())
    };
    let docker = backend.engine().clone();
    assert_eq!(
        data_ip(docker.clone(), name.clone(), data_net.clone()).await,
        Some(endpoints[0].data_addr.ip().to_string())
    );

    backend.isolate(node).await.unwrap();
    assert_eq!(data_ip(docker.clone(), name.clone(), data_net.clone()).await, None);
    backend.isolate(node).await.expect("isolating twice is a no-op");
    // The control port does not move: the orchestrator still reaches the agent.
    let control = handshake(&endpoints[0], &cfg.token).await;
    assert!(control.pid > 0);

    backend.reconnect(node).await.unwrap();
    assert_eq!(
        data_ip(docker.clone(), name.clone(), data_net.clone()).await,
        Some(endpoints[0].data_addr.ip().to_string())
    );
    backend.reconnect(node).await.expect("reconnecting twice is a no-op");
    backend.teardown().await.unwrap();
}

#[tokio::test]
async fn teardown_removes_every_container_network_and_volume_and_is_idempotent() {
    let Some((_suite, mut backend, id, _guard)) = own_run("teardown").await else { return };
    backend.deploy(&config(&id), &nodes(2)).await.unwrap();
    let docker = backend.engine().clone();
    assert_eq!(objects(&docker, &id).await, (2, 2, 1));
    backend.teardown().await.unwrap();
    assert_eq!(objects(&docker, &id).await, (0, 0, 0));
    backend.teardown().await.unwrap();
    assert!(matches!(backend.crash(NodeId(1)).await, Err(docker::DockerError::NotDeployed)));
}

#[tokio::test]
async fn a_failed_deploy_leaves_nothing_behind() {
    let Some((_suite, mut backend, id, _guard)) = own_run("failed-deploy").await else { return };
    // Two nodes with one name: the second container's name is taken.
    let mut twins = nodes(2);
    twins[1].name = twins[0].name.clone();
    let err = backend.deploy(&config(&id), &twins).await.unwrap_err();
    assert!(err.to_string().contains("create the container"), "{err}");
    assert_eq!(objects(backend.engine(), &id).await, (0, 0, 0));
    assert!(backend.run_id().is_none());
}

#[tokio::test]
async fn the_image_is_imported_once_and_then_reused() {
    let _suite = SUITE.read().await;
    let Some(backend) = backend_or_skip("image").await else { return };
    let first = backend.ensure_image(AGENT.as_ref()).await.unwrap();
    let imports = image::imports();
    let second = backend.ensure_image(AGENT.as_ref()).await.unwrap();
    eprintln!(
        "image {}: first {:?} (imported: {}), second {:?}",
        first.reference, first.elapsed, first.imported, second.elapsed
    );
    assert_eq!(first.reference, second.reference);
    assert!(first.reference.starts_with("faultlab-agent:"));
    assert!(!second.imported, "the second call must find the cached image");
    assert_eq!(image::imports(), imports, "no import on a cache hit");
    assert!(second.elapsed < Duration::from_secs(2), "a cache hit took {:?}", second.elapsed);
    let info = backend.engine().inspect_image(&second.reference).await.unwrap();
    let config = info.config.unwrap();
    assert_eq!(config.entrypoint, Some(vec!["/faultlab".to_string()]));
    assert!(config.labels.unwrap().contains_key(image::IMAGE_LABEL));
}

#[tokio::test]
async fn clean_all_removes_objects() {
    // Exclusive: clean_all removes every run, those of the other tests too.
    let _suite = SUITE.write().await;
    let Some(mut backend) = backend_or_skip("clean_all").await else { return };
    let id = run_id("cleanall");
    let _guard = RunGuard(id.clone());
    backend.deploy(&config(&id), &nodes(1)).await.unwrap();
    let docker = backend.engine().clone();
    // Leave it behind, as a killed orchestrator would.
    std::mem::forget(backend);
    assert_eq!(objects(&docker, &id).await, (1, 2, 1));
    let report = docker::clean_all().await.unwrap();
    assert!(report.containers >= 1 && report.networks >= 2 && report.volumes >= 1, "{report}");
    assert_eq!(objects(&docker, &id).await, (0, 0, 0));
}

/// Runs this test binary again with one child test selected and `CHILD_ENV`
/// set, waiting for it off the async runtime.
async fn run_child(mode: &str, run_id: &str) -> std::process::Output {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["child_process_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}:{run_id}"));
    tokio::task::spawn_blocking(move || child.output().unwrap()).await.unwrap()
}

/// Not a test on its own: the body of the child process of the two tests below.
#[tokio::test]
async fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (mode, id) = spec.split_once(':').unwrap();
    let id = id.to_string();
    let mut backend = DockerBackend::connect().await.unwrap();
    backend.deploy(&config(&id), &nodes(2)).await.unwrap();
    println!("child deployed {id}");
    // Neither ending runs the backend's Drop: only the hook (or nothing) cleans up.
    std::mem::forget(backend);
    match mode {
        "panic" => {
            let hook_id = id.clone();
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = docker::teardown_blocking(&hook_id);
                default(info);
            }));
            panic!("child panics with run {id} deployed");
        }
        _ => std::process::exit(3),
    }
}

#[tokio::test]
async fn a_panic_hook_with_teardown_blocking_leaves_nothing_behind() {
    let Some((_suite, backend, id, _guard)) = own_run("panic-hook").await else { return };
    let out = run_child("panic", &id).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("child deployed {id}")),
        "child did not deploy: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the child must have panicked");
    assert_eq!(objects(backend.engine(), &id).await, (0, 0, 0));
}

#[tokio::test]
async fn sweep_stale_removes_the_runs_of_dead_orchestrators() {
    let Some((_suite, backend, id, _guard)) = own_run("sweep").await else { return };
    let out = run_child("exit", &id).await;
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(objects(backend.engine(), &id).await, (2, 2, 1), "the dead child left its run behind");
    let report = docker::sweep_stale().await.unwrap();
    assert!(report.containers >= 2, "{report}");
    assert_eq!(objects(backend.engine(), &id).await, (0, 0, 0));
}

#[tokio::test]
async fn sweep_stale_spares_runs_whose_orchestrator_lives() {
    let Some((_suite, mut backend, id, _guard)) = own_run("sweep-live").await else { return };
    backend.deploy(&config(&id), &nodes(1)).await.unwrap();
    docker::sweep_stale().await.unwrap();
    assert_eq!(objects(backend.engine(), &id).await, (1, 2, 1), "a live run was swept");
    backend.teardown().await.unwrap();
}

#[tokio::test]
async fn teardown_blocking_works_from_a_panicking_thread() {
    let Some((_suite, mut backend, id, _guard)) = own_run("panic-thread").await else { return };
    backend.deploy(&config(&id), &nodes(1)).await.unwrap();
    let docker = backend.engine().clone();
    std::mem::forget(backend);
    struct Unwind(String);
    impl Drop for Unwind {
        fn drop(&mut self) {
            docker::teardown_blocking(&self.0).unwrap();
        }
    }
    let thread_id = id.clone();
    let joined = std::thread::spawn(move || {
        let _unwind = Unwind(thread_id);
        panic!("boom");
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    assert_eq!(objects(&docker, &id).await, (0, 0, 0));
}

/// Benchmark: deploy N agents until every control port answers the handshake.
#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn deploy_time_for_3_5_and_10_agents() {
    let _suite = SUITE.read().await;
    let Some(mut backend) = backend_or_skip("bench").await else { return };
    backend.ensure_image(AGENT.as_ref()).await.unwrap();
    for n in [3u16, 5, 10] {
        let id = run_id(&format!("bench{n}"));
        let _guard = RunGuard(id.clone());
        let cfg = config(&id);
        let started = Instant::now();
        let endpoints = backend.deploy(&cfg, &nodes(n)).await.unwrap();
        let deployed = started.elapsed();
        let controls = futures::future::join_all(endpoints.iter().map(|ep| handshake(ep, &cfg.token))).await;
        let up = started.elapsed();
        let t = Instant::now();
        backend.teardown().await.unwrap();
        eprintln!(
            "N={n}: deploy {deployed:?}, every control port answered {up:?}, teardown {:?}",
            t.elapsed()
        );
        assert_eq!(controls.len(), n as usize);
    }
}

#[tokio::test]
async fn a_new_binary_replaces_the_older_agent_images() {
    // Exclusive: it swaps the image the other tests deploy from.
    let _suite = SUITE.write().await;
    let Some(backend) = backend_or_skip("image-prune").await else { return };
    // Any other dynamically linked executable stands in for an older faultlab.
    let older = backend.ensure_image("/bin/sh".as_ref()).await.unwrap();
    let current = backend.ensure_image(AGENT.as_ref()).await.unwrap();
    assert_ne!(older.reference, current.reference);
    assert!(current.imported, "the older image's import pruned the current one");
    assert!(
        backend.engine().inspect_image(&older.reference).await.is_err(),
        "{} is still there",
        older.reference
    );
    assert!(backend.engine().inspect_image(&current.reference).await.is_ok());
}
