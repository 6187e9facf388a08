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
    pub duration_seconds: f64,
    pub interrupted: bool,
    pub requests: Requests,
    pub throughput_per_second: f64,
    pub latency_seconds: Latency,
    pub availability: Option<f64>,
    pub availability_time: f64,
    pub availability_model: Option<f64>,
    pub failures: u64,
    pub mttf_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
    /// One-sided 95% lower bound on the MTTF when no failure was seen: T / ln(1/0.05).
    pub mttf_lower_bound_seconds: Option<f64>,
    pub recovery_seconds: Recovery,
    pub faults: Vec<FaultRecord>,
    pub skipped_faults: Vec<FaultRecord>,
    pub nodes: Vec<NodeRecord>,
    pub detector: Option<serde_json::Value>,
    pub tmr: Option<Tmr>,
    pub checkpointing: Option<serde_json::Value>,
    /// Byzantine agreement (OM(m)): instances, agreement, validity.
    pub byzantine: Option<crate::recorder::classroom::ByzantineReport>,
    /// Commit protocols: transactions, outcomes, blocking.
    pub commit: Option<crate::recorder::classroom::CommitReport>,
    /// RPC semantics: calls, retries, executions, duplicates, losses.
    pub rpc: Option<crate::recorder::classroom::RpcReport>,
    pub repeat: Option<serde_json::Value>,
    pub expect: Vec<ExpectResult>,
}

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub wrong: u64,
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
    /// The most recent fault executed at or before the outage start.
    pub fault: Option<usize>,
    /// From that fault's injection to the outage's start.
    pub fault_to_outage: Option<f64>,
    /// Requests failed or wrong during it.
    pub failed_requests: u64,
}

/// A fault as executed (not as planned).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRecord {
    pub fault: usize,
    pub kind: String,
    pub target: String,
    pub at_seconds: Option<f64>,
    pub until_seconds: Option<f64>,
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
    pub passed: bool,
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
    let json = serde_json::to_value(&*report)?;
    report.expect = expectations
        .iter()
        .map(|e| {
            let value = lookup(&json, &e.metric);
            ExpectResult {
                metric: e.metric.clone(),
                condition: e.condition.clone(),
                value,
                passed: e.holds(value),
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
