//! A voter: collects the replicas' results per request, forwards the
//! majority's value to the clients as soon as there is one, and gives a verdict.

use super::{Bug, Config, Msg, TICK, TICK_TIMER};
use crate::{Effects, NodeId, Observation, Time, TimerId, Verdict};
use std::collections::VecDeque;
use std::time::Duration;

/// Replicas a voter counts results from at most (more would be ignored).
const MAX_REPLICAS: usize = 16;

/// How far ahead of the oldest open vote a result may be; farther ones are ignored.
const MAX_AHEAD: u64 = 1 << 20;

/// The vote on one request.
#[derive(Clone, Debug, Hash)]
struct Slot {
    opened: Time,
    /// Which replicas reported (bit per replica index) and what they said.
    reported: u16,
    values: [i64; MAX_REPLICAS],
    forwarded: bool,
    done: bool,
}

impl Slot {
    fn new(now: Time) -> Slot {
        Slot { opened: now, reported: 0, values: [0; MAX_REPLICAS], forwarded: false, done: false }
    }
}

/// The voter's state.
#[derive(Clone, Debug, Hash)]
pub struct Voter {
    replicas: Vec<NodeId>,
    clients: Vec<NodeId>,
    vote_timeout: Duration,
    /// The teaching bug: forward the first result, majority or not.
    trusts_first: bool,
    /// The sequence number of `slots[0]` (set by the first result seen).
    base: Option<u64>,
    /// Open votes for consecutive sequence numbers; slots open in seq order,
    /// so their timeouts expire front first.
    slots: VecDeque<Slot>,
}

impl Voter {
    /// A voter for `config`.
    pub fn new(config: &Config) -> Voter {
        Voter {
            replicas: config.replicas.iter().copied().take(MAX_REPLICAS).collect(),
            clients: config.clients.clone(),
            vote_timeout: config.vote_timeout,
            trusts_first: config.bugs.contains(&Bug::VoterTrustsFirstReply),
            base: None,
            slots: VecDeque::new(),
        }
    }

    /// Votes open (not yet given a verdict) or finished behind an open one.
    pub fn open_votes(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn on_start(&mut self, _now: Time, out: &mut Effects<Msg>) {
        out.set_timer(TICK, TICK_TIMER);
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Result { seq, value } = msg else { return };
        let Some(replica) = self.replicas.iter().position(|r| *r == from) else { return };
        let base = *self.base.get_or_insert(seq);
        let Some(offset) = seq.checked_sub(base).filter(|o| *o < MAX_AHEAD) else { return };
        let offset = offset as usize;
        while self.slots.len() <= offset {
            self.slots.push_back(Slot::new(now));
        }
        let n = self.replicas.len();
        let slot = &mut self.slots[offset];
        let bit = 1u16 << replica;
        if slot.done || slot.reported & bit != 0 {
            return;
        }
        slot.reported |= bit;
        slot.values[replica] = value;
        let agreeing = (0..n).filter(|i| slot.reported & (1 << i) != 0 && slot.values[*i] == value).count();
        if !slot.forwarded && (agreeing > n / 2 || self.trusts_first) {
            slot.forwarded = true;
            for c in &self.clients {
                out.send(*c, Msg::Output { seq, value });
            }
        }
        if slot.reported.count_ones() as usize == n {
            // Every result is in: no later one can change the verdict.
            let verdict = match (slot.forwarded, agreeing == n) {
                (true, true) => Verdict::Unanimous,
                (true, false) => Verdict::Majority,
                (false, _) => Verdict::NoMajority,
            };
            slot.done = true;
            out.emit(Observation::Vote { seq, verdict });
        }
        self.retire(now, out);
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer != TICK_TIMER {
            return;
        }
        self.retire(now, out);
        out.set_timer(TICK, TICK_TIMER);
    }

    /// Drop finished votes from the front and give a verdict on the timed-out ones.
    fn retire(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(base) = self.base.as_mut() else { return };
        while let Some(slot) = self.slots.front() {
            if !slot.done {
                if now < slot.opened + self.vote_timeout {
                    break;
                }
                let verdict = if slot.forwarded { Verdict::Majority } else { Verdict::NoMajority };
                out.emit(Observation::Vote { seq: *base, verdict });
            }
            self.slots.pop_front();
            *base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    fn outputs(out: &Effects<Msg>) -> Vec<(NodeId, u64, i64)> {
        out.sends
            .iter()
            .filter_map(|(to, m)| match m {
                Msg::Output { seq, value } => Some((*to, *seq, *value)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn forwards_on_majority_and_judges_when_all_results_are_in() {
        let cfg = config(3, 1, 1000.0);
        let [a, b, c] = [cfg.replicas[0], cfg.replicas[1], cfg.replicas[2]];
        let client = cfg.clients[0];
        let mut v = Voter::new(&cfg);
        let mut out = Effects::new();
        v.on_start(Time::ZERO, &mut out);
        out.clear();
        let t = Time::from_millis(1);
        v.on_message(t, a, Msg::Result { seq: 1, value: 5 }, &mut out);
        assert!(outputs(&out).is_empty());
        v.on_message(t, a, Msg::Result { seq: 1, value: 5 }, &mut out);
        assert!(outputs(&out).is_empty(), "a duplicate is not a second vote");
        v.on_message(t, b, Msg::Result { seq: 1, value: 5 }, &mut out);
        assert_eq!(outputs(&out), vec![(client, 1, 5)]);
        assert!(out.observations.is_empty(), "waits for the third result");
        v.on_message(t, c, Msg::Result { seq: 1, value: 5 }, &mut out);
        assert_eq!(out.observations, vec![Observation::Vote { seq: 1, verdict: Verdict::Unanimous }]);
        out.clear();
        // Seq 2: one dissenter, all in: Majority at once.
        v.on_message(t, a, Msg::Result { seq: 2, value: 7 }, &mut out);
        v.on_message(t, c, Msg::Result { seq: 2, value: 8 }, &mut out);
        v.on_message(t, b, Msg::Result { seq: 2, value: 7 }, &mut out);
        assert_eq!(outputs(&out), vec![(client, 2, 7)]);
        assert_eq!(out.observations, vec![Observation::Vote { seq: 2, verdict: Verdict::Majority }]);
        out.clear();
        // Seq 3: all differ: NoMajority at once, nothing forwarded; late results ignored.
        for (r, value) in [(a, 1), (b, 2), (c, 3), (a, 2)] {
            v.on_message(t, r, Msg::Result { seq: 3, value }, &mut out);
        }
        assert!(outputs(&out).is_empty());
        assert_eq!(out.observations, vec![Observation::Vote { seq: 3, verdict: Verdict::NoMajority }]);
        assert_eq!(v.open_votes(), 0);
    }

    #[test]
    fn timeout_gives_majority_or_no_majority() {
        let cfg = config(3, 1, 1000.0);
        let mut v = Voter::new(&cfg);
        let mut out = Effects::new();
        let t = Time::from_millis(1);
        v.on_message(t, cfg.replicas[0], Msg::Result { seq: 1, value: 5 }, &mut out);
        v.on_message(t, cfg.replicas[1], Msg::Result { seq: 1, value: 5 }, &mut out);
        v.on_message(t, cfg.replicas[0], Msg::Result { seq: 2, value: 5 }, &mut out);
        v.on_message(t, cfg.replicas[1], Msg::Result { seq: 2, value: 6 }, &mut out);
        out.clear();
        v.on_timer(t + (cfg.vote_timeout - Duration::from_nanos(1)), TICK_TIMER, &mut out);
        assert!(out.observations.is_empty());
        v.on_timer(t + cfg.vote_timeout, TICK_TIMER, &mut out);
        assert_eq!(
            out.observations,
            vec![
                Observation::Vote { seq: 1, verdict: Verdict::Majority },
                Observation::Vote { seq: 2, verdict: Verdict::NoMajority },
            ]
        );
        out.clear();
        v.on_message(t, cfg.replicas[2], Msg::Result { seq: 1, value: 5 }, &mut out);
        assert!(out.is_empty(), "results for finished votes are ignored");
    }
}
