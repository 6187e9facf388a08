//! Whole checkpointing runs on the process backend: every protocol recovers
//! a crashed process from its stable storage (a host directory per node) to
//! the golden run's final state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator::backend::BackendChoice;
use orchestrator::experiment::parse_str;
use orchestrator::run::{run, RunOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn options(out: PathBuf) -> RunOptions {
    RunOptions {
        out_dir: Some(out),
        backend: Some(BackendChoice::Process),
        watchdog: Duration::from_secs(5),
        ..RunOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_faultlab")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_recovers_a_crashed_process_to_the_golden_state() {
    for protocol in workloads::checkpoint::Protocol::ALL.map(|p| p.as_str()) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "name: ck-{protocol}\nseed: 5\nduration: 6s\n\
             workload: {{ kind: checkpointing, protocol: {protocol}, processes: 3, tokens: 4, hops: 120, \
             step: 10ms, interval: 300ms, checkpoint_cost: 5ms, log_flush: 100ms }}\n\
             faults:\n  - {{ at: 1s, for: 300ms, kind: crash, target: process-2 }}\n"
        );
        let exp = parse_str(Path::new("test.yaml"), &text).expect("valid experiment");
        let outcome =
            tokio::time::timeout(Duration::from_secs(60), run(&exp, &options(dir.path().to_path_buf())))
                .await
                .expect("run finishes")
                .expect("run succeeds");
        let ck = outcome.report.sections.get("checkpointing").cloned().expect("a checkpointing section");
        let get = |k: &str| ck.get(k).cloned().unwrap_or_default();
        assert_eq!(get("golden_match"), serde_json::json!(true), "{protocol}: {ck:#}");
        assert!(
            get("rollbacks").as_u64().unwrap_or(0) >= 1,
            "{protocol}: the crashed process recovered: {ck:#}"
        );
        assert!(get("checkpoints").as_u64().unwrap_or(0) >= 3, "{protocol}: {ck:#}");
        let survivors = get("survivors_rolled_back").as_u64().unwrap_or(u64::MAX);
        if protocol == "pessimistic-logging" || protocol == "causal-logging" {
            assert_eq!(survivors, 0, "nobody else rolls back");
        }
        // The restarted agent found what it had stored under <out>/state/<node>/.
        let state = dir.path().join("state").join("process-2");
        assert!(std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0) >= 1, "{protocol}: {state:?}");
    }
}
