//! The echo workload, run whole on the process backend: the smallest
//! request/reply service, and the numbers the interposer's faults must give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator::backend::BackendChoice;
use orchestrator::experiment::parse_str;
use orchestrator::run::{run, RunOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn run_yaml(text: &str) -> orchestrator::report::Report {
    let exp = parse_str(Path::new("echo.yaml"), text).expect("valid experiment");
    let opts = RunOptions {
        backend: Some(BackendChoice::Process),
        watchdog: Duration::from_secs(5),
        ..RunOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_faultlab")))
    };
    tokio::time::timeout(Duration::from_secs(60), run(&exp, &opts)).await.unwrap().unwrap().report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omission_on_both_sides_of_the_server_leaves_one_minus_p_squared() {
    // Each request and each reply is dropped with p = 0.2, independently:
    // a request is answered with probability (1 - p)^2 = 0.64.
    let text = "name: echo\nseed: 5\nduration: 4s\nworkload: { kind: echo, rate: 500/s, deadline: 50ms }\nfaults:\n  - { at: 0s, kind: omission, target: server-1, direction: both, probability: 0.2 }\nexpect:\n  requests.wrong: \"== 0\"\n";
    let r = run_yaml(text).await;
    assert!(r.valid, "{:?}", r.run_failures);
    let n = r.requests.total as f64;
    assert!(n > 1500.0, "{:?}", r.requests);
    let a = r.availability.unwrap();
    // Four standard deviations of a binomial proportion.
    let sd = (0.64 * 0.36 / n).sqrt();
    assert!((a - 0.64).abs() < 4.0 * sd + 0.01, "availability {a}, theory 0.64 ± {:.4}", 4.0 * sd);
    assert_eq!(r.requests.wrong, 0);
    assert!(r.expect.iter().all(|e| e.passed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupting_server_is_caught_by_the_client() {
    let text = "name: echo-byz\nseed: 5\nduration: 3s\nworkload: { kind: echo, rate: 300/s }\nfaults:\n  - { at: 1s, for: 1s, kind: byzantine, target: server-1, mode: corrupt }\n";
    let r = run_yaml(text).await;
    assert!(r.valid, "{:?}", r.run_failures);
    // About a third of the requests were answered by the traitor.
    let share = r.requests.wrong as f64 / r.requests.total as f64;
    assert!(share > 0.2 && share < 0.45, "{:?}", r.requests);
}
