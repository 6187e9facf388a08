//! A run that did not really run never reads as a pass: an agent that dies
//! outside a fault makes it invalid (exit 3), and a stall of the
//! orchestrator's host is flagged, not blamed on a fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

mod common;

fn start(dir: &Path, yaml: &str) -> (Child, PathBuf) {
    let file = common::write(dir, "exp.yaml", yaml);
    let out = dir.join("out");
    (common::spawn_run(&file, "process", &out, true), out)
}

/// The agents of a run, by node name (from the log file each writes to).
fn agents(out: &Path) -> Vec<(String, i32)> {
    let logs = std::fs::canonicalize(out.join("logs")).unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(target) = std::fs::read_link(format!("/proc/{pid}/fd/2")) else { continue };
        if target.parent() == Some(logs.as_path()) {
            let name = target.file_stem().unwrap().to_string_lossy().to_string();
            found.push((name, pid));
        }
    }
    found.sort();
    found
}

fn finish(mut child: Child, out: &Path) -> (Option<i32>, serde_json::Value, String) {
    let status = common::wait_exit(&mut child, Duration::from_secs(60), "faultlab did not finish");
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (status.code(), report, stdout)
}

const TMR: &str = "name: liveness\nduration: 6s\nworkload: { kind: tmr, rate: 500/s }\nexpect:\n  availability: \">= 0.9\"\n";

#[test]
fn a_client_agent_killed_mid_run_makes_the_run_invalid_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (child, out) = start(dir.path(), TMR);
    common::wait_for_event(&out, "\"run_started\"");
    std::thread::sleep(Duration::from_millis(1500));
    let client = agents(&out).into_iter().find(|(n, _)| n == "client-1").expect("the client's agent");
    kill(Pid::from_raw(client.1), Signal::SIGKILL).unwrap();
    let (code, report, stdout) = finish(child, &out);
    assert_eq!(code, Some(3), "exit code of an invalid run: {stdout}");
    assert_eq!(report["valid"], false);
    let reason = report["run_failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("client-1 died"), "{reason}");
    assert!(stdout.contains("INVALID"), "{stdout}");
}

#[test]
fn every_agent_killed_while_the_orchestrator_is_stopped_makes_the_run_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (child, out) = start(dir.path(), TMR);
    common::wait_for_event(&out, "\"run_started\"");
    std::thread::sleep(Duration::from_millis(1000));
    let me = Pid::from_raw(child.id() as i32);
    let all = agents(&out);
    assert_eq!(all.len(), 5, "{all:?}");
    kill(me, Signal::SIGSTOP).unwrap();
    for (_, pid) in &all {
        kill(Pid::from_raw(*pid), Signal::SIGKILL).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    kill(me, Signal::SIGCONT).unwrap();
    let (code, report, _) = finish(child, &out);
    assert_eq!(code, Some(3));
    assert_eq!(report["valid"], false);
    let failures = report["run_failures"].as_array().unwrap();
    let dead = failures.iter().filter(|f| f["reason"].as_str().is_some_and(|r| r.contains("died"))).count();
    assert_eq!(dead, 5, "every node is reported: {failures:?}");
    assert!(report["host_stalls"].as_array().is_some_and(|s| !s.is_empty()), "the stop is a stall");
}

#[test]
fn a_stall_of_the_orchestrator_is_flagged_and_the_run_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    // No expectation: what is checked is that the run is valid and the stall seen.
    let (child, out) = start(dir.path(), "name: stall\nduration: 6s\nworkload: { kind: tmr, rate: 500/s }\n");
    common::wait_for_event(&out, "\"run_started\"");
    std::thread::sleep(Duration::from_millis(2000));
    let me = Pid::from_raw(child.id() as i32);
    kill(me, Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kill(me, Signal::SIGCONT).unwrap();
    let (code, report, stdout) = finish(child, &out);
    assert_eq!(report["valid"], true, "{stdout}");
    assert_eq!(code, Some(0), "{stdout}");
    let stalls = report["host_stalls"].as_array().unwrap();
    let stopped = stalls
        .iter()
        .find(|s| s["source"] == "orchestrator" && s["seconds"].as_f64().unwrap() >= 0.15)
        .unwrap_or_else(|| panic!("the 200 ms stop is flagged: {stalls:?}"));
    // The stall is not blamed on a fault: no fault ran at all.
    let start = stopped["start"].as_f64().unwrap();
    assert!((1.0..6.0).contains(&start), "{stopped}");
    for i in report["recovery_seconds"]["incidents"].as_array().unwrap() {
        assert_ne!(i["cause"], "fault", "{i}");
    }
}
