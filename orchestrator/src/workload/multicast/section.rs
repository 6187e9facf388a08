//! The recorder's section for group communication: `multicast` in
//! report.json (feedback, retransmissions, history buffers, delivery
//! latency, view changes, and the oracle's violation counts), its dashboard
//! lines (the group view of each member, deliveries per member) and its
//! Prometheus series.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tui::snapshot::Series;
use workloads::multicast::oracle::{self, Logs};
use workloads::multicast::{Feedback, MsgId, MulticastEvent, Ordering};
use workloads::{NodeId, Observation, Time};

/// Names listed on one dashboard line before the rest are only counted.
const LINE_NAMES: usize = 8;

/// `multicast` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MulticastReport {
    /// Messages the senders multicast within the run.
    pub multicasts: u64,
    /// Deliveries at every member, of those messages.
    pub deliveries: u64,
    /// Members that never crashed.
    pub correct_members: usize,
    /// Multicasts delivered to every correct member of the sender's view, over all multicasts.
    pub reliability: Option<f64>,
    pub reliability_violations: u64,
    /// From a multicast to each delivery at another member.
    pub latency_seconds: Quantiles,
    /// Messages delivered twice or more by one member.
    pub duplicates: u64,
    pub ordering: OrderingReport,
    /// Whether virtual synchrony was asked for (`atomic: true`).
    pub atomic: bool,
    pub atomicity_violations: u64,
    pub feedback_per_multicast: Option<f64>,
    pub acks_per_multicast: Option<f64>,
    pub nacks_per_multicast: Option<f64>,
    pub retransmissions_per_multicast: Option<f64>,
    /// Those made by the message's own sender (a hierarchy moves the others to coordinators).
    pub sender_retransmissions_per_multicast: Option<f64>,
    /// Retransmissions as sends: a repair multicast to the whole group counts once.
    pub repairs_per_multicast: Option<f64>,
    pub suppressed_per_multicast: Option<f64>,
    pub acks: u64,
    pub nacks: u64,
    /// Messages sent again, every receiver counted.
    pub retransmissions: u64,
    /// SRM: NACKs held back.
    pub suppressed: u64,
    pub history_buffer_max: u64,
    pub history_buffer_mean: Option<f64>,
    /// Unstable messages flushed in all view changes.
    pub flushed: u64,
    /// Views installed after the first.
    pub views: usize,
    /// The most different views the live members held at one time (2 or
    /// more: the group split), and how many they hold at the end.
    pub concurrent_views_max: usize,
    pub views_at_end: usize,
    pub view_change_seconds: Quantiles,
    pub view_changes: Vec<ViewChangeReport>,
    /// Each member's deliveries and the view it holds at the end.
    pub members: Vec<MemberReport>,
}

/// A distribution's middle, tail and maximum (null without samples).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

impl Quantiles {
    fn of(mut xs: Vec<f64>) -> Quantiles {
        if xs.is_empty() {
            return Quantiles::default();
        }
        xs.sort_by(f64::total_cmp);
        let at = |p: f64| xs[((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1];
        Quantiles {
            p50: Some(at(0.5)),
            p99: Some(at(0.99)),
            max: xs.last().copied(),
            mean: Some(xs.iter().sum::<f64>() / xs.len() as f64),
        }
    }
}

/// The configured ordering and the oracle's counts for every ordering.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OrderingReport {
    pub configured: &'static str,
    pub violations: Violations,
}

/// Ordering violations, each ordering checked whatever was configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Violations {
    pub fifo: u64,
    pub causal: u64,
    pub total: u64,
}

/// One view change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewChangeReport {
    pub view: u64,
    /// When the first member began changing to it (run seconds).
    pub at: f64,
    /// Until the last of its members installed it (null: none did).
    pub seconds: Option<f64>,
    /// From the fault that most recently began before it, to the last install.
    pub since_fault_seconds: Option<f64>,
    pub flushed: u64,
    pub members: Vec<String>,
    /// Its members that installed it.
    pub installed: usize,
}

/// One member at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberReport {
    pub name: String,
    pub delivered: u64,
    /// The view it holds (null: it installed none since it started).
    pub view: Option<u64>,
    pub crashed: bool,
}

/// A view as its members installed it: one number may name different
/// member sets on the two sides of a partition.
#[derive(Debug, Default)]
struct Installed {
    at: BTreeMap<NodeId, f64>,
    flushed: u64,
}

/// The retransmissions of one message and the NACKs for it held back.
#[derive(Debug, Default)]
struct Repairs {
    /// Every receiver of a retransmission counted.
    receivers: u64,
    /// Those the message's own sender made (not a coordinator or a peer).
    by_sender: u64,
    /// Retransmissions as sends: a repair multicast to the group is one.
    sends: u64,
    /// SRM: NACKs held back.
    suppressed: u64,
}

/// One member's history buffer over time (for the time-weighted mean).
#[derive(Debug, Default)]
struct Occupancy {
    now: u64,
    since: f64,
    first: f64,
    area: f64,
}

/// Group communication: what the members sent, delivered, fed back and installed.
#[derive(Debug)]
pub struct MulticastRecorder {
    ordering: Ordering,
    atomic: bool,
    names: Vec<String>,
    /// When each multicast of the run was sent (run seconds).
    sent: BTreeMap<MsgId, f64>,
    /// What the oracle reads: the run's multicasts, their deliveries, the views, the crashes.
    logs: Logs,
    delivered: BTreeMap<NodeId, u64>,
    /// Every delivery at a member other than the sender, with its time.
    arrivals: Vec<(MsgId, f64)>,
    acks: u64,
    nacks: u64,
    /// Per message: its retransmissions and suppressed NACKs. Observations
    /// of different members reach the recorder in any order (a repair may
    /// come before the sender's own report of the multicast), so what
    /// belongs to the run's multicasts is sorted out at the end.
    repairs: BTreeMap<MsgId, Repairs>,
    history: BTreeMap<NodeId, Occupancy>,
    history_max: u64,
    /// Per view number: when the first member began changing to it.
    began: BTreeMap<u64, f64>,
    installed: BTreeMap<(u64, Vec<NodeId>), Installed>,
    /// The view each member holds.
    current: BTreeMap<NodeId, (u64, Vec<NodeId>)>,
    concurrent_max: usize,
    crashed: BTreeSet<NodeId>,
    down: BTreeSet<NodeId>,
}

impl MulticastRecorder {
    /// A section for a group of nodes named `names` (by id).
    pub fn new(ordering: Ordering, atomic: bool, names: Vec<String>) -> MulticastRecorder {
        let members: Vec<NodeId> =
            (0..names.len()).filter_map(|i| u16::try_from(i).ok().map(NodeId)).collect();
        // Every member starts in view 0, which holds them all.
        let current = members.iter().map(|n| (*n, (0, members.clone()))).collect();
        MulticastRecorder {
            ordering,
            atomic,
            names,
            sent: BTreeMap::new(),
            logs: Logs::new(members, atomic),
            delivered: BTreeMap::new(),
            arrivals: Vec::new(),
            acks: 0,
            nacks: 0,
            repairs: BTreeMap::new(),
            history: BTreeMap::new(),
            history_max: 0,
            began: BTreeMap::new(),
            installed: BTreeMap::new(),
            current,
            concurrent_max: 1,
            crashed: BTreeSet::new(),
            down: BTreeSet::new(),
        }
    }

    fn name(&self, n: NodeId) -> String {
        self.names.get(usize::from(n.0)).cloned().unwrap_or_else(|| format!("node-{}", n.0))
    }

    /// Fold one event of member `node` at run second `t`.
    pub fn observe(&mut self, node: NodeId, t: f64, within_run: bool, e: MulticastEvent) {
        // The oracle compares times only with each other: run seconds will do.
        let at = Time::from_nanos((t.max(0.0) * 1e9) as u64);
        if matches!(e, MulticastEvent::ViewInstalled { .. }) {
            self.logs.record(node, at, &e);
        }
        match e {
            MulticastEvent::Sent { id, .. } => {
                // A multicast after the end has no time left to be repaired.
                if within_run {
                    self.sent.insert(id, t);
                    self.logs.record(node, at, &e);
                }
            }
            // Kept whether or not the multicast is known yet: the sender's
            // report of it may arrive after a member's delivery.
            MulticastEvent::Delivered { id, .. } => {
                if node != id.sender {
                    self.arrivals.push((id, t));
                }
                *self.delivered.entry(node).or_default() += 1;
                self.logs.record(node, at, &e);
            }
            // Feedback over the run's multicasts: a member's feedback does not
            // name its message, so it counts within the run, as the multicasts do.
            MulticastEvent::Feedback { kind: Feedback::Ack, count } if within_run => {
                self.acks += u64::from(count)
            }
            MulticastEvent::Feedback { kind: Feedback::Nack, count } if within_run => {
                self.nacks += u64::from(count)
            }
            MulticastEvent::Feedback { .. } => {}
            MulticastEvent::Retransmitted { id, count } => {
                let r = self.repairs.entry(id).or_default();
                r.receivers += u64::from(count);
                r.sends += 1;
                if node == id.sender {
                    r.by_sender += u64::from(count);
                }
            }
            MulticastEvent::Suppressed { id } => self.repairs.entry(id).or_default().suppressed += 1,
            MulticastEvent::History { messages } => {
                let m = u64::from(messages);
                self.history_max = self.history_max.max(m);
                let o = self.history.entry(node).or_insert(Occupancy {
                    first: t,
                    since: t,
                    ..Occupancy::default()
                });
                o.area += o.now as f64 * (t - o.since).max(0.0);
                o.now = m;
                o.since = t;
            }
            MulticastEvent::ViewChange { view } => {
                self.began.entry(view).and_modify(|b| *b = b.min(t)).or_insert(t);
            }
            MulticastEvent::ViewInstalled { view, members, flushed } => {
                // A restarted member that rejoins is up again.
                self.down.remove(&node);
                let i = self.installed.entry((view, members.clone())).or_default();
                i.at.entry(node).or_insert(t);
                i.flushed += u64::from(flushed);
                self.current.insert(node, (view, members));
                self.concurrent_max = self.concurrent_max.max(self.live_views());
            }
        }
    }

    /// The different views the members up now hold.
    fn live_views(&self) -> usize {
        let held: BTreeSet<&(u64, Vec<NodeId>)> =
            self.current.iter().filter(|(n, _)| !self.down.contains(n)).map(|(_, v)| v).collect();
        held.len()
    }

    /// The metrics at run second `now`, with the executed faults' start
    /// times (for the time from a fault to a view installed).
    pub fn report(&self, now: f64, fault_starts: &[f64]) -> Option<MulticastReport> {
        if self.sent.is_empty() && self.installed.is_empty() {
            return None;
        }
        let correct: BTreeSet<NodeId> = (0..self.names.len())
            .filter_map(|i| u16::try_from(i).ok().map(NodeId))
            .filter(|n| !self.crashed.contains(n))
            .collect();
        let m = self.sent.len() as u64;
        let per = |x: u64| (m > 0).then(|| x as f64 / m as f64);
        // The run's multicasts only: one sent after the end had no time to be repaired.
        let mut logs = self.logs.clone();
        for log in logs.deliveries.values_mut() {
            log.retain(|(id, _)| self.sent.contains_key(id));
        }
        let verdict = oracle::check(&logs, Time(u64::MAX));
        let latencies =
            self.arrivals.iter().filter_map(|(id, t)| self.sent.get(id).map(|s| (t - s).max(0.0))).collect();
        let repairs = self.repairs_of(|id| self.sent.contains_key(id));
        // (multicast, correct member) pairs that had to be delivered, about.
        let pairs = verdict.judged * correct.len().saturating_sub(1).max(1) as u64;
        let mut view_changes: Vec<ViewChangeReport> = self
            .installed
            .iter()
            .filter_map(|((view, members), i)| {
                let at = *self.began.get(view)?;
                let last = members.iter().filter_map(|n| i.at.get(n)).copied().reduce(f64::max);
                let fault = fault_starts.iter().copied().filter(|s| *s <= at).reduce(f64::max);
                Some(ViewChangeReport {
                    view: *view,
                    at,
                    seconds: last.map(|l| (l - at).max(0.0)),
                    since_fault_seconds: last.zip(fault).map(|(l, f)| (l - f).max(0.0)),
                    flushed: i.flushed,
                    members: members.iter().map(|n| self.name(*n)).collect(),
                    installed: members.iter().filter(|n| i.at.contains_key(n)).count(),
                })
            })
            .collect();
        view_changes.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.view.cmp(&b.view)));
        let means: Vec<f64> = self
            .history
            .values()
            .filter(|o| now > o.first)
            .map(|o| (o.area + o.now as f64 * (now - o.since).max(0.0)) / (now - o.first))
            .collect();
        let members = (0..self.names.len())
            .filter_map(|i| u16::try_from(i).ok().map(NodeId))
            .map(|n| MemberReport {
                name: self.name(n),
                delivered: logs.deliveries.get(&n).map_or(0, |l| l.len() as u64),
                view: self.current.get(&n).map(|(v, _)| *v),
                crashed: self.crashed.contains(&n),
            })
            .collect();
        Some(MulticastReport {
            multicasts: m,
            deliveries: logs.deliveries.values().map(|l| l.len() as u64).sum(),
            correct_members: correct.len(),
            reliability: (pairs > 0).then(|| 1.0 - verdict.reliability.min(pairs) as f64 / pairs as f64),
            reliability_violations: verdict.reliability,
            latency_seconds: Quantiles::of(latencies),
            duplicates: verdict.duplicates,
            ordering: OrderingReport {
                configured: ordering_name(self.ordering),
                violations: Violations { fifo: verdict.fifo, causal: verdict.causal, total: verdict.total },
            },
            atomic: self.atomic,
            atomicity_violations: verdict.atomicity,
            feedback_per_multicast: per(self.acks + self.nacks),
            acks_per_multicast: per(self.acks),
            nacks_per_multicast: per(self.nacks),
            retransmissions_per_multicast: per(repairs.receivers),
            sender_retransmissions_per_multicast: per(repairs.by_sender),
            repairs_per_multicast: per(repairs.sends),
            suppressed_per_multicast: per(repairs.suppressed),
            acks: self.acks,
            nacks: self.nacks,
            retransmissions: repairs.receivers,
            suppressed: repairs.suppressed,
            history_buffer_max: self.history_max,
            history_buffer_mean: (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64),
            flushed: self.installed.values().map(|i| i.flushed).sum(),
            views: view_changes.len(),
            concurrent_views_max: self.concurrent_max,
            views_at_end: self.live_views(),
            view_change_seconds: Quantiles::of(view_changes.iter().filter_map(|v| v.seconds).collect()),
            view_changes,
            members,
        })
    }

    /// The repairs of the messages `of` picks, summed.
    fn repairs_of(&self, of: impl Fn(&MsgId) -> bool) -> Repairs {
        self.repairs.iter().filter(|(id, _)| of(id)).fold(Repairs::default(), |a, (_, r)| Repairs {
            receivers: a.receivers + r.receivers,
            by_sender: a.by_sender + r.by_sender,
            sends: a.sends + r.sends,
            suppressed: a.suppressed + r.suppressed,
        })
    }

    fn lines(&self) -> Vec<(String, String)> {
        let m = self.sent.len() as f64;
        let repairs = self.repairs_of(|_| true);
        let mut out = Vec::new();
        let mut text = format!("{} multicasts", self.sent.len());
        if m > 0.0 {
            text.push_str(&format!(
                ", {:.1} feedback/multicast ({} ACK, {} NACK), {:.2} retransmissions/multicast",
                (self.acks + self.nacks) as f64 / m,
                self.acks,
                self.nacks,
                repairs.receivers as f64 / m
            ));
        }
        if repairs.suppressed > 0 {
            text.push_str(&format!(", {} NACKs suppressed", repairs.suppressed));
        }
        if !self.history.is_empty() {
            let now: u64 = self.history.values().map(|o| o.now).sum();
            text.push_str(&format!(", history {now} now (max {})", self.history_max));
        }
        out.push(("multicast".to_string(), text));
        // The group view of each member, members holding the same view on one line.
        let mut views: BTreeMap<&(u64, Vec<NodeId>), Vec<NodeId>> = BTreeMap::new();
        for (n, v) in &self.current {
            if !self.down.contains(n) {
                views.entry(v).or_default().push(*n);
            }
        }
        for ((view, members), holders) in views {
            let text = format!(
                "{} of {} members: {}  held by {}",
                members.len(),
                self.names.len(),
                self.listed(members.iter().copied()),
                self.listed(holders.iter().copied())
            );
            out.push((format!("view {view}"), text));
        }
        // Deliveries per member, members with the same count on one entry:
        // a group of 50 stays one line, and the members behind stand out.
        let mut by_count: BTreeMap<u64, Vec<NodeId>> = BTreeMap::new();
        for n in (0..self.names.len()).filter_map(|i| u16::try_from(i).ok().map(NodeId)) {
            by_count.entry(self.delivered.get(&n).copied().unwrap_or(0)).or_default().push(n);
        }
        let entries: Vec<String> = by_count
            .iter()
            .rev()
            .map(|(count, nodes)| {
                let names = self.listed(nodes.iter().copied());
                let down = nodes.iter().filter(|n| self.down.contains(n)).count();
                let down = if down > 0 { format!(" ({down} down)") } else { String::new() };
                format!("{count} by {names}{down}")
            })
            .collect();
        out.push(("deliveries".to_string(), entries.join("; ")));
        out
    }

    /// Names of `nodes`, the first few listed and the rest counted.
    fn listed(&self, nodes: impl Iterator<Item = NodeId>) -> String {
        let nodes: Vec<NodeId> = nodes.collect();
        let mut names: Vec<String> = nodes.iter().take(LINE_NAMES).map(|n| self.name(*n)).collect();
        if nodes.len() > LINE_NAMES {
            names.push(format!("+{} more", nodes.len() - LINE_NAMES));
        }
        names.join(" ")
    }

    fn series(&self) -> Vec<Series> {
        let repairs = self.repairs_of(|_| true);
        let mut out = vec![
            Series::counter(
                "faultlab_multicast_multicasts_total",
                "Messages the senders multicast.",
                &[],
                self.sent.len() as f64,
            ),
            Series::counter(
                "faultlab_multicast_retransmissions_total",
                "Messages sent again, every receiver counted.",
                &[],
                repairs.receivers as f64,
            ),
            Series::counter(
                "faultlab_multicast_suppressed_total",
                "SRM: NACKs held back because another member's was heard first.",
                &[],
                repairs.suppressed as f64,
            ),
            Series::gauge(
                "faultlab_multicast_history_buffer_max",
                "The most messages one history buffer held so far.",
                &[],
                self.history_max as f64,
            ),
        ];
        for (kind, n) in [("ack", self.acks), ("nack", self.nacks)] {
            out.push(Series::counter(
                "faultlab_multicast_feedback_total",
                "Feedback messages sent, by kind.",
                &[("kind", kind)],
                n as f64,
            ));
        }
        for (i, name) in self.names.iter().enumerate() {
            let Ok(id) = u16::try_from(i).map(NodeId) else { continue };
            let node = [("node", name.as_str())];
            let delivered = self.delivered.get(&id).copied().unwrap_or(0);
            out.push(Series::counter(
                "faultlab_multicast_deliveries_total",
                "Messages each member delivered to its application.",
                &node,
                delivered as f64,
            ));
            if let Some((view, _)) = self.current.get(&id) {
                out.push(Series::gauge(
                    "faultlab_multicast_view",
                    "The view each member holds.",
                    &node,
                    *view as f64,
                ));
            }
            if let Some(o) = self.history.get(&id) {
                out.push(Series::gauge(
                    "faultlab_multicast_history_messages",
                    "Messages each member's history buffer holds.",
                    &node,
                    o.now as f64,
                ));
            }
        }
        out
    }
}

/// `ordering:` as a file writes it.
fn ordering_name(o: Ordering) -> &'static str {
    match o {
        Ordering::None => "none",
        Ordering::Fifo => "fifo",
        Ordering::Causal => "causal",
        Ordering::Total => "total",
    }
}

impl Section for MulticastRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        let Observation::Multicast(e) = obs else { return None };
        let note = match &e {
            MulticastEvent::ViewInstalled { view, members, flushed } => {
                Some(format!("installed view {view} ({} members, {flushed} flushed)", members.len()))
            }
            MulticastEvent::ViewChange { view } => Some(format!("view change to {view} begins")),
            _ => None,
        };
        MulticastRecorder::observe(self, seen.node, seen.t, seen.within_run, e);
        note
    }

    fn node_down(&mut self, node: NodeId, _t: f64) {
        self.crashed.insert(node);
        self.logs.crash(node);
        self.down.insert(node);
    }

    fn report(&self, run: SoFar<'_>) -> Option<serde_json::Value> {
        let starts: Vec<f64> = run.faults.iter().map(|f| f.start).collect();
        to_json(MulticastRecorder::report(self, run.now, &starts))
    }

    fn lines(&self, _run: SoFar<'_>) -> Vec<(String, String)> {
        if self.sent.is_empty() && self.current.is_empty() {
            return Vec::new();
        }
        MulticastRecorder::lines(self)
    }

    fn series(&self, _run: SoFar<'_>) -> Vec<Series> {
        MulticastRecorder::series(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn id(sender: u16, seq: u64) -> MsgId {
        MsgId { sender: NodeId(sender), seq }
    }

    /// A group of `n`: sender-1, then member-1...
    fn group(n: usize, ordering: Ordering, atomic: bool) -> MulticastRecorder {
        let names = (0..n).map(|i| if i == 0 { "sender-1".into() } else { format!("member-{i}") }).collect();
        MulticastRecorder::new(ordering, atomic, names)
    }

    fn sent(r: &mut MulticastRecorder, t: f64, m: MsgId, deps: Vec<(NodeId, u64)>) {
        r.observe(m.sender, t, true, MulticastEvent::Sent { id: m, view: 0, deps });
    }

    fn delivered(r: &mut MulticastRecorder, node: u16, t: f64, m: MsgId) {
        r.observe(NodeId(node), t, true, MulticastEvent::Delivered { id: m, view: 0 });
    }

    fn ack(r: &mut MulticastRecorder, node: u16, t: f64, within_run: bool) {
        r.observe(NodeId(node), t, within_run, MulticastEvent::Feedback { kind: Feedback::Ack, count: 1 });
    }

    #[test]
    fn feedback_and_retransmissions_are_counted_per_multicast_of_the_run() {
        let mut r = group(4, Ordering::None, false);
        for seq in 1..=2 {
            let m = id(0, seq);
            sent(&mut r, seq as f64, m, vec![]);
            for node in 0..4 {
                delivered(&mut r, node, seq as f64 + 0.01, m);
            }
            for node in 1..4 {
                ack(&mut r, node, seq as f64 + 0.01, true);
            }
        }
        // member-1 missed message 2 once: the sender sent it again to it alone.
        r.observe(NodeId(0), 2.03, true, MulticastEvent::Retransmitted { id: id(0, 2), count: 1 });
        // A coordinator's repair of message 1 to three members.
        r.observe(NodeId(2), 2.04, true, MulticastEvent::Retransmitted { id: id(0, 1), count: 3 });
        // After the end: a message with no time left, its feedback and repairs do not count.
        r.observe(NodeId(0), 10.0, false, MulticastEvent::Sent { id: id(0, 3), view: 0, deps: vec![] });
        ack(&mut r, 1, 10.01, false);
        r.observe(NodeId(0), 10.02, false, MulticastEvent::Retransmitted { id: id(0, 3), count: 3 });
        r.observe(NodeId(1), 10.03, false, MulticastEvent::Suppressed { id: id(0, 3) });
        let rep = r.report(10.0, &[]).unwrap();
        assert_eq!(rep.multicasts, 2);
        assert_eq!((rep.acks, rep.nacks), (6, 0));
        // ACK: N - 1 = 3 acknowledgments per multicast.
        assert_eq!(rep.feedback_per_multicast, Some(3.0));
        assert_eq!(rep.acks_per_multicast, Some(3.0));
        assert_eq!(rep.retransmissions_per_multicast, Some(2.0));
        assert_eq!(rep.sender_retransmissions_per_multicast, Some(0.5));
        assert_eq!(rep.repairs_per_multicast, Some(1.0));
        assert_eq!(rep.suppressed, 0);
        assert_eq!((rep.deliveries, rep.reliability, rep.duplicates), (8, Some(1.0), 0));
    }

    #[test]
    fn a_delivery_reported_before_its_multicast_still_counts() {
        // Members report on their own channels: member-1's delivery may reach
        // the recorder before the sender's report of the multicast.
        let mut r = group(2, Ordering::Causal, false);
        let m = id(0, 1);
        delivered(&mut r, 1, 1.02, m);
        r.observe(NodeId(1), 1.03, true, MulticastEvent::Retransmitted { id: m, count: 1 });
        sent(&mut r, 1.0, m, vec![]);
        delivered(&mut r, 0, 1.0, m);
        let rep = r.report(5.0, &[]).unwrap();
        assert_eq!((rep.deliveries, rep.reliability, rep.ordering.violations.causal), (2, Some(1.0), 0));
        assert_eq!(rep.retransmissions, 1);
        assert!((rep.latency_seconds.max.unwrap() - 0.02).abs() < 1e-9);
    }

    #[test]
    fn latency_runs_from_each_multicast_to_each_delivery_at_another_member() {
        let mut r = group(3, Ordering::None, false);
        let m = id(0, 1);
        sent(&mut r, 1.0, m, vec![]);
        delivered(&mut r, 0, 1.0, m); // the sender's own: not a latency
        delivered(&mut r, 1, 1.010, m);
        delivered(&mut r, 2, 1.030, m);
        let l = r.report(5.0, &[]).unwrap().latency_seconds;
        let near = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(
            near(l.p50, 0.010) && near(l.p99, 0.030) && near(l.max, 0.030) && near(l.mean, 0.020),
            "{l:?}"
        );
    }

    #[test]
    fn history_occupancy_is_its_maximum_and_its_time_weighted_mean() {
        let mut r = group(2, Ordering::None, false);
        sent(&mut r, 0.0, id(0, 1), vec![]);
        // member 0 holds 10 messages from 0 s to 1 s, then 0 until 4 s: a mean of 2.5.
        r.observe(NodeId(0), 0.0, true, MulticastEvent::History { messages: 10 });
        r.observe(NodeId(0), 1.0, true, MulticastEvent::History { messages: 0 });
        // member 1 holds 4 all along from 2 s: a mean of 4.
        r.observe(NodeId(1), 2.0, true, MulticastEvent::History { messages: 4 });
        let rep = r.report(4.0, &[]).unwrap();
        assert_eq!(rep.history_buffer_max, 10);
        assert_eq!(rep.history_buffer_mean, Some((2.5 + 4.0) / 2.0));
    }

    #[test]
    fn a_view_change_is_timed_from_its_first_proposal_to_its_last_install() {
        let mut r = group(4, Ordering::Fifo, true);
        sent(&mut r, 0.5, id(0, 1), vec![]);
        r.node_down(NodeId(0), 1.0);
        let survivors = vec![NodeId(1), NodeId(2), NodeId(3)];
        r.observe(NodeId(1), 1.3, true, MulticastEvent::ViewChange { view: 1 });
        r.observe(NodeId(2), 1.31, true, MulticastEvent::ViewChange { view: 1 });
        for (node, t, flushed) in [(1, 1.32, 2), (2, 1.33, 1), (3, 1.35, 0)] {
            let e = MulticastEvent::ViewInstalled { view: 1, members: survivors.clone(), flushed };
            r.observe(NodeId(node), t, true, e);
        }
        let rep = r.report(5.0, &[1.0]).unwrap();
        assert_eq!(rep.views, 1);
        assert_eq!(rep.flushed, 3);
        let v = &rep.view_changes[0];
        assert_eq!((v.view, v.at, v.installed, v.flushed), (1, 1.3, 3, 3));
        assert!((v.seconds.unwrap() - 0.05).abs() < 1e-9);
        assert!((v.since_fault_seconds.unwrap() - 0.35).abs() < 1e-9);
        assert_eq!(v.members, ["member-1", "member-2", "member-3"]);
        assert_eq!(rep.view_change_seconds.max, v.seconds);
        assert_eq!((rep.correct_members, rep.views_at_end), (3, 1));
        assert!(rep.members[0].crashed);
        assert_eq!(rep.members[1].view, Some(1));
        let lines = MulticastRecorder::lines(&r);
        assert!(
            lines.iter().any(|(k, v)| k == "view 1"
                && v.contains("3 of 4 members")
                && v.contains("held by member-1 member-2 member-3")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_partition_splits_the_views_and_a_merge_joins_them() {
        let mut r = group(4, Ordering::None, true);
        let (a, b) = (vec![NodeId(0), NodeId(1)], vec![NodeId(2), NodeId(3)]);
        for n in 0..4 {
            r.observe(NodeId(n), 3.2, true, MulticastEvent::ViewChange { view: 1 });
        }
        for (n, side) in [(0, &a), (1, &a), (2, &b), (3, &b)] {
            r.observe(
                NodeId(n),
                3.3,
                true,
                MulticastEvent::ViewInstalled { view: 1, members: side.clone(), flushed: 0 },
            );
        }
        let all: Vec<NodeId> = (0..4).map(NodeId).collect();
        for n in 0..4 {
            r.observe(NodeId(n), 7.1, true, MulticastEvent::ViewChange { view: 2 });
            r.observe(
                NodeId(n),
                7.2,
                true,
                MulticastEvent::ViewInstalled { view: 2, members: all.clone(), flushed: 0 },
            );
        }
        let rep = r.report(10.0, &[3.0]).unwrap();
        assert_eq!(rep.views, 3, "a view 1 on each side, then view 2");
        assert!(rep.concurrent_views_max >= 2);
        assert_eq!(rep.views_at_end, 1);
        assert_eq!(rep.view_changes.iter().filter(|v| v.view == 1).count(), 2);
    }

    #[test]
    fn the_oracle_counts_every_ordering_whatever_was_configured() {
        let mut r = group(3, Ordering::Fifo, false);
        let (m1, m2) = (id(0, 1), id(1, 1));
        sent(&mut r, 1.0, m1, vec![]);
        delivered(&mut r, 0, 1.0, m1);
        delivered(&mut r, 1, 1.01, m1);
        // member-1 answers m1: its message depends on it.
        sent(&mut r, 1.02, m2, vec![(NodeId(0), 1)]);
        delivered(&mut r, 1, 1.02, m2);
        // member-2 delivers the answer before the question: causal (and total) violation.
        delivered(&mut r, 2, 1.03, m2);
        delivered(&mut r, 2, 1.05, m1);
        delivered(&mut r, 0, 1.06, m2);
        // And a duplicate.
        delivered(&mut r, 2, 1.07, m1);
        let rep = r.report(5.0, &[]).unwrap();
        assert_eq!(rep.ordering.configured, "fifo");
        assert_eq!(rep.ordering.violations.fifo, 0);
        assert!(rep.ordering.violations.causal >= 1, "{:?}", rep.ordering);
        assert!(rep.ordering.violations.total >= 1, "{:?}", rep.ordering);
        assert_eq!(rep.duplicates, 1);
    }

    #[test]
    fn a_crashed_sender_s_message_delivered_by_some_survivors_only_is_an_atomicity_violation() {
        let mut r = group(4, Ordering::None, false);
        let m = id(0, 1);
        sent(&mut r, 1.0, m, vec![]);
        delivered(&mut r, 0, 1.0, m);
        delivered(&mut r, 1, 1.01, m);
        r.node_down(NodeId(0), 1.02);
        let rep = r.report(5.0, &[1.02]).unwrap();
        assert_eq!(rep.correct_members, 3);
        // member-2 and member-3 never delivered what member-1 did.
        assert_eq!(rep.atomicity_violations, 2);
        // A crashed sender owes nobody its message: no reliability violation.
        assert_eq!(rep.reliability_violations, 0);
    }

    #[test]
    fn the_dashboard_and_the_exporter_show_each_member() {
        let mut r = group(3, Ordering::None, false);
        let m = id(0, 1);
        sent(&mut r, 1.0, m, vec![]);
        delivered(&mut r, 0, 1.0, m);
        delivered(&mut r, 1, 1.01, m);
        ack(&mut r, 1, 1.01, true);
        r.node_down(NodeId(2), 1.5);
        let lines = MulticastRecorder::lines(&r);
        assert_eq!(lines[0].0, "multicast");
        assert!(lines[0].1.starts_with("1 multicasts, 1.0 feedback/multicast (1 ACK, 0 NACK)"), "{lines:?}");
        assert!(
            lines.iter().any(|(k, v)| k == "view 0" && v.contains("held by sender-1 member-1")),
            "{lines:?}"
        );
        let d = lines.iter().find(|(k, _)| k == "deliveries").unwrap();
        assert_eq!(d.1, "1 by sender-1 member-1; 0 by member-2 (1 down)");
        let series = MulticastRecorder::series(&r);
        let find = |name: &str, label: Option<(&str, &str)>| {
            series
                .iter()
                .find(|s| {
                    s.name == name
                        && label.is_none_or(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
                })
                .map(|s| s.value)
        };
        assert_eq!(find("faultlab_multicast_multicasts_total", None), Some(1.0));
        assert_eq!(find("faultlab_multicast_feedback_total", Some(("kind", "ack"))), Some(1.0));
        assert_eq!(find("faultlab_multicast_deliveries_total", Some(("node", "member-1"))), Some(1.0));
        assert_eq!(find("faultlab_multicast_view", Some(("node", "member-2"))), Some(0.0));
        let text = crate::metrics::encode(&tui::Snapshot { series, ..tui::Snapshot::default() }).unwrap();
        assert!(text.contains("faultlab_multicast_deliveries_total{node=\"sender-1\"} 1"), "{text}");
    }
}
