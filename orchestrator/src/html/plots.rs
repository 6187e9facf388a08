//! The page's plots over time: availability per window with fault bands,
//! latency and node states, with the availability axis zoomed or in nines.
//! Every x-axis is the run's wall clock, pauses of the schedule included.

use super::svg::{self, esc, num, Frame};
use super::{f, kind, WINDOW_SECONDS};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A shaded interval on the time line.
struct Band {
    start: f64,
    /// None: it never ended (drawn to the run's end).
    end: Option<f64>,
    label: String,
}

impl Band {
    fn title(&self) -> String {
        match self.end {
            Some(e) => format!("{} from {} s to {} s", self.label, num(self.start), num(e)),
            None => format!("{} from {} s for the rest of the run", self.label, num(self.start)),
        }
    }
}

/// Fault records injected by hand: their schedule time is null.
fn by_hand(r: &Value) -> BTreeSet<u64> {
    r.get("faults")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|x| x.get("scheduled_seconds").is_some_and(Value::is_null) && f(x, "at_seconds").is_some())
        .filter_map(|x| x.get("fault").and_then(Value::as_u64))
        .collect()
}

/// Fault intervals from fault_started / fault_ended (matched by fault index
/// and target), at the times they happened.
fn fault_bands(r: &Value, events: &[Value]) -> Vec<Band> {
    let hand = by_hand(r);
    let mut open: BTreeMap<(u64, String), Vec<usize>> = BTreeMap::new();
    let mut bands: Vec<Band> = Vec::new();
    for e in events {
        let fault = e.get("fault").and_then(Value::as_u64).unwrap_or(0);
        let key = || (fault, e.get("target").and_then(Value::as_str).unwrap_or("").to_string());
        match kind(e) {
            "fault_started" => {
                let label = format!(
                    "{} {}{}",
                    e.get("kind").and_then(Value::as_str).unwrap_or("fault"),
                    e.get("target").and_then(Value::as_str).unwrap_or(""),
                    if hand.contains(&fault) { " (by hand)" } else { "" }
                );
                open.entry(key()).or_default().push(bands.len());
                bands.push(Band { start: f(e, "t").unwrap_or(0.0), end: None, label });
            }
            "fault_ended" => {
                if let Some(i) = open.get_mut(&key()).and_then(|v| (!v.is_empty()).then(|| v.remove(0))) {
                    bands[i].end = f(e, "t");
                }
            }
            _ => {}
        }
    }
    bands
}

/// When the dashboard held the schedule (its notes "schedule paused" and
/// "schedule resumed after ...").
fn held_spans(events: &[Value]) -> Vec<Band> {
    let mut out = Vec::new();
    let mut open = None;
    for e in events.iter().filter(|e| kind(e) == "note") {
        let t = f(e, "t").unwrap_or(0.0);
        match e.get("text").and_then(Value::as_str).unwrap_or("") {
            "schedule paused" => open = Some(t),
            x if x.starts_with("schedule resumed") => {
                if let Some(start) = open.take() {
                    out.push(Band { start, end: Some(t), label: "schedule paused".into() });
                }
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push(Band { start, end: None, label: "schedule paused".into() });
    }
    out
}

fn outages(events: &[Value], duration: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut open = None;
    for e in events {
        match kind(e) {
            "outage_started" => open = f(e, "t"),
            "outage_ended" => {
                let end = f(e, "t").unwrap_or(duration);
                out.push((f(e, "start").or(open).unwrap_or(end), end));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push((start, duration));
    }
    out
}

fn draw_bands(s: &mut String, fr: &Frame, bands: &[Band], class: &str, label_class: &str, row0: usize) {
    for (i, b) in bands.iter().enumerate() {
        let (x0, x1) = (fr.x(b.start), fr.x(b.end.unwrap_or(fr.x1)));
        // A label that would run past the frame's right edge ends at the band's end instead.
        let right = fr.width - fr.right;
        let (lx, anchor) = if x0 + 3.0 + 8.0 * b.label.chars().count() as f64 > right {
            (x1.min(right) - 3.0, "end")
        } else {
            (x0 + 3.0, "start")
        };
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>\
             <text class=\"{label_class}\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            fr.top,
            (x1 - x0).max(1.5),
            fr.floor() - fr.top,
            esc(&b.title()),
            fr.top + 16.0 + 17.0 * ((row0 + i) % 3) as f64,
            esc(&b.label)
        );
    }
}

/// How the availability axis is drawn: a 0–1 axis cannot tell 99.9 % from 100 %.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) enum Scale {
    /// Linear from `lo` to 1 (every window at or above `lo`).
    Zoomed { lo: f64 },
    /// −log10(1 − A), 0 (nothing answered) to `k` nines; a window with every
    /// request answered sits on its own top line at k + 1.
    Nines { k: u32 },
}

impl Scale {
    /// Zoom when every window is at 90 % or more; nines when some fall lower
    /// (an outage and a 0.1 % blip then both show).
    pub(super) fn choose(ratios: &[f64], max_sent: f64) -> Scale {
        let min = ratios.iter().copied().fold(1.0_f64, f64::min);
        if min >= 0.9 {
            let lo = [0.999, 0.998, 0.995, 0.99, 0.98, 0.95, 0.9]
                .into_iter()
                .find(|c| 1.0 - c >= 1.2 * (1.0 - min))
                .unwrap_or(0.9);
            return Scale::Zoomed { lo };
        }
        Scale::Nines { k: max_sent.max(10.0).log10().ceil() as u32 }
    }

    fn range(self) -> (f64, f64) {
        match self {
            Scale::Zoomed { lo } => (lo, 1.0),
            Scale::Nines { k } => (0.0, f64::from(k) + 1.0),
        }
    }

    /// Where a ratio goes on the axis.
    fn y(self, a: f64) -> f64 {
        match self {
            Scale::Zoomed { .. } => a,
            Scale::Nines { k } if a >= 1.0 => f64::from(k) + 1.0,
            Scale::Nines { k } => (-(1.0 - a).log10()).clamp(0.0, f64::from(k)),
        }
    }

    /// Ticks with their labels, in percent.
    fn ticks(self) -> Vec<(f64, String)> {
        let pct = |a: f64| format!("{} %", num((a * 1e5).round() / 1e3));
        match self {
            Scale::Zoomed { lo } => {
                (0..=4).map(|i| lo + (1.0 - lo) * f64::from(i) / 4.0).map(|v| (v, pct(v))).collect()
            }
            Scale::Nines { k } => {
                let mut t: Vec<(f64, String)> =
                    (0..=k).map(|n| (f64::from(n), pct(1.0 - 10f64.powi(-(n as i32))))).collect();
                t.push((f64::from(k) + 1.0, "100 %".into()));
                t
            }
        }
    }

    fn axis_label(self) -> &'static str {
        match self {
            Scale::Zoomed { .. } => "ok / sent (zoomed)",
            Scale::Nines { .. } => "ok / sent (nines)",
        }
    }

    fn note(self, max_sent: f64) -> String {
        match self {
            Scale::Zoomed { lo } => format!(
                "The vertical axis is zoomed to the data: it starts at {} %, not at 0, so a 0.1 % dip shows.",
                num(lo * 100.0)
            ),
            Scale::Nines { .. } => format!(
                "The vertical axis counts nines, −log₁₀(1 − ok/sent): 90 % is one nine, 99 % two, 99.9 % three, \
                 so an outage and a 0.1 % blip both show. A window with every request answered sits on the \
                 top line (100 %); with at most {} requests a window, {} nines is the most a window short of \
                 100 % can reach.",
                num(max_sent),
                // One failure in the fullest window: 1 − 1/n, that is log10(n) nines.
                num((max_sent.max(1.0).log10() * 10.0).round() / 10.0),
            ),
        }
    }
}

pub(super) fn availability_timeline(s: &mut String, r: &Value, events: &[Value], duration: f64) {
    let windows: Vec<(f64, f64, f64)> = events
        .iter()
        .filter(|e| kind(e) == "window")
        .filter_map(|e| {
            let sent = f(e, "sent")?;
            (sent > 0.0).then(|| (f(e, "t").unwrap_or(0.0), f(e, "ok").unwrap_or(0.0) / sent, sent))
        })
        .collect();
    let bands = fault_bands(r, events);
    let held = held_spans(events);
    if windows.is_empty() && bands.is_empty() {
        return;
    }
    let ratios: Vec<f64> = windows.iter().map(|w| w.1).collect();
    let max_sent = windows.iter().map(|w| w.2).fold(0.0, f64::max);
    let scale = Scale::choose(&ratios, max_sent);
    let (y0, y1) = scale.range();
    let fr = Frame::new(300.0, 0.0, duration, y0, y1);
    s.push_str("<h2 id=\"availability\">Availability over time</h2>\n");
    let _ = writeln!(
        s,
        "<p class=\"note\">Each dot is one 100 ms window: the share of the requests sent in it that got a correct \
         reply within the deadline. Red bands are faults as executed{}; the black strip marks outages. {}</p>",
        if held.is_empty() { "" } else { ", grey bands the time the schedule was paused" },
        esc(&scale.note(max_sent))
    );
    s.push_str(&fr.open(&format!("availability per 100 ms window, {}", scale.axis_label())));
    let ticks = scale.ticks();
    s.push_str(&fr.axes_labelled("run time (s, wall clock)", scale.axis_label(), &ticks));
    draw_bands(s, &fr, &held, "held", "hlabel", 0);
    draw_bands(s, &fr, &bands, "fault", "flabel", held.len());
    for (a, b) in outages(events, duration) {
        let _ = write!(
            s,
            "<rect class=\"outage\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\"><title>outage {} s – {} s</title></rect>",
            fr.x(a),
            fr.floor() - 6.0,
            (fr.x(b) - fr.x(a)).max(1.5),
            num(a),
            num(b)
        );
    }
    let at = |t: f64, a: f64| (fr.x(t + WINDOW_SECONDS / 2.0), fr.y(scale.y(a)));
    let pts: Vec<String> =
        windows.iter().map(|(t, a, _)| at(*t, *a)).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(s, "<polyline class=\"avail\" points=\"{}\"/>", pts.join(" "));
    for (t, a, _) in &windows {
        let (x, y) = at(*t, *a);
        let _ = write!(s, "<circle class=\"win\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2\"/>");
    }
    s.push_str("</svg>\n");
}

/// Latency per window, when the windows carry it (keys starting `latency`).
pub(super) fn latency_timeline(s: &mut String, events: &[Value], duration: f64) {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for e in events.iter().filter(|e| kind(e) == "window") {
        let t = f(e, "t").unwrap_or(0.0);
        for (k, v) in e.as_object().into_iter().flatten() {
            if k.starts_with("latency") {
                if let Some(v) = v.as_f64() {
                    series.entry(k.clone()).or_default().push((t, v));
                }
            }
        }
    }
    if series.is_empty() {
        return;
    }
    let max = series.values().flatten().map(|p| p.1).fold(0.0, f64::max);
    let fr = Frame::new(220.0, 0.0, duration, 0.0, max * 1.1);
    let step = svg::nice_step(max * 1.1, 4.0);
    let ticks: Vec<(f64, String)> =
        (0..=5).map(|k| k as f64 * step).filter(|v| *v <= max * 1.1).map(|v| (v, num(v * 1e3))).collect();
    s.push_str("<h2 id=\"latency\">Latency over time</h2>\n<p class=\"legend\">");
    for (i, k) in series.keys().enumerate() {
        let _ = write!(
            s,
            "<span><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
            COLOURS[i % COLOURS.len()],
            esc(&k.replace('_', " "))
        );
    }
    s.push_str("</p>\n");
    s.push_str(&fr.open("latency per window"));
    s.push_str(&fr.axes_labelled("run time (s, wall clock)", "ms", &ticks));
    for (i, pts) in series.values().enumerate() {
        let p: Vec<String> = pts.iter().map(|(t, v)| format!("{:.1},{:.1}", fr.x(*t), fr.y(*v))).collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>",
            COLOURS[i % COLOURS.len()],
            p.join(" ")
        );
    }
    s.push_str("</svg>\n");
}

const COLOURS: &[&str] = &["#2fa860", "#e07b17", "#8a5cd6", "#2f6fdf", "#c0262d"];

pub(super) fn node_timeline(s: &mut String, r: &Value, events: &[Value], duration: f64) {
    let mut names: Vec<String> = r
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    let changes: Vec<(&str, f64, &str)> = events
        .iter()
        .filter(|e| kind(e) == "node_state")
        .filter_map(|e| Some((e.get("node")?.as_str()?, f(e, "t").unwrap_or(0.0), e.get("state")?.as_str()?)))
        .collect();
    for (n, _, _) in &changes {
        if !names.iter().any(|x| x == n) {
            names.push((*n).to_string());
        }
    }
    if names.is_empty() {
        return;
    }
    let row = 26.0;
    let mut fr = Frame::new(row * names.len() as f64 + 56.0, 0.0, duration, 0.0, 1.0);
    fr.left = 120.0;
    s.push_str("<h2 id=\"nodes\">Node states</h2>\n<p class=\"legend\"><span><span class=\"sw\" style=\"background:#2fa860\"></span>up</span>\
        <span><span class=\"sw\" style=\"background:#e5484d\"></span>down</span>\
        <span><span class=\"sw\" style=\"background:#f2a93b\"></span>paused</span></p>\n");
    s.push_str(&fr.open("node state timeline"));
    s.push_str(&fr.axes_labelled("run time (s, wall clock)", "", &[]));
    for (i, name) in names.iter().enumerate() {
        let y = fr.top + 4.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            fr.left - 6.0,
            y + 15.0,
            esc(name)
        );
        // Every node starts up; each change holds until the next.
        let mut segs: Vec<(f64, String)> = vec![(0.0, "up".into())];
        for (_, t, st) in changes.iter().filter(|c| c.0 == name) {
            segs.push((*t, (*st).to_lowercase()));
        }
        for (k, (t, st)) in segs.iter().enumerate() {
            let end = segs.get(k + 1).map_or(duration, |n| n.0);
            if end <= *t {
                continue;
            }
            let class = match st.as_str() {
                "up" | "down" | "paused" => st.as_str(),
                _ => "other",
            };
            let _ = write!(
                s,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{} {} from {} s to {} s</title></rect>",
                fr.x(*t),
                (fr.x(end) - fr.x(*t)).max(1.0),
                row - 6.0,
                esc(name),
                esc(st),
                num(*t),
                num(end)
            );
        }
    }
    s.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_axis_zooms_or_counts_nines() {
        assert_eq!(Scale::choose(&[1.0, 0.995, 1.0], 200.0), Scale::Zoomed { lo: 0.99 });
        assert_eq!(Scale::choose(&[1.0, 1.0], 200.0), Scale::Zoomed { lo: 0.999 });
        let nines = Scale::choose(&[1.0, 0.0, 0.995], 200.0);
        assert_eq!(nines, Scale::Nines { k: 3 });
        // 99.9 % and 100 % land apart; an outage at the bottom.
        assert!((nines.y(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(nines.y(1.0), 4.0);
        assert_eq!(nines.y(0.0), 0.0);
        let labels: Vec<String> = nines.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0 %", "90 %", "99 %", "99.9 %", "100 %"]);
    }
}
