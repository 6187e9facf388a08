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

/// The time the axis spans: the run's duration, or (in a sandbox) what has happened so far.
fn span(s: &Snapshot) -> f64 {
    if s.duration_seconds > 0.0 {
        return s.duration_seconds;
    }
    let last = s.faults.iter().map(|f| f.end.unwrap_or(f.start)).fold(s.elapsed_seconds, f64::max);
    (last * 1.1).max(1.0)
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
        let label: String = label.chars().take(label_width - 1).collect();
        let label_look = if f.executed {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        };
        let mut spans = vec![Span::styled(format!("{label:<label_width$}"), label_look)];
        spans.push(Span::raw(cursor_row(from.min(axis_width), now)));
        spans.push(Span::styled(bar.repeat(to.saturating_sub(from)), look));
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
    let end = format!("{total:.0}s");
    put(width.saturating_sub(end.len()), &end);
    let mid = format!("{:.0}s", total / 2.0);
    put((width / 2).saturating_sub(mid.len() / 2), &mid);
    let dim = Style::new().add_modifier(Modifier::DIM);
    Line::from(vec![
        Span::raw(" ".repeat(label_width)),
        Span::styled(row.into_iter().collect::<String>(), dim),
    ])
}
