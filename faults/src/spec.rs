//! The `faults:` entries of an experiment file, exactly as written in YAML.
//!
//! These are plain serde types: one flat struct per entry with a `kind` and
//! optional per-kind fields, so that a deserialiser keeps the line and column
//! of every error (untagged or internally tagged enums buffer their content
//! and lose them). Which fields apply to which kind, and whether targets
//! exist, is checked afterwards by the orchestrator's validation pass.
//! Fields that take two shapes (`target`, `every`, `link`) have hand-written
//! visitors for the same reason.

use crate::duration::{Dur, Offset};
use crate::rule::Direction;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// One entry of `faults:` as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When the fault starts (run-relative); with `every`, the first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Dur>,
    /// How long each occurrence lasts; absent means permanent.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Dur>,
    /// Repeat: a fixed period or random up/down times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<EverySpec>,
    /// What happens.
    pub kind: SpecKind,
    /// The node(s) the fault hits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// One directed link, `replica-1 -> voter-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkSpec>,
    /// Partition groups, `[[a, b], [c, d, e]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
    /// Partition: only the first group's sends to the others are cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_way: Option<bool>,
    /// Omission: which side drops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Omission: chance that each message is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Delay: how each message's delay is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<DelayLaw>,
    /// Delay with `distribution: fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// Delay with `distribution: uniform`: lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Dur>,
    /// Delay with `distribution: uniform`: upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Dur>,
    /// Delay with `distribution: normal`: mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Dur>,
    /// Delay with `distribution: normal`: standard deviation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<Dur>,
    /// Delay with `distribution: pareto`: scale (the minimum delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Dur>,
    /// Delay with `distribution: pareto`: shape (alpha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,
    /// Delay: let jitter reorder messages on a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<bool>,
    /// Byzantine: how results are falsified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ByzantineSpecMode>,
    /// Byzantine `mode: forge`: the node the target claims to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// Byzantine `mode: collude`: the conspiracy the colluders belong to.
    /// Every colluder of a run tells one lie; naming conspiracies splits them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conspiracy: Option<String>,
    /// Clock skew: how far the node's clock is off the host's (`-200ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Offset>,
    /// Clock skew: how much faster the node's clock runs (0.01 = 1% fast, -0.5 = half speed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<f64>,
}

impl FaultSpec {
    /// The optional fields that are set, by their YAML name (for misplaced-field checks).
    pub fn present_fields(&self) -> Vec<&'static str> {
        let set = [
            ("at", self.at.is_some()),
            ("for", self.for_.is_some()),
            ("every", self.every.is_some()),
            ("target", self.target.is_some()),
            ("link", self.link.is_some()),
            ("groups", self.groups.is_some()),
            ("one_way", self.one_way.is_some()),
            ("direction", self.direction.is_some()),
            ("probability", self.probability.is_some()),
            ("distribution", self.distribution.is_some()),
            ("delay", self.delay.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("mean", self.mean.is_some()),
            ("stddev", self.stddev.is_some()),
            ("scale", self.scale.is_some()),
            ("shape", self.shape.is_some()),
            ("reorder", self.reorder.is_some()),
            ("mode", self.mode.is_some()),
            ("impersonate", self.impersonate.is_some()),
            ("conspiracy", self.conspiracy.is_some()),
            ("offset", self.offset.is_some()),
            ("drift", self.drift.is_some()),
        ];
        set.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect()
    }
}

/// Every fault kind the design names.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecKind {
    /// Kill; restarted after `for` if given.
    #[default]
    Crash,
    /// Freeze, resume after `for`.
    Pause,
    /// Kill and start again at once.
    Restart,
    /// Cut the node off the data network.
    Isolate,
    /// Fail-silent: alive, sends nothing.
    Silence,
    /// Drop messages.
    Omission,
    /// Delay messages.
    Delay,
    /// Split the nodes into groups that cannot talk.
    Partition,
    /// Falsify results.
    Byzantine,
    /// Processing delay: each received message is handled late.
    Slow,
    /// Skewed clock: the node's `now` is offset and drifts.
    ClockSkew,
    /// Received messages arrive twice.
    Duplicate,
}

impl SpecKind {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecKind::Crash => "crash",
            SpecKind::Pause => "pause",
            SpecKind::Restart => "restart",
            SpecKind::Isolate => "isolate",
            SpecKind::Silence => "silence",
            SpecKind::Omission => "omission",
            SpecKind::Delay => "delay",
            SpecKind::Partition => "partition",
            SpecKind::Byzantine => "byzantine",
            SpecKind::Slow => "slow",
            SpecKind::ClockSkew => "clock_skew",
            SpecKind::Duplicate => "duplicate",
        }
    }
}

/// How a delay is drawn, as named in YAML.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DelayLaw {
    /// `delay`.
    Fixed,
    /// `min`, `max`.
    Uniform,
    /// `mean`, `stddev`.
    Normal,
    /// `scale`, `shape`.
    Pareto,
}

impl DelayLaw {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            DelayLaw::Fixed => "fixed",
            DelayLaw::Uniform => "uniform",
            DelayLaw::Normal => "normal",
            DelayLaw::Pareto => "pareto",
        }
    }
}

/// Byzantine modes the design names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByzantineSpecMode {
    /// Each faulty node returns its own random wrong result.
    Corrupt,
    /// Colluders return the same wrong result.
    Collude,
    /// Different lies to different peers.
    Equivocate,
    /// Replays of old messages.
    Stale,
    /// Messages in another node's name (`impersonate`).
    Forge,
}

impl ByzantineSpecMode {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            ByzantineSpecMode::Corrupt => "corrupt",
            ByzantineSpecMode::Collude => "collude",
            ByzantineSpecMode::Equivocate => "equivocate",
            ByzantineSpecMode::Stale => "stale",
            ByzantineSpecMode::Forge => "forge",
        }
    }
}

/// Which node(s) a fault hits: a name, or `{role, count, pick}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TargetSpec {
    /// `replica-2`.
    Node(String),
    /// `{ role: replica, count: 2, pick: random }`.
    Role(RoleTarget),
}

/// `count` nodes of `role`, chosen by `pick`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleTarget {
    /// `replica`.
    pub role: String,
    /// How many (default 1).
    #[serde(default = "one")]
    pub count: usize,
    /// Which ones (default first).
    #[serde(default)]
    pub pick: Pick,
}

fn one() -> usize {
    1
}

/// How nodes of a role are chosen.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pick {
    /// The lowest-numbered ones.
    #[default]
    First,
    /// Drawn from the run's seed.
    Random,
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Node(n) => f.write_str(n),
            TargetSpec::Role(r) => {
                let pick = match r.pick {
                    Pick::First => "first",
                    Pick::Random => "random",
                };
                write!(f, "{} x{} ({pick})", r.role, r.count)
            }
        }
    }
}

impl<'de> Deserialize<'de> for TargetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::text::from_str_or_map(
            d,
            "a node name like replica-2 or a map like { role: replica, count: 1, pick: random }",
            |v| Ok(TargetSpec::Node(v.trim().to_string())),
            TargetSpec::Role,
        )
    }
}

/// A repeating schedule: `every: 10s` or `every: { mttf, mttr, distribution }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EverySpec {
    /// A fixed period.
    Period(Dur),
    /// Random up and down times.
    Random(RandomEvery),
}

/// Alternating up times (mean `mttf`) and down times (mean `mttr`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RandomEvery {
    /// Mean time to failure.
    pub mttf: Dur,
    /// Mean time to repair.
    pub mttr: Dur,
    /// The law of both (default exponential).
    #[serde(default)]
    pub distribution: LifetimeLaw,
    /// Weibull shape k (k < 1: infant mortality, k > 1: wear-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,
}

/// How random up and down times are drawn.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LifetimeLaw {
    /// Memoryless.
    #[default]
    Exponential,
    /// Weibull with `shape`.
    Weibull,
}

impl<'de> Deserialize<'de> for EverySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::text::from_str_or_map(
            d,
            "a period like 10s or a map like { mttf: 20s, mttr: 2s, distribution: exponential }",
            |v| Dur::parse(v).map(EverySpec::Period),
            EverySpec::Random,
        )
    }
}

/// One directed link, written `from -> to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// The sending node.
    pub from: String,
    /// The receiving node.
    pub to: String,
}

impl LinkSpec {
    /// Parse `replica-1 -> voter-1`.
    pub fn parse(s: &str) -> Result<LinkSpec, String> {
        let bad = || format!("`{s}` is not a link; expected `from -> to`, like replica-1 -> voter-1");
        let (from, to) = s.split_once("->").ok_or_else(bad)?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() || to.contains("->") {
            return Err(bad());
        }
        Ok(LinkSpec { from: from.to_string(), to: to.to_string() })
    }
}

impl fmt::Display for LinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

impl Serialize for LinkSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LinkSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::text::from_str(d, "a link like replica-1 -> voter-1", LinkSpec::parse)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<FaultSpec, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    #[test]
    fn target_takes_a_name_or_a_role_map() {
        let f = parse("{ at: 5s, kind: crash, target: replica-1 }").unwrap();
        assert_eq!(f.target, Some(TargetSpec::Node("replica-1".into())));
        let f = parse("{ at: 5s, kind: crash, target: { role: replica, count: 2, pick: random } }").unwrap();
        assert_eq!(
            f.target,
            Some(TargetSpec::Role(RoleTarget { role: "replica".into(), count: 2, pick: Pick::Random }))
        );
        let err = parse("{ at: 5s, kind: crash, target: { role: replica, cuont: 2 } }").unwrap_err();
        assert!(err.to_string().contains("unknown field `cuont`"), "{err}");
        assert!(err.location().is_some());
    }

    #[test]
    fn every_takes_a_period_or_random_times() {
        let f = parse("{ every: 10s, for: 1s, kind: crash, target: replica-1 }").unwrap();
        assert_eq!(f.every, Some(EverySpec::Period(Dur(Duration::from_secs(10)))));
        let f = parse("{ every: { mttf: 20s, mttr: 2s, distribution: weibull, shape: 1.5 }, kind: crash }")
            .unwrap();
        let Some(EverySpec::Random(r)) = f.every else { panic!("not random") };
        assert_eq!(r.mttf, Dur(Duration::from_secs(20)));
        assert_eq!(r.distribution, LifetimeLaw::Weibull);
        assert_eq!(r.shape, Some(1.5));
        let err = parse("{ every: soon, kind: crash }").unwrap_err();
        assert!(err.to_string().contains("`soon` is not a duration"), "{err}");
    }

    #[test]
    fn link_needs_an_arrow() {
        let f = parse("{ at: 1s, kind: delay, link: replica-1 -> voter-1 }").unwrap();
        assert_eq!(f.link, Some(LinkSpec { from: "replica-1".into(), to: "voter-1".into() }));
        assert!(parse("{ at: 1s, kind: delay, link: replica-1 }").is_err());
        assert!(LinkSpec::parse("a -> b -> c").is_err());
        assert!(LinkSpec::parse(" -> b").is_err());
    }

    #[test]
    fn unknown_fields_and_kinds_are_errors() {
        let err = parse("{ at: 1s, kind: omission, probabilty: 0.5 }").unwrap_err();
        assert!(err.to_string().contains("unknown field `probabilty`, expected one of"), "{err}");
        let err = parse("{ at: 1s, kind: explode }").unwrap_err();
        assert!(err.to_string().contains("unknown variant `explode`"), "{err}");
    }

    #[test]
    fn new_kinds_and_their_fields_parse() {
        let f =
            parse("{ at: 1s, kind: clock_skew, target: replica-1, offset: -200ms, drift: 0.01 }").unwrap();
        assert_eq!(
            (f.kind, f.offset, f.drift),
            (SpecKind::ClockSkew, Some(Offset(-200_000_000)), Some(0.01))
        );
        let f = parse("{ at: 1s, kind: byzantine, target: replica-3, mode: forge, impersonate: replica-1 }")
            .unwrap();
        assert_eq!((f.mode, f.impersonate.as_deref()), (Some(ByzantineSpecMode::Forge), Some("replica-1")));
        assert_eq!(parse("{ at: 1s, kind: duplicate, probability: 0.1 }").unwrap().kind, SpecKind::Duplicate);
        assert_eq!(parse("{ at: 1s, kind: slow, delay: 5ms }").unwrap().kind, SpecKind::Slow);
        let err = parse("{ at: 1s, kind: clock_skew, offset: soon }").unwrap_err();
        assert!(err.to_string().contains("not an offset"), "{err}");
    }

    #[test]
    fn present_fields_lists_what_was_written() {
        let f = parse("{ at: 1s, for: 2s, kind: omission, probability: 0.5 }").unwrap();
        assert_eq!(f.present_fields(), vec!["at", "for", "probability"]);
    }
}
