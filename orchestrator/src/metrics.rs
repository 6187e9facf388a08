//! The Prometheus exporter: the recorder's latest snapshot in the text
//! exposition format 0.0.4, served by a minimal HTTP/1.1 responder on tokio
//! (one request per connection, then close; no framework needed for that).

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tui::snapshot::{NodeStatus, Snapshot, LATENCY_BUCKETS};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds of the recovery-time histogram (seconds).
pub const RECOVERY_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A request head larger than this is refused (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Bind `addr` and serve `GET /metrics` from the newest snapshot in `snapshots`.
/// Returns the bound address (so port 0 works) and the accept loop's task; abort it to stop.
pub async fn serve(
    addr: SocketAddr,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    serve_on(bind(addr).await?, snapshots)
}

/// Bind the exporter's address. A run does this before it deploys anything,
/// so an address in use is reported before any agent is started.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve `GET /metrics` on an already bound `listener` (see [`serve`]).
pub fn serve_on(
    listener: TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, snapshots.clone()));
                }
                // Out of file descriptors and the like: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    Ok((bound, task))
}

/// Read one request head, answer it, close.
async fn answer(mut stream: TcpStream, snapshots: watch::Receiver<Arc<Snapshot>>) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        _ => return,
    };
    let (status, content_type, body) = respond(&head, &snapshots);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let head_only = head.starts_with("HEAD ");
    // The scraper may have gone; there is nobody to tell.
    let _ = stream.write_all(response.as_bytes()).await;
    if !head_only {
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// The request line and headers, up to the blank line.
async fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Status line, content type and body for a request head.
fn respond(head: &str, snapshots: &watch::Receiver<Arc<Snapshot>>) -> (&'static str, &'static str, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n".into());
    }
    match path {
        "/metrics" => {
            let snapshot = snapshots.borrow().clone();
            ("200 OK", CONTENT_TYPE, encode(&snapshot))
        }
        "/" => (
            "200 OK",
            "text/html; charset=utf-8",
            "<!doctype html><title>faultlab</title><p>faultlab exporter: <a href=\"/metrics\">/metrics</a></p>\n"
                .into(),
        ),
        _ => ("404 Not Found", "text/plain; charset=utf-8", "not found; try /metrics\n".into()),
    }
}

/// The snapshot as Prometheus text format 0.0.4.
pub fn encode(s: &Snapshot) -> String {
    let v = &s.service;
    let mut out = Exposition::default();

    out.family("faultlab_requests_total", "counter", "Client requests by outcome.");
    for (outcome, n) in [("ok", v.requests_ok), ("failed", v.requests_failed), ("wrong", v.requests_wrong)] {
        out.sample("faultlab_requests_total", &[("outcome", outcome)], n as f64);
    }

    out.family("faultlab_request_duration_seconds", "histogram", "Latency of correct replies.");
    // The recorder's buckets are cumulative already; a short vector counts as zeros.
    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
        .iter()
        .enumerate()
        .map(|(i, le)| (*le, v.latency_buckets.get(i).copied().unwrap_or(0)))
        .collect();
    let count = v.latency_buckets.last().copied().unwrap_or(0).max(v.requests_ok);
    out.histogram("faultlab_request_duration_seconds", &buckets, v.latency_sum_seconds, count);

    out.family(
        "faultlab_availability_ratio",
        "gauge",
        "Requests answered correctly within the deadline / requests sent, run so far.",
    );
    if let Some(a) = v.availability {
        out.sample("faultlab_availability_ratio", &[], a);
    }
    out.family("faultlab_availability_recent_ratio", "gauge", "Availability over the last 10 s.");
    if let Some(a) = v.availability_recent {
        out.sample("faultlab_availability_recent_ratio", &[], a);
    }
    out.family("faultlab_availability_time_ratio", "gauge", "1 - outage time / elapsed time.");
    out.sample("faultlab_availability_time_ratio", &[], v.availability_time);

    out.family(
        "faultlab_node_up",
        "gauge",
        "1 when the node runs (recovering counts), 0 when down or paused.",
    );
    for n in &s.nodes {
        let up = matches!(n.status, NodeStatus::Up | NodeStatus::Recovering);
        out.sample("faultlab_node_up", &[("node", &n.name), ("role", &n.role)], f64::from(u8::from(up)));
    }
    out.family("faultlab_node_crashes_total", "counter", "Crashes of each node.");
    for n in &s.nodes {
        out.sample("faultlab_node_crashes_total", &[("node", &n.name)], n.crashes as f64);
    }

    out.family("faultlab_faults_injected_total", "counter", "Faults injected, by kind.");
    for (kind, n) in &s.faults_injected {
        out.sample("faultlab_faults_injected_total", &[("kind", kind)], *n as f64);
    }

    out.family("faultlab_failures_total", "counter", "Service failures (outages) so far.");
    out.sample("faultlab_failures_total", &[], v.failures as f64);
    out.family("faultlab_outage", "gauge", "1 while the service is in an outage.");
    out.sample("faultlab_outage", &[], f64::from(u8::from(v.in_outage)));

    out.family(
        "faultlab_recovery_seconds",
        "histogram",
        "Outage lengths, from the first failed request to the next correct one.",
    );
    out.seconds_histogram("faultlab_recovery_seconds", &v.recovery_seconds);

    if let Some(d) = &s.detector {
        out.family(
            "faultlab_detector_detection_seconds",
            "histogram",
            "Failure detection time: from a crash to the permanent suspicion that follows.",
        );
        out.seconds_histogram("faultlab_detector_detection_seconds", &d.detection_seconds);
        out.family(
            "faultlab_detector_false_suspicions_total",
            "counter",
            "Suspicions of nodes that were up (detector mistakes).",
        );
        out.sample("faultlab_detector_false_suspicions_total", &[], d.false_suspicions as f64);
    }

    if let Some(t) = &s.tmr {
        out.family("faultlab_tmr_votes_total", "counter", "Voter verdicts by result.");
        for (result, n) in
            [("unanimous", t.unanimous), ("majority", t.majority), ("no_majority", t.no_majority)]
        {
            out.sample("faultlab_tmr_votes_total", &[("result", result)], n as f64);
        }
        out.family("faultlab_tmr_state_transfers_total", "counter", "State transfers to restarted replicas.");
        out.sample("faultlab_tmr_state_transfers_total", &[], t.state_transfers as f64);
    }

    out.family("faultlab_run_elapsed_seconds", "gauge", "Time since the run started.");
    out.sample("faultlab_run_elapsed_seconds", &[], s.elapsed_seconds);
    out.family("faultlab_run_duration_seconds", "gauge", "The run's planned duration (0 when open-ended).");
    out.sample("faultlab_run_duration_seconds", &[], s.duration_seconds);
    out.family("faultlab_run_info", "gauge", "The running experiment; always 1.");
    let seed = s.seed.to_string();
    out.sample(
        "faultlab_run_info",
        &[("experiment", &s.experiment), ("backend", &s.backend), ("seed", &seed)],
        1.0,
    );
    out.text
}

/// A text-format document being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// The HELP and TYPE lines of a metric family.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A histogram of durations in seconds over [`RECOVERY_BUCKETS`].
    fn seconds_histogram(&mut self, name: &str, samples: &[f64]) {
        let buckets: Vec<(f64, u64)> = RECOVERY_BUCKETS
            .iter()
            .map(|le| (*le, samples.iter().filter(|r| **r <= *le).count() as u64))
            .collect();
        self.histogram(name, &buckets, samples.iter().sum(), samples.len() as u64);
    }

    /// `_bucket` lines (cumulative, ending in `+Inf` = count), `_sum` and `_count`.
    fn histogram(&mut self, name: &str, buckets: &[(f64, u64)], sum: f64, count: u64) {
        let bucket = format!("{name}_bucket");
        // Cumulative counts never go down, whatever the source says.
        let mut running = 0;
        for (le, n) in buckets {
            running = (*n).max(running).min(count);
            self.sample(&bucket, &[("le", &number(*le))], running as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], count as f64);
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count as f64);
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format asks.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value as the text format spells it (`+Inf`, `NaN`, shortest round-trip otherwise).
fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tui::snapshot::{NodeView, ServiceView, TmrView};

    #[test]
    fn label_values_and_numbers_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.00025), "0.00025");
        assert_eq!(number(3.0), "3");
        let s = Snapshot { experiment: "say \"hi\"".into(), ..Snapshot::default() };
        assert!(encode(&s)
            .contains("faultlab_run_info{experiment=\"say \\\"hi\\\"\",backend=\"\",seed=\"0\"} 1\n"));
    }

    #[test]
    fn histograms_are_cumulative_and_end_in_the_count() {
        let s = Snapshot {
            service: ServiceView {
                requests_ok: 10,
                latency_buckets: vec![1, 3, 3, 9, 10, 10, 10, 10, 10, 10, 10, 10],
                latency_sum_seconds: 0.012,
                recovery_seconds: vec![0.3, 2.0, 0.04],
                ..ServiceView::default()
            },
            ..Snapshot::default()
        };
        let text = encode(&s);
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.001\"} 9\n"));
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"+Inf\"} 10\n"));
        assert!(text.contains("faultlab_request_duration_seconds_count 10\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"2.5\"} 3\n"));
        assert!(text.contains("faultlab_recovery_seconds_count 3\n"));
        // No availability yet: the family is declared, the sample is absent.
        assert!(text.contains("# TYPE faultlab_availability_ratio gauge\n"));
        assert!(!text.contains("\nfaultlab_availability_ratio "));
        // No TMR workload: no votes.
        assert!(!text.contains("faultlab_tmr_votes_total"));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let s = Snapshot {
            nodes: vec![NodeView { name: "replica-1".into(), role: "replica".into(), ..NodeView::default() }],
            tmr: Some(TmrView::default()),
            faults_injected: vec![("crash".into(), 2)],
            ..Snapshot::default()
        };
        let text = encode(&s);
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix).filter(|f| declared.iter().any(|d| d == f)))
                    .unwrap_or(name);
                assert_eq!(declared.last().map(String::as_str), Some(family), "{line}");
                assert!(family.starts_with("faultlab_"));
            }
        }
        assert!(text.contains("faultlab_faults_injected_total{kind=\"crash\"} 2\n"));
    }
}
