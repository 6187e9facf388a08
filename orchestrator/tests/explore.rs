//! `faultlab explore` on the experiments it supports: OM(1) with three
//! generals and one traitor is broken with a shortest trace, with four it is
//! checked exhaustively and holds; 2PC blocks after a coordinator crash and
//! 3PC does not; at-least-once RPC executes a call twice after a lost reply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

mod common;

fn explore(file: &str, out: &std::path::Path, extra: &[&str]) -> Output {
    common::faultlab()
        .arg("explore")
        .arg(common::library().join(file))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn om1_with_three_generals_breaks_validity_with_a_six_step_trace() {
    let dir = tempfile::tempdir().unwrap();
    let res = explore("byzantine-generals-3-cannot.yaml", dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("violation: validity broken in instance 1"), "{stdout}");
    assert!(stdout.contains("(traitor: lieutenant-2)"), "{stdout}");
    // The message sequence, numbered, with the traitor's lie marked.
    assert!(stdout.contains("  5. lieutenant-2 → lieutenant-1: Order"), "{stdout}");
    assert!(stdout.contains("[lie: "), "{stdout}");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("trace.json")).unwrap()).unwrap();
    assert_eq!(trace["verdict"], "violation");
    let steps = trace["found"]["trace"].as_array().unwrap();
    // The order, its two deliveries, the loyal relay, the lie, the decision.
    assert_eq!(steps.len(), 6, "{trace}");
    assert_eq!(steps[0]["choice"]["kind"], "timer");
    assert_eq!(steps[5]["choice"]["kind"], "timer");
    assert_eq!(steps[5]["observations"][0][1]["Agreement"]["Decided"]["value"], 0, "the default order");
    assert_eq!(trace["nodes"][2], "lieutenant-2");
    // The same trace as a Lamport diagram: four deliveries, one of them a lie, and two timers.
    let html = std::fs::read_to_string(dir.path().join("explore.html")).unwrap();
    assert_eq!(html.matches(r#"class="msg"#).count(), 4, "four deliveries");
    assert_eq!(html.matches(r#"class="msg lie""#).count(), 1, "one lie");
    assert_eq!(html.matches(r#"class="timer""#).count(), 2);
    assert!(html.contains("validity broken in instance 1") && html.contains(">lieutenant-2<"), "{html}");
}

#[test]
fn om1_with_four_generals_holds_in_every_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let res = explore("byzantine-generals-4-agree.yaml", dir.path(), &["--strategy", "dfs"]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no violation within bounds"), "{stdout}");
    assert!(stdout.contains("every reachable state checked"), "{stdout}");
    assert!(!dir.path().join("trace.json").exists());
}

#[test]
fn bounds_are_reported_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let res = explore("byzantine-generals-4-agree.yaml", dir.path(), &["--states", "100"]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no violation within bounds: 100 states"), "{stdout}");
    assert!(stdout.contains("stopped at the state bound (100)"), "{stdout}");
    let res = explore("no-such-file.yaml", dir.path(), &[]);
    assert_eq!(res.status.code(), Some(2));
    let res = explore("heartbeat-crash-detection.yaml", dir.path(), &[]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("does not support workload `heartbeat`"));
    let res = explore("byzantine-generals-3-cannot.yaml", dir.path(), &["--strategy", "sideways"]);
    assert_eq!(res.status.code(), Some(2));
}

#[test]
fn two_phase_commit_blocks_after_a_coordinator_crash_and_three_phase_commit_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let res = explore("two-phase-commit-blocks.yaml", dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("finding: participant-1 is blocked in transaction 1"), "{stdout}");
    assert!(stdout.contains("coordinator-1 crashes"), "{stdout}");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("trace.json")).unwrap()).unwrap();
    assert_eq!(trace["verdict"], "finding");
    assert_eq!(trace["found"]["finding"]["kind"], "reached");
    // The order, three vote requests, the crash, three timeouts asking six
    // peers, and the second timeout of participant-1.
    assert_eq!(trace["found"]["trace"].as_array().unwrap().len(), 15, "{trace}");

    let res = explore("three-phase-commit-does-not-block.yaml", dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("every reachable state checked"), "{stdout}");
}

#[test]
fn at_least_once_executes_a_call_twice_after_a_lost_reply() {
    let dir = tempfile::tempdir().unwrap();
    let res = explore("rpc-at-least-once-duplicates.yaml", dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("violation: call 0 executed 2 times (at-least-once"), "{stdout}");
    assert!(stdout.contains("  3. server-1 → client-1: Reply"), "{stdout}");
    assert!(stdout.contains("[dropped]"), "{stdout}");
    // Without a lost message the timeout never beats the reply.
    let res = explore("rpc-at-least-once-duplicates.yaml", dir.path(), &["--drops", "0"]);
    assert_eq!(res.status.code(), Some(0), "{}", String::from_utf8_lossy(&res.stdout));
    // At-most-once filters the retry, even with the server crashing.
    let res = explore("rpc-at-most-once-filters.yaml", dir.path(), &[]);
    assert_eq!(res.status.code(), Some(0), "{}", String::from_utf8_lossy(&res.stdout));
}

/// Run explore on an experiment file written into `dir`.
fn explore_text(dir: &std::path::Path, text: &str, extra: &[&str]) -> Output {
    let file = dir.join("x.yaml");
    std::fs::write(&file, text).unwrap();
    common::faultlab()
        .arg("explore")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_acceptor_that_forgets_its_promise_lets_two_values_be_chosen_and_paxos_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let paxos = "name: p\nseed: 1\nduration: 5s\nbackend: sim\n\
                 workload: { kind: paxos, proposers: 2, acceptors: 3, leader: none, interval: 200ms, retry: 30ms";
    let walks = ["--strategy", "random", "--seed", "1", "--depth", "30", "--time", "20s"];
    let res = explore_text(dir.path(), &format!("{paxos}, bugs: [acceptor-forgets-promise] }}\n"), &walks);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("violation: agreement broken in instance 1"), "{stdout}");
    assert!(stdout.contains("saw 1001 chosen") && stdout.contains("saw 1002 chosen"), "{stdout}");
    // Both values accepted: the chart draws every step.
    let html = std::fs::read_to_string(dir.path().join("out/explore.html")).unwrap();
    assert!(html.matches(r#"class="msg"#).count() >= 12, "the rounds' messages are drawn");
    // The same walks over Paxos as written find nothing.
    let dir = tempfile::tempdir().unwrap();
    let walks = ["--strategy", "random", "--seed", "1", "--depth", "30", "--time", "2s"];
    let res = explore_text(dir.path(), &format!("{paxos} }}\n"), &walks);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no violation within bounds"), "{stdout}");
}

/// Replay the trace explore wrote into `dir`, from another working directory.
fn replay(dir: &std::path::Path) -> Output {
    common::faultlab()
        .current_dir(std::env::temp_dir())
        .args(["run", "--replay"])
        .arg(dir.join("trace.json"))
        .arg("--out")
        .arg(dir.join("replay"))
        .output()
        .unwrap()
}

/// The line that says what was found (`violation: ...` or `finding: ...`).
fn verdict_line(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("violation: ") || l.starts_with("finding: "))
        .unwrap_or_else(|| panic!("no verdict in {stdout}"))
        .to_string()
}

#[test]
fn replay_reproduces_each_kind_of_trace_explore_finds() {
    // A lie (OM(1)), a crash and timers (2PC), a drop (RPC), and a search
    // option the replay must take from the trace (--max-delay).
    let cases: [(&str, &[&str]); 4] = [
        ("byzantine-generals-3-cannot.yaml", &[]),
        ("two-phase-commit-blocks.yaml", &[]),
        ("rpc-at-least-once-duplicates.yaml", &[]),
        ("rpc-at-least-once-duplicates.yaml", &["--max-delay", "40ms"]),
    ];
    for (file, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        let found = explore(file, dir.path(), extra);
        let found_out = String::from_utf8_lossy(&found.stdout);
        assert_eq!(found.status.code(), Some(1), "{found_out}");
        let res = replay(dir.path());
        let stdout = String::from_utf8_lossy(&res.stdout);
        assert_eq!(res.status.code(), Some(1), "{file}: {stdout}{}", String::from_utf8_lossy(&res.stderr));
        assert_eq!(verdict_line(&stdout), verdict_line(&found_out), "{file}");
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("trace.json")).unwrap()).unwrap();
        let steps = trace["found"]["trace"].as_array().unwrap().len();
        assert!(stdout.contains(&format!("after {steps} steps, as the search found")), "{stdout}");
        // The steps are printed again as found, observations and all (the
        // steps and observations are the lines indented by three or more).
        let listed =
            |s: &str| s.lines().filter(|l| l.starts_with("   ")).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(listed(&stdout).len(), listed(&found_out).len(), "{file}");
        assert!(listed(&stdout).len() >= steps, "{stdout}");
        assert_eq!(listed(&stdout), listed(&found_out), "{file}");
        assert!(dir.path().join("replay/explore.html").exists());
    }
}

#[test]
fn replay_refuses_a_trace_that_is_not_the_experiments_and_at_most_once_survives_the_duplicate_trace() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(explore("rpc-at-least-once-duplicates.yaml", dir.path(), &[]).status.code(), Some(1));
    let path = dir.path().join("trace.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // The same trace on the at-most-once file: the retry is filtered, so the
    // trace runs to its end without a duplicate execution.
    let amo = common::library().join("rpc-at-most-once-filters.yaml");
    let amo_trace = dir.path().join("amo");
    std::fs::create_dir_all(&amo_trace).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["experiment"] = serde_json::json!(amo);
    std::fs::write(amo_trace.join("trace.json"), doc.to_string()).unwrap();
    let res = replay(&amo_trace);
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Filtered { seq: 0, attempt: 1 }"), "{stdout}");
    assert!(stdout.contains("no violation: the invariant holds along all 5 steps"), "{stdout}");
    // A tampered step: a message nobody sent.
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["found"]["trace"][1]["choice"]["from"] = serde_json::json!(7);
    std::fs::write(&path, doc.to_string()).unwrap();
    let res = replay(dir.path());
    assert_eq!(res.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("step 2 (") && stderr.contains("is not among the"), "{stderr}");
    // Not a trace at all.
    std::fs::write(&path, "{\"nodes\": []}").unwrap();
    let res = replay(dir.path());
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("not a trace explore wrote"));
}

#[test]
fn a_voter_that_trusts_the_first_reply_passes_on_one_liars_answer_and_tmr_does_not() {
    // TMR as the library runs it: any one replica may lie (k = 1 of 3).
    let library = std::fs::read_to_string(common::library().join("tmr-byzantine-outvoted.yaml")).unwrap();
    let buggy =
        library.replace("  deadline: 50ms\n", "  deadline: 50ms\n  bugs: [voter-trusts-first-reply]\n");
    assert_ne!(buggy, library);
    let dir = tempfile::tempdir().unwrap();
    let res = explore_text(dir.path(), &buggy, &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("violation: client-1 got a wrong answer to request 1 with 1 liar(s) among the replicas, at most 1 tolerated"),
        "{stdout}"
    );
    // The shortest trace: the request reaches a replica, its lie reaches
    // the voter first, the voter passes it on.
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/trace.json")).unwrap()).unwrap();
    let steps = trace["found"]["trace"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{trace}");
    assert_ne!(steps[1]["choice"]["lie"], "truth", "{trace}");
    assert!(stdout.contains("  3. voter-1 → client-1: Output"), "{stdout}");
    // Replayed, the same answer is wrong again.
    let res = replay(&dir.path().join("out"));
    let replayed = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{replayed}");
    assert_eq!(verdict_line(&replayed), verdict_line(&stdout));
    // TMR as written: every order of the messages, with any one liar, and
    // the client never gets a wrong answer.
    let dir = tempfile::tempdir().unwrap();
    let res = explore_text(dir.path(), &library, &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("every reachable state checked"), "{stdout}");
    // An unknown bug is refused, with the names it could be.
    let res = explore_text(
        dir.path(),
        &library.replace("  deadline: 50ms\n", "  deadline: 50ms\n  bugs: [voter-trusts-everyone]\n"),
        &[],
    );
    assert_eq!(res.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        stderr.contains("voter-trusts-everyone") && stderr.contains("voter-trusts-first-reply"),
        "{stderr}"
    );
}

#[test]
fn a_participant_that_presumes_commit_breaks_atomicity_and_2pc_as_written_does_not() {
    let library = std::fs::read_to_string(common::library().join("two-phase-commit-blocks.yaml")).unwrap();
    let buggy =
        library.replace("  protocol: 2pc\n", "  protocol: 2pc\n  bugs: [participant-presumes-commit]\n");
    assert_ne!(buggy, library);
    // One lost vote: the coordinator's vote timeout aborts, while a
    // participant's own timeout commits.
    let dir = tempfile::tempdir().unwrap();
    let res = explore_text(dir.path(), &buggy, &["--drops", "1"]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("violation: atomicity broken in transaction 1"), "{stdout}");
    assert!(stdout.contains("[dropped]"), "{stdout}");
    let res = replay(&dir.path().join("out"));
    let replayed = String::from_utf8_lossy(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{replayed}");
    assert_eq!(verdict_line(&replayed), verdict_line(&stdout));
    // As written, the same lost vote leaves no one committed while another aborts.
    let dir = tempfile::tempdir().unwrap();
    let res = explore_text(dir.path(), &library, &["--drops", "1"]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(!stdout.contains("violation:"), "{stdout}");
}
