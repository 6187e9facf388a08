//! The recovery line of independent checkpointing: the latest set of states,
//! one per process, in which no process has received a message that its
//! sender has not sent (no orphan messages).
//!
//! Process `q`'s checkpoint `k` starts its interval `k`; a message carries the
//! interval it was sent in. A state of `p` depends on `q`'s interval `i` when
//! `p` had received a message `q` sent in interval `i`. Restoring `q` to its
//! checkpoint `j` undoes everything `q` sent in intervals `j` and later, so
//! `p`'s state may stay only if every interval it depends on is below `j`.
//! When one process rolls back, others may have to follow, and so on: the
//! domino effect, which can carry everyone back to the start.

use super::Deps;

/// The recovery line. `states[p][k]` holds the dependencies of process `p`'s
/// state `k` (checkpoint `k`; a process that did not fail adds its current,
/// volatile state as one more entry); `start[p]` is the state each process
/// would like to keep. Returns per process the index of the state to restore.
/// State 0 (the initial state) depends on nothing, so a line always exists.
pub fn recovery_line(states: &[Vec<Deps>], start: &[u64]) -> Vec<u64> {
    let mut line: Vec<u64> = start.to_vec();
    let mut changed = true;
    while changed {
        changed = false;
        for p in 0..states.len() {
            loop {
                let Some(deps) = states[p].get(line[p] as usize) else {
                    // An index past the table (bad input): fall back to the start.
                    line[p] = 0;
                    break;
                };
                let orphan = deps.iter().zip(&line).any(|(dep, &lq)| dep.is_some_and(|i| i >= lq));
                if !orphan || line[p] == 0 {
                    break;
                }
                line[p] -= 1;
                changed = true;
            }
        }
    }
    line
}

/// The line made of stable checkpoints only (nobody fails, nobody keeps a
/// volatile state): every output made before it can never be rolled back,
/// because checkpoints taken later only move it forward.
pub fn committed_line(checkpoints: &[Vec<Deps>]) -> Vec<u64> {
    let start: Vec<u64> = checkpoints.iter().map(|c| c.len().saturating_sub(1) as u64).collect();
    recovery_line(checkpoints, &start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes exchanging a message in each direction between every
    /// pair of checkpoints: P0's checkpoint k follows a receipt from P1's
    /// interval k-1, P1's checkpoint k a receipt from P0's interval k.
    fn zigzag(k: u64) -> Vec<Vec<Deps>> {
        let p0 = (0..=k).map(|c| vec![None, c.checked_sub(1)]).collect();
        let p1 = (0..=k).map(|c| vec![(c > 0).then_some(c), None]).collect();
        vec![p0, p1]
    }

    #[test]
    fn the_domino_effect_carries_both_processes_back_to_the_start() {
        let mut states = zigzag(3);
        // P0 did not fail: its volatile state received from P1's interval 3.
        states[0].push(vec![None, Some(3)]);
        // P1 failed: it restarts from its checkpoint 3; P0 would keep its volatile state (4).
        let line = recovery_line(&states, &[4, 3]);
        assert_eq!(line, vec![0, 0], "every checkpoint is useless");
    }

    #[test]
    fn without_zigzags_the_line_is_the_latest_checkpoints() {
        // Each checkpoint depends only on intervals the other has already closed.
        let p0: Vec<Deps> = vec![vec![None, None], vec![None, Some(0)], vec![None, Some(1)]];
        let p1: Vec<Deps> = vec![vec![None, None], vec![Some(0), None], vec![Some(1), None]];
        let mut states = vec![p0, p1];
        states[0].push(vec![None, Some(1)]);
        // P1 fails at checkpoint 2; P0's volatile state depends on P1's interval 1 only.
        assert_eq!(recovery_line(&states, &[3, 2]), vec![3, 2], "nobody else rolls back");
        // Had P0 received from P1's interval 2 (now lost), P0 rolls back one checkpoint only.
        states[0][3] = vec![None, Some(2)];
        assert_eq!(recovery_line(&states, &[3, 2]), vec![2, 2]);
    }

    #[test]
    fn the_line_has_no_orphan_message() {
        // Three processes, hand-built: P2's checkpoint 1 received from P1's
        // interval 1, and P1 rolls back to checkpoint 1, so P2 goes to 0.
        let states: Vec<Vec<Deps>> = vec![
            vec![vec![None, None, None], vec![None, Some(0), None]],
            vec![vec![None, None, None], vec![Some(0), None, None], vec![Some(1), None, None]],
            vec![vec![None, None, None], vec![None, Some(1), None], vec![None, Some(1), Some(0)]],
        ];
        let line = recovery_line(&states, &[1, 1, 2]);
        assert_eq!(line, vec![1, 1, 0]);
        for (p, &k) in line.iter().enumerate() {
            for (q, dep) in states[p][k as usize].iter().enumerate() {
                assert!(dep.is_none_or(|i| i < line[q]), "P{p} holds an orphan from P{q}");
            }
        }
        assert_eq!(committed_line(&states), vec![1, 1, 0]);
    }
}
