//! The nodes table: one row per node with its role, status, active faults and traffic.

use super::{count, status_look, title};
use crate::state::App;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

/// Draw the nodes table, the selected node highlighted.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let nodes = &app.snapshot.nodes;
    let name_width = nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(4).max(4) as u16;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let header = Row::new(["node", "role", "status", "crash", "sent", "recv", "drop", "faults"]).style(bold);
    let rows = nodes.iter().map(|n| {
        let (word, look) = status_look(n.status);
        let faults = Line::from(n.faults.join(", ")).style(Style::new().fg(Color::Magenta));
        let crashes = Cell::from(n.crashes.to_string()).style(if n.crashes > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        });
        Row::new([
            Cell::from(n.name.as_str()).style(bold),
            Cell::from(n.role.as_str()),
            Cell::from(word).style(look),
            crashes,
            Cell::from(count(n.messages_sent)),
            Cell::from(count(n.messages_received)),
            Cell::from(count(n.dropped)),
            Cell::from(faults),
        ])
    });
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Min(8),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(
            Block::bordered().title(title("nodes")).title_bottom(Line::from(" ↑↓ select ").right_aligned()),
        )
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    // A throwaway table state: drawing must not change the model.
    let mut state = TableState::default().with_selected((!nodes.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
