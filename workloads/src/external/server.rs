//! A hosted program: started by the agent, fed its messages on stdin, its
//! stdout read line by line by a thread and polled every millisecond.

use super::{Config, ExtEvent, Msg};
use crate::{Effects, NodeId, Observation, TimerId};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

/// How often the program's output is polled.
const POLL: Duration = Duration::from_millis(1);
const POLL_TIMER: TimerId = TimerId(1);
/// Lines kept of an offending line, in events.
const SHOWN: usize = 200;

/// A server: the hosted program and its pipes.
#[derive(Debug)]
pub struct Server {
    name: String,
    config: Config,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Option<Receiver<String>>,
    exited: bool,
    /// Why the program could not start, to report at the node's start.
    failed: Option<String>,
}

fn shown(line: &str) -> String {
    line.chars().take(SHOWN).collect()
}

impl Server {
    /// Server `me` of `config`. The program starts here, when the agent
    /// builds the node, so that it boots while the run is deployed rather
    /// than in the run's first moments; `init` goes at the node's start.
    pub fn new(me: NodeId, config: &Config) -> Server {
        let mut server = Server {
            name: config.name(me).unwrap_or_else(|| "n?".into()),
            config: config.clone(),
            child: None,
            stdin: None,
            lines: None,
            exited: false,
            failed: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let Some((exe, args)) = self.config.command.split_first() else { return };
        let spawned = Command::new(exe)
            .args(args)
            .current_dir(&self.config.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                self.failed = Some(format!("could not start {}: {e}", self.config.command.join(" ")));
                return;
            }
        };
        if let Some(stdout) = child.stdout.take() {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            self.lines = Some(rx);
        }
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }

    pub(super) fn on_start(&mut self, _now: crate::Time, out: &mut Effects<Msg>) {
        if let Some(status) = self.failed.take() {
            self.note_exit(status, out);
            return;
        }
        let ids: Vec<String> = self.config.servers.iter().filter_map(|n| self.config.name(*n)).collect();
        let init = serde_json::json!({
            "src": "c0", "dest": self.name,
            "body": {"type": "init", "msg_id": 0, "node_id": self.name, "node_ids": ids},
        });
        self.write(&init.to_string(), out);
        out.set_timer(POLL, POLL_TIMER);
    }

    /// Write one line to the program.
    fn write(&mut self, line: &str, out: &mut Effects<Msg>) {
        let Some(stdin) = self.stdin.as_mut() else { return };
        let res = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush());
        if let Err(e) = res {
            self.stdin = None;
            self.note_exit(format!("its stdin closed: {e}"), out);
        }
    }

    fn note_exit(&mut self, status: String, out: &mut Effects<Msg>) {
        if !self.exited {
            self.exited = true;
            out.emit(Observation::External(ExtEvent::Exited { status }));
        }
    }

    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(src) = self.config.name(from) else { return };
        // The body is JSON already: embed it as it is.
        let line = format!(
            "{{\"src\":{},\"dest\":{},\"body\":{}}}",
            serde_json::Value::from(src),
            serde_json::Value::from(self.name.as_str()),
            msg.body
        );
        self.write(&line, out);
    }

    pub(super) fn on_timer(&mut self, timer: TimerId, out: &mut Effects<Msg>) {
        if timer != POLL_TIMER {
            return;
        }
        let mut lines = Vec::new();
        if let Some(rx) = &self.lines {
            loop {
                match rx.try_recv() {
                    Ok(l) => lines.push(l),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.lines = None;
                        break;
                    }
                }
            }
        }
        for line in lines {
            self.output(&line, out);
        }
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            self.child = None;
            self.note_exit(format!("exited: {status}"), out);
        }
        out.set_timer(POLL, POLL_TIMER);
    }

    /// One line the program wrote: a message to send, or an offence to report.
    fn output(&mut self, line: &str, out: &mut Effects<Msg>) {
        if line.trim().is_empty() {
            return;
        }
        let parsed: Option<serde_json::Value> = serde_json::from_str(line).ok();
        let fields = parsed.as_ref().and_then(|v| {
            let dest = v.get("dest")?.as_str()?;
            let body = v.get("body").filter(|b| b.is_object())?;
            Some((dest, body))
        });
        let Some((dest, body)) = fields else {
            // In the node's log too (the agent's stderr), beside the program's own.
            eprintln!("{}: not a Maelstrom message, dropped: {}", self.name, shown(line));
            out.emit(Observation::External(ExtEvent::InvalidLine { line: shown(line) }));
            return;
        };
        if dest == "c0" {
            // The reply to init.
            return;
        }
        match self.config.node(dest) {
            Some(to) => out.send(to, Msg::json(body)),
            None => {
                eprintln!("{}: a message to an unknown node, dropped: {}", self.name, shown(line));
                out.emit(Observation::External(ExtEvent::UnknownNode { line: shown(line) }))
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
