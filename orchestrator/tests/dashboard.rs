//! The dashboard driven as a teacher drives it, over a pseudo-terminal:
//! pausing the schedule keeps one clock, the report is written when the run
//! ends (before `q`), and quitting early is never a pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

const EXE: &str = env!("CARGO_BIN_EXE_faultlab");

/// `faultlab run --tui` on a 100×30 pseudo-terminal: the child, the
/// terminal's writing end (keys), and everything it drew.
struct Dashboard {
    child: Child,
    keys: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
    out: PathBuf,
}

impl Dashboard {
    fn start(dir: &Path, yaml: &str) -> Dashboard {
        Dashboard::start_on(dir, yaml, &["--backend", "process"])
    }

    fn start_on(dir: &Path, yaml: &str, backend: &[&str]) -> Dashboard {
        let file = dir.join("exp.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = dir.join("out");
        let size = nix::pty::Winsize { ws_row: 30, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = nix::pty::openpty(Some(&size), None).unwrap();
        let slave: OwnedFd = pty.slave;
        let child = Command::new(EXE)
            .args(["run", file.to_str().unwrap()])
            .args(backend)
            .args(["--tui", "--out"])
            .arg(&out)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let master = std::fs::File::from(pty.master);
        let keys = master.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        // Drain the terminal so the dashboard never blocks on a full buffer.
        std::thread::spawn(move || {
            let mut master = master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Dashboard { child, keys, screen, out }
    }

    fn press(&mut self, key: char) {
        write!(self.keys, "{key}").unwrap();
        self.keys.flush().unwrap();
    }

    fn drew(&self, text: &str) -> bool {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).contains(text)
    }

    /// Wait until the dashboard has drawn `text`.
    fn wait_drawn(&self, text: &str) {
        let started = Instant::now();
        while !self.drew(text) {
            assert!(started.elapsed() < Duration::from_secs(30), "the dashboard never drew {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn report(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.out.join("report.json")).unwrap()).unwrap()
    }

    /// Quit with `q` and wait for the exit code.
    fn quit(mut self) -> (Option<i32>, serde_json::Value) {
        self.press('q');
        let status =
            common::wait_exit(&mut self.child, Duration::from_secs(20), "faultlab did not quit on q");
        let report = self.report();
        (status.code(), report)
    }
}

/// The `t` of each event in the run's events.jsonl.
fn event_times(out: &Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| (e["type"].as_str().unwrap_or_default().to_string(), e["t"].as_f64().unwrap_or(0.0)))
        .collect()
}

/// Wait until report.json exists (the run is over) while the dashboard stays.
fn wait_report(out: &Path) {
    let started = Instant::now();
    while !out.join("report.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(40), "report.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const PAUSED: &str = "name: pause\nduration: 4s\nworkload: { kind: tmr, rate: 400/s }\nfaults:\n  - { at: 3s, for: 500ms, kind: crash, target: replica-1 }\nexpect:\n  requests.wrong: \"== 0\"\n";

#[test]
fn pausing_the_schedule_keeps_one_clock_and_the_report_is_written_before_q() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Dashboard::start(dir.path(), PAUSED);
    common::wait_for_event(&d.out, "\"run_started\"");
    std::thread::sleep(Duration::from_millis(1000));
    d.press(' ');
    common::wait_for_event(&d.out, "schedule paused");
    let paused_at = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    d.press(' ');
    common::wait_for_event(&d.out, "schedule resumed");
    let held = paused_at.elapsed().as_secs_f64();
    // The run ends on its own; the report is written while the dashboard stays up.
    wait_report(&d.out);
    assert!(d.child.try_wait().unwrap().is_none(), "the dashboard stays until q");
    let written = d.report();
    let (code, report) = d.quit();
    assert_eq!(written, report, "q changes nothing in the report");
    assert_eq!(code, Some(0), "a run paused and resumed, then finished, is judged: {report:#}");
    let paused = report["paused_seconds"].as_f64().unwrap();
    assert!((paused - held).abs() < 0.3, "paused {paused} s, held about {held} s");
    let duration = report["duration_seconds"].as_f64().unwrap();
    assert_eq!(report["planned_seconds"].as_f64(), Some(4.0));
    assert!((duration - (4.0 + paused)).abs() < 0.05, "duration {duration} = 4 s + {paused} s paused");
    // The crash due at 3 s of schedule ran at 3 s + the pause on the report's (wall-clock) axis.
    let crash = &report["faults"][0];
    let at = crash["at_seconds"].as_f64().unwrap();
    assert!((at - (3.0 + paused)).abs() < 0.1, "crash at {at} s: {crash}");
    assert!((crash["scheduled_seconds"].as_f64().unwrap() - (3.0 + paused)).abs() < 0.05, "{crash}");
    let until = crash["until_seconds"].as_f64().unwrap();
    assert!(until <= duration && (until - at - 0.5).abs() < 0.1, "{crash}");
    // run_ended is the report's end, and no request event lies past it.
    let times = event_times(&report_dir(&dir));
    let ended = times.iter().find(|(k, _)| k == "run_ended").unwrap().1;
    assert!((ended - duration).abs() < 1e-6, "run_ended at {ended}, duration {duration}");
    let last_window = times.iter().filter(|(k, _)| k == "window").map(|(_, t)| *t).fold(0.0, f64::max);
    assert!(last_window <= duration, "a window at {last_window} s after the end {duration} s");
    // Throughput is over the whole wall-clock time: near the client's rate, not inflated.
    let tput = report["throughput_per_second"].as_f64().unwrap();
    assert!(tput > 300.0 && tput < 420.0, "throughput {tput}/s at a rate of 400/s");
    let html = std::fs::read_to_string(report_dir(&dir).join("report.html")).unwrap();
    assert!(html.contains("all hold"), "a finished run is judged");
}

fn report_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("out")
}

#[test]
fn quitting_the_dashboard_early_is_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "name: early\nduration: 30s\nworkload: { kind: tmr, rate: 300/s }\nexpect:\n  requests.wrong: \"== 0\"\n";
    let d = Dashboard::start(dir.path(), yaml);
    common::wait_for_event(&d.out, "\"run_started\"");
    d.wait_drawn("replica-1");
    std::thread::sleep(Duration::from_millis(1500));
    let (code, report) = d.quit();
    assert_eq!(code, Some(3), "an interrupted run exits 3");
    assert_eq!(report["interrupted"], true);
    let why = report["not_judged"].as_str().unwrap();
    assert!(why.contains("interrupted at") && why.contains("of 30.0 s"), "{why}");
    let e = &report["expect"][0];
    assert_eq!((e["judged"].as_bool(), e["passed"].as_bool()), (Some(false), Some(false)), "{e}");
    // The value is still shown: requests.wrong really was 0.
    assert_eq!(e["value"].as_f64(), Some(0.0));
    let html = std::fs::read_to_string(report_dir(&dir).join("report.html")).unwrap();
    assert!(html.contains("not judged"), "the HTML says so");
    assert!(!html.contains("all hold"), "and never that the expectations hold");
}

#[test]
fn a_crash_by_hand_ended_by_a_restart_has_an_end() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "name: by-hand\nduration: 30s\nworkload: { kind: tmr, rate: 200/s }\n";
    let mut d = Dashboard::start(dir.path(), yaml);
    common::wait_for_event(&d.out, "\"run_started\"");
    d.wait_drawn("replica-1");
    // The first node is selected: crash it for good, then restart it.
    d.press('c');
    common::wait_for_event(&d.out, "\"state\":\"down\"");
    d.press('r');
    common::wait_for_event(&d.out, "\"state\":\"up\"");
    std::thread::sleep(Duration::from_millis(300));
    let (_, report) = d.quit();
    let faults = report["faults"].as_array().unwrap();
    let crash = faults.iter().find(|f| f["kind"] == "crash").unwrap();
    let restart = faults.iter().find(|f| f["kind"] == "restart").unwrap();
    assert_eq!(crash["target"], "replica-1", "{crash}");
    let until = crash["until_seconds"].as_f64().expect("the restart ended the crash");
    let restarted = restart["at_seconds"].as_f64().unwrap();
    assert!((until - restarted).abs() < 0.01, "crash ended {until} s, restart at {restarted} s");
}

/// The same pause on the sim backend, paced to the wall clock: the class
/// sees the same dashboard, and the virtual clock keeps one axis too.
#[test]
fn a_paced_sim_run_pauses_on_one_virtual_clock_like_a_real_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Dashboard::start_on(dir.path(), PAUSED, &["--backend", "sim", "--speed", "1"]);
    common::wait_for_event(&d.out, "\"run_started\"");
    d.wait_drawn("sim");
    std::thread::sleep(Duration::from_millis(1000));
    d.press(' ');
    common::wait_for_event(&d.out, "schedule paused");
    std::thread::sleep(Duration::from_millis(1500));
    d.press(' ');
    common::wait_for_event(&d.out, "schedule resumed");
    wait_report(&d.out);
    let (code, report) = d.quit();
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["backend"], "sim");
    let paused = report["paused_seconds"].as_f64().unwrap();
    assert!(paused > 1.0 && paused < 3.0, "paused {paused} s of virtual time for about 1.5 s of wall time");
    let duration = report["duration_seconds"].as_f64().unwrap();
    assert!((duration - (4.0 + paused)).abs() < 1e-6, "duration {duration} = 4 s + {paused} s paused");
    let crash = &report["faults"][0];
    let at = crash["at_seconds"].as_f64().unwrap();
    // Virtual instants: the crash runs exactly when due, to the recorder's tick.
    assert!((at - (3.0 + paused)).abs() < 0.051, "crash at {at} s: {crash}");
    let until = crash["until_seconds"].as_f64().unwrap();
    assert!((until - at - 0.5).abs() < 1e-6, "{crash}");
}
