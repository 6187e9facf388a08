//! What each report.json metric means, in a sentence for a student (for
//! `faultlab explain`).

/// What one of a workload's report.json metrics means, kept beside the
/// workload (`faultlab explain` reads them through the registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meaning {
    /// The metric's path in report.json (`commit.blocked`).
    pub metric: &'static str,
    /// What it means, in a sentence for a student.
    pub text: &'static str,
    /// Whether the text covers the metric's parts too (`checkpointing.bytes.max`).
    pub prefix: bool,
}

impl Meaning {
    /// The meaning of exactly `metric`.
    pub const fn of(metric: &'static str, text: &'static str) -> Meaning {
        Meaning { metric, text, prefix: false }
    }

    /// The meaning of `metric` and of its parts (a statistic's p50, max...).
    pub const fn of_all(metric: &'static str, text: &'static str) -> Meaning {
        Meaning { metric, text, prefix: true }
    }
}

/// What a report.json metric means, in a sentence.
pub fn metric_meaning(metric: &str) -> String {
    let last = metric.rsplit('.').next().unwrap_or(metric);
    let exact: &[(&str, &str)] = &[
        ("availability", "the fraction of requests answered correctly within the deadline"),
        ("availability_time", "the fraction of the run's time the service was up (1 minus the outages' total length over the run)"),
        ("availability_model", "MTTF / (MTTF + MTTR) computed from the file's fault schedule, to compare with the measured availability"),
        ("failures", "how many times the service failed (outages: from the first request without a correct reply to the next one answered)"),
        ("availability_model_with_restart", "the model with the measured restart time added to every repair, MTTF / (MTTF + MTTR + restart): the one to compare the measured availability with, since every restart costs real time"),
        ("failures_excluding_host_stalls", "outages that do not coincide with a stall of the host (the orchestrator's or an agent's loop running 25 ms or more late): a busy host's hiccups cannot fail a condition on this one"),
        ("valid", "1 when the run really ran as written: no agent died or went silent outside a fault, every fault was executed, the clients kept sending"),
        ("mttf_seconds", "mean time to failure: total up time divided by the number of outages"),
        ("mttr_seconds", "mean time to repair: total outage time divided by the number of outages"),
        ("mttf_ci", "the 95% chi-square interval of the MTTF; it assumes exponential up times (a constant failure rate)"),
        ("mttr_ci", "the 95% chi-square interval of the MTTR; it assumes exponential down times"),
        ("availability_exponential_ci", "the 95% interval of the steady-state availability MTTF / (MTTF + MTTR) from the run's up and down times, assuming both exponential: compare it with availability_model"),
        ("availability_ci", "the 95% interval of the availability, from batch means over the run's 100 ms windows"),
        ("availability_time_ci", "the 95% interval of availability_time, from batch means over the run's 100 ms windows"),
        ("requests.total", "requests the clients sent"),
        ("requests.ok", "requests answered correctly within the deadline"),
        ("requests.failed", "requests with no correct reply in time (lost, late, or the voter could not decide)"),
        ("requests.wrong", "wrong answers that reached the client: a fault that was not masked but passed on as the truth"),
        ("detector.false_suspicions", "times a detector suspected a node that was in fact alive (a mistake)"),
        ("detector.query_accuracy", "P_A: the fraction of time a live node is trusted"),
        ("repeat.runs", "how many runs the series made"),
        ("recovery_seconds.count", "how many outages the run had"),
        ("detector.detection_seconds.count", "crash detections measured: one per monitor whose suspicion of the crashed node lasted until it came back"),
        ("repeat.mttf_seconds", "the MTTF estimated over all runs, from each run's time to its first failure"),
        ("linearizability.ok", "1 when one correct copy of every register could have given the clients exactly what they saw (the history is linearizable), 0 when no order of their operations fits (null: the search ran out of budget)"),
        ("linearizability.ops", "operations in the clients' history (history.jsonl), of every outcome: ok, fail, and info (timed out, outcome unknown)"),
        ("linearizability.keys", "registers the clients' operations addressed: each is checked on its own (linearizability is compositional)"),
        ("linearizability.anomaly.key", "the register whose operations admit no order"),
    ];
    if let Some((_, m)) = exact.iter().find(|(k, _)| *k == metric) {
        return (*m).to_string();
    }
    let workloads: Vec<&Meaning> = crate::workload::meanings().collect();
    if let Some(m) = workloads.iter().find(|m| !m.prefix && m.metric == metric) {
        return m.text.to_string();
    }
    // The executed faults, in the order they ran: `faults.1.at_seconds` exists once two have.
    if let Some((n, field)) = metric.strip_prefix("faults.").and_then(|r| r.split_once('.')) {
        let nth =
            n.parse::<usize>().map_or_else(|_| n.to_string(), |i| format!("fault number {} to run", i + 1));
        match field {
            "at_seconds" => return format!("when {nth} was injected, in seconds (null: fewer faults ran)"),
            "until_seconds" => {
                return format!("when {nth} ended, in seconds (null: it lasted for the rest of the run)")
            }
            _ => {}
        }
    }
    // One outage's parts: `recovery_seconds.incidents.0.detection`.
    if let Some((n, field)) =
        metric.strip_prefix("recovery_seconds.incidents.").and_then(|r| r.split_once('.'))
    {
        let nth = n.parse::<usize>().map_or_else(|_| n.to_string(), |i| format!("outage number {}", i + 1));
        let part = match field {
            "detection" => {
                "its detection: from the outage's start until the new primary suspected the old one"
            }
            "failover" => {
                "its failover: from that suspicion until every trusted replica acknowledged the new view"
            }
            "catch_up" => {
                "its catch-up: from the new view until the new primary held the newest state and served"
            }
            "seconds" => "its length",
            _ => "",
        };
        if !part.is_empty() {
            return format!("{nth}, {part}, in seconds");
        }
    }
    // A node by name: `nodes.replica-2.crashes`.
    if let Some((node, field)) = metric.strip_prefix("nodes.").and_then(|r| r.rsplit_once('.')) {
        match field {
            "crashes" => return format!("times {node} was crashed: the fault reached its target"),
            "recoveries" => return format!("times {node} came back after a crash"),
            "down_seconds" => return format!("how long {node} was down, in seconds"),
            _ => {}
        }
    }
    let prefix: &[(&str, &str)] = &[
        ("latency_seconds", "the time from sending a request to its correct reply, in seconds"),
        (
            "recovery_seconds",
            "how long outages lasted, from the first failed request to the next correct reply, in seconds",
        ),
        (
            "detector.detection_seconds",
            "T_D: the time from a crash to the detector's permanent suspicion, in seconds",
        ),
        ("detector.mistake_recurrence_seconds", "E[T_MR]: the mean time between two wrong suspicions"),
        ("detector.mistake_duration_seconds", "E[T_M]: how long a wrong suspicion lasts on average"),
        (
            "repeat.reliability_curve",
            "R(t), the probability of no service failure up to t, from the repeated runs",
        ),
        ("repeat.availability", "availability across the repeated runs"),
    ];
    let prefixed =
        prefix.iter().copied().chain(workloads.iter().filter(|m| m.prefix).map(|m| (m.metric, m.text)));
    if let Some((_, m)) = prefixed.into_iter().find(|(k, _)| metric.starts_with(k)) {
        return format!("{m}{}", stat_suffix(last));
    }
    // Workloads added later: guess from the word.
    let words: &[(&str, &str)] = &[
        ("duplicate", "requests executed more than once"),
        ("block", "participants left waiting, unable to decide"),
        ("agree", "whether the loyal nodes agreed"),
        ("wrong", "wrong results"),
        ("suspicion", "suspicions raised by failure detectors"),
    ];
    if let Some((_, m)) = words.iter().find(|(w, _)| metric.contains(w)) {
        return format!("{m} (report.json `{metric}`)");
    }
    format!("the report.json value `{metric}`")
}

fn stat_suffix(last: &str) -> &'static str {
    match last {
        "p50" => " (median)",
        "p95" => " (95th percentile)",
        "p99" => " (99th percentile)",
        "max" => " (the largest)",
        "mean" => " (the mean)",
        "count" => " (how many)",
        _ => "",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn metric_meanings_cover_the_report() {
        assert!(metric_meaning("recovery_seconds.p95").contains("95th percentile"));
        assert!(metric_meaning("checkpointing.rollback_distance.max").contains("domino"));
        assert!(metric_meaning("rpc.duplicate_executions").contains("already run"));
        assert!(metric_meaning("byzantine.validity").contains("count of rounds"));
        assert!(metric_meaning("recovery_seconds.incidents.0.detection").contains("outage number 1"));
        assert!(metric_meaning("whatever.x").contains("`whatever.x`"));
        assert!(metric_meaning("commit.blocked").contains("blocked"));
        assert!(metric_meaning("failures_excluding_host_stalls").contains("stall"));
        assert!(metric_meaning("valid").contains("agent died"));
        assert!(metric_meaning("nodes.voter-1.crashes").contains("voter-1 was crashed"));
        assert!(metric_meaning("nodes.voter-1.down_seconds").contains("voter-1 was down"));
        assert!(metric_meaning("faults.1.at_seconds").contains("fault number 2 to run was injected"));
        assert!(metric_meaning("faults.0.until_seconds").contains("for the rest of the run"));
    }
}
