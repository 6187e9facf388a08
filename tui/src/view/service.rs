//! The service panel: availability as big numbers, reliability, recovery and
//! latency, the TMR verdicts, and an OUTAGE banner while requests fail.

use super::{availability_colour, bignum, count, percent, seconds, title};
use crate::snapshot::Snapshot;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

/// Inner widths from which availability is drawn in big digits.
const BIG: u16 = 110;
/// Width of one big number's column.
const BIG_COLUMN: u16 = 30;

/// The rows the panel wants at `width` columns.
pub(super) fn height(s: &Snapshot, width: u16) -> u16 {
    let big = width.saturating_sub(2) >= BIG;
    2 + u16::from(s.service.in_outage) + (details(s, big).len() as u16).max(4)
}

/// Draw the service panel.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let v = &s.service;
    let border = if v.in_outage { Style::new().fg(Color::Red) } else { Style::new() };
    let block = Block::bordered().title(title("service")).border_style(border);
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if v.in_outage && inner.height > 0 {
        let [banner, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        let look = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD | Modifier::REVERSED);
        frame.render_widget(
            Paragraph::new(" ⚠ OUTAGE — requests are failing ").style(look).centered(),
            banner,
        );
        inner = rest;
    }
    let big = inner.width >= BIG;
    let left_width = if big { 2 * BIG_COLUMN } else { 24 };
    let [left, right] = Layout::horizontal([Constraint::Length(left_width), Constraint::Min(0)]).areas(inner);
    if big {
        let [run, recent] = Layout::horizontal([Constraint::Length(BIG_COLUMN); 2]).areas(left);
        big_number(frame, run, "available, run so far", v.availability);
        big_number(frame, recent, "available, last 10 s", v.availability_recent);
    } else {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let value = |a: Option<f64>| Span::styled(percent(a), bold.fg(availability_colour(a)));
        let lines = vec![
            Line::from(Span::styled("availability", bold)),
            Line::from(vec![Span::raw("run so far "), value(v.availability)]),
            Line::from(vec![Span::raw("last 10 s  "), value(v.availability_recent)]),
            Line::from(vec![Span::raw("time       "), value(Some(v.availability_time))]),
        ];
        frame.render_widget(Paragraph::new(lines), left);
    }
    frame.render_widget(Paragraph::new(details(s, big)), right);
}

/// A label over a three-row number.
fn big_number(frame: &mut Frame<'_>, area: Rect, label: &str, a: Option<f64>) {
    let text = match a {
        Some(a) => format!("{:.2}%", a * 100.0),
        None => "-".to_string(),
    };
    let look = Style::new().fg(availability_colour(a)).add_modifier(Modifier::BOLD);
    let mut lines =
        vec![Line::from(Span::styled(label.to_string(), Style::new().add_modifier(Modifier::BOLD)))];
    lines.extend(bignum::lines(&text).into_iter().map(|l| l.style(look)));
    frame.render_widget(Paragraph::new(lines), area);
}

/// The number lines right of the availability.
fn details(s: &Snapshot, big: bool) -> Vec<Line<'static>> {
    let v = &s.service;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let pair = |name: &str, value: String| {
        vec![Span::raw(format!("{name} ")), Span::styled(value, bold), Span::raw("  ")]
    };
    let mut lines = Vec::new();
    if big {
        lines.push(Line::from(pair("time availability", percent(Some(v.availability_time)))));
    }
    let mut requests = pair("requests", count(v.requests_total));
    requests.extend(pair("ok", count(v.requests_ok)));
    requests.extend(pair("failed", count(v.requests_failed)));
    let wrong = if v.requests_wrong > 0 { bold.fg(Color::Red) } else { bold };
    requests.push(Span::raw("wrong "));
    requests.push(Span::styled(count(v.requests_wrong), wrong));
    lines.push(Line::from(requests));
    let mut reliability = pair("failures", v.failures.to_string());
    reliability.extend(pair("MTTF", seconds(v.mttf_seconds)));
    reliability.extend(pair("MTTR", seconds(v.mttr_seconds)));
    lines.push(Line::from(reliability));
    let mut recovery = pair("recovery last", seconds(v.recovery_last_seconds));
    recovery.extend(pair("p95", seconds(v.recovery_p95_seconds)));
    lines.push(Line::from(recovery));
    let mut latency = pair("latency p50", seconds(v.latency_p50_seconds));
    latency.extend(pair("p99", seconds(v.latency_p99_seconds)));
    lines.push(Line::from(latency));
    if let Some(t) = &s.tmr {
        let mut votes = vec![Span::styled("TMR ", bold.fg(Color::Blue))];
        votes.extend(pair("unanimous", count(t.unanimous)));
        votes.extend(pair("majority", count(t.majority)));
        let none = if t.no_majority > 0 { bold.fg(Color::Red) } else { bold };
        votes.push(Span::raw("no majority "));
        votes.push(Span::styled(count(t.no_majority), none));
        votes.push(Span::raw("  "));
        votes.extend(pair("transfers", t.state_transfers.to_string()));
        lines.push(Line::from(votes));
    }
    if let Some(d) = &s.detector {
        let mut det = vec![Span::styled("detector ", bold.fg(Color::Blue))];
        let worst = d
            .detection_seconds
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        // Mistakes first: on a narrow panel the end of the line is cut.
        let wrong = if d.false_suspicions > 0 { bold.fg(Color::Red) } else { bold };
        det.push(Span::raw("false suspicions "));
        det.push(Span::styled(d.false_suspicions.to_string(), wrong));
        det.push(Span::raw("  "));
        det.extend(pair("detections", d.detection_seconds.len().to_string()));
        det.extend(pair("slowest", seconds(worst)));
        lines.push(Line::from(det));
    }
    for (label, text) in &s.workload {
        lines.push(Line::from(vec![
            Span::styled(format!("{label} "), bold.fg(Color::Blue)),
            Span::raw(text.clone()),
        ]));
    }
    lines
}
