//! Snapshot tests of the workloads without client requests: each shows its
//! own numbers large and none of the request panels.

use super::*;
use crate::snapshot::{AgreementView, CheckpointView, CommitView, DetectionView, DetectorView, Signal};
use crate::view::bignum;

/// Whether `text` stands on the screen in big digits (three rows, one under the other).
fn shows_big(screen: &[String], text: &str) -> bool {
    let rows = bignum::lines(text).map(|l| l.to_string().trim().to_string());
    screen.windows(3).any(|w| (0..3).all(|i| w[i].contains(rows[i].as_str())))
}

/// Panels only a request workload has.
const REQUEST_PANELS: [&str; 5] =
    [" service ", "availability per second", "correct replies per second", "p99 latency", "requests"];

/// At 80x24 and at 120x40, `snapshot` shows none of the request panels,
/// its own panel `title` and each of `numbers` in big digits; `more`
/// checks the rest of each screen (and its text, for messages).
fn shows_signal(snapshot: Snapshot, title: &str, numbers: &[&str], more: impl Fn(&[String], &str)) {
    let app = app(snapshot);
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = render(&app, w, h);
        let all = screen.join("\n");
        for panel in REQUEST_PANELS {
            assert!(!has(&screen, panel), "{panel} at {w}x{h}:\n{all}");
        }
        assert!(has(&screen, title), "{all}");
        for number in numbers {
            assert!(shows_big(&screen, number), "{number} at {w}x{h}:\n{all}");
        }
        more(&screen, &all);
    }
}

fn nodes(names: &[&str]) -> Vec<NodeView> {
    names.iter().map(|n| node(n, NodeStatus::Up)).collect()
}

/// A run of a workload without requests: its nodes and its numbers, no service.
fn no_requests(experiment: &str, names: &[&str], signal: Signal) -> Snapshot {
    Snapshot {
        experiment: experiment.into(),
        nodes: nodes(names),
        service: ServiceView { availability_time: 1.0, ..ServiceView::default() },
        tmr: None,
        signal: Some(signal),
        faults: Vec::new(),
        duration_seconds: 60.0,
        ..all_up(20.0)
    }
}

/// Heartbeats: node-3 crashed at 15 s and every other node suspects it.
pub(super) fn heartbeat() -> Snapshot {
    let mut s = no_requests(
        "heartbeat-crash-detection",
        &["node-1", "node-2", "node-3", "node-4", "node-5"],
        Signal::Detection(DetectionView {
            detections: 4,
            false_suspicions: 1,
            detection_p50_seconds: Some(0.61),
            detection_max_seconds: Some(0.64),
            undetected: 0,
            query_accuracy: Some(0.998),
        }),
    );
    s.concept = Some("failure detection — a crashed node is suspected within the timeout".into());
    s.nodes[2].status = NodeStatus::Down;
    s.nodes[2].crashes = 1;
    s.nodes[2].faults = vec!["crash".into()];
    let mut matrix = vec![vec![false; 5]; 5];
    for row in [0, 1, 3, 4] {
        matrix[row][2] = true;
    }
    s.suspicion = Some(matrix);
    s.detector = Some(DetectorView { false_suspicions: 1, detection_seconds: vec![0.61, 0.58, 0.64, 0.60] });
    s.faults = vec![FaultView {
        kind: "crash".into(),
        target: "node-3".into(),
        start: 15.0,
        end: None,
        executed: true,
        manual: false,
    }];
    s.log = vec![
        LogLine { t: 15.0, text: "crash node-3".into() },
        LogLine { t: 15.6, text: "node-1 suspects node-3".into() },
    ];
    s
}

pub(super) fn generals() -> Snapshot {
    no_requests(
        "byzantine-generals-4-agree",
        &["commander-1", "lieutenant-1", "lieutenant-2", "lieutenant-3"],
        Signal::Agreement(AgreementView {
            rounds: 50,
            agreed: 48,
            validity_rounds: 50,
            valid: 47,
            retreats: 2,
            last_loyal: 3,
            last_followed: Some(2),
        }),
    )
}

pub(super) fn commit() -> Snapshot {
    no_requests(
        "two-phase-commit-blocks",
        &["coordinator-1", "participant-1", "participant-2", "participant-3"],
        Signal::Commit(CommitView {
            transactions: 120,
            committed: 97,
            aborted: 21,
            blocked_now: 2,
            max_blocked_seconds: 4.2,
            terminations: 0,
            inconsistent: 0,
        }),
    )
}

pub(super) fn checkpointing() -> Snapshot {
    no_requests(
        "checkpoint-domino",
        &["process-1", "process-2", "process-3", "process-4"],
        Signal::Checkpointing(CheckpointView {
            checkpoints: 36,
            forced: 4,
            rollbacks: 3,
            survivors_rolled_back: 2,
            lost_work_seconds: 1.25,
            orphans: 1,
            logged_messages: 0,
        }),
    )
}

#[test]
fn heartbeat_shows_detections_and_the_matrix_large_and_no_request_charts() {
    shows_signal(heartbeat(), " failure detection ", &["4", "1"], |screen, all| {
        assert!(line_with(screen, "detections").contains("false suspicions"), "{all}");
        // The median is big where there is room, else first among the details.
        let median = shows_big(screen, "610") && has(screen, "median detection, ms");
        assert!(median || has(screen, "median detection 610.0 ms"), "{all}");
        assert!(line_with(screen, "slowest").contains("640.0 ms"));
        assert!(has(screen, "suspicion: row suspects column"), "{all}");
        let row = line_with(screen, "node-1  ╲");
        assert!(row.contains('●'), "node-1 suspects node-3: {row}");
        assert!(has(screen, "crash node-3"), "the timeline or the log");
    });
}

#[test]
fn generals_show_agreement_validity_and_who_followed_large() {
    shows_signal(generals(), " byzantine agreement ", &["48/50", "47/50", "2/3"], |screen, _all| {
        let labels = line_with(screen, "agreement: rounds agreed");
        assert!(labels.contains("validity: rounds obeyed") && labels.contains("last round: loyal obeyed"));
        let details = line_with(screen, "disagreements");
        assert!(
            details.contains("disagreements 2") && details.contains("validity violations 3"),
            "{details}"
        );
    });
}

#[test]
fn commit_shows_blocked_participants_commits_and_aborts_large() {
    shows_signal(commit(), " atomic commit ", &["2", "97", "21"], |screen, _all| {
        let labels = line_with(screen, "participants BLOCKED now");
        assert!(labels.contains("committed") && labels.contains("aborted"));
        assert!(line_with(screen, "longest block").contains("4.20 s"));
    });
}

#[test]
fn checkpointing_shows_rollbacks_lost_work_and_checkpoints_large() {
    shows_signal(checkpointing(), " checkpointing ", &["3", "1.25", "36"], |screen, _all| {
        let labels = line_with(screen, "rollbacks");
        assert!(labels.contains("work lost, s") && labels.contains("checkpoints"), "{labels}");
        assert!(line_with(screen, "survivors rolled back").contains("orphans 1"));
    });
}

#[test]
fn a_request_workload_keeps_its_service_panel_and_charts() {
    let screen = render(&app(all_up(5.0)), 120, 40);
    for panel in [" service ", "availability per second", "correct replies per second 2000", "p99 latency"] {
        assert!(has(&screen, panel), "{panel}:\n{}", screen.join("\n"));
    }
    for signal in ["failure detection", "byzantine agreement", "atomic commit", "checkpointing"] {
        assert!(!has(&screen, signal), "{signal}");
    }
    assert!(line_with(&render(&app(all_up(5.0)), 80, 24), "run so far").contains("100.00 %"));
}
