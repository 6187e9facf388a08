//! The page's tables: recovery incidents, voter verdicts, faults as
//! executed, host stalls, the runs of a series (linked to their pages), and
//! any object the page does not know, with plain labels.

use super::labels::{self, Unit};
use super::svg::{esc, num, Frame};
use super::{f, text};
use crate::words::count;
use serde_json::Value;
use std::fmt::Write as _;

/// Top-level keys drawn by a section of their own (every other object gets a generic table).
const DRAWN: &[&str] = &[
    "requests",
    "latency_seconds",
    "recovery_seconds",
    "tmr",
    "linearizability",
    "repeat",
    "expect",
    "faults",
    "skipped_faults",
    "nodes",
    "runs",
    "host_stalls",
    "run_failures",
];

pub(super) fn incidents(s: &mut String, r: &Value) {
    let rec = &r["recovery_seconds"];
    let Some(list) = rec.get("incidents").and_then(Value::as_array) else { return };
    s.push_str("<h2 id=\"recovery\">Recovery</h2>\n");
    if list.is_empty() {
        s.push_str("<p>No outage: every request was answered correctly within the deadline.</p>\n");
        return;
    }
    let secs =
        |k: &str| rec.get(k).and_then(Value::as_f64).map_or_else(|| "—".into(), |x| format!("{} s", num(x)));
    let _ = writeln!(
        s,
        "<p>{}; recovery time median {}, 95th percentile {}, largest {}.</p>",
        count(list.len() as f64, "outage"),
        secs("p50"),
        secs("p95"),
        secs("max")
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
    let cols: Vec<&str> =
        cols.into_iter().filter(|c| list.iter().any(|i| i.get(*c).is_some_and(|v| !v.is_null()))).collect();
    s.push_str("<table class=\"list\"><tr>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", esc(&labels::label(c)));
    }
    s.push_str("</tr>\n");
    for i in list {
        s.push_str("<tr>");
        for c in &cols {
            let _ = write!(s, "<td class=\"n\">{}</td>", esc(&text(i.get(*c).unwrap_or(&Value::Null))));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

pub(super) fn voter_verdicts(s: &mut String, r: &Value) {
    let Some(t) = r.get("tmr").filter(|v| v.is_object()) else { return };
    let get = |k: &str| t.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let (u, m, n) = (get("unanimous"), get("majority"), get("no_majority"));
    s.push_str("<h2 id=\"verdicts\">Voter verdicts</h2>\n<p class=\"note\">Unanimous: all replicas agreed. Majority: one was outvoted \
        (a fault masked). No majority: the voter could not decide (the service failed).</p>\n");
    let total = u + m + n;
    if total > 0.0 {
        let fr = Frame::new(64.0, 0.0, total, 0.0, 1.0);
        s.push_str(&fr.open("voter verdicts"));
        let mut x = 0.0;
        for (v, colour, label) in
            [(u, "#2fa860", "unanimous"), (m, "#f2a93b", "majority"), (n, "#e5484d", "no majority")]
        {
            if v > 0.0 {
                let _ = write!(
                    s,
                    "<rect x=\"{:.1}\" y=\"10\" width=\"{:.1}\" height=\"24\" fill=\"{colour}\"><title>{label}: {}</title></rect>",
                    fr.x(x),
                    (fr.x(x + v) - fr.x(x)).max(1.0),
                    num(v)
                );
                x += v;
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"54\">unanimous {} · majority {} · no majority {}</text></svg>",
            fr.left,
            num(u),
            num(m),
            num(n)
        );
    }
    kv_table(s, t);
}

pub(super) fn faults(s: &mut String, r: &Value) {
    let list = r.get("faults").and_then(Value::as_array).cloned().unwrap_or_default();
    let skipped = r.get("skipped_faults").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() && skipped.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"faults\">Faults as executed</h2>\n");
    let shown: Vec<Value> = list
        .iter()
        .map(|x| {
            let mut x = x.clone();
            if let Some(o) = x.as_object_mut() {
                // A fault with no end lasted for the rest of the run (a hand
                // restart that undid a crash gives the crash its end).
                if o.get("until_seconds").is_some_and(Value::is_null)
                    && o.get("failed").is_none_or(Value::is_null)
                {
                    o.insert("until_seconds".into(), Value::from("for the rest of the run"));
                }
                if o.get("scheduled_seconds").is_some_and(Value::is_null)
                    && o.get("at_seconds").is_some_and(Value::is_number)
                {
                    o.insert("scheduled_seconds".into(), Value::from("by hand"));
                }
            }
            x
        })
        .collect();
    array_table(s, &shown);
    if !skipped.is_empty() {
        s.push_str("<h3>Skipped (would start after the run's end)</h3>\n");
        array_table(s, &skipped);
    }
}

pub(super) fn host_stalls(s: &mut String, r: &Value) {
    if let Some(list) = r.get("host_stalls").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        let _ = writeln!(
            s,
            "<h2>Host stalls</h2>\n<p class=\"note\">{} when the orchestrator's or an agent's loop ran late: \
             an outage during one may be the host's hiccup, not the fault's doing.</p>",
            count(list.len() as f64, "stretch")
        );
        array_table(s, list);
    }
}

/// The runs of a series, each linked to its own page, and the nodes of a run.
pub(super) fn runs(s: &mut String, r: &Value) {
    if let Some(list) = r.get("runs").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        s.push_str(
            "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\"><tr><th>run</th><th>seed</th><th>availability</th>\
            <th>outages</th><th>first failure</th><th>result</th></tr>\n",
        );
        for run in list {
            let n = run.get("run").map(text).unwrap_or_default();
            // The page sits beside the run directories: link by the directory's own name.
            let href = run
                .get("dir")
                .and_then(Value::as_str)
                .and_then(|d| std::path::Path::new(d).file_name().map(|x| x.to_string_lossy().into_owned()));
            let name = match href {
                Some(h) => format!("<a href=\"{}/report.html\">run {}</a>", esc(&h), esc(&n)),
                None => format!("run {}", esc(&n)),
            };
            let (class, result) = if run.get("interrupted").and_then(Value::as_bool) == Some(true) {
                ("other", "interrupted: not judged")
            } else if run.get("valid").and_then(Value::as_bool) == Some(false) {
                ("other", "invalid: not judged")
            } else if run.get("passed").and_then(Value::as_bool) == Some(true) {
                ("pass", "expectations hold")
            } else {
                ("fail", "an expectation fails")
            };
            let first =
                f(run, "first_failure_seconds").map_or_else(|| "none".into(), |t| format!("{} s", num(t)));
            let _ = writeln!(
                s,
                "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"{class}\">{result}</td></tr>",
                esc(&text(run.get("seed").unwrap_or(&Value::Null))),
                esc(&labels::value(Unit::Ratio, run.get("availability").unwrap_or(&Value::Null))),
                esc(&text(run.get("failures").unwrap_or(&Value::Null))),
                esc(&first),
            );
        }
        s.push_str("</table>\n");
    }
    if let Some(list) = r.get("nodes").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        s.push_str("<h2>Nodes</h2>\n");
        array_table(s, list);
    }
}

/// Every top-level object not drawn elsewhere, as a table of plain labels.
pub(super) fn generic_objects(s: &mut String, r: &Value) {
    for (k, v) in r.as_object().into_iter().flatten() {
        if DRAWN.contains(&k.as_str()) || !v.is_object() {
            continue;
        }
        let _ = writeln!(s, "<h2>{}</h2>", esc(&heading(&labels::row_label(k))));
        kv_table(s, v);
    }
}

/// A label as a heading: its first letter in capitals.
fn heading(label: &str) -> String {
    let mut c = label.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// An object as rows of labels; arrays of objects become tables of their own.
pub(super) fn kv_table(s: &mut String, v: &Value) {
    let mut rows = Vec::new();
    let mut arrays = Vec::new();
    flatten("", v, &mut rows, &mut arrays);
    if !rows.is_empty() {
        s.push_str("<table>\n");
        for (k, val) in rows {
            let class = if val.is_string() { "" } else { " class=\"n\"" };
            let _ = writeln!(
                s,
                "<tr><th>{}</th><td{class}>{}</td></tr>",
                esc(&labels::row_label(&k)),
                esc(&labels::value(labels::unit(&k), &val))
            );
        }
        s.push_str("</table>\n");
    }
    for (k, list) in arrays {
        let _ = writeln!(s, "<h3>{}</h3>", esc(&heading(&labels::row_label(&k))));
        array_table(s, &list);
    }
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<(String, Value)>, arrays: &mut Vec<(String, Vec<Value>)>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, rows, arrays);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => arrays.push((prefix.to_string(), a.clone())),
        Value::Array(a) if a.len() == 2 && a.iter().all(|x| x.is_number() || x.is_null()) => {
            rows.push((prefix.to_string(), v.clone()))
        }
        Value::Array(a) => {
            rows.push((prefix.to_string(), Value::from(a.iter().map(text).collect::<Vec<_>>().join(", "))))
        }
        other => rows.push((prefix.to_string(), other.clone())),
    }
}

/// Columns that come first, in this order; the rest follow in the report's order.
const FIRST: &[&str] = &[
    "run",
    "t",
    "name",
    "node",
    "fault",
    "kind",
    "target",
    // A fault's life: asked, issued, in effect; then its end the same way.
    "scheduled_seconds",
    "at_seconds",
    "effective_seconds",
    "end_scheduled_seconds",
    "until_seconds",
    "end_effective_seconds",
    "repair_requested_seconds",
    "repair_achieved_seconds",
    // R(t) of one replica, the model from it, then the measured TMR curve and its band.
    "r_replica",
    "r_tmr_model",
    "r_tmr_exponential",
    "r_tmr_measured",
    "r_tmr_lo",
    "r_tmr_hi",
];

/// A list of objects as a table whose columns are the union of their keys
/// (a column with nothing in it is left out).
pub(super) fn array_table(s: &mut String, list: &[Value]) {
    let filled = |c: &str| list.iter().any(|i| i.get(c).is_some_and(|v| !v.is_null()));
    let mut cols: Vec<String> = FIRST.iter().filter(|c| filled(c)).map(|c| (*c).to_string()).collect();
    // Each key is looked at once: a list of thousands (a mesh's detector
    // pairs) would otherwise scan the list again for every item.
    let mut looked: std::collections::BTreeSet<&str> = FIRST.iter().copied().collect();
    for item in list {
        for k in item.as_object().into_iter().flatten().map(|(k, _)| k) {
            if looked.insert(k) && filled(k) {
                cols.push(k.clone());
            }
        }
    }
    s.push_str("<table class=\"list\"><tr>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", esc(&labels::label(c)));
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
