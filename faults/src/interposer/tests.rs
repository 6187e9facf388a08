use super::*;
use crate::stream::mix64;
use crate::LinkScope;
use proptest::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A reply carrying a result a faulty node can falsify, or nothing to falsify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Reply {
    seq: u64,
    value: Option<u64>,
}

impl Message for Reply {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        let Some(truth) = self.value else { return false };
        let mut lie = rng.next_u64();
        if lie == truth {
            lie = lie.wrapping_add(1);
        }
        self.value = Some(lie);
        true
    }

    fn collude(&mut self, key: u64) -> bool {
        let Some(truth) = self.value else { return false };
        // Depends only on the key and the request: colluders agree; `| 1` keeps it wrong.
        self.value = Some(truth ^ (mix64(key ^ self.seq) | 1));
        true
    }

    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        let Some(truth) = self.value else { return false };
        // Distinct per receiver (ids are 16-bit), never the truth.
        self.value = Some(truth.wrapping_add(1 + u64::from(to.0) + ((mix64(key ^ self.seq) % 1000) << 16)));
        true
    }
}

fn reply(seq: u64) -> Reply {
    Reply { seq, value: Some(seq * 10) }
}

const ME: NodeId = NodeId(1);
const A: NodeId = NodeId(2);
const B: NodeId = NodeId(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn omission(direction: Direction, probability: f64, links: LinkScope) -> MessageFault {
    MessageFault::Omission { direction, probability, links }
}

fn delay(distribution: DelayDistribution, reorder: bool) -> MessageFault {
    MessageFault::Delay { distribution, reorder, links: LinkScope::All }
}

fn jitter() -> DelayDistribution {
    DelayDistribution::Normal { mean: ms(20), stddev: ms(15) }
}

/// The delivery time, or None when dropped.
fn at_of(d: &SendDecision<Reply>) -> Option<Time> {
    match d {
        SendDecision::Drop => None,
        SendDecision::Deliver { at, .. } => Some(*at),
    }
}

/// Send `n` replies to `to`, one per millisecond, and collect the decisions.
fn run(ip: &mut Interposer, to: NodeId, n: u64) -> Vec<SendDecision<Reply>> {
    (0..n).map(|i| ip.on_send(Time::from_millis(i), to, reply(i))).collect()
}

/// An interposer with a mix of random rules, to compare decision sequences.
fn noisy(me: NodeId, seed: u64) -> Interposer {
    let mut ip = Interposer::new(me, seed);
    ip.install(FaultId(1), omission(Direction::Both, 0.3, LinkScope::All));
    ip.install(FaultId(2), delay(jitter(), true));
    ip.install(
        FaultId(3),
        MessageFault::Byzantine { mode: ByzantineMode::Corrupt, key: 0, links: LinkScope::All },
    );
    ip
}

#[test]
fn no_rule_delivers_now_untouched_and_counts_nothing() {
    let mut ip = Interposer::new(ME, 1);
    for i in 0..100 {
        let now = Time::from_millis(i);
        assert_eq!(ip.on_send(now, A, reply(i)), SendDecision::Deliver { at: now, msg: reply(i) });
        assert!(ip.on_receive(now, A));
    }
    assert_eq!(ip.stats(), &InterposerStats::default());
    assert!(ip.streams.is_empty(), "the fast path must not create RNG streams");
}

#[test]
fn same_seed_gives_the_same_decisions_and_another_seed_differs() {
    let first = run(&mut noisy(ME, 42), A, 500);
    let again = run(&mut noisy(ME, 42), A, 500);
    let other = run(&mut noisy(ME, 43), A, 500);
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn receive_decisions_are_deterministic_per_seed() {
    let draw = |seed| {
        let mut ip = noisy(ME, seed);
        (0..500).map(|i| ip.on_receive(Time::from_millis(i), A)).collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn a_link_decides_the_same_whatever_other_links_carry() {
    let alone = run(&mut noisy(ME, 9), A, 300);
    let mut busy = noisy(ME, 9);
    let mut interleaved = Vec::new();
    for i in 0..300 {
        let now = Time::from_millis(i);
        // Traffic to B and receive-side traffic from A use other streams.
        for _ in 0..(i % 4) {
            busy.on_send(now, B, reply(i));
            busy.on_receive(now, A);
        }
        interleaved.push(busy.on_send(now, A, reply(i)));
    }
    assert_eq!(alone, interleaved);
}

#[test]
fn omission_rate_is_close_to_its_probability() {
    let mut ip = Interposer::new(ME, 7);
    ip.install(FaultId(1), omission(Direction::Send, 0.3, LinkScope::All));
    let dropped = run(&mut ip, A, 10_000).iter().filter(|d| at_of(d).is_none()).count();
    // Binomial(10 000, 0.3): sd ≈ 46, so ±300 is more than 6 sd.
    assert!((2_700..=3_300).contains(&dropped), "dropped {dropped}");
    assert_eq!(ip.stats().dropped_send, dropped as u64);

    ip.install(FaultId(2), omission(Direction::Receive, 0.3, LinkScope::All));
    let lost = (0..10_000).filter(|i| !ip.on_receive(Time::from_millis(*i), A)).count();
    assert!((2_700..=3_300).contains(&lost), "lost {lost}");
    assert_eq!(ip.stats().dropped_receive, lost as u64);
}

#[test]
fn omission_acts_only_in_its_direction_and_on_its_links() {
    let mut ip = Interposer::new(ME, 7);
    ip.install(FaultId(1), omission(Direction::Send, 1.0, LinkScope::Peers(vec![A])));
    assert_eq!(ip.on_send(Time::ZERO, A, reply(0)), SendDecision::Drop);
    assert!(at_of(&ip.on_send(Time::ZERO, B, reply(0))).is_some());
    assert!(ip.on_receive(Time::ZERO, A), "a send-side omission must not drop receives");

    ip.install(FaultId(1), omission(Direction::Receive, 1.0, LinkScope::All));
    assert!(at_of(&ip.on_send(Time::ZERO, A, reply(0))).is_some());
    assert!(!ip.on_receive(Time::ZERO, A));
    assert!(!ip.on_receive(Time::ZERO, B));
}

#[test]
fn out_of_range_probabilities_do_not_panic() {
    let mut ip = Interposer::new(ME, 7);
    ip.install(FaultId(1), omission(Direction::Both, 1.5, LinkScope::All));
    assert_eq!(ip.on_send(Time::ZERO, A, reply(0)), SendDecision::Drop);
    ip.install(FaultId(1), omission(Direction::Both, -0.5, LinkScope::All));
    assert!(at_of(&ip.on_send(Time::ZERO, A, reply(0))).is_some());
    ip.install(FaultId(1), omission(Direction::Both, f64::NAN, LinkScope::All));
    assert!(ip.on_receive(Time::ZERO, A));
}

#[test]
fn delay_without_reorder_keeps_each_link_fifo() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), delay(jitter(), false));
    for to in [A, B] {
        let times: Vec<Time> = run(&mut ip, to, 2_000).iter().filter_map(at_of).collect();
        assert_eq!(times.len(), 2_000);
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "delivery went back in time on {to}");
        assert!(times.iter().enumerate().all(|(i, at)| *at >= Time::from_millis(i as u64)));
    }
}

#[test]
fn delay_with_reorder_can_overtake() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), delay(jitter(), true));
    let times: Vec<Time> = run(&mut ip, A, 2_000).iter().filter_map(at_of).collect();
    assert!(times.windows(2).any(|w| w[0] > w[1]), "15 ms jitter at 1 ms spacing never reordered");
}

#[test]
fn a_message_sent_after_a_delay_heals_still_waits_its_turn() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), delay(DelayDistribution::Fixed(ms(100)), false));
    assert_eq!(at_of(&ip.on_send(Time::ZERO, A, reply(0))), Some(Time::from_millis(100)));
    ip.remove(FaultId(1));
    // Sent at 10 ms with no rule: TCP would not hand it over before the first.
    assert_eq!(at_of(&ip.on_send(Time::from_millis(10), A, reply(1))), Some(Time::from_millis(100)));
    // Other links are not held back, and once the horizon passes it is the fast path again.
    assert_eq!(at_of(&ip.on_send(Time::from_millis(10), B, reply(2))), Some(Time::from_millis(10)));
    assert_eq!(at_of(&ip.on_send(Time::from_millis(200), A, reply(3))), Some(Time::from_millis(200)));
    assert_eq!(ip.stats().delayed, 2);
}

#[test]
fn delays_of_several_rules_add_up() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), delay(DelayDistribution::Fixed(ms(10)), false));
    ip.install(FaultId(2), delay(DelayDistribution::Fixed(ms(5)), false));
    assert_eq!(at_of(&ip.on_send(Time::from_millis(1), A, reply(0))), Some(Time::from_millis(16)));
}

#[test]
fn delay_distributions_stay_in_their_range() {
    let draw = |distribution: DelayDistribution| {
        let mut ip = Interposer::new(ME, 11);
        ip.install(FaultId(1), delay(distribution, true));
        (0..2_000)
            .filter_map(|_| at_of(&ip.on_send(Time::ZERO, A, reply(0))))
            .map(|at| at.since(Time::ZERO))
            .collect::<Vec<_>>()
    };
    let uniform = draw(DelayDistribution::Uniform { min: ms(5), max: ms(10) });
    assert!(uniform.iter().all(|d| (ms(5)..=ms(10)).contains(d)));
    let mean = uniform.iter().sum::<Duration>() / 2_000;
    assert!((ms(7)..=ms(8)).contains(&mean), "uniform mean {mean:?}");

    // Mean 1 ms, deviation 10 ms: about half the raw draws are negative.
    let normal = draw(DelayDistribution::Normal { mean: ms(1), stddev: ms(10) });
    let zeros = normal.iter().filter(|d| d.is_zero()).count();
    assert!((800..=1_200).contains(&zeros), "{zeros} truncated draws");

    let pareto = draw(DelayDistribution::Pareto { scale: ms(2), shape: 1.5 });
    assert!(pareto.iter().all(|d| *d >= ms(2) - Duration::from_nanos(1)));
    assert!(pareto.iter().any(|d| *d > ms(20)), "no heavy tail");

    let swapped = draw(DelayDistribution::Uniform { min: ms(10), max: ms(5) });
    assert!(swapped.iter().all(|d| (ms(5)..=ms(10)).contains(d)));
}

#[test]
fn impossible_distribution_parameters_fall_back_instead_of_panicking() {
    let mut ip = Interposer::new(ME, 11);
    ip.install(FaultId(1), delay(DelayDistribution::Pareto { scale: ms(4), shape: -1.0 }, false));
    assert_eq!(at_of(&ip.on_send(Time::ZERO, A, reply(0))), Some(Time::from_millis(4)));
    ip.install(FaultId(1), delay(DelayDistribution::Pareto { scale: Duration::ZERO, shape: 2.0 }, false));
    assert_eq!(at_of(&ip.on_send(Time::from_millis(10), A, reply(1))), Some(Time::from_millis(10)));
}

#[test]
fn omission_is_decided_before_delay() {
    let mut ip = Interposer::new(ME, 5);
    ip.install(FaultId(1), delay(DelayDistribution::Fixed(ms(50)), false));
    ip.install(FaultId(2), omission(Direction::Send, 0.5, LinkScope::All));
    let decisions = run(&mut ip, A, 1_000);
    let delivered = decisions.iter().filter_map(at_of).count() as u64;
    let stats = ip.stats();
    assert_eq!(stats.delayed, delivered, "every delivered message carries the delay");
    assert_eq!(stats.dropped_send + stats.delayed, 1_000, "a dropped message is never also delayed");
}

#[test]
fn a_healed_partition_delivers_again() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(7), MessageFault::Partition { cut: vec![A], one_way: false });
    assert_eq!(ip.on_send(Time::ZERO, A, reply(0)), SendDecision::Drop);
    assert!(!ip.on_receive(Time::ZERO, A));
    assert!(at_of(&ip.on_send(Time::ZERO, B, reply(0))).is_some(), "B is on our side");
    assert!(ip.on_receive(Time::ZERO, B));
    ip.remove(FaultId(7));
    let now = Time::from_millis(1);
    assert_eq!(ip.on_send(now, A, reply(1)), SendDecision::Deliver { at: now, msg: reply(1) });
    assert!(ip.on_receive(now, A));
    assert_eq!(ip.stats().dropped_send, 1);
    assert_eq!(ip.stats().dropped_receive, 1);
}

#[test]
fn a_one_way_partition_drops_only_what_this_node_sends() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(1), MessageFault::Partition { cut: vec![A], one_way: true });
    assert_eq!(ip.on_send(Time::ZERO, A, reply(0)), SendDecision::Drop);
    assert!(ip.on_receive(Time::ZERO, A));
}

#[test]
fn silence_drops_every_send_but_still_listens() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(1), MessageFault::Silence);
    for (i, to) in [A, B, NodeId(40)].into_iter().enumerate() {
        assert_eq!(ip.on_send(Time::from_millis(i as u64), to, reply(0)), SendDecision::Drop);
        assert!(ip.on_receive(Time::ZERO, to));
    }
    assert_eq!(ip.stats().dropped_send, 3);
    assert_eq!(ip.stats().dropped_receive, 0);
}

#[test]
fn remove_of_an_unknown_id_is_ignored_and_install_replaces() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(1), MessageFault::Silence);
    ip.install(FaultId(1), MessageFault::Partition { cut: vec![B], one_way: true });
    ip.remove(FaultId(99));
    assert_eq!(ip.installed().count(), 1);
    assert!(at_of(&ip.on_send(Time::ZERO, A, reply(0))).is_some(), "silence was replaced");
}

fn byzantine(mode: ByzantineMode, key: u64, links: LinkScope) -> MessageFault {
    MessageFault::Byzantine { mode, key, links }
}

/// The value node `me` (seed `seed`) sends to A for request `seq` under `fault`.
fn falsified_value(me: NodeId, seed: u64, fault: MessageFault, seq: u64) -> Option<u64> {
    let mut ip = Interposer::new(me, seed);
    ip.install(FaultId(1), fault);
    match ip.on_send(Time::ZERO, A, reply(seq)) {
        SendDecision::Deliver { msg, .. } => msg.value,
        SendDecision::Drop => None,
    }
}

#[test]
fn corrupt_lies_differently_on_each_node() {
    let corrupt = || byzantine(ByzantineMode::Corrupt, 0, LinkScope::All);
    let truth = reply(5).value;
    let r1 = falsified_value(NodeId(1), 42, corrupt(), 5);
    let r3 = falsified_value(NodeId(3), 42, corrupt(), 5);
    assert_ne!(r1, truth);
    assert_ne!(r3, truth);
    assert_ne!(r1, r3, "independent faulty nodes should not agree on a random lie");
    assert_ne!(r1, falsified_value(NodeId(1), 43, corrupt(), 5), "the lie comes from the seed");
    assert_eq!(r1, falsified_value(NodeId(1), 42, corrupt(), 5), "and only from the seed");
}

#[test]
fn colluders_with_one_key_tell_the_same_lie() {
    let collude = |key| byzantine(ByzantineMode::Collude, key, LinkScope::All);
    let truth = reply(5).value;
    let r1 = falsified_value(NodeId(1), 42, collude(77), 5);
    let r3 = falsified_value(NodeId(3), 99, collude(77), 5);
    assert_ne!(r1, truth);
    assert_eq!(r1, r3);
    assert_ne!(r1, falsified_value(NodeId(1), 42, collude(78), 5));
}

#[test]
fn byzantine_counts_only_what_it_changed_and_only_on_its_links() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(1), byzantine(ByzantineMode::Corrupt, 0, LinkScope::Peers(vec![A])));
    let nothing = Reply { seq: 1, value: None };
    assert_eq!(
        ip.on_send(Time::ZERO, A, nothing.clone()),
        SendDecision::Deliver { at: Time::ZERO, msg: nothing }
    );
    assert_eq!(ip.on_send(Time::ZERO, B, reply(2)), SendDecision::Deliver { at: Time::ZERO, msg: reply(2) });
    assert_eq!(ip.stats().falsified, 0);
    assert_ne!(ip.on_send(Time::ZERO, A, reply(3)), SendDecision::Deliver { at: Time::ZERO, msg: reply(3) });
    assert_eq!(ip.stats().falsified, 1);
}

#[test]
fn stats_add_up_over_a_mixed_run() {
    let mut ip = Interposer::new(ME, 2);
    ip.install(FaultId(1), MessageFault::Partition { cut: vec![B], one_way: false });
    ip.install(FaultId(2), delay(DelayDistribution::Fixed(ms(1)), false));
    ip.install(FaultId(3), byzantine(ByzantineMode::Collude, 1, LinkScope::All));
    for i in 0..10 {
        ip.on_send(Time::from_millis(i), A, reply(i));
        ip.on_send(Time::from_millis(i), B, reply(i));
        ip.on_receive(Time::from_millis(i), B);
        ip.on_receive(Time::from_millis(i), A);
    }
    let expected = InterposerStats {
        dropped_send: 10,
        dropped_receive: 10,
        delayed: 10,
        falsified: 10,
        ..InterposerStats::default()
    };
    assert_eq!(ip.stats(), &expected);
}

/// A rule the property tests may install.
fn any_rule() -> impl Strategy<Value = MessageFault> {
    let links = prop_oneof![Just(LinkScope::All), Just(LinkScope::Peers(vec![A]))];
    let direction = prop_oneof![Just(Direction::Send), Just(Direction::Receive), Just(Direction::Both)];
    prop_oneof![
        (direction, 0.0..=1.0f64, links.clone()).prop_map(|(direction, probability, links)| {
            MessageFault::Omission { direction, probability, links }
        }),
        (0u64..50, 0u64..50, any::<bool>(), links.clone()).prop_map(|(lo, hi, reorder, links)| {
            MessageFault::Delay {
                distribution: DelayDistribution::Uniform { min: ms(lo), max: ms(hi) },
                reorder,
                links,
            }
        }),
        (1u64..30, any::<bool>()).prop_map(|(mean, reorder)| delay(
            DelayDistribution::Normal { mean: ms(mean), stddev: ms(mean) },
            reorder
        )),
        (any::<u64>(), links.clone()).prop_map(|(key, links)| byzantine(ByzantineMode::Collude, key, links)),
        (any::<u64>(), links.clone()).prop_map(|(key, links)| byzantine(
            ByzantineMode::Equivocate,
            key,
            links
        )),
        links.prop_map(|links| byzantine(ByzantineMode::Stale, 0, links)),
        Just(MessageFault::Partition { cut: vec![B], one_way: true }),
    ]
}

/// Send `traffic` (peer index, gap in ms) with `rules` installed; the decisions per message.
fn replay(
    seed: u64,
    rules: &[MessageFault],
    traffic: &[(bool, u64)],
) -> Vec<(NodeId, Time, SendDecision<Reply>)> {
    let mut ip = Interposer::new(ME, seed);
    for (i, rule) in rules.iter().enumerate() {
        ip.install(FaultId(i as u64), rule.clone());
    }
    let mut now = Time::ZERO;
    let mut out = Vec::new();
    for (seq, (to_a, gap)) in traffic.iter().enumerate() {
        now += ms(*gap);
        let to = if *to_a { A } else { B };
        out.push((to, now, ip.on_send(now, to, reply(seq as u64))));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_message_is_decided_once_never_early_and_fifo_unless_reordered(
        seed in any::<u64>(),
        rules in prop::collection::vec(any_rule(), 0..4),
        traffic in prop::collection::vec((any::<bool>(), 0u64..5), 1..200),
    ) {
        let decisions = replay(seed, &rules, &traffic);
        prop_assert_eq!(decisions.len(), traffic.len());
        prop_assert_eq!(&decisions, &replay(seed, &rules, &traffic), "same seed, same decisions");

        let may_reorder = rules.iter().any(|r| matches!(r, MessageFault::Delay { reorder: true, .. }));
        for link in [A, B] {
            let mut seqs = Vec::new();
            let mut last = Time::ZERO;
            for (to, now, decision) in decisions.iter().filter(|(to, ..)| *to == link) {
                if let SendDecision::Deliver { at, msg } = decision {
                    prop_assert!(*at >= *now, "delivered before it was sent");
                    prop_assert!(may_reorder || *at >= last, "overtook on {}", to);
                    last = last.max(*at);
                    seqs.push(msg.seq);
                }
            }
            // Only a stale rule (a replay, asked for) may repeat a message.
            let replays = rules.iter().any(|r| matches!(r, MessageFault::Byzantine { mode: ByzantineMode::Stale, .. }));
            let mut unique = seqs.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert!(replays || unique.len() == seqs.len(), "a message was delivered twice");
        }
    }
}

#[test]
fn equivocation_tells_each_peer_a_different_lie() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), byzantine(ByzantineMode::Equivocate, 42, LinkScope::All));
    let to_a = ip.on_send(Time::ZERO, A, reply(5));
    let to_b = ip.on_send(Time::ZERO, B, reply(5));
    let (SendDecision::Deliver { msg: a, .. }, SendDecision::Deliver { msg: b, .. }) = (to_a, to_b) else {
        panic!("equivocation dropped a message");
    };
    assert_ne!(a.value, reply(5).value, "A heard the truth");
    assert_ne!(b.value, reply(5).value, "B heard the truth");
    assert_ne!(a.value, b.value, "A and B heard the same thing");
    assert_eq!(ip.stats().falsified, 2);
}

#[test]
fn stale_replays_what_was_sent_lag_messages_earlier_on_each_link() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), byzantine(ByzantineMode::Stale, 0, LinkScope::Peers(vec![A])));
    let seqs: Vec<u64> = (0..10)
        .map(|i| match ip.on_send(Time::from_millis(i), A, reply(i)) {
            SendDecision::Deliver { msg, .. } => msg.seq,
            SendDecision::Drop => panic!("stale never drops"),
        })
        .collect();
    let lag = STALE_LAG as u64;
    let expected: Vec<u64> = (0..10).map(|i: u64| i.saturating_sub(lag)).collect();
    assert_eq!(seqs, expected);
    // Another link is untouched and has no history of its own yet.
    assert_eq!(
        ip.on_send(Time::ZERO, B, reply(99)),
        SendDecision::Deliver { at: Time::ZERO, msg: reply(99) }
    );
    // Once removed, what is sent is what leaves, and the history is gone.
    ip.remove(FaultId(1));
    assert_eq!(
        ip.on_send(Time::ZERO, A, reply(50)),
        SendDecision::Deliver { at: Time::ZERO, msg: reply(50) }
    );
    ip.install(FaultId(2), byzantine(ByzantineMode::Stale, 0, LinkScope::All));
    assert_eq!(at_of(&ip.on_send(Time::ZERO, A, reply(60))), Some(Time::ZERO));
    match ip.on_send(Time::ZERO, A, reply(61)) {
        SendDecision::Deliver { msg, .. } => assert_eq!(msg.seq, 60, "the old history leaked"),
        SendDecision::Drop => panic!("stale never drops"),
    }
}

#[test]
fn slow_holds_each_received_message_back_in_arrival_order() {
    let mut ip = Interposer::new(ME, 3);
    ip.install(FaultId(1), MessageFault::Slow { distribution: DelayDistribution::Fixed(ms(20)) });
    assert_eq!(
        ip.receive(Time::from_millis(1), A),
        ReceiveDecision::Deliver { at: Time::from_millis(21), from: A, copies: 1 }
    );
    // Jittered: never handled before an earlier arrival.
    ip.install(FaultId(1), MessageFault::Slow { distribution: jitter() });
    let mut last = Time::ZERO;
    for i in 0..500 {
        let now = Time::from_millis(100 + i);
        let ReceiveDecision::Deliver { at, .. } = ip.receive(now, if i % 2 == 0 { A } else { B }) else {
            panic!("slow never drops");
        };
        assert!(at >= now && at >= last, "handled early or out of order");
        last = at;
    }
    assert_eq!(ip.stats().slowed, 501);
    // Healed: later arrivals still wait behind those held, then go at once.
    ip.remove(FaultId(1));
    let now = Time::from_millis(600);
    assert_eq!(ip.receive(now, A), ReceiveDecision::Deliver { at: last.max(now), from: A, copies: 1 });
    let later = last + ms(1);
    assert_eq!(ip.receive(later, A), ReceiveDecision::Deliver { at: later, from: A, copies: 1 });
}

#[test]
fn duplication_hands_messages_over_twice_at_its_rate_and_only_on_its_links() {
    let mut ip = Interposer::new(ME, 9);
    ip.install(FaultId(1), MessageFault::Duplicate { probability: 0.3, links: LinkScope::Peers(vec![A]) });
    let n = 20_000;
    let mut twice = 0u64;
    for i in 0..n {
        match ip.receive(Time::from_millis(i), A) {
            ReceiveDecision::Deliver { copies: 2, .. } => twice += 1,
            ReceiveDecision::Deliver { copies: 1, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            ip.receive(Time::ZERO, B),
            ReceiveDecision::Deliver { at: Time::ZERO, from: B, copies: 1 },
            "B is not covered"
        );
    }
    let rate = twice as f64 / n as f64;
    // Binomial sd = sqrt(0.3 * 0.7 / 20000) ~ 0.0032: five of them.
    assert!((rate - 0.3).abs() < 0.017, "duplicated {rate}");
    assert_eq!(ip.stats().duplicated, twice);
}

#[test]
fn forge_attributes_the_liars_messages_to_the_claimed_node() {
    let mut ip = Interposer::new(ME, 1);
    ip.install(FaultId(1), MessageFault::Forge { liar: A, claimed: B });
    assert_eq!(ip.receive(Time::ZERO, A), ReceiveDecision::Deliver { at: Time::ZERO, from: B, copies: 1 });
    assert_eq!(ip.receive(Time::ZERO, B), ReceiveDecision::Deliver { at: Time::ZERO, from: B, copies: 1 });
    assert_eq!(ip.stats().forged, 1);
    // Drops are decided on the real sender: a partition from the liar still cuts it.
    ip.install(FaultId(2), MessageFault::Partition { cut: vec![A], one_way: false });
    assert_eq!(ip.receive(Time::ZERO, A), ReceiveDecision::Drop);
    ip.remove(FaultId(2));
    ip.remove(FaultId(1));
    assert_eq!(ip.receive(Time::ZERO, A), ReceiveDecision::Deliver { at: Time::ZERO, from: A, copies: 1 });
}

#[test]
fn clock_skew_offsets_and_drifts_the_nodes_clock_from_its_installation() {
    let mut ip = Interposer::new(ME, 1);
    let t0 = Time::from_millis(1_000);
    assert_eq!(ip.node_clock(t0), t0);
    assert_eq!(ip.real_after(ms(100)), ms(100));
    ip.install(FaultId(1), MessageFault::ClockSkew { offset_nanos: -200_000_000, drift: 0.0 });
    assert_eq!(ip.node_clock(t0), Time::from_millis(800));
    assert_eq!(ip.node_clock(Time::from_millis(100)), Time::ZERO, "saturates at the origin");
    ip.install(FaultId(1), MessageFault::ClockSkew { offset_nanos: 0, drift: 0.5 });
    assert_eq!(ip.node_clock(t0), t0, "drift runs from the first reading");
    assert_eq!(ip.node_clock(Time::from_millis(3_000)), Time::from_millis(4_000));
    assert_eq!(ip.real_after(ms(150)), ms(100), "a fast clock fires timers early");
    ip.install(FaultId(1), MessageFault::ClockSkew { offset_nanos: 0, drift: -5.0 });
    assert_eq!(ip.real_after(ms(1)), ms(100), "a clock never stops: 1% speed at least");
    ip.remove(FaultId(1));
    assert_eq!(ip.node_clock(Time::from_millis(5_000)), Time::from_millis(5_000));
    assert_eq!(ip.real_after(ms(150)), ms(150));
}

/// A receive-side rule the property tests may install.
fn any_receive_rule() -> impl Strategy<Value = MessageFault> {
    let links = prop_oneof![Just(LinkScope::All), Just(LinkScope::Peers(vec![A]))];
    prop_oneof![
        (0.0..=1.0f64, links.clone()).prop_map(|(probability, links)| omission(
            Direction::Receive,
            probability,
            links
        )),
        (0.0..=1.0f64, links).prop_map(|(probability, links)| MessageFault::Duplicate { probability, links }),
        (0u64..30).prop_map(|m| MessageFault::Slow {
            distribution: DelayDistribution::Normal { mean: ms(m), stddev: ms(m) }
        }),
        Just(MessageFault::Forge { liar: B, claimed: A }),
        Just(MessageFault::Partition { cut: vec![B], one_way: false }),
    ]
}

/// Receive `traffic` (from A?, gap in ms) with `rules` installed; the decisions.
fn replay_receive(
    seed: u64,
    rules: &[MessageFault],
    traffic: &[(bool, u64)],
) -> Vec<(Time, ReceiveDecision)> {
    let mut ip = Interposer::new(ME, seed);
    for (i, rule) in rules.iter().enumerate() {
        ip.install(FaultId(i as u64), rule.clone());
    }
    let mut now = Time::ZERO;
    traffic
        .iter()
        .map(|(from_a, gap)| {
            now += ms(*gap);
            (now, ip.receive(now, if *from_a { A } else { B }))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn receive_decisions_repeat_per_seed_and_keep_their_invariants(
        seed in any::<u64>(),
        rules in prop::collection::vec(any_receive_rule(), 0..4),
        traffic in prop::collection::vec((any::<bool>(), 0u64..5), 1..200),
    ) {
        let decisions = replay_receive(seed, &rules, &traffic);
        prop_assert_eq!(&decisions, &replay_receive(seed, &rules, &traffic), "same seed, same decisions");
        let duplicating = rules.iter().any(|r| matches!(r, MessageFault::Duplicate { .. }));
        let forging = rules.iter().any(|r| matches!(r, MessageFault::Forge { .. }));
        let mut last = Time::ZERO;
        for ((now, decision), (from_a, _)) in decisions.iter().zip(&traffic) {
            if let ReceiveDecision::Deliver { at, from, copies } = decision {
                prop_assert!(*at >= *now, "handled before it arrived");
                prop_assert!(*at >= last, "handled out of arrival order");
                last = *at;
                prop_assert!(*copies == 1 || (duplicating && *copies == 2), "a message was handed over twice");
                let real = if *from_a { A } else { B };
                prop_assert!(*from == real || (forging && real == B && *from == A), "sender changed");
            }
        }
    }

    #[test]
    fn omission_rate_stays_within_a_statistical_bound(seed in any::<u64>(), p in 0.0..=1.0f64) {
        let mut ip = Interposer::new(ME, seed);
        ip.install(FaultId(1), omission(Direction::Send, p, LinkScope::All));
        let n = 4_000u64;
        let dropped = run(&mut ip, A, n).iter().filter(|d| at_of(d).is_none()).count() as f64;
        // Six binomial standard deviations, plus a hair for p near 0 or 1.
        let bound = 6.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-3;
        prop_assert!((dropped / n as f64 - p).abs() <= bound, "dropped {} of {} at p = {}", dropped, n, p);
    }
}
