//! The dashboard's cost: one frame with 100 nodes on a large screen (goal
//! ≤ 5 ms), and the CPU it takes while idle (no key, no new snapshot).

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tui::snapshot::{FaultView, LogLine, NodeStatus, NodeView, ServiceView, Snapshot, TmrView};
use tui::App;

fn big_snapshot(nodes: usize) -> Snapshot {
    let status = [NodeStatus::Up, NodeStatus::Down, NodeStatus::Paused, NodeStatus::Recovering];
    Snapshot {
        experiment: "bench-100-nodes".into(),
        backend: "docker".into(),
        elapsed_seconds: 40.0,
        duration_seconds: 60.0,
        nodes: (0..nodes)
            .map(|i| NodeView {
                name: format!("replica-{}", i + 1),
                role: "replica".into(),
                status: status[i % 4],
                faults: if i % 7 == 0 { vec!["omission".into()] } else { vec![] },
                messages_sent: 1000 * i as u64,
                ..NodeView::default()
            })
            .collect(),
        service: ServiceView {
            requests_total: 80_000,
            requests_ok: 79_000,
            availability: Some(0.9875),
            availability_recent: Some(0.95),
            throughput: (0..40).map(|i| 2000 - (i % 5) * 100).collect(),
            latency_p99_us: (0..40).map(|i| 900 + i * 10).collect(),
            availability_permille: (0..40).map(|i| 1000 - (i % 3) * 50).collect(),
            ..ServiceView::default()
        },
        tmr: Some(TmrView { unanimous: 70_000, majority: 9_000, no_majority: 12, state_transfers: 3 }),
        suspicion: Some(vec![vec![false; nodes]; nodes]),
        faults: (0..20)
            .map(|i| FaultView {
                kind: "crash".into(),
                target: format!("replica-{i}"),
                start: i as f64 * 2.0,
                end: Some(i as f64 * 2.0 + 1.0),
                executed: true,
                manual: false,
            })
            .collect(),
        log: (0..200).map(|i| LogLine { t: i as f64 * 0.2, text: format!("event {i}") }).collect(),
        ..Snapshot::default()
    }
}

fn frame(c: &mut Criterion) {
    let app = App::new(Arc::new(big_snapshot(100)));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap_or_else(|_| unreachable!());
    c.bench_function("draw one frame, 100 nodes, 200x60", |b| {
        b.iter(|| {
            terminal.draw(|f| tui::view::draw(f, &app)).unwrap_or_else(|_| unreachable!());
        })
    });
}

/// User + system CPU time of this process, from /proc (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command.
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn idle_cpu(_: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|_| unreachable!());
    let seconds = 3;
    let (used, wall) = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(big_snapshot(100)));
        let (cmd_tx, _cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (_ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap_or_else(|_| unreachable!());
        let (cpu0, t0) = (cpu_time(), Instant::now());
        let stop = async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            drop(tx);
        };
        let (res, ()) = tokio::join!(tui::run_with(&mut terminal, rx, cmd_tx, ev_rx), stop);
        let _ = res;
        (cpu_time().saturating_sub(cpu0), t0.elapsed())
    });
    println!(
        "dashboard idle for {:.1} s with 100 nodes: {:.0} ms of CPU ({:.2} % of one core)",
        wall.as_secs_f64(),
        used.as_secs_f64() * 1e3,
        100.0 * used.as_secs_f64() / wall.as_secs_f64()
    );
}

criterion_group!(benches, frame, idle_cpu);
criterion_main!(benches);
