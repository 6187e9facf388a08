//! The RPC client: starts calls at a fixed rate, retries on timeout, gives up
//! after its retries, and reports every call (also as a service request, so
//! availability is measured as for any other workload). With long calls it
//! logs each call to stable storage before sending it, and a restarted
//! client applies the orphan remedy to the calls its crash interrupted.

use super::{CallOutcome, Config, Msg, Orphans, RpcEvent};
use crate::{Effects, Observation, Outcome, StableRecords, StableWrite, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The periodic timer that starts calls; retry timers use the call number.
const TICK: TimerId = TimerId(u64::MAX);
/// The expiration remedy's renewals.
const RENEW: TimerId = TimerId(u64::MAX - 1);
/// The client's call log in stable storage.
const LOG: &str = "rpc-calls";

/// One line of the call log.
#[derive(Debug, Serialize, Deserialize)]
enum LogEntry {
    Started { seq: u64, sent: u64 },
    Done { seq: u64 },
}

/// A call in progress.
#[derive(Clone, Debug, Hash)]
struct Call {
    sent: Time,
    attempts: u32,
    epoch: u64,
}

/// The RPC client.
#[derive(Clone, Debug)]
pub struct Client {
    config: Config,
    next_seq: u64,
    /// The newest server epoch heard of.
    epoch: u64,
    calls: BTreeMap<u64, Call>,
    /// When the next call is due.
    due: Option<Time>,
    /// This incarnation (its start time); long calls carry it.
    incarnation: u64,
    /// Calls a crash of an earlier incarnation interrupted, from the log: (seq, sent).
    interrupted: Vec<(u64, Time)>,
}

/// The client's state without its configuration (the same in every state
/// of a run), for a model checker's fingerprints.
impl std::hash::Hash for Client {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Client { config: _, next_seq, epoch, calls, due, incarnation, interrupted } = self;
        (next_seq, epoch, calls, due, incarnation, interrupted).hash(h);
    }
}

impl Client {
    /// A client with no call made yet.
    pub fn new(config: &Config) -> Client {
        Client::restarted(config, &StableRecords::default())
    }

    /// A client with what its stable storage kept: calls are numbered on
    /// from the log, and the ones left unfinished were interrupted.
    pub fn restarted(config: &Config, stable: &StableRecords) -> Client {
        let mut started = BTreeMap::new();
        let mut next_seq = 0;
        if let Some(mut bytes) = stable.get(LOG).map(Vec::as_slice) {
            while let Ok((entry, rest)) = postcard::take_from_bytes::<LogEntry>(bytes) {
                match entry {
                    LogEntry::Started { seq, sent } => {
                        started.insert(seq, Time::from_nanos(sent));
                        next_seq = next_seq.max(seq + 1);
                    }
                    LogEntry::Done { seq } => {
                        started.remove(&seq);
                    }
                }
                bytes = rest;
            }
        }
        Client {
            config: config.clone(),
            next_seq,
            epoch: 0,
            calls: BTreeMap::new(),
            due: None,
            incarnation: 0,
            interrupted: started.into_iter().collect(),
        }
    }

    fn long_calls(&self) -> bool {
        !self.config.work.is_zero()
    }

    fn log(&self, entry: &LogEntry, out: &mut Effects<Msg>) {
        if let (true, Ok(bytes)) = (self.long_calls(), postcard::to_allocvec(entry)) {
            out.store(StableWrite::Append { key: LOG.into(), bytes });
        }
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.rate.max(1e-3))
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.incarnation = now.as_nanos().max(1);
        self.due = Some(now);
        out.set_timer(Duration::ZERO, TICK);
        if let Orphans::Expiration { quantum } = self.config.orphans {
            out.set_timer(quantum / 2, RENEW);
        }
        self.recover(now, out);
    }

    /// The calls an earlier incarnation's crash interrupted: claimed again
    /// (gentle), or reported lost, with the remedy's message to the server.
    fn recover(&mut self, now: Time, out: &mut Effects<Msg>) {
        let interrupted = std::mem::take(&mut self.interrupted);
        if interrupted.is_empty() {
            return;
        }
        out.emit(Observation::Rpc(RpcEvent::Restarted { outstanding: interrupted.len() as u64 }));
        let seqs: Vec<u64> = interrupted.iter().map(|(s, _)| *s).collect();
        match self.config.orphans {
            Orphans::Gentle => {
                // Still wanted: their results may come (the server asks first).
                for &(seq, sent) in &interrupted {
                    self.calls.insert(seq, Call { sent, attempts: self.config.retries + 1, epoch: 0 });
                    out.set_timer(self.config.timeout, TimerId(seq));
                }
            }
            _ => {
                for &(seq, sent) in &interrupted {
                    self.calls.insert(seq, Call { sent, attempts: 1, epoch: 0 });
                    self.finish(now, seq, CallOutcome::Lost, out);
                }
            }
        }
        let server = self.config.server;
        match self.config.orphans {
            Orphans::Extermination => out.send(server, Msg::Kill { seqs }),
            Orphans::Reincarnation | Orphans::Gentle => {
                out.send(server, Msg::NewEpoch { incarnation: self.incarnation })
            }
            Orphans::None | Orphans::Expiration { .. } => {}
        }
    }

    fn send(&self, seq: u64, call: &Call, out: &mut Effects<Msg>) {
        let msg = if self.long_calls() {
            Msg::Call { seq, incarnation: self.incarnation, amount: 1 }
        } else {
            Msg::Request { seq, attempt: call.attempts - 1, epoch: call.epoch, amount: 1 }
        };
        out.send(self.config.server, msg);
        out.set_timer(self.config.timeout, TimerId(seq));
    }

    fn finish(&mut self, now: Time, seq: u64, outcome: CallOutcome, out: &mut Effects<Msg>) {
        let Some(call) = self.calls.remove(&seq) else { return };
        self.log(&LogEntry::Done { seq }, out);
        let replies = u32::from(matches!(outcome, CallOutcome::Ok | CallOutcome::Refused));
        out.emit(Observation::Rpc(RpcEvent::Call { seq, attempts: call.attempts, outcome, replies }));
        let (result, latency) = match outcome {
            CallOutcome::Ok => (Outcome::Ok, Some(now.since(call.sent))),
            CallOutcome::TimedOut | CallOutcome::Refused | CallOutcome::Lost => (Outcome::Failed, None),
        };
        out.emit(Observation::Request { seq, sent: call.sent, outcome: result, latency });
    }

    pub(super) fn on_message(&mut self, now: Time, msg: Msg, out: &mut Effects<Msg>) {
        let (seq, epoch, outcome) = match msg {
            Msg::Reply { seq, epoch, .. } => (seq, epoch, CallOutcome::Ok),
            Msg::Refused { seq, epoch } => (seq, epoch, CallOutcome::Refused),
            Msg::Locate { seq } => {
                // Gentle: claim the calls still wanted.
                if self.calls.contains_key(&seq) {
                    out.send(self.config.server, Msg::Adopt { seq, incarnation: self.incarnation });
                }
                return;
            }
            Msg::Request { .. }
            | Msg::Call { .. }
            | Msg::Kill { .. }
            | Msg::NewEpoch { .. }
            | Msg::Adopt { .. }
            | Msg::Renew { .. } => return,
        };
        self.epoch = self.epoch.max(epoch);
        if self.calls.contains_key(&seq) {
            self.finish(now, seq, outcome, out);
        } else if seq < self.next_seq {
            out.emit(Observation::Rpc(RpcEvent::LateReply { seq }));
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer == RENEW {
            if let Orphans::Expiration { quantum } = self.config.orphans {
                let seqs: Vec<u64> = self.calls.keys().copied().collect();
                if !seqs.is_empty() {
                    out.send(self.config.server, Msg::Renew { seqs });
                }
                out.set_timer(quantum / 2, RENEW);
            }
            return;
        }
        if timer == TICK {
            // Open loop: every call that is due goes out, whatever became of earlier ones.
            while let Some(due) = self.due.filter(|d| *d <= now) {
                let seq = self.next_seq;
                self.next_seq += 1;
                let call = Call { sent: due, attempts: 1, epoch: self.epoch };
                self.log(&LogEntry::Started { seq, sent: due.as_nanos() }, out);
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
