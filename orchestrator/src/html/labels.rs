//! Plain-language labels for report.json keys, and their values with units:
//! a class reads "mean time to failure (MTTF) 12.3 s", not
//! `mttf_seconds 12.3`. A key the table does not know is turned into words
//! from its parts, so a new workload's numbers still read as words.

use super::svg::num;
use serde_json::Value;

/// How a value reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    /// Seconds: "12.3 s".
    Seconds,
    /// A fraction in [0, 1]: "0.99912 (99.912 %)".
    Ratio,
    /// Per second: "1998 per second".
    PerSecond,
    /// As it is.
    Plain,
}

/// (key, label, unit) for the keys whose words the parts alone would not give.
const KNOWN: &[(&str, &str, Unit)] = &[
    ("duration_seconds", "run length on the wall clock", Unit::Seconds),
    ("planned_seconds", "planned length", Unit::Seconds),
    ("paused_seconds", "schedule paused", Unit::Seconds),
    ("throughput_per_second", "correct replies", Unit::PerSecond),
    ("availability", "availability, by requests", Unit::Ratio),
    ("availability_time", "availability, by time up", Unit::Ratio),
    ("availability_model", "model MTTF / (MTTF + MTTR), file's schedule", Unit::Ratio),
    ("availability_model_with_restart", "model with the measured restart time", Unit::Ratio),
    ("availability_exponential_ci", "steady-state availability, exponential fit", Unit::Ratio),
    ("failures", "service failures (outages)", Unit::Plain),
    ("failures_excluding_host_stalls", "outages outside host stalls", Unit::Plain),
    ("mttf_seconds", "mean time to failure (MTTF)", Unit::Seconds),
    ("mttr_seconds", "mean time to repair (MTTR)", Unit::Seconds),
    ("mttf_lower_bound_seconds", "MTTF at least (no failure seen, 95%)", Unit::Seconds),
    ("valid", "run valid", Unit::Plain),
    ("interrupted", "interrupted", Unit::Plain),
    // Recovery incidents and faults.
    ("start", "start (s)", Unit::Seconds),
    ("end", "end (s)", Unit::Seconds),
    ("seconds", "length", Unit::Seconds),
    ("catch_up", "catch-up", Unit::Seconds),
    ("fault_to_outage", "fault to outage", Unit::Seconds),
    ("failed_requests", "requests failed", Unit::Plain),
    ("at_seconds", "started", Unit::Seconds),
    ("until_seconds", "ended", Unit::Seconds),
    ("scheduled_seconds", "scheduled at", Unit::Seconds),
    ("effective_seconds", "took effect", Unit::Seconds),
    ("end_scheduled_seconds", "end scheduled at", Unit::Seconds),
    ("end_effective_seconds", "end took effect", Unit::Seconds),
    ("repair_requested_seconds", "repair asked", Unit::Seconds),
    ("repair_achieved_seconds", "repair took", Unit::Seconds),
    ("failed", "error", Unit::Plain),
    ("t", "time", Unit::Seconds),
    // Measured R(t) beside the model at a few times.
    ("r_replica", "R, one replica", Unit::Plain),
    ("r_tmr_model", "3R² − 2R³ of that R", Unit::Plain),
    ("r_tmr_exponential", "3R² − 2R³, R = e^(−λ̂t)", Unit::Plain),
    ("r_tmr_measured", "R, TMR measured", Unit::Plain),
    ("r_tmr_lo", "its 95% band, low", Unit::Plain),
    ("r_tmr_hi", "its 95% band, high", Unit::Plain),
    ("comparison", "measured beside the model at a few times", Unit::Plain),
    ("down_seconds", "time down", Unit::Seconds),
    // The schedule a seed drew.
    ("model_mttf_seconds", "MTTF in the file", Unit::Seconds),
    ("model_mttr_seconds", "MTTR in the file", Unit::Seconds),
    ("mean_up_seconds", "drawn mean up time", Unit::Seconds),
    ("mean_down_seconds", "drawn mean down time", Unit::Seconds),
    // Detector quality of service.
    ("detection_seconds", "detection time T_D", Unit::Seconds),
    ("mistake_recurrence_seconds", "time between wrong suspicions E[T_MR]", Unit::Seconds),
    ("mistake_duration_seconds", "length of a wrong suspicion E[T_M]", Unit::Seconds),
    ("query_accuracy", "query accuracy P_A (share of time a live node is trusted)", Unit::Ratio),
    ("false_suspicions", "false suspicions (a live node suspected)", Unit::Plain),
    // Byzantine agreement.
    ("validity_checked", "rounds with a loyal commander", Unit::Plain),
    ("validity", "rounds in which every loyal lieutenant obeyed a loyal commander", Unit::Plain),
    ("validity_violations", "rounds in which a loyal lieutenant disobeyed a loyal commander", Unit::Plain),
    ("agreement_rate", "agreement, share of rounds", Unit::Ratio),
    ("validity_rate", "validity, share of rounds with a loyal commander", Unit::Ratio),
    // TMR beside its model (repeated runs).
    ("replica_failures", "replica crashes seen", Unit::Plain),
    ("replica_exposure_seconds", "replica time watched", Unit::Seconds),
    ("lambda_per_second", "replica failure rate λ̂, measured", Unit::PerSecond),
    ("nominal_replica_mttf_seconds", "replica MTTF 1/λ in the file", Unit::Seconds),
    ("replica_mttf_seconds", "replica MTTF 1/λ̂, measured", Unit::Seconds),
    ("replica_mttf_ci", "replica MTTF, 95% interval", Unit::Seconds),
    ("mttf_tmr_model_seconds", "TMR MTTF, model 5/(6λ̂) with the measured rate", Unit::Seconds),
    ("mttf_tmr_nominal_seconds", "TMR MTTF, model 5/(6λ) with the file's rate", Unit::Seconds),
    ("mttf_tmr_measured_seconds", "TMR MTTF, measured", Unit::Seconds),
    ("max_deviation", "largest gap between measured and model R(t)", Unit::Plain),
    ("max_deviation_at_seconds", "where the gap is largest", Unit::Seconds),
    ("inside_band", "model inside the measured curve's 95% band", Unit::Plain),
    ("first_outside_at_seconds", "model first leaves the band at", Unit::Seconds),
];

/// Words for the parts of a key the table does not know.
const PARTS: &[(&str, &str)] = &[
    ("mttf", "MTTF"),
    ("mttr", "MTTR"),
    ("tmr", "TMR"),
    ("rpc", "RPC"),
    ("ci", "95% interval"),
    ("p50", "median"),
    ("p95", "95th percentile"),
    ("p99", "99th percentile"),
    ("max", "largest"),
    ("min", "smallest"),
    ("stddev", "standard deviation"),
    ("n", "count"),
];

/// The plain label of a key (dotted for nested objects: `detection_seconds.p50`).
pub(super) fn label(key: &str) -> String {
    let (words, unit) = describe(key);
    match unit {
        Unit::Seconds if !words.ends_with("(s)") => format!("{words} (s)"),
        _ => words,
    }
}

/// The label without a unit, for a row whose value carries its unit.
pub(super) fn row_label(key: &str) -> String {
    describe(key).0
}

/// The unit of a key's value.
pub(super) fn unit(key: &str) -> Unit {
    describe(key).1
}

fn describe(key: &str) -> (String, Unit) {
    if let Some((_, l, u)) = KNOWN.iter().find(|(k, _, _)| *k == key) {
        return ((*l).to_string(), *u);
    }
    let mut unit = Unit::Plain;
    let parts: Vec<String> = key
        .split('.')
        .map(|part| {
            if let Some((_, l, u)) = KNOWN.iter().find(|(k, _, _)| *k == part) {
                if *u != Unit::Plain {
                    unit = *u;
                }
                return (*l).to_string();
            }
            let mut words: Vec<&str> = part.split('_').filter(|w| !w.is_empty()).collect();
            match words.as_slice() {
                [.., "per", "second"] => unit = Unit::PerSecond,
                [.., "seconds"] => {
                    unit = Unit::Seconds;
                    words.pop();
                }
                _ => {}
            }
            if part.ends_with("_rate") || part.ends_with("_ratio") || part.ends_with("accuracy") {
                unit = Unit::Ratio;
            }
            words
                .iter()
                .map(|w| PARTS.iter().find(|(k, _)| k == w).map_or_else(|| (*w).to_string(), |p| p.1.into()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (parts.join(", "), unit)
}

/// A value with its unit: seconds as "1.2 s", ratios with their percent,
/// intervals as "[lo, hi]", booleans as yes/no, null as a dash.
pub(super) fn value(unit: Unit, v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => (if *b { "yes" } else { "no" }).into(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |x| number(unit, x)),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.len() == 2 && a.iter().all(|x| x.is_number() || x.is_null()) => {
            // A ratio's interval in plain numbers; its percent is beside the estimate.
            let unit = if unit == Unit::Ratio { Unit::Plain } else { unit };
            let end = |x: &Value| x.as_f64().map_or_else(|| "∞".to_string(), |x| number(unit, x));
            format!("95% interval [{}, {}]", end(&a[0]), end(&a[1]))
        }
        other => other.to_string(),
    }
}

/// A number with its unit.
pub(super) fn number(unit: Unit, x: f64) -> String {
    match unit {
        Unit::Seconds => format!("{} s", num(x)),
        Unit::Ratio => format!("{} ({} %)", num(x), num(x * 100.0)),
        Unit::PerSecond => format!("{} per second", num(x)),
        Unit::Plain => num(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_read_as_words_with_units() {
        assert_eq!(label("mttf_lower_bound_seconds"), "MTTF at least (no failure seen, 95%) (s)");
        assert_eq!(row_label("replica_mttf_ci"), "replica MTTF, 95% interval");
        assert_eq!(label("detection_seconds.p50"), "detection time T_D, median (s)");
        assert_eq!(label("lost_work_seconds.mean"), "lost work, mean (s)");
        assert_eq!(label("brand_new_thing"), "brand new thing");
        assert_eq!(value(unit("mttf_seconds"), &json!(12.5)), "12.5 s");
        assert_eq!(value(unit("availability"), &json!(0.99912)), "0.99912 (99.912 %)");
        assert_eq!(value(unit("mttf_seconds"), &json!([3.0, null])), "95% interval [3 s, ∞]");
        assert_eq!(value(unit("valid"), &json!(true)), "yes");
        assert_eq!(unit("detector.query_accuracy"), Unit::Ratio);
    }
}
