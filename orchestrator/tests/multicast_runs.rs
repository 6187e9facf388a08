//! Group communication end to end on the sim backend: the feedback each
//! protocol costs against what theory says it should, and the library's
//! multicast experiments holding their `expect:` with their faults and
//! failing it without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;

/// Run `file` on the simulator into `out`; the exit code.
fn run(file: &Path, out: &Path, extra: &[&str]) -> i32 {
    common::run_on(file, "sim", out, extra)
}

/// `multicast` of report.json after running a group of one sender and
/// `receivers` receivers, each losing `loss` of what it receives.
fn multicast(dir: &Path, protocol: &str, receivers: usize, loss: f64) -> Value {
    let name = format!("{protocol}-{receivers}-{loss}");
    let faults = if loss > 0.0 {
        format!(
            "faults:\n  - {{ at: 0s, kind: omission, target: {{ role: member, count: {receivers} }}, \
             direction: receive, probability: {loss} }}\n"
        )
    } else {
        String::new()
    };
    let text = format!(
        "name: {name}\nseed: 3\nduration: 10s\nbackend: sim\nworkload:\n  kind: multicast\n  protocol: {protocol}\n  \
         senders: 1\n  receivers: {receivers}\n  rate: 20/s\n  retransmit: 20ms\n{faults}"
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join(&name);
    assert_eq!(run(&file, &out, &[]), 0, "{name} runs");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    report["multicast"].clone()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

#[test]
fn ack_costs_n_minus_one_acknowledgments_per_multicast_and_nothing_is_resent_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    for receivers in [4, 9, 19] {
        let m = multicast(tmp.path(), "ack", receivers, 0.0);
        let per = num(&m, "feedback_per_multicast");
        let n_minus_1 = receivers as f64;
        assert!(
            (per - n_minus_1).abs() <= 0.03 * n_minus_1,
            "{receivers} receivers: {per} ACKs per multicast"
        );
        assert_eq!(num(&m, "retransmissions_per_multicast"), 0.0);
        assert_eq!(num(&m, "reliability"), 1.0);
        // A message leaves the history buffer once every receiver acknowledged it.
        assert!(num(&m, "history_buffer_max") <= 2.0, "{m}");
        assert!(num(&m, "multicasts") >= 190.0, "20/s for 10 s: {m}");
    }
}

#[test]
fn nack_feedback_follows_the_losses_and_srm_suppresses_some_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (receivers, p) = (19, 0.05);
    let ack = multicast(tmp.path(), "ack", receivers, p);
    let nack = multicast(tmp.path(), "nack", receivers, p);
    let srm = multicast(tmp.path(), "srm", receivers, p);
    // Each copy lost is sent again, and a retransmission may be lost too:
    // (N - 1) p / (1 - p) retransmissions per multicast.
    let expected = receivers as f64 * p / (1.0 - p);
    for m in [&ack, &nack] {
        let r = num(m, "retransmissions_per_multicast");
        assert!((r - expected).abs() <= 0.25 * expected, "{r} retransmissions, expected about {expected}");
        assert_eq!(num(m, "reliability"), 1.0);
    }
    // ACK: every receiver, every message; NACK: at most one per copy lost.
    assert!(num(&ack, "feedback_per_multicast") >= receivers as f64);
    let nacks = num(&nack, "feedback_per_multicast");
    assert!(nacks > 0.0 && nacks <= num(&nack, "retransmissions_per_multicast") + 1e-9, "{nack}");
    assert!(num(&ack, "feedback_per_multicast") > 15.0 * nacks);
    // SRM: fewer NACKs than plain NACK at the same reliability, the rest suppressed.
    assert!(num(&srm, "feedback_per_multicast") < nacks, "{srm}");
    assert!(num(&srm, "suppressed") > 0.0);
    assert_eq!(num(&srm, "reliability"), 1.0);
    // NACK keeps every message for `history` (1 s at 20/s); ACK lets it go.
    assert!(num(&nack, "history_buffer_max") >= 15.0);
}

#[test]
fn every_multicast_experiment_holds_with_its_faults_and_fails_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let library = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&library)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("multicast-"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(run(file, &tmp.path().join(&name), &[]), 0, "{name} holds its expect: with its faults");
        let without = tmp.path().join(format!("{name}-without"));
        assert_eq!(run(file, &without, &["--no-faults"]), 1, "{name} fails its expect: without its faults");
    }
}
