//! The summary table printed after a series of runs.

use super::{stats, Repeat};
use crate::words::{count, noun_for};
use serde_json::Value;
use std::fmt::Write as _;

fn num(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.2}{unit}"),
        _ => "-".into(),
    }
}

/// The summary table printed after a series.
pub fn render_summary(aggregate: &Value, repeat: &Repeat) -> String {
    let mut s = String::new();
    let name = aggregate.get("experiment").and_then(Value::as_str).unwrap_or("?");
    let _ = writeln!(s, "\n{name}: {}", count(repeat.runs as f64, "run"));
    let _ = writeln!(
        s,
        "  failures       {} of {} had a service failure (time to the first one, censored at the run's end)",
        repeat.failures,
        count(repeat.runs as f64, "run")
    );
    let [lo, hi] = repeat.mttf_ci;
    if repeat.mttf_zero_failure_bound {
        let _ = writeln!(
            s,
            "  MTTF           no failure in {:.1} s of runs: MTTF > {} (95% one-sided bound T/ln(1/α))",
            repeat.exposure_seconds,
            num(lo, " s")
        );
    } else if repeat.mttf_ci_valid {
        let _ = writeln!(
            s,
            "  MTTF           {}  95% CI [{}, {}]  (exponential, χ², {:.1} s watched)",
            num(repeat.mttf_seconds, " s"),
            num(lo, " s"),
            num(hi, " s"),
            repeat.exposure_seconds
        );
    } else {
        let _ = writeln!(
            s,
            "  MTTF           {} ({:.1} s watched); no χ² interval: it assumes a constant hazard, \
             and TMR's rises (see the model check)",
            num(repeat.mttf_seconds, " s"),
            repeat.exposure_seconds
        );
    }
    if let (Some(m), false) = (&repeat.mttf_restricted, repeat.mttf_zero_failure_bound) {
        let _ = writeln!(
            s,
            "  mean to fail   {:.2} s 95% CI [{:.2} s, {:.2} s] (area under R(t) to {:.1} s, where R = {:.3}; no \
             assumption about the hazard)",
            m.seconds, m.lo, m.hi, m.horizon_seconds, m.r_at_horizon
        );
    }
    if let Some(b) = &repeat.reliability_band_simultaneous {
        let _ = writeln!(
            s,
            "  R(t) band      simultaneous 95% from {:.2} s to {:.2} s: ±{:.2} standard errors (pointwise: ±1.96), {}",
            b.t_lo, b.t_hi, b.critical_value, b.method
        );
    }
    if let Some(a) = repeat.availability {
        let _ = writeln!(
            s,
            "  availability   mean {:.5}{}, min {:.5}, max {:.5}, stddev {:.5} (by requests)",
            a.mean,
            repeat
                .availability_ci
                .map(|[lo, hi]| format!(" 95% CI [{lo:.5}, {hi:.5}] (t over {} runs)", a.n))
                .unwrap_or_default(),
            a.min,
            a.max,
            a.stddev
        );
    }
    let end = aggregate
        .get("duration_seconds")
        .and_then(Value::as_f64)
        .unwrap_or_else(|| repeat.reliability_curve.last().map_or(0.0, |p| p.t));
    let mut line = String::from("  R(t)          ");
    for k in 1..=4 {
        let t = end * k as f64 / 4.0;
        if let Some(p) = stats::curve_at(&repeat.reliability_curve, t) {
            let _ = write!(line, " R({t:.1}s) = {:.2} [{:.2}, {:.2}]", p.r, p.lo, p.hi);
        }
    }
    let _ = writeln!(s, "{line}");
    if let Some(m) = &repeat.tmr_model {
        let _ = writeln!(
            s,
            "  replicas       {} crashes in {:.1} replica-seconds: 1/λ = {} (file: {}), 95% CI [{}, {}]",
            m.replica_failures,
            m.replica_exposure_seconds,
            num(m.replica_mttf_seconds, " s"),
            num(m.nominal_replica_mttf_seconds, " s"),
            num(m.replica_mttf_ci[0], " s"),
            num(m.replica_mttf_ci[1], " s"),
        );
        let _ = writeln!(
            s,
            "  MTTF_TMR       measured {} 95% CI [{}, {}] (area under R_TMR(t)); model 5/(6λ) = {} with the \
             measured λ, {} with the file's{}: shorter than one replica's 1/λ",
            num(m.mttf_tmr_measured_seconds, " s"),
            num(m.mttf_tmr_measured_ci[0], " s"),
            num(m.mttf_tmr_measured_ci[1], " s"),
            num(m.mttf_tmr_model_seconds, " s"),
            num(m.mttf_tmr_nominal_seconds, " s"),
            match m.mttf_tmr_ci_covers_nominal {
                Some(true) => " (inside the CI)",
                Some(false) => " (OUTSIDE the CI)",
                None => "",
            }
        );
        for (c, which) in
            [(&m.model_check, "λ̂ from the replicas' lifetimes"), (&m.model_check_nominal, "the file's λ")]
        {
            let Some(c) = c else { continue };
            let _ = writeln!(
                s,
                "  model check    R_TMR measured vs 3R²−2R³, R = exp(−λt), λ = {:.4}/s ({which}): \
                 max deviation {:.3} at {:.1} s; {}; {}; inside the pointwise band at {:.0}% of {} instants",
                c.lambda_per_second,
                c.max_deviation,
                c.max_deviation_at_seconds,
                match c.first_outside_simultaneous_at_seconds {
                    None if c.inside_simultaneous_band.is_some() => {
                        "inside the simultaneous 95% band at every t".to_string()
                    }
                    None => "no simultaneous band".to_string(),
                    Some(t) => format!("leaves the simultaneous 95% band at {t:.1} s"),
                },
                match c.first_outside_at_seconds {
                    None => "inside the pointwise band throughout".to_string(),
                    Some(t) => format!("first outside the pointwise band at {t:.1} s"),
                },
                100.0 * c.pointwise_coverage,
                c.coverage_points,
            );
        }
        let _ = writeln!(s, "  {:>8} {:>10} {:>14} {:>16}", "t", "R replica", "3R²−2R³", "R_TMR measured");
        for p in &m.comparison {
            let _ = writeln!(
                s,
                "  {:>7.1}s {:>10.3} {:>14.3} {:>9.3} [{:.2}, {:.2}]",
                p.t, p.r_replica, p.r_tmr_model, p.r_tmr_measured, p.r_tmr_lo, p.r_tmr_hi
            );
        }
    }
    if let Some(why) = aggregate.get("not_judged").and_then(Value::as_str) {
        let _ = writeln!(s, "  expect         NOT JUDGED: {why}");
    }
    for e in aggregate.get("expect").and_then(Value::as_array).into_iter().flatten() {
        let _ = writeln!(
            s,
            "  expect         {} {}: {}  {}",
            e.get("metric").and_then(Value::as_str).unwrap_or(""),
            e.get("condition").and_then(Value::as_str).unwrap_or(""),
            match e.get("runs_passed").and_then(Value::as_u64) {
                Some(k) => format!("held in {k} of {} {}", repeat.runs, noun_for(repeat.runs as f64, "run")),
                None => e.get("value").map(|v| v.to_string()).unwrap_or_default(),
            },
            match (e.get("judged").and_then(Value::as_bool), e.get("passed").and_then(Value::as_bool)) {
                (Some(false), _) => "not judged",
                (_, Some(true)) => "PASS",
                _ => "FAIL",
            }
        );
    }
    s
}
