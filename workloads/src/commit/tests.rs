//! 2PC and 3PC driven through a small virtual-time network: messages take
//! 1 ms, timers fire on time, and the coordinator can crash and restart with
//! its stable storage.

use super::*;
use crate::checkpoint::stable;
use crate::Observation;
use std::collections::BTreeMap;

const COORD: NodeId = NodeId(0);

fn config(protocol: Protocol) -> Config {
    Config {
        protocol,
        coordinator: COORD,
        participants: vec![NodeId(1), NodeId(2), NodeId(3)],
        interval: Duration::from_millis(100),
        decide_after: Duration::from_millis(250),
        timeout: Duration::from_millis(500),
        abort_probability: 0.0,
        seed: 3,
    }
}

enum What {
    Deliver(NodeId, NodeId, Msg),
    Fire(NodeId, TimerId, u32),
}

struct Net {
    config: Config,
    nodes: BTreeMap<NodeId, CommitNode>,
    /// Incarnation per node: timers of a dead incarnation are dropped.
    incarnation: BTreeMap<NodeId, u32>,
    stable: StableRecords,
    queue: BTreeMap<(u64, u64), What>,
    seq: u64,
    now: u64,
    events: Vec<(u64, NodeId, CommitEvent)>,
}

impl Net {
    fn new(config: Config) -> Net {
        let mut net = Net {
            config: config.clone(),
            nodes: BTreeMap::new(),
            incarnation: BTreeMap::new(),
            stable: StableRecords::new(),
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            events: Vec::new(),
        };
        for id in std::iter::once(COORD).chain(config.participants.iter().copied()) {
            net.start(id);
        }
        net
    }

    fn start(&mut self, id: NodeId) {
        let node = CommitNode::new(id, &self.config, &self.stable);
        self.nodes.insert(id, node);
        *self.incarnation.entry(id).or_default() += 1;
        self.call(id, |n, now, out| n.on_start(now, out));
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.remove(&id);
    }

    fn push(&mut self, at: u64, w: What) {
        self.seq += 1;
        self.queue.insert((at, self.seq), w);
    }

    fn call(&mut self, id: NodeId, f: impl FnOnce(&mut CommitNode, Time, &mut Effects<Msg>)) {
        let Some(node) = self.nodes.get_mut(&id) else { return };
        let mut out = Effects::new();
        let now = Time::from_millis(self.now);
        f(node, now, &mut out);
        if id == COORD {
            stable::apply(&mut self.stable, out.stable.drain(..));
        }
        for (to, m) in out.sends {
            self.push(self.now + 1, What::Deliver(id, to, m));
        }
        let inc = self.incarnation[&id];
        for (after, t) in out.timers {
            self.push(self.now + after.as_millis() as u64, What::Fire(id, t, inc));
        }
        for o in out.observations {
            match o {
                Observation::Commit(e) => self.events.push((self.now, id, e)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn run_until(&mut self, until: u64) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), what) = entry.remove_entry();
            self.now = at;
            match what {
                What::Deliver(from, to, m) => self.call(to, |n, now, out| n.on_message(now, from, m, out)),
                What::Fire(id, t, inc) => {
                    if self.incarnation.get(&id) == Some(&inc) {
                        self.call(id, |n, now, out| n.on_timer(now, t, out));
                    }
                }
            }
        }
        self.now = until;
    }

    fn count(&self, f: impl Fn(&CommitEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, _, e)| f(e)).count()
    }

    /// Per transaction, the set of outcomes nodes reached.
    fn outcomes(&self) -> BTreeMap<u64, Vec<bool>> {
        let mut m: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
        for (_, _, e) in &self.events {
            if let CommitEvent::Decided { txn, commit } = e {
                m.entry(*txn).or_default().push(*commit);
            }
        }
        m
    }
}

fn atomic(net: &Net) {
    for (txn, v) in net.outcomes() {
        assert!(v.iter().all(|c| *c == v[0]), "txn {txn} both committed and aborted: {v:?}");
    }
}

#[test]
fn without_faults_every_transaction_commits_everywhere() {
    for p in [Protocol::TwoPhase, Protocol::ThreePhase] {
        let mut net = Net::new(config(p));
        net.run_until(3000);
        let started = net.count(|e| matches!(e, CommitEvent::Started { .. }));
        assert!(started >= 28, "{started}");
        let decided = net.outcomes();
        let full = decided.values().filter(|v| v.len() == 4 && v.iter().all(|c| *c)).count();
        assert!(full >= started - 3, "{p:?}: {full} of {started} committed by all four");
        assert_eq!(net.count(|e| matches!(e, CommitEvent::Blocked { .. })), 0);
    }
}

#[test]
fn a_no_vote_aborts_the_transaction_everywhere() {
    let mut c = config(Protocol::TwoPhase);
    c.abort_probability = 0.3;
    let mut net = Net::new(c);
    net.run_until(3000);
    let o = net.outcomes();
    assert!(o.values().any(|v| v.contains(&false)));
    assert!(o.values().any(|v| v.contains(&true)));
    atomic(&net);
}

#[test]
fn two_phase_commit_blocks_when_the_coordinator_dies_after_the_votes() {
    let mut net = Net::new(config(Protocol::TwoPhase));
    // 1000 ms: transactions started at 800 and 900 have every vote and wait
    // for the decision log write (250 ms).
    net.run_until(1000);
    net.crash(COORD);
    net.run_until(4000);
    let blocked: Vec<u64> = net
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            CommitEvent::Blocked { txn, .. } => Some(*txn),
            _ => None,
        })
        .collect();
    assert!(blocked.len() >= 6, "3 participants x at least 2 transactions blocked: {blocked:?}");
    // Nobody decided the blocked transactions while the coordinator was down.
    let o = net.outcomes();
    for txn in &blocked {
        assert!(!o.contains_key(txn), "txn {txn} decided without the coordinator");
    }
    // It comes back, reads its log, and aborts what it had not decided: they unblock.
    net.start(COORD);
    net.run_until(5000);
    assert_eq!(net.count(|e| matches!(e, CommitEvent::Recovered { in_doubt } if *in_doubt >= 2)), 1);
    let unblocked: Vec<Duration> = net
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            CommitEvent::Unblocked { blocked, .. } => Some(*blocked),
            _ => None,
        })
        .collect();
    assert_eq!(unblocked.len(), blocked.len());
    assert!(unblocked.iter().all(|d| *d >= Duration::from_millis(2000)), "{unblocked:?}");
    let o = net.outcomes();
    for txn in &blocked {
        assert!(o[txn].iter().all(|c| !c), "an undecided transaction is aborted on recovery");
    }
    atomic(&net);
}

#[test]
fn three_phase_commit_terminates_without_the_coordinator() {
    let mut net = Net::new(config(Protocol::ThreePhase));
    net.run_until(1000);
    net.crash(COORD);
    net.run_until(2500);
    assert_eq!(net.count(|e| matches!(e, CommitEvent::Blocked { .. })), 0);
    let terminated = net.count(|e| matches!(e, CommitEvent::Terminated { .. }));
    assert!(terminated >= 2, "{terminated}");
    // Every transaction any participant voted on is decided by all three participants.
    let o = net.outcomes();
    for (txn, v) in &o {
        assert!(v.len() >= 3, "txn {txn}: {v:?}");
    }
    // The coordinator recovers and learns the outcomes from the participants.
    net.start(COORD);
    net.run_until(4000);
    atomic(&net);
    let o = net.outcomes();
    let partial = o.iter().filter(|(t, v)| v.len() < 4 && **t < 35).count();
    assert_eq!(partial, 0, "{o:?}");
}

#[test]
fn three_phase_termination_commits_when_someone_is_precommitted() {
    let c = config(Protocol::ThreePhase);
    let mut p = Participant::new(NodeId(1), &c);
    let mut out = Effects::new();
    let t = Time::from_millis(0);
    p.on_message(t, COORD, Msg::VoteRequest { txn: 7 }, &mut out);
    out.clear();
    // Timeout: participant 1 has rank 0, so it leads and asks the others.
    p.on_timer(Time::from_millis(500), TimerId(7 << 1), &mut out);
    assert_eq!(out.sends.iter().filter(|(_, m)| matches!(m, Msg::StateRequest { txn: 7 })).count(), 2);
    out.clear();
    p.on_message(t, NodeId(2), Msg::StateReply { txn: 7, state: State::PreCommit }, &mut out);
    p.on_message(t, NodeId(3), Msg::StateReply { txn: 7, state: State::Ready }, &mut out);
    p.on_timer(Time::from_millis(750), TimerId(7 << 1 | 1), &mut out);
    assert!(out.sends.contains(&(NodeId(3), Msg::PreCommit { txn: 7 })));
    assert!(out.sends.contains(&(NodeId(2), Msg::Decision { txn: 7, commit: true })));
    assert!(out
        .observations
        .contains(&Observation::Commit(CommitEvent::Terminated { txn: 7, commit: true })));
}

#[test]
fn a_participant_that_never_saw_the_vote_request_aborts_and_votes_no() {
    let c = config(Protocol::TwoPhase);
    let mut p = Participant::new(NodeId(2), &c);
    let mut out = Effects::new();
    let t = Time::from_millis(0);
    p.on_message(t, NodeId(1), Msg::DecisionRequest { txn: 4 }, &mut out);
    assert_eq!(out.sends, vec![(NodeId(1), Msg::Decision { txn: 4, commit: false })]);
    out.clear();
    p.on_message(t, COORD, Msg::VoteRequest { txn: 4 }, &mut out);
    assert_eq!(out.sends, vec![(COORD, Msg::Vote { txn: 4, commit: false })]);
}
