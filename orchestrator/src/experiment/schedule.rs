//! Expanding fault plans into concrete occurrences, deterministically from a seed.
//!
//! Each plan draws from its own RNG streams (one for times, one for picks),
//! derived from the seed and the plan's index, so adding a fault to a file
//! does not change the draws of the others.
//!
//! Semantics worth knowing:
//! - `pick: random` draws its nodes again at each occurrence.
//! - A link `a -> b` names the messages `a` sends to `b`. Omission, delay and
//!   byzantine rules go on `a` scoped to `b`; with `direction: both` (the
//!   omission default) `a` also drops what it receives from `b`, so the link
//!   is cut both ways; `direction: receive` puts the rule on `b`, scoped to `a`.
//! - A symmetric partition gives every node the nodes of the other groups as
//!   its cut. `one_way: true` cuts only the first group's sends to the others:
//!   only the first group's nodes get a (one-way) rule.
//! - Byzantine `collude` gives every colluder of the run the same key, across
//!   fault entries, unless entries name separate conspiracies
//!   (`conspiracy: NAME`: one key per name); `corrupt`, `equivocate` and
//!   `stale` give each node its own.
//! - Receive-side kinds sit on the receiving end: `duplicate` on the target
//!   (all it receives) or on `b` of a link `a -> b`, scoped to `a`; `slow` and
//!   `clock_skew` on the target. A forgery (`mode: forge`) is carried out by
//!   the receivers: every node but the liar and its victim (or `b` of a link)
//!   takes what the liar sends for the victim's, since the transport does not
//!   authenticate senders.
//! - Occurrences end where their schedule says, even past the run's end (the
//!   runner ends everything then); restart occurrences and permanent faults
//!   have no end.

use super::{Action, FaultKind, FaultParams, FaultPlan, Lifetime, Occurrence, Schedule, Selection};
use faults::{ByzantineMode, Direction, LinkScope, MessageFault};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Weibull};
use std::time::Duration;
use workloads::NodeId;

/// At most this many occurrences per plan: a guard against tiny periods.
const MAX_OCCURRENCES: usize = 100_000;

/// Expand `plans` over a run of `duration` from `seed`.
pub(super) fn expand(
    plans: &[FaultPlan],
    seed: u64,
    duration: Duration,
) -> (Vec<Occurrence>, Vec<FaultPlan>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for plan in plans {
        let mut times = ChaCha8Rng::seed_from_u64(mix(&[seed, plan.index as u64, 1]));
        let mut picks = ChaCha8Rng::seed_from_u64(mix(&[seed, plan.index as u64, 2]));
        if first_start(&plan.schedule) >= duration {
            skipped.push(plan.clone());
            continue;
        }
        // A random schedule may draw no failure inside the run: not skipped, just lucky.
        let windows = windows(&plan.schedule, duration, &mut times);
        for (start, end) in windows {
            let action = action(plan, seed, &mut picks);
            out.push(Occurrence { fault: plan.index, kind: plan.kind, start, end, action });
        }
    }
    // Stable: equal starts keep file order.
    out.sort_by_key(|o| (o.start, o.fault));
    (out, skipped)
}

/// The earliest a schedule can start.
fn first_start(schedule: &Schedule) -> Duration {
    match *schedule {
        Schedule::Once { at, .. } => at,
        Schedule::Periodic { first, .. } | Schedule::Random { first, .. } => first,
    }
}

/// The (start, end) windows of a schedule that start before `duration`.
pub(super) fn windows(
    schedule: &Schedule,
    duration: Duration,
    rng: &mut ChaCha8Rng,
) -> Vec<(Duration, Option<Duration>)> {
    let mut w = Vec::new();
    match *schedule {
        Schedule::Once { at, length } => {
            if at < duration {
                w.push((at, length.map(|l| at.saturating_add(l))));
            }
        }
        Schedule::Periodic { first, period, length } => {
            let mut start = first;
            while start < duration && w.len() < MAX_OCCURRENCES && !period.is_zero() {
                w.push((start, length.map(|l| start.saturating_add(l))));
                start = start.saturating_add(period);
            }
        }
        Schedule::Random { first, mttf, mttr, law } => {
            let mut t = first;
            while w.len() < MAX_OCCURRENCES {
                let start = t.saturating_add(draw(rng, mttf, law));
                if start >= duration {
                    break;
                }
                let end = start.saturating_add(draw(rng, mttr, law));
                w.push((start, Some(end)));
                t = end;
            }
        }
    }
    w
}

/// A random time with the given mean.
fn draw(rng: &mut ChaCha8Rng, mean: Duration, law: Lifetime) -> Duration {
    let m = mean.as_secs_f64();
    let x = match law {
        Lifetime::Exponential => Exp::new(1.0 / m).map_or(m, |d| d.sample(rng)),
        Lifetime::Weibull { shape } => {
            // Scale so the mean is m: E[X] = scale * Γ(1 + 1/k).
            let scale = m / gamma(1.0 + 1.0 / shape);
            Weibull::new(scale, shape).map_or(m, |d| d.sample(rng))
        }
    };
    // Guard against infinities from extreme parameters: a day is "never" in a run.
    Duration::from_secs_f64(if x.is_finite() { x.clamp(0.0, 86_400.0) } else { 86_400.0 })
}

/// The gamma function for x > 0 (Weibull means need Γ(1 + 1/k)).
fn gamma(x: f64) -> f64 {
    crate::repeat::stats::ln_gamma(x).exp()
}

/// What one occurrence of `plan` does, with random picks drawn from `rng`.
fn action(plan: &FaultPlan, seed: u64, rng: &mut ChaCha8Rng) -> Action {
    let nodes = match &plan.selection {
        Selection::Nodes(n) => n.clone(),
        Selection::Random { candidates, count } => {
            let mut picked: Vec<NodeId> = candidates.choose_multiple(rng, *count).copied().collect();
            picked.sort();
            picked
        }
        Selection::Link { .. } | Selection::Groups { .. } => Vec::new(),
    };
    match plan.kind {
        FaultKind::Crash => Action::Crash(nodes),
        FaultKind::Pause => Action::Pause(nodes),
        FaultKind::Restart => Action::Restart(nodes),
        FaultKind::Isolate => Action::Isolate(nodes),
        FaultKind::Silence => {
            Action::Message(nodes.into_iter().map(|n| (n, MessageFault::Silence)).collect())
        }
        FaultKind::Partition => Action::Message(partition(&plan.selection)),
        FaultKind::Byzantine if matches!(plan.params, FaultParams::Forge { .. }) => {
            Action::Message(forge_rules(plan, &nodes))
        }
        FaultKind::Omission
        | FaultKind::Delay
        | FaultKind::Byzantine
        | FaultKind::Slow
        | FaultKind::ClockSkew
        | FaultKind::Duplicate => Action::Message(message_rules(plan, seed, &nodes)),
    }
}

fn partition(selection: &Selection) -> Vec<(NodeId, MessageFault)> {
    let Selection::Groups { groups, one_way } = selection else { return Vec::new() };
    let mut rules = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        if *one_way && g > 0 {
            break;
        }
        let cut: Vec<NodeId> =
            groups.iter().enumerate().filter(|(h, _)| *h != g).flat_map(|(_, o)| o.iter().copied()).collect();
        for &n in group {
            rules.push((n, MessageFault::Partition { cut: cut.clone(), one_way: *one_way }));
        }
    }
    rules
}

/// A stable hash of a conspiracy's name (FNV-1a; never 0, which is "unnamed").
fn name_hash(name: &str) -> u64 {
    let h =
        name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    h.max(1)
}

/// Omission, delay and byzantine rules on nodes (all links) or on one link.
fn message_rules(plan: &FaultPlan, seed: u64, nodes: &[NodeId]) -> Vec<(NodeId, MessageFault)> {
    let byz_key = |node: NodeId, mode: ByzantineMode, conspiracy: Option<&str>| match mode {
        // Not the plan's index: colluders of separate entries tell one lie.
        ByzantineMode::Collude => mix(&[seed, 0xC0_11DE, conspiracy.map_or(0, name_hash)]),
        ByzantineMode::Corrupt | ByzantineMode::Equivocate | ByzantineMode::Stale => {
            mix(&[seed, plan.index as u64, 0xC0_4407, u64::from(node.0)])
        }
    };
    let rule = |node: NodeId, links: LinkScope| match &plan.params {
        FaultParams::Omission { direction, probability } => {
            MessageFault::Omission { direction: *direction, probability: *probability, links }
        }
        FaultParams::Delay { distribution, reorder } => {
            MessageFault::Delay { distribution: distribution.clone(), reorder: *reorder, links }
        }
        FaultParams::Byzantine { mode, conspiracy } => {
            MessageFault::Byzantine { mode: *mode, key: byz_key(node, *mode, conspiracy.as_deref()), links }
        }
        FaultParams::Slow { distribution } => MessageFault::Slow { distribution: distribution.clone() },
        FaultParams::ClockSkew { offset_nanos, drift } => {
            MessageFault::ClockSkew { offset_nanos: *offset_nanos, drift: *drift }
        }
        FaultParams::Duplicate { probability } => {
            MessageFault::Duplicate { probability: *probability, links }
        }
        // Forgeries are expanded by `forge_rules`; silence needs no parameters.
        FaultParams::Forge { .. } | FaultParams::None => MessageFault::Silence,
    };
    match &plan.selection {
        Selection::Link { from, to } => {
            let receive = matches!(
                plan.params,
                FaultParams::Omission { direction: Direction::Receive, .. } | FaultParams::Duplicate { .. }
            );
            if receive {
                vec![(*to, rule(*to, LinkScope::Peers(vec![*from])))]
            } else {
                vec![(*from, rule(*from, LinkScope::Peers(vec![*to])))]
            }
        }
        _ => nodes.iter().map(|&n| (n, rule(n, LinkScope::All))).collect(),
    }
}

/// Forgery: for each liar picked, every other node but its victim (or the
/// link's receiver) attributes the liar's messages to the victim.
fn forge_rules(plan: &FaultPlan, nodes: &[NodeId]) -> Vec<(NodeId, MessageFault)> {
    let FaultParams::Forge { claims, everyone } = &plan.params else { return Vec::new() };
    let claimed = |liar: NodeId| claims.iter().find(|(l, _)| *l == liar).map(|(_, c)| *c);
    let mut rules = Vec::new();
    if let Selection::Link { from, to } = &plan.selection {
        if let Some(c) = claimed(*from) {
            rules.push((*to, MessageFault::Forge { liar: *from, claimed: c }));
        }
        return rules;
    }
    for &liar in nodes {
        let Some(c) = claimed(liar) else { continue };
        for &r in everyone.iter().filter(|r| **r != liar && **r != c) {
            rules.push((r, MessageFault::Forge { liar, claimed: c }));
        }
    }
    rules
}

/// Independent, reproducible seeds from several words.
use workloads::seed::splitmix64_words as mix;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn gamma_matches_known_values() {
        assert!((gamma(1.0) - 1.0).abs() < 1e-9);
        assert!((gamma(5.0) - 24.0).abs() < 1e-7);
        assert!((gamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn draws_have_the_requested_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for law in [Lifetime::Exponential, Lifetime::Weibull { shape: 2.0 }, Lifetime::Weibull { shape: 0.7 }]
        {
            let n = 20_000;
            let sum: f64 = (0..n).map(|_| draw(&mut rng, Duration::from_secs(10), law).as_secs_f64()).sum();
            let mean = sum / n as f64;
            assert!((mean - 10.0).abs() < 0.5, "{law:?}: mean {mean}");
        }
    }

    #[test]
    fn mix_differs_per_word() {
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
        assert_eq!(mix(&[1, 2]), mix(&[1, 2]));
        let _: u64 = ChaCha8Rng::seed_from_u64(mix(&[0])).gen();
    }
}
