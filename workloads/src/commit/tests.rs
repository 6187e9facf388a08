//! The participant driven message by message (the protocols on the
//! simulator are in tests/commit.rs).

use super::*;
use crate::Observation;

const COORD: NodeId = NodeId(0);

fn config(protocol: Protocol) -> Config {
    Config::small(protocol)
}

#[test]
fn three_phase_termination_commits_when_someone_is_precommitted() {
    let c = config(Protocol::ThreePhase);
    let mut p = Participant::new(NodeId(1), &c);
    let mut out = Effects::new();
    let t = Time::from_millis(0);
    p.on_message(t, COORD, Msg::VoteRequest { txn: 7 }, &mut out);
    out.clear();
    // Timeout: participant 1 has rank 0, so it leads and asks the others.
    p.on_timer(Time::from_millis(500), TimerId(7 << 1), &mut out);
    assert_eq!(out.sends.iter().filter(|(_, m)| matches!(m, Msg::StateRequest { txn: 7 })).count(), 2);
    out.clear();
    p.on_message(t, NodeId(2), Msg::StateReply { txn: 7, state: State::PreCommit }, &mut out);
    p.on_message(t, NodeId(3), Msg::StateReply { txn: 7, state: State::Ready }, &mut out);
    p.on_timer(Time::from_millis(750), TimerId(7 << 1 | 1), &mut out);
    assert!(out.sends.contains(&(NodeId(3), Msg::PreCommit { txn: 7 })));
    assert!(out.sends.contains(&(NodeId(2), Msg::Decision { txn: 7, commit: true })));
    assert!(out
        .observations
        .contains(&Observation::Commit(CommitEvent::Terminated { txn: 7, commit: true })));
}

#[test]
fn a_participant_that_never_saw_the_vote_request_aborts_and_votes_no() {
    let c = config(Protocol::TwoPhase);
    let mut p = Participant::new(NodeId(2), &c);
    let mut out = Effects::new();
    let t = Time::from_millis(0);
    p.on_message(t, NodeId(1), Msg::DecisionRequest { txn: 4 }, &mut out);
    assert_eq!(out.sends, vec![(NodeId(1), Msg::Decision { txn: 4, commit: false })]);
    out.clear();
    p.on_message(t, COORD, Msg::VoteRequest { txn: 4 }, &mut out);
    assert_eq!(out.sends, vec![(COORD, Msg::Vote { txn: 4, commit: false })]);
}
