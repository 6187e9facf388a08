//! Rebuilding report.json from events.jsonl, for a run whose orchestrator
//! died before writing it (SIGKILL, power loss). The event log holds the
//! request windows, outages, faults, node states and recoveries, so the
//! request counts, availability, outages, MTTF/MTTR and the fault list come
//! back; latency percentiles and workload sections (detector, checkpointing,
//! commit, ...) are not in the log and stay null. The report says so in
//! `rebuilt`.

use super::intervals;
use super::outage::Outage;
use crate::report::{
    FaultRecord, Incident, Latency, NodeRecord, Recovery, Report, Requests, RunFailure, Tmr,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn num(e: &Value, k: &str) -> Option<f64> {
    e.get(k).and_then(Value::as_f64)
}

fn count(e: &Value, k: &str) -> u64 {
    e.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn string(e: &Value, k: &str) -> String {
    e.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The report that can be rebuilt from a run's events, as report.json's
/// JSON with a `rebuilt` object saying what it lacks.
pub fn rebuild(events: &[Value]) -> Value {
    let mut report = Report {
        experiment: String::new(),
        concept: None,
        seed: 0,
        backend: String::new(),
        run_id: String::new(),
        duration_seconds: 0.0,
        planned_seconds: 0.0,
        paused_seconds: 0.0,
        interrupted: true,
        not_judged: None,
        control: None,
        valid: true,
        run_failures: Vec::new(),
        availability_model_with_restart: None,
        failures_excluding_host_stalls: 0,
        host_stalls: Vec::new(),
        requests: Requests::default(),
        throughput_per_second: 0.0,
        latency_seconds: Latency::default(),
        availability: None,
        availability_ci: None,
        availability_time: None,
        availability_time_ci: None,
        availability_model: None,
        availability_exponential_ci: None,
        failures: 0,
        mttf_seconds: None,
        mttf_ci: None,
        mttr_seconds: None,
        mttr_ci: None,
        mttf_lower_bound_seconds: None,
        intervals: None,
        schedule_drawn: None,
        recovery_seconds: Recovery::default(),
        faults: Vec::new(),
        skipped_faults: Vec::new(),
        nodes: Vec::new(),
        detector: None,
        tmr: None,
        linearizability: None,
        sections: super::section::Sections::none(),
        repeat: None,
        expect: Vec::new(),
    };
    let mut planned = None;
    let mut ended = None;
    let mut last_t: f64 = 0.0;
    let mut tmr = Tmr::default();
    let mut windows: Vec<(f64, f64)> = Vec::new();
    let mut outages: Vec<Outage> = Vec::new();
    let mut open: Option<f64> = None;
    // Per node: (role unknown, state, since, down seconds, crashes, recoveries).
    let mut nodes: BTreeMap<String, (bool, f64, f64, u64, u64)> = BTreeMap::new();
    let mut records: BTreeMap<usize, usize> = BTreeMap::new();
    for e in events {
        let t = num(e, "t");
        if let Some(t) = t {
            last_t = last_t.max(t);
        }
        match e.get("type").and_then(Value::as_str).unwrap_or("") {
            "run_started" => {
                report.experiment = string(e, "experiment");
                report.backend = string(e, "backend");
                report.seed = count(e, "seed");
                planned = num(e, "duration_seconds");
            }
            "run_ended" => {
                ended = t;
                report.interrupted = e.get("interrupted").and_then(Value::as_bool).unwrap_or(true);
            }
            "window" => {
                let (sent, ok) = (count(e, "sent"), count(e, "ok"));
                report.requests.total += sent;
                report.requests.ok += ok;
                report.requests.failed += count(e, "failed");
                report.requests.wrong += count(e, "wrong");
                tmr.unanimous += count(e, "unanimous");
                tmr.majority += count(e, "majority");
                tmr.no_majority += count(e, "no_majority");
                if let Some(t) = t {
                    last_t = last_t.max(t + super::WINDOW.as_secs_f64());
                    let idx = (t / super::WINDOW.as_secs_f64()).round() as usize;
                    if idx < 10_000_000 {
                        if windows.len() <= idx {
                            windows.resize(idx + 1, (0.0, 0.0));
                        }
                        windows[idx].0 += ok as f64;
                        windows[idx].1 += sent as f64;
                    }
                }
            }
            "outage_started" => open = t,
            "outage_ended" => {
                if let (Some(start), Some(end)) = (num(e, "start"), t) {
                    outages.push(Outage { start, end, failed: 0 });
                }
                open = None;
            }
            "fault_started" => {
                let fault = count(e, "fault") as usize;
                records.insert(fault, report.faults.len());
                report.faults.push(FaultRecord {
                    fault,
                    kind: string(e, "kind"),
                    target: string(e, "target"),
                    at_seconds: t,
                    ..FaultRecord::default()
                });
            }
            "fault_ended" => {
                let fault = count(e, "fault") as usize;
                if let Some(r) = records.get(&fault).and_then(|&i| report.faults.get_mut(i)) {
                    r.until_seconds = t;
                }
            }
            "fault_skipped" => report.skipped_faults.push(FaultRecord {
                fault: count(e, "fault") as usize,
                kind: string(e, "kind"),
                target: string(e, "target"),
                ..FaultRecord::default()
            }),
            "run_invalid" => {
                report.valid = false;
                report.run_failures.push(RunFailure {
                    t: t.unwrap_or(0.0),
                    node: e.get("node").and_then(Value::as_str).map(str::to_string),
                    reason: string(e, "reason"),
                });
            }
            "node_state" => {
                let n = nodes.entry(string(e, "node")).or_insert((true, 0.0, 0.0, 0, 0));
                let t = t.unwrap_or(n.1);
                let up = e.get("state").and_then(Value::as_str) == Some("up");
                if !n.0 {
                    n.2 += t - n.1;
                }
                if e.get("state").and_then(Value::as_str) == Some("down") {
                    n.3 += 1;
                }
                n.0 = up;
                n.1 = t;
            }
            "recovery_completed" => {
                tmr.state_transfers += 1;
                if let Some(n) = nodes.get_mut(&string(e, "node")) {
                    n.4 += 1;
                }
            }
            _ => {}
        }
    }
    let end = ended.unwrap_or_else(|| planned.map_or(last_t, |p| last_t.min(p)));
    let open_at_end = open.is_some();
    if let Some(start) = open {
        outages.push(Outage { start, end: end.max(start), failed: 0 });
    }
    report.duration_seconds = end;
    report.nodes = nodes
        .into_iter()
        .map(|(name, (up, since, down, crashes, recoveries))| NodeRecord {
            name,
            role: String::new(),
            crashes,
            recoveries,
            down_seconds: down + if up { 0.0 } else { (end - since).max(0.0) },
        })
        .collect();
    if report.requests.total > 0 {
        let q = &report.requests;
        let outage_time: f64 = outages.iter().map(|o| o.end - o.start).sum();
        let failures = outages.len() as u64;
        report.availability = Some(q.ok as f64 / q.total as f64);
        report.availability_time =
            Some(if end > 0.0 { (1.0 - outage_time / end).clamp(0.0, 1.0) } else { 1.0 });
        report.throughput_per_second = if end > 0.0 { q.ok as f64 / end } else { 0.0 };
        report.failures = failures;
        report.failures_excluding_host_stalls = failures;
        if failures == 0 {
            report.mttf_lower_bound_seconds = Some(end / (1.0f64 / 0.05).ln());
        } else {
            report.mttf_seconds = Some((end - outage_time) / failures as f64);
            report.mttr_seconds = Some(outage_time / failures as f64);
        }
        let ci = intervals::run_intervals(&outages, open_at_end, end, &windows);
        report.availability_ci = ci.availability;
        report.availability_time_ci = ci.availability_time;
        report.mttf_ci = ci.mttf;
        report.mttr_ci = ci.mttr;
        report.availability_exponential_ci = ci.availability_exponential;
        report.intervals = Some(intervals::methods());
        let incidents: Vec<Incident> = outages
            .iter()
            .map(|o| {
                let cause = report
                    .faults
                    .iter()
                    .filter(|f| f.at_seconds.is_some_and(|a| a <= o.start + super::CAUSE_GRACE))
                    .max_by(|a, b| a.at_seconds.unwrap_or(0.0).total_cmp(&b.at_seconds.unwrap_or(0.0)));
                // Requests are known per 100 ms window only: those of the windows the outage covers.
                let w = super::WINDOW.as_secs_f64();
                let failed = (((o.start / w + 1e-9).floor() as usize)..((o.end / w - 1e-9).ceil() as usize))
                    .filter_map(|k| windows.get(k))
                    .map(|(ok, sent)| (sent - ok) as u64)
                    .sum();
                Incident {
                    start: o.start,
                    end: o.end,
                    seconds: o.end - o.start,
                    detection: None,
                    failover: None,
                    restore: None,
                    catch_up: None,
                    down: None,
                    restart: None,
                    recovered_node: None,
                    fault: cause.map(|f| f.fault),
                    fault_to_outage: cause.and_then(|f| f.at_seconds).map(|a| (o.start - a).max(0.0)),
                    cause: if cause.is_some() { "fault" } else { "none" }.to_string(),
                    host_stall: false,
                    failed_requests: failed,
                }
            })
            .collect();
        let mut secs: Vec<f64> = incidents.iter().map(|i| i.seconds).collect();
        secs.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let idx = ((p * secs.len() as f64).ceil() as usize).clamp(1, secs.len().max(1)) - 1;
            secs.get(idx).copied()
        };
        report.recovery_seconds = Recovery {
            count: incidents.len(),
            p50: pct(0.5),
            p95: pct(0.95),
            max: secs.last().copied(),
            incidents,
        };
    }
    if tmr != Tmr::default() {
        report.tmr = Some(tmr);
    }
    let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut value {
        m.insert(
            "rebuilt".into(),
            json!({
                "from": "events.jsonl",
                "complete": ended.is_some(),
                "why": if ended.is_some() {
                    "report.json was missing; the run had ended"
                } else {
                    "the run did not end (no run_ended event): its orchestrator died; numbers run to the last event"
                },
                "missing": "latency, incident breakdown, workload sections (detector, checkpointing, byzantine, commit, rpc), node roles, expectations",
            }),
        );
    }
    value
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_log_cut_short_gives_counts_outages_and_faults_marked_incomplete() {
        let mut events = vec![
            json!({"type": "run_started", "t": 0.0, "experiment": "x", "backend": "process", "seed": 7, "duration_seconds": 30.0}),
        ];
        for k in 0..50 {
            let ok = if (20..30).contains(&k) { 0 } else { 10 };
            events.push(json!({"type": "window", "t": k as f64 / 10.0, "sent": 10, "ok": ok, "failed": 10 - ok, "wrong": 0, "unanimous": ok, "majority": 0, "no_majority": 10 - ok}));
        }
        events.push(
            json!({"type": "fault_started", "t": 1.99, "fault": 0, "kind": "crash", "target": "replica-1"}),
        );
        events.push(json!({"type": "node_state", "t": 2.0, "node": "replica-1", "state": "down"}));
        events.push(json!({"type": "outage_started", "t": 2.0}));
        events.push(json!({"type": "outage_ended", "t": 3.0, "start": 2.0, "seconds": 1.0}));
        events.push(json!({"type": "node_state", "t": 2.9, "node": "replica-1", "state": "up"}));
        events.push(
            json!({"type": "fault_ended", "t": 2.9, "fault": 0, "kind": "crash", "target": "replica-1"}),
        );
        let r = rebuild(&events);
        assert_eq!(r["rebuilt"]["complete"], json!(false));
        assert_eq!(r["experiment"], json!("x"));
        assert_eq!(r["seed"], json!(7));
        assert_eq!(r["interrupted"], json!(true));
        assert_eq!(r["duration_seconds"], json!(5.0), "up to the last window's end");
        assert_eq!(r["requests"]["total"], json!(500));
        assert_eq!(r["requests"]["ok"], json!(400));
        assert_eq!(r["availability"], json!(0.8));
        assert_eq!(r["failures"], json!(1));
        assert_eq!(r["recovery_seconds"]["incidents"][0]["fault"], json!(0));
        assert_eq!(r["recovery_seconds"]["incidents"][0]["failed_requests"], json!(100));
        assert_eq!(r["faults"][0]["until_seconds"], json!(2.9));
        assert_eq!(r["nodes"][0]["crashes"], json!(1));
        assert!((r["nodes"][0]["down_seconds"].as_f64().unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(r["tmr"]["no_majority"], json!(100));
        assert!(r["availability_time_ci"].is_array());
    }

    #[test]
    fn an_ended_log_is_complete_and_a_log_without_requests_has_no_availability() {
        let events = vec![
            json!({"type": "run_started", "t": 0.0, "experiment": "hb", "backend": "process", "seed": 1, "duration_seconds": 5.0}),
            json!({"type": "run_ended", "t": 5.0, "interrupted": false}),
        ];
        let r = rebuild(&events);
        assert_eq!(r["rebuilt"]["complete"], json!(true));
        assert_eq!(r["interrupted"], json!(false));
        assert_eq!(r["availability"], Value::Null);
        assert_eq!(r["availability_time"], Value::Null);
        assert_eq!(r["mttf_lower_bound_seconds"], Value::Null);
    }
}
