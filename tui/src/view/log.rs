//! The event log: newest at the bottom, scrolled back with PgUp/PgDn.

use super::title;
use crate::state::App;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

/// Draw the log lines that fit, ending `app.log_scroll` lines before the newest.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let log = &app.snapshot.log;
    let name = if app.log_scroll > 0 {
        format!("events (scrolled back {}, End follows)", app.log_scroll)
    } else {
        "events".to_string()
    };
    let block = Block::bordered().title(title(&name));
    let rows = usize::from(block.inner(area).height);
    let end = log.len().saturating_sub(app.log_scroll);
    let lines: Vec<Line<'_>> = log[end.saturating_sub(rows)..end]
        .iter()
        .map(|l| {
            Line::from(vec![
                Span::styled(format!("{:>7.1}s ", l.t), Style::new().add_modifier(Modifier::DIM)),
                Span::raw(l.text.as_str()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
