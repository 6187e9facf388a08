//! The faultlab binary as a user runs it: bad input is refused before
//! anything starts, and an interrupted run leaves no process behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::write;

const EXE: &str = env!("CARGO_BIN_EXE_faultlab");

#[test]
fn bad_yaml_is_refused_with_its_location_before_anything_is_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown-key.yaml", "name: t\nduration: 5s\nworkload: { kind: tmr, replicaz: 3 }\n", ":3:"),
        ("bad-target.yaml", "name: t\nduration: 5s\nworkload: { kind: tmr }\nfaults:\n  - { at: 1s, kind: crash, target: replica-9 }\n", ":5:"),
        ("bad-duration.yaml", "name: t\nduration: soon\nworkload: { kind: tmr }\n", ":2:"),
        ("wrong-type.yaml", "name: t\nduration: 5s\nworkload: { kind: tmr, replicas: three }\n", ":3:"),
    ];
    for (name, text, line) in cases {
        let file = write(dir.path(), name, text);
        let out = dir.path().join(format!("out-{name}"));
        let res = Command::new(EXE)
            .args(["run", file.to_str().unwrap(), "--backend", "process", "--out", out.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{name}{line}")), "{name}: the error names file and line: {err}");
        assert!(!out.exists(), "{name}: nothing was started");
    }
}

#[test]
fn every_library_experiment_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    assert!(files.len() >= 3);
    let res = Command::new(EXE).arg("validate").args(&files).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

#[test]
fn a_control_run_drops_the_faults_and_fails_what_they_caused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "crash.yaml",
        "name: crash\nduration: 3s\nworkload: { kind: tmr, rate: 200/s }\nfaults:\n  - { at: 1s, for: 1s, kind: crash, target: replica-2 }\nexpect:\n  nodes.replica-2.crashes: \"== 1\"\n",
    );
    let run = |control: bool| {
        let out = dir.path().join(if control { "control" } else { "faults" });
        let mut args =
            vec!["run", file.to_str().unwrap(), "--backend", "process", "--out", out.to_str().unwrap()];
        if control {
            args.push("--no-faults");
        }
        let res = Command::new(EXE).args(&args).stdin(Stdio::null()).output().unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        (res, report)
    };
    let (res, report) = run(false);
    assert_eq!(res.status.code(), Some(0), "{}", String::from_utf8_lossy(&res.stdout));
    assert!(report.get("control").is_none());
    let (res, report) = run(true);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "without its crash the expectation fails: {stdout}");
    assert!(stdout.contains("control run: faults removed"), "{stdout}");
    assert_eq!(report["control"], "control run: faults removed");
    assert_eq!(report["faults"].as_array().map(Vec::len), Some(0));
}

/// Pids of the processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The fields after the command name (which may hold spaces) start after ") ".
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
        .unwrap_or(false)
}

/// Start a 60 s TMR run named `name` on the process backend, replica-1
/// crashed for a second at 1 s (output piped or thrown away); the child and
/// its out folder.
fn start_long_run(dir: &Path, name: &str, piped: bool) -> (std::process::Child, std::path::PathBuf) {
    let file = write(
        dir,
        &format!("{name}.yaml"),
        &format!("name: {name}\nduration: 60s\nworkload: {{ kind: tmr, rate: 500/s }}\nfaults:\n  - {{ at: 1s, for: 1s, kind: crash, target: replica-1 }}\n"),
    );
    let out = dir.join("out");
    (common::spawn_run(&file, "process", &out, piped), out)
}

fn interrupted_run_leaves_nothing(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = start_long_run(dir.path(), "long", true);
    // Wait until the agents are up and the crash has been restarted.
    common::wait_for_event(&out, "\"state\":\"up\"");
    let agents = children(child.id());
    assert_eq!(agents.len(), 5, "one agent per node");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let status =
        common::wait_exit(&mut child, Duration::from_secs(15), &format!("faultlab did not stop on {signal}"));
    assert_eq!(status.code(), Some(3), "an interrupted run is not a pass: it is invalid");
    for a in agents {
        assert!(!alive(a), "agent {a} outlived its run");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    assert!(report["requests"]["total"].as_u64().unwrap() > 0);
    // events.jsonl is complete: it ends with run_ended at the report's end.
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "run_ended", "{last}");
    assert_eq!(last["t"], report["duration_seconds"]);
    assert!(out.join("report.html").exists());
}

#[test]
fn sigterm_stops_the_run_and_removes_every_agent() {
    interrupted_run_leaves_nothing(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn ctrl_c_stops_the_run_and_removes_every_agent() {
    interrupted_run_leaves_nothing(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn a_closed_terminal_stops_the_run_like_sigterm() {
    interrupted_run_leaves_nothing(nix::sys::signal::Signal::SIGHUP);
}

#[test]
fn after_a_sigkill_of_the_orchestrator_the_report_is_rebuilt_from_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = start_long_run(dir.path(), "killed", false);
    let events = out.join("events.jsonl");
    let started = Instant::now();
    let mut run_start = None;
    loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if run_start.is_none() && text.contains("\"run_started\"") {
            run_start = Some(Instant::now());
        }
        if text.contains("\"fault_ended\"") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the run never started: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let agents = children(child.id());
    assert_eq!(agents.len(), 5, "one agent per node");
    // The run's clock when it is killed, at least (run_started was seen after it was written).
    let ran = run_start.unwrap().elapsed().as_secs_f64();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    child.wait().unwrap();
    // Agents notice their orchestrator is gone, by the lost control link or at the latest by their watchdog (10 s).
    let deadline = Instant::now() + Duration::from_secs(12);
    while agents.iter().any(|&a| alive(a)) {
        assert!(Instant::now() < deadline, "agents outlived their watchdog");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!out.join("report.json").exists(), "a killed run writes no report");
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(!text.contains("\"run_ended\""));
    let last_window = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "window")
        .filter_map(|e| e["t"].as_f64())
        .fold(0.0, f64::max);
    // Windows are written about 100 ms after their end (deadline 50 ms + 50 ms), not 2 s:
    // allow for the polling above and a busy machine.
    assert!(
        last_window + 0.1 >= ran - 0.6,
        "last window ends at {:.2} s, killed at {ran:.2} s",
        last_window + 0.1
    );

    let res =
        Command::new(EXE).args(["report", out.to_str().unwrap()]).stdin(Stdio::null()).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["rebuilt"]["complete"], false);
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["experiment"], "killed");
    let total = report["requests"]["total"].as_u64().unwrap();
    let duration = report["duration_seconds"].as_f64().unwrap();
    assert!(
        duration > 2.5 && duration <= ran + 0.5,
        "rebuilt up to the last event: {duration} (killed at {ran})"
    );
    // 500 requests a second until the last window.
    assert!((total as f64) > 400.0 * duration, "{total} requests in {duration} s");
    assert!(report["availability"].as_f64().unwrap() > 0.9);
    assert_eq!(report["faults"][0]["kind"], "crash");
    assert!(report["faults"][0]["until_seconds"].as_f64().is_some());
    assert!(out.join("report.html").exists());
}
