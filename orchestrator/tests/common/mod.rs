//! What the tests that drive the faultlab binary as a user share: writing
//! an experiment, starting a run, waiting for it to reach a point, and for
//! it to exit.
#![allow(dead_code, clippy::unwrap_used)]

pub mod docker;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
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

/// Write `text` into `dir/name`; its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Start `faultlab run file --backend backend --out out` with no input;
/// its stdout and stderr piped for the test to read, or thrown away.
pub fn spawn_run(file: &Path, backend: &str, out: &Path, piped: bool) -> Child {
    let output = || if piped { Stdio::piped() } else { Stdio::null() };
    faultlab()
        .arg("run")
        .arg(file)
        .args(["--backend", backend, "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .spawn()
        .unwrap()
}

/// `faultlab validate file`: its exit code and what it wrote on stderr.
pub fn validate(file: &Path) -> (Option<i32>, String) {
    let out = faultlab().arg("validate").arg(file).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
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
