//! External nodes on the process backend: the project's Python fixtures
//! speak Maelstrom's protocol under faultlab's faults, and faultlab's clients
//! and checkers judge them; the deliberately wrong fixtures are caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One run at a time: each hosts several Python programs, and on two cores
/// runs side by side would measure the host, not the nodes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/maelstrom").join(name).canonicalize().unwrap()
}

/// Write an experiment running `program` (a fixture) with `workload:` keys
/// `keys` and `rest` (faults, expect) into a new folder, run it on
/// processes, and return the exit code, report.json and the folder.
fn run(program: &str, keys: &str, rest: &str) -> (i32, Value, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = format!(
        "name: external-test\nseed: 1\nduration: 5s\nbackend: process\n\
         workload: {{ kind: external, protocol: maelstrom, command: [python3, {}], {keys} }}\n{rest}",
        fixture(program).display()
    );
    let file = common::write(dir, "x.yaml", &text);
    let out = dir.join("out");
    let code = {
        let _one = serial();
        common::run_on(&file, "process", &out, &[])
    };
    (code, common::report(&out), tmp)
}

#[test]
fn echo_nodes_are_served_through_a_crash_with_restart_and_omission() {
    let faults = "faults:\n  - { at: 1.5s, for: 1s, kind: crash, target: node-1 }\n  \
                  - { at: 3.5s, for: 1s, kind: omission, target: node-2, probability: 0.3 }\n";
    let (code, r, tmp) = run("echo.py", "nodes: 2, workload: echo, rate: 100/s, deadline: 200ms", faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    let req = &r["requests"];
    assert_eq!(req["wrong"], 0, "{req}");
    let (ok, failed) = (req["ok"].as_u64().unwrap(), req["failed"].as_u64().unwrap());
    // Half the requests go to node-1: about 50 fail while it is down, more under omission.
    assert!(failed >= 40, "{req}");
    assert!(ok >= 300, "{req}");
    let events = std::fs::read_to_string(tmp.path().join("out/events.jsonl")).unwrap();
    // The restarted node serves again: requests to it succeed after 2.6 s.
    assert!(r["recovery_seconds"]["count"].as_u64().unwrap() >= 1, "{}", r["recovery_seconds"]);
    assert!(events.contains("\"crash\"") || events.contains("crash"), "the crash is in the events");
    assert_eq!(r["external"]["invalid_lines"], 0, "{}", r["external"]);
}

#[test]
fn unique_ids_hold_and_the_wrong_node_is_caught_handing_out_duplicates() {
    let keys = "nodes: 3, workload: unique-ids, rate: 100/s";
    let faults = "faults:\n  - { at: 1s, for: 1s, kind: crash, target: node-2 }\n  \
                  - { at: 2.5s, for: 1s, kind: partition, groups: [[node-3], [node-1, node-2, client-1]] }\n";
    let (code, r, _) = run("unique_ids.py", keys, faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    assert_eq!(r["external"]["duplicate_ids"], 0, "{}", r["external"]);
    assert_eq!(r["requests"]["wrong"], 0);
    assert!(r["requests"]["ok"].as_u64().unwrap() > 250, "{}", r["requests"]);
    assert!(
        r["requests"]["failed"].as_u64().unwrap() > 30,
        "the crashed and the cut-off node: {}",
        r["requests"]
    );
    let (_, r, _) = run("unique_ids_wrong.py", keys, "");
    let dups = r["external"]["duplicate_ids"].as_u64().unwrap();
    assert!(dups > 100, "three counters from 1 repeat each other: {}", r["external"]);
    // Each is a wrong reply (those that came within the run count as requests).
    let wrong = r["requests"]["wrong"].as_u64().unwrap();
    assert!(wrong > 100 && wrong <= dups, "{} {}", r["requests"], r["external"]);
}

#[test]
fn lin_kv_stays_linearizable_under_a_partition_and_the_wrong_node_is_caught() {
    let keys = "nodes: 3, workload: lin-kv, clients: 3, keys: 2, rate: 50/s, deadline: 200ms";
    let faults = "faults:\n  - { at: 2s, for: 1.5s, kind: partition, groups: [[node-1, client-1], [node-2, node-3, client-2, client-3]] }\n";
    let (code, r, _) = run("lin_kv.py", keys, faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    let lin = &r["linearizability"];
    assert_eq!(lin["ok"], Value::Bool(true), "{lin}");
    assert!(lin["ops"].as_u64().unwrap() > 300, "{lin}");
    // The other side cannot reach n1, which holds the registers: its operations time out.
    assert!(r["requests"]["failed"].as_u64().unwrap() >= 5, "{}", r["requests"]);
    let (_, r, _) = run("lin_kv_wrong.py", keys, "");
    let lin = &r["linearizability"];
    assert_eq!(lin["ok"], Value::Bool(false), "every node its own copy: {lin}");
    assert!(lin["anomaly"]["ops"].as_array().unwrap().len() >= 2, "{lin}");
}

#[test]
fn a_program_that_writes_garbage_is_reported_and_the_agent_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    // echo.py behind a shell that first writes a line that is not a message
    // and one to a node that does not exist.
    let script = tmp.path().join("noisy.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'hello, not json'\necho '{{\"src\":\"n1\",\"dest\":\"n9\",\"body\":{{\"type\":\"x\"}}}}'\nexec python3 {}\n",
            fixture("echo.py").display()
        ),
    )
    .unwrap();
    let file = common::write(
        tmp.path(),
        "x.yaml",
        &format!(
            "name: noisy\nseed: 1\nduration: 3s\nbackend: process\n\
             workload: {{ kind: external, command: [sh, {}], nodes: 1, workload: echo, rate: 50/s }}\n",
            script.display()
        ),
    );
    let out = tmp.path().join("out");
    let code = {
        let _one = serial();
        common::run_on(&file, "process", &out, &[])
    };
    let r = common::report(&out);
    assert_eq!(code, 0, "{r}");
    let ext = &r["external"];
    assert_eq!((ext["invalid_lines"].as_u64(), ext["unknown_nodes"].as_u64()), (Some(1), Some(1)), "{ext}");
    assert_eq!(ext["first_offence"], "hello, not json");
    let log = std::fs::read_to_string(out.join("logs/node-1.log")).unwrap();
    assert!(log.contains("not a Maelstrom message, dropped: hello, not json"), "{log}");
    assert!(r["requests"]["ok"].as_u64().unwrap() > 100, "the node served all the same: {}", r["requests"]);
}

#[test]
fn the_sim_backend_refuses_programs_it_cannot_host() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(tmp.path(), "x.yaml", "name: s\nseed: 1\nduration: 2s\nbackend: sim\nworkload: { kind: external, command: [python3, echo.py], workload: echo }\n");
    let (code, err) = common::validate(&file);
    assert_eq!(code, Some(1));
    assert!(err.contains("x.yaml:4:") && err.contains("sim backend cannot host"), "{err}");
    // The same file asked for sim on the command line.
    std::fs::write(
        &file,
        "name: s\nseed: 1\nduration: 2s\nworkload: { kind: external, command: [python3, echo.py], workload: echo }\n",
    )
    .unwrap();
    let code = common::run_on(&file, "sim", &tmp.path().join("out"), &[]);
    assert_eq!(code, 2);
}

#[test]
fn broadcast_values_reach_every_node_through_a_partition_and_the_wrong_node_loses_them() {
    let keys = "nodes: 3, workload: broadcast, rate: 50/s, deadline: 300ms";
    let faults =
        "faults:\n  - { at: 1s, for: 2s, kind: partition, groups: [[node-1], [node-2, node-3, client-1]] }\n";
    let (code, r, _) = run("broadcast.py", keys, faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    let c = &r["external"]["convergence"];
    assert!(c["acked"].as_u64().unwrap() > 150, "{c}");
    assert_eq!(c["lost"], 0, "anti-entropy carries every value across the healed partition: {c}");
    // Values sent during the partition wait for it to heal: the slowest took over a second.
    assert!(c["stable_latency_max"].as_f64().unwrap() > 1.0, "{c}");
    assert!(c["stable_latency_p50"].as_f64().unwrap() < 1.0, "{c}");
    let (_, r, _) = run("broadcast_wrong.py", keys, "");
    let c = &r["external"]["convergence"];
    assert!(c["lost"].as_u64().unwrap() > 100, "a node that never passes values on loses them: {c}");
    assert_eq!(c["stable"], 0, "{c}");
}

#[test]
fn g_set_elements_are_read_everywhere_through_omission() {
    let keys = "nodes: 3, workload: g-set, rate: 50/s, deadline: 300ms";
    let faults = "faults:\n  - { at: 1s, for: 2s, kind: omission, target: node-2, probability: 0.5 }\n";
    let (code, r, _) = run("g_set.py", keys, faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    let c = &r["external"]["convergence"];
    assert!(c["acked"].as_u64().unwrap() > 150, "{c}");
    assert_eq!(c["lost"], 0, "merging every 100 ms outlasts the loss: {c}");
    assert!(
        r["requests"]["failed"].as_u64().unwrap() > 10,
        "adds through the lossy link fail: {}",
        r["requests"]
    );
}

#[test]
fn g_counter_reads_reach_the_acknowledged_sum_and_the_wrong_counter_overcounts() {
    let keys = "nodes: 3, workload: g-counter, rate: 50/s, deadline: 300ms";
    let faults =
        "faults:\n  - { at: 1s, for: 2s, kind: partition, groups: [[node-1], [node-2, node-3, client-1]] }\n";
    let (code, r, _) = run("g_counter.py", keys, faults);
    assert_eq!(code, 0, "{}", r["expect"]);
    let c = &r["external"]["counter"];
    assert!(c["acked_sum"].as_u64().unwrap() > 300, "{c}");
    assert_eq!((c["too_low"].as_u64(), c["too_high"].as_u64()), (Some(0), Some(0)), "{c}");
    assert_eq!(c["final_reads"].as_array().unwrap().len(), 3, "{c}");
    let (_, r, _) = run("g_counter_wrong.py", keys, "");
    let c = &r["external"]["counter"];
    assert!(c["too_high"].as_u64().unwrap() > 10, "adding the others' totals counts adds again: {c}");
}

/// Whether a Docker engine answers; without one the test passes, unless
/// FAULTLAB_REQUIRE_DOCKER=1 (CI), where it fails.
fn docker_or_skip() -> bool {
    let up = std::process::Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    common::docker::goes_on("external on docker", (!up).then(|| "no Docker engine answers".to_string()))
}

#[test]
fn echo_nodes_run_in_containers_and_are_served_through_a_crash() {
    if !docker_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(tmp.path(), "x.yaml", &format!(
            "name: external-docker\nseed: 1\nduration: 5s\nbackend: docker\n\
             workload: {{ kind: external, command: [python3, {}], nodes: 2, workload: echo, rate: 100/s, deadline: 200ms }}\n\
             faults:\n  - {{ at: 1.5s, for: 1.5s, kind: crash, target: node-1 }}\n",
            fixture("echo.py").display()
        ));
    let out = tmp.path().join("out");
    let code = {
        let _one = serial();
        common::run_on(&file, "docker", &out, &[])
    };
    let r = common::report(&out);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["backend"], "docker", "{}", r["backend"]);
    let req = &r["requests"];
    assert_eq!(req["wrong"], 0, "{req}");
    assert!(req["failed"].as_u64().unwrap() >= 40, "half the requests go to the crashed node: {req}");
    assert!(req["ok"].as_u64().unwrap() >= 300, "{req}");
    assert_eq!(r["external"]["exits"], 0, "{}", r["external"]);
}
