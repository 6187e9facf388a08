//! `history.jsonl` and the linearizability verdict: every client operation
//! of a replicated service, as its client invoked it and saw it end, one
//! Jepsen-style line each (`t` in nanoseconds since the run's start), and
//! at the end of the run the checker's verdict on the whole history.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use workloads::history::{self, Budget, Event, EventType, Linearizability};
use workloads::{NodeId, Observation, Outcome, Time};

/// The clients' operations as requests: numbered in the order they were
/// invoked, decided when they end.
#[derive(Debug, Default)]
pub struct AsRequests {
    next: u64,
    /// By process: its number, when it was invoked, and by which node.
    open: BTreeMap<u64, (u64, Time, NodeId)>,
}

impl AsRequests {
    /// The request an operation's step decides, if it is a completion.
    pub fn step(&mut self, node: NodeId, at: Time, step: &history::Step) -> Option<Observation> {
        if step.kind == EventType::Invoke {
            self.open.insert(step.process, (self.next, at, node));
            self.next += 1;
            return None;
        }
        let (seq, sent, _) = self.open.remove(&step.process)?;
        let served = step.kind != EventType::Info;
        Some(Observation::Request {
            seq,
            sent,
            outcome: if served { Outcome::Ok } else { Outcome::Failed },
            latency: served.then(|| at.since(sent)),
        })
    }

    /// `node` went down: its operations still open were not served.
    pub fn node_down(&mut self, node: NodeId) -> Vec<Observation> {
        let lost: Vec<u64> = self.open.iter().filter(|(_, o)| o.2 == node).map(|(p, _)| *p).collect();
        lost.into_iter()
            .filter_map(|p| self.open.remove(&p))
            .map(|(seq, sent, _)| Observation::Request { seq, sent, outcome: Outcome::Failed, latency: None })
            .collect()
    }
}

/// The clients' history as it arrives, and the verdict once checked.
#[derive(Debug, Default)]
pub struct HistoryLog {
    /// Where the lines go; the file is created with the first event, so a
    /// run whose workload has no such clients leaves none.
    path: Option<PathBuf>,
    out: Option<BufWriter<File>>,
    error: Option<std::io::Error>,
    events: Vec<Event>,
    invoked: usize,
    verdict: Option<Linearizability>,
}

impl HistoryLog {
    /// Write the history to `path` once there is one.
    pub fn to_file(path: PathBuf) -> HistoryLog {
        HistoryLog { path: Some(path), ..HistoryLog::default() }
    }

    /// Record one event (and write its line).
    pub fn record(&mut self, event: Event) {
        if let Some(path) = self.path.take() {
            match File::create(&path) {
                Ok(f) => self.out = Some(BufWriter::new(f)),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
        if let Some(out) = self.out.as_mut() {
            let res = serde_json::to_writer(&mut *out, &event)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = res {
                self.error.get_or_insert(e);
                self.out = None;
            }
        }
        if event.kind == history::EventType::Invoke {
            self.invoked += 1;
        }
        self.events.push(event);
    }

    /// Operations recorded so far (invocations).
    pub fn invocations(&self) -> usize {
        self.invoked
    }

    /// Check the history (once; later calls return the first verdict) and
    /// flush the file. None when no client recorded anything.
    pub fn check(&mut self) -> Option<Linearizability> {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.flush() {
                self.error.get_or_insert(e);
            }
        }
        if self.events.is_empty() {
            return None;
        }
        if self.verdict.is_none() {
            // Events arrive in the order nodes reported them; pairing goes
            // by each process's own order, which that respects.
            let verdict = match history::check_events(&self.events, Budget::default()) {
                Ok(v) => v,
                // A malformed history is the clients' bug: say nothing is known.
                Err(_) => Linearizability { ops: self.invocations(), keys: 0, ok: None, anomaly: None },
            };
            self.verdict = Some(verdict);
        }
        self.verdict.clone()
    }

    /// The verdict, once checked.
    pub fn verdict(&self) -> Option<&Linearizability> {
        self.verdict.as_ref()
    }

    /// The first write error, if any.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }
}

/// The events of a `history.jsonl`, in file order. A torn last line (the
/// orchestrator died mid-write) is left out; any other line that is not an
/// event is an error, since leaving it out could change the verdict.
pub fn read(path: &Path) -> anyhow::Result<Vec<Event>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let torn = !text.is_empty() && !text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(event) => events.push(event),
            Err(_) if torn && i + 1 == lines.len() => {}
            Err(e) => anyhow::bail!("{} line {}: not a history event: {e}", path.display(), i + 1),
        }
    }
    Ok(events)
}

/// Checks the history of `path` again, as at the end of a run.
pub fn check_file(path: &Path) -> anyhow::Result<Linearizability> {
    let events = read(path)?;
    history::check_events(&events, Budget::default())
        .map_err(|e| anyhow::anyhow!("{}: not a well-formed history: {e}", path.display()))
}

/// The verdict in a few words: for the terminal summary and the dashboard.
pub fn verdict_text(l: &Linearizability) -> String {
    match (l.ok, &l.anomaly) {
        (Some(true), _) => format!("linearizable ({} ops over {} keys)", l.ops, l.keys),
        (Some(false), Some(a)) => format!(
            "NOT linearizable ({} ops over {} keys): {} operations on key {} admit no order",
            l.ops,
            l.keys,
            a.ops.len(),
            a.key
        ),
        (Some(false), None) => format!("NOT linearizable ({} ops over {} keys)", l.ops, l.keys),
        (None, _) => format!("unknown ({} ops over {} keys: the search ran out of budget)", l.ops, l.keys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::history::{EventType, Function, Step, Value};
    use workloads::Time;

    fn step(process: u64, kind: EventType, f: Function, value: Option<i64>) -> Step {
        Step::new(process, kind, f, 0, Value::Single(value))
    }

    #[test]
    fn writes_a_line_per_event_and_checks_at_the_end() {
        let dir = std::env::temp_dir().join(format!("faultlab-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let mut log = HistoryLog::to_file(path.clone());
        let steps = [
            (step(1, EventType::Invoke, Function::Write, Some(3)), 0),
            (step(1, EventType::Ok, Function::Write, Some(3)), 10),
            // A read that starts after the write ended and misses it.
            (step(2, EventType::Invoke, Function::Read, None), 20),
            (step(2, EventType::Ok, Function::Read, None), 30),
        ];
        for (s, t) in steps {
            log.record(s.at(Time::from_millis(t)));
        }
        let verdict = log.check().unwrap();
        assert_eq!((verdict.ops, verdict.keys, verdict.ok), (2, 1, Some(false)));
        let anomaly = verdict.anomaly.unwrap();
        assert_eq!(anomaly.ops.len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], r#"{"process":1,"type":"invoke","f":"write","key":0,"value":3,"t":0}"#);
        assert_eq!(lines[3], r#"{"process":2,"type":"ok","f":"read","key":0,"value":null,"t":30000000}"#);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_reads_back_without_its_torn_last_line_and_checks_the_same() {
        let dir = std::env::temp_dir().join(format!("faultlab-history-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let add = Step::new(4, EventType::Invoke, Function::Add, 2, Value::Pair([Some(5), None]));
        let mut log = HistoryLog::to_file(path.clone());
        log.record(add.at(Time::from_millis(1)));
        log.record(Step { kind: EventType::Ok, value: Some(6), ..add }.at(Time::from_millis(2)));
        let verdict = log.check().unwrap();
        assert_eq!(verdict.ok, Some(false), "5 added to an empty account makes 5");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(r#"{"process":5,"type":"inv"#);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
        assert_eq!(check_file(&path).unwrap(), verdict);
        // A bad line before the last is an error, naming it.
        std::fs::write(
            &path,
            text.replacen(r#""type":"ok""#, r#""type":"done""#, 1)
                + "
",
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_clients_no_file_no_verdict() {
        let dir = std::env::temp_dir().join(format!("faultlab-history-none-{}", std::process::id()));
        let mut log = HistoryLog::to_file(dir.join("history.jsonl"));
        assert!(log.check().is_none());
        assert_eq!(log.invocations(), 0);
        assert!(!dir.join("history.jsonl").exists());
    }
}
