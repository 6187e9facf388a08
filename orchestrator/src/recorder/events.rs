//! `events.jsonl`: every fault, node state change, recovery and outage as it
//! happens, and request outcomes per 100 ms window, one JSON object a line,
//! flushed as written so the file survives a crash of the orchestrator.

use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// One line of events.jsonl. Times are run-relative seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run started.
    RunStarted { t: f64, experiment: String, backend: String, seed: u64, duration_seconds: f64 },
    /// A fault was executed.
    FaultStarted { t: f64, fault: usize, kind: String, target: String },
    /// A fault ended (healed, node restarted).
    FaultEnded { t: f64, fault: usize, kind: String, target: String },
    /// A fault that would start after the run's end was skipped.
    FaultSkipped { fault: usize, kind: String, target: String },
    /// A node changed state.
    NodeState { t: f64, node: String, state: String },
    /// A replica began fetching state from its peers.
    RecoveryStarted { t: f64, node: String, reason: String },
    /// A replica finished state transfer.
    RecoveryCompleted { t: f64, node: String, restore_seconds: f64 },
    /// A node began suspecting a peer.
    Suspect { t: f64, node: String, peer: String },
    /// A node trusts a peer again.
    Trust { t: f64, node: String, peer: String },
    /// The service stopped answering correctly (send time of the first failed request).
    OutageStarted { t: f64 },
    /// The service answered correctly again (send time of the next correct request).
    OutageEnded { t: f64, start: f64, seconds: f64 },
    /// Requests sent in [t, t + 0.1 s) and how they ended; votes decided in it.
    /// Written at most 200 ms after the window's end; requests decided after
    /// that (a deadline over 150 ms) come in a further line with the same `t`,
    /// whose counts add to the first.
    Window {
        t: f64,
        sent: u64,
        ok: u64,
        failed: u64,
        wrong: u64,
        unanimous: u64,
        majority: u64,
        no_majority: u64,
    },
    /// A note from a node or the orchestrator.
    Note { t: f64, node: Option<String>, text: String },
    /// Something made the run invalid (an agent died outside a fault...).
    RunInvalid { t: f64, node: Option<String>, reason: String },
    /// The run ended.
    RunEnded { t: f64, interrupted: bool },
}

/// Where events go: a file, or nowhere.
pub struct EventLog {
    out: Option<BufWriter<File>>,
    error: Option<std::io::Error>,
}

impl EventLog {
    /// Events to `path`, created anew.
    pub fn create(path: &Path) -> std::io::Result<EventLog> {
        Ok(EventLog { out: Some(BufWriter::new(File::create(path)?)), error: None })
    }

    /// Events to nowhere (benchmarks, tests).
    pub fn discard() -> EventLog {
        EventLog { out: None, error: None }
    }

    /// Append one event and flush it.
    pub fn write(&mut self, event: &Event) {
        let Some(out) = self.out.as_mut() else { return };
        let res = serde_json::to_writer(&mut *out, event)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = res {
            // Keep the first error for the end of the run; stop writing.
            self.error.get_or_insert(e);
            self.out = None;
        }
    }

    /// The first write error, if any.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }
}
