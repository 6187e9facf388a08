#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);

fn config(rounds: u32) -> Config {
    Config {
        proposer: A,
        other: B,
        rounds,
        interval: Duration::from_millis(200),
        round: Duration::from_millis(20),
    }
}

fn decisions(out: &Effects<Msg>) -> Vec<(u64, bool, u32)> {
    out.observations
        .iter()
        .filter_map(|o| match o {
            Observation::TwoArmies(ArmiesEvent::Decided { instance, attack, received }) => {
                Some((*instance, *attack, *received))
            }
            _ => None,
        })
        .collect()
}

/// One instance driven message by message, every messenger delivered at
/// once except step `lost`; then every general's timer fires. Returns
/// (A attacked, B attacked, the steps sent).
fn instance(rounds: u32, lost: Option<u32>) -> (bool, bool, Vec<u32>) {
    let c = config(rounds);
    let mut a = General::new(A, &c);
    let mut b = General::new(B, &c);
    let t0 = Time::from_millis(200);
    let mut out = Effects::new();
    a.on_timer(t0, TICK, &mut out);
    let mut attacked = BTreeMap::new();
    let mut sent = Vec::new();
    let mut inbox: Vec<(NodeId, Msg)> = Vec::new();
    let mut collect = |who: NodeId, out: &mut Effects<Msg>, inbox: &mut Vec<(NodeId, Msg)>| {
        for (_, attack, _) in decisions(out) {
            assert!(attacked.insert(who, attack).is_none(), "{who} decided twice");
        }
        for (to, m) in out.sends.drain(..) {
            assert_ne!(to, who);
            inbox.push((to, m));
        }
        out.clear();
    };
    collect(A, &mut out, &mut inbox);
    while let Some((to, m)) = inbox.pop() {
        let Msg::Messenger { step, .. } = m;
        sent.push(step);
        if lost == Some(step) {
            continue;
        }
        let from = if to == A { B } else { A };
        let node = if to == A { &mut a } else { &mut b };
        node.on_message(t0, from, m, &mut out);
        collect(to, &mut out, &mut inbox);
    }
    let late = t0 + c.patience();
    for (who, node) in [(A, &mut a), (B, &mut b)] {
        node.on_timer(late, TimerId(1), &mut out);
        collect(who, &mut out, &mut inbox);
    }
    assert!(inbox.is_empty(), "a timeout sends nothing");
    // A always decides; B decides on every instance it heard of.
    let a_attacks = attacked.get(&A).copied().expect("A decided");
    let b_attacks = attacked.get(&B).copied().unwrap_or(false);
    (a_attacks, b_attacks, sent)
}

#[test]
fn every_messenger_through_both_attack() {
    for k in 0..=4 {
        let (a, b, sent) = instance(k, None);
        assert!(a && b, "k={k}");
        assert_eq!(sent, (0..=k).collect::<Vec<_>>(), "k={k}: plan and k acknowledgments");
    }
}

#[test]
fn the_last_messenger_lost_one_attacks_alone() {
    for k in 0..=4 {
        let (a, b, sent) = instance(k, Some(k));
        assert_ne!(a, b, "k={k}: exactly one attacks");
        // The sender of the last step had nothing more to wait for.
        assert_eq!(a, theory::alone_is_proposer(k), "k={k}");
        assert_eq!(sent.last(), Some(&k));
    }
}

#[test]
fn an_earlier_messenger_lost_neither_attacks() {
    for k in 1..=4 {
        for j in 0..k {
            let (a, b, sent) = instance(k, Some(j));
            assert!(!a && !b, "k={k}, step {j} lost");
            assert_eq!(sent.last(), Some(&j), "the chain stops at the lost step");
        }
    }
}

#[test]
fn late_and_duplicate_messengers_change_nothing() {
    let c = config(2);
    let mut a = General::new(A, &c);
    let mut b = General::new(B, &c);
    let t0 = Time::from_millis(200);
    let mut out = Effects::new();
    a.on_timer(t0, TICK, &mut out);
    let (_, plan) = out.sends.remove(0);
    let mut out = Effects::new();
    b.on_message(t0, A, plan.clone(), &mut out);
    assert_eq!(out.sends.len(), 1, "B acknowledges");
    // The same plan again (a duplicate): no second acknowledgment.
    let mut dup = Effects::new();
    b.on_message(t0, A, plan, &mut dup);
    assert!(dup.is_empty());
    // A times out before the acknowledgment arrives: it does not attack...
    let mut out_a = Effects::new();
    a.on_timer(t0 + c.patience(), TimerId(1), &mut out_a);
    assert_eq!(decisions(&out_a), vec![(1, false, 0)]);
    // ...and the late acknowledgment neither changes that nor goes on.
    let (_, ack) = out.sends.remove(0);
    let mut late = Effects::new();
    a.on_message(t0 + c.patience(), B, ack, &mut late);
    assert!(late.is_empty());
    // B never got step 2: it does not attack either.
    let mut out_b = Effects::new();
    b.on_timer(t0 + c.patience(), TimerId(1), &mut out_b);
    assert_eq!(decisions(&out_b), vec![(1, false, 1)]);
}

#[test]
fn a_new_plan_every_interval_numbered_by_the_clock() {
    let c = config(1);
    let mut a = General::new(A, &c);
    let mut out = Effects::new();
    a.on_start(Time::from_millis(50), &mut out);
    assert_eq!(out.timers, vec![(Duration::from_millis(150), TICK)]);
    let mut out = Effects::new();
    a.on_timer(Time::from_millis(200), TICK, &mut out);
    a.on_timer(Time::from_millis(400), TICK, &mut out);
    let proposed: Vec<u64> = out
        .observations
        .iter()
        .filter_map(|o| match o {
            Observation::TwoArmies(ArmiesEvent::Proposed { instance, .. }) => Some(*instance),
            _ => None,
        })
        .collect();
    assert_eq!(proposed, vec![1, 2]);
}
