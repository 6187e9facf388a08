//! The suspicion matrix: row i, column j lit when node i suspects node j.

use super::title;
use crate::snapshot::Snapshot;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

/// Columns per matrix cell.
const CELL: usize = 4;

/// The columns the matrix needs, borders included.
pub(super) fn width(s: &Snapshot) -> u16 {
    let label = s.nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(0);
    let title = "suspicion: row suspects column".len() + 4;
    ((label + 1 + CELL * s.nodes.len() + 2).max(title)) as u16
}

/// A node's short column name: `replica-2` reads `r2`.
fn short(name: &str) -> String {
    match name.rsplit_once('-') {
        Some((role, n)) => format!("{}{n}", role.chars().next().unwrap_or('?')),
        None => name.chars().take(3).collect(),
    }
}

/// Draw the matrix (nothing when no detector runs).
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let Some(matrix) = &s.suspicion else { return };
    let label = s.nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(0);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut header = format!("{:label$} ", "");
    for n in &s.nodes {
        header.push_str(&format!("{:^CELL$}", short(&n.name)));
    }
    let mut lines = vec![Line::from(Span::styled(header, bold))];
    for (i, node) in s.nodes.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{:label$} ", node.name), bold)];
        for j in 0..s.nodes.len() {
            let suspects = matrix.get(i).and_then(|row| row.get(j)).copied().unwrap_or(false);
            spans.push(if i == j {
                Span::styled(format!("{:^CELL$}", "╲"), Style::new().add_modifier(Modifier::DIM))
            } else if suspects {
                Span::styled(format!("{:^CELL$}", "●"), bold.fg(Color::Red))
            } else {
                Span::styled(format!("{:^CELL$}", "·"), Style::new().fg(Color::Green))
            });
        }
        lines.push(Line::from(spans));
    }
    let block = Block::bordered().title(title("suspicion: row suspects column"));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
