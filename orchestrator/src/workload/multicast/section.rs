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
    latencies: Vec<f64>,
    acks: u64,
    nacks: u64,
    retransmissions: u64,
    /// Retransmissions made by the message's own sender (not a coordinator or a peer).
    by_senders: u64,
    /// Retransmissions as sends: a repair multicast to the group is one.
    repairs: u64,
    suppressed: u64,
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
        let members: Vec<NodeId> = (0..names.len()).filter_map(|i| u16::try_from(i).ok().map(NodeId)).collect();
        // Every member starts in view 0, which holds them all.
        let current = members.iter().map(|n| (*n, (0, members.clone()))).collect();
        MulticastRecorder {
            ordering,
            atomic,
            names,
            sent: BTreeMap::new(),
            logs: Logs::new(members, atomic),
            delivered: BTreeMap::new(),
            latencies: Vec::new(),
            acks: 0,
            nacks: 0,
            retransmissions: 0,
            by_senders: 0,
            repairs: 0,
            suppressed: 0,
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
            MulticastEvent::Delivered { id, .. } => {
                let Some(sent) = self.sent.get(&id) else { return };
                if node != id.sender {
                    self.latencies.push((t - sent).max(0.0));
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
            MulticastEvent::Retransmitted { id, count } if self.sent.contains_key(&id) => {
                self.retransmissions += u64::from(count);
                self.repairs += 1;
                if node == id.sender {
                    self.by_senders += u64::from(count);
                }
            }
            MulticastEvent::Suppressed { id } if self.sent.contains_key(&id) => self.suppressed += 1,
            MulticastEvent::Retransmitted { .. } | MulticastEvent::Suppressed { .. } => {}
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
        let verdict = oracle::check(&self.logs, Time(u64::MAX));
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
                delivered: self.delivered.get(&n).copied().unwrap_or(0),
                view: self.current.get(&n).map(|(v, _)| *v),
                crashed: self.crashed.contains(&n),
            })
            .collect();
        Some(MulticastReport {
            multicasts: m,
            deliveries: self.delivered.values().sum(),
            correct_members: correct.len(),
            reliability: (pairs > 0).then(|| 1.0 - verdict.reliability.min(pairs) as f64 / pairs as f64),
            reliability_violations: verdict.reliability,
            latency_seconds: Quantiles::of(self.latencies.clone()),
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
            retransmissions_per_multicast: per(self.retransmissions),
            sender_retransmissions_per_multicast: per(self.by_senders),
            repairs_per_multicast: per(self.repairs),
            suppressed_per_multicast: per(self.suppressed),
            acks: self.acks,
            nacks: self.nacks,
            retransmissions: self.retransmissions,
            suppressed: self.suppressed,
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

    fn lines(&self) -> Vec<(String, String)> {
        let m = self.sent.len() as f64;
        let mut out = Vec::new();
        let mut text = format!("{} multicasts", self.sent.len());
        if m > 0.0 {
            text.push_str(&format!(
                ", {:.1} feedback/multicast ({} ACK, {} NACK), {:.2} retransmissions/multicast",
                (self.acks + self.nacks) as f64 / m,
                self.acks,
                self.nacks,
                self.retransmissions as f64 / m
            ));
        }
        if self.suppressed > 0 {
            text.push_str(&format!(", {} NACKs suppressed", self.suppressed));
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
        let delivered = (0..self.names.len()).filter_map(|i| u16::try_from(i).ok().map(NodeId)).map(|n| {
            let d = self.delivered.get(&n).copied().unwrap_or(0);
            let mark = if self.down.contains(&n) { " (down)" } else { "" };
            format!("{} {d}{mark}", self.name(n))
        });
        let delivered: Vec<String> = delivered.collect();
        out.push(("deliveries".to_string(), delivered.join(", ")));
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
                self.retransmissions as f64,
            ),
            Series::counter(
                "faultlab_multicast_suppressed_total",
                "SRM: NACKs held back because another member's was heard first.",
                &[],
                self.suppressed as f64,
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
