//! The recorder's section for Paxos: `paxos` in report.json (instances,
//! decisions, rounds, time to decide, the invariants) and its dashboard line.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::BTreeMap;
use workloads::paxos::{check, PaxosEvent};
use workloads::Observation;

/// Time to decide, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

/// `paxos` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PaxosReport {
    pub instances: usize,
    pub decided: usize,
    pub undecided: usize,
    pub rounds: u64,
    pub failed_rounds: u64,
    pub rounds_per_decision: Option<f64>,
    pub decide_seconds: Spread,
    pub longest_wait_seconds: f64,
    pub agreement_violations: u64,
    pub validity_violations: u64,
    pub leader_changes: u64,
}

/// Paxos rounds and decisions, as the proposers and learners reported them.
#[derive(Debug, Default)]
pub struct PaxosRecorder {
    /// The proposers (validity: a chosen value is one of theirs).
    proposers: Vec<workloads::NodeId>,
    /// Instances begun within the run: their first round's time.
    begun: BTreeMap<u64, f64>,
    /// First time each instance was seen chosen.
    decided: BTreeMap<u64, f64>,
    chosen: Vec<(u64, u64)>,
    rounds: u64,
    failed: u64,
    leaders: u64,
}

impl Section for PaxosRecorder {
    /// Rounds begun within the run count; decisions count whenever they
    /// come (an instance begun in the run may decide in the drain).
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::Paxos(e) = obs else { return None };
        match e {
            PaxosEvent::Round { instance, .. } if seen.within_run => {
                self.begun.entry(instance).or_insert(seen.t);
                self.rounds += 1;
            }
            PaxosEvent::RoundFailed { .. } if seen.within_run => self.failed += 1,
            PaxosEvent::Chosen { instance, value, .. } => {
                self.chosen.push((instance, value));
                if self.begun.contains_key(&instance) && !self.decided.contains_key(&instance) {
                    self.decided.insert(instance, seen.t);
                }
            }
            PaxosEvent::Leading if seen.within_run => {
                self.leaders += 1;
                return Some("now leads the proposers".into());
            }
            _ => {}
        }
        None
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(self.summary(run.now))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(r) = self.summary(run.now) else { return Vec::new() };
        let text = format!(
            "{} decided, {} open, {} rounds ({} failed), {} two values chosen",
            r.decided, r.undecided, r.rounds, r.failed_rounds, r.agreement_violations
        );
        vec![("paxos".to_string(), text)]
    }
}

impl PaxosRecorder {
    /// The section of a run with these proposers.
    pub fn new(proposers: Vec<workloads::NodeId>) -> PaxosRecorder {
        PaxosRecorder { proposers, ..PaxosRecorder::default() }
    }

    fn summary(&self, now: f64) -> Option<PaxosReport> {
        if self.begun.is_empty() && self.chosen.is_empty() {
            return None;
        }
        let mut waits: Vec<f64> =
            self.decided.iter().filter_map(|(i, t)| self.begun.get(i).map(|b| (t - b).max(0.0))).collect();
        waits.sort_by(f64::total_cmp);
        let count = waits.len();
        let decide_seconds = Spread {
            count,
            mean: (count > 0).then(|| waits.iter().sum::<f64>() / count as f64),
            p50: waits.get(count / 2).copied(),
            max: waits.last().copied(),
        };
        let decided = self.begun.keys().filter(|i| self.decided.contains_key(i)).count();
        let inv = check(&self.chosen, &self.proposers);
        Some(PaxosReport {
            instances: self.begun.len(),
            decided,
            undecided: self.begun.len() - decided,
            rounds: self.rounds,
            failed_rounds: self.failed,
            rounds_per_decision: (decided > 0).then(|| self.rounds as f64 / decided as f64),
            decide_seconds,
            longest_wait_seconds: self.longest_wait(now),
            agreement_violations: inv.agreement_violations,
            validity_violations: inv.validity_violations,
            leader_changes: self.leaders,
        })
    }

    /// The longest stretch in which some instance was open and none was
    /// decided: from the later of the last decision and the oldest open
    /// instance's start, to the next decision (or the end).
    fn longest_wait(&self, now: f64) -> f64 {
        let mut decisions: Vec<f64> = self.decided.values().copied().collect();
        decisions.sort_by(f64::total_cmp);
        decisions.push(now);
        let mut longest: f64 = 0.0;
        let mut last = f64::NEG_INFINITY;
        for d in decisions {
            // The oldest instance begun after the last decision and still open then.
            let open = self
                .begun
                .iter()
                .filter(|(i, b)| **b >= last.min(**b) && self.decided.get(i).is_none_or(|t| *t >= d))
                .map(|(_, b)| *b)
                .fold(f64::INFINITY, f64::min);
            if open.is_finite() {
                longest = longest.max(d - open.max(last));
            }
            last = d;
        }
        longest
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use workloads::paxos::Ballot;
    use workloads::{NodeId, Time};

    fn seen(t: f64) -> Seen {
        Seen::new(NodeId(0), t, t <= 10.0, Time::ZERO)
    }

    fn round(r: &mut PaxosRecorder, t: f64, instance: u64, value: u64) {
        r.observe(
            seen(t),
            Observation::Paxos(PaxosEvent::Round { instance, ballot: Ballot::default(), value }),
        );
    }

    fn chosen(r: &mut PaxosRecorder, t: f64, instance: u64, value: u64) {
        r.observe(
            seen(t),
            Observation::Paxos(PaxosEvent::Chosen { instance, ballot: Ballot::default(), value }),
        );
    }

    #[test]
    fn decisions_waits_and_the_invariants_are_counted() {
        let mut r = PaxosRecorder::new(vec![NodeId(0), NodeId(1)]);
        round(&mut r, 1.0, 5, 5001);
        chosen(&mut r, 1.01, 5, 5001);
        round(&mut r, 2.0, 10, 10001);
        round(&mut r, 2.1, 10, 10002);
        round(&mut r, 3.0, 15, 15001);
        // Nothing decides from 2.0 until 6.0: a majority was down.
        chosen(&mut r, 6.0, 10, 10002);
        chosen(&mut r, 6.0, 15, 15001);
        // Another learner saw another value in instance 15: two values chosen.
        chosen(&mut r, 6.1, 15, 15002);
        // And a value no proposer proposes: a falsified one.
        chosen(&mut r, 6.2, 15, 99);
        round(&mut r, 9.9, 20, 20001);
        let rep = r.summary(10.0).unwrap();
        assert_eq!((rep.instances, rep.decided, rep.undecided), (4, 3, 1));
        assert_eq!(rep.rounds, 5);
        assert_eq!(rep.agreement_violations, 1);
        assert_eq!(rep.validity_violations, 1, "99 is nobody's value; 15002 is proposer 1's");
        assert!((rep.longest_wait_seconds - 4.0).abs() < 1e-9, "{}", rep.longest_wait_seconds);
        assert!((rep.decide_seconds.max.unwrap() - 4.0).abs() < 1e-9);
    }
}
