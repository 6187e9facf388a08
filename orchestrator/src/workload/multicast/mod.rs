//! Reliable group communication: reliable multicast with ACK, NACK, SRM or
//! hierarchical feedback, message ordering, and virtual synchrony.

mod section;

use section::MulticastRecorder;

/// Its section's key in report.json.
const KEY: &str = "multicast";

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::limits::MAX_HEARTBEATS_PER_SECOND;
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::multicast::{Config, Ordering, Protocol};
use workloads::{DetectorConfig, DetectorKind};

/// The roles of the group: members that multicast, and members that only receive.
const SENDER: &str = "sender";
const MEMBER: &str = "member";

/// Messages per second the whole group may exchange on a real host: the
/// same budget as the heartbeat group's (a 2-core host's loops fall behind
/// past it, and late messages would read as losses and suspicions).
const MAX_MESSAGES_PER_SECOND: f64 = MAX_HEARTBEATS_PER_SECOND;

/// `protocol:` as written.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolFile {
    Ack,
    Nack,
    Srm,
    Hierarchical,
}

/// `ordering:` as written.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderingFile {
    None,
    Fifo,
    Causal,
    Total,
}

/// `workload:` of the multicast workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MulticastFile {
    /// `ack`, `nack`, `srm` or `hierarchical`: how receivers give feedback.
    pub protocol: Option<ProtocolFile>,
    /// `none`, `fifo`, `causal` or `total`: the order members deliver in.
    pub ordering: Option<OrderingFile>,
    /// Virtual synchrony: every member of a view delivers a message, or none does.
    pub atomic: Option<bool>,
    /// Members that multicast (`sender-1`, ...).
    pub senders: Option<usize>,
    /// Members that only receive (`member-1`, ...).
    pub receivers: Option<usize>,
    /// The whole group, senders included (instead of `receivers`).
    pub members: Option<usize>,
    /// Multicasts per second from each sender.
    pub rate: Option<Rate>,
    /// ACK: resend after this; NACK: report a gap this old; SRM: NACK delay scale.
    pub retransmit: Option<Dur>,
    /// Hierarchical: members per subgroup.
    pub subgroup: Option<usize>,
    /// How long a history buffer keeps a message nobody said everyone has.
    pub history: Option<Dur>,
}

/// Parameters of the multicast workload: the group's configuration (the
/// members and senders are filled in from the topology).
#[derive(Clone, Debug, PartialEq)]
pub struct MulticastParams {
    pub config: Config,
}

impl Describe for MulticastParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
        Meaning::of("multicast.multicasts", "messages the senders multicast within the run"),
        Meaning::of("multicast.deliveries", "deliveries to the members' applications, every member counted"),
        Meaning::of("multicast.correct_members", "members that never crashed: the ones reliability and atomicity are checked on"),
        Meaning::of("multicast.reliability", "the fraction of (multicast, correct member of the sender's view) pairs delivered, where the multicast had to be (its sender correct, or with atomic: true delivered by some correct member)"),
        Meaning::of("multicast.reliability_violations", "(multicast, member) pairs a correct member of the sender's view never delivered although it had to"),
        Meaning::of_all("multicast.latency_seconds", "delivery latency, from a multicast to each delivery at another member"),
        Meaning::of("multicast.duplicates", "messages a member delivered more than once (must be 0)"),
        Meaning::of("multicast.ordering.configured", "the ordering the members were asked to keep"),
        Meaning::of("multicast.ordering.violations.fifo", "pairs of one sender's messages some member delivered out of the order they were sent"),
        Meaning::of("multicast.ordering.violations.causal", "messages delivered before a message that causally precedes them (FIFO allows these)"),
        Meaning::of("multicast.ordering.violations.total", "pairs of messages two members delivered in opposite orders (FIFO and causal allow these)"),
        Meaning::of("multicast.atomicity_violations", "messages delivered in a view by some correct members and not by others that installed the next view: virtual synchrony forbids them"),
        Meaning::of("multicast.feedback_per_multicast", "feedback messages (ACKs and NACKs) per multicast: about N with ACKs (implosion), far fewer with NACKs"),
        Meaning::of("multicast.acks_per_multicast", "acknowledgments per multicast"),
        Meaning::of("multicast.nacks_per_multicast", "negative acknowledgments per multicast (SRM: those not suppressed)"),
        Meaning::of("multicast.retransmissions_per_multicast", "messages sent again per multicast, every receiver of a retransmission counted"),
        Meaning::of("multicast.sender_retransmissions_per_multicast", "retransmissions per multicast made by the message's own sender: a hierarchy moves the rest to the subgroups' coordinators"),
        Meaning::of("multicast.repairs_per_multicast", "retransmissions per multicast counted as sends: a repair multicast to the whole group (SRM) counts once"),
        Meaning::of("multicast.suppressed", "SRM: NACKs a member held back because it heard another member's NACK for the same message first"),
        Meaning::of("multicast.suppressed_per_multicast", "SRM: NACKs held back per multicast"),
        Meaning::of("multicast.acks", "acknowledgments the members sent within the run"),
        Meaning::of("multicast.nacks", "negative acknowledgments the members sent within the run"),
        Meaning::of("multicast.retransmissions", "messages sent again, every receiver of a retransmission counted"),
        Meaning::of("multicast.atomic", "1 when virtual synchrony was asked for (atomic: true)"),
        Meaning::of("multicast.concurrent_views_max", "the most different views the live members held at one time: 2 or more means the group split (a partition)"),
        Meaning::of("multicast.views_at_end", "different views the live members hold at the end: 1 once a split group merged again"),
        Meaning::of_all("multicast.members", "each member: its deliveries, the view it holds at the end, and whether it crashed"),
        Meaning::of("multicast.history_buffer_max", "the most messages one member's history buffer held at once"),
        Meaning::of("multicast.history_buffer_mean", "messages a history buffer held on average over the run (time-weighted, averaged over the members)"),
        Meaning::of("multicast.flushed", "unstable messages the members flushed to each other during view changes"),
        Meaning::of("multicast.views", "views installed after the first (view changes completed)"),
        Meaning::of_all("multicast.view_change_seconds", "view-change time: from the first member proposing a view to the last of its members installing it"),
        Meaning::of_all("multicast.view_changes", "each view change: its view, when it began, how long until every member of the new view installed it, its members and the messages flushed"),
    ];
    const WATCH: &'static str =
        "- All along: the multicast line (feedback and retransmissions per multicast, \
         SRM's suppressions: with `protocol: ack` the feedback grows with the group, with NACKs it stays \
         small) and the deliveries of each member; after a crash or a partition, the group view of each \
         member as the survivors flush unstable messages and install the next view, and after a partition \
         heals, the views merging; at the end, the oracle's violation counts for every ordering (the \
         configured one reads 0, the weaker ones show what they allow) and the atomicity violations (0 with \
         `atomic: true`).";
}

impl Plugin for MulticastParams {
    fn kind(&self) -> &'static str {
        "multicast"
    }

    fn agent_config(&self, run: &RunView<'_>, node: &NodeSpec) -> AnyConfig {
        AnyConfig::from(Config {
            members: run.ids(&[SENDER, MEMBER]),
            senders: run.ids(&[SENDER]),
            // Each member its own stream, the same on every run of this seed.
            seed: run.seed ^ (u64::from(node.id.0) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ..self.config.clone()
        })
    }

    /// What was multicast just before the end still gets its feedback,
    /// retransmissions and (atomic) a view change that flushes it.
    fn deadline(&self) -> Duration {
        let c = &self.config;
        let repair = c.retransmit * 10;
        if c.atomic {
            repair + detection_bound(&c.detector) + c.detector.interval * 4
        } else {
            repair
        }
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        let names = run.topology.nodes.iter().map(|n| n.name.clone()).collect();
        let section = MulticastRecorder::new(self.config.ordering, self.config.atomic, names);
        recorder.set_section(KEY, Box::new(section));
    }
}

/// About how long the detector takes to suspect a crashed member.
fn detection_bound(d: &DetectorConfig) -> Duration {
    match &d.kind {
        DetectorKind::Fixed { timeout } => *timeout,
        DetectorKind::PhiAccrual { acceptable_pause, .. } => *acceptable_pause + d.interval * 4,
        DetectorKind::Chen { alpha, .. } => *alpha + d.interval,
    }
}

impl Validate for MulticastFile {
    /// The membership service (for `atomic: true`) follows the file's `detector:`.
    const DETECTOR: bool = true;

    /// `kind: multicast`: `sender-1..` multicasting to the group, `member-1..` receiving.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        let protocol = match w.protocol {
            Some(ProtocolFile::Ack) => Protocol::Ack,
            Some(ProtocolFile::Nack) => Protocol::Nack,
            Some(ProtocolFile::Srm) => Protocol::Srm,
            Some(ProtocolFile::Hierarchical) => Protocol::Hierarchical,
            None => {
                return Err(cx.value_err(
                    "workload.kind",
                    "kind: multicast needs `protocol: ack | nack | srm | hierarchical`",
                ))
            }
        };
        let ordering = match w.ordering.unwrap_or(OrderingFile::None) {
            OrderingFile::None => Ordering::None,
            OrderingFile::Fifo => Ordering::Fifo,
            OrderingFile::Causal => Ordering::Causal,
            OrderingFile::Total => Ordering::Total,
        };
        let senders = w.senders.unwrap_or(1);
        if senders == 0 {
            return Err(cx.value_err("workload.senders", "senders must be 1 or more; got 0"));
        }
        let receivers =
            match (w.receivers, w.members) {
                (Some(_), Some(_)) => return Err(cx.key_err(
                    "workload.members",
                    "give `receivers` (members that only receive) or `members` (the whole group), not both",
                )),
                (Some(r), None) => r,
                (None, Some(m)) if m < senders => {
                    return Err(cx.value_err(
                        "workload.members",
                        format!(
                    "members is the whole group, senders included: {m} is fewer than the {senders} senders"
                ),
                    ))
                }
                (None, Some(m)) => m - senders,
                (None, None) => 4,
            };
        if senders + receivers < 2 {
            let at = if w.members.is_some() { "workload.members" } else { "workload.receivers" };
            return Err(cx.value_err(at, "a group needs 2 members or more"));
        }
        let rate = cx.rate(w.rate, 20.0)?;
        if rate <= 0.0 {
            return Err(cx.value_err("workload.rate", "rate must be above zero"));
        }
        let retransmit = cx.positive_dur("retransmit", w.retransmit, Duration::from_millis(20))?;
        let history = cx.positive_dur("history", w.history, Duration::from_secs(1))?;
        if history < retransmit {
            return Err(cx.value_err(
                "workload.history",
                format!(
                    "history ({}) is shorter than retransmit ({}): a message would leave the history \
                     buffer before anyone could ask for it again",
                    Dur(history),
                    Dur(retransmit)
                ),
            ));
        }
        let subgroup = match (w.subgroup, protocol) {
            (Some(_), p) if p != Protocol::Hierarchical => {
                return Err(cx.key_err(
                    "workload.subgroup",
                    "`subgroup` applies to `protocol: hierarchical` only; remove it",
                ))
            }
            (Some(s), _) if s < 2 => {
                return Err(cx.value_err("workload.subgroup", format!("subgroup must be 2 or more; got {s}")))
            }
            (s, _) => s.unwrap_or(5),
        };
        let n = senders + receivers;
        let atomic = w.atomic.unwrap_or(false);
        // Each multicast reaches every member and (ACK) comes back from
        // each; the membership service (atomic) heartbeats among all members.
        let feedback = if protocol == Protocol::Ack { 2.0 } else { 1.0 };
        let heartbeats = if atomic { (n * (n - 1)) as f64 / detector.interval.as_secs_f64() } else { 0.0 };
        let traffic = rate * senders as f64 * n as f64 * feedback + heartbeats;
        if traffic > MAX_MESSAGES_PER_SECOND && !cx.simulated {
            return Err(cx.value_err(
                "workload.rate",
                format!(
                    "{n} members with {senders} senders at {rate}/s exchange about {traffic:.0} messages/s \
                     (multicasts, feedback and heartbeats), over the limit of {MAX_MESSAGES_PER_SECOND:.0}/s \
                     a 2-core host keeps honest; use a lower rate, fewer members, a longer \
                     `detector.interval`, or `backend: sim`"
                ),
            ));
        }
        let config = Config {
            protocol,
            ordering,
            atomic,
            members: Vec::new(),
            senders: Vec::new(),
            rate,
            retransmit,
            subgroup,
            history,
            detector,
            seed: 0,
        };
        let topology = Topology::from_roles(&[(SENDER, senders), (MEMBER, receivers)]);
        Ok((Workload::Multicast(MulticastParams { config }), topology))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::experiment::{parse_str, Experiment, ExperimentError};
    use std::path::Path;
    use workloads::NodeId;

    fn parse(workload: &str) -> Result<Experiment, ExperimentError> {
        parse_str(Path::new("exp.yaml"), &format!("name: t\nduration: 10s\nworkload:\n{workload}"))
    }

    fn params(workload: &str) -> (MulticastParams, Topology) {
        let e = parse(workload).unwrap_or_else(|e| panic!("{e}"));
        match e.workload {
            Workload::Multicast(p) => (p, e.topology),
            other => panic!("not multicast: {other:?}"),
        }
    }

    /// The error for `workload` (its lines start on line 4 of the file) is at `line`, at `needle`.
    fn error_at(workload: &str, line: usize, needle: &str, message: &str) {
        let text = format!("name: t\nduration: 10s\nworkload:\n{workload}");
        let err =
            parse_str(Path::new("exp.yaml"), &text).err().unwrap_or_else(|| panic!("no error for {text}"));
        let src = text.lines().nth(line - 1).unwrap_or_default();
        let column =
            src.find(needle).map(|c| c + 1).unwrap_or_else(|| panic!("`{needle}` not on line {line}"));
        assert_eq!((err.line, err.column), (line, column), "wrong place for: {err}");
        assert!(err.message.contains(message), "message `{}` lacks `{message}`", err.message);
        assert!(err.to_string().starts_with(&format!("exp.yaml:{line}:{column}: ")), "{err}");
    }

    #[test]
    fn the_group_is_senders_then_receivers_and_each_agent_gets_them_all() {
        let (p, t) =
            params("  kind: multicast\n  protocol: srm\n  ordering: causal\n  senders: 2\n  receivers: 3\n");
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["sender-1", "sender-2", "member-1", "member-2", "member-3"]);
        assert_eq!(
            (p.config.protocol, p.config.ordering, p.config.atomic),
            (Protocol::Srm, Ordering::Causal, false)
        );
        let run = RunView { topology: &t, seed: 3, window: 0 };
        let configs: Vec<Config> = t
            .nodes
            .iter()
            .map(|n| match p.agent_config(&run, n) {
                AnyConfig::Multicast(c) => c,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(configs[0].members, (0..5).map(NodeId).collect::<Vec<_>>());
        assert_eq!(configs[4].senders, vec![NodeId(0), NodeId(1)]);
        assert_ne!(configs[0].seed, configs[1].seed, "each member its own random stream");
        // `members` is the whole group, the same as `receivers` plus the senders.
        let (_, t2) = params("  kind: multicast\n  protocol: ack\n  senders: 2\n  members: 5\n");
        assert_eq!(t2.nodes.len(), 5);
        assert_eq!(t2.with_role("member").count(), 3);
    }

    #[test]
    fn the_deadline_leaves_time_for_repairs_and_with_atomic_for_a_view_change() {
        let (p, _) = params("  kind: multicast\n  protocol: nack\n  retransmit: 30ms\n");
        assert_eq!(p.deadline(), Duration::from_millis(300));
        let text = "name: t\nduration: 10s\nworkload: { kind: multicast, protocol: nack, atomic: true }\n\
                    detector: { kind: fixed, interval: 50ms, timeout: 300ms }\n";
        let e = parse_str(Path::new("exp.yaml"), text).unwrap();
        let Workload::Multicast(p) = e.workload else { panic!() };
        assert_eq!(p.config.detector.interval, Duration::from_millis(50));
        assert_eq!(p.deadline(), Duration::from_millis(200 + 300 + 200));
    }

    #[test]
    fn errors_are_located_at_the_key_or_value_at_fault() {
        error_at(
            "  kind: multicast\n  ordering: fifo\n",
            4,
            "multicast",
            "needs `protocol: ack | nack | srm | hierarchical`",
        );
        error_at("  kind: multicast\n  protocol: tcp\n", 5, "tcp", "unknown variant `tcp`");
        error_at(
            "  kind: multicast\n  protocol: ack\n  ordering: lamport\n",
            6,
            "lamport",
            "expected one of `none`, `fifo`, `causal`, `total`",
        );
        error_at("  kind: multicast\n  protocol: ack\n  senders: 0\n", 6, "0", "senders must be 1 or more");
        error_at(
            "  kind: multicast\n  protocol: ack\n  receivers: 3\n  members: 4\n",
            7,
            "members",
            "not both",
        );
        error_at(
            "  kind: multicast\n  protocol: ack\n  senders: 3\n  members: 2\n",
            7,
            "2",
            "fewer than the 3 senders",
        );
        error_at("  kind: multicast\n  protocol: ack\n  receivers: 0\n", 6, "0", "2 members or more");
        error_at(
            "  kind: multicast\n  protocol: nack\n  retransmit: 0ms\n",
            6,
            "0ms",
            "retransmit must be above zero",
        );
        error_at(
            "  kind: multicast\n  protocol: nack\n  history: 10ms\n  retransmit: 50ms\n",
            6,
            "10ms",
            "shorter than retransmit",
        );
        error_at(
            "  kind: multicast\n  protocol: nack\n  subgroup: 4\n",
            6,
            "subgroup",
            "`protocol: hierarchical` only",
        );
        error_at(
            "  kind: multicast\n  protocol: hierarchical\n  subgroup: 1\n",
            6,
            "1",
            "subgroup must be 2 or more",
        );
        error_at("  kind: multicast\n  protocol: ack\n  atomic: maybe\n", 6, "maybe", "invalid type");
    }

    #[test]
    fn other_workloads_keys_are_refused_naming_their_workload() {
        error_at(
            "  kind: multicast\n  protocol: ack\n  replicas: 3\n",
            6,
            "replicas",
            "`replicas` is a key of the tmr, primary-backup and multi-paxos workloads, not of `multicast`",
        );
        error_at(
            "  kind: multicast\n  protocol: ack\n  semantics: at-most-once\n",
            6,
            "semantics",
            "is a key of the rpc workload",
        );
        // And the multicast keys are refused elsewhere, naming multicast.
        error_at(
            "  kind: heartbeat\n  ordering: total\n",
            5,
            "ordering",
            "`ordering` is a key of the multicast workload, not of `heartbeat`",
        );
    }

    #[test]
    fn a_real_host_bounds_the_group_s_traffic_and_the_simulator_does_not() {
        let big = "  kind: multicast\n  protocol: ack\n  receivers: 100\n  rate: 100/s\n";
        error_at(big, 7, "100/s", "messages/s");
        let text = format!("name: t\nduration: 10s\nbackend: sim\nworkload:\n{big}");
        let e = parse_str(Path::new("exp.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.topology.nodes.len(), 101);
    }
}
