//! `faultlab table`: the seed's "message logging at a glance" table
//! (blocking, orphans, recovery) filled with measured numbers. One
//! checkpointing experiment is run once per protocol of
//! [`Protocol::ALL`] under its crash, and once per protocol without its
//! faults (the failure-free overhead); a protocol added to that list
//! appears here without a change.

use super::section::{CheckpointReport, Spread};
use super::KEY;
use crate::experiment::{Experiment, Workload};
use crate::run::RunOptions;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use workloads::checkpoint::Protocol;

/// One protocol's two runs.
#[derive(Clone, Debug)]
pub struct Row {
    pub protocol: &'static str,
    /// The run without faults, and under the file's crash.
    pub free: Value,
    pub crash: Value,
    /// Where the crash run's report.html is.
    pub crash_dir: PathBuf,
    /// Both runs were valid and went to their end.
    pub valid: bool,
}

/// `exp` with every process running `protocol`.
fn with_protocol(exp: &Experiment, protocol: Protocol) -> Result<Experiment> {
    let mut e = exp.clone();
    match &mut e.workload {
        Workload::Checkpointing(p) => p.config.protocol = protocol,
        _ => bail!("{}: `faultlab table` needs a `kind: checkpointing` experiment", exp.path.display()),
    }
    e.name = format!("{}-{}", exp.name, protocol.as_str());
    Ok(e)
}

/// Run `exp` under every protocol, with and without its faults; runs go to
/// `<out>/<protocol>/{failure-free,crash}`.
pub async fn measure(exp: &Experiment, opts: &RunOptions, out: &Path) -> Result<Vec<Row>> {
    if exp.faults.is_empty() {
        bail!("{}: the table compares recoveries; the experiment needs a crash", exp.path.display());
    }
    let mut rows = Vec::new();
    for protocol in Protocol::ALL {
        let e = with_protocol(exp, protocol)?;
        let mut free = e.clone();
        free.faults.clear();
        let dir = out.join(protocol.as_str());
        let free_opts = RunOptions {
            out_dir: Some(dir.join("failure-free")),
            control: Some("failure-free reference of faultlab table".into()),
            ..opts.clone()
        };
        let crash_opts = RunOptions { out_dir: Some(dir.join("crash")), ..opts.clone() };
        let a = crate::run::run(&free, &free_opts)
            .await
            .with_context(|| format!("{protocol:?} without faults"))?;
        let b = crate::run::run(&e, &crash_opts)
            .await
            .with_context(|| format!("{protocol:?} under the crash"))?;
        let section = |r: &crate::report::Report| r.sections.get(KEY).cloned().unwrap_or(Value::Null);
        let valid = |r: &crate::report::Report| r.valid && !r.interrupted;
        rows.push(Row {
            protocol: protocol.as_str(),
            free: section(&a.report),
            crash: section(&b.report),
            crash_dir: dir.join("crash"),
            valid: valid(&a.report) && valid(&b.report),
        });
    }
    Ok(rows)
}

fn parse(v: &Value) -> CheckpointReport {
    // Only the fields the table shows; missing ones read as zero.
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let spread = |k: &str| {
        let s = v.get(k);
        let g = |x: &str| s.and_then(|s| s.get(x)).and_then(Value::as_f64);
        Spread {
            count: s.and_then(|s| s.get("count")).and_then(Value::as_u64).unwrap_or(0) as usize,
            total: g("total").unwrap_or(0.0),
            mean: g("mean"),
            p50: g("p50"),
            max: g("max"),
        }
    };
    CheckpointReport {
        checkpoints: n("checkpoints"),
        overhead_seconds: f("overhead_seconds"),
        bytes: n("bytes"),
        rollbacks: n("rollbacks"),
        survivors_rolled_back: n("survivors_rolled_back"),
        rollback_distance: spread("rollback_distance"),
        lost_work_seconds: spread("lost_work_seconds"),
        recovery_seconds: spread("recovery_seconds"),
        orphans: n("orphans"),
        protocol_messages: n("protocol_messages"),
        protocol_bytes: n("protocol_bytes"),
        logged_messages: n("logged_messages"),
        logged_bytes: n("logged_bytes"),
        output_wait_seconds: spread("output_wait_seconds"),
        golden_match: v.get("golden_match").and_then(Value::as_bool).unwrap_or(false),
        golden_mismatch: v.get("golden_mismatch").and_then(Value::as_str).map(str::to_string),
        ..CheckpointReport::default()
    }
}

/// The table's columns: header, what it measures, and the cell of a row.
type Column = (&'static str, &'static str, fn(&CheckpointReport, &CheckpointReport) -> String);

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 0.01 => format!("{:.2} ms", s * 1e3),
        Some(s) => format!("{:.0} ms", s * 1e3),
    }
}

const COLUMNS: &[Column] = &[
    (
        "blocked",
        "failure-free: time the processes stopped working for checkpoints (δ each), summed",
        |f, _| format!("{:.2} s", f.overhead_seconds),
    ),
    (
        "+messages",
        "failure-free: messages the protocol added (markers, notices) beyond the transfers",
        |f, _| f.protocol_messages.to_string(),
    ),
    (
        "+bytes",
        "failure-free: bytes the protocol added on the wire (its messages, piggybacked fields)",
        |f, _| f.protocol_bytes.to_string(),
    ),
    (
        "stable bytes",
        "failure-free: bytes written to stable storage (checkpoints and log records)",
        |f, _| (f.bytes + f.logged_bytes).to_string(),
    ),
    (
        "output wait",
        "failure-free: median time an output waited until it could not be rolled back",
        |f, _| ms(f.output_wait_seconds.p50),
    ),
    ("recovery", "under the crash: from the restart to computing again (mean)", |_, c| {
        ms(c.recovery_seconds.mean)
    }),
    ("survivors back", "under the crash: processes that did not crash but rolled back", |_, c| {
        c.survivors_rolled_back.to_string()
    }),
    ("rollback", "under the crash: the most checkpoints any rollback went back", |_, c| {
        c.rollback_distance.max.map_or_else(|| "-".into(), |d| format!("{d:.0} ckpt"))
    }),
    ("lost work", "under the crash: computation undone by the rollbacks, summed", |_, c| {
        format!("{:.2} s", c.lost_work_seconds.total)
    }),
    (
        "orphans",
        "under the crash: messages discarded because their sender's state was rolled back",
        |_, c| c.orphans.to_string(),
    ),
    ("golden", "under the crash: the final state equals the fault-free golden run", |_, c| {
        if c.golden_match {
            "yes".into()
        } else {
            "NO".into()
        }
    }),
];

/// The table for the terminal, with what each column measures and why a
/// run missed the golden state.
pub fn render(rows: &[Row], exp: &Experiment, backend: &str) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let (f, c) = (parse(&r.free), parse(&r.crash));
            let mut v = vec![r.protocol.to_string()];
            v.extend(COLUMNS.iter().map(|col| (col.2)(&f, &c)));
            v
        })
        .collect();
    let headers: Vec<&str> = std::iter::once("protocol").chain(COLUMNS.iter().map(|c| c.0)).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{}: each protocol under the same crash, and without it  (backend {backend}, seed {})\n",
        exp.name, exp.seed
    );
    let line = |cols: Vec<&str>| -> String {
        cols.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect::<Vec<_>>().join("  ")
    };
    let _ = writeln!(s, "  {}", line(headers.clone()));
    for r in &cells {
        let _ = writeln!(s, "  {}", line(r.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(s);
    for c in COLUMNS {
        let _ = writeln!(s, "  {:<14} {}", c.0, c.1);
    }
    for r in rows {
        if let Some(why) = parse(&r.crash).golden_mismatch {
            let _ = writeln!(s, "  {}: golden run not reached: {why}", r.protocol);
        }
        if !r.valid {
            let _ =
                writeln!(s, "  {}: a run was invalid or interrupted; its numbers prove nothing", r.protocol);
        }
    }
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The table as a self-contained page, each protocol linking to its crash run's report.html.
pub fn html(rows: &[Row], exp: &Experiment, backend: &str, out: &Path) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{name}: the table</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}\
         .no{{color:#b00;font-weight:bold}}</style></head><body>\
         <h1>{name}: message logging at a glance, measured</h1>\
         <p>Each protocol ran <code>{file}</code> under its crash and once without its faults \
         (backend {backend}, seed {seed}).</p><table><tr><th>protocol</th>",
        name = esc(&exp.name),
        file = esc(&exp.path.display().to_string()),
        seed = exp.seed,
    );
    for c in COLUMNS {
        let _ = write!(s, "<th title=\"{}\">{}</th>", esc(c.1), esc(c.0));
    }
    let _ = write!(s, "</tr>");
    for r in rows {
        let (f, c) = (parse(&r.free), parse(&r.crash));
        let link = r.crash_dir.strip_prefix(out).unwrap_or(&r.crash_dir).join("report.html");
        let _ = write!(s, "<tr><td><a href=\"{}\">{}</a></td>", esc(&link.display().to_string()), r.protocol);
        for col in COLUMNS {
            let v = (col.2)(&f, &c);
            let class = if v == "NO" { " class=\"no\"" } else { "" };
            let _ = write!(s, "<td{class}>{}</td>", esc(&v));
        }
        let _ = write!(s, "</tr>");
    }
    let _ = write!(s, "</table><h2>What each column measures</h2><dl>");
    for c in COLUMNS {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(c.0), esc(c.1));
    }
    let _ = write!(s, "</dl>");
    for r in rows {
        if let Some(why) = parse(&r.crash).golden_mismatch {
            let _ = write!(s, "<p class=\"no\">{}: golden run not reached: {}</p>", r.protocol, esc(&why));
        }
    }
    let _ = writeln!(s, "</body></html>");
    s
}
