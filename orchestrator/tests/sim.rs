//! The sim backend: the same experiment in virtual time. Its runs are
//! deterministic (the same file and seed give the same bytes), and its
//! numbers agree with the same experiment run for real on processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;

use common::{faultlab, library, report, run_on as run};

/// report.json without what differs between two runs by design: the run's id.
fn comparable(out: &Path) -> Value {
    let mut r = report(out);
    r.as_object_mut().unwrap().remove("run_id");
    r
}

/// The process runs below measure milliseconds: they do not share the
/// machine with the library's sim runs.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_library_experiment_gives_the_same_bytes_twice_and_other_bytes_on_another_seed() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(library())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} experiments", files.len());
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let (a, b) = (tmp.path().join(format!("{name}-a")), tmp.path().join(format!("{name}-b")));
        let code = run(file, "sim", &a, &[]);
        assert_eq!(code, 0, "{name} on sim: exit {code}; its expect: must hold on sim as on process");
        run(file, "sim", &b, &[]);
        let events = |d: &Path| std::fs::read(d.join("events.jsonl")).unwrap();
        assert!(events(&a) == events(&b), "{name}: events.jsonl differs between two runs of one seed");
        assert_eq!(
            comparable(&a),
            comparable(&b),
            "{name}: report.json differs between two runs of one seed"
        );
    }
    // Another seed draws other latencies, and so other events.
    let file = library().join("tmr-masks-one-crash.yaml");
    let (a, c) = (tmp.path().join("tmr-masks-one-crash-a"), tmp.path().join("seed-7"));
    run(&file, "sim", &c, &["--seed", "7"]);
    let events = |d: &Path| std::fs::read(d.join("events.jsonl")).unwrap();
    assert!(events(&a) != events(&c), "seed 7 gave the same events as the file's seed");
}

fn num(r: &Value, path: &str) -> f64 {
    path.split('.').fold(r, |v, k| &v[k]).as_f64().unwrap_or_else(|| panic!("{path} in {r}"))
}

/// Sim and process runs of the same three experiments. The process runs
/// take their real time: the detector's, whose milliseconds matter, runs
/// alone; the other two side by side.
#[test]
fn sim_agrees_with_process_on_availability_detection_time_and_golden_match() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let names = ["tmr-masks-one-crash", "heartbeat-crash-detection", "checkpoint-coordinated"];
    let hb = tmp.path().join("heartbeat-crash-detection-process");
    run(&library().join("heartbeat-crash-detection.yaml"), "process", &hb, &[]);
    let real: Vec<_> = ["tmr-masks-one-crash", "checkpoint-coordinated"]
        .iter()
        .map(|n| {
            let out = tmp.path().join(format!("{n}-process"));
            let child = faultlab()
                .arg("run")
                .arg(library().join(format!("{n}.yaml")))
                .args(["--backend", "process", "--out"])
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    for n in names {
        let out = tmp.path().join(format!("{n}-sim"));
        assert_eq!(run(&library().join(format!("{n}.yaml")), "sim", &out, &[]), 0, "{n} on sim");
    }
    let mut outs: Vec<PathBuf> = real
        .into_iter()
        .map(|(mut child, out)| {
            child.wait().unwrap();
            out
        })
        .collect();
    outs.push(hb);
    for out in outs {
        let name = out.file_name().unwrap().to_string_lossy().replace("-process", "");
        let (p, s) = (report(&out), report(&tmp.path().join(format!("{name}-sim"))));
        assert!(p["valid"].as_bool().unwrap(), "{name} on process was invalid: {}", p["run_failures"]);
        match name.as_str() {
            "tmr-masks-one-crash" => {
                let (a, b) = (num(&p, "availability"), num(&s, "availability"));
                assert!((a - b).abs() <= 0.01, "availability: process {a}, sim {b}");
            }
            "heartbeat-crash-detection" => {
                let (a, b) =
                    (num(&p, "detector.detection_seconds.mean"), num(&s, "detector.detection_seconds.mean"));
                assert!((a - b).abs() <= 0.010, "mean detection time: process {a:.4} s, sim {b:.4} s");
                assert_eq!(
                    num(&p, "detector.detection_seconds.count"),
                    num(&s, "detector.detection_seconds.count")
                );
            }
            _ => {
                assert_eq!(
                    p["checkpointing"]["golden_match"],
                    Value::Bool(true),
                    "process: {}",
                    p["checkpointing"]
                );
                assert_eq!(
                    s["checkpointing"]["golden_match"],
                    Value::Bool(true),
                    "sim: {}",
                    s["checkpointing"]
                );
            }
        }
    }
}

/// A plain HTTP GET of the exporter's page on 127.0.0.1 (None while nothing listens).
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body.split_once("\r\n\r\n")?.1.to_string())
}

fn sample(body: &str, name: &str, label: &str) -> Option<f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).ok()?;
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && (label.is_empty() || s.labels.values().any(|v| v == label)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// `--speed 4` paces the virtual clock: 8 s of experiment take 2 s of wall
/// time, and the exporter, scraped while it runs, follows the virtual clock.
#[test]
fn a_paced_sim_run_serves_live_metrics_that_follow_its_virtual_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let mut child = faultlab()
        .arg("run")
        .arg(library().join("tmr-masks-one-crash.yaml"))
        .args(["--backend", "sim", "--speed", "4", "--duration", "8s", "--metrics-linger", "0s", "--out"])
        .arg(tmp.path())
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    while child.try_wait().unwrap().is_none() && started.elapsed() < std::time::Duration::from_secs(20) {
        if let Some(body) = scrape(port) {
            if let (Some(t), Some(ok)) = (
                sample(&body, "faultlab_run_elapsed_seconds", ""),
                sample(&body, "faultlab_requests_total", "ok"),
            ) {
                seen.push((started.elapsed().as_secs_f64(), t, ok));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = child.wait().unwrap();
    let wall = started.elapsed().as_secs_f64();
    // Cut to 8 s, the file's later faults are skipped and some `expect:` fail (exit 1), validly.
    assert!(matches!(status.code(), Some(0 | 1)), "exit {status}");
    assert!(wall >= 2.0, "8 s at speed 4 took only {wall:.2} s: the run was not paced");
    let mid: Vec<_> = seen.iter().filter(|(_, t, _)| *t > 0.5 && *t < 7.5).collect();
    assert!(mid.len() >= 3, "too few scrapes during the run: {seen:?}");
    for w in mid.windows(2) {
        assert!(w[1].1 >= w[0].1 && w[1].2 >= w[0].2, "the clock and the ok count only grow: {seen:?}");
    }
    // 2,000 requests/s of virtual time, all answered.
    for (_, t, ok) in &mid {
        assert!((ok - 2000.0 * t).abs() < 2000.0 * 0.3 + 200.0, "{ok} ok at virtual {t:.2} s: {seen:?}");
    }
    let r = report(tmp.path());
    assert_eq!(r["backend"], "sim");
    assert_eq!(r["valid"], true, "{}", r["run_failures"]);
    assert_eq!(num(&r, "requests.ok"), r["requests"]["total"].as_f64().unwrap());
}
