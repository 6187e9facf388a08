//! Whole runs on the process backend: real agents as child processes, real
//! faults, the report's numbers checked against what the faults must do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator::backend::BackendChoice;
use orchestrator::experiment::parse_str;
use orchestrator::report::Report;
use orchestrator::run::{run, RunOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn options(out: Option<PathBuf>) -> RunOptions {
    RunOptions {
        out_dir: out,
        backend: Some(BackendChoice::Process),
        watchdog: Duration::from_secs(5),
        ..RunOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_faultlab")))
    }
}

/// Runs take the machine's cores (five agents each): one at a time, so that
/// deadlines measure the protocol and not the test harness.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_yaml(text: &str, out: Option<PathBuf>) -> Report {
    let _one_at_a_time = SERIAL.lock().await;
    let exp = parse_str(Path::new("test.yaml"), text).expect("valid experiment");
    let outcome = tokio::time::timeout(Duration::from_secs(60), run(&exp, &options(out)))
        .await
        .expect("run finishes")
        .expect("run succeeds");
    outcome.report
}

const HEAD: &str = "seed: 3\nworkload: { kind: tmr, replicas: 3, voters: 1, rate: 1000/s, deadline: 50ms }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_crashed_replica_is_masked_and_votes_again_after_state_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name: one-crash\nduration: 5s\n{HEAD}faults:\n  - {{ at: 1s, for: 1500ms, kind: crash, target: replica-2 }}\n"
    );
    let r = run_yaml(&text, Some(dir.path().to_path_buf())).await;
    assert!(r.requests.total >= 4500, "{:?}", r.requests);
    assert_eq!(r.requests.wrong, 0);
    // Masked: no outage is the crash's doing. (Outages a loaded host causes
    // are attributed to its stalls; availability is then still near 1.)
    let caused: Vec<_> = r.recovery_seconds.incidents.iter().filter(|i| i.cause == "fault").collect();
    assert!(caused.is_empty(), "the crash caused outages: {:?}", r.recovery_seconds);
    assert!(r.availability.unwrap() >= 0.99, "availability {:?}", r.availability);
    let tmr = r.tmr.as_ref().unwrap();
    // While replica-2 was down every vote missed one result.
    assert!(tmr.majority >= 1000, "{tmr:?}");
    assert!(tmr.state_transfers >= 1, "the restarted replica fetched the state: {tmr:?}");
    // After its state transfer it votes with the others: unanimous votes resume.
    assert!(tmr.unanimous >= 2000, "{tmr:?}");
    let crash = &r.faults[0];
    assert_eq!((crash.kind.as_str(), crash.target.as_str()), ("crash", "replica-2"));
    assert!((crash.at_seconds.unwrap() - 1.0).abs() < 0.2, "{crash:?}");
    assert!(crash.until_seconds.unwrap() > 2.4, "{crash:?}");
    // The outputs are on disk, and events.jsonl holds the crash and the recovery.
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(events.contains("\"type\":\"node_state\"") && events.contains("\"state\":\"down\""));
    assert!(events.contains("\"type\":\"recovery_completed\""));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["requests"]["wrong"], 0);
    assert!(json["detector"].is_null() && json.get("detector").is_some(), "null, not missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_crashed_replicas_stop_the_service_until_one_returns() {
    let text = format!(
        "name: two-crashes\nduration: 5s\n{HEAD}faults:\n  - {{ at: 1s, for: 1500ms, kind: crash, target: replica-1 }}\n  - {{ at: 1s, for: 1500ms, kind: crash, target: replica-3 }}\n"
    );
    let r = run_yaml(&text, None).await;
    assert_eq!(r.requests.wrong, 0);
    let a = r.availability.unwrap();
    assert!(a < 0.85 && a > 0.4, "about 1.5 s of 5 s lost: {a}");
    assert!(r.failures >= 1);
    // The crash's outage (a loaded host may add blips of its own before it).
    let first = r.recovery_seconds.incidents.iter().find(|i| i.cause == "fault").expect("the crash's outage");
    // The outage starts at the crash and lasts until a replica is back and has the state.
    assert!((first.start - 1.0).abs() < 0.2, "{first:?}");
    assert!(first.seconds > 1.3 && first.seconds < 2.5, "{first:?}");
    assert!(first.restore.is_some(), "the state transfer that ended it is named: {first:?}");
    assert!(r.mttr_seconds.is_some() && r.mttf_seconds.is_some());
    assert!(r.tmr.as_ref().unwrap().no_majority > 0);
    assert!(r.availability_time.is_some_and(|a| a < 0.85));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_faults_are_outvoted_until_two_replicas_collude() {
    let text = format!(
        "name: byzantine\nduration: 7s\n{HEAD}faults:\n  - {{ at: 1s, for: 1s, kind: byzantine, target: replica-3, mode: corrupt }}\n  - {{ at: 3s, for: 1s, kind: byzantine, target: {{ role: replica, count: 2 }}, mode: corrupt }}\n  - {{ at: 5s, for: 1s, kind: byzantine, target: {{ role: replica, count: 2 }}, mode: collude }}\nexpect:\n  requests.wrong: \"> 0\"\n  availability: \">= 0.99\"\n"
    );
    let r = run_yaml(&text, None).await;
    let tmr = r.tmr.as_ref().unwrap();
    // One liar: outvoted (majority verdicts). Two independent liars: no majority, failures.
    assert!(tmr.majority >= 800, "{tmr:?}");
    assert!(tmr.no_majority >= 800, "{tmr:?}");
    assert!(r.requests.failed >= 800, "{:?}", r.requests);
    // Two colluders agree on the same lie: it wins the vote and the oracle catches it.
    assert!(r.requests.wrong >= 800, "{:?}", r.requests);
    // The expectations are evaluated: one holds, one does not.
    assert_eq!(r.expect.len(), 2);
    assert!(r.expect.iter().any(|e| e.metric == "requests.wrong" && e.passed));
    assert!(r.expect.iter().any(|e| e.metric == "availability" && !e.passed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omission_on_one_replica_is_masked_and_three_voters_survive_a_voter_crash() {
    let text = "name: omission\nseed: 5\nduration: 4s\nworkload: { kind: tmr, replicas: 3, voters: 3, rate: 1000/s }\nfaults:\n  - { at: 1s, for: 2s, kind: omission, target: replica-1, direction: send, probability: 0.3 }\n  - { at: 1s, for: 2s, kind: crash, target: voter-2 }\n";
    let r = run_yaml(text, None).await;
    assert_eq!(r.requests.wrong, 0);
    let caused: Vec<_> = r.recovery_seconds.incidents.iter().filter(|i| i.cause == "fault").collect();
    assert!(caused.is_empty(), "the faults caused outages: {:?}", r.recovery_seconds);
    assert!(r.availability.unwrap() >= 0.99, "{:?}", r.requests);
}

/// Scrape the exporter over HTTP while the run goes on.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_endpoint_shows_the_run_live() {
    use prometheus_parse::{Scrape, Value};
    let _one_at_a_time = SERIAL.lock().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let text = format!("name: live\nduration: 5s\n{HEAD}faults:\n  - {{ at: 1s, for: 3s, kind: crash, target: replica-2 }}\n");
    let exp = parse_str(Path::new("live.yaml"), &text).unwrap();
    let opts = RunOptions { metrics_addr: Some(addr), ..options(None) };
    let run = tokio::spawn(async move { run(&exp, &opts).await });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body = tokio::time::timeout(Duration::from_secs(5), scrape(addr)).await.unwrap();
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let get = |metric: &str, label: Option<(&str, &str)>| {
        parsed
            .samples
            .iter()
            .find(|s| s.metric == metric && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {metric} in\n{body}"))
    };
    // Mid-run: requests are being answered, replica-2 is down, the crash is counted.
    assert!(get("faultlab_requests_total", Some(("outcome", "ok"))) > 500.0);
    assert_eq!(get("faultlab_node_up", Some(("node", "replica-2"))), 0.0);
    assert_eq!(get("faultlab_node_up", Some(("node", "replica-1"))), 1.0);
    assert_eq!(get("faultlab_faults_injected_total", Some(("kind", "crash"))), 1.0);
    assert!(get("faultlab_tmr_votes_total", Some(("result", "majority"))) > 0.0);
    let report = run.await.unwrap().unwrap().report;
    assert_eq!(report.requests.wrong, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_due_at_one_instant_strike_together_and_end_together() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name: together\nduration: 4s\n{HEAD}faults:\n  - {{ at: 1s, for: 1s, kind: crash, target: replica-1 }}\n  - {{ at: 1s, for: 1s, kind: crash, target: replica-2 }}\n"
    );
    let r = run_yaml(&text, Some(dir.path().to_path_buf())).await;
    assert!(r.valid, "{:?}", r.run_failures);
    let [a, b] = [&r.faults[0], &r.faults[1]];
    let gap = |x: Option<f64>, y: Option<f64>| (x.unwrap() - y.unwrap()).abs();
    // One batch: issued at the same turn of the loop, killed before either is reaped.
    assert!(gap(a.at_seconds, b.at_seconds) < 0.001, "{a:?} {b:?}");
    assert!(gap(a.until_seconds, b.until_seconds) < 0.001, "{a:?} {b:?}");
    for f in [a, b] {
        assert_eq!(f.scheduled_seconds, Some(1.0));
        assert_eq!(f.end_scheduled_seconds, Some(2.0));
        assert!(
            f.at_seconds.unwrap() >= 1.0 && f.effective_seconds.unwrap() >= f.at_seconds.unwrap(),
            "{f:?}"
        );
        let repair = f.repair_achieved_seconds.unwrap();
        assert!(repair > 1.0 && repair < 1.5, "asked 1 s, achieved {repair}: {f:?}");
    }
    // The two nodes went down within a millisecond of each other.
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let downs: Vec<f64> = events
        .lines()
        .filter(|l| l.contains("\"state\":\"down\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["t"].as_f64().unwrap())
        .collect();
    assert_eq!(downs.len(), 2, "{events}");
    assert!((downs[0] - downs[1]).abs() < 0.001, "{downs:?}");
    // Two replicas down at once break TMR: one outage, ended by a restart.
    let i = &r.recovery_seconds.incidents[0];
    assert_eq!(i.cause, "fault");
    let parts: f64 = [i.down, i.restart, i.restore, i.catch_up].iter().map(|p| p.unwrap()).sum();
    assert!((parts - i.seconds).abs() < 1e-6, "{i:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_stops_the_run_before_any_agent_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = parse_str(Path::new("busy.yaml"), &format!("name: busy\nduration: 2s\n{HEAD}")).unwrap();
    let opts = RunOptions { metrics_addr: Some(addr), ..options(Some(dir.path().to_path_buf())) };
    let err = tokio::time::timeout(Duration::from_secs(30), run(&exp, &opts))
        .await
        .expect("the run ends")
        .expect_err("a metrics address in use fails the run");
    assert!(format!("{err:#}").contains(&format!("cannot serve metrics on {addr}")), "{err:#}");
    // No agent was started: none wrote its log.
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(logs.is_empty(), "agents were started: {logs:?}");
}
