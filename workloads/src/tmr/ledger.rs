//! The replicated state machine: a ledger of accounts, and the request ops it applies.

use serde::{Deserialize, Serialize};

/// Number of accounts in the ledger.
pub const ACCOUNTS: usize = 16;

/// The hash ops and collusion values are derived from, so every node
/// computes the same numbers.
pub use crate::seed::splitmix64 as mix;

/// One request's operation: add `delta` to an account.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The account, below [`ACCOUNTS`].
    pub account: u8,
    /// The signed amount added to the account.
    pub delta: i32,
}

impl Op {
    /// The op of request `seq`, derived deterministically from the sequence number.
    pub fn for_seq(seq: u64) -> Op {
        let h = mix(seq);
        Op { account: (h % ACCOUNTS as u64) as u8, delta: ((h >> 32) % 201) as i32 - 100 }
    }
}

/// The ledger's whole state: balances and the last sequence number applied (0: none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last sequence number applied.
    pub seq: u64,
    /// Every account's balance.
    pub balances: [i64; ACCOUNTS],
}

/// The deterministic state machine every replica (and the client's oracle) runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    state: Snapshot,
}

impl Ledger {
    /// The initial state: every balance zero, nothing applied.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A ledger restored from a snapshot.
    pub fn restore(snapshot: Snapshot) -> Ledger {
        Ledger { state: snapshot }
    }

    /// The last sequence number applied (0 when none).
    pub fn seq(&self) -> u64 {
        self.state.seq
    }

    /// A copy of the state, for state transfer.
    pub fn snapshot(&self) -> Snapshot {
        self.state.clone()
    }

    /// Count entry `seq` as applied without touching a balance (an entry of
    /// another state machine sharing this sequence).
    pub fn advance(&mut self, seq: u64) {
        self.state.seq = seq;
    }

    /// Apply request `seq`'s op; the result is the account's balance afterwards.
    pub fn apply(&mut self, seq: u64, op: Op) -> i64 {
        let balance = &mut self.state.balances[usize::from(op.account) % ACCOUNTS];
        *balance = balance.wrapping_add(i64::from(op.delta));
        self.state.seq = seq;
        *balance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_deterministic_and_spread_over_accounts() {
        let mut seen = [false; ACCOUNTS];
        for seq in 1..1000 {
            let op = Op::for_seq(seq);
            assert_eq!(op, Op::for_seq(seq));
            assert!((-100..=100).contains(&op.delta));
            seen[usize::from(op.account)] = true;
        }
        assert!(seen.iter().all(|s| *s), "every account is touched");
    }

    #[test]
    fn restored_ledger_continues_like_the_original() {
        let mut a = Ledger::new();
        for seq in 1..=50 {
            a.apply(seq, Op::for_seq(seq));
        }
        let mut b = Ledger::restore(a.snapshot());
        assert_eq!(b.seq(), 50);
        for seq in 51..=100 {
            assert_eq!(a.apply(seq, Op::for_seq(seq)), b.apply(seq, Op::for_seq(seq)));
        }
        assert_eq!(a, b);
    }
}
