//! The explorer on toy worlds with planted bugs.

use super::*;
use rand::RngCore;
use serde::Deserialize;

/// A register served by node 0 and two clients that increment it by reading
/// then writing: the lost update is the planted bug (unless `atomic`).
#[derive(Clone, Debug, Hash)]
enum Toy {
    Server { value: u64, puts: u64, atomic: bool },
    Client,
}

#[derive(Clone, Debug, PartialEq, Hash, Serialize, Deserialize)]
enum ToyMsg {
    Get,
    Value(u64),
    Put(u64),
}

impl Message for ToyMsg {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}

impl Node for Toy {
    type Msg = ToyMsg;

    fn on_start(&mut self, _now: Time, out: &mut Effects<ToyMsg>) {
        if let Toy::Client = self {
            out.send(NodeId(0), ToyMsg::Get);
        }
    }

    fn on_message(&mut self, _now: Time, from: NodeId, msg: ToyMsg, out: &mut Effects<ToyMsg>) {
        match (self, msg) {
            (Toy::Server { value, .. }, ToyMsg::Get) => out.send(from, ToyMsg::Value(*value)),
            (Toy::Server { value, puts, atomic }, ToyMsg::Put(v)) => {
                *value = if *atomic { *value + 1 } else { v };
                *puts += 1;
                out.emit(Observation::Note { text: format!("{puts} {value}") });
            }
            (Toy::Client, ToyMsg::Value(v)) => out.send(from, ToyMsg::Put(v + 1)),
            _ => {}
        }
    }

    fn on_timer(&mut self, _now: Time, _timer: TimerId, _out: &mut Effects<ToyMsg>) {}
}

/// Two increments must leave 2.
#[derive(Clone, Debug, Default, Hash)]
struct NoLostUpdate {
    last: (u64, u64),
}

impl Invariant for NoLostUpdate {
    fn observe(&mut self, _node: NodeId, obs: &Observation) {
        if let Observation::Note { text } = obs {
            let mut words = text.split(' ').map(|w| w.parse().unwrap());
            self.last = (words.next().unwrap(), words.next().unwrap());
        }
    }

    fn check(&self, _view: &View<'_>) -> Option<Finding> {
        (self.last.0 == 2 && self.last.1 != 2)
            .then(|| Finding::Violation(format!("lost update: {}", self.last.1)))
    }
}

fn register(atomic: bool) -> Model<Toy, NoLostUpdate> {
    Model {
        nodes: vec![Toy::Server { value: 0, puts: 0, atomic }, Toy::Client, Toy::Client],
        invariant: NoLostUpdate::default(),
        faults: Faults::default(),
    }
}

fn bounds(depth: usize) -> Bounds {
    Bounds { depth, states: 1_000_000, time: Duration::from_secs(30) }
}

fn quiet(_: &Stats) {}

#[test]
fn bfs_finds_the_lost_update_with_a_shortest_trace() {
    let report = explore(&register(false), bounds(50), Strategy::Bfs, &mut quiet);
    let found = report.found.expect("the lost update is reachable");
    assert_eq!(found.finding, Finding::Violation("lost update: 1".into()));
    // Both reads before either write: two Gets, two Values, two Puts.
    assert_eq!(found.trace.len(), 6);
    assert!(found.trace.iter().all(|s| matches!(s.choice, Choice::Deliver { lie: Lie::Truth, .. })));
    let last = found.trace.last().unwrap();
    assert_eq!(last.observations, vec![(NodeId(0), Observation::Note { text: "2 1".into() })]);
}

#[test]
fn dfs_and_random_walks_find_it_too() {
    let dfs = explore(&register(false), bounds(50), Strategy::Dfs, &mut quiet);
    assert!(dfs.found.expect("found depth-first").trace.len() >= 6);
    let random = explore(&register(false), bounds(50), Strategy::Random { seed: 3 }, &mut quiet);
    assert!(random.found.expect("found by a walk").trace.len() >= 6);
}

#[test]
fn the_depth_bound_hides_a_deeper_bug() {
    let report = explore(&register(false), bounds(5), Strategy::Bfs, &mut quiet);
    assert!(report.found.is_none());
    assert!(report.depth_cut);
    assert!(!report.exhaustive());
    assert!(report.stats.depth <= 5);
}

#[test]
fn a_correct_register_is_checked_exhaustively() {
    let report = explore(&register(true), bounds(50), Strategy::Bfs, &mut quiet);
    assert!(report.found.is_none());
    assert!(report.exhaustive(), "{report:?}");
    // Fingerprints merge the interleavings: far fewer states than paths.
    assert!(report.stats.states < report.stats.transitions, "{:?}", report.stats);
    let dfs = explore(&register(true), bounds(50), Strategy::Dfs, &mut quiet);
    assert!(dfs.exhaustive());
    assert_eq!(dfs.stats.states, report.stats.states);
    // Walks cover the same states, but never claim to have covered them all.
    let walks = explore(&register(true), bounds(50), Strategy::Random { seed: 1 }, &mut quiet);
    assert_eq!(walks.stats.states, report.stats.states);
    assert_eq!(walks.stopped, Some(Stop::Stale));
    assert!(!walks.exhaustive());
}

#[test]
fn the_state_bound_stops_the_search() {
    let report = explore(&register(false), Bounds { states: 4, ..bounds(50) }, Strategy::Bfs, &mut quiet);
    assert!(report.found.is_none());
    assert_eq!(report.stopped, Some(Stop::States));
    assert_eq!(report.stats.states, 4);
}

/// Node 0 pings node 1 and gives up after 10 ms without a pong.
#[derive(Clone, Debug, Hash)]
struct Pinger {
    pinger: bool,
    ponged: bool,
}

#[derive(Clone, Debug, PartialEq, Hash, Serialize, Deserialize)]
struct Ping;

impl Message for Ping {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}

impl Node for Pinger {
    type Msg = Ping;

    fn on_start(&mut self, _now: Time, out: &mut Effects<Ping>) {
        if self.pinger {
            out.send(NodeId(1), Ping);
            out.set_timer(Duration::from_millis(10), TimerId(1));
        }
    }

    fn on_message(&mut self, _now: Time, from: NodeId, _msg: Ping, out: &mut Effects<Ping>) {
        if from == NodeId(0) {
            out.send(NodeId(0), Ping);
        } else {
            self.ponged = true;
        }
    }

    fn on_timer(&mut self, _now: Time, _timer: TimerId, out: &mut Effects<Ping>) {
        if !self.ponged {
            out.emit(Observation::Note { text: "timeout".into() });
        }
    }
}

/// A timeout is the finding.
#[derive(Clone, Debug, Default, Hash)]
struct NoTimeout {
    timed_out: bool,
}

impl Invariant for NoTimeout {
    fn observe(&mut self, _node: NodeId, obs: &Observation) {
        self.timed_out |= matches!(obs, Observation::Note { .. });
    }

    fn check(&self, view: &View<'_>) -> Option<Finding> {
        self.timed_out.then(|| Finding::Reached(format!("timeout at {} ms", view.now.as_nanos() / 1_000_000)))
    }
}

fn pingers(faults: Faults) -> Model<Pinger, NoTimeout> {
    Model {
        nodes: vec![Pinger { pinger: true, ponged: false }, Pinger { pinger: false, ponged: false }],
        invariant: NoTimeout::default(),
        faults,
    }
}

#[test]
fn timers_fire_before_deliveries_only_without_a_delay_bound() {
    let asynchronous = explore(&pingers(Faults::default()), bounds(10), Strategy::Bfs, &mut quiet);
    let found = asynchronous.found.expect("a timer may beat any message");
    assert_eq!(found.finding.what(), "timeout at 10 ms");
    assert!(matches!(found.trace[..], [Step { choice: Choice::Timer { node: NodeId(0), .. }, .. }]));
    let synchronous = Faults { max_delay: Some(Duration::from_millis(1)), ..Faults::default() };
    let report = explore(&pingers(synchronous), bounds(10), Strategy::Bfs, &mut quiet);
    assert!(report.found.is_none());
    assert!(report.exhaustive());
}

#[test]
fn drops_and_crashes_are_choices_within_their_budgets() {
    let synchronous = Faults { max_delay: Some(Duration::from_millis(1)), ..Faults::default() };
    let dropping = Faults { drops: 1, ..synchronous.clone() };
    let found =
        explore(&pingers(dropping), bounds(10), Strategy::Bfs, &mut quiet).found.expect("a lost ping");
    assert!(matches!(found.trace[0].choice, Choice::Drop { from: NodeId(0), to: NodeId(1), .. }));
    assert_eq!(found.trace.len(), 2);
    let crashing = Faults { crashable: vec![NodeId(1)], crashes: 1, ..synchronous };
    let found =
        explore(&pingers(crashing), bounds(10), Strategy::Bfs, &mut quiet).found.expect("a crashed peer");
    assert!(matches!(found.trace[0].choice, Choice::Crash { node: NodeId(1) }));
    assert_eq!(found.trace.len(), 2);
}

/// Node 0 tells node 1 a number; node 1 reports what it heard.
#[derive(Clone, Debug, Hash)]
struct Teller;

#[derive(Clone, Debug, PartialEq, Hash, Serialize, Deserialize)]
struct Number(u64);

impl Message for Number {
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, key: u64) -> bool {
        self.0 = key;
        true
    }

    fn equivocate(&mut self, to: NodeId, _key: u64) -> bool {
        self.0 = 1000 + u64::from(to.0);
        true
    }
}

impl Node for Teller {
    type Msg = Number;

    fn on_start(&mut self, _now: Time, out: &mut Effects<Number>) {
        out.send(NodeId(1), Number(7));
    }

    fn on_message(&mut self, _now: Time, _from: NodeId, msg: Number, out: &mut Effects<Number>) {
        out.emit(Observation::Note { text: msg.0.to_string() });
    }

    fn on_timer(&mut self, _now: Time, _timer: TimerId, _out: &mut Effects<Number>) {}
}

/// Node 1 must hear 7 unless node 0 turned traitor.
#[derive(Clone, Debug, Default, Hash)]
struct HeardSeven {
    heard: Option<String>,
}

impl Invariant for HeardSeven {
    fn observe(&mut self, _node: NodeId, obs: &Observation) {
        if let Observation::Note { text } = obs {
            self.heard = Some(text.clone());
        }
    }

    fn check(&self, view: &View<'_>) -> Option<Finding> {
        let lied = view.traitors.contains(&NodeId(0));
        match &self.heard {
            Some(h) if h != "7" => Some(Finding::Reached(format!("heard {h} (traitor: {lied})"))),
            _ => None,
        }
    }
}

#[test]
fn a_liar_lies_only_within_the_traitor_budget() {
    let model = |traitors| Model {
        nodes: vec![Teller, Teller],
        invariant: HeardSeven::default(),
        faults: Faults { liars: vec![NodeId(0)], traitors, ..Faults::default() },
    };
    let report = explore(&model(0), bounds(10), Strategy::Bfs, &mut quiet);
    assert!(report.exhaustive() && report.found.is_none());
    let found = explore(&model(1), bounds(10), Strategy::Bfs, &mut quiet).found.expect("a lie");
    assert_eq!(found.finding.what(), format!("heard {LIE_KEY} (traitor: true)"));
    assert!(matches!(found.trace[..], [Step { choice: Choice::Deliver { lie: Lie::Collude, .. }, .. }]));
}
