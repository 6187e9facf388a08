//! The recorder's section for Byzantine agreement (OM(m)): `byzantine` in
//! report.json, the agreement panel and line of the dashboard.
//!
//! Which generals are loyal is judged here, not by the generals: a general
//! is faulty in an instance when any executed fault (byzantine, crash,
//! omission...) covered it at any moment between the commander's order and
//! the last decision. Agreement (IC1) is checked among the loyal lieutenants
//! that decided; validity (IC2) only when the commander was loyal.

use crate::recorder::section::{to_json, FaultSpan, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::BTreeMap;
use tui::snapshot::{AgreementView, Signal};
use workloads::byzantine::AgreementEvent;
use workloads::{NodeId, Observation};

/// `byzantine` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ByzantineReport {
    /// Instances in which at least one loyal lieutenant decided.
    pub instances: u64,
    /// Instances in which every loyal lieutenant decided the same order (IC1).
    pub agreement: u64,
    /// Instances in which loyal lieutenants decided differently.
    pub disagreements: u64,
    /// Instances with a loyal commander (where validity applies).
    pub validity_checked: u64,
    /// Of those, instances in which every loyal lieutenant obeyed the commander (IC2).
    pub validity: u64,
    /// Of those, instances in which some loyal lieutenant decided otherwise.
    pub validity_violations: u64,
    /// Instances whose commander was faulty and lied: a loyal lieutenant received conflicting values.
    pub traitor_commander: u64,
    /// Instances with some faulty lieutenant whose lie a loyal lieutenant received (conflicting values).
    pub traitor_lieutenant: u64,
    /// Loyal lieutenants' decisions of the default order (no majority).
    pub retreats: u64,
    /// agreement / instances.
    pub agreement_rate: Option<f64>,
    /// validity / validity_checked.
    pub validity_rate: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct Instance {
    order: Option<(NodeId, f64, u64)>,
    /// (lieutenant, time, value, whether it received conflicting values).
    decisions: Vec<(NodeId, f64, u64, bool)>,
}

/// Byzantine-agreement instances, judged at the end of the run.
#[derive(Debug, Default)]
pub struct ByzantineRecorder {
    instances: BTreeMap<u64, Instance>,
}

impl ByzantineRecorder {
    /// Fold what `node` reported at run-relative `t`.
    pub fn observe(&mut self, node: NodeId, t: f64, e: AgreementEvent) {
        match e {
            AgreementEvent::Ordered { instance, value } => {
                self.instances.entry(instance).or_default().order = Some((node, t, value));
            }
            AgreementEvent::Decided { instance, value, conflicting } => {
                self.instances.entry(instance).or_default().decisions.push((node, t, value, conflicting));
            }
        }
    }

    /// The metrics over instances decided by `end`, under the executed faults `spans`.
    pub fn report(&self, spans: &[FaultSpan], end: f64) -> Option<ByzantineReport> {
        if self.instances.is_empty() {
            return None;
        }
        let mut r = ByzantineReport::default();
        for inst in self.instances.values() {
            let Some((from, last, loyal)) = loyal_decisions(inst, spans) else { continue };
            if last > end {
                continue;
            }
            // A fault window open during the instance is not enough: a traitor
            // counts only when a loyal lieutenant actually received its lie.
            let lie_received = inst.decisions.iter().any(|d| d.3 && !faulty(spans, d.0, from, last));
            if inst.decisions.len() > loyal.len() && lie_received {
                r.traitor_lieutenant += 1;
            }
            if loyal.is_empty() {
                continue;
            }
            r.instances += 1;
            r.retreats += loyal.iter().filter(|v| **v == workloads::byzantine::om::RETREAT).count() as u64;
            if loyal.iter().all(|v| *v == loyal[0]) {
                r.agreement += 1;
            } else {
                r.disagreements += 1;
            }
            match inst.order {
                Some((commander, _, order)) if !faulty(spans, commander, from, last) => {
                    r.validity_checked += 1;
                    if loyal.iter().all(|v| *v == order) {
                        r.validity += 1;
                    } else {
                        r.validity_violations += 1;
                    }
                }
                _ if lie_received => r.traitor_commander += 1,
                _ => {}
            }
        }
        r.agreement_rate = (r.instances > 0).then(|| r.agreement as f64 / r.instances as f64);
        r.validity_rate = (r.validity_checked > 0).then(|| r.validity as f64 / r.validity_checked as f64);
        Some(r)
    }

    /// The latest finished instance (one is finished once a later one has
    /// begun: the interval exceeds its m+1 rounds) with a loyal lieutenant
    /// that decided, under the executed faults `spans`: how many loyal
    /// lieutenants decided, and how many of them decided the commander's
    /// order (None when the commander was faulty).
    pub fn last_round(&self, spans: &[FaultSpan]) -> Option<LastRound> {
        let mut rounds = self.instances.values().rev();
        if self.instances.len() > 1 {
            // The newest may still be deciding.
            rounds.next();
        }
        rounds.find_map(|inst| {
            let (from, last, loyal) = loyal_decisions(inst, spans)?;
            if loyal.is_empty() {
                return None;
            }
            let followed = match inst.order {
                Some((commander, _, order)) if !faulty(spans, commander, from, last) => {
                    Some(loyal.iter().filter(|v| **v == order).count() as u64)
                }
                _ => None,
            };
            Some(LastRound { loyal: loyal.len() as u64, followed })
        })
    }
}

/// One instance as the dashboard shows it (see [`ByzantineRecorder::last_round`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastRound {
    pub loyal: u64,
    pub followed: Option<u64>,
}

/// An instance's span (the order, or a second before the first decision,
/// to the last decision) and the values its loyal lieutenants decided;
/// None before any decision.
fn loyal_decisions(inst: &Instance, spans: &[FaultSpan]) -> Option<(f64, f64, Vec<u64>)> {
    let last = inst.decisions.iter().map(|d| d.1).reduce(f64::max)?;
    let first = inst.decisions.iter().map(|d| d.1).reduce(f64::min).unwrap_or(last);
    // Without the order's time, the instance began at most a second before the first decision.
    let from = inst.order.map_or(first - 1.0, |o| o.1);
    let loyal = inst.decisions.iter().filter(|d| !faulty(spans, d.0, from, last)).map(|d| d.2).collect();
    Some((from, last, loyal))
}

fn faulty(spans: &[FaultSpan], node: NodeId, from: f64, to: f64) -> bool {
    spans.iter().any(|s| s.covers(node, from, to))
}

impl Section for ByzantineRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        if let Observation::Agreement(e) = obs {
            ByzantineRecorder::observe(self, seen.node, seen.t, e);
        }
        None
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(ByzantineRecorder::report(self, run.faults, run.now))
    }

    fn lines(&self, run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(b) = ByzantineRecorder::report(self, run.faults, run.now) else { return Vec::new() };
        let text = format!(
            "{} instances, {} agreed, {} disagreements, {} validity violations",
            b.instances, b.agreement, b.disagreements, b.validity_violations
        );
        vec![("agreement".to_string(), text)]
    }

    fn signal(&self, run: SoFar<'_>) -> Option<Signal> {
        let mut view = AgreementView::default();
        if let Some(b) = ByzantineRecorder::report(self, run.faults, run.now) {
            view.rounds = b.instances;
            view.agreed = b.agreement;
            view.validity_rounds = b.validity_checked;
            view.valid = b.validity;
            view.retreats = b.retreats;
        }
        if let Some(last) = self.last_round(run.faults) {
            view.last_loyal = last.loyal;
            view.last_followed = last.followed;
        }
        Some(Signal::Agreement(view))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::recorder::snapshot::testing::{at, ms, recorder};
    use workloads::byzantine::om::RETREAT;

    fn span(node: u16, start: f64, end: Option<f64>) -> FaultSpan {
        FaultSpan { nodes: vec![NodeId(node)], start, end }
    }

    #[test]
    fn generals_fill_agreement_validity_and_the_last_round() {
        let mut r = recorder(&[("commander", 1), ("lieutenant", 3)], 30);
        r.set_section(super::super::KEY, Box::new(ByzantineRecorder::default()));
        let order = |i, v| Observation::Agreement(AgreementEvent::Ordered { instance: i, value: v });
        let decided = |i, v| {
            Observation::Agreement(AgreementEvent::Decided { instance: i, value: v, conflicting: false })
        };
        for (i, start) in [(1, 1000), (2, 2000), (3, 3000)] {
            r.observe(NodeId(0), ms(start), order(i, 7));
            for l in 1..=3 {
                // In round 2 lieutenant-3 decides otherwise, with no fault to excuse it.
                let v = if i == 2 && l == 3 { 9 } else { 7 };
                r.observe(NodeId(l), ms(start + 100), decided(i, v));
            }
        }
        let Some(Signal::Agreement(a)) = at(&r, 4.0).signal else { panic!("an agreement signal") };
        assert_eq!((a.agreed, a.rounds), (2, 3));
        assert_eq!((a.valid, a.validity_rounds), (2, 3));
        // Round 3 may still be deciding: round 2 is the last finished one.
        assert_eq!((a.last_followed, a.last_loyal), (Some(2), 3));
    }

    #[test]
    fn loyalty_is_judged_from_the_faults_covering_the_instance() {
        let mut b = ByzantineRecorder::default();
        // Instance 1 at t=1: lieutenant 3 lies and decides something else; instance 2 at t=5: all loyal.
        b.observe(NodeId(0), 1.0, AgreementEvent::Ordered { instance: 1, value: 7 });
        // Lieutenant 1 heard lieutenant 3's lie (conflicting values); in instance 2
        // lieutenant 2 retreats for a lost message, with no lie heard.
        let decided = |instance, value, conflicting| AgreementEvent::Decided { instance, value, conflicting };
        b.observe(NodeId(1), 1.1, decided(1, 7, true));
        b.observe(NodeId(2), 1.1, decided(1, 7, false));
        b.observe(NodeId(3), 1.1, decided(1, 9, false));
        b.observe(NodeId(0), 5.0, AgreementEvent::Ordered { instance: 2, value: 8 });
        b.observe(NodeId(1), 5.1, decided(2, 8, false));
        b.observe(NodeId(2), 5.1, decided(2, RETREAT, false));
        let r = b.report(&[span(3, 0.5, Some(2.0))], 10.0).unwrap();
        assert_eq!((r.instances, r.agreement, r.disagreements), (2, 1, 1));
        assert_eq!((r.validity_checked, r.validity, r.validity_violations), (2, 1, 1));
        assert_eq!((r.traitor_lieutenant, r.retreats), (1, 1));
        // The same instances with the commander faulty: validity does not apply,
        // and only instance 1, where a lie was heard, has a traitor commander.
        let r = b.report(&[span(0, 0.0, None)], 10.0).unwrap();
        assert_eq!((r.validity_checked, r.traitor_commander), (0, 1));
        assert_eq!(r.validity_rate, None);
        // A fault window open over instance 2 makes no traitor when no loyal lieutenant heard a lie.
        let r = b.report(&[span(2, 4.0, Some(6.0))], 10.0).unwrap();
        assert_eq!((r.traitor_lieutenant, r.traitor_commander), (0, 0));
    }

    #[test]
    fn the_last_round_is_the_latest_finished_one_and_counts_the_loyal_who_obeyed() {
        let mut b = ByzantineRecorder::default();
        assert_eq!(b.last_round(&[]), None);
        let decided = |instance, value| AgreementEvent::Decided { instance, value, conflicting: false };
        b.observe(NodeId(0), 1.0, AgreementEvent::Ordered { instance: 1, value: 7 });
        b.observe(NodeId(1), 1.1, decided(1, 7));
        b.observe(NodeId(2), 1.1, decided(1, RETREAT));
        b.observe(NodeId(3), 1.1, decided(1, 9));
        // Alone, the first round is the last one: of three loyal lieutenants, one obeyed.
        assert_eq!(b.last_round(&[]), Some(LastRound { loyal: 3, followed: Some(1) }));
        // Lieutenant 3 was a traitor: of the two loyal ones, one obeyed.
        assert_eq!(b.last_round(&[span(3, 0.5, Some(2.0))]), Some(LastRound { loyal: 2, followed: Some(1) }));
        // A second round has begun, one decision in: the first is still the last finished one.
        b.observe(NodeId(0), 2.0, AgreementEvent::Ordered { instance: 2, value: 8 });
        b.observe(NodeId(1), 2.1, decided(2, 8));
        assert_eq!(b.last_round(&[]), Some(LastRound { loyal: 3, followed: Some(1) }));
        // With a traitor commander, obeying does not apply.
        assert_eq!(b.last_round(&[span(0, 0.0, None)]), Some(LastRound { loyal: 3, followed: None }));
    }
}
