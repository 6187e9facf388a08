//! Client histories end to end on the sim backend: primary/backup's
//! key-value clients write history.jsonl, and the checker's verdict lands in
//! report.json. A partition with a timeout detector splits the brain and the
//! history is not linearizable; the same clients without it, or across a
//! clean failover after a crash, see one copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// process = node id + this × the client's timeouts so far.
const GENERATION: u64 = 1 << 16;

mod common;

use common::library;

/// Run `file` on sim into `out`; the exit code and report.json.
fn run(file: &Path, out: &Path, extra: &[&str]) -> (i32, Value) {
    let code = common::run_on(file, "sim", out, extra);
    (code, common::report(out))
}

/// Run the library's `name` on sim into a new folder; the exit code,
/// report.json and the folder.
fn run_library(name: &str, extra: &[&str]) -> (i32, Value, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let (code, r) = run(&library().join(name), tmp.path(), extra);
    (code, r, tmp)
}

fn history(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_partition_with_a_timeout_detector_splits_the_brain_and_the_checker_says_so() {
    let (code, r, tmp) = run_library("primary-backup-split-brain.yaml", &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    let lin = &r["linearizability"];
    assert_eq!(lin["ok"], Value::Bool(false), "{lin}");
    assert_eq!(lin["keys"], 3);
    let events = history(tmp.path());
    let invocations = events.iter().filter(|e| e["type"] == "invoke").count();
    assert_eq!(lin["ops"].as_u64().unwrap() as usize, invocations);
    assert!(invocations > 1_000, "two clients at 100/s for 10 s: {invocations}");
    // Times are run-relative nanoseconds, in order per process.
    assert!(events.iter().all(|e| e["t"].as_u64().unwrap() < 11_000_000_000));
    let anomaly = lin["anomaly"]["ops"].as_array().unwrap();
    assert!((2..=8).contains(&anomaly.len()), "{anomaly:?}");
    let clients: BTreeSet<u64> =
        anomaly.iter().map(|o| o["process"].as_u64().unwrap() % GENERATION).collect();
    assert_eq!(clients.len(), 2, "the anomaly needs both sides' clients: {anomaly:?}");
    // Both sides served during the partition (3 s to 7 s): the anomaly falls in it.
    for o in anomaly {
        let invoked = o["invoke"].as_f64().unwrap() / 1e9;
        assert!((3.0..7.5).contains(&invoked), "{o}");
    }
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"linearizability\"") && html.contains("class=\"op-ok\""));
}

#[test]
fn without_the_partition_the_same_clients_see_one_copy() {
    let (code, r, _) = run_library("primary-backup-split-brain.yaml", &["--no-faults"]);
    assert_eq!(code, 1, "the control must fail the file's expectation");
    assert_eq!(r["linearizability"]["ok"], Value::Bool(true), "{}", r["linearizability"]);
    assert!(r["linearizability"]["anomaly"].is_null());
}

#[test]
fn a_failover_after_the_primary_crashes_stays_linearizable() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(
        tmp.path(),
        "crash.yaml",
        "name: primary-backup-kv-failover\nseed: 5\nduration: 6s\nbackend: sim\n\
         workload: { kind: primary-backup, replicas: 3, clients: 2, keys: 3, rate: 100/s, deadline: 200ms }\n\
         detector: { kind: fixed, interval: 50ms, timeout: 250ms }\n\
         faults:\n  - { at: 2s, kind: crash, target: replica-1 }\n\
         expect:\n  linearizability.ok: \"== 1\"\n",
    );
    let out = tmp.path().join("out");
    let (code, r) = run(&file, &out, &[]);
    assert_eq!(code, 0, "{}", r["linearizability"]);
    // The clients kept going through the failover.
    let late = history(&out)
        .iter()
        .filter(|e| e["type"] == "ok" && e["t"].as_u64().unwrap() > 3_000_000_000)
        .count();
    assert!(late > 100, "{late} operations completed after the failover");
}

#[test]
fn a_request_workload_has_no_history_and_a_null_verdict() {
    let (code, r, tmp) = run_library("primary-backup-failover.yaml", &["--duration", "2s"]);
    assert!(code == 0 || code == 1);
    assert!(r["linearizability"].is_null());
    assert!(!tmp.path().join("history.jsonl").exists());
}

/// Multi-Paxos under the partition that splits primary/backup's brain: the
/// minority side's client completes nothing while it lasts, the majority
/// elects a leader and serves, and the history is linearizable.
#[test]
fn multi_paxos_under_the_same_partition_stays_linearizable_and_only_the_majority_serves() {
    let (code, r, tmp) = run_library("paxos-kv-linearizable-under-partition.yaml", &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    assert_eq!(r["linearizability"]["ok"], Value::Bool(true), "{}", r["linearizability"]);
    let mp = &r["multi_paxos"];
    assert_eq!(mp["log_divergences"], 0, "{mp}");
    assert!(mp["slots"].as_u64().unwrap() > 500, "{mp}");
    assert_eq!(mp["leader"], "replica-1", "the lowest replica leads again after the heal: {mp}");
    // Operations completed ok by each client during the partition (3 s to 7 s, after detection).
    let events = history(tmp.path());
    let served = |client: u64| {
        events
            .iter()
            .filter(|e| {
                let t = e["t"].as_f64().unwrap() / 1e9;
                e["type"] == "ok"
                    && e["process"].as_u64().unwrap() % GENERATION == client
                    && (3.3..7.0).contains(&t)
            })
            .count()
    };
    // Nodes: replica-1..3 are 0..2, client-1 is 3, client-2 is 4.
    assert_eq!(served(3), 0, "the minority side's client");
    assert!(served(4) > 100, "the majority side's client: {}", served(4));
    // Its operations count as requests: the minority's timeouts are failures.
    assert!(r["requests"]["failed"].as_u64().unwrap() >= 5, "{}", r["requests"]);
    assert!(r["requests"]["ok"].as_u64().unwrap() > 500, "{}", r["requests"]);
}

/// A leader crash: the outage is split into detection, election and
/// catch-up, detection near the detector's timeout, and the restarted
/// replica catches up on the log it lost.
#[test]
fn a_multi_paxos_leader_crash_is_broken_down_and_the_restarted_replica_catches_up() {
    let (code, r, _) = run_library("paxos-kv-leader-crash.yaml", &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    let incidents = r["recovery_seconds"]["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    let detection = i["detection"].as_f64().unwrap();
    // The fixed detector's timeout is 150 ms, its check every 5 ms, heartbeats every 20 ms.
    assert!((0.150..0.180).contains(&detection), "{i}");
    assert!(i["failover"].as_f64().unwrap() < 0.01, "an election is a round trip: {i}");
    assert!(i["catch_up"].as_f64().is_some(), "{i}");
    let seconds = i["seconds"].as_f64().unwrap();
    assert!(
        seconds >= detection - 0.05 && seconds < detection + 0.06,
        "the outage is about the detection: {i}"
    );
    let mp = &r["multi_paxos"];
    assert_eq!(mp["catch_ups"], 1, "{mp}");
    assert!(mp["catch_up_seconds"]["max"].as_f64().unwrap() < 0.5, "{mp}");
}

/// The balance a TMR request should report: its account's, after every
/// request up to it (the ledger the replicas and the client's oracle run).
fn right_balance(seq: u64) -> i64 {
    let mut ledger = workloads::tmr::Ledger::new();
    (1..=seq).map(|s| ledger.apply(s, workloads::tmr::Op::for_seq(s))).last().unwrap_or(0)
}

#[test]
fn tmr_clients_record_adds_whose_history_colluding_liars_break() {
    let (code, r, tmp) = run_library("tmr-byzantine-outvoted.yaml", &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    let lin = &r["linearizability"];
    assert_eq!(lin["ok"], Value::Bool(false), "{lin}");
    let events = history(tmp.path());
    let invocations: Vec<&Value> = events.iter().filter(|e| e["type"] == "invoke").collect();
    assert_eq!(lin["ops"].as_u64().unwrap() as usize, invocations.len());
    // Open loop: one process per request, numbered by its sequence number.
    let processes: BTreeSet<u64> = invocations.iter().map(|e| e["process"].as_u64().unwrap()).collect();
    assert_eq!(processes.len(), invocations.len());
    assert!(events.iter().all(|e| e["f"] == "add"));
    let anomaly = lin["anomaly"]["ops"].as_array().unwrap();
    let (lie, before) = anomaly.split_last().unwrap();
    // The lie came while two replicas colluded (21 s to 26 s): an ok add
    // with a balance other than the ledger's.
    let invoked = lie["invoke"].as_f64().unwrap() / 1e9;
    assert!((21.0..26.1).contains(&invoked), "{lie}");
    let seq = lie["process"].as_u64().unwrap();
    assert_eq!(lie["type"], "ok");
    assert_ne!(lie["value"][1].as_i64().unwrap(), right_balance(seq), "{lie}");
    // Before it, every earlier request on its account: the right balance or unknown.
    let key = lin["anomaly"]["key"].as_u64().unwrap();
    let account = |s: u64| u64::from(workloads::tmr::Op::for_seq(s).account);
    let earlier: Vec<u64> = (1..seq).filter(|s| account(*s) == key).collect();
    assert_eq!(before.iter().map(|o| o["process"].as_u64().unwrap()).collect::<Vec<_>>(), earlier);
    for o in before {
        let balance = o["value"][1].as_i64();
        assert!(balance.is_none() || balance == Some(right_balance(o["process"].as_u64().unwrap())), "{o}");
    }
    assert!(before.iter().any(|o| o["type"] == "info"), "unknown adds from the outage at 13 s: {anomaly:?}");
}

#[test]
fn tmr_masking_a_crash_keeps_the_history_linearizable() {
    let (code, r, _) = run_library("tmr-masks-one-crash.yaml", &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    assert_eq!(r["linearizability"]["ok"], Value::Bool(true), "{}", r["linearizability"]);
    assert!(r["linearizability"]["ops"].as_u64().unwrap() > 59_000);
}

#[test]
fn report_checks_an_edited_history_again() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(
        tmp.path(),
        "tmr.yaml",
        "name: tmr-short\nseed: 3\nduration: 2s\nbackend: sim\n\
         workload: { kind: tmr, replicas: 3, voters: 1, rate: 1000/s, deadline: 50ms }\n\
         expect:\n  linearizability.ok: \"== 1\"\n  requests.wrong: \"== 0\"\n",
    );
    let out = tmp.path().join("out");
    let (code, r) = run(&file, &out, &[]);
    assert_eq!(code, 0, "{}", r["expect"]);
    assert_eq!(r["linearizability"]["ok"], Value::Bool(true));
    // Re-rendering an untouched run changes no verdict.
    let report = || common::faultlab().arg("report").arg(&out).output().expect("faultlab runs");
    let again = report();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(common::report(&out)["linearizability"], r["linearizability"]);
    // Edit the 500th completion: the balance it reported, off by one.
    let hpath = out.join("history.jsonl");
    let mut events = history(&out);
    let edited = events.iter().enumerate().filter(|(_, e)| e["type"] == "ok").nth(500).unwrap().0;
    let reported = events[edited]["value"][1].as_i64().unwrap();
    events[edited]["value"][1] = Value::from(reported + 1);
    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&hpath, lines).unwrap();
    let output = report();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("history.jsonl checked again: NOT linearizable"), "{stderr}");
    let r = common::report(&out);
    let lin = &r["linearizability"];
    assert_eq!(lin["ok"], Value::Bool(false), "{lin}");
    let anomaly = lin["anomaly"]["ops"].as_array().unwrap();
    let process = events[edited]["process"].as_u64().unwrap();
    let last = anomaly.last().unwrap();
    assert_eq!((last["process"].as_u64(), last["value"][1].as_i64()), (Some(process), Some(reported + 1)));
    assert_eq!(lin["anomaly"]["key"], events[edited]["key"]);
    // The expectation on the verdict is judged again; the others stay.
    let expect = r["expect"].as_array().unwrap();
    let on = |m: &str| expect.iter().find(|e| e["metric"] == m).unwrap();
    assert_eq!(
        (on("linearizability.ok")["value"].as_f64(), &on("linearizability.ok")["passed"]),
        (Some(0.0), &Value::Bool(false))
    );
    assert_eq!(on("requests.wrong")["passed"], Value::Bool(true));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("not linearizable") && html.contains(&format!("→ {}", reported + 1)),
        "the anomaly is drawn"
    );
    // A history that is not one is an error, not a verdict.
    std::fs::write(&hpath, "{\"process\":1}\n{}\n").unwrap();
    let output = report();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
