//! The two-army problem: two generals, a lossy link, k acknowledgments.

mod section;

/// Its section's key in report.json.
const KEY: &str = "two_armies";

use super::{Describe, Plugin, RunView, Validate, Workload};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::{FaultKind, FaultParams, FaultPlan, Schedule, Selection};
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::{NodeSpec, Topology};
use faults::{Direction, Dur};
use section::LossWindow;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::{DetectorConfig, NodeId};

/// `workload:` of the two-army problem, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoArmiesFile {
    /// k: acknowledgments after the plan (message, ack, ack of ack...).
    pub rounds: Option<u32>,
    /// A new plan every `interval`: each instance is one trial.
    pub interval: Option<Dur>,
    /// The time one messenger is given.
    pub round: Option<Dur>,
}

/// Parameters of the two-army problem (the generals are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct TwoArmiesParams {
    pub config: workloads::two_armies::Config,
}

impl Describe for TwoArmiesParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("two_armies.instances", "plans general-1 proposed within the run, each one trial of the exchange (a new plan every interval)"),
    Meaning::of("two_armies.both", "instances in which both generals attacked: every messenger got through"),
    Meaning::of("two_armies.neither", "instances in which neither attacked: a messenger before the last was lost, so each missed one it waited for"),
    Meaning::of("two_armies.alone", "instances in which one general attacked alone: the last messenger was lost, and its sender had nothing more to wait for"),
    Meaning::of("two_armies.alone_proposer", "instances in which general-1 (the proposer) attacked alone (k even: it sends the last messenger)"),
    Meaning::of("two_armies.alone_other", "instances in which general-2 attacked alone (k odd: it sends the last messenger)"),
    Meaning::of("two_armies.alone_fraction", "alone over instances: more rounds make it rarer, never zero while messengers can be lost"),
    Meaning::of("two_armies.alone_low", "the low end of the 95% Wilson interval of alone_fraction"),
    Meaning::of("two_armies.alone_high", "the high end of the 95% Wilson interval of alone_fraction"),
    Meaning::of("two_armies.loss_ab", "the chance an omission fault loses a messenger of general-1, averaged over the instances"),
    Meaning::of("two_armies.loss_ba", "the chance an omission fault loses a messenger of general-2, averaged over the instances"),
    Meaning::of("two_armies.theory_alone", "the model's fraction alone: the chance that exactly the last of the k+1 messengers is the first lost, Π(1 − q_i)·q_k, p(1 − p)^k with one loss p"),
    Meaning::of("two_armies.theory_within", "whether theory_alone lies within the measured 95% interval (null when the run has faults the model does not cover)"),
    ];
    const WATCH: &'static str = "- All along: the two-armies line: instances, both attacked, neither, and ALONE with its fraction beside the model's.
- While an omission fault stands on the generals: ALONE grows by about p(1 − p)^k of the instances; with no loss it stays at 0.
- Compare runs with more rounds: ALONE is rarer, never zero; neither grows instead.";
}

impl Plugin for TwoArmiesParams {
    fn kind(&self) -> &'static str {
        "two-armies"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        let generals = run.ids(&["general"]);
        AnyConfig::TwoArmies(workloads::two_armies::Config {
            proposer: generals.first().copied().unwrap_or(NodeId(0)),
            other: generals.get(1).copied().unwrap_or(NodeId(1)),
            ..self.config.clone()
        })
    }

    /// An instance is over once the next begins.
    fn deadline(&self) -> Duration {
        self.config.interval
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, faults: &[FaultPlan]) {
        let generals = run.ids(&["general"]);
        let (a, b) =
            (generals.first().copied().unwrap_or(NodeId(0)), generals.get(1).copied().unwrap_or(NodeId(1)));
        let losses = loss_windows(faults, a, b);
        let interval = self.config.interval.as_secs_f64();
        recorder
            .set_section(KEY, Box::new(section::ArmiesRecorder::new(self.config.rounds, interval, losses)));
    }
}

/// The omission faults as the model sees them: per window, the chance of
/// losing each of A's and B's messengers. None when a fault the model does
/// not cover is planned (another kind, a random pick, a repeating schedule).
fn loss_windows(faults: &[FaultPlan], a: NodeId, b: NodeId) -> Option<Vec<LossWindow>> {
    let mut windows = Vec::new();
    for f in faults {
        let (
            FaultKind::Omission,
            FaultParams::Omission { direction, probability },
            Schedule::Once { at, length },
        ) = (f.kind, &f.params, &f.schedule)
        else {
            return None;
        };
        let p = probability.clamp(0.0, 1.0);
        let sends = matches!(direction, Direction::Send | Direction::Both);
        let receives = matches!(direction, Direction::Receive | Direction::Both);
        // Per direction of the link, the rules that draw on it.
        let (mut ab, mut ba) = (1.0, 1.0);
        let mut hit = |from_a: bool| if from_a { ab *= 1.0 - p } else { ba *= 1.0 - p };
        let nodes = match &f.selection {
            Selection::Nodes(nodes) => Some(nodes),
            // A random pick of every candidate is no pick.
            Selection::Random { candidates, count } if *count >= candidates.len() => Some(candidates),
            _ => None,
        };
        match &f.selection {
            _ if nodes.is_some() => {
                let nodes = nodes.map(Vec::as_slice).unwrap_or_default();
                // A's send rule and B's receive rule draw on A's messengers, and conversely.
                for n in nodes.iter().filter(|n| **n == a || **n == b) {
                    let is_a = *n == a;
                    if sends {
                        hit(is_a);
                    }
                    if receives {
                        hit(!is_a);
                    }
                }
            }
            // The link's rule covers its direction, and the reverse too with `both`.
            Selection::Link { from, to } if (*from, *to) == (a, b) || (*from, *to) == (b, a) => {
                hit(*from == a);
                if *direction == Direction::Both {
                    hit(*from != a);
                }
            }
            Selection::Link { .. } => {}
            Selection::Nodes(_) | Selection::Random { .. } | Selection::Groups { .. } => return None,
        }
        let start = at.as_secs_f64();
        windows.push(LossWindow {
            start,
            end: length.map(|l| start + l.as_secs_f64()),
            ab: 1.0 - ab,
            ba: 1.0 - ba,
        });
    }
    Some(windows)
}

impl Validate for TwoArmiesFile {
    /// `kind: two-armies`: `general-1` proposes, `general-2` answers.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let rounds = self.rounds.unwrap_or(1);
        if rounds > 50 {
            return Err(cx.value_err("workload.rounds", format!("rounds must be 0 to 50; got {rounds}")));
        }
        let interval = cx.positive_dur("interval", self.interval, Duration::from_millis(200))?;
        let round = cx.positive_dur("round", self.round, Duration::from_millis(20))?;
        let config =
            workloads::two_armies::Config { proposer: NodeId(0), other: NodeId(1), rounds, interval, round };
        // B waits (k+1) rounds from the plan's arrival: all is decided before the next plan.
        let span = round.saturating_mul(rounds.saturating_add(2));
        if span >= interval {
            return Err(cx.value_err(
                "workload.interval",
                format!(
                    "the interval ({}) must exceed k+2 rounds ({}): an instance is decided before the next begins",
                    Dur(interval),
                    Dur(span)
                ),
            ));
        }
        let topology = Topology::from_roles(&[("general", 2)]);
        Ok((Workload::TwoArmies(TwoArmiesParams { config }), topology))
    }
}
