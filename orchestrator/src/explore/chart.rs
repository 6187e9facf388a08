//! The trace explore found, drawn as a Lamport diagram (a message sequence
//! chart): one vertical line per node, time running down, one row per step.
//! A delivery is an arrow from the row where its sender last acted (where it
//! sent the message) to the row where it arrives; a lie is red, a dropped
//! message ends in a cross halfway; a timer is a dot on its node's line, a
//! crash a cross that ends it. What a node observed is written beside it.

use crate::html::svg::esc;
use driver::explore::{Choice, Lie, Step};
use std::fmt::Debug;
use std::fmt::Write as _;

const LANE: usize = 320;
const ROW: usize = 52;
const TOP: usize = 70;
const LEFT: usize = 140;

/// Shorten a label to `n` characters.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The whole page: the finding, then the chart.
pub fn page<M: Debug>(title: &str, finding: &str, names: &[String], trace: &[Step<M>]) -> String {
    let x = |n: usize| LEFT + n * LANE;
    let y = |row: usize| TOP + row * ROW;
    let rows = trace.len() + 1;
    let width = LEFT + names.len() * LANE + 120;
    let height = y(rows) + 40;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="14">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"#
    );
    // When each node's line ends (its crash), if it does.
    let mut crashed: Vec<Option<usize>> = vec![None; names.len()];
    for (i, step) in trace.iter().enumerate() {
        if let Choice::Crash { node } = step.choice {
            crashed.get_mut(usize::from(node.0)).map(|c| c.get_or_insert(i + 1));
        }
    }
    for (n, name) in names.iter().enumerate() {
        let end = crashed[n].map_or(y(rows), y);
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text><line class="lane" x1="{0}" y1="{}" x2="{0}" y2="{end}" stroke="#555" stroke-width="2"/>"##,
            x(n),
            TOP - 30,
            esc(name),
            TOP - 10
        );
    }
    // The row where each node last acted: where its next messages were sent.
    let mut last: Vec<usize> = vec![0; names.len()];
    for (i, step) in trace.iter().enumerate() {
        let row = i + 1;
        let _ = write!(svg, r##"<text x="10" y="{}" fill="#777">{row}.</text>"##, y(row) + 5);
        match &step.choice {
            Choice::Deliver { from, to, msg, lie } => {
                let (f, t) = (usize::from(from.0), usize::from(to.0));
                let (colour, class, tag) = match lie {
                    Lie::Truth => ("#1f5fa8", "msg", String::new()),
                    Lie::Collude => ("#c0262d", "msg lie", " (lie: collude)".to_string()),
                    Lie::Equivocate => ("#c0262d", "msg lie", " (lie: equivocate)".to_string()),
                };
                let (x1, y1, x2, y2) = (x(f), y(last[f]), x(t), y(row));
                let _ = writeln!(
                    svg,
                    r#"<line class="{class}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="2" marker-end="url(#arrow)"/><text x="{}" y="{}" fill="{colour}">{}</text>"#,
                    x2 + 8,
                    y2 - 6,
                    esc(&short(&format!("{msg:?}{tag}"), 38))
                );
                last[t] = row;
            }
            Choice::Drop { from, to, msg } => {
                let (f, t) = (usize::from(from.0), usize::from(to.0));
                let (x1, y1) = (x(f), y(last[f]));
                let (mx, my) = ((x1 + x(t)) / 2, (y1 + y(row)) / 2);
                let _ = writeln!(
                    svg,
                    r##"<line class="drop" x1="{x1}" y1="{y1}" x2="{mx}" y2="{my}" stroke="#888" stroke-width="2" stroke-dasharray="6 4"/><text x="{mx}" y="{}" text-anchor="middle" fill="#888" font-size="20">✕</text><text x="{}" y="{my}" fill="#888">{}</text>"##,
                    my + 7,
                    mx + 14,
                    esc(&short(&format!("{msg:?} (dropped)"), 48))
                );
            }
            Choice::Timer { node, .. } => {
                let n = usize::from(node.0);
                let _ = writeln!(
                    svg,
                    r##"<circle class="timer" cx="{}" cy="{}" r="6" fill="#e0a000"/><text x="{}" y="{}" fill="#8a6200">timer fires</text>"##,
                    x(n),
                    y(row),
                    x(n) + 10,
                    y(row) - 6
                );
                last[n] = row;
            }
            Choice::Crash { node } => {
                let n = usize::from(node.0);
                let _ = writeln!(
                    svg,
                    r##"<text class="crash" x="{}" y="{}" text-anchor="middle" fill="#c0262d" font-size="26">✕</text><text x="{}" y="{}" fill="#c0262d">crashes</text>"##,
                    x(n),
                    y(row) + 9,
                    x(n) + 14,
                    y(row) - 6
                );
            }
        }
        for (node, obs) in &step.observations {
            let n = usize::from(node.0);
            let _ = writeln!(
                svg,
                r##"<text class="obs" x="{}" y="{}" fill="#2a7a2a">{}</text>"##,
                x(n) + 10,
                y(row) + 16,
                esc(&short(&format!("{obs:?}"), 38))
            );
        }
    }
    svg.push_str("</svg>\n");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:sans-serif;font-size:16px;margin:24px}} h1{{font-size:22px}} .finding{{font-size:18px;color:#c0262d}}</style></head>
<body><h1>{t}</h1><p class="finding">{f}</p><p>{n} steps, one per row, time running down. Arrows are deliveries, from where the sender last acted; red arrows carry a lie; a dashed line ending in a cross is a dropped message; a dot is a timer; a cross on a line is a crash; green text is what a node observed.</p>
{svg}</body></html>
"#,
        t = esc(title),
        f = esc(finding),
        n = trace.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver::explore::Choice;
    use workloads::{NodeId, Time, TimerId};

    #[test]
    fn every_step_is_drawn_and_a_lie_is_red() {
        let names = vec!["a".to_string(), "b".to_string()];
        let trace = vec![
            Step {
                choice: Choice::Timer { node: NodeId(0), timer: TimerId(1), at: Time::ZERO },
                now: Time::ZERO,
                observations: vec![],
            },
            Step {
                choice: Choice::Deliver { from: NodeId(0), to: NodeId(1), msg: 7u32, lie: Lie::Truth },
                now: Time::ZERO,
                observations: vec![],
            },
            Step {
                choice: Choice::Deliver { from: NodeId(1), to: NodeId(0), msg: 8u32, lie: Lie::Collude },
                now: Time::ZERO,
                observations: vec![],
            },
            Step {
                choice: Choice::Drop { from: NodeId(0), to: NodeId(1), msg: 9u32 },
                now: Time::ZERO,
                observations: vec![],
            },
            Step { choice: Choice::Crash { node: NodeId(1) }, now: Time::ZERO, observations: vec![] },
        ];
        let html = page("t <x>", "broken & found", &names, &trace);
        assert_eq!(html.matches(r#"class="msg"#).count(), 2);
        assert_eq!(html.matches(r#"class="msg lie""#).count(), 1);
        assert_eq!(html.matches(r#"class="drop""#).count(), 1);
        assert_eq!(html.matches(r#"class="timer""#).count(), 1);
        assert_eq!(html.matches(r#"class="crash""#).count(), 1);
        assert!(html.contains("t &lt;x&gt;") && html.contains("broken &amp; found"));
        // The reply leaves b where the first message arrived (row 2), and arrives at a in row 3.
        assert!(html.contains(&format!(
            r#"x1="{}" y1="{}" x2="{}" y2="{}""#,
            LEFT + LANE,
            TOP + 2 * ROW,
            LEFT,
            TOP + 3 * ROW
        )));
    }
}
