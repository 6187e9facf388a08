//! The decision rule of Lamport, Shostak and Pease's oral-messages algorithm
//! OM(m), evaluated over the messages one lieutenant received.
//!
//! A message is named by its path: the commander first, then every general
//! that relayed it. Lieutenant `me` computes, for the commander's path `[c]`,
//! the majority of the value it received along that path and of the values it
//! computes for every one-longer path through a general not yet on it; at
//! depth m+1 the received value is taken as is. A missing message counts as
//! [`RETREAT`], the default order, as in the paper.

use crate::NodeId;
use std::collections::BTreeMap;

/// The default order: taken when no value reaches a majority, and in place of
/// a message that never arrived.
pub const RETREAT: u64 = 0;

/// The strict majority of `values`, or [`RETREAT`] when none has one.
pub fn majority(values: &[u64]) -> u64 {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(*v).or_default() += 1;
    }
    counts.into_iter().find(|(_, n)| 2 * n > values.len()).map_or(RETREAT, |(v, _)| v)
}

/// What lieutenant `me` decides in OM(`m`) among `generals` (commander
/// first), from the values it `received`, keyed by path.
pub fn decide(generals: &[NodeId], m: usize, me: NodeId, received: &BTreeMap<Vec<NodeId>, u64>) -> u64 {
    let Some(&commander) = generals.first() else { return RETREAT };
    let mut path = vec![commander];
    value(generals, m, me, received, &mut path)
}

/// The value lieutenant `me` holds for `path` (recursion depth is at most m+1).
fn value(
    generals: &[NodeId],
    m: usize,
    me: NodeId,
    received: &BTreeMap<Vec<NodeId>, u64>,
    path: &mut Vec<NodeId>,
) -> u64 {
    let own = received.get(path.as_slice()).copied().unwrap_or(RETREAT);
    if path.len() > m {
        return own;
    }
    let mut values = vec![own];
    for &k in generals {
        if k == me || path.contains(&k) {
            continue;
        }
        path.push(k);
        values.push(value(generals, m, me, received, path));
        path.pop();
    }
    majority(&values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_needs_more_than_half() {
        assert_eq!(majority(&[5, 5, 7]), 5);
        assert_eq!(majority(&[5, 7, 9]), RETREAT);
        assert_eq!(majority(&[5, 7]), RETREAT);
        assert_eq!(majority(&[]), RETREAT);
        assert_eq!(majority(&[3]), 3);
    }

    fn ids(n: u16) -> Vec<NodeId> {
        (0..n).map(NodeId).collect()
    }

    #[test]
    fn om1_outvotes_one_lying_relay() {
        let g = ids(4);
        let mut rx = BTreeMap::new();
        rx.insert(vec![NodeId(0)], 42);
        rx.insert(vec![NodeId(0), NodeId(2)], 42);
        rx.insert(vec![NodeId(0), NodeId(3)], 99);
        assert_eq!(decide(&g, 1, NodeId(1), &rx), 42);
    }

    #[test]
    fn om1_with_three_generals_falls_back_to_the_default() {
        let g = ids(3);
        let mut rx = BTreeMap::new();
        rx.insert(vec![NodeId(0)], 42);
        rx.insert(vec![NodeId(0), NodeId(2)], 99);
        assert_eq!(decide(&g, 1, NodeId(1), &rx), RETREAT);
    }

    #[test]
    fn om2_with_seven_generals_masks_two_traitors() {
        // Lieutenants 5 and 6 lie on every message they relay; 1 decides.
        let g = ids(7);
        let me = NodeId(1);
        let mut rx = BTreeMap::new();
        rx.insert(vec![NodeId(0)], 7);
        for j in 2..7u16 {
            let liar_j = j >= 5;
            rx.insert(vec![NodeId(0), NodeId(j)], if liar_j { 1000 + u64::from(j) } else { 7 });
            for k in 2..7u16 {
                if k == j {
                    continue;
                }
                // k relays what j told it; j lied to k if j is a traitor, and k lies if k is one.
                let v = if k >= 5 {
                    2000 + u64::from(k)
                } else if liar_j {
                    1000 + u64::from(j)
                } else {
                    7
                };
                rx.insert(vec![NodeId(0), NodeId(j), NodeId(k)], v);
            }
        }
        assert_eq!(decide(&g, 2, me, &rx), 7);
    }
}
