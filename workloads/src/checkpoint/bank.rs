//! The computation the protocols protect: a bank whose money moves in tokens
//! along routes drawn from the seed, so the fault-free final state is known
//! in advance and does not depend on the order messages arrive in.

use super::Config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One hop of a token: `amount` moves with it to its receiver.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Transfer {
    pub token: u32,
    /// 1 for the first hop; the hop numbered `hops` is the token's output.
    pub hop: u32,
    pub amount: i64,
}

/// What a delivery did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Already delivered here (a resend or a replay): ignored.
    Duplicate,
    /// Credited; the token waits for the next step to move on.
    Held,
    /// Credited, and it was the token's last hop: an output.
    Output,
}

/// One process's ledger. Everything a checkpoint saves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    me: u16,
    /// The balance.
    pub balance: i64,
    /// Per token: the highest hop delivered here (0: none), to drop duplicates.
    seen: Vec<u32>,
    /// Tokens credited here and not yet forwarded: (token, hop delivered).
    held: BTreeSet<(u32, u32)>,
    /// Per token: the last hop this process sent (receiver index, transfer),
    /// resent after a recovery because a crash may have lost it in flight.
    sent: BTreeMap<u32, (u16, Transfer)>,
    /// Deliveries so far (not counting duplicates).
    pub delivered: u64,
    /// Tokens whose last hop arrived here.
    pub absorbed: u32,
}

/// The seed's hash for routes and amounts.
pub use crate::seed::splitmix64 as mix;

/// Who holds token `token` before its first hop.
fn first_holder(token: u32, n: u16) -> u16 {
    (token % u32::from(n.max(1))) as u16
}

/// Hop `hop` of `token`, sent by `holder`: its receiver and amount.
pub fn route(seed: u64, n: u16, token: u32, hop: u32, holder: u16) -> (u16, i64) {
    let r = mix(seed ^ (u64::from(token) << 32) ^ u64::from(hop));
    let others = u64::from(n.max(2) - 1);
    let to = ((u64::from(holder) + 1 + r % others) % u64::from(n.max(1))) as u16;
    let amount = 1 + (mix(r) % 100) as i64;
    (to, amount)
}

impl Bank {
    /// Process `me` of `cfg` before anything happened.
    pub fn new(me: u16, cfg: &Config) -> Bank {
        let n = cfg.processes.len() as u16;
        let held = (0..cfg.tokens).filter(|t| first_holder(*t, n) == me).map(|t| (t, 0)).collect();
        Bank {
            me,
            balance: cfg.balance,
            seen: vec![0; cfg.tokens as usize],
            held,
            sent: BTreeMap::new(),
            delivered: 0,
            absorbed: 0,
        }
    }

    /// Credit `tr` unless it was delivered here before.
    pub fn deliver(&mut self, tr: Transfer, hops: u32) -> Delivery {
        let Some(seen) = self.seen.get_mut(tr.token as usize) else { return Delivery::Duplicate };
        if tr.hop <= *seen {
            return Delivery::Duplicate;
        }
        *seen = tr.hop;
        self.balance += tr.amount;
        self.delivered += 1;
        if tr.hop >= hops {
            self.absorbed += 1;
            Delivery::Output
        } else {
            self.held.insert((tr.token, tr.hop));
            Delivery::Held
        }
    }

    /// Would `tr` be a duplicate here?
    pub fn is_duplicate(&self, tr: &Transfer) -> bool {
        self.seen.get(tr.token as usize).is_none_or(|s| tr.hop <= *s)
    }

    /// Send every held token on its next hop, debiting its amount; returns
    /// (receiver index, transfer) in token order.
    pub fn forward(&mut self, cfg: &Config) -> Vec<(u16, Transfer)> {
        let n = cfg.processes.len() as u16;
        let held = std::mem::take(&mut self.held);
        held.into_iter()
            .map(|(token, hop)| {
                let (to, amount) = route(cfg.seed, n, token, hop + 1, self.me);
                let tr = Transfer { token, hop: hop + 1, amount };
                self.balance -= amount;
                self.sent.insert(token, (to, tr));
                (to, tr)
            })
            .collect()
    }

    /// The highest hop of `token` delivered here (0: none).
    pub fn seen(&self, token: u32) -> u32 {
        self.seen.get(token as usize).copied().unwrap_or(0)
    }

    /// The last hop of `token` sent from here, if any.
    pub fn sent(&self, token: u32) -> Option<Transfer> {
        self.sent.get(&token).map(|(_, tr)| *tr)
    }

    /// True when tokens wait to be forwarded.
    pub fn holds_tokens(&self) -> bool {
        !self.held.is_empty()
    }

    /// The last hop sent of every token that left here, to resend after a recovery.
    pub fn last_sent(&self) -> impl Iterator<Item = (u16, Transfer)> + '_ {
        self.sent.values().copied()
    }
}

/// The fault-free final balances of every process (all tokens absorbed):
/// the oracle a recovered run must match.
pub fn golden(cfg: &Config) -> Vec<i64> {
    let n = cfg.processes.len() as u16;
    let mut balances = vec![cfg.balance; usize::from(n)];
    for token in 0..cfg.tokens {
        let mut holder = first_holder(token, n);
        for hop in 1..=cfg.hops {
            let (to, amount) = route(cfg.seed, n, token, hop, holder);
            if let Some(b) = balances.get_mut(usize::from(holder)) {
                *b -= amount;
            }
            if let Some(b) = balances.get_mut(usize::from(to)) {
                *b += amount;
            }
            holder = to;
        }
    }
    balances
}

/// Where every token ends (the process that absorbs its last hop).
pub fn golden_absorbed(cfg: &Config) -> Vec<u32> {
    let n = cfg.processes.len() as u16;
    let mut absorbed = vec![0; usize::from(n)];
    for token in 0..cfg.tokens {
        let mut holder = first_holder(token, n);
        for hop in 1..=cfg.hops {
            holder = route(cfg.seed, n, token, hop, holder).0;
        }
        if let Some(a) = absorbed.get_mut(usize::from(holder)) {
            *a += 1;
        }
    }
    absorbed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::config;
    use crate::checkpoint::Protocol;

    #[test]
    fn routes_never_send_to_oneself_and_stay_in_range() {
        for holder in 0..5 {
            for hop in 1..200 {
                let (to, amount) = route(3, 5, 1, hop, holder);
                assert_ne!(to, holder);
                assert!(to < 5);
                assert!((1..=100).contains(&amount));
            }
        }
    }

    #[test]
    fn delivering_every_hop_in_any_order_reaches_the_golden_state() {
        let cfg = config(Protocol::Independent, 4);
        let mut banks: Vec<Bank> = (0..4).map(|i| Bank::new(i, &cfg)).collect();
        // Random-ish order: process the highest-numbered bank with work first.
        let mut flight: Vec<(u16, Transfer)> = Vec::new();
        for b in banks.iter_mut().rev() {
            flight.extend(b.forward(&cfg));
        }
        while let Some((to, tr)) = flight.pop() {
            let b = &mut banks[usize::from(to)];
            assert_ne!(b.deliver(tr, cfg.hops), Delivery::Duplicate);
            // A duplicate is ignored and changes nothing.
            let before = b.clone();
            assert_eq!(b.deliver(tr, cfg.hops), Delivery::Duplicate);
            assert_eq!(*b, before);
            flight.extend(b.forward(&cfg));
        }
        let finals: Vec<i64> = banks.iter().map(|b| b.balance).collect();
        assert_eq!(finals, golden(&cfg));
        assert_eq!(finals.iter().sum::<i64>(), 4 * cfg.balance, "money is conserved");
        let absorbed: Vec<u32> = banks.iter().map(|b| b.absorbed).collect();
        assert_eq!(absorbed, golden_absorbed(&cfg));
        assert_eq!(absorbed.iter().sum::<u32>(), cfg.tokens);
    }
}
