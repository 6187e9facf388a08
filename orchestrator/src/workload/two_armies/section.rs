//! The recorder's section for the two-army problem: `two_armies` in
//! report.json (how each instance ended, and the fraction in which one
//! general attacked alone against the model) and its dashboard line.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::BTreeMap;
use workloads::two_armies::{theory, ArmiesEvent};
use workloads::{NodeId, Observation};

/// Standard errors either side of the measured fraction (a 95 % interval).
const Z: f64 = 1.96;

/// `two_armies` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ArmiesReport {
    /// k: acknowledgments after the plan.
    pub rounds: u32,
    /// Instances proposed within the run and over.
    pub instances: u64,
    /// Both generals attacked.
    pub both: u64,
    /// Neither attacked.
    pub neither: u64,
    /// One attacked alone: the disaster.
    pub alone: u64,
    /// Of those, the proposer (A) alone, and the other (B) alone.
    pub alone_proposer: u64,
    pub alone_other: u64,
    /// alone / instances, and its 95 % Wilson interval.
    pub alone_fraction: Option<f64>,
    pub alone_low: Option<f64>,
    pub alone_high: Option<f64>,
    /// The mean chance that a messenger was lost, A's and B's, under the
    /// omission faults at each instance's start (None: faults the model does not cover).
    pub loss_ab: Option<f64>,
    pub loss_ba: Option<f64>,
    /// The model's fraction alone: Π_{i<k}(1 − q_i) · q_k averaged over the instances.
    pub theory_alone: Option<f64>,
    /// Whether the model's fraction lies within the measured interval.
    pub theory_within: Option<bool>,
}

/// While an omission fault stands, the chance it loses each of A's and of
/// B's messengers (run-relative seconds; `end` None: to the end).
#[derive(Clone, Debug, PartialEq)]
pub struct LossWindow {
    pub start: f64,
    pub end: Option<f64>,
    pub ab: f64,
    pub ba: f64,
}

#[derive(Clone, Debug, Default)]
struct Instance {
    /// When, and by whom, it was proposed within the run.
    proposed: Option<(f64, NodeId)>,
    decisions: BTreeMap<NodeId, bool>,
}

/// The instances of the two-army problem, judged once each is over.
#[derive(Debug)]
pub struct ArmiesRecorder {
    rounds: u32,
    /// An instance is over this long after its plan (both have decided by then).
    interval: f64,
    /// The omission faults on the generals' link; None when the run has
    /// faults the model does not cover.
    losses: Option<Vec<LossWindow>>,
    instances: BTreeMap<u64, Instance>,
}

impl ArmiesRecorder {
    /// A recorder for k = `rounds`, instances `interval` seconds apart, under `losses`.
    pub fn new(rounds: u32, interval: f64, losses: Option<Vec<LossWindow>>) -> ArmiesRecorder {
        ArmiesRecorder { rounds, interval, losses, instances: BTreeMap::new() }
    }

    /// Fold what `node` reported at run-relative `t` (`within_run`: before the run's end).
    pub fn observe(&mut self, node: NodeId, t: f64, within_run: bool, e: ArmiesEvent) {
        match e {
            // Instances proposed while the run drains are not counted.
            ArmiesEvent::Proposed { instance, .. } if within_run => {
                self.instances.entry(instance).or_default().proposed = Some((t, node));
            }
            ArmiesEvent::Proposed { .. } => {}
            ArmiesEvent::Decided { instance, attack, .. } => {
                self.instances.entry(instance).or_default().decisions.insert(node, attack);
            }
        }
    }

    /// The loss of A's and B's messengers at run-relative `t`.
    fn loss_at(losses: &[LossWindow], t: f64) -> (f64, f64) {
        let (mut ab, mut ba) = (1.0, 1.0);
        for w in losses.iter().filter(|w| w.start <= t && w.end.is_none_or(|e| t < e)) {
            ab *= 1.0 - w.ab;
            ba *= 1.0 - w.ba;
        }
        (1.0 - ab, 1.0 - ba)
    }

    /// The metrics over the instances over by `now` (None before the first).
    pub fn report(&self, now: f64) -> Option<ArmiesReport> {
        let mut r = ArmiesReport { rounds: self.rounds, ..ArmiesReport::default() };
        let (mut theory_sum, mut ab_sum, mut ba_sum) = (0.0, 0.0, 0.0);
        for inst in self.instances.values() {
            let Some((t, proposer)) = inst.proposed else { continue };
            if t + self.interval > now {
                continue;
            }
            r.instances += 1;
            // A general that never heard of the plan stayed home.
            let a = inst.decisions.get(&proposer).copied().unwrap_or(false);
            let b = inst.decisions.iter().any(|(n, attack)| *n != proposer && *attack);
            match (a, b) {
                (true, true) => r.both += 1,
                (false, false) => r.neither += 1,
                (true, false) => r.alone_proposer += 1,
                (false, true) => r.alone_other += 1,
            }
            if let Some(losses) = &self.losses {
                let (ab, ba) = Self::loss_at(losses, t);
                ab_sum += ab;
                ba_sum += ba;
                theory_sum += theory::outcomes(self.rounds, ab, ba).alone;
            }
        }
        if r.instances == 0 {
            return None;
        }
        r.alone = r.alone_proposer + r.alone_other;
        let n = r.instances as f64;
        r.alone_fraction = Some(r.alone as f64 / n);
        let interval = theory::wilson(r.alone, r.instances, Z);
        r.alone_low = interval.map(|i| i.0);
        r.alone_high = interval.map(|i| i.1);
        if self.losses.is_some() {
            r.loss_ab = Some(ab_sum / n);
            r.loss_ba = Some(ba_sum / n);
            let th = theory_sum / n;
            r.theory_alone = Some(th);
            r.theory_within = interval.map(|(lo, hi)| lo <= th && th <= hi);
        }
        Some(r)
    }
}

impl Section for ArmiesRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::TwoArmies(e) = obs else { return None };
        ArmiesRecorder::observe(self, seen.node, seen.t, seen.within_run, e);
        None
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(ArmiesRecorder::report(self, run.now))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(r) = ArmiesRecorder::report(self, run.now) else { return Vec::new() };
        let pct = |f: Option<f64>| f.map_or("-".to_string(), |f| format!("{:.1}%", 100.0 * f));
        let text = format!(
            "{} instances: {} both attacked, {} neither, {} ALONE ({}, theory {})",
            r.instances,
            r.both,
            r.neither,
            r.alone,
            pct(r.alone_fraction),
            pct(r.theory_alone)
        );
        vec![("two armies".to_string(), text)]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(0);
    const B: NodeId = NodeId(1);

    fn decided(r: &mut ArmiesRecorder, node: NodeId, instance: u64, attack: bool) {
        r.observe(node, 0.0, true, ArmiesEvent::Decided { instance, attack, received: 0 });
    }

    fn proposed(r: &mut ArmiesRecorder, instance: u64, t: f64, within_run: bool) {
        r.observe(A, t, within_run, ArmiesEvent::Proposed { instance, rounds: 2 });
    }

    #[test]
    fn instances_are_counted_from_both_decisions() {
        let loss = LossWindow { start: 0.0, end: None, ab: 0.3, ba: 0.3 };
        let mut r = ArmiesRecorder::new(2, 0.2, Some(vec![loss]));
        assert_eq!(r.report(10.0), None);
        // 1: both attack. 2: the last messenger (A's) lost, A alone. 3: the plan
        // lost, B never heard of it. 4: B alone. 5: neither.
        for (i, a, b) in [(1, Some(true), Some(true)), (2, Some(true), Some(false)), (3, Some(false), None)] {
            proposed(&mut r, i, i as f64, true);
            a.into_iter().for_each(|a| decided(&mut r, A, i, a));
            b.into_iter().for_each(|b| decided(&mut r, B, i, b));
        }
        proposed(&mut r, 4, 4.0, true);
        decided(&mut r, A, 4, false);
        decided(&mut r, B, 4, true);
        proposed(&mut r, 5, 5.0, true);
        decided(&mut r, A, 5, false);
        decided(&mut r, B, 5, false);
        // 6 is not over at 6.1; 7 was proposed while the run drained.
        proposed(&mut r, 6, 6.0, true);
        proposed(&mut r, 7, 6.05, false);
        decided(&mut r, A, 7, true);
        let rep = r.report(6.1).unwrap();
        assert_eq!((rep.instances, rep.both, rep.neither, rep.alone), (5, 1, 2, 2));
        assert_eq!((rep.alone_proposer, rep.alone_other), (1, 1));
        assert_eq!(rep.alone_fraction, Some(0.4));
        let (lo, hi) = (rep.alone_low.unwrap(), rep.alone_high.unwrap());
        assert!(lo < 0.4 && 0.4 < hi);
        // p (1 − p)^k with p = 0.3, k = 2.
        assert!((rep.theory_alone.unwrap() - 0.3 * 0.49).abs() < 1e-12);
        assert_eq!(rep.theory_within, Some(true), "five instances say little");
        assert!((rep.loss_ab.unwrap() - 0.3).abs() < 1e-12);
        // Once the run's end is past instance 6, it counts: A never decided.
        assert_eq!(r.report(7.0).unwrap().instances, 6);
    }

    #[test]
    fn the_model_follows_the_loss_windows() {
        // Loss 0.5 on A's messengers from 10 s to 20 s only; k = 0: A always
        // attacks, alone when its plan is lost.
        let loss = LossWindow { start: 10.0, end: Some(20.0), ab: 0.5, ba: 0.0 };
        let mut r = ArmiesRecorder::new(0, 0.2, Some(vec![loss]));
        for i in 0..4 {
            let t = if i < 2 { 5.0 + i as f64 } else { 15.0 + i as f64 };
            r.observe(A, t, true, ArmiesEvent::Proposed { instance: i, rounds: 0 });
            decided(&mut r, A, i, true);
        }
        decided(&mut r, B, 0, true);
        decided(&mut r, B, 1, true);
        decided(&mut r, B, 2, true);
        let rep = r.report(30.0).unwrap();
        assert_eq!((rep.both, rep.alone, rep.alone_proposer), (3, 1, 1));
        assert!((rep.theory_alone.unwrap() - 0.25).abs() < 1e-12);
        assert!((rep.loss_ab.unwrap() - 0.25).abs() < 1e-12);
        // Without a model (faults it does not cover), the counts alone.
        let mut r = ArmiesRecorder::new(0, 0.2, None);
        r.observe(A, 1.0, true, ArmiesEvent::Proposed { instance: 0, rounds: 0 });
        decided(&mut r, A, 0, true);
        let rep = r.report(30.0).unwrap();
        assert_eq!((rep.alone, rep.theory_alone, rep.theory_within), (1, None, None));
    }
}
