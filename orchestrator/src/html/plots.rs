//! The page's plots over time: availability per window with fault bands,
//! latency, node states, and the R(t) curve of repeated runs.

use super::svg::{self, esc, num, Frame};
use super::{f, kind, kv_table, text, WINDOW_SECONDS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

pub(super) fn availability_timeline(s: &mut String, events: &[Value], duration: f64) {
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
pub(super) fn latency_timeline(s: &mut String, events: &[Value], duration: f64) {
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

pub(super) fn node_timeline(s: &mut String, r: &Value, events: &[Value], duration: f64) {
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

pub(super) fn repeat(s: &mut String, r: &Value) {
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
    } else if rep.get("mttf_ci_valid").and_then(Value::as_bool) == Some(false) {
        // TMR's hazard rises: the χ² interval's constant-hazard assumption fails there.
        let _ = writeln!(
            s,
            "<p>MTTF {} s. No χ² interval: it assumes exponential lifetimes, and TMR's hazard rises; \
             the curve below is checked against the model instead.</p>",
            text(rep.get("mttf_seconds").unwrap_or(&Value::Null))
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
    let run_end = r.get("duration_seconds").and_then(Value::as_f64).unwrap_or(0.0);
    let end = curve.iter().chain(&replica).map(|p| p.0).fold(run_end, f64::max);
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
