//! `faultlab clean` as a user runs it beside live runs: two real docker runs
//! go on untouched while a dead run's leftovers are removed.
//! Skips without a daemon, fails instead when FAULTLAB_REQUIRE_DOCKER=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bollard::models::{
    ContainerCreateBody, ContainerSummaryStateEnum, NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions};
use bollard::Docker;
use common::docker::{daemon_or_skip, label_filter, objects};
use orchestrator::backend::docker;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const EXE: &str = env!("CARGO_BIN_EXE_faultlab");
/// Above Linux's largest pid_max (2^22): no process has it.
const DEAD_PID: &str = "4194305";

/// Kills the runs and removes every object of theirs and of the dead run, however the test ends.
struct Guard {
    children: Vec<Child>,
    runs: Vec<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for r in &self.runs {
            let _ = docker::teardown_blocking(r);
        }
    }
}

/// (run id, running containers, image) of the run whose orchestrator is `pid`.
async fn run_of(docker: &Docker, pid: u32) -> Option<(String, usize, String)> {
    let cs = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(format!("faultlab.pid={pid}"))),
            ..Default::default()
        }))
        .await
        .ok()?;
    let first = cs.first()?;
    let run = first.labels.as_ref()?.get("faultlab.run")?.clone();
    let running = cs.iter().filter(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING)).count();
    Some((run, running, first.image.clone()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_spares_two_live_runs_and_removes_a_dead_runs_leftovers() {
    if !daemon_or_skip("clean").await {
        return;
    }
    let docker = Docker::connect_with_local_defaults().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = common::write(dir.path(), "live.yaml", "name: live\nseed: 2\nduration: 90s\nworkload: { kind: tmr, replicas: 3, voters: 1, rate: 100/s, deadline: 500ms }\n");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dead = format!("t-clean-dead-{}-{nanos:x}", std::process::id());
    let mut guard = Guard { children: Vec::new(), runs: vec![dead.clone()] };
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        guard.children.push(common::spawn_run(&exp, "docker", &out, false));
    }

    // Both runs live: all five agents of each running, and the run started.
    let pids: Vec<u32> = guard.children.iter().map(Child::id).collect();
    let mut live = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (pid, name) in pids.iter().zip(["a", "b"]) {
        loop {
            let started = std::fs::read_to_string(dir.path().join(name).join("events.jsonl"))
                .is_ok_and(|e| e.contains("\"type\":\"run_started\""));
            match run_of(&docker, *pid).await {
                Some((run, 5, image)) if started => {
                    guard.runs.push(run.clone());
                    live.push((run, image));
                    break;
                }
                _ => {}
            }
            assert!(Instant::now() < deadline, "run {name} did not come up");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // A dead run's leftovers, made by hand with the owner labels of a pid that does not exist.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let labels = HashMap::from([
        ("faultlab.run".to_string(), dead.clone()),
        ("faultlab.pid".to_string(), DEAD_PID.to_string()),
        ("faultlab.pid-start".to_string(), "1".to_string()),
        ("faultlab.host".to_string(), host),
    ]);
    docker
        .create_network(NetworkCreateRequest {
            name: format!("{dead}-net"),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(format!("{dead}-vol")),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    docker
        .create_container(
            Some(CreateContainerOptions { name: Some(format!("{dead}-c")), ..Default::default() }),
            ContainerCreateBody {
                image: Some(live[0].1.clone()),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(objects(&docker, &dead).await, (1, 1, 1));

    let out = Command::new(EXE).arg("clean").stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("removed run {dead} (owner pid {DEAD_PID} is gone)")), "{text}");
    assert_eq!(objects(&docker, &dead).await, (0, 0, 0), "the dead run's leftovers are gone");
    for ((run, _), pid) in live.iter().zip(&pids) {
        assert!(text.contains(&format!("kept run {run} (owner pid {pid} is alive)")), "{text}");
        assert!(!text.contains(&format!("removed run {run}")), "{text}");
        let (_, running, _) = run_of(&docker, *pid).await.expect("the live run's containers are there");
        assert_eq!(running, 5, "run {run} lost agents to clean");
    }

    // Without a terminal, --all is refused and removes nothing.
    let all = Command::new(EXE).args(["clean", "--all"]).stdin(Stdio::null()).output().unwrap();
    assert!(!all.status.success());
    assert!(String::from_utf8_lossy(&all.stderr).contains("pass --yes"));
    for (run, _) in &live {
        assert_eq!(objects(&docker, run).await.0, 5, "--all without --yes touched {run}");
    }

    // Both runs end normally when stopped: nothing was taken from under them.
    for c in &guard.children {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap()),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
    }
    for (c, name) in guard.children.iter_mut().zip(["a", "b"]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "run {name} did not stop");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let report = std::fs::read_to_string(dir.path().join(name).join("report.json"))
            .unwrap_or_else(|e| panic!("run {name} wrote no report: {e}"));
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let requests = &report["requests"];
        assert!(requests["ok"].as_u64().unwrap() > 0, "run {name}: {requests}");
        // No agent of it went down at any time.
        let events = std::fs::read_to_string(dir.path().join(name).join("events.jsonl")).unwrap();
        assert!(!events.contains("\"state\":\"down\""), "run {name} lost an agent: {events}");
    }
}
