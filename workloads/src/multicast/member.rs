//! A group member: it multicasts (when it is a sender), receives, asks for
//! what it missed, repairs what others missed, and delivers in the
//! configured order. The membership service (views, flush, joins) is in
//! `membership.rs`.

use super::msg::{Msg, Packet};
use super::seqset::SeqSet;
use super::{Config, Feedback, MsgId, MulticastEvent, Ordering, Protocol};
use crate::heartbeat::{Beacon, Monitor};
use crate::{Effects, Node, NodeId, Observation, StableRecords, StableWrite, Time, TimerId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Starts the next multicast.
pub(super) const SEND_TIMER: TimerId = TimerId(1);
/// Retransmissions, NACKs, history collection, order requests, view-change retries.
pub(super) const TICK_TIMER: TimerId = TimerId(2);
/// The next heartbeat (membership).
pub(super) const BEAT_TIMER: TimerId = TimerId(3);
/// Asks the detectors and decides view changes (membership).
pub(super) const CHECK_TIMER: TimerId = TimerId(4);

/// The stable record of the last sequence number this member used, so that a
/// restarted sender never reuses one.
const SEQ_KEY: &str = "multicast-seq";

/// Sequencer numbers sent at most in one answer to an order request.
const MAX_ORDERS: usize = 256;

/// A view of the group: its number and its members, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub id: u64,
    pub members: Vec<NodeId>,
}

/// What this member knows of one sender's messages in the current view.
#[derive(Clone, Debug, Default)]
pub(super) struct Stream {
    pub(super) received: SeqSet,
    pub(super) delivered: SeqSet,
    /// The highest sequence number known to exist.
    pub(super) known: u64,
}

/// A message in a history buffer.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) packet: Packet,
    pub(super) at: Time,
    /// ACK: when it was last sent to the silent receivers.
    pub(super) sent: Time,
    /// ACK: the receivers that acknowledged it.
    pub(super) acked: BTreeSet<NodeId>,
}

/// A message this member noticed it misses.
#[derive(Clone, Debug)]
pub(super) struct Missing {
    /// When its NACK is due.
    pub(super) due: Time,
}

/// A received message waiting for its turn to be delivered.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) packet: Packet,
    pub(super) at: Time,
}

/// One group member (every member runs the same node).
#[derive(Debug)]
pub struct MulticastNode {
    pub(super) me: NodeId,
    pub(super) cfg: Config,
    pub(super) restarted: bool,
    pub(super) rng: ChaCha8Rng,
    /// The last sequence number this member used.
    pub(super) seq: u64,
    /// Multicasts started since this incarnation started (the open-loop schedule).
    pub(super) slot: u64,
    pub(super) started: Time,
    /// When this member last sent data or its last sequence number.
    pub(super) spoke: Time,
    /// The installed view (none while a restarted member joins).
    pub(super) view: Option<View>,
    pub(super) streams: BTreeMap<NodeId, Stream>,
    /// Received, not yet delivered (messages of the current view, and of a
    /// later one this member has not installed yet).
    pub(super) pending: BTreeMap<MsgId, Waiting>,
    /// The history buffer (see the module docs for who keeps what).
    pub(super) history: BTreeMap<MsgId, Held>,
    /// The occupancy last reported, and when.
    pub(super) reported: (u32, Time),
    pub(super) missing: BTreeMap<MsgId, Missing>,
    /// SRM: repairs this member will multicast unless another's arrives first.
    pub(super) repairs: BTreeMap<MsgId, Time>,
    /// Hierarchical: who asked this coordinator for a message it misses too.
    pub(super) asked: BTreeMap<MsgId, BTreeSet<NodeId>>,
    /// Total order: the sequencer's numbers known in this view.
    pub(super) orders: BTreeMap<u64, MsgId>,
    /// Total order, as the sequencer: the messages it numbered.
    pub(super) numbered: BTreeSet<MsgId>,
    /// Total order: the next global number to deliver.
    pub(super) next_order: u64,
    /// Total order: when this member last asked the sequencer.
    pub(super) order_asked: Time,
    /// Atomic: received messages of the current view not known stable.
    pub(super) unstable: BTreeMap<MsgId, Packet>,
    /// Atomic: how far each member delivered each sender (from heartbeats).
    pub(super) peer_delivered: BTreeMap<NodeId, Vec<(NodeId, u64)>>,
    /// Atomic: each peer's view and its lowest member, as its last heartbeat said.
    pub(super) peer_view: BTreeMap<NodeId, super::membership::PeerView>,
    pub(super) beacon: Option<Beacon>,
    pub(super) monitor: Option<Monitor>,
    /// Atomic: the view change this member takes part in.
    pub(super) change: Option<super::membership::Change>,
    /// Atomic: the view change this member proposes.
    pub(super) proposal: Option<super::membership::Proposal>,
    /// Atomic: the last install this member sent or forwarded (resent on a late flush).
    pub(super) last_install: Option<Msg>,
    /// The highest view number heard of.
    pub(super) highest_view: u64,
}

impl MulticastNode {
    /// Member `me` of `config`; `seed` draws this incarnation's randomness,
    /// and a `restarted` member reads its last sequence number from `stable`
    /// and (with `atomic`) joins before it multicasts or delivers.
    pub fn new(me: NodeId, config: &Config, seed: u64, restarted: bool, stable: &StableRecords) -> Self {
        let seq = stable
            .get(SEQ_KEY)
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_le_bytes);
        let rng =
            ChaCha8Rng::seed_from_u64(crate::seed::splitmix64_words(&[config.seed, u64::from(me.0), seed]));
        let view = if restarted && config.atomic {
            None
        } else {
            Some(View { id: 0, members: config.members.clone() })
        };
        MulticastNode {
            me,
            cfg: config.clone(),
            restarted,
            rng,
            seq,
            slot: 0,
            started: Time::ZERO,
            spoke: Time::ZERO,
            view,
            streams: BTreeMap::new(),
            pending: BTreeMap::new(),
            history: BTreeMap::new(),
            reported: (0, Time::ZERO),
            missing: BTreeMap::new(),
            repairs: BTreeMap::new(),
            asked: BTreeMap::new(),
            orders: BTreeMap::new(),
            numbered: BTreeSet::new(),
            next_order: 1,
            order_asked: Time::ZERO,
            unstable: BTreeMap::new(),
            peer_delivered: BTreeMap::new(),
            peer_view: BTreeMap::new(),
            beacon: None,
            monitor: None,
            change: None,
            proposal: None,
            last_install: None,
            highest_view: 0,
        }
    }

    /// The installed view (none while joining).
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    /// How many messages the history buffer holds.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// The current view's number (0 while joining).
    pub(super) fn view_id(&self) -> u64 {
        self.view.as_ref().map_or(0, |v| v.id)
    }

    /// The other members of the current view.
    pub(super) fn others(&self) -> Vec<NodeId> {
        self.view
            .as_ref()
            .map_or_else(Vec::new, |v| v.members.iter().copied().filter(|m| *m != self.me).collect())
    }

    /// The sequencer of the current view: its lowest member.
    pub(super) fn sequencer(&self) -> Option<NodeId> {
        self.view.as_ref().and_then(|v| v.members.iter().min().copied())
    }

    fn tick_every(&self) -> Duration {
        (self.cfg.retransmit / 4).clamp(Duration::from_millis(1), Duration::from_millis(50))
    }

    fn is_sender(&self) -> bool {
        self.cfg.senders.contains(&self.me)
    }

    /// A delay drawn from [1, 2] × `retransmit` (SRM).
    fn srm_delay(&mut self) -> Duration {
        self.cfg.retransmit.mul_f64(self.rng.gen_range(1.0..=2.0))
    }

    /// Whether this member keeps the messages it receives in its history
    /// buffer: every SRM member (any may repair), hierarchical coordinators.
    fn keeps_history(&self) -> bool {
        match self.cfg.protocol {
            Protocol::Ack | Protocol::Nack => false,
            Protocol::Srm => true,
            Protocol::Hierarchical => self.coordinator() == Some(self.me),
        }
    }

    /// Hierarchical: the coordinator of this member's subgroup (the first
    /// member of its slice of `subgroup` members of the view).
    pub(super) fn coordinator(&self) -> Option<NodeId> {
        let v = self.view.as_ref()?;
        let i = v.members.iter().position(|m| *m == self.me)?;
        let size = self.cfg.subgroup.max(1);
        v.members.get(i / size * size).copied()
    }

    /// Hierarchical: whom this member asks for `sender`'s messages: its
    /// coordinator; a coordinator asks its parent in the tree of
    /// coordinators rooted at the sender's subgroup, whose root asks the sender.
    pub(super) fn upstream(&self, sender: NodeId) -> Option<NodeId> {
        let v = self.view.as_ref()?;
        let size = self.cfg.subgroup.max(1);
        let coordinator = self.coordinator()?;
        if coordinator != self.me {
            return Some(coordinator);
        }
        let coordinators: Vec<NodeId> = v.members.chunks(size).filter_map(|c| c.first().copied()).collect();
        let root = v
            .members
            .iter()
            .position(|m| *m == sender)
            .and_then(|i| v.members.get(i / size * size).copied())
            .unwrap_or(sender);
        let r = coordinators.iter().position(|c| *c == root).unwrap_or(0);
        let k = coordinators.len();
        let mine = coordinators.iter().position(|c| *c == self.me)?;
        // Position in the tree rotated to start at the root: a binary heap.
        let i = (mine + k - r) % k;
        if i == 0 {
            return (sender != self.me).then_some(sender);
        }
        coordinators.get(((i - 1) / 2 + r) % k).copied()
    }

    fn stream(&mut self, sender: NodeId, first_seen: u64) -> &mut Stream {
        let fresh_restart = self.restarted && !self.cfg.atomic;
        self.streams.entry(sender).or_insert_with(|| {
            // A restarted member without a membership service starts each
            // stream where it first hears of it.
            if fresh_restart {
                let before = first_seen.saturating_sub(1);
                Stream { received: SeqSet::upto(before), delivered: SeqSet::upto(before), known: before }
            } else {
                Stream::default()
            }
        })
    }

    /// Whether this member may multicast and deliver now.
    pub(super) fn active(&self) -> bool {
        self.view.is_some() && self.change.is_none()
    }

    // --- sending -----------------------------------------------------------

    fn multicast(&mut self, now: Time, out: &mut Effects<Msg>) {
        if !self.active() {
            return;
        }
        self.seq += 1;
        out.store(StableWrite::Put { key: SEQ_KEY.into(), bytes: self.seq.to_le_bytes().to_vec() });
        let id = MsgId { sender: self.me, seq: self.seq };
        let view = self.view_id();
        let mut deps: Vec<(NodeId, u64)> = self
            .streams
            .iter()
            .filter(|(s, _)| **s != self.me)
            .map(|(s, st)| (*s, st.delivered.max()))
            .filter(|(_, d)| *d > 0)
            .collect();
        if self.seq > 1 {
            deps.push((self.me, self.seq - 1));
            deps.sort();
        }
        let packet = Packet { id, view, deps: deps.clone() };
        out.emit(Observation::Multicast(MulticastEvent::Sent { id, view, deps }));
        for to in self.others() {
            out.send(to, Msg::Data { packet: packet.clone(), repair: false });
        }
        self.spoke = now;
        self.history.insert(id, Held { packet: packet.clone(), at: now, sent: now, acked: BTreeSet::new() });
        self.accept(now, packet, out);
    }

    fn schedule_send(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.cfg.rate <= 0.0 || !self.cfg.rate.is_finite() {
            return;
        }
        self.slot += 1;
        let due = self.started + Duration::from_secs_f64(self.slot as f64 / self.cfg.rate);
        out.set_timer(due.since(now), SEND_TIMER);
    }

    // --- receiving ---------------------------------------------------------

    fn on_data(&mut self, now: Time, from: NodeId, packet: Packet, repair: bool, out: &mut Effects<Msg>) {
        let Some(view) = self.view_id_if_installed() else { return };
        if packet.view > view {
            // Sent in a view this member has not installed yet.
            self.pending.entry(packet.id).or_insert(Waiting { packet, at: now });
            return;
        }
        if packet.view < view || self.change.is_some() {
            return;
        }
        let id = packet.id;
        if self.cfg.protocol == Protocol::Ack && id.sender != self.me {
            out.send(id.sender, Msg::Ack { id });
            out.emit(Observation::Multicast(MulticastEvent::Feedback { kind: Feedback::Ack, count: 1 }));
        }
        if repair {
            self.repairs.remove(&id);
        }
        let _ = from;
        self.accept(now, packet, out);
    }

    fn view_id_if_installed(&self) -> Option<u64> {
        self.view.as_ref().map(|v| v.id)
    }

    /// A message of the current view arrived (or this member sent it).
    pub(super) fn accept(&mut self, now: Time, packet: Packet, out: &mut Effects<Msg>) {
        let id = packet.id;
        let stream = self.stream(id.sender, id.seq);
        if !stream.received.insert(id.seq) {
            return;
        }
        stream.known = stream.known.max(id.seq);
        self.missing.remove(&id);
        self.notice_gaps(now, id.sender);
        if self.keeps_history() && !self.history.contains_key(&id) {
            self.history
                .insert(id, Held { packet: packet.clone(), at: now, sent: now, acked: BTreeSet::new() });
        }
        if let Some(waiting) = self.asked.remove(&id) {
            for to in &waiting {
                out.send(*to, Msg::Data { packet: packet.clone(), repair: true });
            }
            out.emit(Observation::Multicast(MulticastEvent::Retransmitted {
                id,
                count: waiting.len() as u32,
            }));
        }
        if self.cfg.atomic {
            self.unstable.insert(id, packet.clone());
        }
        self.pending.insert(id, Waiting { packet, at: now });
        if self.cfg.ordering == Ordering::Total && self.sequencer() == Some(self.me) {
            self.number(vec![id], out);
        }
        self.deliver(out);
    }

    /// NACK, SRM, hierarchical: note the numbers of `sender` now known missing.
    fn notice_gaps(&mut self, now: Time, sender: NodeId) {
        if self.cfg.protocol == Protocol::Ack || sender == self.me {
            return;
        }
        let Some(st) = self.streams.get(&sender) else { return };
        let gaps: Vec<u64> = st.received.missing(st.known).collect();
        for seq in gaps {
            let id = MsgId { sender, seq };
            if self.missing.contains_key(&id) {
                continue;
            }
            let due = match self.cfg.protocol {
                Protocol::Srm => now + self.srm_delay(),
                _ => now + self.cfg.retransmit,
            };
            self.missing.insert(id, Missing { due });
        }
    }

    /// Total order, as the sequencer: give `ids` the next global numbers.
    pub(super) fn number(&mut self, ids: Vec<MsgId>, out: &mut Effects<Msg>) {
        let ids: Vec<MsgId> = ids.into_iter().filter(|id| self.numbered.insert(*id)).collect();
        if ids.is_empty() {
            return;
        }
        let first = self.orders.keys().next_back().map_or(1, |k| k + 1);
        for (k, id) in ids.iter().enumerate() {
            self.orders.insert(first + k as u64, *id);
        }
        let view = self.view_id();
        for to in self.others() {
            out.send(to, Msg::Order { view, first, ids: ids.clone() });
        }
    }

    // --- delivering --------------------------------------------------------

    /// Deliver every pending message of the current view whose turn has come.
    pub(super) fn deliver(&mut self, out: &mut Effects<Msg>) {
        if !self.active() {
            return;
        }
        self.deliver_ready(out);
    }

    /// Deliver what the ordering allows (also while a view change closes the old view).
    pub(super) fn deliver_ready(&mut self, out: &mut Effects<Msg>) {
        let view = self.view_id();
        loop {
            let next = match self.cfg.ordering {
                Ordering::Total => {
                    let mut found = None;
                    while let Some(id) = self.orders.get(&self.next_order).copied() {
                        if self.delivered(id) {
                            self.next_order += 1;
                            continue;
                        }
                        if self.pending.contains_key(&id) {
                            self.next_order += 1;
                            found = Some(id);
                        }
                        break;
                    }
                    found
                }
                _ => self
                    .pending
                    .values()
                    .filter(|w| w.packet.view == view)
                    .find(|w| self.ready(&w.packet))
                    .map(|w| w.packet.id),
            };
            let Some(id) = next else { break };
            self.deliver_one(id, out);
        }
    }

    pub(super) fn delivered(&self, id: MsgId) -> bool {
        self.streams.get(&id.sender).is_some_and(|s| s.delivered.contains(id.seq))
    }

    /// Whether `packet` may be delivered now (orderings but total).
    fn ready(&self, packet: &Packet) -> bool {
        let id = packet.id;
        let prefix = self.streams.get(&id.sender).map_or(0, |s| s.delivered.prefix());
        match self.cfg.ordering {
            Ordering::None => true,
            Ordering::Fifo => id.seq == prefix + 1,
            Ordering::Causal => {
                id.seq == prefix + 1
                    && packet
                        .deps
                        .iter()
                        .filter(|(s, _)| *s != id.sender)
                        .all(|(s, v)| self.streams.get(s).is_some_and(|st| st.delivered.prefix() >= *v))
            }
            Ordering::Total => false,
        }
    }

    pub(super) fn deliver_one(&mut self, id: MsgId, out: &mut Effects<Msg>) {
        let Some(w) = self.pending.remove(&id) else { return };
        let st = self.stream(id.sender, id.seq);
        if st.delivered.insert(id.seq) {
            out.emit(Observation::Multicast(MulticastEvent::Delivered { id, view: w.packet.view }));
        }
    }

    // --- feedback ----------------------------------------------------------

    fn on_ack(&mut self, from: NodeId, id: MsgId) {
        let others = self.others();
        if let Some(h) = self.history.get_mut(&id) {
            h.acked.insert(from);
            if others.iter().all(|m| h.acked.contains(m)) {
                self.history.remove(&id);
            }
        }
    }

    fn on_nack(&mut self, now: Time, from: NodeId, sender: NodeId, seqs: Vec<u64>, out: &mut Effects<Msg>) {
        for seq in seqs {
            let id = MsgId { sender, seq };
            match self.cfg.protocol {
                Protocol::Ack | Protocol::Nack => {
                    if let Some(h) = self.history.get(&id) {
                        out.send(from, Msg::Data { packet: h.packet.clone(), repair: true });
                        out.emit(Observation::Multicast(MulticastEvent::Retransmitted { id, count: 1 }));
                    }
                }
                Protocol::Srm => {
                    if let Some(m) = self.missing.get_mut(&id) {
                        // Another asked first: hold back our own NACK.
                        m.due = now + self.cfg.retransmit.mul_f64(self.rng.gen_range(1.0..=2.0));
                        out.emit(Observation::Multicast(MulticastEvent::Suppressed { id }));
                    } else if self.history.contains_key(&id) && !self.repairs.contains_key(&id) {
                        // The sender repairs at once, the others only if no repair comes.
                        let due = if sender == self.me { now } else { now + self.srm_delay() };
                        self.repairs.insert(id, due);
                    }
                }
                Protocol::Hierarchical => {
                    if let Some(h) = self.history.get(&id) {
                        out.send(from, Msg::Data { packet: h.packet.clone(), repair: true });
                        out.emit(Observation::Multicast(MulticastEvent::Retransmitted { id, count: 1 }));
                    } else if let Some(packet) = self.stream_has(id).cloned() {
                        out.send(from, Msg::Data { packet, repair: true });
                        out.emit(Observation::Multicast(MulticastEvent::Retransmitted { id, count: 1 }));
                    } else if !self.streams.get(&sender).is_some_and(|s| s.received.contains(seq)) {
                        // A coordinator that missed it too asks its parent.
                        self.asked.entry(id).or_default().insert(from);
                        let st = self.stream(sender, seq);
                        st.known = st.known.max(seq);
                        self.missing.entry(id).or_insert(Missing { due: now });
                    }
                }
            }
        }
        if self.cfg.protocol == Protocol::Srm {
            self.send_repairs(now, out);
        }
    }

    /// The packet of `id` if this member still holds it anywhere.
    fn stream_has(&self, id: MsgId) -> Option<&Packet> {
        self.history
            .get(&id)
            .map(|h| &h.packet)
            .or_else(|| self.pending.get(&id).map(|w| &w.packet))
            .or_else(|| self.unstable.get(&id))
    }

    fn on_last(&mut self, now: Time, from: NodeId, seq: u64, view: u64) {
        if Some(view) != self.view_id_if_installed() || self.change.is_some() {
            return;
        }
        let st = self.stream(from, seq + 1);
        st.known = st.known.max(seq);
        self.notice_gaps(now, from);
    }

    fn send_repairs(&mut self, now: Time, out: &mut Effects<Msg>) {
        let due: Vec<MsgId> = self.repairs.iter().filter(|(_, t)| **t <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.repairs.remove(&id);
            let Some(h) = self.history.get(&id) else { continue };
            let packet = h.packet.clone();
            let others = self.others();
            for to in &others {
                out.send(*to, Msg::Data { packet: packet.clone(), repair: true });
            }
            out.emit(Observation::Multicast(MulticastEvent::Retransmitted {
                id,
                count: others.len() as u32,
            }));
        }
    }

    /// Ask for what is missing and due, one NACK per sender (SRM: to everyone).
    fn send_nacks(&mut self, now: Time, out: &mut Effects<Msg>) {
        let mut by_sender: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
        for (id, m) in &self.missing {
            if m.due <= now {
                by_sender.entry(id.sender).or_default().push(id.seq);
            }
        }
        let view = self.view_id();
        for (sender, seqs) in by_sender {
            let again = match self.cfg.protocol {
                Protocol::Srm => self.cfg.retransmit * 2,
                _ => self.cfg.retransmit,
            };
            for seq in &seqs {
                let jitter =
                    if self.cfg.protocol == Protocol::Srm { self.srm_delay() } else { Duration::ZERO };
                if let Some(m) = self.missing.get_mut(&MsgId { sender, seq: *seq }) {
                    m.due = now + again + jitter;
                }
            }
            let to = match self.cfg.protocol {
                Protocol::Ack => continue,
                Protocol::Nack => vec![sender],
                Protocol::Srm => self.others(),
                Protocol::Hierarchical => self.upstream(sender).into_iter().collect(),
            };
            if to.is_empty() {
                continue;
            }
            for t in &to {
                out.send(*t, Msg::Nack { sender, seqs: seqs.clone(), view });
            }
            // A NACK multicast to the group is one feedback message, as a
            // data multicast is one multicast.
            out.emit(Observation::Multicast(MulticastEvent::Feedback { kind: Feedback::Nack, count: 1 }));
        }
    }

    /// ACK: resend to the receivers that stayed silent; collect the history.
    fn retransmit_and_collect(&mut self, now: Time, out: &mut Effects<Msg>) {
        let others = self.others();
        let view = self.view_id();
        let mut gone = Vec::new();
        for (id, h) in &mut self.history {
            if h.packet.view != view || now >= h.at + self.cfg.history {
                // Kept `history` at most: an ACK sender without a membership
                // service would otherwise wait forever for a crashed receiver.
                gone.push(*id);
                continue;
            }
            if self.cfg.protocol != Protocol::Ack || now < h.sent + self.cfg.retransmit {
                continue;
            }
            let silent: Vec<NodeId> = others.iter().copied().filter(|m| !h.acked.contains(m)).collect();
            if silent.is_empty() {
                gone.push(*id);
                continue;
            }
            h.sent = now;
            for to in &silent {
                out.send(*to, Msg::Data { packet: h.packet.clone(), repair: true });
            }
            out.emit(Observation::Multicast(MulticastEvent::Retransmitted {
                id: *id,
                count: silent.len() as u32,
            }));
        }
        for id in gone {
            self.history.remove(&id);
        }
    }

    /// Total order: ask the sequencer for numbers this member misses.
    fn ask_orders(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.cfg.ordering != Ordering::Total || !self.active() {
            return;
        }
        let Some(seq) = self.sequencer().filter(|s| *s != self.me) else { return };
        let view = self.view_id();
        let waited =
            self.pending.values().any(|w| w.packet.view == view && now >= w.at + self.cfg.retransmit);
        let gap = self.orders.keys().next_back().is_some_and(|k| *k >= self.next_order)
            && !self.orders.contains_key(&self.next_order);
        if (waited || gap) && now >= self.order_asked + self.cfg.retransmit {
            self.order_asked = now;
            out.send(seq, Msg::OrderNack { view, next: self.next_order });
            out.emit(Observation::Multicast(MulticastEvent::Feedback { kind: Feedback::Nack, count: 1 }));
        }
    }

    fn report_history(&mut self, now: Time, out: &mut Effects<Msg>) {
        let n = self.history.len() as u32;
        let (last, at) = self.reported;
        if n.abs_diff(last) >= (last / 10).max(1) || now >= at + Duration::from_secs(1) {
            self.reported = (n, now);
            out.emit(Observation::Multicast(MulticastEvent::History { messages: n }));
        }
    }

    fn tick(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.view.is_some() && self.change.is_none() {
            self.retransmit_and_collect(now, out);
            self.send_nacks(now, out);
            self.send_repairs(now, out);
            self.ask_orders(now, out);
            // An idle sender repeats its last number, so a lost last message is noticed.
            if self.is_sender()
                && self.cfg.protocol != Protocol::Ack
                && self.seq > 0
                && !self.history.is_empty()
                && now >= self.spoke + self.cfg.retransmit
            {
                self.spoke = now;
                let (seq, view) = (self.seq, self.view_id());
                for to in self.others() {
                    out.send(to, Msg::Last { seq, view });
                }
            }
            if self.cfg.atomic {
                self.collect_stable();
            }
        }
        if self.cfg.atomic {
            self.retry_change(now, out);
        }
        self.report_history(now, out);
        out.set_timer(self.tick_every(), TICK_TIMER);
    }
}

impl Node for MulticastNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.started = now;
        self.spoke = now;
        self.reported = (0, now);
        out.set_timer(self.tick_every(), TICK_TIMER);
        if self.is_sender() {
            self.schedule_send(now, out);
        }
        if self.cfg.atomic {
            self.start_membership(now, out);
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match msg {
            Msg::Data { packet, repair } => self.on_data(now, from, packet, repair, out),
            Msg::Ack { id } => self.on_ack(from, id),
            Msg::Nack { sender, seqs, view } => {
                if Some(view) == self.view_id_if_installed() && self.change.is_none() {
                    self.on_nack(now, from, sender, seqs, out);
                }
            }
            Msg::Last { seq, view } => self.on_last(now, from, seq, view),
            Msg::Order { view, first, ids } => {
                if Some(view) == self.view_id_if_installed() && self.change.is_none() {
                    for (k, id) in ids.into_iter().enumerate() {
                        self.orders.insert(first + k as u64, id);
                    }
                    self.deliver(out);
                }
            }
            Msg::OrderNack { view, next } => {
                if Some(view) == self.view_id_if_installed() && self.sequencer() == Some(self.me) {
                    let ids: Vec<MsgId> =
                        self.orders.range(next..).take(MAX_ORDERS).map(|(_, id)| *id).collect();
                    if !ids.is_empty() {
                        out.send(from, Msg::Order { view, first: next, ids });
                    }
                }
            }
            Msg::Beat { epoch, seq, view, low, delivered } => {
                self.on_beat(now, from, epoch, seq, view, low, delivered, out)
            }
            Msg::Propose { view, prev, members, joiners } => {
                self.on_propose(now, from, view, prev, members, joiners, out)
            }
            Msg::Flush { view, packets, orders, next } => {
                self.on_flush(now, from, view, packets, orders, next, out)
            }
            Msg::Install { view, prev, members, joiners, packets, orders, base } => {
                self.on_install(now, view, prev, members, joiners, packets, orders, base, out)
            }
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            SEND_TIMER => {
                self.multicast(now, out);
                self.schedule_send(now, out);
            }
            TICK_TIMER => self.tick(now, out),
            BEAT_TIMER => self.beat(now, out),
            CHECK_TIMER => self.check(now, out),
            _ => {}
        }
    }
}
