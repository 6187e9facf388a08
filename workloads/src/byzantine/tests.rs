//! OM(m) driven message by message: a tiny synchronous network in which
//! traitors falsify what they send exactly as the interposer would.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeSet, VecDeque};

#[derive(Copy, Clone)]
enum Lie {
    Corrupt,
    Collude,
    Equivocate,
}

/// Run one instance among `n` generals running OM(`m`), with `traitors`
/// lying in `lie` mode; the decisions of every lieutenant and the commander's order.
/// `n` generals running OM(`m`): an instance every 200 ms, rounds of 10 ms.
fn config(n: u16, m: usize, seed: u64) -> Config {
    Config {
        generals: (0..n).map(NodeId).collect(),
        m,
        interval: Duration::from_millis(200),
        round: Duration::from_millis(10),
        seed,
    }
}

fn run(n: u16, m: usize, traitors: &[u16], lie: Lie) -> (u64, BTreeMap<NodeId, u64>) {
    let (order, decisions, _) = run_seeing_conflicts(n, m, traitors, lie);
    (order, decisions)
}

/// [`run`], and the lieutenants that received conflicting values.
fn run_seeing_conflicts(
    n: u16,
    m: usize,
    traitors: &[u16],
    lie: Lie,
) -> (u64, BTreeMap<NodeId, u64>, BTreeSet<NodeId>) {
    let config = config(n, m, 5);
    let mut nodes: Vec<General> = config.generals.iter().map(|&g| General::new(g, &config)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut wire: VecDeque<(NodeId, NodeId, Msg)> = VecDeque::new();
    let mut timers: Vec<(NodeId, TimerId)> = Vec::new();
    let mut order = None;
    let mut decisions = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    let mut absorb = |from: NodeId,
                      out: Effects<Msg>,
                      wire: &mut VecDeque<(NodeId, NodeId, Msg)>,
                      timers: &mut Vec<(NodeId, TimerId)>| {
        for (to, mut msg) in out.sends {
            if traitors.contains(&from.0) {
                match lie {
                    Lie::Corrupt => msg.corrupt(&mut rng),
                    Lie::Collude => msg.collude(77),
                    Lie::Equivocate => msg.equivocate(to, 77),
                };
            }
            wire.push_back((from, to, msg));
        }
        timers.extend(out.timers.into_iter().map(|(_, t)| (from, t)));
        for o in out.observations {
            match o {
                Observation::Agreement(AgreementEvent::Ordered { value, .. }) => order = Some(value),
                Observation::Agreement(AgreementEvent::Decided { value, conflicting, .. }) => {
                    decisions.insert(from, value);
                    if conflicting {
                        conflicts.insert(from);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let now = Time::from_millis(1000);
    let mut out = Effects::new();
    nodes[0].on_timer(now, TICK, &mut out);
    absorb(NodeId(0), out, &mut wire, &mut timers);
    while let Some((from, to, msg)) = wire.pop_front() {
        let mut out = Effects::new();
        nodes[usize::from(to.0)].on_message(now, from, msg, &mut out);
        absorb(to, out, &mut wire, &mut timers);
    }
    for (node, t) in std::mem::take(&mut timers) {
        if t != TICK {
            let mut out = Effects::new();
            nodes[usize::from(node.0)].on_timer(now + Duration::from_millis(20), t, &mut out);
            absorb(node, out, &mut wire, &mut timers);
        }
    }
    (order.unwrap_or_else(|| panic!("the commander gave no order")), decisions, conflicts)
}

#[test]
fn only_a_lie_makes_a_lieutenant_see_conflicting_values() {
    let (_, _, honest) = run_seeing_conflicts(4, 1, &[], Lie::Corrupt);
    assert!(honest.is_empty(), "no traitor, yet conflicts at {honest:?}");
    // A lying lieutenant: both loyal lieutenants hear its relay against the commander's order.
    let (_, _, seen) = run_seeing_conflicts(4, 1, &[2], Lie::Corrupt);
    assert_eq!(seen, BTreeSet::from([NodeId(1), NodeId(3)]));
    // A two-faced commander: every lieutenant hears different orders relayed.
    let (_, _, seen) = run_seeing_conflicts(4, 1, &[0], Lie::Equivocate);
    assert_eq!(seen, BTreeSet::from([NodeId(1), NodeId(2), NodeId(3)]));
}

fn loyal(decisions: &BTreeMap<NodeId, u64>, traitors: &[u16]) -> Vec<u64> {
    decisions.iter().filter(|(g, _)| !traitors.contains(&g.0)).map(|(_, v)| *v).collect()
}

#[test]
fn four_generals_agree_despite_a_traitor_commander() {
    for lie in [Lie::Corrupt, Lie::Equivocate, Lie::Collude] {
        let (_, d) = run(4, 1, &[0], lie);
        let v = loyal(&d, &[0]);
        assert_eq!(v.len(), 3, "every lieutenant decides");
        assert!(v.iter().all(|x| *x == v[0]), "loyal lieutenants disagree: {v:?}");
    }
}

#[test]
fn four_generals_obey_a_loyal_commander_despite_a_traitor_lieutenant() {
    for lie in [Lie::Corrupt, Lie::Equivocate, Lie::Collude] {
        let (order, d) = run(4, 1, &[2], lie);
        assert_eq!(loyal(&d, &[2]), vec![order, order]);
    }
}

#[test]
fn three_generals_cannot_obey_a_loyal_commander_with_a_traitor_lieutenant() {
    let (order, d) = run(3, 1, &[2], Lie::Corrupt);
    let v = loyal(&d, &[2]);
    assert_eq!(v.len(), 1);
    // Lieutenant 1 hears the order from the commander and a different one
    // from lieutenant 2: no majority, so it falls back to the default.
    assert_ne!(v[0], order, "validity should fail with N = 3");
    assert_eq!(v[0], om::RETREAT);
}

#[test]
fn three_generals_with_a_two_faced_commander_cannot_obey_it() {
    let (order, d) = run(3, 1, &[0], Lie::Equivocate);
    // The lieutenants agree on the default, but neither obeys the order the
    // commander claims to have given: they cannot tell which of them lies.
    assert_eq!(loyal(&d, &[0]), vec![om::RETREAT, om::RETREAT]);
    assert_ne!(order, om::RETREAT);
}

#[test]
fn seven_generals_running_om2_mask_two_colluding_traitors() {
    for traitors in [[5u16, 6], [0, 6]] {
        let (order, d) = run(7, 2, &traitors, Lie::Collude);
        let v = loyal(&d, &traitors);
        assert!(v.iter().all(|x| *x == v[0]), "disagreement with traitors {traitors:?}: {v:?}");
        if !traitors.contains(&0) {
            assert!(v.iter().all(|x| *x == order));
        }
    }
}

#[test]
fn malformed_paths_and_late_messages_are_ignored() {
    let config = config(4, 1, 1);
    let mut l = General::new(NodeId(1), &config);
    let mut out = Effects::new();
    let now = Time::from_millis(5);
    // Claims to come from the commander but arrives from lieutenant 2.
    l.on_message(now, NodeId(2), Msg::Order { instance: 3, path: vec![NodeId(0)], value: 9 }, &mut out);
    // Too long for OM(1).
    let long = vec![NodeId(0), NodeId(2), NodeId(3)];
    l.on_message(now, NodeId(3), Msg::Order { instance: 3, path: long, value: 9 }, &mut out);
    assert!(out.is_empty());
    l.on_message(now, NodeId(0), Msg::Order { instance: 3, path: vec![NodeId(0)], value: 9 }, &mut out);
    assert_eq!(out.sends.len(), 2, "relayed to the two other lieutenants");
    assert_eq!(out.timers, vec![(Duration::from_millis(20), TimerId(3))]);
    out.clear();
    // One relay arrives; the other is missing and counts as the default: 9, 9, RETREAT.
    let relay = vec![NodeId(0), NodeId(2)];
    l.on_message(now, NodeId(2), Msg::Order { instance: 3, path: relay, value: 9 }, &mut out);
    assert!(out.sends.is_empty(), "a relayed order is not relayed again in OM(1)");
    l.on_timer(now, TimerId(3), &mut out);
    assert_eq!(
        out.observations,
        vec![Observation::Agreement(AgreementEvent::Decided { instance: 3, value: 9, conflicting: false })]
    );
    out.clear();
    // A message of a decided instance changes nothing.
    l.on_message(now, NodeId(0), Msg::Order { instance: 3, path: vec![NodeId(0)], value: 4 }, &mut out);
    assert!(out.is_empty());
}

#[test]
fn lies_differ_from_the_truth_and_by_receiver_when_equivocating() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for instance in 0..300 {
        let truth = General::order(9, instance);
        let m = |v| Msg::Order { instance, path: vec![NodeId(0)], value: v };
        let mut c = m(truth);
        assert!(c.corrupt(&mut rng));
        assert_ne!(c, m(truth));
        let (mut a, mut b) = (m(truth), m(truth));
        assert!(a.collude(4) && b.collude(4));
        assert_eq!(a, b);
        assert_ne!(a, m(truth));
        let (mut x, mut y) = (m(truth), m(truth));
        assert!(x.equivocate(NodeId(1), 4) && y.equivocate(NodeId(2), 4));
        assert_ne!(x, y);
        assert_ne!(x, m(truth));
        assert_ne!(truth, om::RETREAT);
    }
}

#[test]
fn a_restarted_commander_does_not_reuse_instance_numbers() {
    let config = config(4, 1, 1);
    let mut c = General::new(NodeId(0), &config);
    let mut out = Effects::new();
    c.on_timer(Time::from_millis(1000), TICK, &mut out);
    c.on_timer(Time::from_millis(1001), TICK, &mut out);
    let instances: Vec<u64> = out
        .observations
        .iter()
        .filter_map(|o| match o {
            Observation::Agreement(AgreementEvent::Ordered { instance, .. }) => Some(*instance),
            _ => None,
        })
        .collect();
    assert_eq!(instances, vec![5, 6]);
    let mut again = General::new(NodeId(0), &config);
    let mut out = Effects::new();
    again.on_timer(Time::from_millis(3000), TICK, &mut out);
    assert!(matches!(
        out.observations[0],
        Observation::Agreement(AgreementEvent::Ordered { instance: 15, .. })
    ));
}
