//! The group membership service of virtual synchrony (`atomic: true`):
//! heartbeats and one detector per peer, view proposals by the lowest
//! unsuspected member, the flush of unstable messages, and the install
//! (with the state transfer for joiners). See the module docs of
//! `multicast` for the protocol in full.

use super::member::{MulticastNode, Stream, View, BEAT_TIMER, CHECK_TIMER};
use super::msg::{Msg, Packet};
use super::seqset::SeqSet;
use super::{MsgId, MulticastEvent, Ordering, Protocol};
use crate::heartbeat::{Beacon, Monitor};
use crate::{Effects, NodeId, Observation, Time};
use std::collections::{BTreeMap, BTreeSet};

/// A view change this member takes part in (it flushed to `from`).
#[derive(Clone, Debug)]
pub struct Change {
    pub view: u64,
    pub from: NodeId,
    /// The flush, kept to send again.
    pub flush: Msg,
    pub flushed: u32,
    pub at: Time,
}

/// What the proposer collects for one flush.
type Flushed = (Vec<Packet>, Vec<(u64, MsgId)>, Vec<(NodeId, u64)>);

/// A view change this member proposes.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub view: u64,
    pub prev: u64,
    pub members: Vec<NodeId>,
    pub joiners: Vec<NodeId>,
    flushes: BTreeMap<NodeId, Flushed>,
    sent: Time,
}

/// What the last heartbeat of a peer said: its incarnation, view and that view's lowest member.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub epoch: u64,
    pub view: Option<u64>,
    pub low: Option<NodeId>,
}

impl MulticastNode {
    pub(super) fn start_membership(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.beacon = Some(Beacon::new(now, self.cfg.detector.interval));
        let monitor = Monitor::new(self.me, &self.cfg.members, &self.cfg.detector, now);
        out.set_timer(monitor.check_every(), CHECK_TIMER);
        self.monitor = Some(monitor);
        self.beat(now, out);
    }

    pub(super) fn beat(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(b) = &mut self.beacon else { return };
        let (seq, next) = b.beat(now);
        let epoch = b.epoch();
        let view = self.view.as_ref().map(|v| v.id);
        let low = self.view.as_ref().and_then(|v| v.members.iter().min().copied());
        let delivered: Vec<(NodeId, u64)> =
            self.streams.iter().map(|(s, st)| (*s, st.delivered.prefix())).filter(|(_, d)| *d > 0).collect();
        for &to in &self.cfg.members {
            if to != self.me {
                out.send(to, Msg::Beat { epoch, seq, view, low, delivered: delivered.clone() });
            }
        }
        out.set_timer(next, BEAT_TIMER);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_beat(
        &mut self,
        now: Time,
        from: NodeId,
        epoch: u64,
        seq: u64,
        view: Option<u64>,
        low: Option<NodeId>,
        delivered: Vec<(NodeId, u64)>,
        out: &mut Effects<Msg>,
    ) {
        if let Some(m) = &mut self.monitor {
            m.heartbeat(now, from, epoch, seq, out);
        }
        let heard = PeerView { epoch, view, low };
        let newer = self.peer_view.get(&from).is_none_or(|p| (p.epoch, p.view) <= (epoch, view));
        if newer {
            self.peer_view.insert(from, heard);
        }
        if let Some(v) = view {
            self.highest_view = self.highest_view.max(v);
        }
        if view.is_some() && view == self.view.as_ref().map(|v| v.id) {
            self.peer_delivered.insert(from, delivered);
        }
    }

    pub(super) fn check(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(m) = &mut self.monitor else { return };
        m.check(now, out);
        out.set_timer(m.check_every(), CHECK_TIMER);
        self.decide(now, out);
    }

    fn suspects(&self, peer: NodeId) -> bool {
        peer != self.me && self.monitor.as_ref().is_some_and(|m| m.suspects(peer))
    }

    /// Whether `peer`'s last heartbeat says it has no view (it restarted and asks to join).
    fn joining(&self, peer: NodeId) -> bool {
        self.peer_view.get(&peer).is_some_and(|p| p.view.is_none())
    }

    /// Propose a new view when a member of this one is suspected or someone
    /// asks to join, if this member is the lowest unsuspected one.
    fn decide(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(v) = self.view.clone() else { return };
        let low = v.members.iter().min().copied();
        let survivors: Vec<NodeId> = v
            .members
            .iter()
            .copied()
            .filter(|m| *m == self.me || (!self.suspects(*m) && !self.joining(*m)))
            .collect();
        let joiners: Vec<NodeId> = self
            .cfg
            .members
            .iter()
            .copied()
            .filter(|x| *x != self.me && !self.suspects(*x))
            .filter(|x| match self.peer_view.get(x) {
                None => false,
                Some(p) if p.view.is_none() => true,
                // The other side of a healed partition: the side whose lowest
                // member is lower takes the other in (a stale member of this
                // group with an older view too).
                Some(p) => {
                    !v.members.contains(x)
                        && (p.low > low || (p.low == low && p.view.is_some_and(|pv| pv < v.id)))
                }
            })
            .collect();
        if survivors.len() == v.members.len() && joiners.is_empty() {
            return;
        }
        if survivors.first() != Some(&self.me) {
            return;
        }
        if let Some(p) = &self.proposal {
            let stuck =
                p.members.iter().any(|m| *m != self.me && !p.flushes.contains_key(m) && self.suspects(*m));
            if !stuck {
                return;
            }
        }
        if let Some(c) = &self.change {
            if c.from != self.me && c.from < self.me && !self.suspects(c.from) {
                return;
            }
        }
        let mut members: Vec<NodeId> = survivors.iter().chain(joiners.iter()).copied().collect();
        members.sort();
        members.dedup();
        let view = self.highest_view.max(v.id).max(self.change.as_ref().map_or(0, |c| c.view)) + 1;
        self.highest_view = view;
        let p = Proposal {
            view,
            prev: v.id,
            members: members.clone(),
            joiners: joiners.clone(),
            flushes: BTreeMap::new(),
            sent: now,
        };
        self.proposal = Some(p);
        for &to in &members {
            if to != self.me {
                out.send(
                    to,
                    Msg::Propose { view, prev: v.id, members: members.clone(), joiners: joiners.clone() },
                );
            }
        }
        self.on_propose(now, self.me, view, v.id, members, joiners, out);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_propose(
        &mut self,
        now: Time,
        from: NodeId,
        view: u64,
        prev: u64,
        members: Vec<NodeId>,
        joiners: Vec<NodeId>,
        out: &mut Effects<Msg>,
    ) {
        self.highest_view = self.highest_view.max(view);
        if !members.contains(&self.me) || self.view.as_ref().is_some_and(|v| v.id >= view) {
            return;
        }
        if let Some(c) = &self.change {
            if (c.view, c.from) == (view, from) {
                let flush = c.flush.clone();
                self.send_flush(now, from, flush, out);
                return;
            }
            // The higher view wins; between equal ones, the lower proposer.
            if (view, std::cmp::Reverse(from)) <= (c.view, std::cmp::Reverse(c.from)) {
                return;
            }
        }
        if from != self.me {
            self.proposal = None;
        }
        let survivor = self.view.as_ref().is_some_and(|v| v.id == prev) && !joiners.contains(&self.me);
        let (packets, orders) = if survivor {
            let packets: Vec<Packet> = self.unstable.values().filter(|p| p.view == prev).cloned().collect();
            (packets, self.orders.iter().map(|(g, id)| (*g, *id)).collect())
        } else {
            (Vec::new(), Vec::new())
        };
        let mut next: Vec<(NodeId, u64)> =
            self.streams.iter().map(|(s, st)| (*s, st.known.max(st.received.max()))).collect();
        if self.seq > 0 {
            next.retain(|(s, _)| *s != self.me);
            next.push((self.me, self.seq));
        }
        let flushed = packets.len() as u32;
        let flush = Msg::Flush { view, packets, orders, next };
        if self.change.is_none() || self.change.as_ref().is_some_and(|c| c.view != view) {
            out.emit(Observation::Multicast(MulticastEvent::ViewChange { view }));
        }
        self.change = Some(Change { view, from, flush: flush.clone(), flushed, at: now });
        self.send_flush(now, from, flush, out);
    }

    fn send_flush(&mut self, now: Time, to: NodeId, flush: Msg, out: &mut Effects<Msg>) {
        if to == self.me {
            if let Msg::Flush { view, packets, orders, next } = flush {
                self.on_flush(now, self.me, view, packets, orders, next, out);
            }
        } else {
            out.send(to, flush);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_flush(
        &mut self,
        now: Time,
        from: NodeId,
        view: u64,
        packets: Vec<Packet>,
        orders: Vec<(u64, MsgId)>,
        next: Vec<(NodeId, u64)>,
        out: &mut Effects<Msg>,
    ) {
        if let Some(install @ Msg::Install { view: v, .. }) = &self.last_install {
            if *v == view && from != self.me {
                out.send(from, install.clone());
                return;
            }
        }
        let Some(p) = self.proposal.as_mut().filter(|p| p.view == view) else { return };
        p.flushes.insert(from, (packets, orders, next));
        if !p.members.iter().all(|m| p.flushes.contains_key(m)) {
            return;
        }
        let Some(p) = self.proposal.take() else { return };
        let mut union: BTreeMap<MsgId, Packet> = BTreeMap::new();
        let mut known: BTreeMap<u64, MsgId> = BTreeMap::new();
        let mut base: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (packets, orders, next) in p.flushes.into_values() {
            for pk in packets.into_iter().filter(|pk| pk.view == p.prev) {
                union.entry(pk.id).or_insert(pk);
            }
            for (g, id) in orders {
                known.entry(g).or_insert(id);
            }
            for (s, n) in next {
                let b = base.entry(s).or_insert(0);
                *b = (*b).max(n);
            }
        }
        for id in union.keys() {
            let b = base.entry(id.sender).or_insert(0);
            *b = (*b).max(id.seq);
        }
        let install = Msg::Install {
            view,
            prev: p.prev,
            members: p.members.clone(),
            joiners: p.joiners,
            packets: union.into_values().collect(),
            orders: known.into_iter().collect(),
            base: base.into_iter().collect(),
        };
        for &to in &p.members {
            if to != self.me {
                out.send(to, install.clone());
            }
        }
        self.last_install = Some(install.clone());
        if let Msg::Install { view, prev, members, joiners, packets, orders, base } = install {
            self.on_install(now, view, prev, members, joiners, packets, orders, base, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_install(
        &mut self,
        now: Time,
        view: u64,
        prev: u64,
        members: Vec<NodeId>,
        joiners: Vec<NodeId>,
        packets: Vec<Packet>,
        orders: Vec<(u64, MsgId)>,
        base: Vec<(NodeId, u64)>,
        out: &mut Effects<Msg>,
    ) {
        if !members.contains(&self.me) || self.view.as_ref().is_some_and(|v| v.id >= view) {
            return;
        }
        self.highest_view = self.highest_view.max(view);
        // Pass it on once, so that a proposer crashing halfway through its
        // install leaves no survivor behind.
        let install = Msg::Install {
            view,
            prev,
            members: members.clone(),
            joiners: joiners.clone(),
            packets: packets.clone(),
            orders: orders.clone(),
            base: base.clone(),
        };
        let from_me = matches!(&self.last_install, Some(Msg::Install { view: v, .. }) if *v == view);
        if !from_me {
            for &to in &members {
                if to != self.me {
                    out.send(to, install.clone());
                }
            }
            self.last_install = Some(install);
        }
        let survivor = self.view.as_ref().is_some_and(|v| v.id == prev) && !joiners.contains(&self.me);
        let flushed = if survivor { self.change.as_ref().map_or(0, |c| c.flushed) } else { 0 };
        if survivor {
            self.close_view(now, prev, packets, orders, out);
        }
        // The new view: each sender's numbering continues from the state transfer.
        self.streams.clear();
        for (s, b) in &base {
            self.streams
                .insert(*s, Stream { received: SeqSet::upto(*b), delivered: SeqSet::upto(*b), known: *b });
            if *s == self.me {
                self.seq = self.seq.max(*b);
            }
        }
        let later: Vec<Packet> = std::mem::take(&mut self.pending)
            .into_values()
            .map(|w| w.packet)
            .filter(|p| p.view == view)
            .collect();
        self.history.clear();
        self.missing.clear();
        self.repairs.clear();
        self.asked.clear();
        self.orders.clear();
        self.numbered.clear();
        self.next_order = 1;
        self.unstable.clear();
        self.peer_delivered.clear();
        self.change = None;
        if self.proposal.as_ref().is_some_and(|p| p.view <= view) {
            self.proposal = None;
        }
        let low = members.iter().min().copied();
        for m in &members {
            if let Some(p) = self.peer_view.get_mut(m) {
                p.view = Some(view);
                p.low = low;
            }
        }
        self.view = Some(View { id: view, members: members.clone() });
        out.emit(Observation::Multicast(MulticastEvent::ViewInstalled { view, members, flushed }));
        for packet in later {
            let id = packet.id;
            if self.cfg.protocol == Protocol::Ack && id.sender != self.me {
                out.send(id.sender, Msg::Ack { id });
                out.emit(Observation::Multicast(MulticastEvent::Feedback {
                    kind: super::Feedback::Ack,
                    count: 1,
                }));
            }
            self.accept(now, packet, out);
        }
        self.deliver(out);
    }

    /// A survivor closes the old view: it delivers what the flush brought
    /// in the configured order, as far as the order allows; every survivor
    /// holds the same messages, so every survivor delivers the same ones.
    fn close_view(
        &mut self,
        now: Time,
        prev: u64,
        packets: Vec<Packet>,
        orders: Vec<(u64, MsgId)>,
        out: &mut Effects<Msg>,
    ) {
        for packet in packets.into_iter().filter(|p| p.view == prev) {
            let id = packet.id;
            let st = self.streams.entry(id.sender).or_default();
            if st.received.insert(id.seq) {
                self.pending.insert(id, super::member::Waiting { packet, at: now });
            }
        }
        for (g, id) in orders {
            self.orders.entry(g).or_insert(id);
        }
        self.deliver_ready(out);
        if self.cfg.ordering == Ordering::Total {
            // Numbered messages in their order (skipping numbers no survivor
            // holds), then those the sequencer never numbered, by id.
            let numbered: Vec<MsgId> = self.orders.range(self.next_order..).map(|(_, id)| *id).collect();
            for id in numbered {
                self.deliver_one(id, out);
            }
            let rest: Vec<MsgId> =
                self.pending.values().filter(|w| w.packet.view == prev).map(|w| w.packet.id).collect();
            for id in rest {
                self.deliver_one(id, out);
            }
        }
    }

    /// Send again what a lost message would leave hanging.
    pub(super) fn retry_change(&mut self, now: Time, out: &mut Effects<Msg>) {
        let retransmit = self.cfg.retransmit;
        if let Some(p) = &mut self.proposal {
            if now >= p.sent + retransmit {
                p.sent = now;
                for &to in &p.members {
                    if to != self.me && !p.flushes.contains_key(&to) {
                        out.send(
                            to,
                            Msg::Propose {
                                view: p.view,
                                prev: p.prev,
                                members: p.members.clone(),
                                joiners: p.joiners.clone(),
                            },
                        );
                    }
                }
            }
        }
        if let Some(c) = &mut self.change {
            if c.from != self.me && now >= c.at + retransmit * 2 {
                c.at = now;
                out.send(c.from, c.flush.clone());
            }
        }
    }

    /// Forget the messages every member of the view has delivered.
    pub(super) fn collect_stable(&mut self) {
        let others = self.others();
        let reached = |s: NodeId, seq: u64, peer: &NodeId| {
            self.peer_delivered.get(peer).is_some_and(|d| d.iter().any(|(x, n)| *x == s && *n >= seq))
        };
        let stable: BTreeSet<MsgId> = self
            .unstable
            .keys()
            .filter(|id| self.delivered(**id) && others.iter().all(|p| reached(id.sender, id.seq, p)))
            .copied()
            .collect();
        self.unstable.retain(|id, _| !stable.contains(id));
    }
}
