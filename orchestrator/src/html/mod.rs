//! `report.html`: one self-contained page (inline SVG and CSS, no script, no
//! network) drawn from report.json and events.jsonl. Objects the page does
//! not know are shown as key/value tables, so a new workload's numbers
//! appear without code here.

mod plots;
mod svg;

use anyhow::{Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use svg::{esc, num, Frame};

/// Width of the request windows in events.jsonl.
pub(super) const WINDOW_SECONDS: f64 = 0.1;

/// Top-level keys drawn by a section of their own (everything else that is
/// an object gets a generic table).
const DRAWN: &[&str] = &[
    "requests",
    "latency_seconds",
    "recovery_seconds",
    "tmr",
    "repeat",
    "expect",
    "faults",
    "skipped_faults",
    "nodes",
    "runs",
];

/// Top-level metrics that are numbers, shown even when null ("does not apply").
const SCALARS: &[&str] = &[
    "availability",
    "availability_time",
    "availability_model",
    "mttf_seconds",
    "mttr_seconds",
    "mttf_lower_bound_seconds",
];

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:960px;color:#1d2330;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}\
h3{font-size:15px;margin:16px 0 6px}.sub{color:#5a6478;margin:0 0 12px}\
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}\
td,th{border:1px solid #dde2ea;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f5f9;font-weight:600}\
td.n{text-align:right}.pass{color:#0a7d32;font-weight:700}.fail{color:#c0262d;font-weight:700}\
svg{display:block;margin:6px 0;max-width:100%;height:auto}\
svg text{font:11px system-ui,sans-serif;fill:#3b4456}svg .axis{font-size:12px;fill:#1d2330}\
svg .grid{stroke:#e6e9ef;stroke-width:1}svg .tickline{stroke:#9aa3b2}svg .frame{fill:none;stroke:#9aa3b2}\
svg .fault{fill:#e5484d;fill-opacity:.14;stroke:#e5484d;stroke-opacity:.5}svg .flabel{fill:#b4232a;font-size:10.5px}\
svg .outage{fill:#1d2330;fill-opacity:.75}svg .win{fill:#2f6fdf}svg .avail{fill:none;stroke:#2f6fdf;stroke-width:1.4}\
svg .up{fill:#2fa860}svg .down{fill:#e5484d}svg .paused{fill:#f2a93b}svg .other{fill:#9aa3b2}\
svg .band{fill:#2f6fdf;fill-opacity:.18}svg .curve{fill:none;stroke:#2f6fdf;stroke-width:2}\
svg .replica{fill:none;stroke:#8a5cd6;stroke-width:1.6;stroke-dasharray:5 3}svg .model{fill:none;stroke:#e07b17;stroke-width:2;stroke-dasharray:2 2}\
svg .lat50{fill:none;stroke:#2fa860;stroke-width:1.4}svg .lat99{fill:none;stroke:#e07b17;stroke-width:1.4}\
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px;border-radius:2px}\
.note{color:#5a6478;font-size:13px}";

/// Render the page for a report (and the run's events, possibly none).
pub fn render(report: &Value, events: &[Value]) -> String {
    let mut s = String::new();
    let title = report.get("experiment").and_then(Value::as_str).unwrap_or("faultlab run");
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} — faultlab report</title><style>{STYLE}</style></head><body>\n",
        esc(title)
    );
    header(&mut s, report);
    expectations(&mut s, report);
    headline(&mut s, report);
    let duration =
        report.get("duration_seconds").and_then(Value::as_f64).unwrap_or_else(|| last_time(events));
    if !events.is_empty() {
        plots::availability_timeline(&mut s, events, duration);
        plots::latency_timeline(&mut s, events, duration);
        plots::node_timeline(&mut s, report, events, duration);
    }
    incidents(&mut s, report);
    tmr(&mut s, report);
    plots::repeat(&mut s, report);
    faults_table(&mut s, report);
    generic_objects(&mut s, report);
    runs_table(&mut s, report);
    s.push_str(
        "<p class=\"note\">Written by faultlab from report.json and events.jsonl.</p>\n</body></html>\n",
    );
    s
}

/// Read `dir/report.json` and `dir/events.jsonl` (if any) and write `dir/report.html`.
pub fn write_for_dir(dir: &Path) -> Result<PathBuf> {
    let rpath = dir.join("report.json");
    let text = std::fs::read_to_string(&rpath).with_context(|| format!("cannot read {}", rpath.display()))?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", rpath.display()))?;
    let events = read_events(&dir.join("events.jsonl"))?;
    let out = dir.join("report.html");
    std::fs::write(&out, render(&report, &events))
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

/// Write `dir/report.json` from `dir/events.jsonl` when the first is missing
/// and the second exists; returns the path written.
pub fn rebuild_report_if_missing(dir: &Path) -> Result<Option<PathBuf>> {
    let rpath = dir.join("report.json");
    let epath = dir.join("events.jsonl");
    if rpath.exists() || !epath.exists() {
        return Ok(None);
    }
    let events = read_events(&epath)?;
    let report = crate::recorder::rebuild::rebuild(&events);
    std::fs::write(&rpath, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", rpath.display()))?;
    Ok(Some(rpath))
}

/// The events of a run; a missing file is no events, a torn last line (the
/// orchestrator died mid-write) is skipped.
fn read_events(path: &Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(merge_windows(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()))
}

/// A window written twice (a request decided after its window was written)
/// becomes one: the counts of lines with the same `t` are added.
fn merge_windows(events: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(events.len());
    let mut at: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for e in events {
        let key = f(&e, "t").map(|t| (t * 10.0).round() as u64);
        match (kind(&e), key.and_then(|k| at.get(&k).copied())) {
            ("window", Some(i)) => {
                if let (Some(Value::Object(into)), Value::Object(more)) = (out.get_mut(i), &e) {
                    for (k, v) in more {
                        if let (Some(a), Some(b)) = (into.get(k).and_then(Value::as_u64), v.as_u64()) {
                            into.insert(k.clone(), Value::from(a + b));
                        }
                    }
                }
            }
            ("window", None) => {
                if let Some(k) = key {
                    at.insert(k, out.len());
                }
                out.push(e);
            }
            _ => out.push(e),
        }
    }
    out
}

fn last_time(events: &[Value]) -> f64 {
    events.iter().filter_map(|e| e.get("t").and_then(Value::as_f64)).fold(0.0, f64::max)
}

pub(super) fn kind(e: &Value) -> &str {
    e.get("type").and_then(Value::as_str).unwrap_or("")
}

pub(super) fn f(e: &Value, k: &str) -> Option<f64> {
    e.get(k).and_then(Value::as_f64)
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn header(s: &mut String, r: &Value) {
    let title = r.get("experiment").and_then(Value::as_str).unwrap_or("faultlab run");
    let _ = writeln!(s, "<h1>{}</h1>", esc(title));
    if let Some(c) = r.get("concept").and_then(Value::as_str) {
        let _ = writeln!(s, "<p class=\"sub\">{}</p>", esc(c));
    }
    let mut bits = Vec::new();
    for (k, label) in [("backend", "backend"), ("seed", "seed"), ("run_id", "run")] {
        if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
            bits.push(format!("{label} {}", esc(&text(v))));
        }
    }
    if let Some(d) = f(r, "duration_seconds") {
        bits.push(format!("{} s", num(d)));
    }
    if r.get("rebuilt").is_some_and(Value::is_object) {
        bits.push("<span class=\"fail\">rebuilt from events.jsonl</span>".into());
    }
    if r.get("interrupted").and_then(Value::as_bool) == Some(true) {
        bits.push("<span class=\"fail\">interrupted</span>".into());
    }
    let _ = writeln!(s, "<p class=\"sub\">{}</p>", bits.join(" · "));
}

fn expectations(s: &mut String, r: &Value) {
    let Some(list) = r.get("expect").and_then(Value::as_array).filter(|l| !l.is_empty()) else { return };
    let all = list.iter().all(|e| e.get("passed").and_then(Value::as_bool) == Some(true));
    let not_judged = r.get("not_judged").and_then(Value::as_str);
    let interrupted = r.get("interrupted").and_then(Value::as_bool) == Some(true);
    let (class, verdict) = match not_judged {
        Some(why) => ("fail", format!("not judged: {why}")),
        // A report from before `not_judged` (or rebuilt): an interrupted run never passes.
        None if interrupted => ("fail", "not judged: the run was interrupted".to_string()),
        None if all => ("pass", "all hold".to_string()),
        None => ("fail", "some fail".to_string()),
    };
    let judged = not_judged.is_none() && !interrupted;
    let _ = writeln!(s, "<h2>Expectations: <span class=\"{class}\">{}</span></h2>", esc(&verdict));
    s.push_str(
        "<table class=\"expect\"><tr><th>metric</th><th>condition</th><th>value</th><th>result</th></tr>\n",
    );
    for e in list {
        let passed = e.get("passed").and_then(Value::as_bool) == Some(true);
        let judged = judged && e.get("judged").and_then(Value::as_bool) != Some(false);
        let value = match e.get("runs_passed").and_then(Value::as_u64) {
            Some(k) => format!("held in {k} runs"),
            None => text(e.get("value").unwrap_or(&Value::Null)),
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&text(e.get("metric").unwrap_or(&Value::Null))),
            esc(&text(e.get("condition").unwrap_or(&Value::Null))),
            esc(&value),
            match (judged, passed) {
                (false, _) => "other",
                (true, true) => "pass",
                (true, false) => "fail",
            },
            match (judged, passed) {
                (false, _) => "not judged",
                (true, true) => "PASS",
                (true, false) => "FAIL",
            }
        );
    }
    s.push_str("</table>\n");
}

fn headline(s: &mut String, r: &Value) {
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(q) = r.get("requests").filter(|v| v.is_object()) {
        rows.push((
            "requests".into(),
            format!(
                "{} sent, {} ok, {} failed, {} wrong",
                text(&q["total"]),
                text(&q["ok"]),
                text(&q["failed"]),
                text(&q["wrong"])
            ),
        ));
    }
    if let Some(l) = r.get("latency_seconds").filter(|v| v.is_object()) {
        let ms = |v: &Value| v.as_f64().map(|x| format!("{} ms", num(x * 1e3))).unwrap_or_else(|| "—".into());
        rows.push((
            "latency".into(),
            format!("p50 {}, p99 {}, max {}", ms(&l["p50"]), ms(&l["p99"]), ms(&l["max"])),
        ));
    }
    // Every other top-level scalar, in the report's order.
    if let Some(obj) = r.as_object() {
        for (k, v) in obj {
            // A null that is not a scalar metric is a workload object that does not apply.
            // A 95% interval `[lo, hi]` goes beside its metric.
            if let (true, Some([lo, hi])) = (k.ends_with("_ci"), v.as_array().map(Vec::as_slice)) {
                rows.push((k.clone(), format!("95% [{}, {}]", text(lo), text(hi))));
                continue;
            }
            if matches!(k.as_str(), "experiment" | "concept" | "backend" | "seed" | "run_id")
                || v.is_object()
                || v.is_array()
                || (v.is_null() && !SCALARS.contains(&k.as_str()))
            {
                continue;
            }
            rows.push((k.clone(), text(v)));
        }
    }
    if rows.is_empty() {
        return;
    }
    s.push_str("<h2>Numbers</h2><table>\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    s.push_str("</table>\n");
}

fn incidents(s: &mut String, r: &Value) {
    let rec = &r["recovery_seconds"];
    let Some(list) = rec.get("incidents").and_then(Value::as_array) else { return };
    s.push_str("<h2>Recovery</h2>\n");
    if list.is_empty() {
        s.push_str("<p>No outage: every request was answered correctly within the deadline.</p>\n");
        return;
    }
    let _ = writeln!(
        s,
        "<p>{} outages; recovery time p50 {} s, p95 {} s, max {} s.</p>",
        list.len(),
        text(&rec["p50"]),
        text(&rec["p95"]),
        text(&rec["max"])
    );
    let cols = [
        "start",
        "end",
        "seconds",
        "detection",
        "failover",
        "restore",
        "catch_up",
        "fault_to_outage",
        "failed_requests",
    ];
    s.push_str("<table><tr>");
    for c in cols {
        let _ = write!(s, "<th>{}</th>", esc(&c.replace('_', " ")));
    }
    s.push_str("</tr>\n");
    for i in list {
        s.push_str("<tr>");
        for c in cols {
            let _ = write!(s, "<td class=\"n\">{}</td>", esc(&text(i.get(c).unwrap_or(&Value::Null))));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

fn tmr(s: &mut String, r: &Value) {
    let Some(t) = r.get("tmr").filter(|v| v.is_object()) else { return };
    let get = |k: &str| t.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let (u, m, n) = (get("unanimous"), get("majority"), get("no_majority"));
    s.push_str("<h2>Voter verdicts</h2>\n<p class=\"note\">Unanimous: all replicas agreed. Majority: one was outvoted \
        (a fault masked). No majority: the voter could not decide (the service failed).</p>\n");
    let total = u + m + n;
    if total > 0.0 {
        let fr = Frame::new(60.0, 0.0, total, 0.0, 1.0);
        s.push_str(&fr.open("voter verdicts"));
        let mut x = 0.0;
        for (v, colour, label) in
            [(u, "#2fa860", "unanimous"), (m, "#f2a93b", "majority"), (n, "#e5484d", "no majority")]
        {
            if v > 0.0 {
                let _ = write!(
                    s,
                    "<rect x=\"{:.1}\" y=\"14\" width=\"{:.1}\" height=\"20\" fill=\"{colour}\"><title>{label}: {}</title></rect>",
                    fr.x(x),
                    (fr.x(x + v) - fr.x(x)).max(1.0),
                    num(v)
                );
                x += v;
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"50\">unanimous {} · majority {} · no majority {}</text></svg>",
            fr.left,
            num(u),
            num(m),
            num(n)
        );
    }
    kv_table(s, t);
}

fn faults_table(s: &mut String, r: &Value) {
    let list = r.get("faults").and_then(Value::as_array).cloned().unwrap_or_default();
    let skipped = r.get("skipped_faults").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() && skipped.is_empty() {
        return;
    }
    s.push_str("<h2>Faults as executed</h2>\n");
    array_table(s, &list);
    if !skipped.is_empty() {
        s.push_str("<h3>Skipped (would start after the run's end)</h3>\n");
        array_table(s, &skipped);
    }
}

fn runs_table(s: &mut String, r: &Value) {
    if let Some(list) = r.get("runs").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        s.push_str("<h2>Runs</h2>\n");
        array_table(s, list);
    }
    if let Some(list) = r.get("nodes").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        s.push_str("<h2>Nodes</h2>\n");
        array_table(s, list);
    }
}

/// Every top-level object not drawn elsewhere, as a key/value table.
fn generic_objects(s: &mut String, r: &Value) {
    for (k, v) in r.as_object().into_iter().flatten() {
        if DRAWN.contains(&k.as_str()) || !v.is_object() {
            continue;
        }
        let _ = writeln!(s, "<h2>{}</h2>", esc(&k.replace('_', " ")));
        kv_table(s, v);
    }
}

/// An object as rows of dotted keys; arrays of objects become tables of their own.
pub(super) fn kv_table(s: &mut String, v: &Value) {
    let mut rows = Vec::new();
    let mut arrays = Vec::new();
    flatten("", v, &mut rows, &mut arrays);
    if !rows.is_empty() {
        s.push_str("<table>\n");
        for (k, val) in rows {
            let _ = writeln!(s, "<tr><th>{}</th><td class=\"n\">{}</td></tr>", esc(&k), esc(&val));
        }
        s.push_str("</table>\n");
    }
    for (k, list) in arrays {
        let _ = writeln!(s, "<h3>{}</h3>", esc(&k));
        array_table(s, &list);
    }
}

fn flatten(
    prefix: &str,
    v: &Value,
    rows: &mut Vec<(String, String)>,
    arrays: &mut Vec<(String, Vec<Value>)>,
) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, rows, arrays);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => arrays.push((prefix.to_string(), a.clone())),
        Value::Array(a) => rows.push((prefix.to_string(), a.iter().map(text).collect::<Vec<_>>().join(", "))),
        other => rows.push((prefix.to_string(), text(other))),
    }
}

/// A list of objects as a table whose columns are the union of their keys.
fn array_table(s: &mut String, list: &[Value]) {
    // Identifying columns first; the rest in the report's order.
    let mut cols: Vec<String> = ["run", "t", "name", "node", "fault", "kind", "target"]
        .iter()
        .filter(|c| list.iter().any(|i| i.get(**c).is_some()))
        .map(|c| (*c).to_string())
        .collect();
    for item in list {
        for k in item.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    s.push_str("<table><tr>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", esc(&c.replace('_', " ")));
    }
    s.push_str("</tr>\n");
    for item in list {
        s.push_str("<tr>");
        for c in &cols {
            let cell = item.get(c).unwrap_or(&Value::Null);
            let class = if cell.is_number() { " class=\"n\"" } else { "" };
            let _ = write!(s, "<td{class}>{}</td>", esc(&text(cell)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn synthetic() -> (Value, Vec<Value>) {
        let report = json!({
            "experiment": "tmr-demo",
            "concept": "k-fault tolerance <3>",
            "seed": 1, "backend": "process", "run_id": "abc", "duration_seconds": 2.0, "interrupted": false,
            "requests": {"total": 200, "ok": 190, "failed": 10, "wrong": 0},
            "latency_seconds": {"p50": 0.001, "p99": 0.004, "max": 0.01},
            "availability": 0.95, "availability_ci": [0.9, 0.97], "availability_time": 0.9, "availability_model": null,
            "failures": 1, "mttf_seconds": 1.8, "mttr_seconds": 0.2,
            "recovery_seconds": {"count": 1, "p50": 0.2, "p95": 0.2, "max": 0.2, "incidents": [
                {"start": 1.0, "end": 1.2, "seconds": 0.2, "detection": null, "failover": null, "restore": 0.05,
                 "catch_up": null, "fault": 0, "fault_to_outage": 0.0, "failed_requests": 10}]},
            "faults": [
                {"fault": 0, "kind": "crash", "target": "replica-1", "at_seconds": 0.5, "until_seconds": 1.5},
                {"fault": 1, "kind": "omission", "target": "replica-2", "at_seconds": 1.0, "until_seconds": null}],
            "nodes": [{"name": "replica-1", "role": "replica", "crashes": 1, "recoveries": 1, "down_seconds": 1.0},
                      {"name": "voter-1", "role": "voter", "crashes": 0, "recoveries": 0, "down_seconds": 0.0}],
            "detector": {"false_suspicions": 3, "detection_seconds": {"p50": 0.3}, "pairs": [{"monitor": "a", "peer": "b", "td": 0.3}]},
            "tmr": {"unanimous": 150, "majority": 40, "no_majority": 10, "state_transfers": 1},
            "checkpointing": null,
            "brand_new_workload": {"duplicates": 7},
            "repeat": null,
            "expect": [
                {"metric": "availability", "condition": ">= 0.9", "value": 0.95, "passed": true},
                {"metric": "requests.wrong", "condition": "> 0", "value": 0.0, "passed": false}],
        });
        let mut events = vec![
            json!({"type": "run_started", "t": 0.0, "experiment": "tmr-demo", "backend": "process", "seed": 1, "duration_seconds": 2.0}),
        ];
        for k in 0..20 {
            let t = k as f64 * 0.1;
            let ok = if (10..12).contains(&k) { 5 } else { 10 };
            events
                .push(json!({"type": "window", "t": t, "sent": 10, "ok": ok, "failed": 10 - ok, "wrong": 0,
                "unanimous": ok, "majority": 0, "no_majority": 0}));
        }
        events.push(json!({"type": "window", "t": 2.0, "sent": 0, "ok": 0, "failed": 0, "wrong": 0, "unanimous": 0, "majority": 0, "no_majority": 0}));
        events.push(
            json!({"type": "fault_started", "t": 0.5, "fault": 0, "kind": "crash", "target": "replica-1"}),
        );
        events.push(json!({"type": "node_state", "t": 0.5, "node": "replica-1", "state": "down"}));
        events.push(
            json!({"type": "fault_started", "t": 1.0, "fault": 1, "kind": "omission", "target": "replica-2"}),
        );
        events.push(json!({"type": "outage_started", "t": 1.0}));
        events.push(json!({"type": "outage_ended", "t": 1.2, "start": 1.0, "seconds": 0.2}));
        events.push(
            json!({"type": "fault_ended", "t": 1.5, "fault": 0, "kind": "crash", "target": "replica-1"}),
        );
        events.push(json!({"type": "node_state", "t": 1.5, "node": "replica-1", "state": "up"}));
        (report, events)
    }

    #[test]
    fn page_has_a_band_per_fault_a_point_per_window_and_the_expectations() {
        let (report, events) = synthetic();
        let html = render(&report, &events);
        assert_eq!(html.matches("<rect class=\"fault\"").count(), 2);
        // 20 windows with requests; the empty one is not a point.
        assert_eq!(html.matches("<circle class=\"win\"").count(), 20);
        assert!(html.contains("<table class=\"expect\">"));
        assert!(
            html.contains("<td class=\"pass\">PASS</td>") && html.contains("<td class=\"fail\">FAIL</td>")
        );
        assert!(html.contains("some fail"));
        assert_eq!(html.matches("<rect class=\"outage\"").count(), 1);
        // Node timeline: replica-1 up, down, up; voter-1 up all along.
        assert_eq!(html.matches("<rect class=\"down\"").count(), 1);
        assert_eq!(html.matches("<rect class=\"up\"").count(), 3);
        // The open-ended omission runs to the end of the run.
        assert!(html.contains("omission replica-2 from 1 s to 2 s"));
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
        assert!(html.contains("<h2>brand new workload</h2>"));
        assert!(html.contains("<th>duplicates</th><td class=\"n\">7</td>"));
        assert!(html.contains("<th>detection_seconds.p50</th>"));
        assert!(html.contains("<th>td</th>"), "detector pairs as a table");
        assert!(html.contains("Voter verdicts"));
        assert!(html.contains("<td class=\"n\">0.05</td>"), "restore time in the incidents table");
        assert!(
            html.contains("<th>availability_ci</th><td>95% [0.9, 0.97]</td>"),
            "the interval beside its metric"
        );
    }

    #[test]
    fn repeated_runs_draw_the_reliability_curve() {
        let report = json!({
            "experiment": "x", "duration_seconds": 10.0,
            "repeat": {"runs": 3, "failures": 2, "band": "log-log", "mttf_seconds": 9.0, "mttf_ci": [3.0, 40.0],
                "mttf_zero_failure_bound": false,
                "reliability_curve": [{"t": 0.0, "r": 1.0, "lo": 1.0, "hi": 1.0}, {"t": 4.0, "r": 0.66, "lo": 0.2, "hi": 0.9},
                                      {"t": 7.0, "r": 0.33, "lo": 0.05, "hi": 0.7}],
                "availability": {"mean": 0.9, "min": 0.8, "max": 1.0, "stddev": 0.1, "n": 3},
                "tmr_model": {"replica_curve": [{"t": 0.0, "r": 1.0}, {"t": 3.0, "r": 0.8}], "lambda_per_second": 0.05}},
            "expect": [],
        });
        let html = render(&report, &[]);
        assert_eq!(html.matches("<polygon class=\"band\"").count(), 1);
        assert_eq!(html.matches("<polyline class=\"curve\"").count(), 1);
        assert_eq!(html.matches("<polyline class=\"model\"").count(), 1);
        assert!(html.contains("MTTF 9 s, 95% interval [3 s, 40 s]"));
        let mut tmr = report.clone();
        tmr["repeat"]["mttf_ci_valid"] = json!(false);
        let page = render(&tmr, &[]);
        assert!(!page.contains("95% interval [3 s, 40 s]") && page.contains("TMR's hazard rises"));
        assert!(html.contains("lambda_per_second"));
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
}
