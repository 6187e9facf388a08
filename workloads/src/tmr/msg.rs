//! The messages TMR nodes exchange, and how a faulty replica falsifies them.

use super::ledger::{mix, Op, Snapshot};
use crate::{Message, NodeId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A TMR message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Client to every replica: apply request `seq`.
    Request { seq: u64, op: Op },
    /// Replica to every voter: the result of request `seq`.
    Result { seq: u64, value: i64 },
    /// Voter to every client: the majority's result of request `seq`.
    Output { seq: u64, value: i64 },
    /// Recovering replica to its peers: send me your state.
    StateRequest,
    /// Replica to a recovering peer: my state (its `seq` is the last request applied).
    StateReply { snapshot: Snapshot },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            Msg::Result { value, .. } => {
                // A nonzero offset: the corrupted value is always wrong.
                let offset = rng.next_u64().max(1) as i64;
                *value = value.wrapping_add(offset);
                true
            }
            _ => false,
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            Msg::Result { seq, value } => {
                *value = value.wrapping_add(1 + (mix(*seq ^ key) % 1_000_000) as i64);
                true
            }
            _ => false,
        }
    }

    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        match self {
            Msg::Result { seq, value } => {
                // 1 + to + 2^16 * h: never zero, and distinct for distinct
                // receivers (ids are 16-bit), so each peer hears its own lie.
                let h = (mix(*seq ^ key) % 1_000_000) as i64;
                *value = value.wrapping_add(1 + i64::from(to.0) + (h << 16));
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn corrupt_changes_only_results_and_always_to_a_wrong_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for seq in 0..1000 {
            let mut m = Msg::Result { seq, value: 42 };
            assert!(m.corrupt(&mut rng));
            assert!(matches!(m, Msg::Result { value, .. } if value != 42));
        }
        let mut out = Msg::Output { seq: 1, value: 5 };
        assert!(!out.corrupt(&mut rng));
        assert_eq!(out, Msg::Output { seq: 1, value: 5 });
        let mut req = Msg::Request { seq: 1, op: Op::for_seq(1) };
        assert!(!req.collude(3));
        assert!(!Msg::StateRequest.corrupt(&mut rng));
    }

    #[test]
    fn equivocation_tells_each_receiver_a_different_wrong_value() {
        for seq in 0..500 {
            let lies: Vec<Msg> = (0..5u16)
                .map(|to| {
                    let mut m = Msg::Result { seq, value: 9 };
                    assert!(m.equivocate(NodeId(to), 77));
                    m
                })
                .collect();
            for (i, a) in lies.iter().enumerate() {
                assert_ne!(a, &Msg::Result { seq, value: 9 });
                assert!(lies[i + 1..].iter().all(|b| b != a), "two receivers heard the same lie");
            }
            // Deterministic: the same receiver and key give the same lie.
            let mut again = Msg::Result { seq, value: 9 };
            again.equivocate(NodeId(0), 77);
            assert_eq!(again, lies[0]);
        }
        let mut out = Msg::Output { seq: 1, value: 5 };
        assert!(!out.equivocate(NodeId(1), 3));
    }

    #[test]
    fn colluders_agree_on_the_same_wrong_value() {
        for seq in 0..1000 {
            let mut a = Msg::Result { seq, value: -7 };
            let mut b = a.clone();
            assert!(a.collude(99) && b.collude(99));
            assert_eq!(a, b);
            assert_ne!(a, Msg::Result { seq, value: -7 });
        }
    }
}
