//! The RPC client: starts calls at a fixed rate, retries on timeout, gives up
//! after its retries, and reports every call (also as a service request, so
//! availability is measured as for any other workload).

use super::{CallOutcome, Config, Msg, RpcEvent};
use crate::{Effects, Observation, Outcome, Time, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// The periodic timer that starts calls; retry timers use the call number.
const TICK: TimerId = TimerId(u64::MAX);

/// A call in progress.
#[derive(Clone, Debug)]
struct Call {
    sent: Time,
    attempts: u32,
    epoch: u64,
}

/// The RPC client.
#[derive(Debug)]
pub struct Client {
    config: Config,
    next_seq: u64,
    /// The newest server epoch heard of.
    epoch: u64,
    calls: BTreeMap<u64, Call>,
    /// When the next call is due.
    due: Option<Time>,
}

impl Client {
    /// A client with no call made yet.
    pub fn new(config: &Config) -> Client {
        Client { config: config.clone(), next_seq: 0, epoch: 0, calls: BTreeMap::new(), due: None }
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.rate.max(1e-3))
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.due = Some(now);
        out.set_timer(Duration::ZERO, TICK);
    }

    fn send(&self, seq: u64, call: &Call, out: &mut Effects<Msg>) {
        let msg = Msg::Request { seq, attempt: call.attempts - 1, epoch: call.epoch, amount: 1 };
        out.send(self.config.server, msg);
        out.set_timer(self.config.timeout, TimerId(seq));
    }

    fn finish(&mut self, now: Time, seq: u64, outcome: CallOutcome, out: &mut Effects<Msg>) {
        let Some(call) = self.calls.remove(&seq) else { return };
        let replies = u32::from(outcome != CallOutcome::TimedOut);
        out.emit(Observation::Rpc(RpcEvent::Call { seq, attempts: call.attempts, outcome, replies }));
        let (result, latency) = match outcome {
            CallOutcome::Ok => (Outcome::Ok, Some(now.since(call.sent))),
            CallOutcome::TimedOut | CallOutcome::Refused => (Outcome::Failed, None),
        };
        out.emit(Observation::Request { seq, sent: call.sent, outcome: result, latency });
    }

    pub(super) fn on_message(&mut self, now: Time, msg: Msg, out: &mut Effects<Msg>) {
        let (seq, epoch, outcome) = match msg {
            Msg::Reply { seq, epoch, .. } => (seq, epoch, CallOutcome::Ok),
            Msg::Refused { seq, epoch } => (seq, epoch, CallOutcome::Refused),
            Msg::Request { .. } => return,
        };
        self.epoch = self.epoch.max(epoch);
        if self.calls.contains_key(&seq) {
            self.finish(now, seq, outcome, out);
        } else if seq < self.next_seq {
            out.emit(Observation::Rpc(RpcEvent::LateReply { seq }));
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer == TICK {
            // Open loop: every call that is due goes out, whatever became of earlier ones.
            while let Some(due) = self.due.filter(|d| *d <= now) {
                let seq = self.next_seq;
                self.next_seq += 1;
                let call = Call { sent: due, attempts: 1, epoch: self.epoch };
                self.send(seq, &call, out);
                self.calls.insert(seq, call);
                self.due = Some(due + self.period());
            }
            let wait = self.due.map_or(self.period(), |d| d.since(now));
            out.set_timer(wait, TICK);
            return;
        }
        let seq = timer.0;
        let Some(call) = self.calls.get_mut(&seq) else { return };
        if call.attempts > self.config.retries {
            self.finish(now, seq, CallOutcome::TimedOut, out);
            return;
        }
        call.attempts += 1;
        let call = call.clone();
        self.send(seq, &call, out);
    }
}
