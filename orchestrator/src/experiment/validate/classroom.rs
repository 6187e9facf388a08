//! Validation of the classroom workloads: `byzantine-agreement`, `commit`
//! and `rpc`, each with located errors like the others.

use super::super::yaml::{CommitProtocol, RpcSemantics};
use super::super::{ByzantineParams, CommitParams, RpcParams, Workload};
use super::{Checker, Res};
use crate::topology::Topology;
use crate::workload::{ByzantineFile, CommitFile, RpcFile};
use faults::Dur;
use std::time::Duration;
use workloads::NodeId;

impl Checker<'_> {
    /// A duration that must be above zero, or its default.
    fn positive_dur(&self, name: &str, d: Option<Dur>, default: Duration) -> Res<Duration> {
        let v = d.map_or(default, |d| d.0);
        if v.is_zero() {
            return Err(self.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
        }
        Ok(v)
    }

    /// `kind: byzantine-agreement`: `commander-1` and `lieutenant-1`... running OM(m).
    pub(super) fn byzantine(&self, w: &ByzantineFile) -> Res<(Workload, Topology)> {
        let generals = w.generals.unwrap_or(4);
        if !(3..=10).contains(&generals) {
            return Err(self.value_err(
                "workload.generals",
                format!("generals must be 3 to 10 (the commander and its lieutenants); got {generals}"),
            ));
        }
        let m = w.traitors.unwrap_or(1);
        if m == 0 || m + 1 >= generals {
            return Err(self.value_err(
                "workload.traitors",
                format!("traitors (m of OM(m)) must be at least 1 and below generals - 1; got {m}"),
            ));
        }
        let interval = self.positive_dur("interval", w.interval, Duration::from_millis(200))?;
        let round = self.positive_dur("round", w.round, Duration::from_millis(40))?;
        let rounds = round * u32::try_from(m + 1).unwrap_or(u32::MAX);
        if rounds >= interval {
            return Err(self.value_err(
                "workload.interval",
                format!(
                    "the interval ({}) must exceed the m+1 rounds of one instance ({})",
                    Dur(interval),
                    Dur(rounds)
                ),
            ));
        }
        let config = workloads::byzantine::Config { generals: Vec::new(), m, interval, round, seed: 0 };
        let topology = Topology::from_roles(&[("commander", 1), ("lieutenant", generals - 1)]);
        Ok((Workload::Byzantine(ByzantineParams { generals, config }), topology))
    }

    /// `kind: commit`: `coordinator-1` and `participant-1`... running 2PC or 3PC.
    pub(super) fn commit(&self, w: &CommitFile) -> Res<(Workload, Topology)> {
        use workloads::commit::Protocol;
        let protocol = match w.protocol {
            Some(CommitProtocol::TwoPhaseCommit) => Protocol::TwoPhase,
            Some(CommitProtocol::ThreePhaseCommit) => Protocol::ThreePhase,
            None => return Err(self.value_err("workload.kind", "kind: commit needs `protocol: 2pc | 3pc`")),
        };
        let participants = w.participants.unwrap_or(3);
        if !(2..=16).contains(&participants) {
            return Err(self.value_err(
                "workload.participants",
                format!("participants must be 2 to 16; got {participants}"),
            ));
        }
        let interval = self.positive_dur("interval", w.interval, Duration::from_millis(100))?;
        let decide_after = w.decide_after.map_or(Duration::from_millis(250), |d| d.0);
        let timeout = self.positive_dur("timeout", w.timeout, Duration::from_millis(500))?;
        if decide_after >= timeout {
            return Err(self.value_err(
                "workload.decide_after",
                format!(
                    "decide_after ({}) must be below the timeout ({}), or participants time out on a live coordinator",
                    Dur(decide_after),
                    Dur(timeout)
                ),
            ));
        }
        let abort_probability = w.abort_probability.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&abort_probability) {
            return Err(self.value_err(
                "workload.abort_probability",
                format!("abort_probability must be between 0 and 1; got {abort_probability}"),
            ));
        }
        let config = workloads::commit::Config {
            protocol,
            coordinator: NodeId(0),
            participants: Vec::new(),
            interval,
            decide_after,
            timeout,
            abort_probability,
            seed: 0,
        };
        let topology = Topology::from_roles(&[("coordinator", 1), ("participant", participants)]);
        Ok((Workload::Commit(CommitParams { participants, config }), topology))
    }

    /// `kind: rpc`: `client-1` calling `server-1`.
    pub(super) fn rpc(&self, w: &RpcFile) -> Res<(Workload, Topology)> {
        use workloads::rpc::Semantics;
        let semantics = match w.semantics {
            Some(RpcSemantics::AtLeastOnce) => Semantics::AtLeastOnce,
            Some(RpcSemantics::AtMostOnce) => Semantics::AtMostOnce,
            None => {
                return Err(self
                    .value_err("workload.kind", "kind: rpc needs `semantics: at-least-once | at-most-once`"))
            }
        };
        let rate = self.rate(w.rate, 100.0)?;
        let timeout = self.positive_dur("timeout", w.timeout, Duration::from_millis(50))?;
        let retries = w.retries.unwrap_or(3);
        if retries > 100 {
            return Err(
                self.value_err("workload.retries", format!("retries must be 0 to 100; got {retries}"))
            );
        }
        let config = workloads::rpc::Config {
            semantics,
            client: NodeId(0),
            server: NodeId(0),
            rate,
            timeout,
            retries,
        };
        let topology = Topology::from_roles(&[("server", 1), ("client", 1)]);
        Ok((Workload::Rpc(RpcParams { config }), topology))
    }
}
