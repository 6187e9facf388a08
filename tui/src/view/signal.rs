//! The panel of a workload that sends no client requests (failure
//! detection, Byzantine agreement, atomic commit, checkpointing): its own
//! numbers in big digits where a request workload has its availability, a
//! line of details under them, and for failure detection the suspicion
//! matrix beside them.

use super::{bignum, percent, seconds, suspicion, title};
use crate::snapshot::{AgreementView, CheckpointView, CommitView, DetectionView, Signal, Snapshot};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// The widest column one big number takes.
const COLUMN: u16 = 30;
/// The narrowest: below it a number moves to the details line.
const MIN_COLUMN: u16 = 21;
/// Rows of a big number: its label and three rows of digits.
const BIG_ROWS: u16 = 4;

/// One big number.
struct Big {
    label: String,
    text: String,
    colour: Color,
    /// The label and value in ordinary words, where there is no room for big digits.
    plain: (String, String),
}

impl Big {
    fn new(label: impl Into<String>, text: impl Into<String>, colour: Color) -> Big {
        let (label, text) = (label.into(), text.into());
        Big { plain: (label.clone(), text.clone()), label, text, colour }
    }
}

/// Green when `bad` is zero, red otherwise.
fn zero_is_good(bad: u64) -> Color {
    if bad == 0 {
        Color::Green
    } else {
        Color::Red
    }
}

/// `part/whole`, green when all, red when not, plain when there is nothing yet.
fn fraction(label: &str, part: u64, whole: u64) -> Big {
    let colour = match whole {
        0 => Color::Reset,
        w if part == w => Color::Green,
        _ => Color::Red,
    };
    Big::new(label, format!("{part}/{whole}"), colour)
}

/// A time in big digits, its unit in the label: `median detection, ms` over `610`.
fn big_seconds(label: &str, s: Option<f64>, colour: Color) -> Big {
    let big = match s {
        None => Big::new(label, "-", Color::Reset),
        Some(s) if s < 1.0 => Big::new(format!("{label}, ms"), format!("{:.0}", s * 1e3), colour),
        Some(s) if s < 100.0 => Big::new(format!("{label}, s"), format!("{s:.2}"), colour),
        Some(s) => Big::new(format!("{label}, s"), format!("{s:.0}"), colour),
    };
    Big { plain: (label.to_string(), seconds(s)), ..big }
}

/// `name value  ` as spans, the value bold in `colour`.
fn pair(name: &str, value: String, colour: Color) -> [Span<'static>; 3] {
    let bold = Style::new().add_modifier(Modifier::BOLD).fg(colour);
    [Span::raw(format!("{name} ")), Span::styled(value, bold), Span::raw("  ")]
}

fn detection(d: &DetectionView) -> (&'static str, Vec<Big>, Line<'static>) {
    let bigs = vec![
        Big::new("detections", d.detections.to_string(), Color::Reset),
        Big::new("false suspicions", d.false_suspicions.to_string(), zero_is_good(d.false_suspicions)),
        big_seconds("median detection", d.detection_p50_seconds, Color::Cyan),
    ];
    let mut details = Vec::new();
    details.extend(pair("slowest", seconds(d.detection_max_seconds), Color::Reset));
    details.extend(pair("not detected (yet)", d.undetected.to_string(), Color::Reset));
    // P_A: the share of the time both were up that the monitor trusted its peer.
    details.extend(pair("query accuracy", percent(d.query_accuracy), Color::Reset));
    ("failure detection", bigs, Line::from(details))
}

fn agreement(a: &AgreementView) -> (&'static str, Vec<Big>, Line<'static>) {
    let last = match a.last_followed {
        Some(followed) => fraction("last round: loyal obeyed", followed, a.last_loyal),
        None if a.rounds == 0 => Big::new("last round: loyal obeyed", "-", Color::Reset),
        None => Big::new("traitor commander (last)", "-", Color::Reset),
    };
    let bigs = vec![
        fraction("agreement: rounds agreed", a.agreed, a.rounds),
        fraction("validity: rounds obeyed", a.valid, a.validity_rounds),
        last,
    ];
    let mut details = Vec::new();
    let disagreed = a.rounds - a.agreed.min(a.rounds);
    let violated = a.validity_rounds - a.valid.min(a.validity_rounds);
    details.extend(pair("disagreements", disagreed.to_string(), zero_is_good(disagreed)));
    details.extend(pair("validity violations", violated.to_string(), zero_is_good(violated)));
    details.extend(pair("retreats", a.retreats.to_string(), Color::Reset));
    ("byzantine agreement", bigs, Line::from(details))
}

fn commit(c: &CommitView) -> (&'static str, Vec<Big>, Line<'static>) {
    let bigs = vec![
        Big::new("participants BLOCKED now", c.blocked_now.to_string(), zero_is_good(c.blocked_now)),
        Big::new("committed", c.committed.to_string(), Color::Green),
        Big::new("aborted", c.aborted.to_string(), Color::Yellow),
    ];
    let mut details = Vec::new();
    details.extend(pair("transactions", c.transactions.to_string(), Color::Reset));
    details.extend(pair("longest block", seconds(Some(c.max_blocked_seconds)), Color::Reset));
    details.extend(pair("terminations", c.terminations.to_string(), Color::Reset));
    details.extend(pair("inconsistent", c.inconsistent.to_string(), zero_is_good(c.inconsistent)));
    ("atomic commit", bigs, Line::from(details))
}

fn checkpointing(c: &CheckpointView) -> (&'static str, Vec<Big>, Line<'static>) {
    let bigs = vec![
        // Rollbacks are how recovery works, not a mistake: no alarm colour.
        Big::new("rollbacks", c.rollbacks.to_string(), Color::Reset),
        big_seconds("work lost", Some(c.lost_work_seconds), Color::Yellow),
        Big::new("checkpoints", c.checkpoints.to_string(), Color::Cyan),
    ];
    let mut details = Vec::new();
    details.extend(pair("forced", c.forced.to_string(), Color::Reset));
    details.extend(pair("survivors rolled back", c.survivors_rolled_back.to_string(), Color::Reset));
    details.extend(pair("orphans", c.orphans.to_string(), zero_is_good(c.orphans)));
    details.extend(pair("logged", c.logged_messages.to_string(), Color::Reset));
    ("checkpointing", bigs, Line::from(details))
}

/// The panel's title, big numbers and details for `signal`.
fn content(signal: &Signal) -> (&'static str, Vec<Big>, Line<'static>) {
    match signal {
        Signal::Detection(d) => detection(d),
        Signal::Agreement(a) => agreement(a),
        Signal::Commit(c) => commit(c),
        Signal::Checkpointing(c) => checkpointing(c),
    }
}

/// Whether the suspicion matrix goes beside the numbers in `width` columns.
pub(super) fn holds_matrix(s: &Snapshot, width: u16) -> bool {
    matches!(s.signal, Some(Signal::Detection(_)))
        && s.suspicion.is_some()
        && width >= suspicion::width(s) + 2 * MIN_COLUMN + 2
}

/// The rows the panel wants (with the matrix beside it, the matrix's too).
pub(super) fn height(s: &Snapshot, matrix: bool) -> u16 {
    let own = 2 + BIG_ROWS + 1;
    if matrix {
        own.max(s.nodes.len() as u16 + 3)
    } else {
        own
    }
}

/// Draw the panel into `area`, with the suspicion matrix on the right if `matrix`.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, s: &Snapshot, matrix: bool) {
    let Some(signal) = &s.signal else { return };
    let area = if matrix {
        let [left, right] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(suspicion::width(s))]).areas(area);
        suspicion::draw(frame, right, s);
        left
    } else {
        area
    };
    let (name, bigs, details) = content(signal);
    let block = Block::bordered().title(title(name));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < BIG_ROWS {
        // Too short for big digits: the numbers on one line, the details under them.
        let mut spans = Vec::new();
        for b in &bigs {
            spans.extend(pair(&b.plain.0, b.plain.1.clone(), b.colour));
        }
        frame.render_widget(Paragraph::new(vec![Line::from(spans), details]), inner);
        return;
    }
    let [numbers, rest] = Layout::vertical([Constraint::Length(BIG_ROWS), Constraint::Min(0)]).areas(inner);
    // As many big numbers as have room; the others lead the details.
    let shown = usize::from(numbers.width / MIN_COLUMN).clamp(1, bigs.len());
    let column = (numbers.width / shown as u16).min(COLUMN);
    let columns = Layout::horizontal(vec![Constraint::Length(column); shown]).split(numbers);
    for (b, rect) in bigs.iter().zip(columns.iter()) {
        big(frame, *rect, b);
    }
    let mut spans: Vec<Span<'static>> =
        bigs[shown..].iter().flat_map(|b| pair(&b.plain.0, b.plain.1.clone(), b.colour)).collect();
    spans.extend(details.spans);
    frame.render_widget(Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }), rest);
}

/// A label over the number in big digits, or in plain bold when the column is too narrow.
fn big(frame: &mut Frame<'_>, area: Rect, b: &Big) {
    let look = Style::new().fg(b.colour).add_modifier(Modifier::BOLD);
    let label: String = b.label.chars().take(usize::from(area.width.saturating_sub(1))).collect();
    let mut lines = vec![Line::from(Span::styled(label, Style::new().add_modifier(Modifier::BOLD)))];
    if bignum::width(&b.text) < usize::from(area.width) {
        lines.extend(bignum::lines(&b.text).into_iter().map(|l| l.style(look)));
    } else {
        lines.push(Line::from(Span::styled(b.text.clone(), look)));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
