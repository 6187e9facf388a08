//! `faultlab list`, `explain`, `report` and `run --repeat` as a user runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

mod common;

use common::library;

const EXE: &str = env!("CARGO_BIN_EXE_faultlab");

#[test]
fn list_and_explain_the_library() {
    let out = Command::new(EXE).arg("list").arg(library()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tmr-masks-one-crash.yaml"), "{text}");
    assert!(!text.contains("INVALID"), "every library file loads: {text}");
    // Course order (experiments/course.txt), not the alphabet.
    let at = |name: &str| text.find(name).unwrap_or_else(|| panic!("{name}: {text}"));
    assert!(at("availability-high-reliability-low.yaml") < at("fault-class-transient.yaml"), "{text}");
    assert!(at("tmr-masks-one-crash.yaml") < at("byzantine-generals-4-agree.yaml"), "{text}");
    assert!(at("two-phase-commit-blocks.yaml") < at("three-phase-commit-does-not-block.yaml"), "{text}");
    let out =
        Command::new(EXE).arg("explain").arg(library().join("tmr-masks-one-crash.yaml")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("WHAT TO WATCH ON THE DASHBOARD"), "{text}");
}

#[test]
fn repeated_runs_write_each_run_and_the_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::write(dir.path(), "rep.yaml", "name: rep\nseed: 5\nduration: 2s\nworkload: { kind: tmr, rate: 200/s }\n\
         faults:\n  - { at: 1s, for: 500ms, kind: crash, target: replica-1 }\n  - { at: 1s, for: 500ms, kind: crash, target: replica-2 }\n\
         expect:\n  requests.wrong: \"== 0\"\n  repeat.runs: \"== 3\"\n");
    let out = dir.path().join("out");
    let res = Command::new(EXE)
        .args([
            "run",
            file.to_str().unwrap(),
            "--backend",
            "process",
            "--repeat",
            "3",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(res.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&res.stderr));
    assert!(stdout.contains("3 of 3 runs had a service failure"), "{stdout}");
    let mut seeds = Vec::new();
    for i in 1..=3 {
        let run = out.join(format!("run-{i:03}"));
        assert!(run.join("report.html").exists(), "{}", run.display());
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
        seeds.push(r["seed"].as_u64().unwrap());
    }
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "each run has its own seed");
    let agg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(agg["repeat"]["runs"], 3);
    assert_eq!(agg["repeat"]["failures"], 3);
    let curve = agg["repeat"]["reliability_curve"].as_array().unwrap();
    assert_eq!(curve.last().unwrap()["r"], 0.0, "every run failed: {curve:?}");
    let ci = agg["repeat"]["mttf_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < agg["repeat"]["mttf_seconds"].as_f64().unwrap());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<polyline class=\"curve\""));
    for i in 1..=3 {
        assert!(
            html.contains(&format!("href=\"run-{i:03}/report.html\"")),
            "run {i} linked from the aggregate"
        );
    }

    // `faultlab report DIR` rebuilds a run's page from its files.
    let run1 = out.join("run-001");
    std::fs::remove_file(run1.join("report.html")).unwrap();
    let res = Command::new(EXE).args(["report", run1.to_str().unwrap()]).output().unwrap();
    assert!(res.status.success());
    let html = std::fs::read_to_string(run1.join("report.html")).unwrap();
    assert_eq!(html.matches("<rect class=\"fault\"").count(), 2);
    assert!(!html.contains("http"));
}
