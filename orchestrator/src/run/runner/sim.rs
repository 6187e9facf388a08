//! The sim backend's loop: every node's sans-IO driver in this process on
//! one virtual clock. The fault bookkeeping, the recorder, the dashboard
//! and the exporter are the runner's own; only where observations come
//! from and how node actions are carried out change: a crash, a restart, a
//! pause act on the drivers at once, on the virtual clock.
//!
//! Determinism: nothing here reads the real clock to decide anything (the
//! wall clock only paces `--speed` and spaces out dashboard snapshots), the
//! network and every node draw from streams of the run's seed, and every
//! map iterated is ordered.

use super::{Batch, Running};
use crate::recorder::NodeState;
use crate::report::Report;
use crate::run::actuator::{Done, Op};
use crate::run::{live, RunOptions, Stop};
use anyhow::Result;
use driver::sim::{Network, Sim};
use driver::Driver;
use faults::Interposer;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tui::snapshot::RunState;
use workloads::any::{AnyConfig, AnyNode, Start};
use workloads::seed::splitmix64;
use workloads::{NodeId, Time};

/// The virtual clock's origin. Like the host's monotonic clock, it is far
/// from zero, so that no protocol meets a time of zero it never meets for real.
pub(crate) const EPOCH: Time = Time::from_millis(1_000_000);

/// How often, in virtual time, the recorder closes its windows and the
/// loop looks at signals and the dashboard's keys.
const TICK: Duration = Duration::from_millis(50);

/// How often, in wall time, the dashboard and the exporter get a snapshot.
const SHOW: Duration = Duration::from_millis(250);

/// The simulated nodes and the restarts in progress.
pub(crate) struct SimWorld {
    pub sim: Sim<AnyNode>,
    /// Restarts issued: the records they serve and the runner's incarnation.
    starting: BTreeMap<NodeId, (Vec<usize>, u32)>,
}

impl SimWorld {
    /// Every node of the topology, built as an agent would build it.
    pub fn new(configs: Vec<AnyConfig>, seed: u64, network: Network) -> SimWorld {
        let n = configs.len();
        let build = Box::new(move |me: NodeId, incarnation: u32, stable| {
            let node_seed = node_seed(seed, me, incarnation);
            let start = Start { seed: node_seed, restarted: incarnation > 0, stable };
            let node = configs[usize::from(me.0)].node(me, &start);
            Driver::new(node, Interposer::new(me, driver::interposer_seed(node_seed)))
        });
        SimWorld { sim: Sim::new(n, EPOCH, network, seed, build), starting: BTreeMap::new() }
    }
}

/// The simulated nodes behind the run's mutex (the loop owns them alone).
pub(super) fn world(sim: &mut Option<std::sync::Mutex<SimWorld>>) -> Option<&mut SimWorld> {
    sim.as_mut().map(|m| m.get_mut().unwrap_or_else(|e| e.into_inner()))
}

/// A node's seed for one incarnation, as the other backends derive it.
pub(crate) fn node_seed(seed: u64, node: NodeId, incarnation: u32) -> u64 {
    splitmix64(seed ^ splitmix64(u64::from(node.0) << 32 | u64::from(incarnation)))
}

impl Running<'_> {
    /// Carry out a batch on the drivers, now: kills first, as the steps asked.
    pub(super) fn execute_sim(&mut self, batch: Batch) {
        let mut ops = batch.ops;
        ops.sort_by_key(|(op, _)| *op);
        for (op, target) in ops {
            let now = self.clock();
            let node = target.node;
            let idx = usize::from(node.0);
            let Some(w) = world(&mut self.sim) else { return };
            match op {
                Op::Crash => w.sim.crash(node),
                Op::Start => {
                    w.sim.restart(node);
                    w.starting.insert(node, (target.records, self.incarnation[idx]));
                    continue;
                }
                Op::Pause => w.sim.pause(node),
                Op::Resume => w.sim.resume(node),
                // Isolation is the interposer's on this backend.
                Op::Isolate | Op::Reconnect => {}
            }
            let done = Done {
                op,
                node,
                records: target.records,
                issued: now,
                effective: now,
                result: Ok(None),
                incarnation: self.incarnation[idx],
            };
            // Nothing a driver is asked to do can fail.
            self.action_done(done, &crate::run::Progress::quiet());
        }
    }

    /// Run the simulation up to `until`, folding what it yields as it goes.
    fn advance(&mut self, until: Time, opts: &RunOptions) {
        loop {
            let Some(w) = world(&mut self.sim) else { return };
            match w.sim.next_event() {
                Some(t) if t <= until => {
                    w.sim.step();
                }
                _ => {
                    w.sim.run_until(until);
                    return;
                }
            }
            for (node, at, obs) in w.sim.drain_observations() {
                self.recorder.observe(node, at, obs);
            }
            let failed: Vec<_> = w.sim.drain_failures().collect();
            for (node, at, why) in failed {
                // As when an agent dies outside any fault: the run is not the one the file describes.
                let idx = usize::from(node.0);
                self.up[idx] = false;
                self.recorder.node_state(node, NodeState::Down, at);
                let name = self.name(node);
                let t = self.recorder.rel(at);
                opts.progress.line(&format!("{name}: stopped at {t:.1} s: {why}"));
                self.lose(node, at, format!("{name} stopped at {t:.1} s outside any fault: {why}"));
            }
            let Some(w) = world(&mut self.sim) else { return };
            let restarted: Vec<_> = w.sim.drain_restarted().collect();
            for r in restarted {
                let Some(w) = world(&mut self.sim) else { return };
                let Some((records, incarnation)) = w.starting.remove(&r.node) else { continue };
                let done = Done {
                    op: Op::Start,
                    node: r.node,
                    records,
                    issued: r.issued,
                    effective: r.up,
                    result: Ok(None),
                    incarnation,
                };
                self.action_done(done, &opts.progress);
            }
        }
    }

    fn traffic(&mut self) {
        let Some(w) = world(&mut self.sim) else { return };
        let stats: Vec<_> = (0..w.sim.len()).map(|i| w.sim.stats(NodeId(i as u16))).collect();
        for (i, s) in stats.into_iter().enumerate() {
            let dropped = s.interposer.dropped_send + s.interposer.dropped_receive;
            self.recorder.node_traffic(NodeId(i as u16), s.sent, s.received, dropped);
        }
    }

    /// The run on the virtual clock: as fast as the CPU allows, or paced
    /// `opts.speed` times faster than the wall clock.
    pub(crate) async fn drive_sim(
        &mut self,
        duration: Duration,
        opts: &RunOptions,
        stop: &mut Stop,
    ) -> Result<(Report, live::Live)> {
        let t0 = self.clock();
        self.recorder.set_start(t0);
        if let Some(w) = world(&mut self.sim) {
            w.sim.start();
        }
        let (snap_tx, mut live) = self.opening(duration, opts).await?;
        let mut commands = live.commands.take();
        let wall = Instant::now();
        let mut shown = wall;
        // As on the other backends: a paused schedule holds the faults, not
        // the traffic; `held` is the virtual time it was held so far.
        let mut held = Duration::ZERO;
        let mut paused_at: Option<Time> = None;
        let far = Duration::from_secs(365 * 24 * 3600);
        let mut next_tick = t0 + TICK;
        let mut interrupted = false;
        loop {
            let end = match paused_at {
                Some(_) => t0 + far,
                None => t0 + held + duration,
            };
            let next_step = match paused_at {
                Some(_) => None,
                None => self.steps.next_due().map(|d| t0 + held + d),
            };
            let target = [Some(end), next_step, Some(next_tick)].into_iter().flatten().min().unwrap_or(end);
            if let Some(speed) = opts.speed {
                let due = wall + target.since(t0).div_f64(speed);
                tokio::select! {
                    biased;
                    _ = stop.recv() => { interrupted = true; break; }
                    _ = tokio::time::sleep_until(due) => {}
                }
            }
            self.advance(target, opts);
            let now = target;
            if now >= next_tick {
                next_tick = now + TICK;
                self.recorder.tick(now);
                if stop.recv().now_or_never().is_some() {
                    interrupted = true;
                    break;
                }
                while let Some(cmd) = commands.as_mut().and_then(|c| c.try_recv().ok()) {
                    let sched = now.since(t0).saturating_sub(held);
                    match cmd {
                        tui::Command::Quit => interrupted = true,
                        tui::Command::TogglePause => match paused_at.take() {
                            Some(p) => {
                                held += now.since(p);
                                self.recorder.set_paused(held);
                                self.note(&format!(
                                    "schedule resumed after {:.1} s",
                                    now.since(p).as_secs_f64()
                                ));
                            }
                            None => {
                                paused_at = Some(now);
                                self.note("schedule paused");
                            }
                        },
                        tui::Command::HealAll => self.heal_all(),
                        tui::Command::Inject(spec) => self.inject(&spec, sched, opts),
                    }
                }
                if interrupted {
                    break;
                }
                if shown.elapsed() >= SHOW {
                    shown = Instant::now();
                    self.traffic();
                    opts.progress.tick(now.since(t0).saturating_sub(held), duration, &self.recorder);
                    let holding = held + paused_at.map(|p| now.since(p)).unwrap_or_default();
                    self.recorder.set_paused(holding);
                    let state = if paused_at.is_some() { RunState::Paused } else { RunState::Running };
                    let _ = snap_tx.send(Arc::new(self.snapshot_now(state, now.since(t0))));
                    // Let the dashboard and the exporter run.
                    tokio::task::yield_now().await;
                }
            }
            if now >= end {
                break;
            }
            if next_step == Some(now) {
                let due = self.steps.due(now.since(t0).saturating_sub(held));
                self.run_steps(&due, held, opts);
            }
        }
        let stopped = self.clock();
        // Requests sent just before the end are decided within the deadline.
        if !interrupted {
            let drain = stopped + self.exp.workload.plugin().deadline() + Duration::from_millis(300);
            self.advance(drain, opts);
        }
        self.traffic();
        opts.progress.done();
        if let Some(p) = paused_at.take() {
            held += stopped.since(p);
        }
        let end_rel = if interrupted { stopped.since(t0).min(duration + held) } else { duration + held };
        Ok(self.closing(held, end_rel, interrupted, snap_tx, live))
    }
}
