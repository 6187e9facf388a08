//! The reliability section of a series of runs: the measured R(t)
//! (Kaplan–Meier) with its band, beside the smooth model curves e^(−λt) and
//! 3e^(−2λt) − 2e^(−3λt) for TMR, and each run's availability.

use super::plots::Scale;
use super::svg::{self, esc, num, Frame};
use super::{f, tables::kv_table, text};
use crate::words::count;
use serde_json::Value;
use std::fmt::Write as _;

/// A legend entry: a short line in the curve's colour and dash.
fn key(style: &str, label: &str) -> String {
    format!("<span><span class=\"sw\" style=\"height:0;{style}\"></span>{}</span>", esc(label))
}

pub(super) fn repeat(s: &mut String, r: &Value) {
    let Some(rep) = r.get("repeat").filter(|v| v.is_object()) else { return };
    let runs = rep.get("runs").and_then(Value::as_f64).unwrap_or(0.0);
    let failed = rep.get("failures").and_then(Value::as_f64).unwrap_or(0.0);
    s.push_str("<h2 id=\"reliability\">Reliability over repeated runs</h2>\n");
    let _ = writeln!(
        s,
        "<p>{}, {} with a service failure. R(t) = P(no service failure in [0, t]), measured by Kaplan–Meier \
         (censored at each run's end); the shaded band is its pointwise 95% interval.</p>",
        count(runs, "run"),
        num(failed)
    );
    mttf_line(s, rep);
    let curve = points(rep.get("reliability_curve"));
    let model = rep.get("tmr_model").filter(|v| v.is_object());
    let replica = model.map(|m| points(m.get("replica_curve"))).unwrap_or_default();
    // The model's rate: the file's crash schedule when it gives one, else the replicas' measured rate.
    let lambda = model.and_then(|m| {
        f(m, "nominal_replica_mttf_seconds")
            .filter(|x| *x > 0.0)
            .map(|mttf| (1.0 / mttf, format!("λ = 1/{} s, the file's crash schedule", num(mttf))))
            .or_else(|| {
                f(m, "lambda_per_second").map(|l| (l, format!("λ̂ = {} per second, measured", num(l))))
            })
    });
    let run_end = r.get("duration_seconds").and_then(Value::as_f64).unwrap_or(0.0);
    let end = curve.iter().chain(&replica).map(|p| p.0).fold(run_end, f64::max);
    if !curve.is_empty() {
        let fr = Frame::new(320.0, 0.0, end, 0.0, 1.0);
        s.push_str("<p class=\"legend\">");
        s.push_str(&key(
            "border-top:4px solid #2f6fdf",
            "service R(t), measured (Kaplan–Meier), 95% band shaded",
        ));
        if !replica.is_empty() {
            s.push_str(&key("border-top:3px dashed #8a5cd6", "one replica R(t), measured (Kaplan–Meier)"));
        }
        if let Some((_, source)) = &lambda {
            s.push_str(&key("border-top:3px solid #8a5cd6", "one replica, model e^(−λt)"));
            s.push_str(&key("border-top:4px solid #e07b17", "TMR, model 3e^(−2λt) − 2e^(−3λt)"));
            let _ = write!(s, "<br><span class=\"note\">Model curves with {}.</span>", esc(source));
        }
        s.push_str("</p>\n");
        s.push_str(&fr.open("reliability curve"));
        let ticks: Vec<(f64, String)> = [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|v| (*v, num(*v))).collect();
        s.push_str(&fr.axes_labelled("time since the run's start (s)", "R(t)", &ticks));
        // Band: upper edge forward, lower edge back, both as steps.
        let upper = steps(&fr, &curve.iter().map(|p| (p.0, p.3)).collect::<Vec<_>>(), end);
        let lower = steps(&fr, &curve.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(), end);
        let mut band = upper;
        band.extend(lower.into_iter().rev());
        let _ = write!(s, "<polygon class=\"band\" points=\"{}\"/>", band.join(" "));
        if !replica.is_empty() {
            let rc: Vec<(f64, f64)> = replica.iter().map(|p| (p.0, p.1)).collect();
            let _ = write!(s, "<polyline class=\"replica\" points=\"{}\"/>", steps(&fr, &rc, end).join(" "));
        }
        if let Some((l, _)) = lambda {
            let _ =
                write!(s, "<path class=\"model-replica\" d=\"{}\"/>", smooth(&fr, end, |t| (-l * t).exp()));
            let _ = write!(
                s,
                "<path class=\"model-tmr\" d=\"{}\"/>",
                smooth(&fr, end, |t| crate::repeat::stats::r_tmr((-l * t).exp()))
            );
        }
        let _ = write!(
            s,
            "<polyline class=\"curve\" points=\"{}\"/>",
            steps(&fr, &curve.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), end).join(" ")
        );
        s.push_str("</svg>\n");
    }
    if let Some(m) = model {
        s.push_str("<h3>TMR measured beside the model</h3>\n<p class=\"note\">The model assumes no repair, independent \
            replica failures and a perfect voter. MTTF_TMR = 5/(6λ) is shorter than one replica's 1/λ, though \
            R_TMR = 3R² − 2R³ is higher while R &gt; 0.5.</p>\n");
        let mut flat = m.clone();
        if let Some(o) = flat.as_object_mut() {
            o.remove("replica_curve");
        }
        kv_table(s, &flat);
    }
    availability_across_runs(s, r, rep);
}

fn mttf_line(s: &mut String, rep: &Value) {
    let ci = rep.get("mttf_ci").and_then(Value::as_array).cloned().unwrap_or_default();
    let lo = ci.first().cloned().unwrap_or(Value::Null);
    let hi = ci.get(1).cloned().unwrap_or(Value::Null);
    let mttf = text(rep.get("mttf_seconds").unwrap_or(&Value::Null));
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
            "<p>MTTF {mttf} s. No χ² interval: it assumes exponential lifetimes, and TMR's hazard rises; \
             the curve below is checked against the model instead.</p>"
        );
    } else {
        let _ = writeln!(
            s,
            "<p>MTTF {mttf} s, 95% interval [{} s, {} s] (exponential lifetimes, χ²).</p>",
            text(&lo),
            text(&hi)
        );
    }
}

/// Each run's availability as a dot, on an axis zoomed to the runs' range.
fn availability_across_runs(s: &mut String, r: &Value, rep: &Value) {
    for (key, what) in [("availability", "by requests"), ("availability_time", "by time")] {
        if let Some(a) = rep.get(key).filter(|v| v.is_object()) {
            let _ = writeln!(
                s,
                "<p>Availability {what} across runs: mean {}, smallest {}, largest {}, standard deviation {}.</p>",
                text(&a["mean"]),
                text(&a["min"]),
                text(&a["max"]),
                text(&a["stddev"])
            );
        }
    }
    let per_run: Vec<(f64, f64)> = r
        .get("runs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| Some((f(x, "run")?, f(x, "availability")?)))
        .collect();
    if per_run.len() < 2 {
        return;
    }
    // Some run far below 90 %: a plain 0–1 axis shows the spread.
    let lo = match Scale::choose(&per_run.iter().map(|p| p.1).collect::<Vec<_>>(), 0.0) {
        Scale::Zoomed { lo } => lo,
        Scale::Nines { .. } => 0.0,
    };
    draw_runs(s, &per_run, lo);
}

fn draw_runs(s: &mut String, per_run: &[(f64, f64)], lo: f64) {
    let n = per_run.iter().map(|p| p.0).fold(1.0, f64::max);
    let mut fr = Frame::new(220.0, 0.5, n + 0.5, lo, 1.0);
    fr.xstep = Some(svg::nice_step(n, 10.0).max(1.0));
    let _ = writeln!(
        s,
        "<p class=\"note\">Availability by requests of each run; the vertical axis {}.</p>",
        if lo > 0.0 {
            format!("is zoomed to the runs' range, from {} %", num(lo * 100.0))
        } else {
            "runs from 0 to 1".into()
        }
    );
    s.push_str(&fr.open("availability of each run"));
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| lo + (1.0 - lo) * f64::from(i) / 4.0)
        .map(|v| (v, format!("{} %", num((v * 1e5).round() / 1e3))))
        .collect();
    let ylabel = if lo > 0.0 { "ok / sent (zoomed)" } else { "ok / sent" };
    s.push_str(&fr.axes_labelled("run", ylabel, &ticks));
    for (run, a) in per_run {
        let _ = write!(
            s,
            "<circle class=\"win\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"><title>run {}: {}</title></circle>",
            fr.x(*run),
            fr.y(*a),
            num(*run),
            num(*a)
        );
    }
    s.push_str("</svg>\n");
}

/// A smooth curve as an SVG path, sampled finely over [0, end].
fn smooth(fr: &Frame, end: f64, g: impl Fn(f64) -> f64) -> String {
    const SAMPLES: usize = 240;
    (0..=SAMPLES)
        .map(|i| {
            let t = end * i as f64 / SAMPLES as f64;
            format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, fr.x(t), fr.y(g(t)))
        })
        .collect::<Vec<_>>()
        .join(" ")
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
