//! The oracle over the members' delivery logs: pure functions from what the
//! members observed (multicasts with their causal past, each member's
//! deliveries with their views, the views each installed, who crashed) to
//! counts of violations. Every ordering is checked whatever the run's
//! configured ordering, so a class sees what each weaker one allows.

use super::{MsgId, MulticastEvent};
use crate::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A multicast as its sender reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub id: MsgId,
    pub view: u64,
    pub deps: Vec<(NodeId, u64)>,
    /// When it was multicast.
    pub at: Time,
}

/// Everything the oracle reads, gathered from the members' observations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Logs {
    /// The members of the first view (view 0).
    pub members: Vec<NodeId>,
    /// Whether the run was virtually synchronous.
    pub atomic: bool,
    pub sent: Vec<SentRecord>,
    /// Each member's deliveries in order: (message, view delivered in).
    pub deliveries: BTreeMap<NodeId, Vec<(MsgId, u64)>>,
    /// The views each member installed after view 0, in order.
    pub views: BTreeMap<NodeId, Vec<(u64, Vec<NodeId>)>>,
    /// The members that crashed at some time (the others are correct).
    pub crashed: BTreeSet<NodeId>,
}

/// The oracle's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Multicasts sent.
    pub multicasts: u64,
    /// Multicasts sent by the cutoff (judged for reliability and atomicity).
    pub judged: u64,
    /// Deliveries, duplicates included.
    pub deliveries: u64,
    /// (message, member) pairs: a judged message multicast by a correct
    /// sender (atomic: or delivered by any correct member) that a correct
    /// member of its view did not deliver.
    pub reliability: u64,
    /// Deliveries of a message a member had delivered already.
    pub duplicates: u64,
    /// Deliveries of a sender's message after a later one of the same sender.
    pub fifo: u64,
    /// Deliveries of a message before one it causally depends on (or, by a
    /// correct member, without one it never delivers).
    pub causal: u64,
    /// Pairs of messages two correct members delivered in different orders
    /// (counted for each pair of members).
    pub total: u64,
    /// (message, member) pairs: a judged message delivered by some correct
    /// members of its view and not by a correct member that went on into the
    /// same next view as they did (or, like them, into none).
    pub atomicity: u64,
}

impl Logs {
    /// Empty logs for a group whose first view is `members`.
    pub fn new(members: Vec<NodeId>, atomic: bool) -> Logs {
        Logs { members, atomic, ..Logs::default() }
    }

    /// Fold in what `node` observed at `at`.
    pub fn record(&mut self, node: NodeId, at: Time, event: &MulticastEvent) {
        match event {
            MulticastEvent::Sent { id, view, deps } => {
                self.sent.push(SentRecord { id: *id, view: *view, deps: deps.clone(), at })
            }
            MulticastEvent::Delivered { id, view } => {
                self.deliveries.entry(node).or_default().push((*id, *view))
            }
            MulticastEvent::ViewInstalled { view, members, .. } => {
                self.views.entry(node).or_default().push((*view, members.clone()))
            }
            _ => {}
        }
    }

    /// `node` crashed: it is no longer a correct member.
    pub fn crash(&mut self, node: NodeId) {
        self.crashed.insert(node);
    }

    fn correct(&self, node: NodeId) -> bool {
        !self.crashed.contains(&node)
    }

    /// The views `node` installed, view 0 first when it was a member of it.
    fn installed(&self, node: NodeId) -> Vec<(u64, &[NodeId])> {
        let mut v: Vec<(u64, &[NodeId])> = Vec::new();
        if self.members.contains(&node) {
            v.push((0, &self.members));
        }
        if let Some(later) = self.views.get(&node) {
            v.extend(later.iter().map(|(id, m)| (*id, m.as_slice())));
        }
        v
    }

    /// The members of `view` as `sender` installed it.
    fn view_members(&self, sender: NodeId, view: u64) -> Vec<NodeId> {
        self.installed(sender)
            .into_iter()
            .find(|(id, _)| *id == view)
            .map(|(_, m)| m.to_vec())
            .unwrap_or_else(|| if view == 0 { self.members.clone() } else { Vec::new() })
    }
}

/// Check `logs`; multicasts sent after `cutoff` are not judged for
/// reliability and atomicity (they may still be on their way).
pub fn check(logs: &Logs, cutoff: Time) -> Verdict {
    let mut v = Verdict { multicasts: logs.sent.len() as u64, ..Verdict::default() };
    let deps: BTreeMap<MsgId, &[(NodeId, u64)]> =
        logs.sent.iter().map(|s| (s.id, s.deps.as_slice())).collect();
    // First position of each message in each member's log.
    let mut first: BTreeMap<NodeId, BTreeMap<MsgId, usize>> = BTreeMap::new();
    for (node, log) in &logs.deliveries {
        v.deliveries += log.len() as u64;
        let pos = first.entry(*node).or_default();
        let mut highest: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (i, (id, _)) in log.iter().enumerate() {
            if pos.contains_key(id) {
                v.duplicates += 1;
                continue;
            }
            pos.insert(*id, i);
            let h = highest.entry(id.sender).or_insert(0);
            if id.seq < *h {
                v.fifo += 1;
            }
            *h = (*h).max(id.seq);
        }
        v.causal += causal_violations(log, pos, &deps, logs.correct(*node));
    }
    let correct: Vec<NodeId> = first
        .keys()
        .copied()
        .chain(logs.members.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|n| logs.correct(*n))
        .collect();
    for (i, a) in correct.iter().enumerate() {
        for b in &correct[i + 1..] {
            v.total += order_disagreements(first.get(a), first.get(b));
        }
    }
    let empty = BTreeMap::new();
    for s in logs.sent.iter().filter(|s| s.at <= cutoff) {
        v.judged += 1;
        let members = logs.view_members(s.id.sender, s.view);
        // The correct members of the view, each with the view it installed next.
        let of_view: Vec<(NodeId, Option<u64>, bool)> = members
            .iter()
            .copied()
            .filter(|m| logs.correct(*m))
            .filter_map(|m| {
                let views = logs.installed(m);
                let at = views.iter().position(|(id, _)| *id == s.view)?;
                let next = views.get(at + 1).map(|(id, _)| *id);
                Some((m, next, first.get(&m).unwrap_or(&empty).contains_key(&s.id)))
            })
            .collect();
        let by_some = of_view.iter().any(|(_, _, d)| *d);
        if logs.correct(s.id.sender) || (logs.atomic && by_some) {
            v.reliability += of_view.iter().filter(|(_, _, d)| !d).count() as u64;
        }
        let nexts: BTreeSet<Option<u64>> = of_view.iter().map(|(_, n, _)| *n).collect();
        for next in nexts {
            let group: Vec<bool> =
                of_view.iter().filter(|(_, n, _)| *n == next).map(|(_, _, d)| *d).collect();
            if group.iter().any(|d| *d) {
                v.atomicity += group.iter().filter(|d| !**d).count() as u64;
            }
        }
    }
    v
}

/// Deliveries in `log` made before one of their causal predecessors (or,
/// by a `correct` member, without one it never delivers).
fn causal_violations(
    log: &[(MsgId, u64)],
    pos: &BTreeMap<MsgId, usize>,
    deps: &BTreeMap<MsgId, &[(NodeId, u64)]>,
    correct: bool,
) -> u64 {
    // For each sender and k: the latest position among its messages
    // 1..=k, and how many of them were delivered.
    let mut by_sender: BTreeMap<NodeId, Vec<Option<usize>>> = BTreeMap::new();
    for (id, p) in pos {
        let v = by_sender.entry(id.sender).or_default();
        let k = usize::try_from(id.seq).unwrap_or(usize::MAX);
        if v.len() < k + 1 {
            v.resize(k + 1, None);
        }
        v[k] = Some(*p);
    }
    let prefix: BTreeMap<NodeId, Vec<(Option<usize>, u64)>> = by_sender
        .into_iter()
        .map(|(s, v)| {
            let (mut latest, mut count) = (None, 0);
            let acc = v
                .into_iter()
                .map(|p| {
                    latest = latest.max(p);
                    count += u64::from(p.is_some());
                    (latest, count)
                })
                .collect();
            (s, acc)
        })
        .collect();
    let mut violations = 0;
    for (i, (id, _)) in log.iter().enumerate() {
        if pos.get(id) != Some(&i) {
            continue;
        }
        let Some(d) = deps.get(id) else { continue };
        let broken = d.iter().any(|(s, k)| {
            let v = prefix.get(s).map_or(&[][..], |v| v.as_slice());
            let at = usize::try_from(*k).unwrap_or(usize::MAX).min(v.len().saturating_sub(1));
            let (latest, count) = v.get(at).copied().unwrap_or((None, 0));
            latest.is_some_and(|p| p > i) || (correct && count < *k)
        });
        if broken {
            violations += 1;
        }
    }
    violations
}

/// Pairs of messages both members delivered, in different orders.
fn order_disagreements(a: Option<&BTreeMap<MsgId, usize>>, b: Option<&BTreeMap<MsgId, usize>>) -> u64 {
    let (Some(a), Some(b)) = (a, b) else { return 0 };
    let mut common: Vec<(usize, usize)> =
        a.iter().filter_map(|(id, pa)| b.get(id).map(|pb| (*pa, *pb))).collect();
    common.sort();
    let mut seq: Vec<usize> = common.into_iter().map(|(_, pb)| pb).collect();
    inversions(&mut seq)
}

/// The number of inversions of `v` (merge sort; `v` ends sorted).
fn inversions(v: &mut [usize]) -> u64 {
    if v.len() < 2 {
        return 0;
    }
    let mid = v.len() / 2;
    let mut count = inversions(&mut v[..mid]) + inversions(&mut v[mid..]);
    let mut merged = Vec::with_capacity(v.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        if v[i] <= v[j] {
            merged.push(v[i]);
            i += 1;
        } else {
            merged.push(v[j]);
            count += (mid - i) as u64;
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(sender: u16, seq: u64) -> MsgId {
        MsgId { sender: NodeId(sender), seq }
    }

    fn sent(sender: u16, seq: u64, deps: &[(u16, u64)]) -> SentRecord {
        SentRecord {
            id: id(sender, seq),
            view: 0,
            deps: deps.iter().map(|(s, k)| (NodeId(*s), *k)).collect(),
            at: Time::ZERO,
        }
    }

    /// Three members; `logs[i]` is member i's deliveries (all in view 0).
    fn logs(sent: Vec<SentRecord>, logs: &[&[(u16, u64)]]) -> Logs {
        let mut l = Logs::new((0..3).map(NodeId).collect(), false);
        l.sent = sent;
        for (i, d) in logs.iter().enumerate() {
            l.deliveries.insert(NodeId(i as u16), d.iter().map(|(s, k)| (id(*s, *k), 0)).collect());
        }
        l
    }

    fn two_senders() -> Vec<SentRecord> {
        vec![sent(0, 1, &[]), sent(0, 2, &[(0, 1)]), sent(1, 1, &[(0, 2)])]
    }

    #[test]
    fn a_clean_history_has_no_violations() {
        let order: &[(u16, u64)] = &[(0, 1), (0, 2), (1, 1)];
        let v = check(&logs(two_senders(), &[order, order, order]), Time::ZERO);
        assert_eq!(v, Verdict { multicasts: 3, judged: 3, deliveries: 9, ..Verdict::default() });
    }

    #[test]
    fn each_property_is_caught_alone() {
        let good: &[(u16, u64)] = &[(0, 1), (0, 2), (1, 1)];
        // Member 2 misses 0:2: reliability and atomicity (the others delivered it).
        let v = check(&logs(two_senders(), &[good, good, &[(0, 1), (1, 1)]]), Time::ZERO);
        assert_eq!((v.reliability, v.atomicity, v.causal, v.fifo, v.duplicates), (1, 1, 1, 0, 0));
        // A duplicate.
        let v = check(&logs(two_senders(), &[good, good, &[(0, 1), (0, 2), (0, 2), (1, 1)]]), Time::ZERO);
        assert_eq!((v.duplicates, v.reliability, v.fifo, v.total), (1, 0, 0, 0));
        // FIFO broken (and so causal, and the total order).
        let v = check(&logs(two_senders(), &[good, good, &[(0, 2), (0, 1), (1, 1)]]), Time::ZERO);
        assert_eq!((v.fifo, v.causal, v.total, v.reliability), (1, 1, 2, 0));
        // Causal broken, FIFO kept: 1:1 depends on 0:2.
        let v = check(&logs(two_senders(), &[good, good, &[(0, 1), (1, 1), (0, 2)]]), Time::ZERO);
        assert_eq!((v.fifo, v.causal, v.total), (0, 1, 2));
        // Total order broken, causal kept: two concurrent messages.
        let concurrent = vec![sent(0, 1, &[]), sent(1, 1, &[])];
        let v =
            check(&logs(concurrent, &[&[(0, 1), (1, 1)], &[(1, 1), (0, 1)], &[(0, 1), (1, 1)]]), Time::ZERO);
        assert_eq!((v.fifo, v.causal, v.total, v.reliability), (0, 0, 2, 0));
    }

    #[test]
    fn a_crashed_sender_is_judged_by_atomicity_not_reliability() {
        let only = vec![sent(2, 1, &[])];
        let mut l = logs(only, &[&[(2, 1)], &[], &[(2, 1)]]);
        l.crash(NodeId(2));
        let v = check(&l, Time::ZERO);
        assert_eq!((v.reliability, v.atomicity), (0, 1));
        // Virtually synchronous: delivered by a correct member, so every correct one must.
        l.atomic = true;
        assert_eq!(check(&l, Time::ZERO).reliability, 1);
        // Nobody correct delivered it: no violation either way.
        l.deliveries.insert(NodeId(0), Vec::new());
        let v = check(&l, Time::ZERO);
        assert_eq!((v.reliability, v.atomicity), (0, 0));
    }

    #[test]
    fn atomicity_compares_members_that_went_on_into_the_same_view() {
        let mut l = logs(vec![sent(0, 1, &[])], &[&[(0, 1)], &[(0, 1)], &[]]);
        l.atomic = true;
        // Member 2 was cut off into a view of its own: not the others' next view.
        let ab = vec![NodeId(0), NodeId(1)];
        l.views.insert(NodeId(0), vec![(1, ab.clone())]);
        l.views.insert(NodeId(1), vec![(1, ab)]);
        l.views.insert(NodeId(2), vec![(1, vec![NodeId(2)])]);
        let v = check(&l, Time::ZERO);
        assert_eq!((v.atomicity, v.reliability), (1, 1));
        l.views.insert(NodeId(2), vec![(2, vec![NodeId(2)])]);
        let v = check(&l, Time::ZERO);
        assert_eq!((v.atomicity, v.reliability), (0, 1));
    }

    #[test]
    fn messages_after_the_cutoff_are_not_judged() {
        let mut s = sent(0, 1, &[]);
        s.at = Time::from_millis(10);
        let v = check(&logs(vec![s], &[&[(0, 1)], &[], &[]]), Time::from_millis(5));
        assert_eq!((v.judged, v.reliability, v.atomicity), (0, 0, 0));
    }

    #[test]
    fn inversions_are_counted() {
        assert_eq!(inversions(&mut [3, 1, 2]), 2);
        assert_eq!(inversions(&mut [1, 2, 3]), 0);
        assert_eq!(inversions(&mut [4, 3, 2, 1]), 6);
    }

    proptest! {
        /// Members that each deliver a subsequence of one global order never
        /// disagree on the order, and a global order that respects every
        /// sender's numbering has no FIFO violation.
        #[test]
        fn subsequences_of_one_order_agree(
            senders in 1u16..4,
            per in 1u64..8,
            keep in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 32), 3),
            seed in any::<u64>(),
        ) {
            let mut global: Vec<MsgId> = (0..senders).flat_map(|s| (1..=per).map(move |k| id(s, k))).collect();
            // Interleave the senders (their own order kept) with a seeded shuffle of the merge.
            let key = |m: &MsgId| {
                let x = crate::seed::splitmix64_words(&[seed, u64::from(m.sender.0), m.seq]);
                (m.seq * 1000 + x % 1000, m.sender)
            };
            global.sort_by_key(key);
            let mut l = Logs::new((0..3).map(NodeId).collect(), false);
            l.sent = global.iter().map(|m| SentRecord { id: *m, view: 0, deps: Vec::new(), at: Time::ZERO }).collect();
            for (i, k) in keep.iter().enumerate() {
                let d = global.iter().enumerate().filter(|(j, _)| k[j % 32]).map(|(_, m)| (*m, 0)).collect();
                l.deliveries.insert(NodeId(i as u16), d);
            }
            let v = check(&l, Time::ZERO);
            prop_assert_eq!(v.total, 0);
            prop_assert_eq!(v.duplicates, 0);
            prop_assert_eq!(v.fifo, 0);
        }

        /// Everyone delivering everything, in any orders: no reliability or
        /// atomicity violation; the total-order count is symmetric in the members.
        #[test]
        fn complete_logs_are_reliable(perms in proptest::collection::vec(Just((0..6u64).collect::<Vec<_>>()).prop_shuffle(), 3)) {
            let mut l = Logs::new((0..3).map(NodeId).collect(), true);
            l.sent = (1..=6).map(|k| SentRecord { id: id(0, k), view: 0, deps: Vec::new(), at: Time::ZERO }).collect();
            for (i, p) in perms.iter().enumerate() {
                l.deliveries.insert(NodeId(i as u16), p.iter().map(|k| (id(0, k + 1), 0)).collect());
            }
            let v = check(&l, Time::ZERO);
            prop_assert_eq!((v.reliability, v.atomicity, v.duplicates), (0, 0, 0));
            let mut swapped = l.clone();
            let (a, b) = (l.deliveries[&NodeId(0)].clone(), l.deliveries[&NodeId(1)].clone());
            swapped.deliveries.insert(NodeId(0), b);
            swapped.deliveries.insert(NodeId(1), a);
            prop_assert_eq!(check(&swapped, Time::ZERO).total, v.total);
        }
    }
}
