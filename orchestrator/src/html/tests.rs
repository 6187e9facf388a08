#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use scraper::{Html, Selector};
use serde_json::json;

fn synthetic() -> (Value, Vec<Value>) {
    let mut report = json!({
        "experiment": "tmr-demo",
        "concept": "k-fault tolerance <3>",
        "seed": 1, "backend": "process", "run_id": "abc", "duration_seconds": 2.0, "interrupted": false,
        "planned_seconds": 2.0, "paused_seconds": 0.0, "not_judged": null, "valid": true,
        "requests": {"total": 200, "ok": 190, "failed": 10, "wrong": 0},
        "throughput_per_second": 95.0,
        "latency_seconds": {"p50": 0.001, "p99": 0.004, "max": 0.01},
        "availability": 0.95, "availability_ci": [0.9, 0.97], "availability_time": 0.9, "availability_model": null,
        "failures": 1, "mttf_seconds": 1.8, "mttf_ci": [0.5, 9.0], "mttr_seconds": 0.2, "mttr_ci": null,
        "mttf_lower_bound_seconds": null, "availability_exponential_ci": [0.7, 0.99],
    });
    let parts = json!({
        "recovery_seconds": {"count": 1, "p50": 0.2, "p95": 0.2, "max": 0.2, "incidents": [
            {"start": 1.0, "end": 1.2, "seconds": 0.2, "detection": null, "failover": null, "restore": 0.05,
             "catch_up": null, "fault": 0, "fault_to_outage": 0.0, "failed_requests": 10}]},
        "faults": [
            {"fault": 0, "kind": "crash", "target": "replica-1", "at_seconds": 0.5, "until_seconds": 1.5,
             "scheduled_seconds": 0.5},
            {"fault": 1, "kind": "omission", "target": "replica-2", "at_seconds": 1.0, "until_seconds": null,
             "scheduled_seconds": null}],
        "nodes": [{"name": "replica-1", "role": "replica", "crashes": 1, "recoveries": 1, "down_seconds": 1.0},
                  {"name": "voter-1", "role": "voter", "crashes": 0, "recoveries": 0, "down_seconds": 0.0}],
    });
    let more = json!({
        "detector": {"false_suspicions": 3, "detection_seconds": {"p50": 0.3}, "pairs": [{"monitor": "a", "peer": "b", "td": 0.3}]},
        "tmr": {"unanimous": 150, "majority": 40, "no_majority": 10, "state_transfers": 1},
        "checkpointing": null,
        "brand_new_workload": {"duplicates": 7},
        "repeat": null,
        "expect": [
            {"metric": "availability", "condition": ">= 0.9", "value": 0.95, "judged": true, "passed": true},
            {"metric": "requests.wrong", "condition": "> 0", "value": 0.0, "judged": true, "passed": false}],
    });
    for (k, v) in parts.as_object().unwrap().iter().chain(more.as_object().unwrap()) {
        report[k] = v.clone();
    }
    let mut events = vec![
        json!({"type": "run_started", "t": 0.0, "experiment": "tmr-demo", "backend": "process", "seed": 1, "duration_seconds": 2.0}),
    ];
    for k in 0..20 {
        let t = k as f64 * 0.1;
        let ok = if (10..12).contains(&k) { 5 } else { 10 };
        events.push(json!({"type": "window", "t": t, "sent": 10, "ok": ok, "failed": 10 - ok, "wrong": 0,
            "unanimous": ok, "majority": 0, "no_majority": 0}));
    }
    events.push(json!({"type": "window", "t": 2.0, "sent": 0, "ok": 0, "failed": 0, "wrong": 0, "unanimous": 0, "majority": 0, "no_majority": 0}));
    events
        .push(json!({"type": "fault_started", "t": 0.5, "fault": 0, "kind": "crash", "target": "replica-1"}));
    events.push(json!({"type": "node_state", "t": 0.5, "node": "replica-1", "state": "down"}));
    events.push(
        json!({"type": "fault_started", "t": 1.0, "fault": 1, "kind": "omission", "target": "replica-2"}),
    );
    events.push(json!({"type": "outage_started", "t": 1.0}));
    events.push(json!({"type": "outage_ended", "t": 1.2, "start": 1.0, "seconds": 0.2}));
    events.push(json!({"type": "fault_ended", "t": 1.5, "fault": 0, "kind": "crash", "target": "replica-1"}));
    events.push(json!({"type": "node_state", "t": 1.5, "node": "replica-1", "state": "up"}));
    (report, events)
}

/// An interrupted run whose schedule was paused: 17 s on the wall clock, 5 s of them paused.
fn interrupted() -> Value {
    let (mut r, _) = synthetic();
    r["duration_seconds"] = json!(17.0);
    r["planned_seconds"] = json!(30.0);
    r["paused_seconds"] = json!(5.0);
    r["interrupted"] = json!(true);
    r["not_judged"] = json!("the run was interrupted at 12.0 s of 30.0 s");
    for e in r["expect"].as_array_mut().unwrap() {
        e["judged"] = json!(false);
        e["passed"] = json!(false);
    }
    r
}

fn repeated() -> Value {
    json!({
        "experiment": "x", "duration_seconds": 45.0, "interrupted": false, "valid": true, "not_judged": null,
        "runs_planned": 3,
        "runs": [
            {"run": 1, "seed": 11, "dir": "/tmp/out/run-001", "availability": 0.999, "failures": 1,
             "first_failure_seconds": 12.0, "interrupted": false, "valid": true, "passed": true},
            {"run": 2, "seed": 12, "dir": "/tmp/out/run-002", "availability": 0.9995, "failures": 0,
             "first_failure_seconds": null, "interrupted": false, "valid": true, "passed": true},
            {"run": 3, "seed": 13, "dir": "/tmp/out/run-003", "availability": 1.0, "failures": 1,
             "first_failure_seconds": 30.0, "interrupted": false, "valid": true, "passed": false}],
        "repeat": {"runs": 3, "failures": 2, "band": "log-log", "mttf_seconds": 9.0, "mttf_ci": [3.0, 40.0],
            "mttf_zero_failure_bound": false, "mttf_ci_valid": false,
            "reliability_curve": [{"t": 0.0, "r": 1.0, "lo": 1.0, "hi": 1.0}, {"t": 12.0, "r": 0.66, "lo": 0.2, "hi": 0.9},
                                  {"t": 30.0, "r": 0.33, "lo": 0.05, "hi": 0.7}, {"t": 45.0, "r": 0.33, "lo": 0.05, "hi": 0.7}],
            "availability": {"mean": 0.9995, "min": 0.999, "max": 1.0, "stddev": 0.0005, "n": 3},
            "tmr_model": {"replicas": ["replica-1", "replica-2", "replica-3"], "replica_failures": 6,
                "replica_exposure_seconds": 70.0, "lambda_per_second": 0.085, "nominal_replica_mttf_seconds": 10.0,
                "replica_mttf_seconds": 11.7, "replica_mttf_ci": [5.0, 30.0],
                "replica_curve": [{"t": 0.0, "r": 1.0}, {"t": 3.0, "r": 0.8}]}},
        "expect": [{"metric": "repeat.runs", "condition": ">= 3", "value": 3.0, "judged": true, "passed": true}],
    })
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn texts(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s)).map(|e| e.text().collect::<String>()).collect()
}

/// Every px size in the page's CSS and inline styles.
fn font_sizes(doc: &Html) -> Vec<f64> {
    let mut css: String = texts(doc, "style").concat();
    for e in doc.select(&sel("[style]")) {
        css.push(';');
        css.push_str(e.value().attr("style").unwrap());
    }
    let mut sizes = Vec::new();
    for key in ["font-size:", "font:"] {
        for (i, _) in css.match_indices(key) {
            let rest = &css[i + key.len()..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let unit = &rest[digits.len()..];
            assert!(unit.starts_with("px"), "a font size in px: {}", &rest[..rest.len().min(30)]);
            sizes.push(digits.parse::<f64>().unwrap());
        }
    }
    sizes
}

/// A word of the form `a_b`: a report key shown raw.
fn snake_case_word(s: &str) -> Option<&str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|w| w.contains('_') && w.split('_').all(|p| !p.is_empty()))
}

#[test]
fn every_font_is_at_least_14px() {
    let (report, events) = synthetic();
    for page in [render(&report, &events), render(&repeated(), &[]), render(&interrupted(), &events)] {
        let doc = Html::parse_document(&page);
        let sizes = font_sizes(&doc);
        assert!(sizes.len() >= 5, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s >= 14.0), "{sizes:?}");
        assert!(doc.select(&sel("[font-size]")).next().is_none(), "no font-size attribute in the SVGs");
    }
}

#[test]
fn numbers_read_as_words_with_units() {
    let (mut report, events) = synthetic();
    report["mttf_seconds"] = json!(null);
    report["mttf_ci"] = json!(null);
    report["mttf_lower_bound_seconds"] = json!(23.4);
    let doc = Html::parse_document(&render(&report, &events));
    let cells = texts(&doc, "table.numbers th, table.numbers td");
    assert!(cells.len() > 10, "{cells:?}");
    for c in &cells {
        assert!(snake_case_word(c).is_none(), "raw key in the Numbers table: {c}");
    }
    let row = |label: &str| {
        let i =
            cells.iter().position(|c| c.starts_with(label)).unwrap_or_else(|| panic!("{label}: {cells:?}"));
        cells[i + 1].clone()
    };
    assert_eq!(row("MTTF at least"), "23.4 s");
    assert_eq!(row("mean time to repair"), "0.2 s");
    assert_eq!(row("availability, by requests"), "0.95 (95 %), 95% interval [0.9, 0.97]");
    assert_eq!(row("correct replies"), "95 per second");
    assert_eq!(row("steady-state availability"), "95% interval [0.7, 0.99]");
    assert_eq!(row("mean time to failure"), "does not apply");
    assert!(
        !cells.iter().any(|c| c.contains("interval") && c.starts_with("MTTF")),
        "an interval with its metric"
    );
}

#[test]
fn counts_take_their_plural() {
    let (mut report, events) = synthetic();
    let one = Html::parse_document(&render(&report, &events));
    let recovery = texts(&one, "h2 + p").concat();
    assert!(recovery.contains("1 outage;"), "{recovery}");
    let incident = report["recovery_seconds"]["incidents"][0].clone();
    report["recovery_seconds"]["incidents"] = json!([incident.clone(), incident]);
    let page = render(&report, &events);
    assert!(page.contains("2 outages;"), "{page}");
    assert!(!page.contains("1 outages"));
    let header = texts(&Html::parse_document(&render(&repeated(), &[])), "p.sub").concat();
    assert!(header.contains("3 runs"), "{header}");
}

#[test]
fn an_interrupted_run_says_so_in_its_header_and_never_shows_green() {
    let (_, events) = synthetic();
    let doc = Html::parse_document(&render(&interrupted(), &events));
    let alert = texts(&doc, "p.alert").concat();
    assert!(alert.contains("Interrupted at 12 s of 30 s"), "{alert}");
    let warn = texts(&doc, "p.warn").concat();
    assert!(warn.contains("Schedule paused 5 s") && warn.contains("17 s in all"), "{warn}");
    let verdict = texts(&doc, "h2").into_iter().find(|h| h.starts_with("Expectations")).unwrap();
    assert!(verdict.contains("not judged: the run was interrupted at 12.0 s of 30.0 s"), "{verdict}");
    assert!(doc.select(&sel(".pass")).next().is_none(), "nothing green");
    assert!(!texts(&doc, "body").concat().contains("all hold"));
    // A report from before `not_judged`, or an invalid one: not green either.
    let mut old = interrupted();
    old.as_object_mut().unwrap().remove("not_judged");
    for e in old["expect"].as_array_mut().unwrap() {
        e["passed"] = json!(true);
    }
    let page = render(&old, &events);
    assert!(!page.contains("all hold") && !page.contains("class=\"pass\""), "{page}");
    let (mut invalid, _) = synthetic();
    invalid["valid"] = json!(false);
    invalid["run_failures"] = json!([{"t": 1.0, "node": "replica-2", "reason": "agent replica-2 died"}]);
    invalid["expect"][1]["passed"] = json!(true);
    let doc = Html::parse_document(&render(&invalid, &events));
    assert!(texts(&doc, "p.alert").concat().contains("Invalid run (agent replica-2 died)"));
    assert!(doc.select(&sel(".pass")).next().is_none());
}

#[test]
fn a_control_run_says_so_in_its_header() {
    let (mut report, events) = synthetic();
    report["control"] = json!("control run: faults removed");
    let doc = Html::parse_document(&render(&report, &events));
    assert!(texts(&doc, "p.warn")
        .concat()
        .contains("A fault-free control run: the file's faults were removed"));
    assert!(!texts(&doc, "table.numbers th").iter().any(|t| t.contains("control")));
}

#[test]
fn faults_with_no_end_last_for_the_rest_of_the_run() {
    let (report, events) = synthetic();
    let page = render(&report, &events);
    assert!(page.contains("omission replica-2 (by hand) from 1 s for the rest of the run"), "{page}");
    assert!(page.contains("crash replica-1 from 0.5 s to 1.5 s"));
    let doc = Html::parse_document(&page);
    let cells = texts(&doc, "td");
    assert!(cells.iter().any(|c| c == "for the rest of the run"));
    assert!(cells.iter().any(|c| c == "by hand"));
    assert!(!page.contains("to the end"));
}

#[test]
fn the_tmr_model_is_drawn_as_smooth_curves_beside_the_measured_one() {
    let doc = Html::parse_document(&render(&repeated(), &[]));
    let tmr = doc.select(&sel("path.model-tmr")).next().expect("the TMR model curve");
    let d = tmr.value().attr("d").unwrap();
    assert!(d.matches('L').count() >= 200, "a smooth curve, not steps: {d}");
    // At t = 0 both models start at R = 1 (the frame's top), and R_TMR(λt = 4.5) is far below.
    let first: Vec<f64> = d[1..].split(' ').next().unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(first[1], 14.0);
    assert!(doc.select(&sel("path.model-replica")).next().is_some());
    assert!(doc.select(&sel("polyline.curve")).next().is_some(), "the measured Kaplan–Meier curve");
    let legend = texts(&doc, "p.legend").concat();
    assert!(legend.contains("3e^(−2λt) − 2e^(−3λt)") && legend.contains("e^(−λt)"), "{legend}");
    assert!(legend.contains("λ = 1/10 s, the file's crash schedule"), "{legend}");
}

#[test]
fn a_series_links_each_run_to_its_page() {
    let doc = Html::parse_document(&render(&repeated(), &[]));
    let links: Vec<&str> = doc.select(&sel("table.runs a")).filter_map(|a| a.value().attr("href")).collect();
    assert_eq!(links, ["run-001/report.html", "run-002/report.html", "run-003/report.html"]);
    // Per-run availabilities on an axis zoomed to their range, labelled so.
    let axis = texts(&doc, "svg text.axis").concat();
    assert!(axis.contains("ok / sent (zoomed)"), "{axis}");
}

#[test]
fn availability_axis_is_zoomed_or_in_nines_and_says_which() {
    let (report, mut events) = synthetic();
    // Windows at 50 %: nines.
    let doc = Html::parse_document(&render(&report, &events));
    assert!(texts(&doc, "svg text.axis").concat().contains("ok / sent (nines)"));
    let ticks = texts(&doc, "svg text.tick");
    // Ten requests a window: one nine is the most short of 100 %.
    assert!(ticks.contains(&"90 %".to_string()) && ticks.contains(&"100 %".to_string()), "{ticks:?}");
    // Every window at 99.5 % or better: zoomed.
    for e in events.iter_mut().filter(|e| e["type"] == "window" && e["sent"] == 10) {
        e["sent"] = json!(200);
        e["ok"] = json!(199);
    }
    let doc = Html::parse_document(&render(&report, &events));
    assert!(texts(&doc, "svg text.axis").concat().contains("ok / sent (zoomed)"));
    assert!(texts(&doc, "svg text.tick").contains(&"99 %".to_string()));
}

#[test]
fn page_has_a_band_per_fault_a_point_per_window_and_the_expectations() {
    let (report, events) = synthetic();
    let html = render(&report, &events);
    assert_eq!(html.matches("<rect class=\"fault\"").count(), 2);
    // 20 windows with requests; the empty one is not a point.
    assert_eq!(html.matches("<circle class=\"win\"").count(), 20);
    assert!(html.contains("<table class=\"expect\">"));
    assert!(html.contains("<td class=\"pass\">PASS</td>") && html.contains("<td class=\"fail\">FAIL</td>"));
    assert!(html.contains("some fail"));
    assert_eq!(html.matches("<rect class=\"outage\"").count(), 1);
    // Node timeline: replica-1 up, down, up; voter-1 up all along.
    assert_eq!(html.matches("<rect class=\"down\"").count(), 1);
    assert_eq!(html.matches("<rect class=\"up\"").count(), 3);
}

#[test]
fn a_paused_schedule_is_a_grey_band() {
    let (mut report, mut events) = synthetic();
    report["paused_seconds"] = json!(0.4);
    events.push(json!({"type": "note", "t": 0.8, "node": null, "text": "schedule paused"}));
    events.push(json!({"type": "note", "t": 1.2, "node": null, "text": "schedule resumed after 0.4 s"}));
    let html = render(&report, &events);
    assert_eq!(html.matches("<rect class=\"held\"").count(), 1);
    assert!(html.contains("schedule paused from 0.8 s to 1.2 s"));
}

#[test]
fn page_is_self_contained_and_escaped() {
    let (report, events) = synthetic();
    let html = render(&report, &events);
    assert!(!html.contains("http"), "the page must not refer to the network");
    assert!(!html.contains("<script"));
    assert!(html.contains("k-fault tolerance &lt;3&gt;"));
}

#[test]
fn unknown_objects_appear_as_tables() {
    let (report, events) = synthetic();
    let html = render(&report, &events);
    assert!(html.contains("<h2>Brand new workload</h2>"));
    assert!(html.contains("<th>duplicates</th><td class=\"n\">7</td>"));
    assert!(html.contains("<th>detection time T_D, median</th><td class=\"n\">0.3 s</td>"), "{html}");
    assert!(html.contains("<th>td</th>"), "detector pairs as a table");
    assert!(html.contains("Voter verdicts"));
    assert!(html.contains("<td class=\"n\">0.05</td>"), "restore time in the incidents table");
}

#[test]
fn repeated_runs_draw_the_reliability_curve() {
    let report = repeated();
    let html = render(&report, &[]);
    assert_eq!(html.matches("<polygon class=\"band\"").count(), 1);
    assert_eq!(html.matches("<polyline class=\"curve\"").count(), 1);
    assert!(html.contains("TMR's hazard rises"));
    let mut exp = report.clone();
    exp["repeat"]["mttf_ci_valid"] = json!(true);
    assert!(render(&exp, &[]).contains("MTTF 9 s, 95% interval [3 s, 40 s]"));
    assert!(html.contains("replica failure rate λ̂, measured"));
    assert!(!html.contains("Availability over time"), "no events, no timeline");
}

#[test]
fn write_for_dir_reads_both_files_and_skips_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let (report, events) = synthetic();
    std::fs::write(dir.path().join("report.json"), report.to_string()).unwrap();
    let mut lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    lines.push_str("{\"type\": \"win");
    std::fs::write(dir.path().join("events.jsonl"), lines).unwrap();
    let out = write_for_dir(dir.path()).unwrap();
    let html = std::fs::read_to_string(out).unwrap();
    assert_eq!(html.matches("<circle class=\"win\"").count(), 20);
    assert!(write_for_dir(&dir.path().join("missing")).is_err());
}

#[test]
fn a_non_linearizable_history_draws_its_anomaly_as_a_timeline_of_its_processes() {
    let (mut report, events) = synthetic();
    report["linearizability"] = json!({"ops": 2064, "keys": 3, "ok": false, "anomaly": {"key": 0, "ops": [
        {"process": 3, "f": "write", "key": 0, "value": 31003, "type": "ok", "invoke": 3271000000u64, "complete": 3271343351u64},
        {"process": 2, "f": "read", "key": 0, "value": 17, "type": "ok", "invoke": 3281000000u64, "complete": 3281259226u64},
        {"process": 3, "f": "cas", "key": 0, "value": [31003, 31203], "type": "info", "invoke": 3291000000u64, "complete": null}]}});
    let doc = Html::parse_document(&render(&report, &events));
    let heading = texts(&doc, "h2#linearizability");
    assert_eq!(heading.len(), 1);
    assert!(texts(&doc, "span.fail").iter().any(|t| t.starts_with("not linearizable")));
    let svg = doc
        .select(&sel("svg"))
        .find(|e| e.value().attr("aria-label").is_some_and(|l| l.contains("anomaly")))
        .expect("the anomaly's timeline");
    let lanes: Vec<String> = svg.select(&sel("text.lane")).map(|e| e.text().collect()).collect();
    assert_eq!(lanes, ["process 2", "process 3"], "one lane per process, in order");
    let bars: Vec<_> = svg.select(&sel("g.op rect")).collect();
    assert_eq!(bars.len(), 3, "one bar per operation");
    let classes: Vec<&str> = bars.iter().filter_map(|b| b.value().attr("class")).collect();
    assert_eq!(classes, ["op-ok", "op-ok", "op-info"], "the read, then the write and the cas");
    let labels: Vec<String> = svg.select(&sel("text.oplabel")).map(|e| e.text().collect()).collect();
    assert!(labels.contains(&"read k0 → 17".to_string()), "{labels:?}");
    assert!(labels.contains(&"write k0 31003".to_string()), "{labels:?}");
    assert!(labels.contains(&"cas k0 31003→31203".to_string()), "{labels:?}");
    // The write (3271 ms to 3271.3 ms) ends before the read begins (3281 ms).
    let x = |i: usize, a: &str| bars[i].value().attr(a).unwrap().parse::<f64>().unwrap();
    let (read, write) = (0, 1);
    assert!(x(write, "x") + x(write, "width") < x(read, "x"));
    assert!(font_sizes(&doc).iter().all(|px| *px >= 14.0));
    // Not shown again as a generic table.
    assert_eq!(texts(&doc, "h2").iter().filter(|h| h.to_lowercase().contains("linearizab")).count(), 1);
}

#[test]
fn an_anomaly_of_adds_labels_each_with_its_delta_and_the_sum_it_reported() {
    let (mut report, events) = synthetic();
    report["linearizability"] = json!({"ops": 40, "keys": 30, "ok": false, "anomaly": {"key": 7, "ops": [
        {"process": 6, "f": "add", "key": 7, "value": [26, 26], "type": "ok", "invoke": 3000000u64, "complete": 3400000u64},
        {"process": 9, "f": "add", "key": 7, "value": [-4, null], "type": "info", "invoke": 4000000u64, "complete": null},
        {"process": 12, "f": "add", "key": 7, "value": [-40, 910754], "type": "ok", "invoke": 6000000u64, "complete": 6400000u64}]}});
    let doc = Html::parse_document(&render(&report, &events));
    let labels = texts(&doc, "text.oplabel");
    assert_eq!(labels, ["add k7 +26 → 26", "add k7 -4", "add k7 -40 → 910754"]);
}

#[test]
fn a_linearizable_history_says_so_without_a_timeline() {
    let (mut report, events) = synthetic();
    report["linearizability"] = json!({"ops": 10, "keys": 2, "ok": true, "anomaly": null});
    let doc = Html::parse_document(&render(&report, &events));
    assert!(texts(&doc, "span.pass").iter().any(|t| t.starts_with("linearizable")));
    assert!(doc.select(&sel("g.op")).next().is_none());
}
