//! Per-second sparklines: throughput, availability and p99 latency.

use super::{percent, seconds, title};
use crate::snapshot::Snapshot;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Sparkline};
use ratatui::Frame;

/// Draw as many of the three sparklines as fit (at least three rows each), most telling first.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let v = &s.service;
    let last = |series: &[u64]| series.last().copied();
    let charts = [
        (
            format!(
                "availability per second {}",
                percent(last(&v.availability_permille).map(|p| p as f64 / 1e3))
            ),
            &v.availability_permille,
            Some(1000),
            Color::Green,
        ),
        (
            format!(
                "correct replies per second {}",
                last(&v.throughput).map_or("—".into(), |t| t.to_string())
            ),
            &v.throughput,
            None,
            Color::Cyan,
        ),
        (
            format!("p99 latency {}", seconds(last(&v.latency_p99_us).map(|us| us as f64 / 1e6))),
            &v.latency_p99_us,
            None,
            Color::Magenta,
        ),
    ];
    let shown = usize::from(area.height / 3).min(charts.len());
    if shown == 0 {
        return;
    }
    let areas = Layout::vertical(vec![Constraint::Ratio(1, shown as u32); shown]).split(area);
    for ((name, series, max, colour), rect) in charts.into_iter().zip(areas.iter()) {
        let block = Block::bordered().title(title(&name));
        let width = usize::from(block.inner(*rect).width);
        // The newest seconds, as many as there are columns.
        let recent = &series[series.len().saturating_sub(width)..];
        let mut line =
            Sparkline::default().block(block).data(recent.iter().copied()).style(Style::new().fg(colour));
        if let Some(max) = max {
            line = line.max(max);
        }
        frame.render_widget(line, *rect);
    }
}
