//! Failure-detector quality of service (Chen, Toueg & Aguilera) measured
//! against ground truth: the orchestrator knows when each node was really
//! down, the monitors report when they began and stopped suspecting.
//!
//! Ground truth: a node is down from its crash (or pause: a frozen node
//! sends nothing, so a paused node counts as down) until it is up again.
//! Per (monitor, monitored) pair, counted only while the monitor is up:
//! - T_D: from the monitored node's crash to the start of the suspicion that
//!   lasts until it comes back (or the run ends); 0 if it was already
//!   suspected; a crash with no such suspicion is `undetected`;
//! - false suspicions: suspicions that begin while the monitored node is up;
//!   each lasts (T_M) until trust, the node's crash, the monitor's crash or
//!   the run's end;
//! - E[T_MR]: time both were up divided by the false suspicions (the rate
//!   estimator, defined from one mistake on);
//! - P_A (query accuracy): the fraction of the time both were up during
//!   which the monitor trusted the monitored node.

use serde::Serialize;
use std::collections::BTreeMap;

/// A node's down intervals in run-relative seconds; `None`: still down.
pub type Intervals = [(f64, Option<f64>)];

/// One pair's measurements.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairQos {
    pub detections: Vec<f64>,
    pub undetected: usize,
    pub false_suspicions: usize,
    pub mistake_durations: Vec<f64>,
    /// Seconds both nodes were up.
    pub observed: f64,
    /// Seconds of those during which the monitor suspected the monitored node.
    pub suspected: f64,
}

fn down_at(iv: &Intervals, t: f64, end: f64) -> bool {
    iv.iter().any(|(a, b)| *a <= t && t < b.unwrap_or(end))
}

/// The QoS of one pair, from the monitored node's and the monitor's down
/// intervals and the monitor's suspicion changes `(t, suspected)`, over [0, end].
pub fn pair_qos(monitored: &Intervals, monitor: &Intervals, changes: &[(f64, bool)], end: f64) -> PairQos {
    let mut changes: Vec<(f64, bool)> = changes.to_vec();
    changes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut q = PairQos::default();
    // Time both up, and suspected within it: integrate over the segments
    // between every change of any of the three states.
    let mut cuts: Vec<f64> = vec![0.0, end];
    cuts.extend(changes.iter().map(|c| c.0));
    for iv in [monitored, monitor] {
        for (a, b) in iv {
            cuts.push(*a);
            cuts.extend(*b);
        }
    }
    cuts.retain(|t| (0.0..=end).contains(t));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let state_at = |t: f64| changes.iter().take_while(|c| c.0 <= t).last().is_some_and(|c| c.1);
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b <= a || down_at(monitored, a, end) || down_at(monitor, a, end) {
            continue;
        }
        q.observed += b - a;
        if state_at(a) {
            q.suspected += b - a;
        }
    }
    // Mistakes: a suspicion starting while both are up.
    let mut prev = false;
    for (i, &(t, s)) in changes.iter().enumerate() {
        if s && !prev && !down_at(monitored, t, end) && !down_at(monitor, t, end) {
            q.false_suspicions += 1;
            let trust = changes[i + 1..].iter().find(|c| !c.1).map_or(end, |c| c.0);
            let next_down = |iv: &Intervals| iv.iter().map(|x| x.0).filter(|a| *a > t).fold(end, f64::min);
            q.mistake_durations.push(trust.min(next_down(monitored)).min(next_down(monitor)).min(end) - t);
        }
        prev = s;
    }
    // Detections: the suspicion in force when each down interval ends.
    for &(crash, back) in monitored {
        let until = back.unwrap_or(end).min(end);
        if monitor.iter().any(|(a, b)| *a < until && b.unwrap_or(end) > crash) {
            continue; // the monitor was down meanwhile: no sample
        }
        let last = changes.iter().take_while(|c| c.0 <= until).last();
        match last {
            Some(&(t, true)) => q.detections.push((t - crash).max(0.0)),
            _ => q.undetected += 1,
        }
    }
    q
}

/// Detection-time quantiles (nearest rank).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

impl Quantiles {
    /// Quantiles of `samples`.
    pub fn of(samples: &[f64]) -> Quantiles {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let pct =
            |p: f64| (!s.is_empty()).then(|| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1]);
        Quantiles {
            count: s.len(),
            p50: pct(0.5),
            p95: pct(0.95),
            max: s.last().copied(),
            mean: (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64),
        }
    }
}

/// One pair in report.json.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairReport {
    pub monitor: String,
    pub monitored: String,
    pub detection_seconds: Vec<f64>,
    pub undetected: usize,
    pub false_suspicions: usize,
    pub mistake_recurrence_seconds: Option<f64>,
    pub mistake_duration_seconds: Option<f64>,
    pub query_accuracy: Option<f64>,
}

/// `detector` in report.json.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectorReport {
    /// How ground truth was taken.
    pub ground_truth: &'static str,
    pub detection_seconds: Quantiles,
    pub undetected: usize,
    pub false_suspicions: usize,
    pub mistake_recurrence_seconds: Option<f64>,
    pub mistake_duration_seconds: Option<f64>,
    pub query_accuracy: Option<f64>,
    pub pairs: Vec<PairReport>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Folds node states and suspicions into the detector's QoS and the current suspicion matrix.
#[derive(Clone, Debug, Default)]
pub struct DetectorTracker {
    /// The nodes running a detector (each watches the others); empty: no detector.
    monitors: Vec<usize>,
    down: Vec<Vec<(f64, Option<f64>)>>,
    changes: BTreeMap<(usize, usize), Vec<(f64, bool)>>,
    current: Vec<Vec<bool>>,
}

impl DetectorTracker {
    /// A tracker over `n` nodes, with no detector yet.
    pub fn new(n: usize) -> DetectorTracker {
        DetectorTracker {
            monitors: Vec::new(),
            down: vec![Vec::new(); n],
            changes: BTreeMap::new(),
            current: vec![vec![false; n]; n],
        }
    }

    /// These nodes run detectors, each watching the others.
    pub fn enable(&mut self, monitors: Vec<usize>) {
        self.monitors = monitors;
    }

    /// Whether any node runs a detector.
    pub fn enabled(&self) -> bool {
        !self.monitors.is_empty()
    }

    /// Ground truth: `node` is up (or down: crashed or paused) from `t`.
    pub fn node_state(&mut self, node: usize, up: bool, t: f64) {
        let Some(iv) = self.down.get_mut(node) else { return };
        let open = iv.last().is_some_and(|(_, e)| e.is_none());
        match (up, open) {
            (false, false) => iv.push((t, None)),
            (true, true) => {
                if let Some(last) = iv.last_mut() {
                    last.1 = Some(t);
                }
            }
            _ => {}
        }
        if !up {
            // A down monitor suspects nothing any more; restarted, it trusts everyone at first.
            if let Some(row) = self.current.get_mut(node) {
                for (peer, s) in row.iter_mut().enumerate() {
                    if std::mem::take(s) {
                        self.changes.entry((node, peer)).or_default().push((t, false));
                    }
                }
            }
        }
    }

    /// `monitor` began (`suspected`) or stopped suspecting `monitored` at `t`.
    pub fn suspicion(&mut self, monitor: usize, monitored: usize, suspected: bool, t: f64) {
        let Some(cell) = self.current.get_mut(monitor).and_then(|r| r.get_mut(monitored)) else { return };
        *cell = suspected;
        self.changes.entry((monitor, monitored)).or_default().push((t, suspected));
    }

    /// Who suspects whom now: `[monitor][monitored]` (None when no detector runs).
    pub fn matrix(&self) -> Option<Vec<Vec<bool>>> {
        self.enabled().then(|| self.current.clone())
    }

    /// False suspicions so far and detection times so far (for live metrics), over [0, now].
    pub fn totals(&self, now: f64) -> (usize, Vec<f64>) {
        let pairs = self.pairs(now);
        let false_suspicions = pairs.iter().map(|(_, _, q)| q.false_suspicions).sum();
        (false_suspicions, pairs.into_iter().flat_map(|(_, _, q)| q.detections).collect())
    }

    fn pairs(&self, end: f64) -> Vec<(usize, usize, PairQos)> {
        let mut out = Vec::new();
        for &m in &self.monitors {
            for &w in &self.monitors {
                if m == w {
                    continue;
                }
                let changes = self.changes.get(&(m, w)).map_or(&[][..], |c| &c[..]);
                let (Some(dw), Some(dm)) = (self.down.get(w), self.down.get(m)) else { continue };
                out.push((m, w, pair_qos(dw, dm, changes, end)));
            }
        }
        out
    }

    /// The `detector` section of report.json, over [0, end]; `names` by node index.
    pub fn report(&self, end: f64, names: &[String]) -> Option<DetectorReport> {
        if !self.enabled() {
            return None;
        }
        let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
        let pairs = self.pairs(end);
        let detections: Vec<f64> = pairs.iter().flat_map(|(_, _, q)| q.detections.iter().copied()).collect();
        let durations: Vec<f64> =
            pairs.iter().flat_map(|(_, _, q)| q.mistake_durations.iter().copied()).collect();
        let observed: f64 = pairs.iter().map(|(_, _, q)| q.observed).sum();
        let suspected: f64 = pairs.iter().map(|(_, _, q)| q.suspected).sum();
        let false_suspicions: usize = pairs.iter().map(|(_, _, q)| q.false_suspicions).sum();
        let recurrence = |obs: f64, n: usize| (n > 0).then(|| obs / n as f64);
        let accuracy = |obs: f64, sus: f64| (obs > 0.0).then(|| 1.0 - sus / obs);
        Some(DetectorReport {
            ground_truth: "down from a crash or pause until up again (a paused node counts as down); counted while the monitor is up",
            detection_seconds: Quantiles::of(&detections),
            undetected: pairs.iter().map(|(_, _, q)| q.undetected).sum(),
            false_suspicions,
            mistake_recurrence_seconds: recurrence(observed, false_suspicions),
            mistake_duration_seconds: mean(&durations),
            query_accuracy: accuracy(observed, suspected),
            pairs: pairs
                .iter()
                .map(|(m, w, q)| PairReport {
                    monitor: name(*m),
                    monitored: name(*w),
                    detection_seconds: q.detections.clone(),
                    undetected: q.undetected,
                    false_suspicions: q.false_suspicions,
                    mistake_recurrence_seconds: recurrence(q.observed, q.false_suspicions),
                    mistake_duration_seconds: mean(&q.mistake_durations),
                    query_accuracy: accuracy(q.observed, q.suspected),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_permanent_crash_detected_once_gives_its_detection_time_and_no_mistake() {
        let q = pair_qos(&[(10.0, None)], &[], &[(10.45, true)], 30.0);
        assert_eq!(q.detections.len(), 1);
        assert!(close(q.detections[0], 0.45));
        assert_eq!((q.undetected, q.false_suspicions), (0, 0));
        // Both up for 10 s, never suspected meanwhile.
        assert!(close(q.observed, 10.0) && close(q.suspected, 0.0));
    }

    #[test]
    fn detection_counts_to_the_permanent_suspicion_not_an_earlier_wrong_one() {
        // Suspected wrongly at 5 s for 0.2 s, crash at 10 s, suspected at
        // 10.3 s, trusted at 10.35 s (a late heartbeat), suspected for good at 10.5 s.
        let changes = [(5.0, true), (5.2, false), (10.3, true), (10.35, false), (10.5, true)];
        let q = pair_qos(&[(10.0, Some(20.0))], &[], &changes, 30.0);
        assert_eq!(q.detections.len(), 1);
        assert!(close(q.detections[0], 0.5));
        assert_eq!(q.false_suspicions, 1);
        assert!(close(q.mistake_durations[0], 0.2));
        // Up 0–10 and 20–30; suspected 0.2 s of it, and 20 s onwards (never trusted again).
        assert!(close(q.observed, 20.0));
        assert!(close(q.suspected, 10.2), "{}", q.suspected);
    }

    #[test]
    fn a_crash_shorter_than_the_detection_is_undetected_and_a_down_monitor_gives_no_sample() {
        let q = pair_qos(&[(10.0, Some(10.1))], &[], &[], 20.0);
        assert_eq!((q.detections.len(), q.undetected), (0, 1));
        let q = pair_qos(&[(10.0, None)], &[(9.0, Some(12.0))], &[(12.4, true)], 20.0);
        assert_eq!((q.detections.len(), q.undetected), (0, 0));
        // The monitor's downtime is not observed time.
        assert!(close(q.observed, 9.0));
    }

    #[test]
    fn mistakes_give_recurrence_duration_and_accuracy_in_the_report() {
        let mut t = DetectorTracker::new(3);
        t.enable(vec![0, 1]);
        // Node 0 suspects node 1 wrongly twice, for 0.5 s each.
        t.suspicion(0, 1, true, 2.0);
        t.suspicion(0, 1, false, 2.5);
        t.suspicion(0, 1, true, 6.0);
        assert_eq!(t.matrix().map(|m| m[0][1]), Some(true));
        t.suspicion(0, 1, false, 6.5);
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let r = t.report(10.0, &names).unwrap_or_else(|| panic!("a detector runs"));
        assert_eq!(r.false_suspicions, 2);
        assert_eq!(r.pairs.len(), 2);
        let p = &r.pairs[0];
        assert_eq!((p.monitor.as_str(), p.monitored.as_str()), ("a", "b"));
        assert!(close(p.mistake_recurrence_seconds.unwrap_or(0.0), 5.0));
        assert!(close(p.mistake_duration_seconds.unwrap_or(0.0), 0.5));
        assert!(close(p.query_accuracy.unwrap_or(0.0), 0.9));
        // Overall: 20 s observed over two pairs, 1 s suspected.
        assert!(close(r.query_accuracy.unwrap_or(0.0), 0.95));
        assert_eq!(r.detection_seconds.count, 0);
        assert_eq!(t.totals(10.0).0, 2);
    }

    #[test]
    fn a_crashed_monitor_forgets_its_suspicions_and_a_paused_node_is_down() {
        let mut t = DetectorTracker::new(2);
        t.enable(vec![0, 1]);
        t.suspicion(0, 1, true, 1.0);
        t.node_state(0, false, 2.0);
        assert_eq!(t.matrix(), Some(vec![vec![false, false], vec![false, false]]));
        t.node_state(0, true, 3.0);
        t.node_state(1, false, 5.0); // paused
        t.suspicion(0, 1, true, 5.4);
        t.node_state(1, true, 6.0);
        t.suspicion(0, 1, false, 6.05);
        let r = t.report(10.0, &[]).unwrap_or_else(|| panic!("a detector runs"));
        assert_eq!(r.detection_seconds.count, 1);
        assert!(close(r.detection_seconds.max.unwrap_or(0.0), 0.4));
        let p = &r.pairs[0];
        assert_eq!(p.false_suspicions, 1, "the suspicion at 1 s was wrong");
        assert!(close(p.mistake_duration_seconds.unwrap_or(0.0), 1.0), "it ended with the monitor's crash");
        assert!(DetectorTracker::new(2).report(1.0, &[]).is_none());
    }
}
