//! The top two lines: what runs, and how far it has got.

use crate::snapshot::{RunState, Snapshot};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;

/// Draw the header into `area` (two rows).
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot) {
    let [first, second] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut title = vec![
        Span::styled("faultlab ", bold.fg(Color::Cyan)),
        Span::styled(if s.experiment.is_empty() { "(no experiment)" } else { &s.experiment }, bold),
    ];
    if let Some(concept) = &s.concept {
        title.push(Span::raw(" — "));
        title.push(Span::raw(concept.as_str()));
    }
    if let Some(why) = &s.invalid {
        title = vec![Span::styled(format!("RUN INVALID: {why}"), bold.fg(Color::Red))];
    }
    frame.render_widget(Paragraph::new(Line::from(title)), first);

    let (word, colour) = match &s.invalid {
        Some(_) => ("✖ INVALID RUN", Color::Red),
        None => run_state_look(s.run_state),
    };
    // A held schedule and an invalid run are read from the back of the room: reversed.
    let loud = s.invalid.is_some() || s.run_state == RunState::Paused;
    let (state, look) = if loud {
        (format!(" {word} "), bold.fg(colour).add_modifier(Modifier::REVERSED))
    } else {
        (format!("{word} "), bold.fg(colour))
    };
    // A sandbox's duration is only a bound: it runs until stopped.
    let clock = if s.duration_seconds > 0.0 && !s.sandbox {
        format!(" {:.1} s / {:.0} s ", s.elapsed_seconds, s.duration_seconds)
    } else {
        format!(" {:.1} s ", s.elapsed_seconds)
    };
    let stalls = if s.host_stalls > 0 { format!(" · {} host stalls", s.host_stalls) } else { String::new() };
    let sandbox = if s.sandbox { " · sandbox" } else { "" };
    let backend = if s.backend.is_empty() { "?" } else { &s.backend };
    let about = format!(" {backend}{sandbox} · seed {}{stalls}", s.seed);
    let [state_area, gauge_area, clock_area, about_area] = Layout::horizontal([
        Constraint::Length(state.chars().count() as u16),
        Constraint::Min(0),
        Constraint::Length(clock.chars().count() as u16),
        Constraint::Length(about.chars().count() as u16),
    ])
    .areas(second);
    frame.render_widget(Span::styled(state, look), state_area);
    let ratio = if s.duration_seconds > 0.0 && !s.sandbox {
        (s.elapsed_seconds / s.duration_seconds).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let gauge = LineGauge::default()
        .ratio(ratio)
        .label("")
        .filled_symbol(symbols::line::THICK.horizontal)
        .unfilled_symbol(symbols::line::THICK.horizontal)
        .filled_style(Style::new().fg(colour))
        .unfilled_style(Style::new().add_modifier(Modifier::DIM));
    frame.render_widget(gauge, gauge_area);
    frame.render_widget(Span::styled(clock, bold), clock_area);
    frame.render_widget(Span::raw(about), about_area);
}

/// The run state's word and colour.
fn run_state_look(state: RunState) -> (&'static str, Color) {
    match state {
        RunState::Starting => ("● STARTING", Color::Yellow),
        RunState::Running => ("▶ RUNNING", Color::Green),
        RunState::Paused => ("⏸ SCHEDULE PAUSED", Color::Yellow),
        RunState::Finished => ("■ FINISHED", Color::Blue),
        RunState::Interrupted => ("■ INTERRUPTED", Color::Red),
    }
}
