//! The recorder's snapshot as Prometheus metric families: a `Collector` for
//! the `prometheus` crate's registry, which gathers (sorted, empty families
//! dropped) and encodes them in the text exposition format 0.0.4.
//!
//! The run's identity (run id, experiment, backend, seed) is on one info
//! metric, `faultlab_run_info`, and on no other series: queries join it with
//! `* on (instance, job) group_left (run_id, experiment) faultlab_run_info`,
//! as the Prometheus guide advises for such labels.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricType::{COUNTER, GAUGE, HISTOGRAM};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{Registry, TextEncoder};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tui::snapshot::{NodeStatus, RunState, Snapshot, LATENCY_BUCKETS};

/// Bucket bounds of the recovery- and detection-time histograms (seconds).
pub const RECOVERY_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// One metric family the exporter can serve.
struct Family {
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    /// Label names, in the order the values are given (`le` of histograms excluded).
    labels: &'static [&'static str],
}

const fn family(
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    labels: &'static [&'static str],
) -> Family {
    Family { name, kind, help, labels }
}

const REQUESTS: Family =
    family("faultlab_requests_total", COUNTER, "Client requests by outcome.", &["outcome"]);
const LATENCY: Family =
    family("faultlab_request_duration_seconds", HISTOGRAM, "Latency of correct replies.", &[]);
const AVAILABILITY: Family = family(
    "faultlab_availability_ratio",
    GAUGE,
    "Requests answered correctly within the deadline / requests sent, run so far.",
    &[],
);
const AVAILABILITY_RECENT: Family =
    family("faultlab_availability_recent_ratio", GAUGE, "Availability over the last 10 s.", &[]);
const AVAILABILITY_TIME: Family =
    family("faultlab_availability_time_ratio", GAUGE, "1 - outage time / elapsed time.", &[]);
const NODE_UP: Family = family(
    "faultlab_node_up",
    GAUGE,
    "1 when the node runs (recovering counts), 0 when down or paused.",
    &["node", "role"],
);
const NODE_CRASHES: Family =
    family("faultlab_node_crashes_total", COUNTER, "Crashes of each node.", &["node"]);
const FAULTS: Family =
    family("faultlab_faults_injected_total", COUNTER, "Faults injected, by kind.", &["kind"]);
const FAILURES: Family =
    family("faultlab_failures_total", COUNTER, "Service failures (outages) so far.", &[]);
const OUTAGE: Family = family("faultlab_outage", GAUGE, "1 while the service is in an outage.", &[]);
const RECOVERY: Family = family(
    "faultlab_recovery_seconds",
    HISTOGRAM,
    "Outage lengths, from the first failed request to the next correct one.",
    &[],
);
const SUSPICION: Family = family(
    "faultlab_detector_suspicion",
    GAUGE,
    "1 while the observer's failure detector suspects the target, 0 while it trusts it.",
    &["observer", "target"],
);
const DETECTION: Family = family(
    "faultlab_detector_detection_seconds",
    HISTOGRAM,
    "Failure detection time: from a crash to the permanent suspicion that follows (one sample per observer).",
    &[],
);
const FALSE_SUSPICIONS: Family = family(
    "faultlab_detector_false_suspicions_total",
    COUNTER,
    "Suspicions of nodes that were up (detector mistakes).",
    &[],
);
const TMR_VOTES: Family =
    family("faultlab_tmr_votes_total", COUNTER, "Voter verdicts by result.", &["result"]);
const TMR_TRANSFERS: Family =
    family("faultlab_tmr_state_transfers_total", COUNTER, "State transfers to restarted replicas.", &[]);
const ELAPSED: Family = family("faultlab_run_elapsed_seconds", GAUGE, "Time since the run started.", &[]);
const DURATION: Family = family(
    "faultlab_run_duration_seconds",
    GAUGE,
    "The run's planned duration, pauses included (0 when open-ended).",
    &[],
);
const RUN_INFO: Family = family(
    "faultlab_run_info",
    GAUGE,
    "The run being measured; always 1. Join on (instance, job) for its labels.",
    &["run_id", "experiment", "backend", "seed"],
);
const RUN_STATE: Family = family(
    "faultlab_run_state",
    GAUGE,
    "1 for the run's current state, 0 for the others; after the run, finished or interrupted.",
    &["state"],
);
const RUN_INVALID: Family = family(
    "faultlab_run_invalid",
    GAUGE,
    "1 once the run is invalid (an agent died or went silent outside a fault): its numbers prove nothing.",
    &[],
);
const HOST_STALLS: Family = family(
    "faultlab_host_stalls_total",
    COUNTER,
    "Times the orchestrator's or an agent's loop ran late (a busy host).",
    &[],
);

/// Every family, for the collector's descriptors.
const FAMILIES: [&Family; 22] = [
    &REQUESTS,
    &LATENCY,
    &AVAILABILITY,
    &AVAILABILITY_RECENT,
    &AVAILABILITY_TIME,
    &NODE_UP,
    &NODE_CRASHES,
    &FAULTS,
    &FAILURES,
    &OUTAGE,
    &RECOVERY,
    &SUSPICION,
    &DETECTION,
    &FALSE_SUSPICIONS,
    &TMR_VOTES,
    &TMR_TRANSFERS,
    &ELAPSED,
    &DURATION,
    &RUN_INFO,
    &RUN_STATE,
    &RUN_INVALID,
    &HOST_STALLS,
];

/// The states `faultlab_run_state` enumerates, with their label values.
const RUN_STATES: [(RunState, &str); 5] = [
    (RunState::Starting, "starting"),
    (RunState::Running, "running"),
    (RunState::Paused, "paused"),
    (RunState::Finished, "finished"),
    (RunState::Interrupted, "interrupted"),
];

/// The newest snapshot in a watch channel, collected on each scrape.
pub struct SnapshotCollector {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    descs: Vec<Desc>,
}

impl SnapshotCollector {
    /// A collector over `snapshots`; fails only if a family's description is malformed.
    pub fn new(snapshots: watch::Receiver<Arc<Snapshot>>) -> prometheus::Result<SnapshotCollector> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                let labels = f.labels.iter().map(|l| l.to_string()).collect();
                Desc::new(f.name.into(), f.help.into(), labels, HashMap::new())
            })
            .collect::<prometheus::Result<_>>()?;
        Ok(SnapshotCollector { snapshots, descs })
    }
}

impl Collector for SnapshotCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Clone the Arc and let the channel go: encoding never holds up the run.
        let snapshot = self.snapshots.borrow().clone();
        families(&snapshot)
    }
}

/// A registry holding a [`SnapshotCollector`] over `snapshots`.
pub fn registry(snapshots: watch::Receiver<Arc<Snapshot>>) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    registry.register(Box::new(SnapshotCollector::new(snapshots)?))?;
    Ok(registry)
}

/// What a scrape of `registry` returns, in the text format.
pub fn scrape(registry: &Registry) -> prometheus::Result<String> {
    TextEncoder::new().encode_to_string(&registry.gather())
}

/// One snapshot as a scrape would show it.
pub fn encode(s: &Snapshot) -> prometheus::Result<String> {
    let (_keep, rx) = watch::channel(Arc::new(s.clone()));
    scrape(&registry(rx)?)
}

/// The families of one snapshot, unsorted; a family with nothing to say has no metrics.
fn families(s: &Snapshot) -> Vec<MetricFamily> {
    let v = &s.service;
    let mut out = Families::default();

    for (outcome, n) in [("ok", v.requests_ok), ("failed", v.requests_failed), ("wrong", v.requests_wrong)] {
        out.sample(&REQUESTS, &[outcome], n as f64);
    }
    // The recorder's buckets are cumulative already; a short vector counts as zeros.
    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
        .iter()
        .enumerate()
        .map(|(i, le)| (*le, v.latency_buckets.get(i).copied().unwrap_or(0)))
        .collect();
    let count = v.latency_buckets.last().copied().unwrap_or(0).max(v.requests_ok);
    out.histogram(&LATENCY, &buckets, v.latency_sum_seconds, count);
    if let Some(a) = v.availability {
        out.sample(&AVAILABILITY, &[], a);
    }
    if let Some(a) = v.availability_recent {
        out.sample(&AVAILABILITY_RECENT, &[], a);
    }
    out.sample(&AVAILABILITY_TIME, &[], v.availability_time);
    out.sample(&FAILURES, &[], v.failures as f64);
    out.sample(&OUTAGE, &[], flag(v.in_outage));
    out.seconds_histogram(&RECOVERY, &v.recovery_seconds);

    for n in &s.nodes {
        let up = matches!(n.status, NodeStatus::Up | NodeStatus::Recovering);
        out.sample(&NODE_UP, &[&n.name, &n.role], flag(up));
        out.sample(&NODE_CRASHES, &[&n.name], n.crashes as f64);
    }
    for (kind, n) in &s.faults_injected {
        out.sample(&FAULTS, &[kind], *n as f64);
    }

    if let Some(matrix) = &s.suspicion {
        // Rows and columns are the nodes in order; a node never watches itself.
        for (i, observer) in s.nodes.iter().enumerate() {
            for (j, target) in s.nodes.iter().enumerate().filter(|(j, _)| *j != i) {
                let suspects = matrix.get(i).and_then(|row| row.get(j)).copied().unwrap_or(false);
                out.sample(&SUSPICION, &[&observer.name, &target.name], flag(suspects));
            }
        }
    }
    if let Some(d) = &s.detector {
        out.seconds_histogram(&DETECTION, &d.detection_seconds);
        out.sample(&FALSE_SUSPICIONS, &[], d.false_suspicions as f64);
    }

    if let Some(t) = &s.tmr {
        for (result, n) in
            [("unanimous", t.unanimous), ("majority", t.majority), ("no_majority", t.no_majority)]
        {
            out.sample(&TMR_VOTES, &[result], n as f64);
        }
        out.sample(&TMR_TRANSFERS, &[], t.state_transfers as f64);
    }

    out.sample(&ELAPSED, &[], s.elapsed_seconds);
    out.sample(&DURATION, &[], s.duration_seconds);
    let seed = s.seed.to_string();
    out.sample(&RUN_INFO, &[&s.run_id, &s.experiment, &s.backend, &seed], 1.0);
    for (state, name) in RUN_STATES {
        out.sample(&RUN_STATE, &[name], flag(s.run_state == state));
    }
    out.sample(&RUN_INVALID, &[], flag(s.invalid.is_some()));
    out.sample(&HOST_STALLS, &[], s.host_stalls as f64);

    for series in &s.series {
        out.series(series);
    }
    out.0
}

/// Whether `name` can be a metric name of the text format, and is none of the exporter's own.
fn workload_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    first
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && FAMILIES.iter().all(|f| f.name != name)
}

/// 1 for true, 0 for false.
fn flag(on: bool) -> f64 {
    f64::from(u8::from(on))
}

/// A sample value as it should read: -0.0 (the sum of no samples, say)
/// would be written `-0`, which a reader of a counter or a sum takes for a
/// bug; it is 0.
fn clean(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x
    }
}

/// Families being filled from one snapshot.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    /// The family `f`, created empty on first use.
    fn family(&mut self, f: &Family) -> &mut MetricFamily {
        let at = match self.0.iter().position(|m| m.name() == f.name) {
            Some(at) => at,
            None => {
                let mut m = MetricFamily::default();
                m.set_name(f.name.into());
                m.set_help(f.help.into());
                m.set_field_type(f.kind);
                self.0.push(m);
                self.0.len() - 1
            }
        };
        &mut self.0[at]
    }

    /// A metric of `f` labelled with `values` (in the order of `f.labels`).
    fn metric(f: &Family, values: &[&str]) -> proto::Metric {
        debug_assert_eq!(f.labels.len(), values.len(), "{}", f.name);
        let labels = f
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).into());
                pair.set_value((*value).into());
                pair
            })
            .collect();
        proto::Metric::from_label(labels)
    }

    /// One sample of a counter or gauge family.
    fn sample(&mut self, f: &Family, values: &[&str], value: f64) {
        let mut m = Self::metric(f, values);
        match f.kind {
            COUNTER => {
                let mut c = proto::Counter::default();
                c.set_value(clean(value));
                m.set_counter(c);
            }
            _ => {
                let mut g = proto::Gauge::default();
                g.set_value(clean(value));
                m.set_gauge(g);
            }
        }
        self.family(f).mut_metric().push(m);
    }

    /// One sample of a workload's own series; its family takes the kind and
    /// help of its first sample. A name that is not one, or that is one of
    /// the exporter's own families, is left out rather than corrupt the scrape.
    fn series(&mut self, s: &tui::snapshot::Series) {
        if !workload_name(&s.name) {
            return;
        }
        let labels = s
            .labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.clone());
                pair.set_value(value.clone());
                pair
            })
            .collect();
        let mut m = proto::Metric::from_label(labels);
        let at = match self.0.iter().position(|f| f.name() == s.name) {
            Some(at) => at,
            None => {
                let mut f = MetricFamily::default();
                f.set_name(s.name.clone());
                f.set_help(s.help.clone());
                f.set_field_type(if s.counter { COUNTER } else { GAUGE });
                self.0.push(f);
                self.0.len() - 1
            }
        };
        if self.0[at].get_field_type() == COUNTER {
            let mut c = proto::Counter::default();
            c.set_value(clean(s.value));
            m.set_counter(c);
        } else {
            let mut g = proto::Gauge::default();
            g.set_value(clean(s.value));
            m.set_gauge(g);
        }
        self.0[at].mut_metric().push(m);
    }

    /// A histogram of durations in seconds over [`RECOVERY_BUCKETS`].
    fn seconds_histogram(&mut self, f: &Family, samples: &[f64]) {
        let buckets: Vec<(f64, u64)> = RECOVERY_BUCKETS
            .iter()
            .map(|le| (*le, samples.iter().filter(|r| **r <= *le).count() as u64))
            .collect();
        self.histogram(f, &buckets, samples.iter().sum(), samples.len() as u64);
    }

    /// A histogram from cumulative bucket counts; the encoder adds `+Inf` = `count`.
    fn histogram(&mut self, f: &Family, buckets: &[(f64, u64)], sum: f64, count: u64) {
        // Cumulative counts never go down, nor past the count, whatever the source says.
        let mut running = 0;
        let buckets = buckets
            .iter()
            .map(|(le, n)| {
                running = (*n).max(running).min(count);
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*le);
                b.set_cumulative_count(running);
                b
            })
            .collect();
        let mut h = proto::Histogram::default();
        h.set_bucket(buckets);
        h.set_sample_sum(clean(sum));
        h.set_sample_count(count);
        let mut m = Self::metric(f, &[]);
        m.set_histogram(h);
        self.family(f).mut_metric().push(m);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tui::snapshot::{DetectorView, NodeView, ServiceView, TmrView};

    fn node(name: &str, role: &str) -> NodeView {
        NodeView { name: name.into(), role: role.into(), ..NodeView::default() }
    }

    /// A snapshot with every optional part present.
    fn full() -> Snapshot {
        Snapshot {
            experiment: "heartbeat-crash-detection".into(),
            run_id: "00c0ffee0042".into(),
            backend: "process".into(),
            seed: 7,
            run_state: RunState::Running,
            nodes: vec![node("node-1", "node"), node("node-2", "node"), node("node-3", "node")],
            service: ServiceView {
                availability: Some(1.0),
                availability_recent: Some(1.0),
                ..Default::default()
            },
            tmr: Some(TmrView::default()),
            suspicion: Some(vec![vec![false, true, false], vec![false; 3], vec![false, true, false]]),
            detector: Some(DetectorView { false_suspicions: 1, detection_seconds: vec![0.45, 0.48] }),
            faults_injected: vec![("crash".into(), 2)],
            invalid: Some("an agent died".into()),
            host_stalls: 3,
            ..Snapshot::default()
        }
    }

    #[test]
    fn every_family_is_described_with_its_type_and_labels() {
        let collector = SnapshotCollector::new(watch::channel(Arc::new(full())).1).unwrap();
        let described: Vec<&str> = collector.desc().iter().map(|d| d.fq_name.as_str()).collect();
        let collected = collector.collect();
        assert_eq!(collected.len(), FAMILIES.len(), "a full snapshot fills every family");
        for mf in &collected {
            let f = FAMILIES.iter().find(|f| f.name == mf.name()).unwrap();
            assert!(described.contains(&f.name));
            assert_eq!(mf.get_field_type(), f.kind, "{}", f.name);
            assert!(f.name.starts_with("faultlab_"));
            for m in mf.get_metric() {
                let names: Vec<&str> = m.get_label().iter().map(|l| l.name()).collect();
                assert_eq!(names, f.labels, "{}", f.name);
            }
        }
    }

    #[test]
    fn label_values_are_escaped_and_run_identity_is_on_the_info_metric_only() {
        let s = Snapshot { experiment: "say \"hi\"\n".into(), ..full() };
        let text = encode(&s).unwrap();
        assert!(
            text.contains(
                "faultlab_run_info{run_id=\"00c0ffee0042\",experiment=\"say \\\"hi\\\"\\n\",backend=\"process\",seed=\"7\"} 1\n"
            ),
            "{text}"
        );
        let labelled = text.lines().filter(|l| l.contains("run_id=") || l.contains("experiment=")).count();
        assert_eq!(labelled, 1, "only faultlab_run_info carries the run's identity");
    }

    #[test]
    fn no_sample_reads_minus_zero() {
        // The sum of no recovery times is -0.0 in Rust; negative zeros from
        // arithmetic anywhere else must not show either.
        assert!([0.0f64; 0].iter().sum::<f64>().is_sign_negative(), "the case this guards against");
        let mut s = full();
        s.detector = Some(DetectorView { false_suspicions: 0, detection_seconds: vec![] });
        s.service.latency_sum_seconds = -0.0;
        s.service.availability_time = -0.0;
        s.elapsed_seconds = -0.0;
        let text = encode(&s).unwrap();
        assert!(text.contains("faultlab_recovery_seconds_sum 0\n"), "{text}");
        assert!(text.contains("faultlab_detector_detection_seconds_sum 0\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(!line.ends_with(" -0"), "{line}");
        }
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
        let text = encode(&s).unwrap();
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.001\"} 9\n"));
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"+Inf\"} 10\n"));
        assert!(text.contains("faultlab_request_duration_seconds_count 10\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("faultlab_recovery_seconds_bucket{le=\"2.5\"} 3\n"));
        assert!(text.contains("faultlab_recovery_seconds_count 3\n"));
        // No availability yet, no TMR workload, no detector: no such family.
        assert!(!text.contains("faultlab_availability_ratio"));
        assert!(!text.contains("faultlab_tmr_votes_total"));
        assert!(!text.contains("faultlab_detector_"));
    }

    #[test]
    fn a_bucket_count_past_the_total_is_capped_and_never_goes_down() {
        let s = Snapshot {
            service: ServiceView {
                requests_ok: 4,
                latency_buckets: vec![2, 1, 9, 4, 4, 4, 4, 4, 4, 4, 4, 4],
                ..ServiceView::default()
            },
            ..Snapshot::default()
        };
        let text = encode(&s).unwrap();
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.00025\"} 2\n"), "{text}");
        assert!(text.contains("faultlab_request_duration_seconds_bucket{le=\"0.0005\"} 4\n"), "{text}");
    }

    #[test]
    fn the_suspicion_matrix_has_one_series_per_ordered_pair_of_nodes() {
        let text = encode(&full()).unwrap();
        let pairs: Vec<&str> =
            text.lines().filter(|l| l.starts_with("faultlab_detector_suspicion{")).collect();
        assert_eq!(pairs.len(), 6, "3 nodes, no self-suspicion: {pairs:?}");
        assert!(pairs.contains(&"faultlab_detector_suspicion{observer=\"node-1\",target=\"node-2\"} 1"));
        assert!(pairs.contains(&"faultlab_detector_suspicion{observer=\"node-3\",target=\"node-2\"} 1"));
        assert!(pairs.contains(&"faultlab_detector_suspicion{observer=\"node-2\",target=\"node-1\"} 0"));
        assert!(text.contains("faultlab_detector_false_suspicions_total 1\n"));
        assert!(text.contains("faultlab_detector_detection_seconds_bucket{le=\"0.5\"} 2\n"));
    }

    #[test]
    fn the_run_state_is_one_hot_and_invalidity_and_stalls_show() {
        let text = encode(&Snapshot { run_state: RunState::Finished, ..full() }).unwrap();
        let states: Vec<&str> = text.lines().filter(|l| l.starts_with("faultlab_run_state{")).collect();
        assert_eq!(states.len(), RUN_STATES.len());
        assert_eq!(
            states.iter().filter(|l| l.ends_with(" 1")).collect::<Vec<_>>(),
            [&"faultlab_run_state{state=\"finished\"} 1"]
        );
        assert!(text.contains("faultlab_run_invalid 1\n"));
        assert!(text.contains("faultlab_host_stalls_total 3\n"));
    }
}
