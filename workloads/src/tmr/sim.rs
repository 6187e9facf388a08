//! A small deterministic harness for the TMR tests: virtual time, a fixed link
//! delay, timers fired in time order, crash and restart, and a hook that may
//! drop or falsify each message as it is sent (as the interposer would).

use super::{Config, Msg, Role, TmrNode};
use crate::{Effects, Node, NodeId, Observation, Time, TimerId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// Decides the fate of one message `from -> to` sent at a time: false drops it;
/// it may also falsify it in place.
pub(crate) type Hook = Box<dyn FnMut(Time, NodeId, NodeId, &mut Msg, &mut ChaCha8Rng) -> bool>;

enum Event {
    Deliver { from: NodeId, to: NodeId, msg: Msg },
    Timer { node: NodeId, id: TimerId, life: u32 },
}

/// The harness: every node of one TMR topology and the messages in flight.
pub(crate) struct Sim {
    pub config: Config,
    nodes: Vec<TmrNode>,
    up: Vec<bool>,
    /// Incarnation per node: timers set before a crash never fire after it.
    life: Vec<u32>,
    now: Time,
    events: BTreeMap<(Time, u64), Event>,
    next_event: u64,
    pub link_delay: Duration,
    pub hook: Option<Hook>,
    rng: ChaCha8Rng,
    /// Every observation, with its time and node.
    pub observations: Vec<(Time, NodeId, Observation)>,
    /// Every message as its sender sent it (before the hook).
    pub log: Vec<(Time, NodeId, NodeId, Msg)>,
}

impl Sim {
    /// All nodes of `config`'s topology, built fresh, not started yet.
    pub fn new(config: Config) -> Sim {
        let count = config.replicas.len() + config.voters.len() + config.clients.len();
        let mut sim = Sim {
            config,
            nodes: Vec::new(),
            up: vec![true; count],
            life: vec![0; count],
            now: Time::ZERO,
            events: BTreeMap::new(),
            next_event: 0,
            link_delay: Duration::from_micros(100),
            hook: None,
            rng: ChaCha8Rng::seed_from_u64(1),
            observations: Vec::new(),
            log: Vec::new(),
        };
        sim.nodes = (0..count).map(|i| sim.build(NodeId(i as u16), false)).collect();
        sim
    }

    fn build(&self, id: NodeId, restarted: bool) -> TmrNode {
        let role = if self.config.replicas.contains(&id) {
            Role::Replica
        } else if self.config.voters.contains(&id) {
            Role::Voter
        } else {
            Role::Client
        };
        TmrNode::new(id, &Config { role, ..self.config.clone() }, 7, restarted)
    }

    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &TmrNode {
        &self.nodes[usize::from(id.0)]
    }

    /// Start every node that is up.
    pub fn start(&mut self) {
        for i in 0..self.nodes.len() {
            if self.up[i] {
                self.call(NodeId(i as u16), |n, now, out| n.on_start(now, out));
            }
        }
    }

    /// Crash `id`: it loses its state, its timers and every message sent to it.
    pub fn crash(&mut self, id: NodeId) {
        self.up[usize::from(id.0)] = false;
        self.life[usize::from(id.0)] += 1;
    }

    /// Start `id` again, rebuilt as a restarted node.
    pub fn restart(&mut self, id: NodeId) {
        self.nodes[usize::from(id.0)] = self.build(id, true);
        self.up[usize::from(id.0)] = true;
        self.call(id, |n, now, out| n.on_start(now, out));
    }

    /// Run every event up to and including `until`, in time order.
    pub fn run_until(&mut self, until: Time) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = at;
            match event {
                Event::Deliver { from, to, msg } => {
                    if self.up[usize::from(to.0)] {
                        self.call(to, |n, now, out| n.on_message(now, from, msg, out));
                    }
                }
                Event::Timer { node, id, life } => {
                    if self.up[usize::from(node.0)] && self.life[usize::from(node.0)] == life {
                        self.call(node, |n, now, out| n.on_timer(now, id, out));
                    }
                }
            }
        }
        self.now = until;
    }

    fn schedule(&mut self, at: Time, event: Event) {
        self.events.insert((at, self.next_event), event);
        self.next_event += 1;
    }

    fn call(&mut self, id: NodeId, f: impl FnOnce(&mut TmrNode, Time, &mut Effects<Msg>)) {
        let mut out = Effects::new();
        f(&mut self.nodes[usize::from(id.0)], self.now, &mut out);
        let now = self.now;
        for obs in out.observations {
            self.observations.push((now, id, obs));
        }
        for (after, timer) in out.timers {
            let life = self.life[usize::from(id.0)];
            self.schedule(now + after, Event::Timer { node: id, id: timer, life });
        }
        for (to, mut msg) in out.sends {
            self.log.push((now, id, to, msg.clone()));
            let deliver = match self.hook.as_mut() {
                Some(hook) => hook(now, id, to, &mut msg, &mut self.rng),
                None => true,
            };
            if deliver {
                self.schedule(now + self.link_delay, Event::Deliver { from: id, to, msg });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;
    use crate::observation::RecoveryReason;
    use crate::{Message, Outcome, Verdict};
    use std::collections::HashMap;

    const RATE: f64 = 1000.0;

    fn sim(replicas: u16, voters: u16) -> Sim {
        Sim::new(config(replicas, voters, RATE))
    }

    /// The client's request outcomes by seq, checking that each sent request
    /// has exactly one (those whose deadline has passed by `end`) and none has two.
    fn outcomes(sim: &Sim, end: Time, min_judged: usize) -> HashMap<u64, Outcome> {
        let mut by_seq = HashMap::new();
        for (_, _, obs) in &sim.observations {
            if let Observation::Request { seq, outcome, .. } = obs {
                assert!(by_seq.insert(*seq, *outcome).is_none(), "seq {seq} judged twice");
            }
        }
        let first_replica = sim.config.replicas[0];
        let mut judged = 0;
        for (at, _, to, msg) in &sim.log {
            if let (Msg::Request { seq, .. }, true) = (msg, *to == first_replica) {
                if *at + sim.config.deadline + Duration::from_millis(2) < end {
                    assert!(by_seq.contains_key(seq), "seq {seq} never judged");
                    judged += 1;
                }
            }
        }
        assert!(judged >= min_judged, "only {judged} requests judged");
        by_seq
    }

    fn count(outcomes: &HashMap<u64, Outcome>, outcome: Outcome) -> usize {
        outcomes.values().filter(|o| **o == outcome).count()
    }

    fn verdicts(sim: &Sim, after: Time) -> HashMap<Verdict, usize> {
        let mut counts = HashMap::new();
        for (at, _, obs) in &sim.observations {
            if let (Observation::Vote { verdict, .. }, true) = (obs, *at >= after) {
                *counts.entry(*verdict).or_insert(0) += 1;
            }
        }
        counts
    }

    /// A hook that falsifies every Result sent by the given replicas.
    fn falsify(liars: Vec<NodeId>, collude: bool) -> Hook {
        Box::new(move |_, from, _, msg, rng| {
            if liars.contains(&from) {
                if collude {
                    msg.collude(0xC0FFEE);
                } else {
                    msg.corrupt(rng);
                }
            }
            true
        })
    }

    const END: Time = Time::from_millis(1000);

    #[test]
    fn fault_free_run_is_unanimous_and_ok() {
        let mut s = sim(3, 1);
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let v = verdicts(&s, Time::ZERO);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[&Verdict::Unanimous] > 900);
    }

    #[test]
    fn one_crashed_replica_is_masked() {
        let mut s = sim(3, 1);
        s.crash(NodeId(1));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let v = verdicts(&s, Time::ZERO);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[&Verdict::Majority] > 900);
    }

    #[test]
    fn one_corrupting_replica_is_outvoted() {
        let mut s = sim(3, 1);
        s.hook = Some(falsify(vec![NodeId(2)], false));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let v = verdicts(&s, Time::ZERO);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[&Verdict::Majority] > 900);
    }

    #[test]
    fn two_independent_corrupters_give_no_majority_and_failures_but_never_wrong() {
        let mut s = sim(3, 1);
        s.hook = Some(falsify(vec![NodeId(1), NodeId(2)], false));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Failed), o.len());
        assert_eq!(count(&o, Outcome::Wrong), 0);
        let v = verdicts(&s, Time::ZERO);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[&Verdict::NoMajority] > 900);
        assert!(!s.log.iter().any(|(_, _, _, m)| matches!(m, Msg::Output { .. })), "nothing forwarded");
    }

    #[test]
    fn two_colluding_replicas_outvote_the_truth_and_the_oracle_sees_it() {
        let mut s = sim(3, 1);
        s.hook = Some(falsify(vec![NodeId(0), NodeId(2)], true));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Wrong), o.len());
        let v = verdicts(&s, Time::ZERO);
        assert!(v[&Verdict::Majority] > 900, "{v:?}");
    }

    #[test]
    fn three_voters_with_one_crashed_still_answer() {
        let mut s = sim(3, 3);
        s.crash(s.config.voters[1]);
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
    }

    #[test]
    fn restarted_replica_transfers_state_then_votes_correctly() {
        let mut s = sim(3, 1);
        let r = NodeId(1);
        s.start();
        s.run_until(Time::from_millis(300));
        s.crash(r);
        s.run_until(Time::from_millis(500));
        s.restart(r);
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let mine: Vec<_> = s.observations.iter().filter(|(_, n, _)| *n == r).collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(
            mine[0],
            &(Time::from_millis(500), r, Observation::RecoveryStarted { reason: RecoveryReason::Restart })
        );
        let (done_at, _, Observation::RecoveryCompleted { seq, restore }) = mine[1] else {
            panic!("expected RecoveryCompleted, got {:?}", mine[1]);
        };
        assert!(*seq >= 500 && *restore < Duration::from_millis(5), "seq {seq} restore {restore:?}");
        assert_eq!(*done_at, Time::from_millis(500) + *restore);
        // Its results after recovery match replica 0's, and it sent none while down or recovering.
        let results = |who: NodeId| -> HashMap<u64, i64> {
            s.log
                .iter()
                .filter_map(|(at, from, _, m)| match m {
                    Msg::Result { seq, value } if *from == who && *at >= Time::from_millis(300) => {
                        Some((*seq, *value))
                    }
                    _ => None,
                })
                .collect()
        };
        let (theirs, mine) = (results(NodeId(0)), results(r));
        assert!(mine.len() > 450, "votes again: {}", mine.len());
        assert!(mine.keys().all(|k| *k > 300), "no vote between crash and recovery");
        for (seq, value) in &mine {
            assert_eq!(theirs.get(seq), Some(value), "seq {seq}");
        }
        assert!(verdicts(&s, *done_at + Duration::from_millis(25))[&Verdict::Unanimous] > 400);
        let TmrNode::Replica(replica) = s.node(r) else { panic!("not a replica") };
        let TmrNode::Replica(peer) = s.node(NodeId(0)) else { panic!("not a replica") };
        assert_eq!(replica.snapshot(), peer.snapshot());
    }

    #[test]
    fn a_lost_request_makes_the_replica_catch_up_by_state_transfer() {
        let mut s = sim(3, 1);
        let r = NodeId(2);
        s.hook = Some(Box::new(move |_, _, to, msg, _| {
            !(to == r && matches!(msg, Msg::Request { seq: 100, .. }))
        }));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let mine: Vec<_> = s.observations.iter().filter(|(_, n, _)| *n == r).map(|(_, _, o)| o).collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(mine[0], &Observation::RecoveryStarted { reason: RecoveryReason::Gap });
        assert!(matches!(mine[1], Observation::RecoveryCompleted { seq, .. } if *seq > 100));
        assert!(
            s.log.iter().any(|(_, _, to, m)| *to == r && matches!(m, Msg::StateReply { .. })),
            "the gap was filled by a peer's state"
        );
        let TmrNode::Replica(replica) = s.node(r) else { panic!("not a replica") };
        let TmrNode::Replica(peer) = s.node(NodeId(0)) else { panic!("not a replica") };
        assert_eq!(replica.snapshot(), peer.snapshot());
        assert!(!replica.is_recovering());
    }

    #[test]
    fn open_loop_client_keeps_its_rate_while_nothing_answers() {
        let mut s = sim(3, 1);
        for r in s.config.replicas.clone() {
            s.crash(r);
        }
        s.start();
        s.run_until(Time::from_millis(999));
        let sent = |s: &Sim| {
            s.log.iter().filter(|(_, _, to, m)| *to == NodeId(0) && matches!(m, Msg::Request { .. })).count()
        };
        assert!((999..=1001).contains(&sent(&s)), "{}", sent(&s));
        s.run_until(Time::from_millis(2000));
        let n = sent(&s);
        assert!((2000..=2002).contains(&n), "{n}");
        let o = outcomes(&s, Time::from_millis(2000), 1900);
        assert_eq!(count(&o, Outcome::Failed), o.len());
    }

    #[test]
    fn state_requests_are_retried_while_peers_are_down() {
        let mut s = sim(3, 1);
        s.start();
        s.run_until(Time::from_millis(100));
        for r in [NodeId(0), NodeId(1), NodeId(2)] {
            s.crash(r);
        }
        s.restart(NodeId(0));
        s.run_until(Time::from_millis(200));
        let asks =
            s.log.iter().filter(|(_, from, _, m)| *from == NodeId(0) && *m == Msg::StateRequest).count();
        assert!(asks >= 2 * 10, "asks again every gap_timeout: {asks}");
        s.restart(NodeId(1));
        s.run_until(Time::from_millis(300));
        // Both lost their state, so neither can answer: the service stays down, never wrong.
        let o = outcomes(&s, Time::from_millis(300), 240);
        assert_eq!(count(&o, Outcome::Wrong), 0);
        assert!(count(&o, Outcome::Failed) > 100);
        for r in [NodeId(0), NodeId(1)] {
            let TmrNode::Replica(replica) = s.node(r) else { panic!("not a replica") };
            assert!(replica.is_recovering());
        }
    }

    #[test]
    fn high_rate_run_is_all_ok_and_votes_stay_bounded() {
        let mut s = Sim::new(config(3, 1, 50_000.0));
        s.start();
        let end = Time::from_millis(200);
        s.run_until(end);
        let o = outcomes(&s, end, 7000);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        let TmrNode::Voter(voter) = s.node(s.config.voters[0]) else { panic!("not a voter") };
        assert!(voter.open_votes() < 100, "{}", voter.open_votes());
    }

    #[test]
    fn window_mode_keeps_the_window_full_and_rate_free() {
        let mut cfg = config(3, 1, 0.0);
        cfg.window = 8;
        let mut s = Sim::new(cfg);
        s.start();
        let end = Time::from_millis(1000);
        s.run_until(end);
        let TmrNode::Client(client) = s.node(s.config.clients[0]) else { panic!("not a client") };
        assert_eq!(client.outstanding(), 8);
        // Each round trip takes three 100 us hops: about 8 / 300 us = 26,667 requests/s.
        let o = outcomes(&s, end, 20_000);
        assert_eq!(count(&o, Outcome::Ok), o.len());
        assert!((26_000..=26_700).contains(&client.sent()), "{}", client.sent());
    }

    #[test]
    fn a_request_lost_to_every_replica_fails_once_and_the_service_resumes() {
        let mut s = sim(3, 1);
        s.hook = Some(Box::new(|_, _, _, msg, _| !matches!(msg, Msg::Request { seq: 100, .. })));
        s.start();
        s.run_until(END);
        let o = outcomes(&s, END, 900);
        assert_eq!(count(&o, Outcome::Wrong), 0);
        assert_eq!(o.get(&100), Some(&Outcome::Failed));
        // Requests after the gap fail at most while every replica recovers (here they catch up in time).
        let failed = count(&o, Outcome::Failed);
        assert!((1..=80).contains(&failed), "{failed}");
        assert!((800..=1000).contains(&o.keys().filter(|k| **k > 200).count()));
        assert!(o.iter().filter(|(k, _)| **k > 200).all(|(_, v)| *v == Outcome::Ok));
        let peer = |i: u16| match s.node(NodeId(i)) {
            TmrNode::Replica(r) => r.snapshot(),
            _ => panic!("not a replica"),
        };
        assert_eq!(peer(0), peer(1));
        assert_eq!(peer(1), peer(2));
    }
}
