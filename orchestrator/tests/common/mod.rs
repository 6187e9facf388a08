//! What the tests that drive the faultlab binary as a user share: waiting
//! for a run to reach a point, and for it to exit.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Wait (at most 30 s) until the run's events.jsonl under `out` holds `needle`.
pub fn wait_for_event(out: &Path, needle: &str) {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(out.join("events.jsonl")).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never saw {needle}: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait at most `within` for `child` to exit; fail with `what` otherwise.
pub fn wait_exit(child: &mut Child, within: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The faultlab binary under test.
pub fn faultlab() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_faultlab"))
}

/// The experiment library.
pub fn library() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments")
}

/// Run `file` on `backend` into `out` with `extra` arguments; the exit code.
pub fn run_on(file: &Path, backend: &str, out: &Path, extra: &[&str]) -> i32 {
    let output = faultlab()
        .arg("run")
        .arg(file)
        .args(["--backend", backend, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("faultlab runs");
    output.status.code().unwrap_or(-1)
}

/// The report.json a run wrote into `out`.
pub fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}
