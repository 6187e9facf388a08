use crate::sim::{Latency, Network, Sim, SlotState};
use crate::Driver;
use faults::{DelayDistribution, FaultId, Interposer, LinkScope, MessageFault};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use workloads::{Effects, Message, Node, NodeId, Observation, StableRecords, StableWrite, Time, TimerId};

/// A test node: every `period` it sends a numbered ping to every peer and
/// appends the number to its stable storage; it notes every ping it gets.
#[derive(Debug)]
struct Pinger {
    me: NodeId,
    peers: u16,
    period: Duration,
    count: u64,
    restored: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Ping(u64);

impl Message for Ping {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        self.0 = rng.next_u64();
        true
    }
    fn collude(&mut self, key: u64) -> bool {
        self.0 = key;
        true
    }
}

impl Node for Pinger {
    type Msg = Ping;
    fn on_start(&mut self, _now: Time, out: &mut Effects<Ping>) {
        out.set_timer(self.period, TimerId(0));
        out.emit(Observation::Note { text: format!("start restored={}", self.restored) });
    }
    fn on_message(&mut self, _now: Time, from: NodeId, msg: Ping, out: &mut Effects<Ping>) {
        out.emit(Observation::Note { text: format!("{} from {}", msg.0, from.0) });
    }
    fn on_timer(&mut self, _now: Time, _t: TimerId, out: &mut Effects<Ping>) {
        self.count += 1;
        out.store(StableWrite::Append { key: "log".into(), bytes: vec![self.count as u8] });
        for p in 0..self.peers {
            if p != self.me.0 {
                out.send(NodeId(p), Ping(self.count));
            }
        }
        out.set_timer(self.period, TimerId(0));
    }
}

fn pinger(me: NodeId, peers: u16, stable: &StableRecords) -> Driver<Pinger> {
    let restored = stable.get("log").map_or(0, |l| l.len());
    let node = Pinger { me, peers, period: Duration::from_millis(10), count: 0, restored };
    Driver::new(node, Interposer::new(me, 7))
}

fn sim(n: u16, seed: u64, latency: Latency) -> Sim<Pinger> {
    let network = Network { latency, ..Network::default() };
    Sim::new(
        usize::from(n),
        Time::from_millis(1000),
        network,
        seed,
        Box::new(move |me, _, st| pinger(me, n, &st)),
    )
}

fn notes(sim: &mut Sim<Pinger>) -> Vec<(NodeId, Time, String)> {
    sim.drain_observations()
        .filter_map(|(n, t, o)| match o {
            Observation::Note { text } => Some((n, t, text)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_s_stable_writes_come_out_before_its_sends_and_timers_fire_in_order() {
    let mut d = pinger(NodeId(0), 3, &StableRecords::new());
    let t0 = Time::from_millis(5);
    d.start(t0);
    assert_eq!(d.poll_timeout(), Some(Time::from_millis(15)));
    assert!(d.poll_transmit().is_none());
    d.handle_timeout(Time::from_millis(15));
    // Both come out of one call: the caller takes the write first.
    assert_eq!(d.poll_stable_write(), Some(StableWrite::Append { key: "log".into(), bytes: vec![1] }));
    assert_eq!(d.poll_transmit().map(|t| (t.to, t.msg)), Some((NodeId(1), Ping(1))));
    assert_eq!(d.poll_transmit().map(|t| (t.to, t.msg)), Some((NodeId(2), Ping(1))));
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.poll_timeout(), Some(Time::from_millis(25)));
    // Not due yet: nothing happens.
    d.handle_timeout(Time::from_millis(24));
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.stats().sent, 2);
}

#[test]
fn a_delay_rule_holds_messages_back_in_order_and_releases_them_when_due() {
    let mut d = pinger(NodeId(0), 2, &StableRecords::new());
    d.install(
        FaultId(1),
        MessageFault::Delay {
            distribution: DelayDistribution::Fixed(Duration::from_millis(30)),
            reorder: false,
            links: LinkScope::All,
        },
    );
    d.start(Time::ZERO);
    for ms in [10, 20] {
        d.handle_timeout(Time::from_millis(ms));
        assert!(d.poll_transmit().is_none(), "delayed, not sent at {ms} ms");
    }
    assert_eq!(
        d.poll_timeout(),
        Some(Time::from_millis(30)),
        "the next timer comes before the first release"
    );
    d.handle_timeout(Time::from_millis(40));
    let sent: Vec<u64> = std::iter::from_fn(|| d.poll_transmit()).map(|t| t.msg.0).collect();
    assert_eq!(sent, vec![1], "only the ping sent at 10 ms is due at 40 ms");
    d.handle_timeout(Time::from_millis(50));
    let sent: Vec<u64> = std::iter::from_fn(|| d.poll_transmit()).map(|t| t.msg.0).collect();
    assert_eq!(sent, vec![2]);
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let jittery = Latency::Normal { mean: Duration::from_micros(300), stddev: Duration::from_micros(200) };
    let run = |seed| {
        let mut s = sim(4, seed, jittery);
        s.start();
        s.run_until(Time::from_millis(1200));
        notes(&mut s)
    };
    let a = run(1);
    assert!(a.len() > 100, "{} notes", a.len());
    assert_eq!(a, run(1));
    assert_ne!(a, run(2));
}

#[test]
fn links_are_fifo_whatever_the_latency_draws() {
    let wild = Latency::Exponential { mean: Duration::from_millis(20) };
    let mut s = sim(2, 3, wild);
    s.start();
    s.run_until(Time::from_millis(3000));
    let got: Vec<u64> = notes(&mut s)
        .into_iter()
        .filter(|(n, _, _)| *n == NodeId(1))
        .filter_map(|(_, _, t)| t.split(' ').next().and_then(|x| x.parse().ok()))
        .collect();
    assert!(got.len() > 150);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
}

#[test]
fn a_crash_keeps_stable_storage_and_the_restart_rebuilds_from_it_after_restart_time() {
    let mut s = sim(2, 1, Latency::Fixed { value: Duration::from_micros(100) });
    s.start();
    s.run_until(Time::from_millis(1055));
    s.crash(NodeId(0));
    assert_eq!(s.state(NodeId(0)), SlotState::Down);
    let kept = s.stable(NodeId(0)).and_then(|r| r.get("log")).map_or(0, Vec::len);
    assert_eq!(kept, 5, "five pings were logged before the crash");
    s.run_until(Time::from_millis(1100));
    let lost = s.lost_to_crashes;
    assert!(lost >= 4, "node 1's pings to the crashed node are lost: {lost}");
    s.restart(NodeId(0));
    s.run_until(Time::from_millis(1200));
    let r: Vec<_> = s.drain_restarted().collect();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].up.since(r[0].issued), Network::default().restart_time);
    assert_eq!(s.state(NodeId(0)), SlotState::Up);
    let starts: Vec<String> = notes(&mut s)
        .into_iter()
        .filter(|(n, _, t)| *n == NodeId(0) && t.starts_with("start"))
        .map(|x| x.2)
        .collect();
    assert_eq!(starts, vec!["start restored=0", "start restored=5"]);
}

#[test]
fn a_paused_node_hears_nothing_until_resumed_then_everything_in_order() {
    let mut s = sim(2, 1, Latency::Fixed { value: Duration::from_micros(100) });
    s.start();
    s.run_until(Time::from_millis(1001));
    notes(&mut s);
    s.pause(NodeId(1));
    s.run_until(Time::from_millis(1100));
    assert!(notes(&mut s).iter().all(|(n, _, _)| *n != NodeId(1)), "a paused node handles nothing");
    s.resume(NodeId(1));
    let heard: Vec<(Time, String)> =
        notes(&mut s).into_iter().filter(|(n, _, _)| *n == NodeId(1)).map(|(_, t, x)| (t, x)).collect();
    // Pings sent at 1010..=1090 ms arrived while paused; the one sent at 1100 ms is still on the wire.
    assert_eq!(heard.len(), 9, "{heard:?}");
    assert!(heard.iter().all(|(t, _)| *t == Time::from_millis(1100)), "handled at the resume");
    assert_eq!(heard[0].1, "1 from 0");
    assert_eq!(heard[8].1, "9 from 0");
}

#[test]
fn nodes_started_apart_run_from_their_own_start_and_sends_are_recorded() {
    let mut s = sim(2, 1, Latency::Fixed { value: Duration::from_micros(100) });
    s.record_sent();
    s.start_node(NodeId(0));
    s.run_until(Time::from_millis(1013));
    assert_eq!(s.state(NodeId(1)), SlotState::Up);
    assert!(!s.driver(NodeId(1)).is_some_and(Driver::started), "node 1 is not started yet");
    s.start_node(NodeId(1));
    s.start_node(NodeId(1));
    s.run_until(Time::from_millis(1030));
    let sent: Vec<(Time, u16, u64)> = s.sent().iter().map(|m| (m.at, m.from.0, m.msg.0)).collect();
    assert_eq!(
        sent,
        vec![
            (Time::from_millis(1010), 0, 1),
            (Time::from_millis(1020), 0, 2),
            (Time::from_millis(1023), 1, 1),
            (Time::from_millis(1030), 0, 3),
        ],
        "node 1 ticks from its own start, once"
    );
    let starts = notes(&mut s).iter().filter(|(_, _, t)| t.starts_with("start")).count();
    assert_eq!(starts, 2);
}

#[test]
fn a_message_on_its_way_to_a_node_that_crashes_and_restarts_is_lost() {
    let network = Network {
        latency: Latency::Fixed { value: Duration::from_millis(5) },
        restart_time: Duration::from_millis(1),
        ..Network::default()
    };
    let mut s = Sim::new(2, Time::ZERO, network, 1, Box::new(|me, _, st| pinger(me, 2, &st)));
    s.start();
    // Node 0's ping of 10 ms arrives at 15 ms; node 1 crashes at 11 ms and is back at 12 ms.
    s.run_until(Time::from_millis(11));
    s.restart(NodeId(1));
    s.run_until(Time::from_millis(16));
    assert_eq!(s.lost_to_crashes, 1);
    let heard =
        notes(&mut s).into_iter().filter(|(n, _, t)| *n == NodeId(1) && t.ends_with("from 0")).count();
    assert_eq!(heard, 0, "the ping sent to the old incarnation never reaches the new one");
}

/// A node that writes a record its driver must refuse (a path, not a name).
#[derive(Debug)]
struct BadWriter;

impl Node for BadWriter {
    type Msg = Ping;
    fn on_start(&mut self, _now: Time, out: &mut Effects<Ping>) {
        out.set_timer(Duration::from_millis(5), TimerId(0));
    }
    fn on_message(&mut self, _now: Time, _from: NodeId, _msg: Ping, _out: &mut Effects<Ping>) {}
    fn on_timer(&mut self, _now: Time, _t: TimerId, out: &mut Effects<Ping>) {
        out.store(StableWrite::Put { key: "state/seq".into(), bytes: vec![1] });
        out.send(NodeId(1), Ping(1));
    }
}

#[test]
fn a_write_to_an_invalid_record_stops_the_node_as_it_stops_an_agent() {
    let build = Box::new(|me: NodeId, _, _| Driver::new(BadWriter, Interposer::new(me, 1)));
    let mut s = Sim::new(2, Time::ZERO, Network::default(), 1, build);
    s.start();
    s.run_until(Time::from_millis(20));
    let failed: Vec<_> = s.drain_failures().collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].2.contains("state/seq"), "{failed:?}");
    assert_eq!(failed[0].1, Time::from_millis(5));
    assert_eq!(s.state(NodeId(0)), SlotState::Down);
    assert_eq!(s.delivered, 0, "nothing it decided went out");
    assert!(s.stable(NodeId(0)).is_some_and(|r| r.is_empty()));
}
