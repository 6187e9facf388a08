//! Repeated runs (`faultlab run FILE --repeat N`): N runs with seeds derived
//! from the base seed, each in its own `run-NNN/` directory, then an
//! aggregate `report.json` whose `repeat` object holds R(t) (Kaplan–Meier),
//! the MTTF with its χ² interval, and availability's spread across runs.
//!
//! Time to failure of a run is the start of its first outage
//! (`recovery_seconds.incidents[0].start`), censored at the run's end when
//! none: one lifetime per run, no assumption about repair.

pub mod bands;
mod series;
pub mod stats;
mod summary;

pub use summary::render_summary;

use crate::experiment::{Experiment, FaultKind, Schedule, Selection, Workload};
use crate::report::lookup;
use anyhow::Result;
use bands::{RestrictedMean, SimultaneousBand};
use serde::Serialize;
use serde_json::{json, Value};
use stats::{CurvePoint, Lifetime, MttfEstimate, Spread};
use std::path::PathBuf;
use workloads::seed::splitmix64;

/// Confidence level of every band and interval: 1 − α.
pub const ALPHA: f64 = 0.05;

/// The seed of run `i` (1-based) of a repeated experiment with base `seed`.
pub fn run_seed(seed: u64, i: usize) -> u64 {
    splitmix64(seed ^ splitmix64(i as u64))
}

/// One finished run of the series.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// 1-based.
    pub index: usize,
    pub seed: u64,
    pub dir: Option<PathBuf>,
    /// The run's report.json.
    pub report: Value,
}

/// The `repeat` object of the aggregate report.json.
#[derive(Clone, Debug, Serialize)]
pub struct Repeat {
    pub runs: usize,
    /// Runs whose service failed at least once.
    pub failures: usize,
    pub confidence: f64,
    /// How the bands are computed.
    pub band: &'static str,
    /// Per run: the time of its first service failure (null: none, censored at the end).
    pub first_failure_seconds: Vec<Option<f64>>,
    pub reliability_curve: Vec<CurvePoint>,
    /// A (1 − α) band that holds R(t) at every t of its range at once.
    pub reliability_band_simultaneous: Option<SimultaneousBand>,
    pub mttf_seconds: Option<f64>,
    /// [lo, hi]; hi is null when no run failed (lo is then T / ln(1/α)).
    pub mttf_ci: [Option<f64>; 2],
    pub mttf_zero_failure_bound: bool,
    /// What `mttf_ci` assumes, and whether that holds for this experiment.
    pub mttf_ci_assumes: &'static str,
    /// False for TMR, whose hazard rises over time: the χ² interval does not apply there.
    pub mttf_ci_valid: bool,
    /// Total time watched (sum of the runs' times to failure or end).
    pub exposure_seconds: f64,
    /// The mean time to the first failure with no assumption about the
    /// hazard: the area under R(t) up to the last time watched, with its interval.
    pub mttf_restricted: Option<RestrictedMean>,
    pub availability: Option<Spread>,
    /// 95% t-interval of the mean availability over the runs (each run one value).
    pub availability_ci: Option<[f64; 2]>,
    pub availability_time: Option<Spread>,
    pub availability_time_ci: Option<[f64; 2]>,
    /// TMR measured beside its model, for experiments built as the model assumes.
    pub tmr_model: Option<TmrModel>,
}

/// Measured TMR reliability beside 3R² − 2R³ and 5/(6λ).
#[derive(Clone, Debug, Serialize)]
pub struct TmrModel {
    pub replicas: Vec<String>,
    /// Replica crashes seen over all runs, and unit-seconds watched.
    pub replica_failures: usize,
    pub replica_exposure_seconds: f64,
    /// λ̂ = crashes / exposure.
    pub lambda_per_second: Option<f64>,
    /// The file's `mttf` of the replicas' crash schedule.
    pub nominal_replica_mttf_seconds: Option<f64>,
    pub replica_mttf_seconds: Option<f64>,
    pub replica_mttf_ci: [Option<f64>; 2],
    /// 5 / (6 λ̂), and from the file's λ.
    pub mttf_tmr_model_seconds: Option<f64>,
    pub mttf_tmr_nominal_seconds: Option<f64>,
    /// The service's measured MTTF: the area under its R_TMR(t) (`repeat.mttf_restricted`).
    pub mttf_tmr_measured_seconds: Option<f64>,
    pub mttf_tmr_measured_ci: [Option<f64>; 2],
    /// Whether that interval holds 5/(6λ) with the file's λ (null without one).
    pub mttf_tmr_ci_covers_nominal: Option<bool>,
    /// Single-replica R(t), Kaplan–Meier over every replica of every run.
    pub replica_curve: Vec<CurvePoint>,
    /// Measured R_TMR(t) beside the model at a few times.
    pub comparison: Vec<TmrPoint>,
    /// The measured R_TMR(t) curve and its bands against the model curve,
    /// with no assumption that the service's lifetime is exponential.
    pub model_check: Option<ModelCheck>,
    /// The same against the model with the file's λ (the replicas' nominal rate).
    pub model_check_nominal: Option<ModelCheck>,
}

/// The Kaplan–Meier R_TMR(t) against 3R² − 2R³ with R = exp(−λ̂t), λ̂ the
/// maximum-likelihood rate of the replicas' own lifetimes (crashes over
/// replica-seconds watched, censored at the run's end).
#[derive(Clone, Debug, Serialize)]
pub struct ModelCheck {
    pub lambda_per_second: f64,
    /// Largest |R_measured − R_model| over the curve's steps, and where.
    pub max_deviation: f64,
    pub max_deviation_at_seconds: f64,
    /// Whether the model curve stays inside the measured curve's pointwise band.
    pub inside_band: bool,
    /// Where it first leaves the band, if it does.
    pub first_outside_at_seconds: Option<f64>,
    /// Whether it stays inside the simultaneous band at every t of its range
    /// (null: no band), and where it first leaves it.
    pub inside_simultaneous_band: Option<bool>,
    pub first_outside_simultaneous_at_seconds: Option<f64>,
    /// The share of `coverage_points` evenly spaced instants where the
    /// model is inside the pointwise band (about 1 − α for a right model:
    /// a pointwise band misses it now and then by design).
    pub pointwise_coverage: f64,
    pub coverage_points: usize,
}

/// Instants the pointwise coverage is counted at.
pub const COVERAGE_POINTS: usize = 100;

/// Compare a step curve with a band against a continuous, decreasing model.
/// A step holds from its time to the next step's, so the model is checked at
/// both ends of each step (where it is farthest from the flat value).
pub fn model_check(
    curve: &[CurvePoint],
    band: Option<&SimultaneousBand>,
    end: f64,
    lambda: f64,
    model: impl Fn(f64) -> f64,
) -> Option<ModelCheck> {
    if curve.is_empty() || !lambda.is_finite() {
        return None;
    }
    let (mut max_dev, mut max_at, mut outside) = (0.0_f64, 0.0, None);
    for (i, p) in curve.iter().enumerate() {
        let next = curve.get(i + 1).map_or(p.t, |q| q.t);
        for t in [p.t, next] {
            let m = model(t);
            let dev = (p.r - m).abs();
            if dev > max_dev {
                (max_dev, max_at) = (dev, t);
            }
            if outside.is_none() && (m < p.lo - 1e-12 || m > p.hi + 1e-12) {
                outside = Some(t);
            }
        }
    }
    Some(ModelCheck {
        lambda_per_second: lambda,
        max_deviation: max_dev,
        max_deviation_at_seconds: max_at,
        inside_band: outside.is_none(),
        first_outside_at_seconds: outside,
        inside_simultaneous_band: band.map(|b| bands::model_inside(b, &model).is_ok()),
        first_outside_simultaneous_at_seconds: band.and_then(|b| bands::model_inside(b, &model).err()),
        pointwise_coverage: bands::pointwise_coverage(curve, end, COVERAGE_POINTS, &model),
        coverage_points: COVERAGE_POINTS,
    })
}

/// R(t) of one replica, the model and the measured TMR service at time `t`.
#[derive(Clone, Debug, Serialize)]
pub struct TmrPoint {
    pub t: f64,
    pub r_replica: f64,
    /// 3R² − 2R³ with R the measured single-replica R(t).
    pub r_tmr_model: f64,
    /// 3R² − 2R³ with R = exp(−λ̂ t).
    pub r_tmr_exponential: Option<f64>,
    pub r_tmr_measured: f64,
    pub r_tmr_lo: f64,
    pub r_tmr_hi: f64,
}

/// A run's lifetime: its first outage's start, or its end (censored).
pub fn first_failure(report: &Value) -> Lifetime {
    match lookup(report, "recovery_seconds.incidents.0.start") {
        Some(t) => Lifetime { t, failed: true },
        None => Lifetime { t: lookup(report, "duration_seconds").unwrap_or(0.0), failed: false },
    }
}

/// Each replica's lifetime in one run: its first crash (from report.json
/// `faults`), or the run's end.
pub fn replica_lifetimes(report: &Value, replicas: &[String]) -> Vec<Lifetime> {
    let end = lookup(report, "duration_seconds").unwrap_or(0.0);
    let faults = report.get("faults").and_then(Value::as_array).cloned().unwrap_or_default();
    replicas
        .iter()
        .map(|name| {
            let crash = faults
                .iter()
                .filter(|f| f.get("kind").and_then(Value::as_str) == Some("crash"))
                .filter(|f| names_node(f.get("target").and_then(Value::as_str).unwrap_or(""), name))
                .filter_map(|f| f.get("at_seconds").and_then(Value::as_f64))
                .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))));
            match crash {
                Some(t) if t <= end => Lifetime { t, failed: true },
                _ => Lifetime { t: end, failed: false },
            }
        })
        .collect()
}

/// Whether a fault target as shown (`replica-1`, `role replica x1 (replica-2, replica-3)`) names `node`.
fn names_node(target: &str, node: &str) -> bool {
    target.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).any(|w| w == node)
}

/// The replicas of a TMR experiment built as R_TMR = 3R² − 2R³ assumes: every
/// fault is a crash of one replica, each replica has one, never repaired within
/// the run (no `for`, or `every: {mttf, mttr}` with mttr beyond the run), and
/// the voters and clients are never faulted. None otherwise.
pub fn tmr_model_replicas(exp: &Experiment) -> Option<(Vec<String>, Option<f64>)> {
    let Workload::Tmr(_) = &exp.workload else { return None };
    let replicas: Vec<&crate::topology::NodeSpec> =
        exp.topology.nodes.iter().filter(|n| n.role == "replica").collect();
    if replicas.is_empty() || exp.faults.len() != replicas.len() {
        return None;
    }
    let mut seen = Vec::new();
    let mut mttfs = Vec::new();
    for f in &exp.faults {
        if f.kind != FaultKind::Crash {
            return None;
        }
        let Selection::Nodes(nodes) = &f.selection else { return None };
        let [node] = nodes.as_slice() else { return None };
        let spec = replicas.iter().find(|r| r.id == *node)?;
        match f.schedule {
            Schedule::Once { length: None, .. } => {}
            Schedule::Random { mttf, mttr, .. } if mttr >= exp.duration => mttfs.push(mttf.as_secs_f64()),
            _ => return None,
        }
        seen.push(spec.name.clone());
    }
    seen.sort();
    seen.dedup();
    if seen.len() != replicas.len() {
        return None;
    }
    let nominal = match mttfs.first() {
        Some(&m) if mttfs.len() == replicas.len() && mttfs.iter().all(|x| (x - m).abs() < 1e-9) => Some(m),
        _ => None,
    };
    Some((seen, nominal))
}

fn ci(e: &MttfEstimate) -> [Option<f64>; 2] {
    [Some(e.lo), e.hi]
}

/// The statistics of a series of runs (pure: the reports are given).
pub fn summarise(runs: &[RunResult], tmr: Option<(&[String], Option<f64>)>) -> Repeat {
    let lifetimes: Vec<Lifetime> = runs.iter().map(|r| first_failure(&r.report)).collect();
    let curve = stats::kaplan_meier(&lifetimes, ALPHA);
    let band = bands::equal_precision(&curve, lifetimes.len(), ALPHA);
    let restricted = bands::restricted_mean(&lifetimes, &curve, ALPHA);
    let mttf = stats::mttf_estimate(&lifetimes, ALPHA);
    let avail: Vec<f64> = runs.iter().filter_map(|r| lookup(&r.report, "availability")).collect();
    let avail_time: Vec<f64> = runs.iter().filter_map(|r| lookup(&r.report, "availability_time")).collect();
    let service = Service { curve: &curve, band: band.as_ref(), mttf: restricted.as_ref() };
    let tmr_model = tmr.map(|(replicas, nominal)| tmr_model(runs, replicas, nominal, &service));
    let t_ci = |v: &[f64]| stats::t_interval(v, ALPHA).map(|i| [i.lo.clamp(0.0, 1.0), i.hi.clamp(0.0, 1.0)]);
    Repeat {
        runs: runs.len(),
        failures: lifetimes.iter().filter(|l| l.failed).count(),
        confidence: 1.0 - ALPHA,
        band:
            "pointwise 95%: exact Clopper-Pearson while no run is censored (so honest at R = 1 and R = 0); \
               after a censoring, Greenwood on the log(-log R) scale, Clopper-Pearson at R = 1 and R = 0",
        first_failure_seconds: lifetimes.iter().map(|l| l.failed.then_some(l.t)).collect(),
        reliability_curve: curve,
        reliability_band_simultaneous: band,
        mttf_seconds: mttf.mttf_seconds,
        mttf_ci: ci(&mttf),
        mttf_zero_failure_bound: mttf.zero_failure_bound,
        mttf_ci_assumes: "chi-square: exponential times to failure (a constant hazard)",
        mttf_ci_valid: tmr.is_none(),
        exposure_seconds: mttf.total_time_seconds,
        mttf_restricted: restricted,
        availability: stats::spread(&avail),
        availability_ci: t_ci(&avail),
        availability_time: stats::spread(&avail_time),
        availability_time_ci: t_ci(&avail_time),
        tmr_model,
    }
}

/// The service's measured reliability, as the TMR model is checked against it.
struct Service<'a> {
    curve: &'a [CurvePoint],
    band: Option<&'a SimultaneousBand>,
    mttf: Option<&'a RestrictedMean>,
}

fn tmr_model(
    runs: &[RunResult],
    replicas: &[String],
    nominal: Option<f64>,
    service: &Service<'_>,
) -> TmrModel {
    let lifetimes: Vec<Lifetime> = runs.iter().flat_map(|r| replica_lifetimes(&r.report, replicas)).collect();
    let curve = stats::kaplan_meier(&lifetimes, ALPHA);
    let est = stats::mttf_estimate(&lifetimes, ALPHA);
    let lambda = est.mttf_seconds.map(|m| 1.0 / m);
    let end = runs.iter().filter_map(|r| lookup(&r.report, "duration_seconds")).fold(0.0, f64::max);
    let check = |l: f64| model_check(service.curve, service.band, end, l, |t| stats::r_tmr((-l * t).exp()));
    let comparison = (0..=10)
        .map(|k| end * k as f64 / 10.0)
        .filter_map(|t| {
            let rep = stats::curve_at(&curve, t)?;
            let svc = stats::curve_at(service.curve, t)?;
            Some(TmrPoint {
                t,
                r_replica: rep.r,
                r_tmr_model: stats::r_tmr(rep.r),
                r_tmr_exponential: lambda.map(|l| stats::r_tmr((-l * t).exp())),
                r_tmr_measured: svc.r,
                r_tmr_lo: svc.lo,
                r_tmr_hi: svc.hi,
            })
        })
        .collect();
    TmrModel {
        replicas: replicas.to_vec(),
        replica_failures: est.failures,
        replica_exposure_seconds: est.total_time_seconds,
        lambda_per_second: lambda,
        nominal_replica_mttf_seconds: nominal,
        replica_mttf_seconds: est.mttf_seconds,
        replica_mttf_ci: ci(&est),
        mttf_tmr_model_seconds: lambda.map(stats::mttf_tmr),
        mttf_tmr_nominal_seconds: nominal.map(|m| stats::mttf_tmr(1.0 / m)),
        mttf_tmr_measured_seconds: service.mttf.map(|m| m.seconds),
        mttf_tmr_measured_ci: [service.mttf.map(|m| m.lo), service.mttf.map(|m| m.hi)],
        mttf_tmr_ci_covers_nominal: service.mttf.zip(nominal).map(|(m, mttf)| {
            let model = stats::mttf_tmr(1.0 / mttf);
            m.lo <= model && model <= m.hi
        }),
        model_check: lambda.and_then(&check),
        model_check_nominal: nominal.and_then(|m| check(1.0 / m)),
        replica_curve: curve,
        comparison,
    }
}

/// Why a series' expectations cannot be judged: a run was interrupted (the
/// series stopped there) or is invalid. None when every run counts.
fn series_not_judged(runs: &[RunResult], planned: usize) -> Option<String> {
    if let Some(r) = runs.iter().find(|r| lookup(&r.report, "interrupted") == Some(1.0)) {
        return Some(format!("the series was interrupted during run {} of {planned}", r.index));
    }
    runs.iter().find(|r| lookup(&r.report, "valid") == Some(0.0)).map(|r| {
        let why = r
            .report
            .pointer("/run_failures/0/reason")
            .and_then(Value::as_str)
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        format!("run {} is invalid{why}", r.index)
    })
}

/// The aggregate report.json: the experiment, one line per run, the
/// runs' request counts summed, mean availabilities, `repeat`, and `expect`
/// (a `repeat.*` metric is checked on this report; any other holds when it
/// held in every run). `planned` is the number of runs asked for; with an
/// interrupted or invalid run nothing is judged.
pub fn aggregate(
    exp: &Experiment,
    base_seed: u64,
    runs: &[RunResult],
    planned: usize,
    repeat: &Repeat,
) -> Value {
    let sum = |path: &str| runs.iter().filter_map(|r| lookup(&r.report, path)).sum::<f64>();
    let per_run: Vec<Value> = runs
        .iter()
        .map(|r| {
            let life = first_failure(&r.report);
            json!({
                "run": r.index,
                "seed": r.seed,
                "dir": r.dir.as_ref().map(|d| d.display().to_string()),
                "availability": lookup(&r.report, "availability"),
                "failures": lookup(&r.report, "failures"),
                "first_failure_seconds": life.failed.then_some(life.t),
                "interrupted": lookup(&r.report, "interrupted").map(|v| v != 0.0),
                "valid": lookup(&r.report, "valid").map(|v| v != 0.0),
                "passed": run_passed(&r.report),
            })
        })
        .collect();
    let first = runs.first().map(|r| &r.report);
    let not_judged = series_not_judged(runs, planned);
    let judged = not_judged.is_none();
    let mut report = json!({
        "experiment": exp.name,
        "concept": exp.concept,
        "seed": base_seed,
        "backend": first.and_then(|r| r.get("backend")).cloned().unwrap_or(Value::Null),
        "duration_seconds": first.and_then(|r| lookup(r, "duration_seconds")),
        "interrupted": runs.iter().any(|r| lookup(&r.report, "interrupted") == Some(1.0)),
        "valid": runs.iter().all(|r| lookup(&r.report, "valid") != Some(0.0)),
        "not_judged": not_judged,
        "runs_planned": planned,
        "requests": {
            "total": sum("requests.total"),
            "ok": sum("requests.ok"),
            "failed": sum("requests.failed"),
            "wrong": sum("requests.wrong"),
        },
        "availability": repeat.availability.map(|s| s.mean),
        "availability_time": repeat.availability_time.map(|s| s.mean),
        "failures": sum("failures"),
        "mttf_seconds": repeat.mttf_seconds,
        "runs": per_run,
        "repeat": repeat,
        "expect": [],
    });
    let expect: Vec<Value> = exp
        .expect
        .iter()
        .map(|e| {
            if e.metric.starts_with("repeat.") {
                let value = lookup(&report, &e.metric);
                json!({
                    "metric": e.metric,
                    "condition": e.condition,
                    "value": value,
                    "judged": judged,
                    "passed": judged && e.holds(value),
                })
            } else {
                let held = runs.iter().filter(|r| expectation_held(&r.report, &e.metric)).count();
                json!({
                    "metric": e.metric,
                    "condition": e.condition,
                    "value": Value::Null,
                    "runs_passed": held,
                    "judged": judged,
                    "passed": judged && held == runs.len() && !runs.is_empty(),
                })
            }
        })
        .collect();
    report["expect"] = Value::Array(expect);
    report
}

fn expectation_held(report: &Value, metric: &str) -> bool {
    report.get("expect").and_then(Value::as_array).is_some_and(|list| {
        list.iter().any(|e| {
            e.get("metric").and_then(Value::as_str) == Some(metric)
                && e.get("passed").and_then(Value::as_bool) == Some(true)
        })
    })
}

/// A run's expectations, leaving out `repeat.*` (only the aggregate has them).
fn run_passed(report: &Value) -> bool {
    report.get("expect").and_then(Value::as_array).is_none_or(|list| {
        list.iter().all(|e| {
            e.get("metric").and_then(Value::as_str).is_some_and(|m| m.starts_with("repeat."))
                || e.get("passed").and_then(Value::as_bool) == Some(true)
        })
    })
}

/// Whether the aggregate passed: every expectation held and no run was interrupted.
pub fn passed(aggregate: &Value) -> bool {
    aggregate.get("interrupted").and_then(Value::as_bool) != Some(true)
        && aggregate.get("valid").and_then(Value::as_bool) != Some(false)
        && aggregate
            .get("expect")
            .and_then(Value::as_array)
            .is_none_or(|l| l.iter().all(|e| e.get("passed").and_then(Value::as_bool) == Some(true)))
}

/// What a series produced.
#[derive(Debug)]
pub struct RepeatOutcome {
    pub report: Value,
    pub repeat: Repeat,
    pub out_dir: Option<PathBuf>,
}

impl RepeatOutcome {
    /// Whether every expectation held and no run was interrupted.
    pub fn passed(&self) -> bool {
        passed(&self.report)
    }
}

/// Run `exp` `n` times (seeds from the base seed, `run-001/`... under the
/// out directory), writing each run's report.html, then the aggregate
/// report.json and report.html. Stops early when a run is interrupted. On
/// the sim backend the runs share the cores (see [`series`]).
pub async fn run(exp: &Experiment, opts: &crate::run::RunOptions, n: usize) -> Result<RepeatOutcome> {
    run_on(exp, opts, n, series::default_threads()).await
}

/// [`run`] with simulated runs on `threads` worker threads.
pub async fn run_on(
    exp: &Experiment,
    opts: &crate::run::RunOptions,
    n: usize,
    threads: usize,
) -> Result<RepeatOutcome> {
    let base = opts.seed.unwrap_or(exp.seed);
    let runs = if series::simulated(exp, opts) {
        series::parallel(exp, opts, base, n, threads).await?
    } else {
        series::sequential(exp, opts, base, n).await?
    };
    let model = tmr_model_replicas(exp);
    let repeat = summarise(&runs, model.as_ref().map(|(r, m)| (r.as_slice(), *m)));
    let report = aggregate(exp, base, &runs, n, &repeat);
    if let Some(dir) = &opts.out_dir {
        crate::report::write(dir, &report)?;
    }
    Ok(RepeatOutcome { report, repeat, out_dir: opts.out_dir.clone() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn report(first_outage: Option<f64>, crashes: &[(&str, f64)], availability: f64) -> Value {
        let incidents: Vec<Value> =
            first_outage.into_iter().map(|s| json!({"start": s, "end": s + 1.0, "seconds": 1.0})).collect();
        let faults: Vec<Value> = crashes
            .iter()
            .map(|(n, t)| json!({"fault": 0, "kind": "crash", "target": n, "at_seconds": t, "until_seconds": null}))
            .collect();
        json!({
            "duration_seconds": 60.0,
            "availability": availability,
            "availability_time": availability,
            "failures": incidents.len(),
            "interrupted": false,
            "recovery_seconds": {"incidents": incidents},
            "faults": faults,
            "requests": {"total": 100, "ok": 90, "failed": 10, "wrong": 0},
            "expect": [
                {"metric": "requests.wrong", "condition": "== 0", "value": 0.0, "passed": true},
                {"metric": "repeat.runs", "condition": ">= 1", "value": null, "passed": false},
            ],
        })
    }

    fn runs(reports: Vec<Value>) -> Vec<RunResult> {
        reports
            .into_iter()
            .enumerate()
            .map(|(i, report)| RunResult { index: i + 1, seed: 0, dir: None, report })
            .collect()
    }

    #[test]
    fn seeds_differ_per_run_and_repeat() {
        assert_ne!(run_seed(42, 1), run_seed(42, 2));
        assert_eq!(run_seed(42, 3), run_seed(42, 3));
        assert_ne!(run_seed(42, 1), run_seed(43, 1));
    }

    #[test]
    fn first_failures_are_censored_at_the_end() {
        assert_eq!(first_failure(&report(Some(12.5), &[], 1.0)), Lifetime { t: 12.5, failed: true });
        assert_eq!(first_failure(&report(None, &[], 1.0)), Lifetime { t: 60.0, failed: false });
    }

    #[test]
    fn replica_lifetimes_read_the_crash_records() {
        let r = report(
            None,
            &[("replica-2", 7.0), ("role replica x1 (replica-3)", 9.0), ("replica-2", 3.0)],
            1.0,
        );
        let names: Vec<String> =
            ["replica-1", "replica-2", "replica-3"].iter().map(|s| s.to_string()).collect();
        let l = replica_lifetimes(&r, &names);
        assert_eq!(l[0], Lifetime { t: 60.0, failed: false });
        assert_eq!(l[1], Lifetime { t: 3.0, failed: true });
        assert_eq!(l[2], Lifetime { t: 9.0, failed: true });
        assert!(!names_node("replica-10", "replica-1"));
    }

    #[test]
    fn summary_of_synthetic_runs() {
        let reps = runs(vec![
            report(Some(10.0), &[], 0.9),
            report(Some(20.0), &[], 0.8),
            report(None, &[], 1.0),
            report(Some(40.0), &[], 0.7),
        ]);
        let r = summarise(&reps, None);
        assert_eq!((r.runs, r.failures), (4, 3));
        assert_eq!(r.first_failure_seconds, vec![Some(10.0), Some(20.0), None, Some(40.0)]);
        // T = 10 + 20 + 60 + 40 = 130 s, 3 failures.
        assert!((r.mttf_seconds.unwrap() - 130.0 / 3.0).abs() < 1e-9);
        let [lo, hi] = r.mttf_ci;
        assert!(lo.unwrap() < 130.0 / 3.0 && hi.unwrap() > 130.0 / 3.0);
        let rt: Vec<f64> = r.reliability_curve.iter().map(|p| p.r).collect();
        assert_eq!(rt, vec![1.0, 0.75, 0.5, 0.25, 0.25], "flat to the last censoring at 60 s");
        let a = r.availability.unwrap();
        assert!((a.mean - 0.85).abs() < 1e-12 && a.min == 0.7 && a.max == 1.0);
        // t-interval over 4 runs: 0.85 ± t(0.975, 3)·s/2 = 3.182446 · 0.129099 / 2 = ± 0.205426.
        let [lo, hi] = r.availability_ci.unwrap();
        assert!((lo - (0.85 - 0.205_426)).abs() < 1e-5 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert!(r.mttf_ci_valid);
    }

    #[test]
    fn model_check_finds_the_largest_gap_and_whether_the_model_leaves_the_band() {
        let pt = |t: f64, r: f64, lo: f64, hi: f64| CurvePoint { t, r, lo, hi, at_risk: 4, failed: 1 };
        let curve = vec![pt(0.0, 1.0, 0.6, 1.0), pt(2.0, 0.5, 0.3, 0.8), pt(4.0, 0.5, 0.3, 0.8)];
        // Model 1 − t/8: 0.75 at 2 s, 0.5 at 4 s; inside the band everywhere.
        let c = model_check(&curve, None, 4.0, 0.1, |t| 1.0 - t / 8.0).unwrap();
        assert!((c.max_deviation - 0.25).abs() < 1e-12, "{c:?}");
        assert_eq!(c.max_deviation_at_seconds, 2.0);
        assert!(c.inside_band);
        assert_eq!((c.inside_simultaneous_band, c.pointwise_coverage), (None, 1.0));
        // Model 1 − t/4 reaches 0.5 at the end of the first step, below its band [0.6, 1].
        let c = model_check(&curve, None, 4.0, 0.1, |t| 1.0 - t / 4.0).unwrap();
        assert!(!c.inside_band);
        assert_eq!(c.first_outside_at_seconds, Some(2.0));
    }

    #[test]
    fn tmr_model_fails_with_the_second_replica() {
        // Each run: replicas crash at the given times; the service fails at the second crash.
        let crash_sets: [&[(&str, f64)]; 4] = [
            &[("replica-1", 5.0), ("replica-2", 15.0)],
            &[("replica-3", 8.0), ("replica-1", 30.0), ("replica-2", 50.0)],
            &[("replica-2", 40.0)],
            &[("replica-1", 2.0), ("replica-3", 4.0), ("replica-2", 6.0)],
        ];
        let reps = runs(
            crash_sets
                .iter()
                .map(|c| {
                    let mut t: Vec<f64> = c.iter().map(|x| x.1).collect();
                    t.sort_by(f64::total_cmp);
                    report(t.get(1).copied(), c, 0.9)
                })
                .collect(),
        );
        let names: Vec<String> =
            ["replica-1", "replica-2", "replica-3"].iter().map(|s| s.to_string()).collect();
        let r = summarise(&reps, Some((&names, Some(20.0))));
        let m = r.tmr_model.unwrap();
        assert_eq!(m.replica_failures, 9);
        // Exposure: 5+15+60 + 30+50+8 + 60+40+60 + 2+6+4 = 340.
        assert!((m.replica_exposure_seconds - 340.0).abs() < 1e-9);
        let lambda = m.lambda_per_second.unwrap();
        assert!((lambda - 9.0 / 340.0).abs() < 1e-12);
        assert!((m.mttf_tmr_model_seconds.unwrap() - 5.0 / (6.0 * lambda)).abs() < 1e-9);
        assert!((m.mttf_tmr_nominal_seconds.unwrap() - 50.0 / 3.0).abs() < 1e-9);
        assert!(m.mttf_tmr_model_seconds.unwrap() < m.replica_mttf_seconds.unwrap());
        assert_eq!(m.comparison.len(), 11);
        let check = m.model_check.as_ref().unwrap();
        assert!((check.lambda_per_second - lambda).abs() < 1e-12);
        assert!(check.max_deviation > 0.0 && check.max_deviation < 1.0);
        assert!(!r.mttf_ci_valid, "the χ² interval does not hold for TMR's rising hazard");
        for p in &m.comparison {
            assert!((p.r_tmr_model - stats::r_tmr(p.r_replica)).abs() < 1e-12);
        }
    }

    #[test]
    fn aggregate_checks_repeat_metrics_on_itself_and_others_per_run() {
        let text = "name: x\nduration: 60s\nworkload: { kind: tmr, rate: 100/s }\nexpect:\n  requests.wrong: \"== 0\"\n  repeat.runs: \">= 2\"\n";
        let exp = crate::experiment::parse_str(std::path::Path::new("x.yaml"), text).unwrap();
        let reps = runs(vec![report(Some(10.0), &[], 0.9), report(None, &[], 1.0)]);
        let r = summarise(&reps, None);
        let agg = aggregate(&exp, 42, &reps, 2, &r);
        assert_eq!(lookup(&agg, "repeat.runs"), Some(2.0));
        assert_eq!(lookup(&agg, "requests.total"), Some(200.0));
        let expect = agg["expect"].as_array().unwrap();
        assert_eq!(expect[0]["runs_passed"], 2);
        assert_eq!(expect[1]["passed"], true);
        assert!(passed(&agg));
        // A run's `repeat.*` failure does not count against it.
        assert_eq!(agg["runs"][0]["passed"], true);
        let text = render_summary(&agg, &r);
        assert!(text.contains("1 of 2 runs had a service failure"), "{text}");
        assert!(text.contains("MTTF"), "{text}");
    }

    #[test]
    fn an_interrupted_series_is_not_judged_and_never_shows_green() {
        let text = "name: x\nduration: 60s\nworkload: { kind: tmr, rate: 100/s }\nexpect:\n  requests.wrong: \"== 0\"\n  repeat.runs: \">= 1\"\n";
        let exp = crate::experiment::parse_str(std::path::Path::new("x.yaml"), text).unwrap();
        let mut second = report(None, &[], 1.0);
        second["interrupted"] = json!(true);
        let reps = runs(vec![report(Some(10.0), &[], 0.9), second]);
        let r = summarise(&reps, None);
        let agg = aggregate(&exp, 42, &reps, 5, &r);
        assert_eq!(agg["not_judged"], "the series was interrupted during run 2 of 5");
        let expect = agg["expect"].as_array().unwrap();
        assert!(expect.iter().all(|e| e["judged"] == false && e["passed"] == false), "{expect:?}");
        assert!(!passed(&agg));
        let text = render_summary(&agg, &r);
        assert!(text.contains("NOT JUDGED") && !text.contains("PASS"), "{text}");
        let html = crate::html::render(&agg, &[]);
        assert!(html.contains("Interrupted during run 2 of 5"), "{html}");
        // The completed run may show green in the runs table; no expectation does.
        assert!(!html.contains("all hold") && !html.contains("<td class=\"pass\">PASS"), "{html}");
        // One run of one: the noun agrees.
        let one = runs(vec![report(None, &[], 1.0)]);
        let r1 = summarise(&one, None);
        let text = render_summary(&aggregate(&exp, 42, &one, 1, &r1), &r1);
        assert!(text.contains("0 of 1 run had") && text.contains("x: 1 run\n"), "{text}");
    }
}
