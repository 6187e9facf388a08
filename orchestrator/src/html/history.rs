//! The linearizability verdict, and its anomaly drawn as a timeline: one
//! lane per client process, a bar from each operation's invocation to its
//! completion, labelled with what it did and saw.

use super::svg::{esc, num, Frame};
use crate::words::count;
use serde_json::Value;
use std::fmt::Write as _;

/// One operation of the anomaly, as report.json holds it.
struct Op {
    process: u64,
    label: String,
    kind: String,
    invoke: f64,
    complete: Option<f64>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Array(pair) => {
            let one = |i: usize| pair.get(i).map_or_else(|| "nil".into(), value_text);
            format!("{}→{}", one(0), one(1))
        }
        other => other.to_string(),
    }
}

/// A delta with its sign: `+5`, `-3`.
fn signed(text: String) -> String {
    if text.starts_with('-') || text == "nil" {
        text
    } else {
        format!("+{text}")
    }
}

fn op(v: &Value) -> Option<Op> {
    let f = v.get("f")?.as_str()?;
    let key = v.get("key").and_then(Value::as_u64).unwrap_or(0);
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("info").to_string();
    let value = v.get("value").unwrap_or(&Value::Null);
    let pair = |i: usize| value.get(i).map_or_else(|| "nil".into(), value_text);
    let label = match (f, kind.as_str()) {
        ("read", "ok") => format!("read k{key} → {}", value_text(value)),
        ("read", _) => format!("read k{key}"),
        // An add's [delta, sum]: the sum only when reported.
        ("add", "ok") => format!("add k{key} {} → {}", signed(pair(0)), pair(1)),
        ("add", _) => format!("add k{key} {}", signed(pair(0))),
        (f, _) => format!("{f} k{key} {}", value_text(value)),
    };
    Some(Op {
        process: v.get("process")?.as_u64()?,
        label,
        kind,
        invoke: v.get("invoke")?.as_f64()? / 1e6,
        complete: v.get("complete").and_then(Value::as_f64).map(|t| t / 1e6),
    })
}

/// The `linearizability` section: the verdict, and the anomaly's timeline.
pub(super) fn linearizability(s: &mut String, report: &Value) {
    let Some(l) = report.get("linearizability").filter(|l| l.is_object()) else { return };
    let ops = l.get("ops").and_then(Value::as_u64).unwrap_or(0);
    let keys = l.get("keys").and_then(Value::as_u64).unwrap_or(0);
    s.push_str("<h2 id=\"linearizability\">Linearizability of the clients' history</h2>\n");
    let (class, verdict) = match l.get("ok").and_then(Value::as_bool) {
        Some(true) => ("pass", "linearizable: one correct copy of each register explains every answer"),
        Some(false) => ("fail", "not linearizable: no order of the operations fits one correct copy"),
        None => ("other", "unknown: the search ran out of its budget"),
    };
    let _ = writeln!(
        s,
        "<p><span class=\"{class}\">{}</span> ({} over {}, in history.jsonl)</p>",
        esc(verdict),
        count(ops as f64, "operation"),
        count(keys as f64, "key")
    );
    let Some(anomaly) = l.get("anomaly").filter(|a| a.is_object()) else { return };
    let ops: Vec<Op> =
        anomaly.get("ops").and_then(Value::as_array).into_iter().flatten().filter_map(op).collect();
    if ops.is_empty() {
        return;
    }
    let key = anomaly.get("key").and_then(Value::as_u64).unwrap_or(0);
    let mut processes: Vec<u64> = ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let start = ops.iter().map(|o| o.invoke).fold(f64::INFINITY, f64::min);
    let end = ops.iter().map(|o| o.complete.unwrap_or(o.invoke)).fold(start, f64::max);
    // Room after the last completion for the open end of an `info` operation.
    let span = (end - start).max(0.001);
    let (x0, x1) = (start, end + span * 0.15);
    let row = 56.0;
    let mut fr = Frame::new(row * processes.len() as f64 + 70.0, x0, x1, 0.0, 1.0);
    fr.left = 150.0;
    fr.top = 24.0;
    let _ = writeln!(
        s,
        "<p class=\"note\">The smallest part of the history that is not linearizable: {} on key {key}. \
         Each bar runs from an operation's invocation to its completion; an operation takes effect at \
         one instant inside its bar. Blue: ok; grey: refused (fail); orange, open-ended: no reply \
         (info, it may have taken effect at any later time).</p>",
        count(ops.len() as f64, "operation")
    );
    s.push_str(&fr.open(&format!("timeline of the anomaly's {} operations on key {key}", ops.len())));
    s.push_str(&fr.axes_labelled("run time (ms)", "", &[]));
    for (lane, p) in processes.iter().enumerate() {
        let y = fr.top + 8.0 + row * lane as f64;
        let _ = write!(
            s,
            "<text class=\"lane\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">process {p}</text>",
            fr.left - 8.0,
            y + 30.0
        );
        for o in ops.iter().filter(|o| o.process == *p) {
            let xa = fr.x(o.invoke);
            let xb = fr.x(o.complete.unwrap_or(x1)).max(xa + 3.0);
            let class = match o.kind.as_str() {
                "ok" => "op-ok",
                "fail" => "op-fail",
                _ => "op-info",
            };
            let _ = write!(
                s,
                "<g class=\"op\"><title>{} from {} ms to {}</title>\
                 <rect class=\"{class}\" x=\"{xa:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\"/>\
                 <text class=\"oplabel\" x=\"{xa:.1}\" y=\"{:.1}\">{}</text></g>",
                esc(&o.label),
                num(o.invoke),
                o.complete.map_or_else(|| "unknown".into(), |c| format!("{} ms", num(c))),
                y + 20.0,
                xb - xa,
                y + 14.0,
                esc(&o.label)
            );
        }
    }
    s.push_str("</svg>\n");
}
