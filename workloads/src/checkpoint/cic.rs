//! Communication-induced checkpointing, index-based (after Briatico, Ciuffoletti
//! and Simoncini, BCS): every process checkpoints on its own timer, as in
//! independent checkpointing, and numbers its checkpoints; every message
//! carries its sender's current index. A message whose index is above the
//! receiver's forces a checkpoint, numbered with the message's index, before
//! it is delivered. Then no state with index `k` has received a message sent
//! in an interval at or after `k`: the checkpoints of equal index form a
//! consistent recovery line, and a recovery never goes back further than the
//! failed process's last checkpoint — no domino effect, at the price of the
//! forced checkpoints (counted as `forced`).
//!
//! Everything else — dependency tracking, the recovery line computed at
//! recovery time, output commit — is independent checkpointing's
//! ([`super::independent`]); this module only adds the forcing rule.

use super::bank::Bank;
use super::independent;
use super::{Config, Msg};
use crate::{Effects, NodeId, StableRecords, Time, TimerId};

/// A process checkpointing independently plus forced checkpoints.
#[derive(Debug)]
pub struct Process {
    inner: independent::Process,
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        Process { inner: independent::Process::new(me, cfg, stable) }
    }

    /// The bank state.
    pub fn bank(&self) -> &Bank {
        &self.inner.core.bank
    }

    /// The state every protocol keeps (for counting what the protocol adds).
    pub(super) fn core_mut(&mut self) -> &mut super::core::Core {
        &mut self.inner.core
    }

    /// True while a recovery is under way here.
    pub fn is_recovering(&self) -> bool {
        self.inner.is_recovering()
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.inner.on_start(now, out);
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        self.inner.on_timer(now, id, out);
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        if let Msg::Transfer { epoch, interval, tr, .. } = &msg {
            // Only a message that will be delivered forces a checkpoint.
            if !self.inner.core.bank.is_duplicate(tr) {
                self.inner.force_checkpoint(now, *epoch, *interval, out);
            }
        }
        self.inner.on_message(now, from, msg, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::bank::Transfer;
    use crate::checkpoint::tests::{config, events};
    use crate::checkpoint::{CheckpointEvent, Protocol};

    fn taken(out: &Effects<Msg>) -> Vec<(u64, bool)> {
        events(out)
            .into_iter()
            .filter_map(|e| match e {
                CheckpointEvent::Taken { index, forced, .. } => Some((index, forced)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_message_from_a_later_interval_forces_a_checkpoint_before_its_delivery() {
        let cfg = config(Protocol::Cic, 3);
        let mut p = Process::new(NodeId(1), &cfg, None);
        let mut out = Effects::new();
        p.on_start(Time::ZERO, &mut out);
        out.clear();
        // Token `token`'s first hop, from process `from` in its interval `interval`.
        let mut hop = |from: u16, token: u32, interval: u64, out: &mut Effects<Msg>| {
            let tr = Transfer { token, hop: 1, amount: 10 };
            let msg = Msg::Transfer { tr, epoch: 0, interval, dv: vec![] };
            p.on_message(Time::from_millis(u64::from(token)), NodeId(from), msg, out);
        };
        let before = cfg.balance;
        hop(0, 0, 3, &mut out);
        assert_eq!(taken(&out), vec![(3, true)], "forced to index 3");
        // The forced checkpoint (and the indexes it skipped) hold the state before the delivery.
        let written: Vec<&str> = out
            .stable
            .iter()
            .filter_map(|w| match w {
                crate::StableWrite::Put { key, .. } if key.starts_with("ck-") => Some(key.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(written, vec!["ck-1", "ck-2", "ck-3"]);
        // Same interval again, or an older one: no checkpoint.
        out.clear();
        hop(2, 3, 3, &mut out);
        hop(2, 5, 1, &mut out);
        assert!(taken(&out).is_empty());
        assert_eq!(p.bank().balance, before + 30);
    }
}
