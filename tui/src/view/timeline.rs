//! The fault timeline: one row per fault on the run's time axis, executed
//! faults as solid bars, planned ones dim, and a cursor at now.

use super::title;
use crate::snapshot::{FaultView, Snapshot};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

/// The rows the timeline wants: one per fault, the axis, the borders.
pub(super) fn height(s: &Snapshot) -> u16 {
    s.faults.len().max(1) as u16 + 3
}

/// A fault kind's colour.
fn colour(kind: &str) -> Color {
    match kind {
        "crash" | "restart" => Color::Red,
        "pause" => Color::Yellow,
        "delay" | "slow" | "clock_skew" => Color::Cyan,
        "byzantine" => Color::Blue,
        _ => Color::Magenta,
    }
}

/// Runs at least this long (seconds) may scale the axis to what has happened.
const LONG_RUN: f64 = 3600.0;
/// A rolling axis spans at least this much.
const MIN_WINDOW: f64 = 60.0;
/// Room left ahead of now (and of the next planned fault) on a rolling axis.
const HEADROOM: f64 = 1.25;
/// The lengths a rolling axis takes, seconds: round marks in s, min and h.
const WINDOWS: [f64; 12] =
    [60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 21600.0, 43200.0, 86400.0];

/// The time the axis spans. A run keeps its duration. A sandbox (which
/// runs until stopped) and a run of an hour or more get an axis over what
/// has happened and the next planned fault, with headroom, in round lengths
/// so it does not creep every frame; a long run's axis grows into its duration.
fn span(s: &Snapshot) -> f64 {
    let duration = s.duration_seconds;
    let rolling = s.sandbox || duration <= 0.0 || duration >= LONG_RUN;
    if !rolling {
        return duration;
    }
    // Faults that end past the run's end (`for: 1000h`) do not stretch it.
    let bound = if duration > 0.0 { duration } else { f64::INFINITY };
    let next_planned = s
        .faults
        .iter()
        .filter(|f| !f.executed && f.start > s.elapsed_seconds)
        .map(|f| f.start)
        .reduce(f64::min);
    let seen = s
        .faults
        .iter()
        .filter(|f| f.executed)
        .map(|f| f.end.unwrap_or(f.start))
        .chain(next_planned)
        .filter(|t| *t <= bound)
        .fold(s.elapsed_seconds, f64::max);
    let want = (seen * HEADROOM).max(MIN_WINDOW);
    let days = (want / 86400.0).ceil() * 86400.0;
    let window = WINDOWS.iter().copied().find(|w| *w >= want).unwrap_or(days);
    window.min(bound)
}

/// Whether `f` lasts to the end of the run (planned with no end, or an end past it).
fn to_the_end(f: &FaultView, s: &Snapshot) -> bool {
    !f.executed && f.end.is_none_or(|e| s.duration_seconds > 0.0 && e >= s.duration_seconds)
}

/// Which faults get the `rows` rows: the latest executed ones and a few upcoming ones.
fn visible(s: &Snapshot, rows: usize) -> Vec<&FaultView> {
    let mut faults: Vec<&FaultView> = s.faults.iter().collect();
    faults.sort_by(|a, b| a.start.total_cmp(&b.start));
    let upcoming =
        faults.iter().position(|f| !f.executed && f.start > s.elapsed_seconds).unwrap_or(faults.len());
    let ahead = (faults.len() - upcoming).min((rows / 3).max(1));
    let end = (upcoming + ahead).min(faults.len());
    let start = end.saturating_sub(rows);
    let end = (start + rows).min(faults.len());
    faults[start..end].to_vec()
}

/// Draw the timeline.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let manual = s.faults.iter().any(|f| f.manual);
    let name = if manual { "faults (* by hand)" } else { "faults" };
    let block = Block::bordered().title(title(name));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 12 {
        return;
    }
    let rows = usize::from(inner.height - 1);
    let shown = visible(s, rows);
    let labels: Vec<String> =
        shown.iter().map(|f| format!("{}{} {}", if f.manual { "*" } else { "" }, f.kind, f.target)).collect();
    let label_width =
        labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).min(usize::from(inner.width) / 3) + 1;
    let axis_width = usize::from(inner.width).saturating_sub(label_width);
    let total = span(s);
    let column = |t: f64| ((t / total) * axis_width as f64).floor().clamp(0.0, axis_width as f64) as usize;
    let now = column(s.elapsed_seconds).min(axis_width.saturating_sub(1));
    let mut lines = Vec::new();
    if shown.is_empty() {
        lines.push(Line::from(Span::styled("no faults yet", Style::new().add_modifier(Modifier::DIM))));
    }
    for (f, label) in shown.iter().zip(&labels) {
        let from = column(f.start);
        // An open fault runs to now if executed, to the end of the run if only planned.
        let to = match f.end {
            Some(end) => column(end),
            None if f.executed => column(s.elapsed_seconds),
            None => axis_width,
        }
        .max(from + 1)
        .min(axis_width);
        let (bar, look) = if f.executed {
            ("█", Style::new().fg(colour(&f.kind)))
        } else {
            ("░", Style::new().fg(colour(&f.kind)).add_modifier(Modifier::DIM))
        };
        let cells = to.saturating_sub(from);
        let bar = match rest_of_run(f, s, cells) {
            Some(text) => format!("{}{text}", bar.repeat(cells - text.chars().count())),
            None => bar.repeat(cells),
        };
        let label: String = label.chars().take(label_width - 1).collect();
        let label_look = if f.executed {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        };
        let mut spans = vec![Span::styled(format!("{label:<label_width$}"), label_look)];
        spans.push(Span::raw(cursor_row(from.min(axis_width), now)));
        spans.push(Span::styled(bar, look));
        if to < axis_width {
            spans.push(Span::raw(cursor_row(axis_width - to, now.checked_sub(to).unwrap_or(usize::MAX))));
        }
        lines.push(Line::from(spans));
    }
    // Pad so the axis sits on the panel's last row.
    while lines.len() < rows {
        lines.push(Line::from(""));
    }
    lines.push(axis(label_width, axis_width, total, now));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The words that end the bar of a fault lasting the rest of the run, if they fit in `cells`.
fn rest_of_run(f: &FaultView, s: &Snapshot, cells: usize) -> Option<&'static str> {
    if !to_the_end(f, s) {
        return None;
    }
    [" for the rest of the run", " rest of run"].into_iter().find(|t| t.chars().count() + 2 <= cells)
}

/// `width` blanks with a `│` at column `now` (if inside).
fn cursor_row(width: usize, now: usize) -> String {
    (0..width).map(|i| if i == now { '│' } else { ' ' }).collect()
}

/// `0s ───┴─── 30s` with the now mark.
fn axis(label_width: usize, width: usize, total: f64, now: usize) -> Line<'static> {
    let mut row: Vec<char> = (0..width).map(|i| if i == now { '┴' } else { '─' }).collect();
    let mut put = |at: usize, text: &str| {
        for (i, c) in text.chars().enumerate() {
            if let Some(cell) = row.get_mut(at + i) {
                *cell = c;
            }
        }
    };
    put(0, "0s");
    let end = mark(total);
    put(width.saturating_sub(end.len()), &end);
    let mid = mark(total / 2.0);
    put((width / 2).saturating_sub(mid.len() / 2), &mid);
    let dim = Style::new().add_modifier(Modifier::DIM);
    Line::from(vec![
        Span::raw(" ".repeat(label_width)),
        Span::styled(row.into_iter().collect::<String>(), dim),
    ])
}

/// An axis mark: seconds up to two minutes, then whole minutes, then whole hours.
fn mark(t: f64) -> String {
    let whole = |unit: f64| (t / unit).fract().abs() < 1e-9;
    if t < 120.0 || !whole(60.0) {
        format!("{t:.0}s")
    } else if t < 7200.0 || !whole(3600.0) {
        format!("{:.0}m", t / 60.0)
    } else {
        format!("{:.0}h", t / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(start: f64, end: Option<f64>, executed: bool) -> FaultView {
        FaultView { kind: "crash".into(), target: "replica-1".into(), start, end, executed, manual: false }
    }

    #[test]
    fn a_run_keeps_its_duration_and_a_sandbox_rolls_with_elapsed_time() {
        let run = Snapshot { duration_seconds: 60.0, elapsed_seconds: 2.0, ..Snapshot::default() };
        assert_eq!(span(&run), 60.0);
        let sandbox = Snapshot { sandbox: true, duration_seconds: 86400.0, ..run.clone() };
        assert_eq!(span(&sandbox), 60.0, "the smallest window");
        let later = Snapshot { elapsed_seconds: 130.0, ..sandbox.clone() };
        assert_eq!(span(&later), 300.0, "130 s and headroom, rounded up");
        // A fault injected by hand that ends in 10 s is in view.
        let ahead = Snapshot { faults: vec![fault(125.0, Some(235.0), true)], ..later.clone() };
        assert_eq!(span(&ahead), 300.0);
        // A day-long run that has just begun is not drawn over a day.
        let long = Snapshot { duration_seconds: 86400.0, elapsed_seconds: 500.0, ..Snapshot::default() };
        assert_eq!(span(&long), 1200.0);
        // ...and its next planned fault is in view.
        let planned = Snapshot { faults: vec![fault(1500.0, Some(1510.0), false)], ..long };
        assert_eq!(span(&planned), 3600.0);
    }

    #[test]
    fn a_fault_past_the_runs_end_does_not_stretch_the_axis_and_reads_as_the_rest_of_the_run() {
        let s = Snapshot {
            duration_seconds: 7200.0,
            elapsed_seconds: 100.0,
            faults: vec![fault(110.0, Some(3_600_000.0), false)],
            ..Snapshot::default()
        };
        assert_eq!(span(&s), 300.0);
        assert!(to_the_end(&s.faults[0], &s));
        assert_eq!(rest_of_run(&s.faults[0], &s, 30), Some(" for the rest of the run"));
        assert_eq!(rest_of_run(&s.faults[0], &s, 14), Some(" rest of run"));
        assert_eq!(rest_of_run(&s.faults[0], &s, 8), None);
        assert!(!to_the_end(&fault(110.0, Some(120.0), false), &s));
    }

    #[test]
    fn marks_read_in_seconds_minutes_or_hours() {
        assert_eq!(mark(30.0), "30s");
        assert_eq!(mark(90.0), "90s");
        assert_eq!(mark(150.0), "150s");
        assert_eq!(mark(300.0), "5m");
        assert_eq!(mark(1800.0), "30m");
        assert_eq!(mark(43200.0), "12h");
        assert_eq!(mark(86400.0), "24h");
        assert_eq!(mark(5400.0), "90m");
    }
}
