//! What every checkpointing process shares: its bank, its place among the
//! processes, the step that forwards tokens, the checkpoint cost, and the
//! ledger reports the oracle reads.

use super::bank::{Bank, Delivery, Transfer};
use super::{stable, CheckpointEvent, Config, Msg};
use crate::{Effects, NodeId, Observation, Time};
use std::time::Duration;

/// Ledger reports are sent at most this often (and only after a change).
const LEDGER_EVERY: Duration = Duration::from_millis(100);

/// The part of a process that does not depend on the protocol.
#[derive(Debug)]
pub(crate) struct Core {
    /// This process's index.
    pub me: u16,
    pub cfg: Config,
    pub bank: Bank,
    /// After a checkpoint the process works again at this time (δ).
    pub busy_until: Time,
    /// When the process (re)started.
    pub started: Time,
    last_ledger: Option<(i64, u64, u32)>,
    last_ledger_at: Option<Time>,
    /// Messages and bytes the protocol added, not reported yet.
    overhead: (u64, u64),
}

impl Core {
    /// Process `me` of `cfg`, fresh.
    pub fn new(me: NodeId, cfg: &Config) -> Core {
        let index = cfg.processes.iter().position(|p| *p == me).unwrap_or(0) as u16;
        Core {
            me: index,
            cfg: cfg.clone(),
            bank: Bank::new(index, cfg),
            busy_until: Time::ZERO,
            started: Time::ZERO,
            last_ledger: None,
            last_ledger_at: None,
            overhead: (0, 0),
        }
    }

    /// Number of processes.
    pub fn n(&self) -> usize {
        self.cfg.processes.len()
    }

    /// The node id of process `index`.
    pub fn id(&self, index: u16) -> NodeId {
        self.cfg.processes.get(usize::from(index)).copied().unwrap_or(NodeId(index))
    }

    /// The index of node `id`, if it is a process.
    pub fn index(&self, id: NodeId) -> Option<u16> {
        self.cfg.processes.iter().position(|p| *p == id).map(|i| i as u16)
    }

    /// Every other process's node id.
    pub fn peers(&self) -> Vec<NodeId> {
        self.cfg.processes.iter().copied().filter(|p| *p != self.id(self.me)).collect()
    }

    /// Report that the failures exceed what the protocol tolerates, and
    /// with `tell`, tell every other process to stop too.
    pub fn unrecoverable(&self, reason: String, tell: bool, out: &mut Effects<Msg>) {
        if tell {
            for p in self.peers() {
                out.send(p, Msg::Halt { reason: reason.clone() });
            }
        }
        out.emit(Observation::Checkpoint(CheckpointEvent::Unrecoverable { reason }));
    }

    /// Send `msg` to every other process that has not answered yet (a
    /// restarted process gathering its peers' replies).
    pub fn ask_missing<T>(
        &self,
        answered: &std::collections::BTreeMap<u16, T>,
        msg: &Msg,
        out: &mut Effects<Msg>,
    ) {
        for p in 0..self.n() as u16 {
            if p != self.me && !answered.contains_key(&p) {
                out.send(self.id(p), msg.clone());
            }
        }
    }

    /// Credit `tr`; an output is reported through `output` (the protocol
    /// decides when it may leave).
    pub fn deliver(&mut self, tr: Transfer) -> Delivery {
        self.bank.deliver(tr, self.cfg.hops)
    }

    /// Forward held tokens unless the process is still paying for a checkpoint.
    pub fn forward(&mut self, now: Time) -> Vec<(NodeId, Transfer)> {
        if now < self.busy_until {
            return Vec::new();
        }
        let cfg = self.cfg.clone();
        self.bank.forward(&cfg).into_iter().map(|(to, tr)| (self.id(to), tr)).collect()
    }

    /// Charge δ for a checkpoint taken now; returns δ.
    pub fn charge_checkpoint(&mut self, now: Time) -> Duration {
        self.busy_until = now + self.cfg.checkpoint_cost;
        self.cfg.checkpoint_cost
    }

    /// Count what sending `msg` adds to the computation: a transfer's
    /// piggybacked fields, or a whole protocol message (encoded sizes).
    pub fn count_overhead(&mut self, msg: &Msg) {
        let size = stable::encode(msg).len() as u64;
        match msg {
            // A transfer's own bytes are the computation's; what rides on it is the protocol's.
            Msg::Transfer { tr, .. } | Msg::Causal { tr, .. } => {
                self.overhead.1 += size.saturating_sub(stable::encode(tr).len() as u64 + 1);
            }
            _ => {
                self.overhead.0 += 1;
                self.overhead.1 += size;
            }
        }
    }

    /// Report the ledger if it changed since the last report, at most every
    /// LEDGER_EVERY (or at once with `force`), and the overhead added since.
    pub fn report_ledger(&mut self, now: Time, force: bool, obs: &mut Vec<Observation>) {
        if self.overhead != (0, 0) && (force || self.last_ledger_at.is_none_or(|t| now >= t + LEDGER_EVERY)) {
            let (messages, bytes) = std::mem::take(&mut self.overhead);
            obs.push(Observation::Checkpoint(CheckpointEvent::Overhead { messages, bytes }));
        }
        let state = (self.bank.balance, self.bank.delivered, self.bank.absorbed);
        if self.last_ledger == Some(state) {
            return;
        }
        if !force && self.last_ledger_at.is_some_and(|t| now < t + LEDGER_EVERY) {
            return;
        }
        self.last_ledger = Some(state);
        self.last_ledger_at = Some(now);
        obs.push(Observation::Checkpoint(CheckpointEvent::Ledger {
            balance: state.0,
            delivered: state.1,
            absorbed: state.2,
        }));
    }
}

/// The ticks of process `me`'s checkpoint timer are spread over one interval,
/// so that independent checkpoints are not accidentally coordinated.
pub(crate) fn phase(cfg: &Config, me: u16) -> Duration {
    let n = cfg.processes.len().max(1) as u32;
    cfg.interval / n * u32::from(me) + cfg.interval / (2 * n)
}
