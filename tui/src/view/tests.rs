//! Snapshot tests: draw a scripted run into `TestBackend` and read the screen as text.

mod signal;

use super::draw;
use crate::snapshot::{
    FaultView, LogLine, NodeStatus, NodeView, RunState, ServiceView, Snapshot, TmrView, LATENCY_BUCKETS,
};
use crate::state::{App, Command};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faults::spec::TargetSpec;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use std::sync::Arc;

/// The buffer as lines of text, trailing blanks trimmed.
pub(crate) fn text(buffer: &Buffer) -> Vec<String> {
    let width = usize::from(buffer.area.width);
    buffer
        .content()
        .chunks(width.max(1))
        .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>().trim_end().to_string())
        .collect()
}

/// Draw `app` at `width` × `height` and return the screen.
fn render(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    text(terminal.backend().buffer())
}

/// The line holding `needle`, or a failure that prints the screen.
fn line_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
    screen
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
}

fn has(screen: &[String], needle: &str) -> bool {
    screen.iter().any(|l| l.contains(needle))
}

fn node(name: &str, status: NodeStatus) -> NodeView {
    NodeView {
        name: name.into(),
        role: name.split('-').next().unwrap().into(),
        status,
        messages_sent: 12_000,
        messages_received: 11_900,
        ..NodeView::default()
    }
}

/// A TMR run at `t` seconds with every node up and a perfect service.
fn all_up(t: f64) -> Snapshot {
    let seconds = t as usize;
    Snapshot {
        experiment: "tmr-masks-one-crash".into(),
        concept: Some("k-fault tolerance — 2k+1 replicas mask k crashed or lying replicas".into()),
        backend: "process".into(),
        seed: 42,
        run_state: RunState::Running,
        elapsed_seconds: t,
        duration_seconds: 30.0,
        nodes: ["replica-1", "replica-2", "replica-3", "voter-1", "client-1"]
            .iter()
            .map(|n| node(n, NodeStatus::Up))
            .collect(),
        service: ServiceView {
            requests_total: 2000 * seconds as u64,
            requests_ok: 2000 * seconds as u64,
            availability: Some(1.0),
            availability_recent: Some(1.0),
            availability_time: 1.0,
            latency_p50_seconds: Some(0.0008),
            latency_p99_seconds: Some(0.0031),
            latency_buckets: vec![0; LATENCY_BUCKETS.len()],
            throughput: vec![2000; seconds],
            latency_p99_us: vec![3100; seconds],
            availability_permille: vec![1000; seconds],
            ..ServiceView::default()
        },
        tmr: Some(TmrView { unanimous: 2000 * seconds as u64, ..TmrView::default() }),
        faults: vec![FaultView {
            kind: "crash".into(),
            target: "replica-2".into(),
            start: 10.0,
            end: Some(15.0),
            executed: false,
            manual: false,
        }],
        log: vec![LogLine { t: 0.4, text: "all 5 agents up (process backend)".into() }],
        ..Snapshot::default()
    }
}

/// replica-2 crashed at 10 s; the voter masks it.
fn crashed(t: f64) -> Snapshot {
    let mut s = all_up(t);
    s.nodes[1].status = NodeStatus::Down;
    s.nodes[1].crashes = 1;
    s.nodes[1].faults = vec!["crash".into()];
    s.faults[0].executed = true;
    s.faults[0].end = None;
    s.tmr = Some(TmrView { unanimous: 20_000, majority: 2_000 * (t as u64 - 10), ..TmrView::default() });
    s.log.push(LogLine { t: 10.0, text: "crash replica-2".into() });
    s
}

/// replica-2 back after a 5 s crash with a 0.42 s recovery.
fn recovered(t: f64) -> Snapshot {
    let mut s = crashed(t);
    s.nodes[1].status = NodeStatus::Up;
    s.nodes[1].faults.clear();
    s.faults[0].end = Some(15.0);
    s.service.recovery_last_seconds = Some(0.42);
    s.service.recovery_p95_seconds = Some(0.42);
    s.service.recovery_seconds = vec![0.42];
    s.service.failures = 1;
    s.service.mttr_seconds = Some(0.42);
    s.service.mttf_seconds = Some(15.6);
    s.tmr.as_mut().unwrap().state_transfers = 1;
    s.log.push(LogLine { t: 15.0, text: "restart replica-2".into() });
    s.log.push(LogLine { t: 15.4, text: "replica-2 recovered in 0.42 s (state transfer)".into() });
    s
}

/// Two replicas down: the voter has no majority and the service fails.
fn outage(t: f64) -> Snapshot {
    let mut s = crashed(t);
    s.nodes[2].status = NodeStatus::Down;
    s.service.in_outage = true;
    s.service.availability = Some(0.9312);
    s.service.availability_recent = Some(0.41);
    s.service.requests_failed = 3000;
    s.service.availability_permille.extend([1000, 400, 0]);
    s.faults.push(FaultView {
        kind: "crash".into(),
        target: "replica-3".into(),
        start: t - 1.5,
        end: None,
        executed: true,
        manual: true,
    });
    s
}

/// A heartbeat detector: voter-1 suspects the paused replica-2.
fn suspicious(t: f64) -> Snapshot {
    let mut s = all_up(t);
    s.nodes[1].status = NodeStatus::Paused;
    let n = s.nodes.len();
    let mut matrix = vec![vec![false; n]; n];
    matrix[3][1] = true;
    s.suspicion = Some(matrix);
    s
}

fn app(s: Snapshot) -> App {
    App::new(Arc::new(s))
}

#[test]
fn all_up_shows_every_node_up_and_the_essentials_at_80x24() {
    let screen = render(&app(all_up(5.0)), 80, 24);
    assert!(line_with(&screen, "faultlab").contains("tmr-masks-one-crash"));
    assert!(line_with(&screen, "RUNNING").contains("5.0 s / 30 s"));
    assert!(line_with(&screen, "RUNNING").contains("process · seed 42"));
    for name in ["replica-1", "replica-2", "replica-3", "voter-1", "client-1"] {
        assert!(line_with(&screen, name).contains(" up "), "{name}");
    }
    assert!(line_with(&screen, "run so far").contains("100.00 %"));
    assert!(line_with(&screen, "TMR").contains("unanimous 10.0k"));
    assert!(has(&screen, " faults "), "the timeline is shown");
    assert!(line_with(&screen, "crash replica-2").contains('░'), "a planned crash is dim");
    assert!(screen[23].starts_with("? help  q quit"));
    assert!(!has(&screen, "OUTAGE"));
}

#[test]
fn a_crashed_replica_is_down_on_the_timeline_and_the_service_stays_available() {
    let mut app = app(crashed(12.0));
    app.selected = 1;
    let screen = render(&app, 80, 24);
    let row = line_with(&screen, "replica-2 ");
    assert!(row.contains("down") && row.contains('▶'), "{row}");
    let bar = line_with(&screen, "crash replica-2");
    assert!(bar.contains('█'), "an executed crash is a solid bar: {bar}");
    assert!(line_with(&screen, "run so far").contains("100.00 %"));
    assert!(line_with(&screen, "TMR").contains("majority 4000"));
    assert!(!has(&screen, "OUTAGE"));
}

#[test]
fn a_recovery_brings_the_replica_back_and_shows_its_time() {
    let screen = render(&app(recovered(16.0)), 80, 24);
    assert!(line_with(&screen, "replica-2 ").contains(" up "));
    assert!(line_with(&screen, "recovery last").contains("420.0 ms"));
    assert!(line_with(&screen, "failures").contains("MTTR 420.0 ms"));
    let bar = line_with(&screen, "crash replica-2");
    let solid = bar.chars().filter(|c| *c == '█').count();
    // 5 s of a 30 s run on an axis of about 60 columns.
    assert!((8..=12).contains(&solid), "{bar}");
}

#[test]
fn an_outage_raises_the_banner() {
    let screen = render(&app(outage(20.0)), 80, 24);
    assert!(line_with(&screen, "OUTAGE").contains("requests are failing"));
    assert!(line_with(&screen, "run so far").contains("93.12 %"));
    assert!(line_with(&screen, "last 10 s").contains("41.00 %"));
    assert!(line_with(&screen, "replica-3 ").contains("down"));
    assert!(has(&screen, "*crash replica-3"), "a fault injected by hand is marked");
}

#[test]
fn the_suspicion_matrix_shows_who_suspects_whom() {
    let screen = render(&app(suspicious(8.0)), 120, 40);
    assert!(has(&screen, "suspicion: row suspects column"));
    assert!(line_with(&screen, "r1  r2  r3  v1  c1").contains("r1"));
    // voter-1's matrix row: the nodes-table row and the matrix row share the line.
    let row = line_with(&screen, "voter-1 ");
    let matrix = &row[row.rfind("voter-1").unwrap()..];
    assert_eq!(matrix.trim_end_matches(['│', ' ']), "voter-1    ·   ●   ·   ╲   ·");
    assert!(line_with(&screen, "replica-2 ").contains("paused"));
    // Without a detector the matrix is hidden.
    let screen = render(&app(all_up(8.0)), 120, 40);
    assert!(!has(&screen, "suspicion"));
}

#[test]
fn small_and_large_screens_render_without_panicking() {
    let scripted = [
        all_up(5.0),
        crashed(12.0),
        recovered(16.0),
        outage(20.0),
        suspicious(8.0),
        signal::heartbeat(),
        signal::generals(),
        signal::commit(),
        signal::checkpointing(),
    ];
    for s in scripted {
        for (w, h) in [(80, 24), (120, 40), (200, 60), (40, 12), (20, 5), (1, 1), (200, 24), (80, 60)] {
            let screen = render(&app(s.clone()), w, h);
            assert_eq!(screen.len(), usize::from(h));
        }
    }
    // An empty snapshot (before the first recorder tick) draws too.
    render(&App::default(), 80, 24);
}

#[test]
fn a_large_screen_shows_every_panel_and_big_numbers() {
    let mut s = outage(20.0);
    s.suspicion = suspicious(20.0).suspicion;
    let screen = render(&app(s), 200, 60);
    for panel in [" nodes ", " service ", "suspicion", " faults", " events ", "availability per second"] {
        assert!(has(&screen, panel), "{panel} missing:\n{}", screen.join("\n"));
    }
    assert!(has(&screen, "correct replies per second 2000"));
    assert!(has(&screen, "p99 latency 3.1 ms"));
    assert!(has(&screen, "available, run so far"));
    assert!(has(&screen, "┗━┫"), "big digits for 93.12%");
    assert!(has(&screen, "time availability 100.00 %"));
}

#[test]
fn the_help_popup_lists_the_keys() {
    let mut app = app(all_up(5.0));
    app.help = true;
    let screen = render(&app, 80, 24);
    assert!(line_with(&screen, "isolate the node from all others").contains('x'));
    assert!(!has(&screen, "partition"));
    assert!(line_with(&screen, "heal all").contains('h'));
}

#[test]
fn the_log_follows_the_tail_and_scrolls_back() {
    let mut s = all_up(5.0);
    s.log = (0..50).map(|i| LogLine { t: f64::from(i), text: format!("event number {i}") }).collect();
    let mut app = app(s);
    let screen = render(&app, 120, 40);
    assert!(has(&screen, "event number 49"));
    app.log_scroll = 20;
    let screen = render(&app, 120, 40);
    assert!(!has(&screen, "event number 49"));
    assert!(has(&screen, "event number 29"));
    assert!(has(&screen, "scrolled back 20"));
}

#[test]
fn detector_quality_and_the_workloads_own_numbers_show_in_the_service_panel() {
    let mut s = suspicious(8.0);
    s.detector =
        Some(crate::snapshot::DetectorView { false_suspicions: 3, detection_seconds: vec![0.4, 0.6] });
    s.workload = vec![("checkpointing".into(), "12 checkpoints (2 forced), 3 rollbacks".into())];
    let screen = render(&app(s), 120, 40);
    let det = line_with(&screen, "detector ");
    assert!(det.contains("detections 2") && det.contains("false suspicions 3"), "{det}");
    let wide = render(&app(suspicious_with_detector()), 200, 60);
    assert!(line_with(&wide, "detector ").contains("slowest 600.0 ms"));
    assert!(line_with(&screen, "checkpointing ").contains("3 rollbacks"));
    // Without them the lines are gone.
    let screen = render(&app(suspicious(8.0)), 120, 40);
    assert!(!has(&screen, "false suspicions"));
}

fn suspicious_with_detector() -> Snapshot {
    let mut s = suspicious(8.0);
    s.detector =
        Some(crate::snapshot::DetectorView { false_suspicions: 3, detection_seconds: vec![0.4, 0.6] });
    s
}

#[test]
fn on_one_column_the_suspicion_matrix_outranks_the_other_optional_panels() {
    // 80 columns, a few rows more than 24: room for one optional panel.
    let screen = render(&app(suspicious(8.0)), 80, 28);
    assert!(has(&screen, "suspicion: row suspects column"), "{}", screen.join("\n"));
    assert!(line_with(&screen, "replica-2 ").contains("paused"));
}

#[test]
fn an_invalid_run_says_so_in_the_header_at_once_and_host_stalls_are_counted() {
    let mut s = all_up(6.0);
    let screen = render(&app(s.clone()), 80, 24);
    assert!(!has(&screen, "INVALID"), "a valid run says nothing of it");
    assert!(!has(&screen, "host stalls"));
    s.invalid = Some("client-1 died at 5.0 s outside any fault".into());
    s.host_stalls = 2;
    let screen = render(&app(s), 100, 24);
    assert!(line_with(&screen, "RUN INVALID").contains("client-1 died at 5.0 s"));
    assert!(has(&screen, "INVALID RUN"), "the state word too");
    assert!(has(&screen, "2 host stalls"));
}

#[test]
fn x_shows_an_isolate_of_the_selected_node_alone() {
    let mut app = app(all_up(12.0));
    for c in ['j', 'j'] {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let Some(Command::Inject(spec)) = app.on_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE))
    else {
        panic!("x injects a fault")
    };
    let Some(TargetSpec::Node(target)) = spec.target else { panic!("x targets the selected node") };
    // What the recorder shows for it: the node's faults column, the timeline, the log.
    let mut s = all_up(12.0);
    let kind = spec.kind.as_str().to_string();
    s.nodes[2].faults = vec![kind.clone()];
    s.faults.push(FaultView {
        kind: kind.clone(),
        target: target.clone(),
        start: 12.0,
        end: None,
        executed: true,
        manual: true,
    });
    s.log.push(LogLine { t: 12.0, text: format!("{kind} {target}") });
    app.update(std::sync::Arc::new(s));
    let screen = render(&app, 80, 24);
    assert!(line_with(&screen, "replica-3 ").contains("isolate"), "{}", screen.join("\n"));
    for other in ["replica-1 ", "replica-2 ", "voter-1 ", "client-1 "] {
        assert!(!line_with(&screen, other).contains("isolate"), "{other}");
    }
    assert!(line_with(&screen, "*isolate replica-3").contains('█'));
    assert!(!has(&screen, "partition"), "{}", screen.join("\n"));
    assert!(render(&app, 200, 60)[59].contains("x isolate"), "the footer names the key");
}

#[test]
fn roles_are_whole_at_100_columns_and_cut_readably_at_80() {
    let screen = render(&app(signal::generals()), 100, 30);
    assert!(line_with(&screen, "lieutenant-2 ").contains(" lieutenant "), "{}", screen.join("\n"));
    assert!(line_with(&screen, "commander-1 ").contains(" commander "));
    let screen = render(&app(signal::generals()), 80, 24);
    let row = line_with(&screen, "lieutenant-2 ");
    assert!(row.contains(" lieuten… ") && row.contains(" up "), "{row}");
    assert!(line_with(&screen, "commander-1 ").contains(" command… "));
    // Short roles are never cut.
    assert!(line_with(&render(&app(all_up(5.0)), 80, 24), "replica-1 ").contains(" replica "));
}

#[test]
fn a_sandbox_timeline_scales_to_the_time_elapsed() {
    let mut s = all_up(40.0);
    s.sandbox = true;
    s.duration_seconds = 86400.0;
    s.faults = vec![FaultView {
        kind: "crash".into(),
        target: "replica-2".into(),
        start: 30.0,
        end: Some(35.0),
        executed: true,
        manual: true,
    }];
    let screen = render(&app(s), 80, 24);
    let axis = line_with(&screen, "0s──").trim_end_matches(['│', ' ']);
    assert!(axis.contains("30s") && axis.ends_with("60s"), "{axis}");
    assert!(!has(&screen, "43200") && !has(&screen, "86400"));
    let bar = line_with(&screen, "*crash replica-2");
    let solid = bar.chars().filter(|c| *c == '█').count();
    // 5 s of a 60 s axis of about 60 columns.
    assert!((4..=6).contains(&solid), "{bar}");
    let header = line_with(&screen, "RUNNING");
    assert!(header.contains(" 40.0 s ") && !header.contains('/') && header.contains("sandbox"), "{header}");
    // A normal run keeps its duration on the axis.
    let screen = render(&app(all_up(5.0)), 80, 24);
    assert!(line_with(&screen, "0s──").trim_end_matches(['│', ' ']).ends_with("30s"));
}

#[test]
fn a_fault_lasting_past_the_end_reads_as_the_rest_of_the_run() {
    let mut s = all_up(10.0);
    s.duration_seconds = 60.0;
    s.faults = vec![FaultView {
        kind: "omission".into(),
        target: "replica-1".into(),
        start: 30.0,
        end: None,
        executed: false,
        manual: false,
    }];
    let screen = render(&app(s.clone()), 100, 30);
    assert!(
        line_with(&screen, "omission replica-1").contains("░ for the rest of the run"),
        "{}",
        screen.join("\n")
    );
    // A shorter bar says it in fewer words.
    s.faults[0].start = 45.0;
    let screen = render(&app(s), 80, 24);
    assert!(line_with(&screen, "omission replica-1").contains("░ rest of run"), "{}", screen.join("\n"));
}

#[test]
fn a_paused_schedule_stands_out_and_a_finished_run_says_where_its_report_is() {
    let mut s = all_up(12.0);
    s.run_state = RunState::Paused;
    let screen = render(&app(s.clone()), 80, 24);
    assert!(line_with(&screen, "SCHEDULE PAUSED").contains("12.0 s / 30 s"));
    s.run_state = RunState::Finished;
    let screen = render(&app(s.clone()), 80, 24);
    assert!(has(&screen, "FINISHED"));
    assert_eq!(screen[23], "run over — q to quit", "no report yet");
    s.report = Some("out/tmr-masks-one-crash/report.html".into());
    let screen = render(&app(s.clone()), 80, 24);
    assert_eq!(screen[23], "report written: out/tmr-masks-one-crash/report.html — q to quit");
    s.run_state = RunState::Interrupted;
    assert!(render(&app(s), 80, 24)[23].starts_with("report written: "));
}
