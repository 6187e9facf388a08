//! The summary table printed at the end of a run.

use crate::report::Report;
use crate::words::count;
use std::fmt::Write;

fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 1.0 => format!("{:.2} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map(|a| format!("{a:.5}")).unwrap_or_else(|| "-".into())
}

/// ` [lo, hi]` of a 95% interval, or nothing.
fn interval(ci: Option<[f64; 2]>, fmt: fn(f64) -> String) -> String {
    ci.map(|[lo, hi]| format!(" [{}, {}]", fmt(lo), fmt(hi))).unwrap_or_default()
}

/// Render the report as a table for the terminal.
pub fn render(r: &Report, out_dir: Option<&std::path::Path>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{}  (backend {}, seed {}, {:.1} s{}{})",
        r.experiment,
        r.backend,
        r.seed,
        r.duration_seconds,
        if r.paused_seconds > 0.0 {
            format!(", the schedule paused {:.1} s of it", r.paused_seconds)
        } else {
            String::new()
        },
        if r.interrupted {
            ", INTERRUPTED"
        } else if !r.valid {
            ", INVALID"
        } else {
            ""
        }
    );
    let q = &r.requests;
    let _ = writeln!(
        s,
        "  requests       {} sent, {} ok, {} failed, {} wrong   ({:.0} ok/s)",
        q.total, q.ok, q.failed, q.wrong, r.throughput_per_second
    );
    let r5 = |x: f64| format!("{x:.5}");
    let s2 = |x: f64| format!("{x:.2} s");
    if q.total == 0 {
        // Availability, outages and MTTF are measured on requests.
        let _ = writeln!(s, "  availability   n/a (this workload sends no requests)");
    } else {
        let _ = writeln!(
            s,
            "  availability   {}{} by requests, {}{} by time{}",
            ratio(r.availability),
            interval(r.availability_ci, r5),
            ratio(r.availability_time),
            interval(r.availability_time_ci, r5),
            r.availability_model.map(|m| format!(", model MTTF/(MTTF+MTTR) {m:.5}")).unwrap_or_default()
        );
        if let Some([lo, hi]) = r.availability_exponential_ci {
            let _ = writeln!(
                s,
                "                 steady state MTTF/(MTTF+MTTR) from this run: 95% [{lo:.5}, {hi:.5}] (F law, exponential up and down times)"
            );
        }
        if let Some(m) = r.availability_model_with_restart {
            let _ = writeln!(
                s,
                "                 model with the measured restart time {m:.5} (compare with this one)"
            );
        }
    }
    let l = &r.latency_seconds;
    let _ = writeln!(s, "  latency        p50 {}, p99 {}, max {}", secs(l.p50), secs(l.p99), secs(l.max));
    if let Some(lin) = &r.linearizability {
        let _ = writeln!(s, "  history        {}", crate::recorder::history::verdict_text(lin));
    }
    match (r.mttf_seconds, r.mttr_seconds) {
        _ if q.total == 0 => {}
        (Some(f), Some(m)) => {
            let _ = writeln!(
                s,
                "  reliability    {}, MTTF {f:.2} s{}, MTTR {}{}{}",
                count(r.failures as f64, "failure"),
                interval(r.mttf_ci, s2),
                secs(Some(m)),
                interval(r.mttr_ci, |x| secs(Some(x))),
                if r.mttf_ci.is_some() { "  (95%, χ²: assumes exponential up and down times)" } else { "" }
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "  reliability    no failure; MTTF > {} (95% one-sided bound)",
                secs(r.mttf_lower_bound_seconds)
            );
        }
    }
    if let Some(d) = &r.schedule_drawn {
        let _ = writeln!(
            s,
            "  schedule       model MTTF {:.2} s, MTTR {:.2} s; drawn: mean up {}, down {} ({})",
            d.model_mttf_seconds,
            d.model_mttr_seconds,
            d.mean_up_seconds.map(s2).unwrap_or_else(|| "-".into()),
            d.mean_down_seconds.map(s2).unwrap_or_else(|| "-".into()),
            count(d.occurrences as f64, "occurrence")
        );
    }
    let rec = &r.recovery_seconds;
    if rec.count > 0 {
        let _ = writeln!(
            s,
            "  recovery       {}: p50 {}, p95 {}, max {}",
            count(rec.count as f64, "outage"),
            secs(rec.p50),
            secs(rec.p95),
            secs(rec.max)
        );
        for i in rec.incidents.iter().take(8) {
            let _ = writeln!(
                s,
                "                 {:>16} {:>9}  ({}{}{})",
                format!("{:.2}-{:.2} s", i.start, i.end),
                secs(Some(i.seconds)),
                count(i.failed_requests as f64, "request failed"),
                breakdown(i),
                match (i.cause.as_str(), i.fault_to_outage) {
                    ("fault", Some(x)) => format!(", {} after the fault", secs(Some(x))),
                    ("host_stall", _) => ", during a host stall, no fault active".to_string(),
                    ("none", _) => ", no fault active".to_string(),
                    _ => String::new(),
                }
            );
        }
    }
    if let Some(t) = &r.tmr {
        let _ = writeln!(
            s,
            "  voter verdicts unanimous {}, majority {}, no majority {}; state transfers {}",
            t.unanimous, t.majority, t.no_majority, t.state_transfers
        );
    }
    for f in &r.faults {
        let _ = writeln!(
            s,
            "  fault          {} {} at {}{}{}{}",
            f.kind,
            f.target,
            f.at_seconds.map(|a| format!("{a:.3} s")).unwrap_or_default(),
            // A crash that a hand restart undid has its end; only a fault still on at the end has none.
            match (f.until_seconds, &f.failed) {
                (Some(u), _) => format!(" until {u:.3} s"),
                (None, Some(_)) => String::new(),
                (None, None) => " for the rest of the run".into(),
            },
            f.repair_achieved_seconds
                .map(|a| format!(
                    ", repaired in {}{}",
                    secs(Some(a)),
                    f.repair_requested_seconds
                        .map(|q| format!(" ({} asked)", secs(Some(q))))
                        .unwrap_or_default()
                ))
                .unwrap_or_default(),
            f.failed.as_ref().map(|e| format!("  FAILED: {e}")).unwrap_or_default()
        );
    }
    if !r.host_stalls.is_empty() {
        let worst = r.host_stalls.iter().map(|h| h.seconds).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "  host stalls    {} (worst {}); failures not explained by them: {}",
            r.host_stalls.len(),
            secs(Some(worst)),
            r.failures_excluding_host_stalls
        );
    }
    for f in &r.skipped_faults {
        let _ = writeln!(s, "  skipped        {} {} (after the run's end)", f.kind, f.target);
    }
    if let Some(why) =
        r.sections.get("checkpointing").and_then(|c| c.get("golden_mismatch")).and_then(|v| v.as_str())
    {
        let _ = writeln!(s, "  golden run     NOT REACHED: {why}");
    }
    if let (Some(why), false) = (&r.not_judged, r.expect.is_empty()) {
        let _ = writeln!(s, "  expect         NOT JUDGED: {why}");
    }
    for e in &r.expect {
        let _ = writeln!(
            s,
            "  expect         {} {}: {}  {}",
            e.metric,
            e.condition,
            e.value.map(|v| format!("{v}")).unwrap_or_else(|| "null".into()),
            match (e.judged, e.passed) {
                (false, _) => "not judged",
                (true, true) => "PASS",
                (true, false) => "FAIL",
            }
        );
    }
    for f in &r.run_failures {
        let _ = writeln!(s, "  INVALID RUN    {}", f.reason);
    }
    if let Some(d) = out_dir {
        let _ = writeln!(s, "  output         {}", d.display());
    }
    if let Some(c) = &r.control {
        let _ = writeln!(s, "  {c}");
    }
    s
}

/// An incident's parts, as far as the workload knows them.
fn breakdown(i: &crate::report::Incident) -> String {
    let parts = [
        ("detection", i.detection),
        ("failover", i.failover),
        ("down", i.down),
        ("restart", i.restart),
        ("state transfer", i.restore),
        ("catch-up", i.catch_up),
    ];
    let mut out = String::new();
    for (name, v) in parts {
        if let Some(v) = v {
            let _ = write!(out, ", {name} {}", secs(Some(v)));
        }
    }
    if let Some(n) = &i.recovered_node {
        let _ = write!(out, " ({n})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{events::EventLog, Recorder};
    use crate::topology::Topology;
    use std::time::Duration;
    use workloads::Time;

    #[test]
    fn a_crash_undone_by_a_hand_restart_has_its_end_and_an_open_fault_lasts_for_the_rest_of_the_run() {
        let topo = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        let mut r = Recorder::new(topo, Time::ZERO, Duration::from_secs(10), EventLog::discard());
        // Injected by hand (no schedule time), then ended by a hand restart.
        let c = r.fault_started(3, "crash", "replica-1", None, Time::from_millis(2000));
        r.fault_ended(c, None, Time::from_millis(4000));
        r.fault_started(0, "omission", "replica-2", Some(5.0), Time::from_millis(5000));
        let text = render(&r.finish(10.0, false), None);
        assert!(text.contains("crash replica-1 at 2.000 s until 4.000 s"), "{text}");
        assert!(text.contains("omission replica-2 at 5.000 s for the rest of the run"), "{text}");
        assert!(!text.contains("to the end"), "{text}");
    }
}
