//! The key-help footer line and the `?` popup.

use crate::snapshot::{RunState, Snapshot};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// The keys, the way the popup lists them.
const KEYS: [(&str, &str); 16] = [
    ("↑↓ j k", "select a node"),
    ("c", "crash the node (until healed)"),
    ("C", "crash the node for 5 s"),
    ("p", "pause the node for 5 s"),
    ("r", "restart the node"),
    ("o", "omission 30 %, both ways, 10 s"),
    ("d", "delay 20 ms, 10 s"),
    ("b", "byzantine corrupt, 10 s"),
    ("B", "byzantine collude, 10 s"),
    ("x", "isolate the node from all others, 10 s"),
    ("h", "heal all: end every active fault"),
    ("space", "pause / resume the schedule"),
    ("PgUp PgDn", "scroll the event log"),
    ("End", "follow the newest events"),
    ("?", "this help"),
    ("q Esc ^C", "quit (the run cleans up)"),
];

/// One line of the most used keys, help and quit first so they survive
/// narrow terminals; once the run is over, where its report is and how to leave.
pub(super) fn footer(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    if matches!(s.run_state, RunState::Finished | RunState::Interrupted) {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let mut spans = match &s.report {
            Some(path) => {
                vec![Span::raw("report written: "), Span::styled(path.as_str(), bold), Span::raw(" — ")]
            }
            None => vec![Span::raw("run over — ")],
        };
        spans.extend([Span::styled("q", key), Span::raw(" to quit")]);
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let short = [
        ("?", "help"),
        ("q", "quit"),
        ("↑↓", "select"),
        ("c", "crash"),
        ("C", "crash 5s"),
        ("p", "pause"),
        ("r", "restart"),
        ("o", "omit"),
        ("d", "delay"),
        ("b/B", "byzantine"),
        ("x", "isolate"),
        ("h", "heal"),
        ("␣", "schedule"),
    ];
    let spans: Vec<Span<'_>> =
        short.iter().flat_map(|(k, what)| [Span::styled(*k, key), Span::raw(format!(" {what}  "))]).collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The help popup, centred over `area`.
pub(super) fn popup(frame: &mut Frame<'_>, area: Rect) {
    let height = KEYS.len() as u16 + 4;
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(56)]).flex(Flex::Center).areas(row);
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!("{k:>10}  "), key), Span::raw(*what)]))
        .collect();
    lines.push(Line::from(""));
    lines.push(
        Line::from("Faults go through the schedule and land in the report.")
            .style(Style::new().add_modifier(Modifier::DIM)),
    );
    let block = Block::bordered()
        .title(Span::styled(" keys ", Style::new().add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" ? or Esc closes ").right_aligned());
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
