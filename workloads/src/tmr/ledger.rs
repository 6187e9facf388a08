//! The replicated state machine: a ledger of accounts, and the request ops it applies.

use serde::{Deserialize, Serialize};

/// Number of accounts in the ledger.
///
/// Each account is one key of the clients' history, checked for
/// linearizability on its own. Many accounts keep each key's history short,
/// as Jepsen keeps its independent keys': the check of one key may have to
/// try every subset of the adds whose outcome is unknown, keeps a set of
/// the key's operations per configuration it explores, and shows a
/// non-linearizable key's anomaly with every add that could precede the
/// faulty one. At 2000 requests per second an account sees one every two
/// seconds or so, an outage of 5 s leaves it 2 or 3 unknown adds, and an
/// anomaly 20 s into a run holds about ten operations; with 16 accounts it
/// held over 2,600, too many to draw. The state (8 bytes per account) is
/// sent whole only by state transfer.
pub const ACCOUNTS: usize = 4096;

/// The hash ops and collusion values are derived from, so every node
/// computes the same numbers.
pub use crate::seed::splitmix64 as mix;

/// One request's operation: add `delta` to an account.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Op {
    /// The account, below [`ACCOUNTS`].
    pub account: u16,
    /// The signed amount added to the account.
    pub delta: i32,
}

impl Op {
    /// The op of request `seq`, derived deterministically from the sequence number.
    pub fn for_seq(seq: u64) -> Op {
        let h = mix(seq);
        Op { account: (h % ACCOUNTS as u64) as u16, delta: ((h >> 32) % 201) as i32 - 100 }
    }
}

/// The ledger's whole state: balances and the last sequence number applied (0: none).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last sequence number applied.
    pub seq: u64,
    /// Every account's balance, [`ACCOUNTS`] of them.
    pub balances: Vec<i64>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot { seq: 0, balances: vec![0; ACCOUNTS] }
    }
}

/// The deterministic state machine every replica (and the client's oracle) runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ledger {
    state: Snapshot,
}

impl Ledger {
    /// The initial state: every balance zero, nothing applied.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A ledger restored from a snapshot (missing accounts hold 0, extra ones are dropped).
    pub fn restore(mut snapshot: Snapshot) -> Ledger {
        snapshot.balances.resize(ACCOUNTS, 0);
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
        for seq in 1..100_000 {
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

    #[test]
    fn a_short_snapshot_restores_to_every_account() {
        let mut short = Ledger::new().snapshot();
        short.balances.truncate(3);
        let mut l = Ledger::restore(short);
        assert_eq!(l.snapshot(), Ledger::new().snapshot());
        let op = Op { account: (ACCOUNTS - 1) as u16, delta: 4 };
        assert_eq!(l.apply(1, op), 4);
    }
}
