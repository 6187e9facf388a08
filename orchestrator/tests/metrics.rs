//! The Prometheus exporter over real HTTP on 127.0.0.1: scrape, parse with
//! `prometheus-parse`, update the snapshot, scrape again; and the exporter of
//! real runs of the faultlab binary, during the run and during the linger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use orchestrator::metrics::{serve, CONTENT_TYPE};
use prometheus_parse::{Sample, Scrape, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tui::snapshot::{NodeStatus, NodeView, Series, ServiceView, Snapshot, TmrView};

fn snapshot() -> Snapshot {
    let node = |name: &str, role: &str, status| NodeView {
        name: name.into(),
        role: role.into(),
        status,
        ..NodeView::default()
    };
    Snapshot {
        experiment: "tmr-masks-one-crash".into(),
        run_id: "0123456789ab".into(),
        backend: "process".into(),
        seed: 42,
        elapsed_seconds: 12.5,
        duration_seconds: 30.0,
        nodes: vec![
            node("replica-1", "replica", NodeStatus::Up),
            node("replica-2", "replica", NodeStatus::Down),
            node("voter-1", "voter", NodeStatus::Up),
        ],
        service: ServiceView {
            requests_total: 1000,
            requests_ok: 990,
            requests_failed: 7,
            requests_wrong: 3,
            availability: Some(0.99),
            availability_recent: Some(0.95),
            availability_time: 0.98,
            in_outage: true,
            failures: 2,
            recovery_seconds: vec![0.2, 1.5],
            latency_buckets: vec![10, 100, 500, 900, 980, 990, 990, 990, 990, 990, 990, 990],
            latency_sum_seconds: 0.75,
            ..ServiceView::default()
        },
        tmr: Some(TmrView { unanimous: 900, majority: 88, no_majority: 2, state_transfers: 1 }),
        faults_injected: vec![("crash".into(), 1), ("omission".into(), 2)],
        ..Snapshot::default()
    }
}

type Response = (String, Vec<(String, String)>, String);

/// One HTTP exchange: the status line, the headers (lower-cased names) and the body.
async fn get(addr: SocketAddr, path: &str) -> Response {
    try_get(addr, path).await.expect("the exporter answers")
}

/// [`get`], or None when nothing listens (or answers within 5 s).
async fn try_get(addr: SocketAddr, path: &str) -> Option<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        // The server keeps connections alive unless asked: ask, to read to the end.
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        Some(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange).await.ok()??;
    let (head, body) = response.split_once("\r\n\r\n").expect("a blank line after the headers");
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, body.to_string()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse(body: &str) -> Scrape {
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample `metric` whose labels include `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = find(scrape, metric, labels);
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} is not a number: {other:?}"),
    }
}

fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric}{labels:?}"))
}

#[tokio::test]
async fn scrapes_parse_and_follow_the_snapshot() {
    let (tx, rx) = watch::channel(Arc::new(snapshot()));
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    assert_ne!(addr.port(), 0, "the bound port is returned");

    let (status, headers, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(header(&headers, "content-type"), Some(CONTENT_TYPE));
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
    assert_eq!(header(&headers, "content-length"), Some(body.len().to_string().as_str()));
    let scrape = parse(&body);

    assert_eq!(value(&scrape, "faultlab_requests_total", &[("outcome", "ok")]), 990.0);
    assert_eq!(value(&scrape, "faultlab_requests_total", &[("outcome", "failed")]), 7.0);
    assert_eq!(value(&scrape, "faultlab_requests_total", &[("outcome", "wrong")]), 3.0);
    assert_eq!(value(&scrape, "faultlab_node_up", &[("node", "replica-1"), ("role", "replica")]), 1.0);
    assert_eq!(value(&scrape, "faultlab_node_up", &[("node", "replica-2")]), 0.0);
    assert_eq!(value(&scrape, "faultlab_availability_ratio", &[]), 0.99);
    assert_eq!(value(&scrape, "faultlab_availability_recent_ratio", &[]), 0.95);
    assert_eq!(value(&scrape, "faultlab_outage", &[]), 1.0);
    assert_eq!(value(&scrape, "faultlab_failures_total", &[]), 2.0);
    assert_eq!(value(&scrape, "faultlab_faults_injected_total", &[("kind", "omission")]), 2.0);
    assert_eq!(value(&scrape, "faultlab_tmr_votes_total", &[("result", "majority")]), 88.0);
    assert_eq!(value(&scrape, "faultlab_tmr_votes_total", &[("result", "no_majority")]), 2.0);
    assert_eq!(value(&scrape, "faultlab_run_elapsed_seconds", &[]), 12.5);
    assert_eq!(
        value(
            &scrape,
            "faultlab_run_info",
            &[
                ("run_id", "0123456789ab"),
                ("experiment", "tmr-masks-one-crash"),
                ("backend", "process"),
                ("seed", "42")
            ]
        ),
        1.0
    );
    for family in ["faultlab_requests_total", "faultlab_node_up", "faultlab_request_duration_seconds"] {
        assert!(scrape.docs.contains_key(family), "{family} has HELP");
    }

    // Latency histogram: cumulative buckets, +Inf equal to _count.
    let Value::Histogram(buckets) = &find(&scrape, "faultlab_request_duration_seconds", &[]).value else {
        panic!("the latency is a histogram")
    };
    assert_eq!(buckets.len(), 13, "12 bounds and +Inf");
    assert!(buckets.windows(2).all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count));
    let inf = buckets.last().unwrap();
    assert!(inf.less_than.is_infinite());
    assert_eq!(inf.count, value(&scrape, "faultlab_request_duration_seconds_count", &[]));
    assert_eq!(inf.count, 990.0);
    assert_eq!(buckets[3].count, 900.0, "le=0.001");
    assert_eq!(value(&scrape, "faultlab_request_duration_seconds_sum", &[]), 0.75);

    // Recovery histogram from the recovery times.
    let Value::Histogram(recovery) = &find(&scrape, "faultlab_recovery_seconds", &[]).value else {
        panic!("recovery is a histogram")
    };
    let at = |le: f64| recovery.iter().find(|b| b.less_than == le).unwrap().count;
    assert_eq!((at(0.1), at(0.25), at(1.0), at(2.5), at(f64::INFINITY)), (0.0, 1.0, 1.0, 2.0, 2.0));
    assert_eq!(value(&scrape, "faultlab_recovery_seconds_count", &[]), 2.0);

    // A newer snapshot shows on the next scrape.
    let mut next = snapshot();
    next.service.requests_ok = 1990;
    next.service.in_outage = false;
    next.nodes[1].status = NodeStatus::Recovering;
    tx.send(Arc::new(next)).unwrap();
    let (_, _, body) = get(addr, "/metrics").await;
    let scrape = parse(&body);
    assert_eq!(value(&scrape, "faultlab_requests_total", &[("outcome", "ok")]), 1990.0);
    assert_eq!(value(&scrape, "faultlab_outage", &[]), 0.0);
    assert_eq!(value(&scrape, "faultlab_node_up", &[("node", "replica-2")]), 1.0);

    task.abort();
}

#[tokio::test]
async fn a_workloads_own_series_are_served_as_families() {
    let feedback = "Feedback messages sent, by kind.";
    let snapshot = Snapshot {
        series: vec![
            Series::counter("faultlab_multicast_feedback_total", feedback, &[("kind", "ack")], 190.0),
            Series::counter("faultlab_multicast_feedback_total", feedback, &[("kind", "nack")], 3.0),
            Series::gauge(
                "faultlab_multicast_view",
                "The view each member holds.",
                &[("node", "member-1")],
                2.0,
            ),
            // Not a metric name, and one of the exporter's own: both left out.
            Series::gauge("faultlab multicast", "bad", &[], 1.0),
            Series::gauge("faultlab_outage", "taken", &[], 7.0),
        ],
        ..snapshot()
    };
    let (_tx, rx) = watch::channel(Arc::new(snapshot));
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    let (status, _, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("# TYPE faultlab_multicast_feedback_total counter"), "{body}");
    assert!(body.contains("# TYPE faultlab_multicast_view gauge"), "{body}");
    let scrape = parse(&body);
    assert_eq!(value(&scrape, "faultlab_multicast_feedback_total", &[("kind", "ack")]), 190.0);
    assert_eq!(value(&scrape, "faultlab_multicast_feedback_total", &[("kind", "nack")]), 3.0);
    assert_eq!(value(&scrape, "faultlab_multicast_view", &[("node", "member-1")]), 2.0);
    assert_eq!(scrape.docs.get("faultlab_multicast_feedback_total").map(String::as_str), Some(feedback));
    assert_eq!(value(&scrape, "faultlab_outage", &[]), 1.0, "the exporter's own family is kept");
    assert!(!body.contains("faultlab multicast"));
    task.abort();
}

#[tokio::test]
async fn the_root_points_to_metrics_and_other_paths_are_404() {
    let (_tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"));
    assert!(body.contains("/metrics"));
    let (status, _, _) = get(addr, "/nope").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    // A query string does not change the path.
    let (status, _, body) = get(addr, "/metrics?x=1").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("faultlab_run_info"));
    // Without a detector or TMR workload, their families are absent.
    assert!(!body.contains("faultlab_tmr_votes_total"));
    assert!(!body.contains("faultlab_detector_"));
    task.abort();
}

#[tokio::test]
async fn a_silent_client_does_not_block_other_scrapes() {
    let (_tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    let _silent = TcpStream::connect(addr).await.unwrap();
    let (status, _, _) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    task.abort();
}

/// Every sample name in a text exposition.
fn sample_names(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect()
}

/// The `faultlab_` names a PromQL expression reads.
fn names_in(expr: &str) -> Vec<&str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("faultlab_"))
        .collect()
}

#[test]
fn the_grafana_dashboard_queries_only_series_we_export() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grafana/faultlab-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Every optional part present, so that every family is exported.
    let mut s = snapshot();
    s.detector = Some(tui::snapshot::DetectorView { false_suspicions: 1, detection_seconds: vec![0.45] });
    s.suspicion = Some(vec![vec![false; 3]; 3]);
    let exported = orchestrator::metrics::encode(&s).unwrap();
    let exported = sample_names(&exported);
    let panels = dashboard["panels"].as_array().unwrap();
    let mut queries: Vec<String> = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(!names_in(expr).is_empty(), "{expr} queries no faultlab metric");
            queries.push(expr.to_string());
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"].as_str().filter(|q| q.contains("faultlab_")) {
            queries.push(q.to_string());
        }
    }
    for q in &queries {
        for name in names_in(q) {
            assert!(exported.contains(&name), "{name} (in {q}) is not exported");
        }
    }
    // The per-run view joins on the info metric, and the detector has its panels.
    assert!(queries.iter().any(|q| q.contains("group_left") && q.contains("faultlab_run_info")));
    assert!(queries.iter().any(|q| q.contains("faultlab_detector_suspicion")));
    assert!(queries.iter().any(|q| q.contains("faultlab_detector_false_suspicions_total")));
    assert!(queries.iter().any(|q| q.contains("faultlab_detector_detection_seconds_bucket")));
}

#[tokio::test]
async fn detector_quality_is_exported_when_a_detector_runs() {
    let mut s = snapshot();
    assert!(
        !orchestrator::metrics::encode(&s).unwrap().contains("faultlab_detector_"),
        "no detector, no family"
    );
    s.detector =
        Some(tui::snapshot::DetectorView { false_suspicions: 4, detection_seconds: vec![0.45, 0.52, 2.0] });
    s.suspicion = Some(vec![vec![false, true, false], vec![false; 3], vec![false; 3]]);
    let (tx, rx) = watch::channel(Arc::new(s));
    let (addr, task) = serve(SocketAddr::from(([127, 0, 0, 1], 0)), rx).await.unwrap();
    let (status, _, body) = get(addr, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    let scrape = parse(&body);
    assert_eq!(value(&scrape, "faultlab_detector_false_suspicions_total", &[]), 4.0);
    let Value::Histogram(h) = &find(&scrape, "faultlab_detector_detection_seconds", &[]).value else {
        panic!("detection time is a histogram")
    };
    let le_half = h.iter().find(|b| (b.less_than - 0.5).abs() < 1e-9).map(|b| b.count);
    assert_eq!(le_half, Some(1.0), "one detection within 0.5 s: {h:?}");
    assert_eq!(h.last().map(|b| b.count), Some(3.0));
    let suspects =
        |o: &str, t: &str| value(&scrape, "faultlab_detector_suspicion", &[("observer", o), ("target", t)]);
    assert_eq!(suspects("replica-1", "replica-2"), 1.0);
    assert_eq!(suspects("replica-2", "replica-1"), 0.0);
    assert_eq!(scrape.samples.iter().filter(|x| x.metric == "faultlab_detector_suspicion").count(), 6);
    drop(tx);
    task.abort();
}

#[tokio::test]
async fn a_keep_alive_connection_gets_one_response_per_request() {
    let (_tx, rx) = watch::channel(Arc::new(snapshot()));
    let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let exchange = async {
        stream.write_all(format!("{request}{request}").as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 8192];
        // Two responses, each ending in the last line of the exposition.
        while String::from_utf8_lossy(&seen).matches("HTTP/1.1 200 OK").count() < 2
            || !String::from_utf8_lossy(&seen).ends_with("\n")
        {
            let n = stream.read(&mut chunk).await.unwrap();
            assert_ne!(n, 0, "the server closed a keep-alive connection");
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(seen).unwrap()
    };
    let text = tokio::time::timeout(Duration::from_secs(5), exchange).await.expect("two answers");
    assert_eq!(text.matches("faultlab_run_info{").count(), 2);
    task.abort();
}

/// A free port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `faultlab run FILE --backend process` with metrics on `port` if any, its output in `out`.
fn start_run(
    file: &std::path::Path,
    out: &std::path::Path,
    port: Option<u16>,
    extra: &[&str],
) -> std::process::Child {
    let metrics = port.map(|p| ["--metrics-addr".to_string(), format!("127.0.0.1:{p}")]);
    std::process::Command::new(env!("CARGO_BIN_EXE_faultlab"))
        .arg("run")
        .arg(file)
        .args(["--backend", "process", "--out"])
        .arg(out)
        .args(metrics.iter().flatten())
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(out.with_extension("stdout")).unwrap())
        .stderr(std::fs::File::create(out.with_extension("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// The run's report.json, once it is written (at the latest within 30 s).
async fn wait_report(out: &std::path::Path) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(out.join("report.json")).unwrap_or_default();
        if let Ok(report) = serde_json::from_str(&text) {
            return report;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no report.json in {}", out.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scrape until the exporter answers (at the latest within 30 s).
async fn first_scrape(addr: SocketAddr) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Some((status, _, body)) = try_get(addr, "/metrics").await {
            assert_eq!(status, "HTTP/1.1 200 OK");
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the exporter never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn no_minus_zero(body: &str) {
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.ends_with(" -0"), "{line}");
    }
}

#[tokio::test]
async fn a_finished_run_serves_its_final_values_for_the_linger_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let file =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../experiments/tmr-masks-one-crash.yaml"));
    let linger = Duration::from_secs(3);
    let mut child =
        start_run(file, &out, Some(port), &["--duration", "3s", "--seed", "11", "--metrics-linger", "3s"]);

    // During the run.
    let body = first_scrape(addr).await;
    no_minus_zero(&body);
    let scrape = parse(&body);
    let info = find(&scrape, "faultlab_run_info", &[]);
    assert_eq!(info.labels.get("experiment"), Some("tmr-masks-one-crash"));
    assert_eq!(info.labels.get("backend"), Some("process"));
    assert_eq!(info.labels.get("seed"), Some("11"));
    let run_id = info.labels.get("run_id").unwrap().to_string();
    assert_eq!(run_id.len(), 12, "{run_id}");
    assert!(body.matches("run_id=").count() == 1, "the run id is on the info metric only");

    // After it: report.json is written, then the exporter lingers with the final values.
    let report = wait_report(&out).await;
    let written = std::time::Instant::now();
    assert_eq!(report["run_id"].as_str(), Some(run_id.as_str()));
    let ok = report["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 100, "the run served requests: {ok}");
    let mut finals = Vec::new();
    for _ in 0..2 {
        let (status, _, body) = get(addr, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        no_minus_zero(&body);
        let scrape = parse(&body);
        assert_eq!(value(&scrape, "faultlab_requests_total", &[("outcome", "ok")]), ok as f64);
        assert_eq!(value(&scrape, "faultlab_run_state", &[("state", "finished")]), 1.0);
        assert_eq!(find(&scrape, "faultlab_run_info", &[]).labels.get("run_id"), Some(run_id.as_str()));
        finals.push(value(&scrape, "faultlab_run_elapsed_seconds", &[]));
        tokio::time::sleep(linger / 2).await;
    }
    assert_eq!(finals[0], finals[1], "the values are final");

    let status = common::wait_exit(&mut child, linger + Duration::from_secs(20), "the run never exited");
    let lingered = written.elapsed();
    assert!(lingered >= linger - Duration::from_millis(300), "exited {lingered:?} after the report");
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    assert!(try_get(addr, "/metrics").await.is_none(), "the exporter stopped with the run");
}

/// Three heartbeat nodes for 3 s; node-2 crashes for good at 1 s.
fn heartbeat_crash(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("crash.yaml");
    std::fs::write(
        &file,
        "name: heartbeat-crash-short\n\
         seed: 7\n\
         duration: 3s\n\
         workload: { kind: heartbeat, nodes: 3 }\n\
         detector: { kind: fixed, interval: 100ms, timeout: 500ms }\n\
         faults:\n  - { at: 1s, kind: crash, target: node-2 }\n",
    )
    .unwrap();
    file
}

#[tokio::test]
async fn a_run_without_an_exporter_does_not_linger() {
    let dir = tempfile::tempdir().unwrap();
    let file = heartbeat_crash(dir.path());
    let out = dir.path().join("run");
    // The default linger is 30 s: without --metrics-addr there is nothing to serve.
    let mut child = start_run(&file, &out, None, &[]);
    wait_report(&out).await;
    let status =
        common::wait_exit(&mut child, Duration::from_secs(15), "the run lingered without an exporter");
    assert!(status.code().is_some(), "{status:?}");
}

#[tokio::test]
async fn a_heartbeat_run_exports_who_suspects_whom() {
    let dir = tempfile::tempdir().unwrap();
    let file = heartbeat_crash(dir.path());
    let out = dir.path().join("run");
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = start_run(&file, &out, Some(port), &["--metrics-linger", "2s"]);
    let body = first_scrape(addr).await;
    no_minus_zero(&body);
    let report = wait_report(&out).await;
    let (_, _, body) = get(addr, "/metrics").await;
    no_minus_zero(&body);
    let scrape = parse(&body);
    let suspects =
        |o: &str, t: &str| value(&scrape, "faultlab_detector_suspicion", &[("observer", o), ("target", t)]);
    // node-2 crashed for good: both others suspect it, and trust each other.
    assert_eq!(suspects("node-1", "node-2"), 1.0);
    assert_eq!(suspects("node-3", "node-2"), 1.0);
    assert_eq!(suspects("node-1", "node-3"), 0.0);
    assert_eq!(suspects("node-3", "node-1"), 0.0);
    let pairs: Vec<_> = scrape.samples.iter().filter(|x| x.metric == "faultlab_detector_suspicion").collect();
    assert_eq!(pairs.len(), 6, "3 nodes, each watching the 2 others");
    assert!(pairs.iter().all(|p| p.labels.get("observer") != p.labels.get("target")));
    // QoS as in report.json.
    let detections = report["detector"]["detection_seconds"]["count"].as_f64().unwrap();
    assert_eq!(detections, 2.0, "{}", report["detector"]);
    assert_eq!(value(&scrape, "faultlab_detector_detection_seconds_count", &[]), detections);
    assert_eq!(
        value(&scrape, "faultlab_detector_false_suspicions_total", &[]),
        report["detector"]["false_suspicions"].as_f64().unwrap()
    );
    common::wait_exit(&mut child, Duration::from_secs(30), "the run never exited");
}
