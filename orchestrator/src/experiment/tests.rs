use super::*;
use faults::{ByzantineMode, DelayDistribution, Direction, LinkScope, MessageFault};
use proptest::prelude::*;

const DESIGN_EXAMPLE: &str = r#"name: tmr-masks-one-crash
concept: k-fault tolerance — 2k+1 replicas mask k crashed or lying replicas
description: >
  Three replicas compute every request; a voter forwards the majority.
  Crash one replica: the service keeps answering. Crash two: it stops.
seed: 42
duration: 30s
backend: auto                    # auto | docker | process
workload:
  kind: tmr
  replicas: 3
  voters: 1
  clients: 1
  rate: 2000/s
  deadline: 50ms                 # a reply later than this counts as a failure
faults:
  - { at: 10s, for: 5s, kind: crash, target: replica-2 }   # restarted after 5 s
  - { at: 18s, for: 4s, kind: omission, target: replica-1, direction: send, probability: 0.3 }
  - { at: 24s, for: 4s, kind: byzantine, target: replica-3, mode: corrupt }
expect:                          # keys are report.json paths
  availability: ">= 0.999"
  requests.wrong: "== 0"
"#;

/// The DESIGN's schedule and target forms (without its `detector:` line).
const FORMS: &str = r#"name: forms
duration: 60s
workload: { kind: tmr }
faults:
  - { at: 5s, kind: crash, target: replica-1 }
  - { at: 5s, for: 2s, kind: pause, target: replica-2 }
  - { every: 10s, for: 1s, kind: crash, target: replica-3 }
  - { every: { mttf: 20s, mttr: 2s, distribution: exponential }, kind: crash,
      target: { role: replica, count: 1, pick: random } }
  - { at: 5s, for: 3s, kind: delay, link: replica-1 -> voter-1,
      distribution: normal, mean: 20ms, stddev: 5ms }
  - { at: 5s, for: 3s, kind: partition, groups: [[replica-1], [replica-2, replica-3, voter-1, client-1]] }
"#;

fn parse(text: &str) -> Result<Experiment, ExperimentError> {
    parse_str(Path::new("exp.yaml"), text)
}

fn ok(text: &str) -> Experiment {
    match parse(text) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

/// A minimal file whose `faults:` list starts on line 6.
fn with_faults(faults: &str) -> String {
    format!("name: t\nduration: 30s\nworkload:\n  kind: tmr\nfaults:\n{faults}")
}

/// Parse, expect an error, and check it points at `needle` on `line`.
fn assert_error_at(text: &str, line: usize, needle: &str, message: &str) {
    let err = match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    };
    let src = text.lines().nth(line - 1).unwrap_or_default();
    let column = src.find(needle).map(|c| c + 1).unwrap_or_else(|| panic!("`{needle}` not on line {line}"));
    assert_eq!((err.line, err.column), (line, column), "wrong place for: {err}");
    assert!(err.message.contains(message), "message `{}` lacks `{message}`", err.message);
    assert!(err.to_string().starts_with(&format!("exp.yaml:{line}:{column}: ")), "{err}");
}

/// Each `(file, line, needle, message)`: the file is refused as
/// [`assert_error_at`] checks.
fn assert_file_errors(cases: &[(&str, usize, &str, &str)]) {
    for &(text, line, needle, message) in cases {
        assert_error_at(text, line, needle, message);
    }
}

/// Each `(fault, line, needle, message)`: a file whose one `faults:` entry is
/// `fault` (see [`with_faults`]) is refused as [`assert_error_at`] checks.
fn assert_fault_errors(cases: &[(&str, usize, &str, &str)]) {
    for &(fault, line, needle, message) in cases {
        assert_error_at(&with_faults(fault), line, needle, message);
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn id(n: u16) -> NodeId {
    NodeId(n)
}

#[test]
fn design_example_parses_into_typed_forms() {
    let e = ok(DESIGN_EXAMPLE);
    assert_eq!(e.name, "tmr-masks-one-crash");
    assert_eq!(e.seed, 42);
    assert_eq!(e.duration, secs(30));
    assert_eq!(e.backend, BackendChoice::Auto);
    assert!(e.description.as_deref().is_some_and(|d| d.starts_with("Three replicas")));
    let Workload::Tmr(p) = &e.workload else { panic!("a TMR workload") };
    assert_eq!((p.replicas, p.voters, p.clients), (3, 1, 1));
    assert_eq!(p.rate, 2000.0);
    assert_eq!(p.deadline, Duration::from_millis(50));
    assert_eq!(p.vote_timeout, Duration::from_millis(25));
    assert_eq!(p.gap_timeout, Duration::from_millis(20));
    let names: Vec<&str> = e.topology.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["replica-1", "replica-2", "replica-3", "voter-1", "client-1"]);
    assert_eq!(e.faults.len(), 3);
    assert_eq!(e.faults[0].kind, FaultKind::Crash);
    assert_eq!(e.faults[0].line, 17);
    assert_eq!(e.faults[0].schedule, Schedule::Once { at: secs(10), length: Some(secs(5)) });
    assert_eq!(e.faults[0].selection, Selection::Nodes(vec![id(1)]));
    assert_eq!(e.faults[1].params, FaultParams::Omission { direction: Direction::Send, probability: 0.3 });
    assert_eq!(e.faults[2].params, FaultParams::Byzantine { mode: ByzantineMode::Corrupt, conspiracy: None });
    assert_eq!(e.expect.len(), 2);
    assert_eq!(e.expect[0].metric, "availability");
    assert_eq!(e.expect[0].op, CmpOp::Ge);
    assert_eq!(e.expect[1].metric, "requests.wrong");
    assert!(e.expect[1].holds(Some(0.0)) && !e.expect[1].holds(Some(1.0)) && !e.expect[1].holds(None));
    assert_eq!(e.availability_model(), None);
}

#[test]
fn design_schedule_and_target_forms_parse() {
    let e = ok(FORMS);
    assert_eq!(e.faults[0].schedule, Schedule::Once { at: secs(5), length: None });
    assert_eq!(
        e.faults[2].schedule,
        Schedule::Periodic { first: secs(10), period: secs(10), length: Some(secs(1)) }
    );
    assert_eq!(
        e.faults[3].schedule,
        Schedule::Random { first: Duration::ZERO, mttf: secs(20), mttr: secs(2), law: Lifetime::Exponential }
    );
    assert_eq!(e.faults[3].selection, Selection::Random { candidates: vec![id(0), id(1), id(2)], count: 1 });
    assert_eq!(e.faults[4].selection, Selection::Link { from: id(0), to: id(3) });
    assert_eq!(e.faults[4].target, "replica-1 -> voter-1");
    assert_eq!(
        e.faults[4].params,
        FaultParams::Delay {
            distribution: DelayDistribution::Normal {
                mean: Duration::from_millis(20),
                stddev: Duration::from_millis(5)
            },
            reorder: false
        }
    );
    assert_eq!(
        e.faults[5].selection,
        Selection::Groups { groups: vec![vec![id(0)], vec![id(1), id(2), id(3), id(4)]], one_way: false }
    );
    let model = e.availability_model().unwrap();
    assert!((model - 20.0 / 22.0).abs() < 1e-12);
}

#[test]
fn unknown_key_names_its_place_and_the_expected_ones() {
    let text = with_faults("  - { at: 10s, kind: omission, target: replica-1, probabilty: 0.3 }\n");
    assert_error_at(&text, 6, "probabilty", "unknown field `probabilty`, expected one of `at`, `for`");
    let text = "name: t\nduraton: 30s\nworkload: { kind: tmr }\n";
    assert_error_at(text, 2, "duraton", "unknown field `duraton`");
}

#[test]
fn wrong_type_is_located() {
    let text = "name: t\nduration: 30s\nworkload:\n  kind: tmr\n  replicas: three\n";
    assert_error_at(text, 5, "three", "invalid type: string \"three\", expected usize");
}

#[test]
fn bad_duration_says_what_a_duration_looks_like() {
    let text = "name: t\nduration: soon\nworkload: { kind: tmr }\n";
    assert_error_at(text, 2, "soon", "`soon` is not a duration");
    assert_error_at(text, 2, "soon", "expected a duration like 250ms, 30s or 2m");
    let text = with_faults("  - { at: 10s, for: a while, kind: crash, target: replica-1 }\n");
    assert_error_at(&text, 6, "a while", "`a while` is not a duration");
}

#[test]
fn missing_required_fields_are_named() {
    let err = parse("name: t\nworkload: { kind: tmr }\n").unwrap_err();
    assert!(err.message.contains("missing field `duration`"), "{err}");
    let err = parse("duration: 30s\nworkload: { kind: tmr }\n").unwrap_err();
    assert!(err.message.contains("missing field `name`"), "{err}");
}

#[test]
fn unknown_target_lists_the_nodes() {
    assert_fault_errors(&[
        (
            "  - { at: 10s, kind: crash, target: replica-4 }\n",
            6,
            "replica-4",
            "unknown node `replica-4`; the nodes are replica-1, replica-2",
        ),
        (
            "  - at: 10s\n    kind: crash\n    target: { role: sequencer }\n",
            8,
            "sequencer",
            "unknown role `sequencer`",
        ),
        (
            "  - { at: 10s, kind: crash, target: { role: replica, count: 4 } }\n",
            6,
            "4 }",
            "count must be between 1 and 3",
        ),
    ]);
}

#[test]
fn probability_outside_zero_one_is_located() {
    let text = with_faults("  - { at: 10s, kind: omission, target: replica-1, probability: 1.5 }\n");
    assert_error_at(&text, 6, "1.5", "probability must be between 0 and 1; got 1.5");
}

#[test]
fn start_beyond_the_run_is_located() {
    assert_fault_errors(&[
        (
            "  - kind: crash\n    target: replica-1\n    at: 45s\n",
            8,
            "45s",
            "outside the run (duration: 30s)",
        ),
        ("  - { every: 40s, for: 1s, kind: crash, target: replica-1 }\n", 6, "40s", "outside the run"),
    ]);
}

#[test]
fn bad_expect_condition_is_located() {
    assert_file_errors(&[
        (
            "name: t\nduration: 30s\nworkload: { kind: tmr }\nexpect:\n  availability: \"at least 0.99\"\n",
            5,
            "\"at least",
            "`at least 0.99` is not a condition",
        ),
        (
            "name: t\nduration: 30s\nworkload: { kind: tmr }\nexpect:\n  availabilty: \">= 0.99\"\n",
            5,
            "availabilty",
            "unknown metric `availabilty`",
        ),
        (
            "name: t\nduration: 30s\nworkload: { kind: tmr }\nexpect:\n  nodes.replica2.crashes: \"== 1\"\n",
            5,
            "nodes.replica2",
            "no node named `replica2`",
        ),
    ]);
    let text =
        "name: t\nduration: 30s\nworkload: { kind: tmr }\nexpect:\n  nodes.replica-2.crashes: \"== 1\"\n";
    assert_eq!(parse(text).unwrap().expect.len(), 1);
}

#[test]
fn workload_shape_errors_are_located() {
    assert_file_errors(&[
        (
            "name: t\nduration: 30s\nworkload:\n  kind: tmr\n  voters: 2\n",
            5,
            "2",
            "voters must be 1 or 3; got 2",
        ),
        ("name: t\nduration: 30s\nworkload:\n  kind: tmr\n  replicas: 4\n", 5, "4", "replicas must be odd"),
        (
            "name: t\nduration: 30s\nworkload:\n  kind: tmr\n  clients: 2\n",
            5,
            "2",
            "several clients need a sequencer, not supported yet",
        ),
        ("name: t\nduration: 30s\nworkload:\n  kind: tmr\n  rate: fast\n", 5, "fast", "`fast` is not a rate"),
        (
            "name: t\nduration: 30s\nworkload:\n  kind: mapreduce\n",
            4,
            "mapreduce",
            "unknown variant `mapreduce`, expected one of `tmr`",
        ),
        (
            "name: t\nduration: 30s\nworkload:\n  kind: tmr\n  deadline: 10ms\n  vote_timeout: 20ms\n",
            6,
            "20ms",
            "must not exceed the deadline",
        ),
    ]);
}

#[test]
fn misplaced_and_unsupported_fields_are_located() {
    assert_fault_errors(&[
        (
            "  - { at: 10s, kind: crash, target: replica-1, probability: 0.5 }\n",
            6,
            "probability",
            "`probability` does not apply to `crash`",
        ),
        (
            "  - { at: 10s, for: 1s, kind: restart, target: replica-1 }\n",
            6,
            "for",
            "`for` does not apply to `restart`",
        ),
        (
            "  - { at: 10s, kind: slow, target: replica-1, delay: 5ms, reorder: true }\n",
            6,
            "reorder",
            "`reorder` does not apply to `slow`",
        ),
        ("  - { at: 10s, kind: slow, target: replica-1 }\n", 6, "{", "`distribution: fixed` needs `delay`"),
        (
            "  - { at: 10s, kind: byzantine, target: replica-1, mode: corrupt, impersonate: replica-2 }\n",
            6,
            "impersonate",
            "`impersonate` applies to `mode: forge` only",
        ),
        (
            "  - { at: 10s, kind: clock_skew, target: replica-1, probability: 0.5 }\n",
            6,
            "probability",
            "`probability` does not apply to `clock_skew`",
        ),
        (
            "  - { at: 10s, kind: slow, link: replica-1 -> voter-1, delay: 5ms }\n",
            6,
            "link",
            "`link` does not apply to `slow`",
        ),
        (
            "  - { at: 10s, kind: delay, target: replica-1, distribution: fixed, min: 1ms }\n",
            6,
            "min",
            "`min` does not apply to `distribution: fixed`",
        ),
        (
            "  - { at: 10s, kind: delay, target: replica-1, distribution: uniform, min: 1ms }\n",
            6,
            "uniform",
            "needs `min` and `max` (missing `max`)",
        ),
        (
            "  - { kind: crash, target: replica-1 }\n",
            6,
            "{",
            "a fault needs `at` (once) or `every` (repeated)",
        ),
        ("  - { every: 10s, kind: crash, target: replica-1 }\n", 6, "10s", "a fixed `every` needs `for`"),
    ]);
    let text = "name: t\nduration: 30s\nworkload: { kind: tmr }\ndetector: { kind: phi-accrual }\n";
    assert_error_at(
        text,
        4,
        "detector",
        "`detector` applies to the heartbeat, primary-backup, multicast, paxos and multi-paxos workloads only",
    );
}

#[test]
fn links_and_partitions_check_their_nodes() {
    assert_fault_errors(&[
        (
            "  - { at: 10s, kind: delay, link: replica-1 -> voter-9, delay: 5ms }\n",
            6,
            "replica-1 ->",
            "unknown node `voter-9`",
        ),
        (
            "  - at: 10s\n    kind: partition\n    groups: [[replica-1], [replica-2, replica-1]]\n",
            8,
            "replica-1]]",
            "`replica-1` appears in the partition twice",
        ),
        (
            "  - at: 10s\n    kind: partition\n    groups:\n      - [replica-1]\n      - [voter-7]\n",
            10,
            "voter-7",
            "unknown node `voter-7`",
        ),
        (
            "  - { at: 10s, kind: crash, link: replica-1 -> voter-1 }\n",
            6,
            "link",
            "`link` does not apply to `crash`",
        ),
    ]);
}

#[test]
fn syntax_errors_are_located() {
    let err = parse("name: t\nduration: 30s\nworkload: { kind: tmr\n").unwrap_err();
    assert!(err.line >= 3, "{err}");
    // An empty file lacks everything: the error is about the file, not a place in it.
    let err = parse("").unwrap_err();
    assert!(err.to_string().starts_with("exp.yaml: "), "{err}");
}

#[test]
fn file_level_errors_name_the_file_without_a_position() {
    let err = parse("name: t\nworkload: { kind: tmr }\n").unwrap_err();
    assert_eq!(err.to_string(), "exp.yaml: missing field `duration`");
    assert!(!err.to_string().contains(":0"), "{err}");
}

/// A valid file, then `depth` levels of nesting under a key serde skips over.
fn nested(depth: usize, flow: bool) -> String {
    let head = "name: t\nduration: 30s\nworkload: { kind: tmr }\ndescription: ";
    if flow {
        format!("{head}{}{}\n", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{head}\n  {}x\n", "- ".repeat(depth))
    }
}

#[test]
fn deep_nesting_is_refused_before_serde_reads_it() {
    // 100,000 levels (200 KB): serde_yaml alone spends minutes on this.
    for flow in [true, false] {
        let text = nested(100_000, flow);
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nested deeper than 64 levels"), "{err}");
        assert_eq!(err.line, if flow { 4 } else { 5 }, "{err}");
        assert!(err.to_string().starts_with(&format!("exp.yaml:{}:", err.line)), "{err}");
    }
    // Within the budget, the depth itself is no error (the type is: a list is no description).
    let err = parse(&nested(yaml::MAX_DEPTH - 1, true)).unwrap_err();
    assert!(!err.message.contains("nested deeper"), "{err}");
    let err = parse(&nested(yaml::MAX_DEPTH, true)).unwrap_err();
    assert!(err.message.contains("nested deeper"), "{err}");
}

#[test]
fn oversized_files_are_refused_whole() {
    let filler = format!("# {}\n", "x".repeat(1000)).repeat(yaml::MAX_FILE_BYTES / 1000 + 1);
    let text = format!("name: t\nduration: 30s\nworkload: {{ kind: tmr }}\n{filler}");
    let err = parse(&text).unwrap_err();
    assert!(err.to_string().starts_with("exp.yaml: the file is "), "{err}");
    assert!(err.message.contains("over the limit of 1048576 bytes"), "{err}");
    let path = std::env::temp_dir().join(format!("faultlab-oversized-{}.yaml", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let err = load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.message.contains(&format!("the file is {} bytes", text.len())), "{err}");
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let e = ok("\u{feff}name: t\nduration: 30s\nworkload: { kind: tmr }\n");
    assert_eq!(e.name, "t");
    // Errors then point where an editor shows them (the mark takes no column).
    assert_error_at(
        "\u{feff}name: t\nduration: soon\nworkload: { kind: tmr }\n",
        2,
        "soon",
        "not a duration",
    );
    assert_error_at(
        "\u{feff}name: t\nduration: 1s\nworkload: { kind: tmr, replica: 3 }\n",
        3,
        "replica",
        "unknown field",
    );
}

#[test]
fn load_reports_text_that_is_not_utf8() {
    let path = std::env::temp_dir().join(format!("faultlab-latin1-{}.yaml", std::process::id()));
    std::fs::write(&path, b"name: caf\xe9\nduration: 1s\nworkload: { kind: tmr }\n").unwrap();
    let err = load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.to_string().contains(": the file is not UTF-8 text (byte 9 is not)"), "{err}");
}

#[test]
fn once_schedules_give_one_occurrence() {
    let e = ok(&with_faults(
        "  - { at: 10s, for: 5s, kind: crash, target: replica-2 }\n  - { at: 3s, kind: isolate, target: voter-1 }\n",
    ));
    let (occ, skipped) = e.occurrences(e.seed, e.duration);
    assert!(skipped.is_empty());
    assert_eq!(occ.len(), 2);
    // Sorted by start: the isolate (3s) first.
    assert_eq!(occ[0].fault, 1);
    assert_eq!((occ[0].start, occ[0].end), (secs(3), None));
    assert_eq!(occ[0].action, Action::Isolate(vec![id(3)]));
    assert_eq!((occ[1].start, occ[1].end), (secs(10), Some(secs(15))));
    assert_eq!(occ[1].action, Action::Crash(vec![id(1)]));
}

#[test]
fn fixed_period_repeats_until_the_run_ends() {
    let e = ok(&with_faults(
        "  - { every: 10s, for: 1s, kind: pause, target: replica-1 }\n  - { at: 2s, every: 12s, for: 1s, kind: silence, target: replica-3 }\n",
    ));
    let (occ, _) = e.occurrences(0, secs(30));
    let pauses: Vec<_> = occ.iter().filter(|o| o.fault == 0).map(|o| (o.start, o.end)).collect();
    assert_eq!(pauses, [(secs(10), Some(secs(11))), (secs(20), Some(secs(21)))]);
    let silences: Vec<_> = occ.iter().filter(|o| o.fault == 1).map(|o| o.start).collect();
    assert_eq!(silences, [secs(2), secs(14), secs(26)]);
    assert_eq!(occ[0].action, Action::Message(vec![(id(2), MessageFault::Silence)]));
    assert!(occ.windows(2).all(|w| w[0].start <= w[1].start));
}

#[test]
fn random_schedule_alternates_up_and_down_from_the_seed() {
    let e = ok("name: t\nduration: 10m\nworkload: { kind: tmr }\nfaults:\n  - { every: { mttf: 20s, mttr: 2s }, kind: crash, target: { role: replica, count: 1, pick: random } }\n");
    let (occ, skipped) = e.occurrences(5, e.duration);
    assert!(skipped.is_empty());
    // About 600 / 22 ≈ 27 failures; allow wide slack for randomness.
    assert!((10..60).contains(&occ.len()), "{} occurrences", occ.len());
    let mut prev_end = Duration::ZERO;
    let mut down = Duration::ZERO;
    let mut picked = std::collections::BTreeSet::new();
    for o in &occ {
        let end = o.end.unwrap();
        assert!(o.start >= prev_end && end >= o.start && o.start < e.duration);
        down += end - o.start;
        prev_end = end;
        let Action::Crash(nodes) = &o.action else { panic!("{:?}", o.action) };
        assert_eq!(nodes.len(), 1);
        assert!(nodes[0].0 < 3, "picked a non-replica: {nodes:?}");
        picked.insert(nodes[0]);
    }
    assert!(picked.len() > 1, "random pick never varied");
    let mean_down = down.as_secs_f64() / occ.len() as f64;
    assert!((0.5..6.0).contains(&mean_down), "mean down time {mean_down}");
}

#[test]
fn weibull_schedule_parses_and_expands() {
    let e = ok("name: t\nduration: 5m\nworkload: { kind: tmr }\nfaults:\n  - { every: { mttf: 10s, mttr: 1s, distribution: weibull, shape: 2 }, kind: pause, target: replica-1 }\n");
    assert_eq!(e.availability_model(), Some(10.0 / 11.0));
    let (occ, _) = e.occurrences(1, e.duration);
    assert!(occ.len() > 10, "{}", occ.len());
    assert!(occ.iter().all(|o| o.action == Action::Pause(vec![id(0)])));
}

#[test]
fn expansion_is_deterministic_for_a_seed() {
    let e = ok(FORMS);
    let random_starts = |seed| {
        let (occ, skipped) = e.occurrences(seed, secs(60));
        assert!(skipped.is_empty(), "a random schedule with no draw inside the run is not skipped");
        occ.iter().filter(|o| o.fault == 3).map(|o| (o.start, o.end)).collect::<Vec<_>>()
    };
    for seed in 0..20 {
        assert_eq!(e.occurrences(seed, secs(60)).0, e.occurrences(seed, secs(60)).0);
    }
    let draws: std::collections::BTreeSet<_> = (0..20).map(random_starts).collect();
    assert!(draws.len() > 10, "different seeds should draw different random times");
}

#[test]
fn faults_starting_after_a_shorter_run_are_skipped() {
    let e = ok(DESIGN_EXAMPLE);
    let (occ, skipped) = e.occurrences(e.seed, secs(20));
    assert_eq!(occ.len(), 2);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].index, 2);
    assert_eq!(skipped[0].kind, FaultKind::Byzantine);
}

#[test]
fn link_rules_sit_on_the_right_node() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: omission, link: replica-1 -> voter-1, direction: send, probability: 0.5 }\n",
        "  - { at: 2s, for: 1s, kind: omission, link: replica-1 -> voter-1, direction: receive }\n",
        "  - { at: 3s, for: 1s, kind: delay, link: replica-2 -> voter-1, distribution: uniform, min: 1ms, max: 9ms, reorder: true }\n",
    )));
    let (occ, _) = e.occurrences(0, e.duration);
    assert_eq!(
        occ[0].action,
        Action::Message(vec![(
            id(0),
            MessageFault::Omission {
                direction: Direction::Send,
                probability: 0.5,
                links: LinkScope::Peers(vec![id(3)])
            }
        )])
    );
    assert_eq!(
        occ[1].action,
        Action::Message(vec![(
            id(3),
            MessageFault::Omission {
                direction: Direction::Receive,
                probability: 1.0,
                links: LinkScope::Peers(vec![id(0)])
            }
        )])
    );
    assert_eq!(
        occ[2].action,
        Action::Message(vec![(
            id(1),
            MessageFault::Delay {
                distribution: DelayDistribution::Uniform {
                    min: Duration::from_millis(1),
                    max: Duration::from_millis(9)
                },
                reorder: true,
                links: LinkScope::Peers(vec![id(3)])
            }
        )])
    );
}

#[test]
fn partitions_cut_the_other_groups() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: partition, groups: [[replica-1], [replica-2, voter-1]] }\n",
        "  - { at: 2s, for: 1s, kind: partition, one_way: true, groups: [[replica-1], [replica-2, voter-1]] }\n",
    )));
    let (occ, _) = e.occurrences(0, e.duration);
    let cut =
        |c: Vec<u16>, one_way| MessageFault::Partition { cut: c.into_iter().map(NodeId).collect(), one_way };
    assert_eq!(
        occ[0].action,
        Action::Message(vec![
            (id(0), cut(vec![1, 3], false)),
            (id(1), cut(vec![0], false)),
            (id(3), cut(vec![0], false))
        ])
    );
    assert_eq!(occ[1].action, Action::Message(vec![(id(0), cut(vec![1, 3], true))]));
}

#[test]
fn colluders_share_a_key_and_corrupters_do_not() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: byzantine, target: { role: replica, count: 2 }, mode: corrupt }\n",
        "  - { at: 2s, for: 1s, kind: byzantine, target: { role: replica, count: 2 }, mode: collude }\n",
    )));
    let keys = |o: &Occurrence| -> Vec<u64> {
        let Action::Message(rules) = &o.action else { panic!() };
        rules
            .iter()
            .map(|(_, r)| match r {
                MessageFault::Byzantine { key, links: LinkScope::All, .. } => *key,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let (occ, _) = e.occurrences(3, e.duration);
    let corrupt = keys(&occ[0]);
    let collude = keys(&occ[1]);
    assert_eq!(corrupt.len(), 2);
    assert_ne!(corrupt[0], corrupt[1]);
    assert_eq!(collude.len(), 2);
    assert_eq!(collude[0], collude[1]);
    // The key follows the seed.
    let (other, _) = e.occurrences(4, e.duration);
    assert_ne!(keys(&other[1]), collude);
}

#[test]
fn colluders_of_separate_entries_share_one_key_unless_they_name_separate_conspiracies() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: byzantine, target: replica-1, mode: collude }\n",
        "  - { at: 1s, for: 1s, kind: byzantine, target: replica-2, mode: collude }\n",
        "  - { at: 2s, for: 1s, kind: byzantine, target: replica-1, mode: collude, conspiracy: red }\n",
        "  - { at: 2s, for: 1s, kind: byzantine, target: replica-2, mode: collude, conspiracy: blue }\n",
        "  - { at: 2s, for: 1s, kind: byzantine, target: replica-3, mode: collude, conspiracy: red }\n",
    )));
    let key = |o: &Occurrence| -> u64 {
        let Action::Message(rules) = &o.action else { panic!() };
        match &rules[0].1 {
            MessageFault::Byzantine { key, .. } => *key,
            other => panic!("{other:?}"),
        }
    };
    let (occ, _) = e.occurrences(3, e.duration);
    let keys: Vec<u64> = occ.iter().map(key).collect();
    assert_eq!(keys[0], keys[1], "two unnamed colluders tell one lie");
    assert_eq!(keys[2], keys[4], "one conspiracy, one key");
    assert_ne!(keys[2], keys[3], "separate conspiracies lie differently");
    assert_ne!(keys[0], keys[2]);
    let bad =
        with_faults("  - { at: 1s, kind: byzantine, target: replica-1, mode: corrupt, conspiracy: red }\n");
    assert_error_at(&bad, 6, "conspiracy", "`conspiracy` applies to `mode: collude` only");
}

#[test]
fn every_file_in_the_library_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("yaml") {
            continue;
        }
        let e = load(&path).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            Some(e.name.as_str()),
            path.file_stem().and_then(|s| s.to_str()),
            "name differs from file"
        );
        assert!(
            e.concept.is_some() && e.description.is_some(),
            "{}: concept and description",
            path.display()
        );
        assert!(!e.expect.is_empty(), "{}: no expect", path.display());
        let (occ, skipped) = e.occurrences(e.seed, e.duration);
        assert!(!occ.is_empty() && skipped.is_empty(), "{}", path.display());
        count += 1;
    }
    assert!(count >= 3, "only {count} experiment files");
}

#[test]
fn load_reports_a_missing_file() {
    let err = load(Path::new("/nonexistent/x.yaml")).unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/x.yaml: cannot read the file"), "{err}");
    assert!(err.message.contains("cannot read"), "{err}");
}

/// Mutations of a valid file: cut it, swap characters, insert YAML punctuation.
fn mutated() -> impl Strategy<Value = String> {
    let base = FORMS.to_string() + "expect:\n  availability: \">= 0.9\"\n";
    let len = base.len();
    (
        0..len,
        0..len,
        prop::sample::select(vec![
            "", "{", "}", "[", "]", ":", "- ", "\n", " ", "'", "\"", "*a", "&a ", "->", "0", "-1", "1e999",
            "~", "!!", "\t",
        ]),
        0u8..4,
    )
        .prop_map(move |(a, b, ins, how)| {
            let (a, b) = (a.min(b), a.max(b));
            let cut = |i: usize| (0..=i).rev().find(|j| base.is_char_boundary(*j)).unwrap_or(0);
            let (a, b) = (cut(a), cut(b));
            match how {
                0 => base[..a].to_string(),
                1 => format!("{}{}{}", &base[..a], ins, &base[a..]),
                2 => format!("{}{}", &base[..a], &base[b..]),
                _ => format!("{}{}{}", &base[..a], ins, &base[b..]),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_same_seed_gives_the_same_schedule(seed in any::<u64>(), mttf in 100u64..5_000, count in 1usize..=3) {
        let e = ok(&random_file(mttf, count));
        let (a, _) = e.occurrences(seed, e.duration);
        prop_assert_eq!(&a, &e.occurrences(seed, e.duration).0);
        prop_assert!(a.windows(2).all(|w| w[0].start <= w[1].start), "sorted by start");
        for plan in 0..3 {
            let mine: Vec<&Occurrence> = a.iter().filter(|o| o.fault == plan).collect();
            prop_assert!(mine.iter().all(|o| o.start < e.duration));
            // One plan's occurrences never overlap: each ends before the next starts.
            prop_assert!(mine.windows(2).all(|w| w[0].end.is_some_and(|end| end <= w[1].start)));
        }
        for o in a.iter().filter(|o| o.fault == 0) {
            let Action::Crash(nodes) = &o.action else { panic!("{:?}", o.action) };
            prop_assert_eq!(nodes.len(), count);
            prop_assert!(nodes.iter().all(|n| n.0 < 3), "only replicas are picked");
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "[ -~\n\t]{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_mutated_files(text in mutated()) {
        if let Ok(e) = parse(&text) {
            let _ = e.occurrences(e.seed, e.duration);
        }
    }
}

#[test]
fn new_kinds_expand_into_their_rules() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: slow, target: replica-1, distribution: pareto, scale: 2ms, shape: 1.5 }\n",
        "  - { at: 2s, for: 1s, kind: clock_skew, target: replica-2, offset: -250ms, drift: 0.01 }\n",
        "  - { at: 3s, for: 1s, kind: duplicate, target: voter-1, probability: 0.2 }\n",
        "  - { at: 4s, for: 1s, kind: duplicate, link: replica-1 -> voter-1 }\n",
        "  - { at: 5s, for: 1s, kind: byzantine, target: replica-3, mode: equivocate }\n",
        "  - { at: 6s, for: 1s, kind: byzantine, target: replica-3, mode: stale }\n",
        "  - { at: 7s, for: 1s, kind: delay, target: replica-1, distribution: normal, mean: 20ms, stddev: 5ms }\n",
    )));
    let (occ, _) = e.occurrences(0, e.duration);
    let rules: Vec<Vec<(NodeId, MessageFault)>> = occ
        .iter()
        .map(|o| match &o.action {
            Action::Message(r) => r.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let pareto = DelayDistribution::Pareto { scale: Duration::from_millis(2), shape: 1.5 };
    assert_eq!(rules[0], vec![(id(0), MessageFault::Slow { distribution: pareto })]);
    assert_eq!(rules[1], vec![(id(1), MessageFault::ClockSkew { offset_nanos: -250_000_000, drift: 0.01 })]);
    assert_eq!(rules[2], vec![(id(3), MessageFault::Duplicate { probability: 0.2, links: LinkScope::All })]);
    // Duplication is received: it sits on the link's receiving end.
    assert_eq!(
        rules[3],
        vec![(id(3), MessageFault::Duplicate { probability: 1.0, links: LinkScope::Peers(vec![id(0)]) })]
    );
    assert!(matches!(
        rules[4][..],
        [(n, MessageFault::Byzantine { mode: ByzantineMode::Equivocate, .. })] if n == id(2)
    ));
    assert!(
        matches!(rules[5][..], [(n, MessageFault::Byzantine { mode: ByzantineMode::Stale, .. })] if n == id(2))
    );
    assert!(matches!(
        &rules[6][..],
        [(n, MessageFault::Delay { distribution: DelayDistribution::Normal { .. }, reorder: false, .. })] if *n == id(0)
    ));
    assert_eq!(
        occ.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>()[..3],
        ["slow", "clock_skew", "duplicate"]
    );
}

#[test]
fn forgeries_are_carried_out_by_the_receivers() {
    let e = ok(&with_faults(concat!(
        "  - { at: 1s, for: 1s, kind: byzantine, target: replica-3, mode: forge }\n",
        "  - { at: 2s, for: 1s, kind: byzantine, target: replica-3, mode: forge, impersonate: replica-2 }\n",
        "  - { at: 3s, for: 1s, kind: byzantine, link: replica-1 -> voter-1, mode: forge }\n",
    )));
    let (occ, _) = e.occurrences(0, e.duration);
    let forge = |claimed: u16| MessageFault::Forge { liar: id(2), claimed: id(claimed) };
    // replica-3 claims to be the next replica, replica-1, to everyone else.
    assert_eq!(occ[0].action, Action::Message(vec![(id(1), forge(0)), (id(3), forge(0)), (id(4), forge(0))]));
    assert_eq!(occ[1].action, Action::Message(vec![(id(0), forge(1)), (id(3), forge(1)), (id(4), forge(1))]));
    assert_eq!(
        occ[2].action,
        Action::Message(vec![(id(3), MessageFault::Forge { liar: id(0), claimed: id(1) })])
    );
}

#[test]
fn new_kinds_check_their_parameters_where_written() {
    assert_fault_errors(&[
        (
            "  - { at: 1s, kind: duplicate, target: replica-1, probability: 1.5 }\n",
            6,
            "1.5",
            "probability must be between 0 and 1; got 1.5",
        ),
        (
            "  - { at: 1s, kind: clock_skew, target: replica-1, drift: -2 }\n",
            6,
            "-2",
            "drift must be between -0.99",
        ),
        ("  - { at: 1s, kind: clock_skew, target: replica-1 }\n", 6, "{", "`clock_skew` needs `offset`"),
        ("  - { at: 1s, kind: clock_skew, target: replica-1, offset: soon }\n", 6, "soon", "not an offset"),
        // voter-1 has no peer of its role to pass for.
        (
            "  - { at: 1s, kind: byzantine, target: voter-1, mode: forge }\n",
            6,
            "{",
            "`mode: forge` needs `impersonate`",
        ),
        (
            "  - { at: 1s, kind: byzantine, target: replica-1, mode: forge, impersonate: replica-1 }\n",
            6,
            "replica-1 }",
            "cannot forge messages as itself",
        ),
        (
            "  - { at: 1s, kind: byzantine, target: replica-1, mode: forge, impersonate: voter-9 }\n",
            6,
            "voter-9",
            "unknown node `voter-9`",
        ),
    ]);
}

#[test]
fn contradictory_faults_name_both_lines() {
    let text = with_faults(concat!(
        "  - { at: 5s, for: 10s, kind: crash, target: replica-1 }\n",
        "  - { at: 8s, for: 2s, kind: crash, target: replica-1 }\n",
    ));
    assert_error_at(
        &text,
        7,
        "{",
        "this crash of replica-1 at 8s contradicts the crash of replica-1 on line 6 (from 5s to 15s)",
    );
    let text = with_faults(concat!(
        "  - { at: 5s, kind: crash, target: replica-2 }\n",
        "  - { at: 1s, kind: restart, target: voter-1 }\n",
        "  - { at: 20s, for: 1s, kind: pause, target: { role: replica, count: 2 } }\n",
    ));
    assert_error_at(&text, 8, "{", "a node cannot be paused while it is crashed");
    let err = parse(&text).unwrap_err();
    assert!(err.message.contains("line 6 (from 5s for good)"), "{err}");
    // A periodic pause whose third occurrence meets a restart.
    let text = with_faults(concat!(
        "  - { every: 10s, for: 2s, kind: pause, target: replica-3 }\n",
        "  - { at: 21s, kind: restart, target: replica-3 }\n",
    ));
    assert_error_at(&text, 7, "{", "cannot be restarted while it is down or frozen");
    // Simultaneous, in either file order.
    let text = with_faults(concat!(
        "  - { at: 5s, for: 1s, kind: pause, target: replica-1 }\n",
        "  - { at: 5s, for: 1s, kind: crash, target: replica-1 }\n",
    ));
    assert!(parse(&text).unwrap_err().message.contains("paused while it is crashed"));
    // A liar crashed while it lies, in either order, and a restart in its window.
    let text = with_faults(concat!(
        "  - { at: 5s, for: 10s, kind: byzantine, target: replica-2, mode: corrupt }\n",
        "  - { at: 8s, for: 2s, kind: crash, target: replica-2 }\n",
    ));
    assert_error_at(
        &text,
        7,
        "{",
        "this crash of replica-2 at 8s contradicts the byzantine of replica-2 on line 6",
    );
    assert!(parse(&text).unwrap_err().message.contains("a crashed node sends nothing, so it cannot lie"));
    let text = with_faults(concat!(
        "  - { at: 5s, for: 10s, kind: crash, target: replica-3 }\n",
        "  - { at: 12s, for: 5s, kind: byzantine, target: replica-3 }\n",
    ));
    assert_error_at(
        &text,
        7,
        "{",
        "this byzantine of replica-3 at 12s contradicts the crash of replica-3 on line 6",
    );
    let text = with_faults(concat!(
        "  - { every: 10s, for: 3s, kind: byzantine, target: replica-1 }\n",
        "  - { at: 21s, kind: restart, target: replica-1 }\n",
    ));
    assert_error_at(&text, 7, "{", "cannot lie");
    // A liar and a crash on different nodes, or one after the other: fine.
    ok(&with_faults(concat!(
        "  - { at: 5s, for: 10s, kind: byzantine, target: replica-1 }\n",
        "  - { at: 5s, for: 10s, kind: crash, target: replica-2 }\n",
        "  - { at: 15s, for: 5s, kind: crash, target: replica-1 }\n",
        "  - { at: 20s, for: 5s, kind: byzantine, target: replica-1 }\n",
    )));
    // Back to back, on other nodes, a crash of a frozen node, random picks: all fine.
    ok(&with_faults(concat!(
        "  - { at: 5s, for: 5s, kind: crash, target: replica-1 }\n",
        "  - { at: 10s, for: 5s, kind: crash, target: replica-1 }\n",
        "  - { at: 5s, for: 5s, kind: crash, target: replica-2 }\n",
        "  - { at: 20s, for: 5s, kind: pause, target: replica-3 }\n",
        "  - { at: 22s, for: 1s, kind: crash, target: replica-3 }\n",
        "  - { at: 6s, for: 5s, kind: crash, target: { role: replica, count: 1, pick: random } }\n",
        "  - { at: 6s, for: 5s, kind: omission, target: replica-1 }\n",
    )));
}

#[test]
fn live_faults_are_checked_and_start_at_the_injection_time() {
    let e = ok(DESIGN_EXAMPLE);
    let spec = |text: &str| -> faults::spec::FaultSpec { serde_yaml::from_str(text).unwrap() };
    // No time: now, for as long as asked.
    let occ = e.live_occurrences(&spec("{ kind: crash, target: replica-1, for: 2s }"), secs(12), 7).unwrap();
    assert_eq!(occ.len(), 1);
    assert_eq!((occ[0].start, occ[0].end, occ[0].fault), (secs(12), Some(secs(14)), 7));
    assert_eq!(occ[0].action, Action::Crash(vec![id(0)]));
    // `at` counts from now; a period repeats until the run ends (30 s).
    let occ = e
        .live_occurrences(
            &spec("{ at: 1s, every: 5s, for: 1s, kind: pause, target: replica-2 }"),
            secs(10),
            8,
        )
        .unwrap();
    assert_eq!(occ.iter().map(|o| o.start).collect::<Vec<_>>(), vec![secs(11), secs(16), secs(21), secs(26)]);
    // Random draws repeat for the same index.
    let random =
        spec("{ every: { mttf: 2s, mttr: 1s }, kind: crash, target: { role: replica, pick: random } }");
    assert_eq!(e.live_occurrences(&random, secs(1), 9), e.live_occurrences(&random, secs(1), 9));
    // The same rules as in a file, as plain text.
    let err = e.live_occurrences(&spec("{ kind: crash, target: replica-7 }"), secs(1), 9).unwrap_err();
    assert!(err.starts_with("unknown node `replica-7`; the nodes are replica-1"), "{err}");
    let err = e.live_occurrences(&spec("{ kind: omission, target: replica-1, probability: 2 }"), secs(1), 9);
    assert!(err.unwrap_err().contains("between 0 and 1"));
    let err =
        e.live_occurrences(&spec("{ at: 25s, kind: crash, target: replica-1 }"), secs(10), 9).unwrap_err();
    assert!(err.contains("outside the run"), "{err}");
    let err = e.live_occurrences(&spec("{ kind: crash, target: replica-1 }"), secs(30), 9).unwrap_err();
    assert!(err.contains("the run is over"), "{err}");
}

#[test]
fn the_dashboards_x_key_isolates_the_selected_node_alone() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let e = ok(DESIGN_EXAMPLE);
    let nodes = e
        .topology
        .nodes
        .iter()
        .map(|n| tui::snapshot::NodeView { name: n.name.clone(), ..Default::default() })
        .collect();
    let mut app = tui::App::new(std::sync::Arc::new(tui::Snapshot { nodes, ..Default::default() }));
    for c in ['j', 'j', 'x'] {
        let cmd = app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        if let Some(tui::Command::Inject(spec)) = cmd {
            // Accepted as a fault injected by hand, on replica-3 only, for 10 s.
            let plan = e.live_plan(&spec, secs(12), 7).unwrap();
            assert_eq!((plan.kind, plan.target.as_str()), (FaultKind::Isolate, "replica-3"));
            let occ = e.live_occurrences(&spec, secs(12), 7).unwrap();
            assert_eq!(occ.len(), 1);
            assert_eq!(occ[0].action, Action::Isolate(vec![id(2)]));
            assert_eq!((occ[0].start, occ[0].end), (secs(12), Some(secs(22))));
            return;
        }
    }
    panic!("x injected nothing");
}

/// A file with random schedules and random picks, for the determinism property.
fn random_file(mttf_ms: u64, count: usize) -> String {
    with_faults(&format!(
        concat!(
            "  - {{ every: {{ mttf: {m}ms, mttr: 300ms }}, kind: crash, target: {{ role: replica, count: {c}, pick: random }} }}\n",
            "  - {{ every: {{ mttf: {m}ms, mttr: 200ms, distribution: weibull, shape: 1.5 }}, kind: pause, target: voter-1 }}\n",
            "  - {{ every: 2s, for: 1s, kind: omission, target: {{ role: replica, count: 1, pick: random }}, probability: 0.5 }}\n",
        ),
        m = mttf_ms,
        c = count
    ))
}

#[test]
fn detector_sections_are_checked_per_kind() {
    use workloads::DetectorKind;
    let base = "name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 3 }\n";
    let e = ok(&format!("{base}detector: {{ kind: phi-accrual, interval: 50ms }}\n"));
    let Workload::Heartbeat(p) = &e.workload else { panic!("a heartbeat workload") };
    assert_eq!(p.nodes, 3);
    assert_eq!(p.detector.interval, Duration::from_millis(50));
    // Akka's defaults.
    assert_eq!(
        p.detector.kind,
        DetectorKind::PhiAccrual {
            threshold: 8.0,
            window: 1000,
            min_std_dev: Duration::from_millis(100),
            acceptable_pause: Duration::from_secs(3)
        }
    );
    assert_error_at(
        &format!("{base}detector: {{ kind: fixed, alpha: 5ms }}\n"),
        4,
        "alpha",
        "`alpha` does not apply to `kind: fixed`",
    );
    assert_error_at(
        &format!("{base}detector: {{ kind: fixed, interval: 100ms, timeout: 100ms }}\n"),
        4,
        "100ms }",
        "must exceed the heartbeat interval",
    );
    let pb = ok("name: t\nduration: 30s\nworkload: { kind: primary-backup, replicas: 2 }\n");
    assert!(matches!(pb.workload, Workload::PrimaryBackup(ref p) if p.replicas == 2));
    assert_eq!(pb.topology.nodes.len(), 3);
}

#[test]
fn limits_name_the_count_and_give_their_reason() {
    let text = "name: t\nduration: 30s\nworkload:\n  kind: tmr\n  replicas: 99999\n";
    assert_error_at(text, 5, "99999", "this makes 100001 nodes, over the limit of 128: the process backend");
    let text = "name: t\nduration: 30s\nbackend: docker\nworkload: { kind: tmr, replicas: 31 }\n";
    ok(text);
    assert_file_errors(&[
        ("name: t\nduration: 30s\nbackend: docker\nworkload: { kind: tmr, replicas: 33 }\n", 4, "33", "this makes 35 nodes, over the limit of 33: the docker backend"),
        ("name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 130 }\ndetector: { kind: fixed, interval: 2s, timeout: 6s }\n", 3, "130", "this makes 130 nodes, over the limit of 128"),
        ("name: t\nduration: 30s\nworkload:\n  kind: tmr\n  rate: 100000000/s\n", 5, "100000000/s", "100000000/s is over the limit of 10000/s: one client agent"),
    ]);
    ok("name: t\nduration: 30s\nworkload: { kind: tmr, rate: 10k/s }\n");
    let text = "name: t\nduration: 30s\nworkload: { kind: primary-backup, rate: 20k/s }\n";
    assert_error_at(text, 3, "20k/s", "over the limit of 10000/s");
}

#[test]
fn heartbeat_groups_are_bounded_by_their_traffic_not_a_fixed_count() {
    // 64 nodes every 100 ms: 40,320 heartbeats/s.
    let text = "name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 64 }\n";
    assert_error_at(
        text,
        3,
        "64",
        "64 nodes heartbeating every 100ms send 40320 heartbeats/s, over the limit",
    );
    // The same group every 500 ms (8,064/s) runs, and so do 32 nodes at the default (9,920/s).
    let e = ok("name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 64 }\ndetector: { kind: fixed, interval: 500ms, timeout: 2s }\n");
    assert_eq!(e.topology.nodes.len(), 64);
    ok("name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 32 }\n");
    assert_file_errors(&[
        (
            "name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 33 }\n",
            3,
            "33",
            "send 10560 heartbeats/s, over the limit of 10000/s",
        ),
        (
            "name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 1 }\n",
            3,
            "1 }",
            "nodes must be 2 or more",
        ),
    ]);
}

/// The fuzz target's seed corpus, also run here on the stable toolchain:
/// each seed, then deterministic mutations of it (bounded by count).
#[test]
fn seed_corpus_and_its_mutations_parse_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/parse_experiment");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "{} seeds in {}", seeds.len(), dir.display());
    let marks =
        ["", "{", "}", "[", "]", ":", "- ", "\n", "  ", "'", "\"", "*a", "&a ", "!!", "\t", "\u{feff}", "~"];
    let mut state = 7u64;
    let mut rejected = 0;
    for path in &seeds {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let whole = load(path);
        match name.as_str() {
            "overlap" => assert!(whole.unwrap_err().message.contains("cannot lie")),
            "deep" => assert!(whole.unwrap_err().message.contains("nested deeper")),
            _ => {
                if let Err(e) = whole {
                    panic!("seed {name} should load: {e}");
                }
            }
        }
        for _ in 0..150 {
            let mut next = || {
                state = workloads::seed::splitmix64(state);
                state
            };
            let cut =
                |i: usize| (0..=i.min(text.len())).rev().find(|j| text.is_char_boundary(*j)).unwrap_or(0);
            let a = cut(next() as usize % (text.len() + 1));
            let b = cut(next() as usize % (text.len() + 1));
            let (a, b) = (a.min(b), a.max(b));
            let mark = marks[next() as usize % marks.len()];
            let mutant = match next() % 4 {
                0 => text[..a].to_string(),
                1 => format!("{}{mark}{}", &text[..a], &text[a..]),
                2 => format!("{}{}", &text[..a], &text[b..]),
                _ => format!("{}{mark}{}", &text[..a], &text[b..]),
            };
            match parse(&mutant) {
                Ok(e) => {
                    let _ = e.occurrences(e.seed, e.duration);
                }
                Err(e) => {
                    rejected += 1;
                    assert!(!e.to_string().contains(":0:"), "{e}");
                }
            }
        }
    }
    assert!(rejected > 0, "mutations that break a file are rejected");
}

#[test]
fn a_key_of_another_workload_is_refused_where_it_is_and_says_whose_it_is() {
    assert_file_errors(&[
        ("name: t\nduration: 30s\nworkload:\n  kind: byzantine-agreement\n  generals: 4\n  voters: 3\n", 6, "voters", "`voters` is a key of the tmr workload, not of `byzantine-agreement`"),
        ("name: t\nduration: 30s\nworkload: { kind: heartbeat, nodes: 3, rate: 5/s }\n", 3, "rate", "`rate` is a key of the tmr, rpc, primary-backup, echo, multicast, external and multi-paxos workloads, not of `heartbeat`"),
        ("name: t\nduration: 30s\nworkload: { kind: tmr, protocol: 2pc }\n", 3, "protocol", "not of `tmr` (which takes `replicas`"),
        // A key no workload has is refused as unknown, still where it is.
        ("name: t\nduration: 30s\nworkload:\n  kind: rpc\n  semantics: at-most-once\n  retires: 3\n", 6, "retires", "unknown field `retires`"),
        // A value of the wrong kind of the workload's own key.
        ("name: t\nduration: 30s\nworkload:\n  kind: commit\n  protocol: coordinated\n", 5, "coordinated", "unknown variant `coordinated`, expected `2pc` or `3pc`"),
    ]);
}

#[test]
fn network_sets_the_sim_backend_s_latencies_and_restart_time_per_link_and_both_ways() {
    use driver::sim::Latency;
    let text = "name: t\nduration: 5s\nbackend: sim\nworkload: { kind: tmr }\nnetwork:\n  latency: { distribution: exponential, mean: 2ms }\n  restart_time: 300ms\n  links:\n    - { from: client-1, to: voter-1, latency: { distribution: fixed, value: 5ms } }\n    - { from: voter-1, to: replica-1, one_way: true, latency: { distribution: normal, mean: 1ms, stddev: 100us } }\n";
    let e = parse(text).unwrap();
    let n = &e.network;
    assert_eq!(n.latency, Latency::Exponential { mean: Duration::from_millis(2) });
    assert_eq!(n.restart_time, Duration::from_millis(300));
    let id = |name: &str| e.topology.by_name(name).unwrap().id;
    let fixed = Latency::Fixed { value: Duration::from_millis(5) };
    assert_eq!(n.links.get(&(id("client-1"), id("voter-1"))), Some(&fixed));
    assert_eq!(n.links.get(&(id("voter-1"), id("client-1"))), Some(&fixed), "both ways unless one_way");
    assert!(n.links.contains_key(&(id("voter-1"), id("replica-1"))));
    assert!(!n.links.contains_key(&(id("replica-1"), id("voter-1"))), "one_way");
    // Without `network:`, the measured defaults.
    let d = parse("name: t\nduration: 5s\nworkload: { kind: tmr }\n").unwrap();
    assert_eq!(d.network, driver::sim::Network::default());
}

#[test]
fn a_bad_network_names_the_place_and_what_was_expected() {
    let base = "name: t\nduration: 5s\nworkload: { kind: tmr }\nnetwork:\n";
    assert_error_at(
        &format!("{base}  links:\n    - {{ from: client-1, to: voter-9, latency: {{ distribution: fixed, value: 1ms }} }}\n"),
        6,
        "voter-9",
        "no node is named `voter-9`",
    );
    let err = parse(&format!("{base}  latency: {{ distribution: gamma, mean: 1ms }}\n")).unwrap_err();
    assert_eq!(err.line, 5, "{err}");
    assert!(err.message.contains("gamma") && err.message.contains("fixed"), "{err}");
    let err = parse(&format!("{base}  latency: {{ distribution: normal, mean: 1ms }}\n")).unwrap_err();
    assert!(err.message.contains("stddev"), "{err}");
    assert_error_at(&format!("{base}  jitter: 1ms\n"), 5, "jitter", "unknown field `jitter`");
}

#[test]
fn host_limits_on_rate_and_heartbeat_traffic_do_not_bind_a_simulated_file() {
    let fast = "name: t\nduration: 5s\nBACKEND\nworkload: { kind: tmr, rate: 50000/s }\n";
    assert!(parse(&fast.replace("BACKEND", "backend: process")).is_err());
    assert!(parse(&fast.replace("BACKEND", "backend: sim")).is_ok());
    let mesh = "name: t\nduration: 5s\nBACKEND\nworkload: { kind: heartbeat, nodes: 200 }\ndetector: { kind: fixed, interval: 100ms, timeout: 500ms }\n";
    assert!(parse(&mesh.replace("BACKEND", "backend: process")).is_err());
    assert_eq!(parse(&mesh.replace("BACKEND", "backend: sim")).unwrap().topology.nodes.len(), 200);
}

#[test]
fn placement_names_nodes_and_becomes_swarm_constraints() {
    let e = ok("name: t\nduration: 10s\nworkload: { kind: tmr }\nplacement:\n  replica-1: zone=a\n  voter-1: [node.role==manager, disk=ssd]\n");
    assert_eq!(
        e.placement.get(&e.topology.by_name("replica-1").unwrap().id).unwrap(),
        &["node.labels.zone==a"]
    );
    assert_eq!(
        e.placement.get(&e.topology.by_name("voter-1").unwrap().id).unwrap(),
        &["node.role==manager", "node.labels.disk==ssd"]
    );
    assert_eq!(e.placement.len(), 2, "nodes not named have no constraint");
    assert!(ok("name: t\nduration: 10s\nworkload: { kind: tmr }\n").placement.is_empty());
}

#[test]
fn placement_of_an_unknown_node_or_a_bad_constraint_is_located() {
    let text = "name: t\nduration: 10s\nworkload: { kind: tmr }\nplacement:\n  replica-9: zone=a\n";
    assert_error_at(text, 5, "replica-9", "no node is named `replica-9`; the nodes are replica-1");
    let text = "name: t\nduration: 10s\nworkload: { kind: tmr }\nplacement:\n  replica-1: zone\n";
    assert_error_at(text, 5, "zone", "expected `key=value` or `node.<attribute>==value`");
}

#[test]
fn checkpoints_and_logging_compose_a_checkpointing_protocol_or_say_why_not() {
    use crate::workload::Workload;
    use workloads::checkpoint::Protocol;
    let protocol = |body: &str| -> Protocol {
        let e = ok(&format!("name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n{body}"));
        match e.workload {
            Workload::Checkpointing(p) => p.config.protocol,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(protocol("  checkpoints: koo-toueg\n"), Protocol::KooToueg);
    assert_eq!(protocol("  checkpoints: cic\n  logging: none\n"), Protocol::Cic);
    assert_eq!(
        protocol("  logging: causal\n"),
        Protocol::CausalLogging,
        "independent checkpoints by default"
    );
    assert_eq!(
        protocol("  checkpoints: independent\n  logging: pessimistic\n"),
        Protocol::PessimisticLogging
    );
    assert_eq!(
        protocol("  protocol: optimistic-logging\n"),
        Protocol::OptimisticLogging,
        "`protocol:` still works"
    );
    assert_eq!(protocol("  protocol: causal-logging\n"), Protocol::CausalLogging);
    // Logging makes every local checkpoint a consistent restart point: coordinating them is pointless.
    let text = "name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n  checkpoints: coordinated\n  logging: causal\n";
    assert_error_at(text, 6, "causal", "`checkpoints: coordinated` with `logging: causal` makes no sense");
    let text = "name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n  logging: pessimistic\n  checkpoints: koo-toueg\n";
    assert_error_at(text, 5, "pessimistic", "need no coordination");
    let text = "name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n  protocol: independent\n  logging: causal\n";
    assert_error_at(text, 6, "logging", "not both");
    let text = "name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n  logging: causall\n";
    assert_error_at(text, 5, "causall", "unknown variant `causall`");
    let text = "name: t\nduration: 5s\nworkload:\n  kind: checkpointing\n";
    assert_error_at(text, 4, "checkpointing", "needs `checkpoints:");
}
