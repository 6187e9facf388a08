//! The open-loop client: sends requests at a fixed rate to the replica it
//! believes is the primary, sends unanswered ones again every `retry`, follows
//! redirects and new primaries' announcements, and judges replies with its
//! own copy of the ledger (the oracle).

use super::{Config, Msg, TICK, TICK_TIMER};
use crate::tmr::{Ledger, Op};
use crate::{Effects, NodeId, Observation, Outcome, Time, TimerId};
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug)]
struct Pending {
    sent: Time,
    tried: Time,
    expected: i64,
    decided: bool,
}

/// The client's state.
#[derive(Debug)]
pub struct Client {
    primary: NodeId,
    view: u64,
    rate: f64,
    deadline: Duration,
    retry: Duration,
    oracle: Ledger,
    start: Option<Time>,
    next_seq: u64,
    /// Requests with consecutive numbers from `front_seq`, oldest first.
    pending: VecDeque<Pending>,
    front_seq: u64,
}

impl Client {
    /// A client for `config`; it starts with the primary of view 0.
    pub fn new(config: &Config) -> Client {
        Client {
            primary: config.replicas.first().copied().unwrap_or(NodeId(0)),
            view: 0,
            rate: if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 0.0 },
            deadline: config.deadline,
            retry: config.retry.max(Duration::from_millis(1)),
            oracle: Ledger::new(),
            start: None,
            next_seq: 1,
            pending: VecDeque::new(),
            front_seq: 1,
        }
    }

    /// The replica the client sends to now.
    pub fn primary(&self) -> NodeId {
        self.primary
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.start = Some(now);
        self.send_due(now, out);
        out.set_timer(TICK, TICK_TIMER);
    }

    pub(super) fn on_message(&mut self, now: Time, _from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        self.expire(now, out);
        match msg {
            Msg::Reply { seq, value } => {
                let Some(index) = seq.checked_sub(self.front_seq) else { return };
                let Some(p) = usize::try_from(index).ok().and_then(|i| self.pending.get_mut(i)) else {
                    return;
                };
                if p.decided {
                    return;
                }
                p.decided = true;
                let outcome = if value == p.expected { Outcome::Ok } else { Outcome::Wrong };
                out.emit(Observation::Request {
                    seq,
                    sent: p.sent,
                    outcome,
                    latency: Some(now.since(p.sent)),
                });
                self.pop_decided();
            }
            Msg::Primary { view, primary } => {
                if view < self.view || (view == self.view && primary == self.primary) {
                    return;
                }
                self.view = view;
                self.primary = primary;
                // Everything still open goes to the new primary at once.
                self.resend(now, Duration::ZERO, out);
            }
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer != TICK_TIMER {
            return;
        }
        self.expire(now, out);
        self.send_due(now, out);
        self.resend(now, self.retry, out);
        out.set_timer(TICK, TICK_TIMER);
    }

    fn pop_decided(&mut self) {
        while self.pending.front().is_some_and(|p| p.decided) {
            self.pending.pop_front();
            self.front_seq += 1;
        }
    }

    /// Send again every open request last tried at least `after` ago.
    fn resend(&mut self, now: Time, after: Duration, out: &mut Effects<Msg>) {
        for (i, p) in self.pending.iter_mut().enumerate() {
            if !p.decided && now >= p.tried + after {
                p.tried = now;
                let seq = self.front_seq + i as u64;
                out.send(self.primary, Msg::Request { seq, op: Op::for_seq(seq) });
            }
        }
    }

    /// Judge as failed every request whose deadline passed without a reply.
    fn expire(&mut self, now: Time, out: &mut Effects<Msg>) {
        while let Some(p) = self.pending.front() {
            if !p.decided {
                if now <= p.sent + self.deadline {
                    break;
                }
                out.emit(Observation::Request {
                    seq: self.front_seq,
                    sent: p.sent,
                    outcome: Outcome::Failed,
                    latency: None,
                });
            }
            self.pending.pop_front();
            self.front_seq += 1;
        }
    }

    fn send_due(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(start) = self.start else { return };
        if self.rate <= 0.0 {
            return;
        }
        let due = (now.since(start).as_nanos() as f64 * self.rate / 1e9).floor() as u64 + 1;
        while self.next_seq <= due {
            let seq = self.next_seq;
            self.next_seq += 1;
            let op = Op::for_seq(seq);
            let expected = self.oracle.apply(seq, op);
            out.send(self.primary, Msg::Request { seq, op });
            self.pending.push_back(Pending { sent: now, tried: now, expected, decided: false });
        }
    }
}
