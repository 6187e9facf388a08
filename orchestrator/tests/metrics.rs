//! The Prometheus exporter over real HTTP on 127.0.0.1: scrape, parse with
//! `prometheus-parse`, update the snapshot, scrape again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator::metrics::{serve, CONTENT_TYPE};
use prometheus_parse::{Sample, Scrape, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tui::snapshot::{NodeStatus, NodeView, ServiceView, Snapshot, TmrView};

fn snapshot() -> Snapshot {
    let node = |name: &str, role: &str, status| NodeView {
        name: name.into(),
        role: role.into(),
        status,
        ..NodeView::default()
    };
    Snapshot {
        experiment: "tmr-masks-one-crash".into(),
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

/// One HTTP exchange: the status line, the headers (lower-cased names) and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, Vec<(String, String)>, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response =
        tokio::time::timeout(Duration::from_secs(5), exchange).await.expect("the exporter answers");
    let (head, body) = response.split_once("\r\n\r\n").expect("a blank line after the headers");
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
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
            &[("experiment", "tmr-masks-one-crash"), ("backend", "process"), ("seed", "42")]
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

#[test]
fn the_grafana_dashboard_is_json_and_queries_metrics_we_export() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grafana/faultlab-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let exported = orchestrator::metrics::encode(&snapshot());
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 5);
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let metric = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .find(|w| w.starts_with("faultlab_"))
                .unwrap_or_else(|| panic!("{expr} queries no faultlab metric"));
            assert!(exported.contains(&format!("\n{metric}")), "{metric} is not exported");
        }
    }
}

#[tokio::test]
async fn detector_quality_is_exported_when_a_detector_runs() {
    let mut s = snapshot();
    assert!(!orchestrator::metrics::encode(&s).contains("faultlab_detector_"), "no detector, no family");
    s.detector =
        Some(tui::snapshot::DetectorView { false_suspicions: 4, detection_seconds: vec![0.45, 0.52, 2.0] });
    let (tx, rx) = watch::channel(Arc::new(s));
    let (addr, task) = serve(SocketAddr::from(([127, 0, 0, 1], 0)), rx).await.unwrap();
    let (status, _, body) =
        tokio::time::timeout(Duration::from_secs(5), get(addr, "/metrics")).await.unwrap();
    assert!(status.contains("200"), "{status}");
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(value(&scrape, "faultlab_detector_false_suspicions_total", &[]), 4.0);
    let count = scrape.samples.iter().find(|x| x.metric == "faultlab_detector_detection_seconds").map(|x| {
        match &x.value {
            Value::Histogram(h) => {
                let le_half = h.iter().find(|b| (b.less_than - 0.5).abs() < 1e-9).map(|b| b.count);
                assert_eq!(le_half, Some(1.0), "one detection within 0.5 s: {h:?}");
                h.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            other => panic!("not a histogram: {other:?}"),
        }
    });
    assert_eq!(count, Some(3.0));
    drop(tx);
    task.abort();
}
