//! Widgets that draw an [`App`]; they never change it. One file per panel;
//! this one lays the panels out and drops the least essential ones first
//! when the terminal is small.

mod bignum;
mod charts;
mod header;
mod help;
mod log;
mod nodes;
mod service;
mod signal;
mod suspicion;
mod timeline;

#[cfg(test)]
pub(crate) mod tests;

use crate::snapshot::NodeStatus;
use crate::state::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::Frame;

/// Terminals at least this wide get two columns.
const WIDE: u16 = 120;

/// Draw the whole dashboard for `app` into `frame`.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let [top, body, bottom] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    header::draw(frame, top, &app.snapshot);
    help::footer(frame, bottom, &app.snapshot);
    match (body.width >= WIDE, app.snapshot.signal.is_some()) {
        (true, false) => wide(frame, body, app),
        (false, false) => narrow(frame, body, app),
        (true, true) => wide_signal(frame, body, app),
        (false, true) => narrow_signal(frame, body, app),
    }
    if app.help {
        help::popup(frame, area);
    }
}

/// The panels a column can hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Panel {
    Nodes,
    Service,
    /// A non-request workload's numbers, in place of the service and the charts.
    Signal,
    Timeline,
    Charts,
    Suspicion,
    Log,
}

/// A panel's claim on a column: the rows it cannot do without and the rows it would like.
#[derive(Copy, Clone, Debug)]
struct Claim {
    panel: Panel,
    min: u16,
    want: u16,
}

/// Share `height` rows among `claims` (in display order). In `priority`
/// order each panel gets what it wants, or what is left if that is at least
/// its minimum, else it is dropped; a panel that wants everything
/// (`u16::MAX`) first takes only its minimum and gets the rest at the end.
/// Rows nobody claims go to the bottom panel. Dropped panels are left out.
fn allot(height: u16, claims: &[Claim], priority: &[Panel]) -> Vec<(Panel, u16)> {
    let mut rows: Vec<(Panel, u16)> = claims.iter().map(|c| (c.panel, 0)).collect();
    let mut left = height;
    let index = |p: Panel| claims.iter().position(|c| c.panel == p);
    for i in priority.iter().filter_map(|p| index(*p)) {
        let c = claims[i];
        let take = if c.want == u16::MAX { c.min } else { c.want.min(left) };
        if c.min > 0 && c.min <= left && take <= left {
            rows[i].1 = take;
            left -= take;
        }
    }
    for i in priority.iter().filter_map(|p| index(*p)) {
        if rows[i].1 > 0 && claims[i].want == u16::MAX {
            rows[i].1 += left;
            left = 0;
        }
    }
    if let Some(last) = rows.iter_mut().rev().find(|(_, h)| *h > 0) {
        last.1 += left;
    }
    rows.retain(|(_, h)| *h > 0);
    rows
}

/// Split `area` into the allotted rows, top to bottom.
fn stack(area: Rect, rows: &[(Panel, u16)]) -> Vec<(Panel, Rect)> {
    let areas = Layout::vertical(rows.iter().map(|(_, h)| Constraint::Length(*h))).split(area);
    rows.iter().zip(areas.iter()).map(|((p, _), a)| (*p, *a)).collect()
}

fn draw_panel(frame: &mut Frame<'_>, panel: Panel, area: Rect, app: &App) {
    let s = &app.snapshot;
    match panel {
        Panel::Nodes => nodes::draw(frame, area, app),
        Panel::Service => service::draw(frame, area, s),
        Panel::Signal => signal::draw(frame, area, s, false),
        Panel::Timeline => timeline::draw(frame, area, s),
        Panel::Charts => charts::draw(frame, area, s),
        Panel::Suspicion => suspicion::draw(frame, area, s),
        Panel::Log => log::draw(frame, area, app),
    }
}

/// One column: nodes, service, then what fits: where a failure detector
/// runs, the suspicion matrix comes next (it is what such an experiment is
/// about); then the timeline, the charts and the log, dropped in reverse.
fn narrow(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let s = &app.snapshot;
    let n = s.nodes.len() as u16;
    let mut claims = vec![
        Claim { panel: Panel::Nodes, min: n.min(3) + 3, want: n + 3 },
        Claim { panel: Panel::Service, min: 5, want: service::height(s, area.width) },
        Claim { panel: Panel::Timeline, min: 4, want: timeline::height(s) },
        Claim { panel: Panel::Charts, min: 6, want: 9 },
    ];
    if s.suspicion.is_some() {
        claims.push(Claim { panel: Panel::Suspicion, min: n + 3, want: n + 3 });
    }
    claims.push(Claim { panel: Panel::Log, min: 3, want: u16::MAX });
    let priority =
        [Panel::Nodes, Panel::Service, Panel::Suspicion, Panel::Timeline, Panel::Charts, Panel::Log];
    for (panel, rect) in stack(area, &allot(area.height, &claims, &priority)) {
        draw_panel(frame, panel, rect, app);
    }
}

/// Two columns: nodes (and the suspicion matrix beside them), the service
/// across the width, then charts on the left and timeline and log on the right.
fn wide(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let s = &app.snapshot;
    let n = s.nodes.len() as u16;
    let claims = [
        Claim { panel: Panel::Nodes, min: n.min(3) + 3, want: n + 3 },
        Claim { panel: Panel::Service, min: 5, want: service::height(s, area.width) },
        // The lower band holds charts, timeline and log; `Charts` stands for all three.
        Claim { panel: Panel::Charts, min: 6, want: u16::MAX },
    ];
    let rows = allot(area.height, &claims, &[Panel::Nodes, Panel::Service, Panel::Charts]);
    for (panel, rect) in stack(area, &rows) {
        match panel {
            Panel::Nodes if s.suspicion.is_some() && rect.height >= n + 3 => {
                let matrix = suspicion::width(s);
                let [left, right] =
                    Layout::horizontal([Constraint::Min(60), Constraint::Length(matrix)]).areas(rect);
                nodes::draw(frame, left, app);
                suspicion::draw(frame, right, s);
            }
            Panel::Charts => {
                let [left, right] =
                    Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(rect);
                charts::draw(frame, left, s);
                let claims = [
                    Claim {
                        panel: Panel::Timeline,
                        min: 4,
                        want: timeline::height(s).min(right.height / 2 + 1),
                    },
                    Claim { panel: Panel::Log, min: 3, want: u16::MAX },
                ];
                let rows = allot(right.height, &claims, &[Panel::Timeline, Panel::Log]);
                for (panel, rect) in stack(right, &rows) {
                    draw_panel(frame, panel, rect, app);
                }
            }
            _ => draw_panel(frame, panel, rect, app),
        }
    }
}

/// One column for a workload without requests: nodes, its numbers (and
/// for failure detection the suspicion matrix beside them, or under them
/// when too narrow), then the timeline and the log. No request charts:
/// there are no requests.
fn narrow_signal(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let s = &app.snapshot;
    let n = s.nodes.len() as u16;
    let matrix = signal::holds_matrix(s, area.width);
    let mut claims = vec![
        Claim { panel: Panel::Nodes, min: n.min(3) + 3, want: n + 3 },
        Claim { panel: Panel::Signal, min: 4, want: signal::height(s, matrix) },
    ];
    if s.suspicion.is_some() && !matrix {
        claims.push(Claim { panel: Panel::Suspicion, min: n + 3, want: n + 3 });
    }
    claims.push(Claim { panel: Panel::Timeline, min: 4, want: timeline::height(s) });
    claims.push(Claim { panel: Panel::Log, min: 3, want: u16::MAX });
    let priority = [Panel::Nodes, Panel::Signal, Panel::Suspicion, Panel::Timeline, Panel::Log];
    for (panel, rect) in stack(area, &allot(area.height, &claims, &priority)) {
        match panel {
            Panel::Signal => signal::draw(frame, rect, s, matrix),
            _ => draw_panel(frame, panel, rect, app),
        }
    }
}

/// A wide terminal, for a workload without requests: nodes and the
/// suspicion matrix, its numbers across the width, then the timeline over the log.
fn wide_signal(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let s = &app.snapshot;
    let n = s.nodes.len() as u16;
    let claims = [
        Claim { panel: Panel::Nodes, min: n.min(3) + 3, want: n + 3 },
        Claim { panel: Panel::Signal, min: 4, want: signal::height(s, false) },
        Claim { panel: Panel::Timeline, min: 4, want: timeline::height(s).min(area.height / 3 + 1) },
        Claim { panel: Panel::Log, min: 3, want: u16::MAX },
    ];
    let priority = [Panel::Nodes, Panel::Signal, Panel::Timeline, Panel::Log];
    for (panel, rect) in stack(area, &allot(area.height, &claims, &priority)) {
        match panel {
            Panel::Nodes if s.suspicion.is_some() && rect.height >= n + 3 => {
                let [left, right] =
                    Layout::horizontal([Constraint::Min(60), Constraint::Length(suspicion::width(s))])
                        .areas(rect);
                nodes::draw(frame, left, app);
                suspicion::draw(frame, right, s);
            }
            _ => draw_panel(frame, panel, rect, app),
        }
    }
}

/// A panel title: bold, in the terminal's own foreground.
fn title(text: &str) -> ratatui::text::Span<'_> {
    ratatui::text::Span::styled(format!(" {text} "), Style::new().add_modifier(Modifier::BOLD))
}

/// A node status's word and colour (bold basic colours read on light and dark themes).
fn status_look(status: NodeStatus) -> (&'static str, Style) {
    let (word, colour) = match status {
        NodeStatus::Up => ("up", Color::Green),
        NodeStatus::Down => ("down", Color::Red),
        NodeStatus::Paused => ("paused", Color::Yellow),
        NodeStatus::Recovering => ("recovering", Color::Cyan),
    };
    (word, Style::new().fg(colour).add_modifier(Modifier::BOLD))
}

/// The colour of an availability: green when at least three nines, yellow at two, red below.
fn availability_colour(a: Option<f64>) -> Color {
    match a {
        Some(a) if a >= 0.999 => Color::Green,
        Some(a) if a >= 0.99 => Color::Yellow,
        Some(_) => Color::Red,
        None => Color::Reset,
    }
}

/// `99.95 %`, or a dash when there is nothing to divide yet.
fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => format!("{:.2} %", r * 100.0),
        None => "—".to_string(),
    }
}

/// Seconds in a unit that keeps three significant digits: `850 µs`, `3.1 ms`, `1.42 s`.
fn seconds(s: Option<f64>) -> String {
    match s {
        None => "—".to_string(),
        Some(s) if s < 0.001 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) if s < 100.0 => format!("{s:.2} s"),
        Some(s) => format!("{s:.0} s"),
    }
}

/// A count in at most five characters: `999`, `12.3k`, `4.5M`.
fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn allot_drops_the_lowest_priority_panels_first() {
        let claims = [
            Claim { panel: Panel::Nodes, min: 6, want: 8 },
            Claim { panel: Panel::Service, min: 5, want: 7 },
            Claim { panel: Panel::Charts, min: 6, want: 9 },
            Claim { panel: Panel::Log, min: 3, want: u16::MAX },
        ];
        let order = [Panel::Nodes, Panel::Service, Panel::Log, Panel::Charts];
        assert_eq!(
            allot(30, &claims, &order),
            vec![(Panel::Nodes, 8), (Panel::Service, 7), (Panel::Charts, 9), (Panel::Log, 6)]
        );
        // Too short for the log's minimum: the service takes what is left.
        assert_eq!(allot(14, &claims, &order), vec![(Panel::Nodes, 8), (Panel::Service, 6)]);
        assert_eq!(allot(4, &claims, &order), vec![(Panel::Log, 4)]);
        // Nobody wants everything: the bottom panel takes the spare rows.
        assert_eq!(allot(20, &claims[..2], &order), vec![(Panel::Nodes, 8), (Panel::Service, 12)]);
    }

    #[test]
    fn numbers_are_short_and_readable() {
        assert_eq!(percent(Some(0.99951)), "99.95 %");
        assert_eq!(percent(None), "—");
        assert_eq!(seconds(Some(0.00085)), "850 µs");
        assert_eq!(seconds(Some(0.0031)), "3.1 ms");
        assert_eq!(seconds(Some(1.4249)), "1.42 s");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(4_500_000), "4.5M");
    }
}
