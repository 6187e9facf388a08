//! `report.html`: one self-contained page (inline SVG and CSS, no script, no
//! network) drawn from report.json and events.jsonl. Objects the page does
//! not know are shown as key/value tables, so a new workload's numbers
//! appear without code here.

mod svg;

use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use svg::{esc, num, Frame};

/// Width of the request windows in events.jsonl.
const WINDOW_SECONDS: f64 = 0.1;

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
        availability_timeline(&mut s, events, duration);
        latency_timeline(&mut s, events, duration);
        node_timeline(&mut s, report, events, duration);
    }
    incidents(&mut s, report);
    tmr(&mut s, report);
    repeat(&mut s, report);
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

/// The events of a run; a missing file is no events, a torn last line (the
/// orchestrator died mid-write) is skipped.
fn read_events(path: &Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

fn last_time(events: &[Value]) -> f64 {
    events.iter().filter_map(|e| e.get("t").and_then(Value::as_f64)).fold(0.0, f64::max)
}

fn kind(e: &Value) -> &str {
    e.get("type").and_then(Value::as_str).unwrap_or("")
}

fn f(e: &Value, k: &str) -> Option<f64> {
    e.get(k).and_then(Value::as_f64)
}

fn text(v: &Value) -> String {
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
    if r.get("interrupted").and_then(Value::as_bool) == Some(true) {
        bits.push("<span class=\"fail\">interrupted</span>".into());
    }
    let _ = writeln!(s, "<p class=\"sub\">{}</p>", bits.join(" · "));
}

fn expectations(s: &mut String, r: &Value) {
    let Some(list) = r.get("expect").and_then(Value::as_array).filter(|l| !l.is_empty()) else { return };
    let all = list.iter().all(|e| e.get("passed").and_then(Value::as_bool) == Some(true));
    let _ = writeln!(
        s,
        "<h2>Expectations: <span class=\"{}\">{}</span></h2>",
        if all { "pass" } else { "fail" },
        if all { "all hold" } else { "some fail" }
    );
    s.push_str(
        "<table class=\"expect\"><tr><th>metric</th><th>condition</th><th>value</th><th>result</th></tr>\n",
    );
    for e in list {
        let passed = e.get("passed").and_then(Value::as_bool) == Some(true);
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
            if passed { "pass" } else { "fail" },
            if passed { "PASS" } else { "FAIL" }
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
            if matches!(k.as_str(), "experiment" | "concept" | "backend" | "seed" | "run_id")
                || v.is_object()
                || v.is_array()
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

/// A fault's interval on the time line.
struct Band {
    start: f64,
    end: f64,
    label: String,
}

/// Fault intervals from fault_started / fault_ended (matched by fault index
/// and target); faults never ended run to the end.
fn fault_bands(events: &[Value], duration: f64) -> Vec<Band> {
    let mut open: BTreeMap<(u64, String), Vec<usize>> = BTreeMap::new();
    let mut bands = Vec::new();
    for e in events {
        let key = || {
            (
                e.get("fault").and_then(Value::as_u64).unwrap_or(0),
                e.get("target").and_then(Value::as_str).unwrap_or("").to_string(),
            )
        };
        match kind(e) {
            "fault_started" => {
                let t = f(e, "t").unwrap_or(0.0);
                let label = format!(
                    "{} {}",
                    e.get("kind").and_then(Value::as_str).unwrap_or("fault"),
                    e.get("target").and_then(Value::as_str).unwrap_or("")
                );
                open.entry(key()).or_default().push(bands.len());
                bands.push(Band { start: t, end: f64::NAN, label });
            }
            "fault_ended" => {
                if let Some(i) =
                    open.get_mut(&key()).and_then(|v| if v.is_empty() { None } else { Some(v.remove(0)) })
                {
                    bands[i].end = f(e, "t").unwrap_or(duration);
                }
            }
            _ => {}
        }
    }
    for b in &mut bands {
        if b.end.is_nan() {
            b.end = duration.max(b.start);
        }
    }
    bands
}

fn outages(events: &[Value], duration: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut open = None;
    for e in events {
        match kind(e) {
            "outage_started" => open = f(e, "t"),
            "outage_ended" => {
                let end = f(e, "t").unwrap_or(duration);
                out.push((f(e, "start").or(open).unwrap_or(end), end));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push((start, duration));
    }
    out
}

fn draw_bands(s: &mut String, fr: &Frame, bands: &[Band]) {
    for (i, b) in bands.iter().enumerate() {
        let (x0, x1) = (fr.x(b.start), fr.x(b.end));
        let _ = write!(
            s,
            "<rect class=\"fault\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>\
             <text class=\"flabel\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            fr.top,
            (x1 - x0).max(1.5),
            fr.floor() - fr.top,
            esc(&format!("{} from {} s to {} s", b.label, num(b.start), num(b.end))),
            x0 + 3.0,
            fr.top + 12.0 + 12.0 * (i % 3) as f64,
            esc(&b.label)
        );
    }
}

fn availability_timeline(s: &mut String, events: &[Value], duration: f64) {
    let windows: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| kind(e) == "window")
        .filter_map(|e| {
            let sent = f(e, "sent")?;
            (sent > 0.0).then(|| (f(e, "t").unwrap_or(0.0), f(e, "ok").unwrap_or(0.0) / sent))
        })
        .collect();
    let bands = fault_bands(events, duration);
    if windows.is_empty() && bands.is_empty() {
        return;
    }
    let fr = Frame::new(260.0, 0.0, duration, 0.0, 1.0);
    s.push_str("<h2>Availability over time</h2>\n");
    s.push_str(
        "<p class=\"note\">Each dot is one 100 ms window: the fraction of the requests sent in it that got a correct reply \
         within the deadline. Red bands are faults as executed; the black strip marks outages.</p>\n",
    );
    s.push_str(&fr.open("availability per 100 ms window with fault bands"));
    s.push_str(&fr.axes("run time (s)", "ok / sent", &[0.0, 0.25, 0.5, 0.75, 1.0], num));
    draw_bands(s, &fr, &bands);
    for (a, b) in outages(events, duration) {
        let _ = write!(
            s,
            "<rect class=\"outage\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"5\"><title>outage {} s – {} s</title></rect>",
            fr.x(a),
            fr.floor() - 5.0,
            (fr.x(b) - fr.x(a)).max(1.5),
            num(a),
            num(b)
        );
    }
    let pts: Vec<String> = windows
        .iter()
        .map(|(t, a)| format!("{:.1},{:.1}", fr.x(t + WINDOW_SECONDS / 2.0), fr.y(*a)))
        .collect();
    let _ = write!(s, "<polyline class=\"avail\" points=\"{}\"/>", pts.join(" "));
    for (t, a) in &windows {
        let _ = write!(
            s,
            "<circle class=\"win\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\"/>",
            fr.x(t + WINDOW_SECONDS / 2.0),
            fr.y(*a)
        );
    }
    s.push_str("</svg>\n");
}

/// Latency per window, when the windows carry it (keys starting `latency`).
fn latency_timeline(s: &mut String, events: &[Value], duration: f64) {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for e in events.iter().filter(|e| kind(e) == "window") {
        let t = f(e, "t").unwrap_or(0.0);
        for (k, v) in e.as_object().into_iter().flatten() {
            if k.starts_with("latency") {
                if let Some(v) = v.as_f64() {
                    series.entry(k.clone()).or_default().push((t, v));
                }
            }
        }
    }
    if series.is_empty() {
        return;
    }
    let max = series.values().flatten().map(|p| p.1).fold(0.0, f64::max);
    let fr = Frame::new(200.0, 0.0, duration, 0.0, max * 1.1);
    let step = svg::nice_step(max * 1.1, 4.0);
    let ticks: Vec<f64> = (0..=5).map(|k| k as f64 * step).filter(|v| *v <= max * 1.1).collect();
    s.push_str("<h2>Latency over time</h2>\n<p class=\"legend\">");
    for (i, k) in series.keys().enumerate() {
        let _ = write!(
            s,
            "<span><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
            COLOURS[i % COLOURS.len()],
            esc(k)
        );
    }
    s.push_str("</p>\n");
    s.push_str(&fr.open("latency per window"));
    s.push_str(&fr.axes("run time (s)", "ms", &ticks, |v| num(v * 1e3)));
    for (i, pts) in series.values().enumerate() {
        let p: Vec<String> = pts.iter().map(|(t, v)| format!("{:.1},{:.1}", fr.x(*t), fr.y(*v))).collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.4\" points=\"{}\"/>",
            COLOURS[i % COLOURS.len()],
            p.join(" ")
        );
    }
    s.push_str("</svg>\n");
}

const COLOURS: &[&str] = &["#2fa860", "#e07b17", "#8a5cd6", "#2f6fdf", "#c0262d"];

fn node_timeline(s: &mut String, r: &Value, events: &[Value], duration: f64) {
    let mut names: Vec<String> = r
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    let changes: Vec<(&str, f64, &str)> = events
        .iter()
        .filter(|e| kind(e) == "node_state")
        .filter_map(|e| Some((e.get("node")?.as_str()?, f(e, "t").unwrap_or(0.0), e.get("state")?.as_str()?)))
        .collect();
    for (n, _, _) in &changes {
        if !names.iter().any(|x| x == n) {
            names.push((*n).to_string());
        }
    }
    if names.is_empty() {
        return;
    }
    let row = 22.0;
    let mut fr = Frame::new(row * names.len() as f64 + 48.0, 0.0, duration, 0.0, 1.0);
    fr.left = 90.0;
    s.push_str("<h2>Node states</h2>\n<p class=\"legend\"><span><span class=\"sw\" style=\"background:#2fa860\"></span>up</span>\
        <span><span class=\"sw\" style=\"background:#e5484d\"></span>down</span>\
        <span><span class=\"sw\" style=\"background:#f2a93b\"></span>paused</span></p>\n");
    s.push_str(&fr.open("node state timeline"));
    s.push_str(&fr.axes("run time (s)", "", &[], num));
    for (i, name) in names.iter().enumerate() {
        let y = fr.top + 4.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            fr.left - 6.0,
            y + 13.0,
            esc(name)
        );
        // Every node starts up; each change holds until the next.
        let mut segs: Vec<(f64, String)> = vec![(0.0, "up".into())];
        for (_, t, st) in changes.iter().filter(|c| c.0 == name) {
            segs.push((*t, (*st).to_lowercase()));
        }
        for (k, (t, st)) in segs.iter().enumerate() {
            let end = segs.get(k + 1).map_or(duration, |n| n.0);
            if end <= *t {
                continue;
            }
            let class = match st.as_str() {
                "up" | "down" | "paused" => st.as_str(),
                _ => "other",
            };
            let _ = write!(
                s,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{} {} from {} s to {} s</title></rect>",
                fr.x(*t),
                (fr.x(end) - fr.x(*t)).max(1.0),
                row - 6.0,
                esc(name),
                esc(st),
                num(*t),
                num(end)
            );
        }
    }
    s.push_str("</svg>\n");
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

fn repeat(s: &mut String, r: &Value) {
    let Some(rep) = r.get("repeat").filter(|v| v.is_object()) else { return };
    let runs = rep.get("runs").and_then(Value::as_u64).unwrap_or(0);
    s.push_str("<h2>Reliability over repeated runs</h2>\n");
    let _ = writeln!(
        s,
        "<p>{} runs, {} with a service failure. R(t) = P(no service failure in [0, t]), Kaplan–Meier, censored at each \
         run's end; the band is {}.</p>",
        runs,
        text(rep.get("failures").unwrap_or(&Value::Null)),
        esc(rep.get("band").and_then(Value::as_str).unwrap_or("a 95% band"))
    );
    let ci = rep.get("mttf_ci").and_then(Value::as_array).cloned().unwrap_or_default();
    let lo = ci.first().cloned().unwrap_or(Value::Null);
    let hi = ci.get(1).cloned().unwrap_or(Value::Null);
    if rep.get("mttf_zero_failure_bound").and_then(Value::as_bool) == Some(true) {
        let _ = writeln!(
            s,
            "<p>No failure seen: MTTF &gt; {} s (95% one-sided bound T / ln(1/α)).</p>",
            text(&lo)
        );
    } else {
        let _ = writeln!(
            s,
            "<p>MTTF {} s, 95% interval [{} s, {} s] (exponential lifetimes, χ²).</p>",
            text(rep.get("mttf_seconds").unwrap_or(&Value::Null)),
            text(&lo),
            text(&hi)
        );
    }
    let curve = points(rep.get("reliability_curve"));
    let model = rep.get("tmr_model").filter(|v| v.is_object());
    let replica = model.map(|m| points(m.get("replica_curve"))).unwrap_or_default();
    let end = curve.iter().chain(&replica).map(|p| p.0).fold(0.0, f64::max);
    if !curve.is_empty() {
        let fr = Frame::new(280.0, 0.0, end, 0.0, 1.0);
        s.push_str("<p class=\"legend\"><span><span class=\"sw\" style=\"background:#2f6fdf\"></span>service R(t) with its band</span>");
        if model.is_some() {
            s.push_str(
                "<span><span class=\"sw\" style=\"background:#8a5cd6\"></span>one replica R(t)</span>\
                <span><span class=\"sw\" style=\"background:#e07b17\"></span>model 3R² − 2R³</span>",
            );
        }
        s.push_str("</p>\n");
        s.push_str(&fr.open("reliability curve"));
        s.push_str(&fr.axes("time (s)", "R(t)", &[0.0, 0.25, 0.5, 0.75, 1.0], num));
        // Band: upper edge forward, lower edge back, both as steps.
        let upper = steps(&fr, &curve.iter().map(|p| (p.0, p.3)).collect::<Vec<_>>(), end);
        let lower = steps(&fr, &curve.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(), end);
        let mut band = upper.clone();
        band.extend(lower.into_iter().rev());
        let _ = write!(s, "<polygon class=\"band\" points=\"{}\"/>", band.join(" "));
        let _ = write!(
            s,
            "<polyline class=\"curve\" points=\"{}\"/>",
            steps(&fr, &curve.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), end).join(" ")
        );
        if !replica.is_empty() {
            let rc: Vec<(f64, f64)> = replica.iter().map(|p| (p.0, p.1)).collect();
            let _ = write!(s, "<polyline class=\"replica\" points=\"{}\"/>", steps(&fr, &rc, end).join(" "));
            let mc: Vec<(f64, f64)> =
                replica.iter().map(|p| (p.0, 3.0 * p.1 * p.1 - 2.0 * p.1 * p.1 * p.1)).collect();
            let _ = write!(s, "<polyline class=\"model\" points=\"{}\"/>", steps(&fr, &mc, end).join(" "));
        }
        s.push_str("</svg>\n");
    }
    if let Some(m) = model {
        s.push_str("<h3>TMR measured beside the model</h3>\n<p class=\"note\">The model assumes no repair and independent \
            replica failures. MTTF_TMR = 5/(6λ) is shorter than one replica's 1/λ, though R_TMR is higher early on.</p>\n");
        let mut flat = m.clone();
        if let Some(o) = flat.as_object_mut() {
            o.remove("replica_curve");
        }
        kv_table(s, &flat);
    }
    for key in ["availability", "availability_time"] {
        if let Some(a) = rep.get(key).filter(|v| v.is_object()) {
            let _ = writeln!(
                s,
                "<p>{} across runs: mean {}, min {}, max {}, stddev {}.</p>",
                esc(&key.replace('_', " ")),
                text(&a["mean"]),
                text(&a["min"]),
                text(&a["max"]),
                text(&a["stddev"])
            );
        }
    }
}

/// (t, r, lo, hi) of a curve in JSON.
fn points(v: Option<&Value>) -> Vec<(f64, f64, f64, f64)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let r = f(p, "r")?;
            Some((f(p, "t")?, r, f(p, "lo").unwrap_or(r), f(p, "hi").unwrap_or(r)))
        })
        .collect()
}

/// A right-continuous step function as polyline points, carried to `end`.
fn steps(fr: &Frame, pts: &[(f64, f64)], end: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (t, v)) in pts.iter().enumerate() {
        if i > 0 {
            out.push(format!("{:.1},{:.1}", fr.x(*t), fr.y(pts[i - 1].1)));
        }
        out.push(format!("{:.1},{:.1}", fr.x(*t), fr.y(*v)));
    }
    if let Some((_, v)) = pts.last() {
        out.push(format!("{:.1},{:.1}", fr.x(end), fr.y(*v)));
    }
    out
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
fn kv_table(s: &mut String, v: &Value) {
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
    let mut cols: Vec<String> = Vec::new();
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
            "availability": 0.95, "availability_time": 0.9, "availability_model": null,
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
