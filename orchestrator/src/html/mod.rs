//! `report.html`: one self-contained page (inline SVG and CSS, no script, no
//! network) drawn from report.json and events.jsonl, made to be projected:
//! every font at least 14 px, numbers in words with their units. Objects the
//! page does not know are shown as tables, so a new workload's numbers
//! appear without code here.

mod history;
mod labels;
mod plots;
mod reliability;
pub(crate) mod svg;
mod tables;

use crate::words::count;
use anyhow::{Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use svg::{esc, num};

/// Width of the request windows in events.jsonl.
pub(super) const WINDOW_SECONDS: f64 = 0.1;

/// Top-level keys the header says, or a section of their own draws; the
/// Numbers table leaves them out.
const HEADER: &[&str] = &[
    "experiment",
    "concept",
    "backend",
    "seed",
    "run_id",
    "duration_seconds",
    "planned_seconds",
    "paused_seconds",
    "interrupted",
    "not_judged",
    "valid",
    "runs_planned",
    "control",
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

/// The page's style. No font below 14 px: the page is projected at 1280×720.
pub const STYLE: &str = "body{font:17px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:20px auto;max-width:1000px;padding:0 16px;color:#1d2330;background:#fff}\
h1{font-size:28px;margin:0 0 4px}h2{font-size:22px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}\
h3{font-size:18px;margin:16px 0 6px}.sub{color:#4a5468;margin:0 0 10px}\
table{border-collapse:collapse;margin:6px 0 10px;font-size:16px;font-variant-numeric:tabular-nums}\
td,th{border:1px solid #dde2ea;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f3f5f9;font-weight:600}\
td.n{text-align:right}table.list td{white-space:nowrap}.pass{color:#0a7d32;font-weight:700}.fail{color:#c0262d;font-weight:700}.other{color:#8a5a00;font-weight:700}\
.alert{background:#fdecec;border-left:6px solid #c0262d;padding:8px 12px;margin:8px 0;font-weight:600}\
.warn{background:#fff4e0;border-left:6px solid #e07b17;padding:8px 12px;margin:8px 0}\
code{font-size:15px;background:#f3f5f9;padding:0 3px;border-radius:3px}\
svg{display:block;margin:6px 0;max-width:100%;height:auto}\
svg text{font:14px system-ui,sans-serif;fill:#3b4456}svg .axis{font-size:15px;fill:#1d2330}\
svg .grid{stroke:#e6e9ef;stroke-width:1}svg .tickline{stroke:#9aa3b2}svg .frame{fill:none;stroke:#9aa3b2}\
svg .fault{fill:#e5484d;fill-opacity:.14;stroke:#e5484d;stroke-opacity:.5}svg .flabel{fill:#b4232a;font-size:14px}\
svg .held{fill:#9aa3b2;fill-opacity:.22}svg .hlabel{fill:#4a5468;font-size:14px}\
svg .outage{fill:#1d2330;fill-opacity:.75}svg .win{fill:#2f6fdf}svg .avail{fill:none;stroke:#2f6fdf;stroke-width:1.4}\
svg .up{fill:#2fa860}svg .down{fill:#e5484d}svg .paused{fill:#f2a93b}svg .other{fill:#9aa3b2}\
svg .band{fill:#2f6fdf;fill-opacity:.18}svg .curve{fill:none;stroke:#2f6fdf;stroke-width:2.5}\
svg .replica{fill:none;stroke:#8a5cd6;stroke-width:1.8;stroke-dasharray:6 4}\
svg .op-ok{fill:#2f6fdf}svg .op-fail{fill:#9aa3b2}svg .op-info{fill:#f2a93b;fill-opacity:.6}svg .oplabel{font-size:14px;fill:#1d2330}\
svg .model-replica{fill:none;stroke:#8a5cd6;stroke-width:2}svg .model-tmr{fill:none;stroke:#e07b17;stroke-width:2.5}\
.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:22px;height:6px;vertical-align:4px;margin-right:6px;border-radius:2px}\
.note{color:#4a5468;font-size:16px}";

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
    numbers(&mut s, report);
    let duration =
        report.get("duration_seconds").and_then(Value::as_f64).unwrap_or_else(|| last_time(events));
    if !events.is_empty() {
        plots::availability_timeline(&mut s, report, events, duration);
        plots::latency_timeline(&mut s, events, duration);
        plots::node_timeline(&mut s, report, events, duration);
    }
    history::linearizability(&mut s, report);
    tables::incidents(&mut s, report);
    tables::voter_verdicts(&mut s, report);
    reliability::repeat(&mut s, report);
    tables::faults(&mut s, report);
    tables::host_stalls(&mut s, report);
    tables::generic_objects(&mut s, report);
    tables::runs(&mut s, report);
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
        Value::Bool(b) => (if *b { "yes" } else { "no" }).into(),
        Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_true(r: &Value, k: &str) -> bool {
    r.get(k).and_then(Value::as_bool) == Some(true)
}

/// Why the page's expectations cannot be judged, if they cannot: the
/// report's own reason, or (a report written before `not_judged`, or
/// rebuilt) its interrupted or invalid flag.
fn not_judged(r: &Value) -> Option<String> {
    if let Some(why) = r.get("not_judged").and_then(Value::as_str) {
        return Some(why.to_string());
    }
    if is_true(r, "interrupted") {
        return Some("the run was interrupted".into());
    }
    if r.get("valid").and_then(Value::as_bool) == Some(false) {
        return Some("the run is invalid".into());
    }
    None
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
    let runs = r.get("runs").and_then(Value::as_array).map(Vec::len);
    if let Some(n) = runs {
        bits.push(count(n as f64, "run"));
    }
    let duration = f(r, "duration_seconds");
    if let Some(d) = duration {
        bits.push(format!("{} s{}", num(d), if runs.is_some() { " each" } else { " on the wall clock" }));
    }
    let _ = writeln!(s, "<p class=\"sub\">{}</p>", bits.join(" · "));
    let paused = f(r, "paused_seconds").unwrap_or(0.0);
    if is_true(r, "interrupted") {
        let at = match (runs, r.get("runs_planned").and_then(Value::as_u64)) {
            (Some(n), Some(of)) => format!("during run {n} of {of}"),
            (Some(n), None) => format!("during run {n}"),
            // Where the schedule had got to: the wall clock less the time it was held.
            (None, _) => match (duration, f(r, "planned_seconds")) {
                (Some(d), Some(p)) => format!("at {} s of {} s", num1(d - paused), num1(p)),
                (Some(d), None) => format!("at {} s", num1(d - paused)),
                _ => String::new(),
            },
        };
        let _ = writeln!(
            s,
            "<p class=\"alert\">Interrupted {at}: the numbers cover only the part that ran, and the \
             expectations are not judged.</p>"
        );
    }
    if paused > 0.0 {
        let _ = writeln!(
            s,
            "<p class=\"warn\">Schedule paused {} s: the faults waited while the clients kept sending. \
             Every time on this page is on the wall clock{}.</p>",
            num1(paused),
            duration.map(|d| format!(", {} s in all", num1(d))).unwrap_or_default()
        );
    }
    if r.get("valid").and_then(Value::as_bool) == Some(false) {
        let reasons: Vec<String> = r
            .get("run_failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("reason").and_then(Value::as_str).map(esc))
            .collect();
        let _ = writeln!(
            s,
            "<p class=\"alert\">Invalid run{}: it did not run as written, so its numbers prove nothing and \
             the expectations are not judged.</p>",
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) }
        );
    }
    if let Some(what) = r.get("control").and_then(Value::as_str) {
        let _ = writeln!(
            s,
            "<p class=\"warn\" title=\"{}\">A fault-free control run: the file's faults were removed, so its \
             expectations should fail, which shows the faults mattered.</p>",
            esc(what)
        );
    }
    if r.get("rebuilt").is_some_and(Value::is_object) {
        s.push_str(
            "<p class=\"warn\">Rebuilt from events.jsonl: the run ended before it wrote report.json.</p>\n",
        );
    }
}

/// Three significant digits or so: 0.306, 4.49, 14.9, 152.
fn short(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Seconds to one decimal, trimmed.
fn num1(v: f64) -> String {
    num((v * 10.0).round() / 10.0)
}

fn expectations(s: &mut String, r: &Value) {
    let Some(list) = r.get("expect").and_then(Value::as_array).filter(|l| !l.is_empty()) else { return };
    let all = list.iter().all(|e| is_true(e, "passed"));
    let why = not_judged(r);
    let (class, verdict) = match &why {
        // An interrupted or invalid run never shows green.
        Some(why) => ("other", format!("not judged: {why}")),
        None if all => ("pass", "all hold".to_string()),
        None => ("fail", "some fail".to_string()),
    };
    let runs = r.get("runs").and_then(Value::as_array).map(Vec::len);
    let _ = writeln!(
        s,
        "<h2 id=\"expectations\">Expectations: <span class=\"{class}\">{}</span></h2>",
        esc(&verdict)
    );
    s.push_str(
        "<table class=\"expect\"><tr><th>metric</th><th>condition</th><th>value</th><th>result</th></tr>\n",
    );
    for e in list {
        let passed = is_true(e, "passed");
        let judged = why.is_none() && e.get("judged").and_then(Value::as_bool) != Some(false);
        let value = match (e.get("runs_passed").and_then(Value::as_u64), runs) {
            (Some(k), Some(n)) => format!("held in {k} of {}", count(n as f64, "run")),
            (Some(k), None) => format!("held in {}", count(k as f64, "run")),
            _ => text(e.get("value").unwrap_or(&Value::Null)),
        };
        let (class, result) = match (judged, passed) {
            (false, _) => ("other", "not judged"),
            (true, true) => ("pass", "PASS"),
            (true, false) => ("fail", "FAIL"),
        };
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"{class}\">{result}</td></tr>",
            esc(&text(e.get("metric").unwrap_or(&Value::Null))),
            esc(&text(e.get("condition").unwrap_or(&Value::Null))),
            esc(&value),
        );
    }
    s.push_str("</table>\n");
}

/// The headline numbers, each with a plain label and its unit; an interval
/// `X_ci` goes beside its metric `X` (or `X_seconds`).
fn numbers(s: &mut String, r: &Value) {
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(q) = r.get("requests").filter(|v| v.is_object()) {
        let n = |k: &str| q.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let mut line = format!(
            "{} sent, {} ok, {} failed, {} wrong",
            num(n("total")),
            num(n("ok")),
            num(n("failed")),
            num(n("wrong"))
        );
        if n("unsent") > 0.0 {
            let _ = write!(line, " ({} never sent: the service was not keeping up)", num(n("unsent")));
        }
        rows.push(("requests".into(), line));
    }
    if let Some(l) = r.get("latency_seconds").filter(|v| v.is_object()) {
        let ms =
            |v: &Value| v.as_f64().map(|x| format!("{} ms", short(x * 1e3))).unwrap_or_else(|| "—".into());
        rows.push((
            "latency of correct replies".into(),
            format!("median {}, 99th percentile {}, largest {}", ms(&l["p50"]), ms(&l["p99"]), ms(&l["max"])),
        ));
    }
    let obj = r.as_object();
    for (k, v) in obj.into_iter().flatten() {
        if HEADER.contains(&k.as_str()) {
            continue;
        }
        let unit = labels::unit(k);
        if let (Some(base), true) = (k.strip_suffix("_ci"), v.is_array()) {
            // Beside its metric when that is shown; a row of its own otherwise.
            let shown = [base.to_string(), format!("{base}_seconds")]
                .iter()
                .any(|b| obj.is_some_and(|o| o.get(b).is_some_and(|x| x.is_number())));
            if !shown && !v.as_array().is_some_and(|a| a.iter().all(Value::is_null)) {
                rows.push((labels::row_label(k), labels::value(unit, v)));
            }
            continue;
        }
        if v.is_object() || v.is_array() || (v.is_null() && !SCALARS.contains(&k.as_str())) {
            continue;
        }
        let mut shown = if v.is_null() { "does not apply".to_string() } else { labels::value(unit, v) };
        let base = k.strip_suffix("_seconds").unwrap_or(k);
        if let Some(ci) = obj.and_then(|o| o.get(&format!("{base}_ci"))).filter(|c| c.is_array()) {
            if !v.is_null() && !ci.as_array().is_some_and(|a| a.iter().all(Value::is_null)) {
                let _ = write!(shown, ", {}", labels::value(unit, ci));
            }
        }
        rows.push((labels::row_label(k), shown));
    }
    if rows.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"numbers\">Numbers</h2><table class=\"numbers\">\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    s.push_str("</table>\n");
}

#[cfg(test)]
mod tests;
