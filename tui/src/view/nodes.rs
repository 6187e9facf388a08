//! The nodes table: one row per node with its role, status, active faults and traffic.

use super::{count, status_look, title};
use crate::state::App;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

/// Columns the faults column keeps before roles are cut (`omission, delay`).
const FAULTS_ROOM: u16 = 16;
/// Roles are never cut below this.
const ROLE_MIN: u16 = 6;
/// The fixed columns: status, crash, sent, recv, drop.
const FIXED: u16 = 10 + 5 + 6 + 6 + 6;

/// The role column's width in `area`: the longest role in full when it
/// fits beside the other columns and a usable faults column, else what is left.
fn role_width(roles: impl Iterator<Item = usize>, name_width: u16, area: Rect) -> u16 {
    let full = roles.max().unwrap_or(0).max(4) as u16;
    // Borders, the highlight symbol, and one space between each of the eight columns.
    let taken = 2 + 2 + 7 + name_width + FIXED + FAULTS_ROOM;
    full.min(area.width.saturating_sub(taken).max(ROLE_MIN))
}

/// `text` in at most `width` columns, cut with an ellipsis.
fn fit(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Draw the nodes table, the selected node highlighted.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let nodes = &app.snapshot.nodes;
    let name_width = nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(4).max(4) as u16;
    let role_width = role_width(nodes.iter().map(|n| n.role.chars().count()), name_width, area);
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
            Cell::from(fit(&n.role, role_width)),
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
        Constraint::Length(role_width),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_whole_when_there_is_room_and_cut_with_an_ellipsis_when_not() {
        let roles = || ["commander", "lieutenant"].iter().map(|r| r.len());
        let wide = Rect::new(0, 0, 100, 10);
        assert_eq!(role_width(roles(), 12, wide), 10);
        let narrow = Rect::new(0, 0, 80, 10);
        assert_eq!(role_width(roles(), 12, narrow), 8);
        assert_eq!(fit("lieutenant", 8), "lieuten…");
        assert_eq!(fit("commander", 8), "command…");
        assert_eq!(fit("voter", 8), "voter");
        // Never below six columns, however narrow.
        assert_eq!(role_width(roles(), 12, Rect::new(0, 0, 20, 10)), ROLE_MIN);
    }
}
