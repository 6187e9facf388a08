//! Whole TMR runs on the docker backend: the same faults and the same
//! results as on the process backend, with node states from the engine.
//! Skips without a daemon, fails instead when FAULTLAB_REQUIRE_DOCKER=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator::backend::docker::DockerBackend;
use orchestrator::backend::BackendChoice;
use orchestrator::experiment::parse_str;
use orchestrator::run::{run, RunOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn docker_or_skip(test: &str) -> bool {
    if DockerBackend::available().await {
        return true;
    }
    assert!(
        std::env::var("FAULTLAB_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "{test}: FAULTLAB_REQUIRE_DOCKER=1 but no docker daemon answers"
    );
    eprintln!("{test}: skipped: no docker daemon answers");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmr_on_docker_masks_one_crash_and_breaks_under_two() {
    if !docker_or_skip("tmr_on_docker").await {
        return;
    }
    let text = "name: docker-tmr\nseed: 11\nduration: 10s\nworkload: { kind: tmr, rate: 1000/s, deadline: 50ms }\nfaults:\n  - { at: 1s, for: 1500ms, kind: crash, target: replica-2 }\n  - { at: 4s, for: 1500ms, kind: crash, target: { role: replica, count: 2 } }\n  - { at: 8s, for: 1s, kind: isolate, target: replica-3 }\n";
    let exp = parse_str(Path::new("docker.yaml"), text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out_dir: Some(dir.path().to_path_buf()),
        backend: Some(BackendChoice::Docker),
        watchdog: Duration::from_secs(5),
        ..RunOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_faultlab")))
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), run(&exp, &opts)).await.unwrap().unwrap();
    let r = outcome.report;
    let run_id = r.run_id.clone();
    assert_eq!(r.backend, "docker");
    assert_eq!(r.requests.wrong, 0);
    // One crash masked; two crashes at once: one outage, ended by a restart and a state transfer.
    assert_eq!(r.failures, 1, "{:?}", r.recovery_seconds);
    let outage = &r.recovery_seconds.incidents[0];
    assert!(outage.start > 3.9 && outage.start < 4.6, "{outage:?}");
    assert!(outage.seconds > 1.0 && outage.seconds < 4.0, "{outage:?}");
    assert!(r.tmr.as_ref().unwrap().state_transfers >= 2);
    // Node states came from the engine's events: replica-2 died twice at most, and came back.
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(events.contains("\"node\":\"replica-2\",\"state\":\"down\""), "{events}");
    assert!(events.contains("\"node\":\"replica-2\",\"state\":\"up\""), "{events}");
    assert!(r.faults.iter().any(|f| f.kind == "isolate" && f.until_seconds.is_some()));
    // Nothing of the run is left.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let filter =
        std::collections::HashMap::from([("label".to_string(), vec![format!("faultlab.run={run_id}")])]);
    let left = docker
        .list_containers(Some(bollard::container::ListContainersOptions {
            all: true,
            filters: filter.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(left.is_empty(), "containers left: {left:?}");
    let nets =
        docker.list_networks(Some(bollard::network::ListNetworksOptions { filters: filter })).await.unwrap();
    assert!(nets.is_empty(), "networks left: {nets:?}");
}
