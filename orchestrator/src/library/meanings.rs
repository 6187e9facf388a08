//! What each report.json metric means, in a sentence for a student (for
//! `faultlab explain`).

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
        ("tmr.unanimous", "votes where every replica agreed"),
        ("tmr.majority", "votes decided by a majority while the third result disagreed, was missing or came late: a fault masked"),
        ("tmr.no_majority", "votes where no majority agreed: the voter could not answer"),
        ("tmr.state_transfers", "restarted replicas that fetched the state from their peers before voting again"),
        ("detector.false_suspicions", "times a detector suspected a node that was in fact alive (a mistake)"),
        ("detector.query_accuracy", "P_A: the fraction of time a live node is trusted"),
        ("checkpointing.golden_match", "1 when the final state equals the fault-free golden run: recovery was correct"),
        ("checkpointing.orphans", "orphan messages: messages discarded because the state that sent them was rolled back"),
        ("checkpointing.forced", "checkpoints another process asked for (coordination) rather than the local timer"),
        ("checkpointing.survivors_rolled_back", "processes that did not crash but still had to roll back because of the one that did"),
        ("checkpointing.outputs_repeated", "outputs released twice because a rollback redid the work that produced them (output commit was not respected)"),
        ("checkpointing.replayed", "log records replayed during recoveries (the logged messages delivered again)"),
        ("checkpointing.rollbacks", "rollbacks of processes, the crashed one included"),
        ("checkpointing.cost_seconds", "what fault tolerance cost: time spent checkpointing plus work lost to rollbacks, the quantity Young's interval minimises"),
        ("checkpointing.young_interval_seconds", "Young's checkpoint interval τ ≈ √(2·δ·M) for this run's checkpoint cost δ and MTTF M"),
        ("byzantine.instances", "rounds of agreement in which a loyal lieutenant decided (one round per order the commander sends)"),
        ("byzantine.agreement", "rounds in which every loyal lieutenant decided the same order (IC1)"),
        ("byzantine.disagreements", "rounds in which loyal lieutenants decided different orders: agreement broken"),
        ("byzantine.validity_checked", "rounds with a loyal commander, the only rounds where validity applies"),
        ("byzantine.validity", "a count of rounds: those with a loyal commander in which every loyal lieutenant decided the commander's order (IC2)"),
        ("byzantine.validity_violations", "rounds with a loyal commander in which some loyal lieutenant decided something other than the commander's order"),
        ("byzantine.agreement_rate", "agreement over instances: the share of rounds in which the loyal lieutenants agreed"),
        ("byzantine.validity_rate", "validity over validity_checked: the share of loyal-commander rounds that were obeyed"),
        ("byzantine.retreats", "decisions of the default order (retreat) by loyal lieutenants that found no majority"),
        ("byzantine.traitor_commander", "rounds in which the commander was the traitor and a loyal lieutenant received its lie (conflicting values)"),
        ("byzantine.traitor_lieutenant", "rounds in which a lieutenant was the traitor and a loyal lieutenant received its lie (conflicting values)"),
        ("commit.committed", "transactions that committed"),
        ("commit.blocked", "participant–transaction pairs that blocked: a participant voted yes and then could neither commit nor abort on its own"),
        ("commit.blocked_seconds", "the time participants spent blocked, summed over participants and transactions, in seconds"),
        ("commit.max_blocked_seconds", "the longest a participant stayed blocked, in seconds"),
        ("commit.inconsistent", "transactions some participants committed and others aborted: atomicity broken"),
        ("commit.undecided", "transactions started that no participant had decided by the end of the run: participants left hanging"),
        ("commit.hung", "transactions still undecided at the end that had waited longer than any transaction took to be decided: left hanging, not merely in flight"),
        ("commit.max_termination_seconds", "the longest from a transaction's start to its decision by the termination protocol: how long participants waited for the silent coordinator"),
        ("commit.terminations", "transactions the participants decided among themselves without the coordinator (the termination protocol)"),
        ("rpc.duplicate_executions", "extra executions: the server ran a call it had already run (a retry of a call whose reply was lost)"),
        ("rpc.filtered", "retried requests the server recognised as duplicates and answered from its reply cache instead of executing again"),
        ("rpc.lost_replies", "replies lost on the way back to the client"),
        ("repeat.runs", "how many runs the series made"),
        ("recovery_seconds.count", "how many outages the run had"),
        ("detector.detection_seconds.count", "crash detections measured: one per monitor whose suspicion of the crashed node lasted until it came back"),
        ("repeat.mttf_seconds", "the MTTF estimated over all runs, from each run's time to its first failure"),
    ];
    if let Some((_, m)) = exact.iter().find(|(k, _)| *k == metric) {
        return (*m).to_string();
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
        ("recovery_seconds", "how long outages lasted, from the first failed request to the next correct reply, in seconds"),
        ("detector.detection_seconds", "T_D: the time from a crash to the detector's permanent suspicion, in seconds"),
        ("detector.mistake_recurrence_seconds", "E[T_MR]: the mean time between two wrong suspicions"),
        ("detector.mistake_duration_seconds", "E[T_M]: how long a wrong suspicion lasts on average"),
        ("checkpointing.checkpoints", "checkpoints written to stable storage"),
        ("checkpointing.overhead_seconds", "time spent checkpointing instead of working"),
        ("checkpointing.rollback_distance", "how many checkpoints a process went back when it rolled back (the domino effect makes this large)"),
        ("checkpointing.lost_work_seconds", "work done after the recovery line and thrown away by the rollback, in seconds"),
        ("checkpointing.rollbacks", "processes rolled back"),
        ("checkpointing.logged_messages", "messages written to the message log"),
        ("checkpointing.output_wait_seconds", "how long an output waited until it could no longer be rolled back (output commit)"),
        ("checkpointing.bytes", "bytes written to stable storage"),
        ("repeat.reliability_curve", "R(t), the probability of no service failure up to t, from the repeated runs"),
        ("repeat.availability", "availability across the repeated runs"),
    ];
    if let Some((_, m)) = prefix.iter().find(|(k, _)| metric.starts_with(k)) {
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
