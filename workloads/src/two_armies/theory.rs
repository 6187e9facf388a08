//! What the model predicts. Step i of an instance (0 the plan, then k
//! acknowledgments) is lost with probability q_i, independently: `ab` for
//! the steps A sends (even i), `ba` for B's (odd i). The chain stops at the
//! first lost step j:
//!
//! - no step lost: both attack, with probability Π_{i=0..k} (1 − q_i);
//! - j = k, the last messenger lost: its sender had nothing more to wait
//!   for and attacks, its receiver does not: one attacks alone, with
//!   probability Π_{i<k} (1 − q_i) · q_k (with one p on both sides,
//!   p (1 − p)^k: more rounds make it rarer, never zero while p > 0);
//! - j < k: the receiver of step j misses it, and its sender then misses
//!   step j+1, which was never sent: neither attacks.

/// The chances of the three outcomes of one instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcomes {
    pub both: f64,
    pub alone: f64,
    pub neither: f64,
}

/// The outcomes with k acknowledgments when A's messengers are lost with
/// probability `ab` and B's with `ba`.
pub fn outcomes(k: u32, ab: f64, ba: f64) -> Outcomes {
    let loss = |i: u32| if i.is_multiple_of(2) { ab } else { ba };
    let through: f64 = (0..k).map(|i| 1.0 - loss(i)).product();
    let both = through * (1.0 - loss(k));
    let alone = through * loss(k);
    Outcomes { both, alone, neither: (1.0 - both - alone).max(0.0) }
}

/// Whether, when one attacks alone with k acknowledgments, it is A (the
/// proposer): A sends the even steps, so the last one when k is even.
pub fn alone_is_proposer(k: u32) -> bool {
    k.is_multiple_of(2)
}

/// The Wilson score interval at z standard errors for `hits` of `n`
/// Bernoulli trials (None when there are no trials).
pub fn wilson(hits: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let f = hits as f64 / n;
    let z2 = z * z;
    let centre = (f + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (f * (1.0 - f) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_messenger_lost_is_the_only_way_to_attack_alone() {
        let p = 0.3;
        for k in 0..6 {
            let o = outcomes(k, p, p);
            let alone = p * (1.0 - p).powi(k as i32);
            assert!((o.alone - alone).abs() < 1e-12, "k={k}");
            assert!((o.both - (1.0 - p).powi(k as i32 + 1)).abs() < 1e-12);
            assert!((o.both + o.alone + o.neither - 1.0).abs() < 1e-12);
        }
        // More rounds: rarer, never zero.
        let fractions: Vec<f64> = (0..8).map(|k| outcomes(k, p, p).alone).collect();
        assert!(fractions.windows(2).all(|w| w[1] < w[0] && w[1] > 0.0), "{fractions:?}");
        // Without loss nobody is ever alone, and both always attack.
        assert_eq!(outcomes(3, 0.0, 0.0), Outcomes { both: 1.0, alone: 0.0, neither: 0.0 });
        // Loss on B's side only: with k even, A's last messenger always gets through.
        assert_eq!(outcomes(2, 0.0, 0.5).alone, 0.0);
        assert!((outcomes(1, 0.0, 0.5).alone - 0.5).abs() < 1e-12);
    }

    #[test]
    fn wilson_interval_brackets_the_fraction() {
        let (lo, hi) = wilson(20, 100, 1.96).unwrap_or((0.0, 0.0));
        assert!(lo < 0.2 && 0.2 < hi && lo > 0.12 && hi < 0.29, "{lo} {hi}");
        assert_eq!(wilson(0, 0, 1.96), None);
        let (lo, _) = wilson(0, 50, 1.96).unwrap_or((1.0, 1.0));
        assert_eq!(lo, 0.0);
    }
}
