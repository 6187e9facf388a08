//! `report.json`: the contract of DESIGN.md ("Outputs of a run"). A metric
//! that does not apply to the workload is `null`, never missing.

use serde::Serialize;

/// The whole report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub experiment: String,
    pub concept: Option<String>,
    pub seed: u64,
    pub backend: String,
    pub run_id: String,
    /// The run's length on the wall clock, from the start to its end (or
    /// to the moment it was interrupted), pauses of the schedule included.
    pub duration_seconds: f64,
    /// The length the experiment asked for (`duration:` or `--duration`).
    pub planned_seconds: f64,
    /// How long the dashboard held the schedule paused (traffic went on,
    /// and every time in this report is on the wall-clock axis).
    pub paused_seconds: f64,
    pub interrupted: bool,
    /// Why `expect:` was not judged (an interrupted or invalid run), or null.
    pub not_judged: Option<String>,
    /// Set on a fault-free control run (`--no-faults`): what was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// False when the run did not really run as written (an agent died or
    /// went silent outside a fault, a fault could not be executed, a client
    /// stopped sending): its numbers then prove nothing and `run` fails.
    pub valid: bool,
    /// Why the run is invalid, in the order it was seen.
    pub run_failures: Vec<RunFailure>,
    pub requests: Requests,
    pub throughput_per_second: f64,
    pub latency_seconds: Latency,
    /// Correct replies over requests sent; null when the workload sent none.
    pub availability: Option<f64>,
    /// 95% interval of `availability` (batch means over the 100 ms windows).
    pub availability_ci: Option<[f64; 2]>,
    /// 1 − outage time / duration; null when the workload sent no requests.
    pub availability_time: Option<f64>,
    /// 95% interval of `availability_time` (batch means over the 100 ms windows).
    pub availability_time_ci: Option<[f64; 2]>,
    pub availability_model: Option<f64>,
    /// The model with the measured restart time added to every repair:
    /// MTTF / (MTTF + MTTR + restart). The measured availability pays for
    /// restarts too, so a class compares it with this one.
    pub availability_model_with_restart: Option<f64>,
    /// 95% interval of the steady-state availability MTTF/(MTTF + MTTR) from
    /// this run's up and down times, assuming both exponential (F law): the
    /// one to hold against `availability_model`.
    pub availability_exponential_ci: Option<[f64; 2]>,
    pub failures: u64,
    /// Outages that do not coincide with a stall of the host that runs the
    /// agents (see `host_stalls`): a host's hiccup cannot fail an experiment
    /// that checks this instead of `failures`.
    pub failures_excluding_host_stalls: u64,
    /// Stretches when the orchestrator's loop or an agent's ran late.
    pub host_stalls: Vec<HostStall>,
    pub mttf_seconds: Option<f64>,
    /// 95% χ² interval of `mttf_seconds`, valid for exponential up times.
    pub mttf_ci: Option<[f64; 2]>,
    pub mttr_seconds: Option<f64>,
    /// 95% χ² interval of `mttr_seconds`, valid for exponential down times.
    pub mttr_ci: Option<[f64; 2]>,
    /// One-sided 95% lower bound on the MTTF when no failure was seen: T / ln(1/0.05).
    pub mttf_lower_bound_seconds: Option<f64>,
    /// How the intervals are computed and what they assume (null without requests).
    pub intervals: Option<IntervalMethods>,
    /// The random up/down schedule the seed actually drew, beside the file's model.
    pub schedule_drawn: Option<ScheduleDrawn>,
    pub recovery_seconds: Recovery,
    pub faults: Vec<FaultRecord>,
    pub skipped_faults: Vec<FaultRecord>,
    pub nodes: Vec<NodeRecord>,
    pub detector: Option<serde_json::Value>,
    pub tmr: Option<Tmr>,
    /// The checker's verdict on the clients' history (history.jsonl): null
    /// when the workload has no clients that record one.
    pub linearizability: Option<workloads::history::Linearizability>,
    /// Each workload's own section under its key (`checkpointing`,
    /// `byzantine`, `commit`, `rpc`...), null but for the run's workload.
    #[serde(flatten)]
    pub sections: crate::recorder::section::Sections,
    pub repeat: Option<serde_json::Value>,
    pub expect: Vec<ExpectResult>,
}

/// What the report's intervals are and assume.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalMethods {
    pub confidence: f64,
    pub availability: String,
    pub mttf: String,
    pub mttr: String,
    pub availability_exponential: String,
}

/// The occurrences a random (`every: {mttf, mttr}`) crash or pause schedule
/// drew for this run's seed: sample means of the drawn up and down times.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduleDrawn {
    /// The file's fault entry (0-based).
    pub fault: usize,
    pub model_mttf_seconds: f64,
    pub model_mttr_seconds: f64,
    /// Up times before each drawn failure (from the schedule's first instant).
    pub mean_up_seconds: Option<f64>,
    /// Drawn down times (as drawn, even when one runs past the end).
    pub mean_down_seconds: Option<f64>,
    pub occurrences: usize,
}

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    /// Includes `unsent`.
    pub failed: u64,
    pub wrong: u64,
    /// Due at the rate but never sent: the client's bound on outstanding
    /// requests was reached (the service was not keeping up).
    pub unsent: u64,
}

/// Latency of correct replies.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// Recovery times, one incident per outage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recovery {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
    pub incidents: Vec<Incident>,
}

/// One outage: from the send time of the first failed request to the send
/// time of the next correct one, broken down where the workload knows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    pub start: f64,
    pub end: f64,
    pub seconds: f64,
    pub detection: Option<f64>,
    pub failover: Option<f64>,
    /// State transfer time of the replica whose recovery ended the outage.
    pub restore: Option<f64>,
    pub catch_up: Option<f64>,
    /// From the outage's start until the restart of the crashed node whose
    /// recovery ended it was issued (the repair time the schedule asked for).
    pub down: Option<f64>,
    /// From that restart being issued until the node served its control
    /// channel again (its process or container restarted).
    pub restart: Option<f64>,
    /// The node whose restart or takeover ended the outage.
    pub recovered_node: Option<String>,
    /// The most recent fault active at the outage's start (or ended within
    /// the effect window before it); None when no fault can explain it.
    pub fault: Option<usize>,
    /// From that fault's injection to the outage's start.
    pub fault_to_outage: Option<f64>,
    /// `fault`, `host_stall` (no fault active, and the host stalled) or `none`.
    pub cause: String,
    /// Whether the outage coincides with a host stall.
    pub host_stall: bool,
    /// Requests failed or wrong during it.
    pub failed_requests: u64,
}

/// A stretch of time when the orchestrator's loop or an agent's ran late
/// by more than the stall threshold (run-relative seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostStall {
    pub start: f64,
    pub end: f64,
    pub seconds: f64,
    /// `orchestrator` or the agent's node name.
    pub source: String,
}

/// Something that makes the run invalid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunFailure {
    pub t: f64,
    pub node: Option<String>,
    pub reason: String,
}

/// A fault as executed (not as planned). Three instants for each end: when
/// the schedule wanted it, when the orchestrator issued the action (for a
/// crash: just before the kill), and when it took effect as the engine or
/// the agent reported it. `at_seconds`/`until_seconds` are the issued ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultRecord {
    pub fault: usize,
    pub kind: String,
    pub target: String,
    pub at_seconds: Option<f64>,
    pub until_seconds: Option<f64>,
    pub scheduled_seconds: Option<f64>,
    pub effective_seconds: Option<f64>,
    pub end_scheduled_seconds: Option<f64>,
    pub end_effective_seconds: Option<f64>,
    /// For a crash with `for`: the repair time the schedule asked for, and
    /// the one achieved (from the kill until the node served its control
    /// channel again), which includes the restart.
    pub repair_requested_seconds: Option<f64>,
    pub repair_achieved_seconds: Option<f64>,
    /// The backend could not execute it (the error); the run is then invalid.
    pub failed: Option<String>,
}

/// A node and what happened to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeRecord {
    pub name: String,
    pub role: String,
    pub crashes: u64,
    pub recoveries: u64,
    pub down_seconds: f64,
}

/// Voter verdicts, counted over every voter (with three voters each request gets three).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tmr {
    pub unanimous: u64,
    pub majority: u64,
    pub no_majority: u64,
    pub state_transfers: u64,
}

/// One `expect:` entry and whether it held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectResult {
    pub metric: String,
    pub condition: String,
    pub value: Option<f64>,
    /// Whether the run could judge it: false for an interrupted or invalid
    /// run, whose numbers prove nothing (`passed` is then false too).
    pub judged: bool,
    pub passed: bool,
}

/// Write `dir/report.json`, then `dir/report.html` from it and the run's events.
pub fn write(dir: &std::path::Path, report: &impl Serialize) -> anyhow::Result<()> {
    use anyhow::Context;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    crate::html::write_for_dir(dir)?;
    Ok(())
}

/// Check `dir/history.jsonl` again, when it and `dir/report.json` exist, and
/// put the verdict in report.json as `linearizability`, with the judged
/// `expect:` entries on it judged again: so a history edited, or produced
/// elsewhere, gets its own verdict. Returns the verdict.
pub fn recheck_history(dir: &std::path::Path) -> anyhow::Result<Option<workloads::history::Linearizability>> {
    use anyhow::Context;
    let (hpath, rpath) = (dir.join("history.jsonl"), dir.join("report.json"));
    if !hpath.exists() || !rpath.exists() {
        return Ok(None);
    }
    let verdict = crate::recorder::history::check_file(&hpath)?;
    let text = std::fs::read_to_string(&rpath).with_context(|| format!("cannot read {}", rpath.display()))?;
    let mut report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", rpath.display()))?;
    let serde_json::Value::Object(fields) = &mut report else {
        anyhow::bail!("{} is not a report (not a JSON object)", rpath.display());
    };
    fields.insert("linearizability".into(), serde_json::to_value(&verdict)?);
    let judged_again: Vec<(usize, Option<f64>, bool)> = report
        .get("expect")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, e)| {
            let metric = e.get("metric")?.as_str()?;
            if !metric.starts_with("linearizability.") || e.get("judged")? != &serde_json::Value::Bool(true) {
                return None;
            }
            let (op, value) = crate::experiment::validate::parse_condition(e.get("condition")?.as_str()?)?;
            let expectation =
                crate::experiment::Expectation { metric: metric.into(), op, value, condition: String::new() };
            let actual = lookup(&report, metric);
            Some((i, actual, expectation.holds(actual)))
        })
        .collect();
    for (i, value, passed) in judged_again {
        if let Some(e) = report.get_mut("expect").and_then(|x| x.get_mut(i)) {
            e["value"] = serde_json::to_value(value)?;
            e["passed"] = serde_json::Value::Bool(passed);
        }
    }
    std::fs::write(&rpath, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", rpath.display()))?;
    Ok(Some(verdict))
}

/// Look up a dotted path (`requests.wrong`) in a JSON value as a number
/// (booleans count as 0/1). In a list, a part is an index or the `name` of
/// an element (`nodes.replica-2.crashes`).
pub fn lookup(value: &serde_json::Value, path: &str) -> Option<f64> {
    let mut v = value;
    for part in path.split('.') {
        v = match v {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => match part.parse::<usize>() {
                Ok(i) => a.get(i)?,
                Err(_) => a.iter().find(|e| e.get("name").and_then(|n| n.as_str()) == Some(part))?,
            },
            _ => return None,
        };
    }
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Evaluate `expect:` against the report and store the results in it.
pub fn evaluate(
    report: &mut Report,
    expectations: &[crate::experiment::Expectation],
) -> serde_json::Result<()> {
    report.not_judged = if report.interrupted {
        Some(format!(
            "the run was interrupted at {:.1} s of {:.1} s",
            report.duration_seconds - report.paused_seconds,
            report.planned_seconds
        ))
    } else if !report.valid {
        let why = report.run_failures.first().map(|f| f.reason.as_str()).unwrap_or("unknown");
        Some(format!("the run is invalid: {why}"))
    } else {
        None
    };
    let judged = report.not_judged.is_none();
    let json = serde_json::to_value(&*report)?;
    report.expect = expectations
        .iter()
        .map(|e| {
            let value = lookup(&json, &e.metric);
            ExpectResult {
                metric: e.metric.clone(),
                condition: e.condition.clone(),
                value,
                judged,
                passed: judged && e.holds(value),
            }
        })
        .collect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_dotted_paths_and_rejects_non_numbers() {
        let v = serde_json::json!({"requests": {"wrong": 3}, "tmr": null, "ok": true, "name": "x"});
        assert_eq!(lookup(&v, "requests.wrong"), Some(3.0));
        assert_eq!(lookup(&v, "tmr.majority"), None);
        assert_eq!(lookup(&v, "ok"), Some(1.0));
        assert_eq!(lookup(&v, "name"), None);
        assert_eq!(lookup(&v, "missing"), None);
        let v = serde_json::json!({"nodes": [{"name": "replica-1", "crashes": 0}, {"name": "replica-2", "crashes": 2}]});
        assert_eq!(lookup(&v, "nodes.1.crashes"), Some(2.0));
        assert_eq!(lookup(&v, "nodes.replica-2.crashes"), Some(2.0));
        assert_eq!(lookup(&v, "nodes.replica-1.crashes"), Some(0.0));
        assert_eq!(lookup(&v, "nodes.replica-3.crashes"), None);
    }
}
