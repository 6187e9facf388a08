//! Contradictory faults: two container-level faults on one node whose
//! windows overlap in a way the node cannot live through (crashed twice at
//! once, paused while crashed, restarted while down, frozen twice), and a
//! byzantine fault on a node that is crashed or restarted meanwhile: a down
//! node sends nothing, so it cannot lie, and the run would report a liar's
//! effect that was in fact a crash's.
//!
//! Only schedules fixed by the file are checked (`at` and fixed `every` on
//! named nodes or `pick: first`); random times and random picks are drawn
//! from the run's seed, and the runner tolerates what they produce (a crash
//! of a node already down is skipped).

use super::schedule::windows;
use super::{FaultKind, FaultPlan, Schedule, Selection};
use crate::topology::Topology;
use faults::Dur;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use workloads::NodeId;

/// A fault that contradicts an earlier one: its index in the file and why.
#[derive(Debug, PartialEq)]
pub(super) struct Conflict {
    pub index: usize,
    pub message: String,
}

/// One window of one container-level fault on one node.
#[derive(Clone, Copy)]
struct Window {
    node: NodeId,
    kind: FaultKind,
    plan: usize,
    line: usize,
    start: Duration,
    /// None: permanent (a crash without `for`); restarts last an instant.
    end: Option<Duration>,
}

impl Window {
    /// Whether the node is still under this fault at `t`.
    fn covers(&self, t: Duration) -> bool {
        match self.end {
            Some(e) => self.start <= t && t < e,
            None => self.start <= t,
        }
    }
}

/// The first fault (in start order) that contradicts one before it.
pub(super) fn first(plans: &[FaultPlan], topo: &Topology, duration: Duration) -> Option<Conflict> {
    let mut all: Vec<Window> = Vec::new();
    // Fixed schedules draw nothing; the generator is only there to satisfy the signature.
    let mut unused = ChaCha8Rng::seed_from_u64(0);
    for plan in plans {
        if !matches!(
            plan.kind,
            FaultKind::Crash
                | FaultKind::Pause
                | FaultKind::Restart
                | FaultKind::Isolate
                | FaultKind::Byzantine
        ) {
            continue;
        }
        if matches!(plan.schedule, Schedule::Random { .. }) {
            continue;
        }
        let Selection::Nodes(nodes) = &plan.selection else { continue };
        for (start, end) in windows(&plan.schedule, duration, &mut unused) {
            let end = if plan.kind == FaultKind::Restart { Some(start) } else { end };
            for &node in nodes {
                all.push(Window { node, kind: plan.kind, plan: plan.index, line: plan.line, start, end });
            }
        }
    }
    all.sort_by_key(|w| (w.start, w.plan));
    for (i, later) in all.iter().enumerate() {
        let clash = all[..i].iter().find(|earlier| {
            if earlier.node != later.node || earlier.plan == later.plan {
                return false;
            }
            if earlier.start == later.start {
                // Simultaneous: file order says nothing about which goes first.
                return contradicts(earlier.kind, later.kind) || contradicts(later.kind, earlier.kind);
            }
            earlier.covers(later.start) && contradicts(earlier.kind, later.kind)
        });
        if let Some(earlier) = clash {
            return Some(conflict(earlier, later, topo));
        }
    }
    None
}

/// Whether `later` cannot start while `earlier` holds the same node.
fn contradicts(earlier: FaultKind, later: FaultKind) -> bool {
    use FaultKind::*;
    match earlier {
        // A crashed node can be neither crashed, paused, restarted nor cut off again.
        // A crashed node cannot lie either: it has nothing to send.
        Crash => matches!(later, Crash | Pause | Restart | Byzantine),
        // A frozen node may still die (crash), but not freeze twice or restart.
        Pause => matches!(later, Pause | Restart),
        Isolate => later == Isolate,
        Restart => matches!(later, Restart | Crash | Pause | Byzantine),
        // A liar cannot be killed while it lies (a down node sends nothing).
        Byzantine => matches!(later, Crash | Restart),
        _ => false,
    }
}

fn conflict(earlier: &Window, later: &Window, topo: &Topology) -> Conflict {
    let name = topo.by_id(later.node).map_or_else(|| later.node.to_string(), |n| n.name.clone());
    let span = match earlier.end {
        Some(e) if e == earlier.start => format!("at {}", Dur(earlier.start)),
        Some(e) => format!("from {} to {}", Dur(earlier.start), Dur(e)),
        None => format!("from {} for good", Dur(earlier.start)),
    };
    // Simultaneous faults may contradict the other way round only.
    let (first, second) = if contradicts(earlier.kind, later.kind) {
        (earlier.kind, later.kind)
    } else {
        (later.kind, earlier.kind)
    };
    let why = match (first, second) {
        (FaultKind::Crash, FaultKind::Pause) => "a node cannot be paused while it is crashed",
        (FaultKind::Crash, FaultKind::Crash) => "a node cannot crash while it is crashed",
        (FaultKind::Pause, FaultKind::Pause) => "a node cannot be paused twice at once",
        (FaultKind::Isolate, FaultKind::Isolate) => "a node cannot be isolated twice at once",
        (FaultKind::Crash | FaultKind::Restart, FaultKind::Byzantine)
        | (FaultKind::Byzantine, FaultKind::Crash | FaultKind::Restart) => {
            "a crashed node sends nothing, so it cannot lie: the byzantine fault would not \
             be exercised and its effect would be the crash's"
        }
        _ => "a node cannot be restarted while it is down or frozen, nor hit during its restart",
    };
    Conflict {
        index: later.plan,
        message: format!(
            "this {} of {name} at {} contradicts the {} of {name} on line {} ({span}): {why}; move one of them",
            later.kind.as_str(),
            Dur(later.start),
            earlier.kind.as_str(),
            earlier.line,
        ),
    }
}
