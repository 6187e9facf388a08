//! The client and server driven by hand: replies and requests lost on
//! purpose, and a server restart between two tries of one call.

use super::*;
use crate::{NodeId, Observation, Outcome};

const CLIENT: NodeId = NodeId(0);
const SERVER: NodeId = NodeId(1);

fn config(semantics: Semantics) -> Config {
    Config {
        semantics,
        client: CLIENT,
        server: SERVER,
        rate: 10.0,
        timeout: Duration::from_millis(30),
        retries: 3,
        work: Duration::ZERO,
        orphans: Orphans::None,
    }
}

fn rpc_events(out: &Effects<Msg>) -> Vec<RpcEvent> {
    out.observations
        .iter()
        .filter_map(|o| match o {
            Observation::Rpc(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Run `calls` calls one by one; the server's replies to a call's first
/// `lost_replies` tries are lost. Returns every event and the client's outcomes.
fn run(semantics: Semantics, calls: u64, lost_replies: u32, restart_after_first_try: bool) -> Vec<RpcEvent> {
    let c = Config { rate: 1.0, ..config(semantics) };
    let mut client = Client::new(&c);
    let mut server = Server::new(&c, false);
    let mut events = Vec::new();
    let start = Time::from_millis(1000);
    let mut out = Effects::new();
    server.on_start(start, &mut Effects::new());
    client.on_start(start, &mut out);
    for k in 0..calls {
        // One call due per second; its tries take 30 ms each.
        let mut now = start + Duration::from_secs(k);
        out.clear();
        client.on_timer(now, TimerId(u64::MAX), &mut out);
        let mut tries = 0;
        loop {
            let requests: Vec<Msg> = out.sends.drain(..).map(|(_, m)| m).collect();
            events.extend(rpc_events(&out));
            out.clear();
            if requests.is_empty() {
                break;
            }
            for req in requests {
                let Msg::Request { seq, .. } = req else { panic!("client sent {req:?}") };
                let mut s_out = Effects::new();
                server.on_message(now, CLIENT, req, &mut s_out);
                events.extend(rpc_events(&s_out));
                if restart_after_first_try && tries == 0 {
                    // The reply dies with the server, which starts afresh.
                    server = Server::new(&c, true);
                    server.on_start(now + Duration::from_millis(1), &mut Effects::new());
                } else if tries >= lost_replies {
                    for (_, reply) in s_out.sends {
                        client.on_message(now, reply, &mut out);
                    }
                }
                tries += 1;
                now += c.timeout;
                client.on_timer(now, TimerId(seq), &mut out);
            }
        }
    }
    events
}

fn count(events: &[RpcEvent], f: impl Fn(&RpcEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[test]
fn at_least_once_executes_again_when_replies_are_lost() {
    let ev = run(Semantics::AtLeastOnce, 10, 2, false);
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Executed { .. })), 30, "three tries each, all executed");
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Call { outcome: CallOutcome::Ok, attempts: 3, .. })), 10);
}

#[test]
fn at_most_once_never_executes_twice_without_a_crash() {
    let ev = run(Semantics::AtMostOnce, 10, 2, false);
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Executed { .. })), 10);
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Filtered { .. })), 20);
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Call { outcome: CallOutcome::Ok, .. })), 10);
}

#[test]
fn a_call_whose_replies_are_all_lost_times_out_after_its_retries() {
    let ev = run(Semantics::AtLeastOnce, 1, 10, false);
    assert_eq!(
        ev.iter().filter(|e| matches!(e, RpcEvent::Call { .. })).collect::<Vec<_>>(),
        vec![&RpcEvent::Call { seq: 0, attempts: 4, outcome: CallOutcome::TimedOut, replies: 0 }]
    );
    assert_eq!(count(&ev, |e| matches!(e, RpcEvent::Executed { .. })), 4);
}

#[test]
fn after_a_server_crash_at_most_once_refuses_where_at_least_once_repeats() {
    let most = run(Semantics::AtMostOnce, 1, 0, true);
    assert_eq!(count(&most, |e| matches!(e, RpcEvent::Executed { .. })), 1);
    assert_eq!(count(&most, |e| matches!(e, RpcEvent::Refused { .. })), 1);
    assert_eq!(count(&most, |e| matches!(e, RpcEvent::Call { outcome: CallOutcome::Refused, .. })), 1);
    let least = run(Semantics::AtLeastOnce, 1, 0, true);
    assert_eq!(count(&least, |e| matches!(e, RpcEvent::Executed { .. })), 2);
}

#[test]
fn a_restarted_server_executes_first_tries_and_calls_from_its_own_epoch() {
    let c = config(Semantics::AtMostOnce);
    let mut s = Server::new(&c, true);
    s.on_start(Time::from_millis(50), &mut Effects::new());
    let mut out = Effects::new();
    s.on_message(
        Time::from_millis(60),
        CLIENT,
        Msg::Request { seq: 1, attempt: 0, epoch: 7, amount: 1 },
        &mut out,
    );
    let epoch = Time::from_millis(50).as_nanos();
    s.on_message(
        Time::from_millis(60),
        CLIENT,
        Msg::Request { seq: 2, attempt: 2, epoch, amount: 1 },
        &mut out,
    );
    s.on_message(
        Time::from_millis(60),
        CLIENT,
        Msg::Request { seq: 3, attempt: 1, epoch: 0, amount: 1 },
        &mut out,
    );
    assert_eq!(
        rpc_events(&out),
        vec![
            RpcEvent::Executed { seq: 1, attempt: 0 },
            RpcEvent::Executed { seq: 2, attempt: 2 },
            RpcEvent::Refused { seq: 3, attempt: 1 },
        ]
    );
}

#[test]
fn the_client_is_open_loop_and_reports_requests_for_availability() {
    let c = config(Semantics::AtLeastOnce);
    let mut client = Client::new(&c);
    let mut out = Effects::new();
    client.on_start(Time::from_millis(0), &mut out);
    out.clear();
    // Half a second without any reply: five calls go out all the same.
    client.on_timer(Time::from_millis(450), TimerId(u64::MAX), &mut out);
    assert_eq!(out.sends.len(), 5);
    out.clear();
    client.on_message(Time::from_millis(460), Msg::Reply { seq: 4, epoch: 9, balance: 1 }, &mut out);
    assert!(out.observations.contains(&Observation::Request {
        seq: 4,
        sent: Time::from_millis(400),
        outcome: Outcome::Ok,
        latency: Some(Duration::from_millis(60)),
    }));
}
