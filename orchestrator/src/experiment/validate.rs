//! From the file as written to a typed, checked [`Experiment`]: every
//! semantic error names the line and column of the key or value at fault.

use super::{conflict, limits};
use crate::backend::BackendChoice;

mod detector;
use super::yaml::{self, ExperimentFile, LatencyFile, Locator, NetworkFile, Pos, Rate, REPORT_ROOTS};
use super::{
    CmpOp, Expectation, Experiment, ExperimentError, FaultKind, FaultParams, FaultPlan, Lifetime, Schedule,
    Selection,
};
use crate::topology::Topology;
use faults::spec::{ByzantineSpecMode, DelayLaw, EverySpec, FaultSpec, LifetimeLaw, Pick, TargetSpec};
use faults::{ByzantineMode, DelayDistribution, Direction, Dur};
use std::path::Path;
use std::time::Duration;
use workloads::NodeId;

/// Parse `text` and check it.
pub(super) fn build(path: &Path, text: &str) -> Result<Experiment, ExperimentError> {
    let file = yaml::parse(text).map_err(|e| {
        // serde reads `workload:` (a tagged enum) from a buffer that has lost
        // the positions: find the key or value at fault again.
        if e.pos.is_none_or(|p| p == Pos::START) {
            if let Some((pos, message)) = workload_error(&Locator::new(text), text, &e.message) {
                return located(path, pos, message);
            }
        }
        match e.pos {
            Some(pos) => located(path, pos, e.message),
            None => ExperimentError { path: path.to_path_buf(), line: 0, column: 0, message: e.message },
        }
    })?;
    let check = Checker { path, loc: Locator::new(text), simulated: file.backend == BackendChoice::Sim };
    check.experiment(file)
}

/// Where in `workload:` a serde error is, and what it says: a key of
/// another workload names the workload it belongs to.
fn workload_error(loc: &Locator, text: &str, message: &str) -> Option<(Pos, String)> {
    let kind_pos = loc.value("workload.kind")?;
    let kind = scalar_at(text, kind_pos);
    let ticked = message.split('`').nth(1).unwrap_or_default();
    if message.starts_with("unknown field `") {
        let pos = loc.key(&format!("workload.{ticked}"))?;
        let owners = crate::workload::kinds_accepting(ticked);
        if owners.is_empty() {
            return Some((pos, message.to_string()));
        }
        let accepted = crate::workload::keys()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, keys)| keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let of = match owners.split_last() {
            Some((last, [])) => format!("the {last} workload"),
            Some((last, rest)) => format!("the {} and {last} workloads", rest.join(", ")),
            None => String::new(),
        };
        return Some((pos, format!("`{ticked}` is a key of {of}, not of `{kind}` (which takes {accepted})")));
    }
    // The value is named `like this` or, by serde's type errors, "like this".
    let ticked = if ticked.is_empty() { message.split('"').nth(1).unwrap_or_default() } else { ticked };
    if ticked.is_empty() {
        return None;
    }
    // A value at fault (`unknown variant `coordinated``, `fast` is not a rate): the workload key holding it.
    let keys = crate::workload::keys();
    std::iter::once("kind")
        .chain(keys.iter().flat_map(|(_, k)| k.iter().copied()))
        .filter_map(|k| loc.value(&format!("workload.{k}")))
        .find(|&p| scalar_at(text, p) == ticked)
        .map(|p| (p, message.to_string()))
}

/// The plain or quoted scalar that starts at `pos`.
fn scalar_at(text: &str, pos: Pos) -> String {
    let line = text.lines().nth(pos.line.saturating_sub(1)).unwrap_or_default();
    let rest: String = line.chars().skip(pos.column.saturating_sub(1)).collect();
    let rest = rest.trim_start_matches('\u{feff}');
    if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        return rest[1..].split(q).next().unwrap_or_default().to_string();
    }
    rest.split([',', '}', ']', '#']).next().unwrap_or_default().trim().to_string()
}

fn located(path: &Path, pos: Pos, message: String) -> ExperimentError {
    ExperimentError { path: path.to_path_buf(), line: pos.line, column: pos.column, message }
}

pub(crate) struct Checker<'a> {
    path: &'a Path,
    loc: Locator,
    /// The file names the sim backend: the limits of a real host do not apply.
    pub(crate) simulated: bool,
}

pub(crate) type Res<T> = Result<T, ExperimentError>;

impl Checker<'_> {
    /// The folder of the experiment file (where its relative paths start).
    pub(crate) fn dir(&self) -> std::path::PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    /// A count of `workload.{name}` that must lie in `range`, or its default.
    pub(crate) fn count<T>(
        &self,
        name: &str,
        v: Option<T>,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Res<T>
    where
        T: PartialOrd + Copy + std::fmt::Display,
    {
        let v = v.unwrap_or(default);
        if !range.contains(&v) {
            let (lo, hi) = (range.start(), range.end());
            return Err(
                self.value_err(&format!("workload.{name}"), format!("{name} must be {lo} to {hi}; got {v}"))
            );
        }
        Ok(v)
    }

    /// A duration that must be above zero, or its default.
    pub(crate) fn positive_dur(&self, name: &str, d: Option<Dur>, default: Duration) -> Res<Duration> {
        let v = d.map_or(default, |d| d.0);
        if v.is_zero() {
            return Err(self.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
        }
        Ok(v)
    }

    /// An error at the value of `at` (or the nearest enclosing node found).
    pub(crate) fn value_err(&self, at: &str, message: impl Into<String>) -> ExperimentError {
        located(self.path, self.find(at, false), message.into())
    }

    /// An error at the key that ends `at`.
    pub(crate) fn key_err(&self, at: &str, message: impl Into<String>) -> ExperimentError {
        located(self.path, self.find(at, true), message.into())
    }

    fn find(&self, at: &str, key: bool) -> Pos {
        let mut p = at;
        loop {
            let hit = if key { self.loc.key(p) } else { self.loc.value(p) };
            if let Some(pos) = hit {
                return pos;
            }
            // Walk up: `faults[2].target` → `faults[2]` → `faults`.
            match p.rfind(['.', '[']) {
                Some(i) if i > 0 => p = &p[..i],
                _ => return Pos::START,
            }
        }
    }

    fn experiment(&self, file: ExperimentFile) -> Res<Experiment> {
        if file.name.trim().is_empty() {
            return Err(self.value_err("name", "the name must not be empty"));
        }
        let duration = file.duration.0;
        if duration.is_zero() {
            return Err(self.value_err("duration", "the duration must be above zero"));
        }
        let (workload, topology) = file.workload.validate(self, file.detector.as_ref())?;
        self.size_limit(&topology, file.backend)?;
        let network = self.network(file.network.unwrap_or_default(), &topology)?;
        let placement = self.placement(file.placement.unwrap_or_default(), &topology)?;
        let faults = file
            .faults
            .iter()
            .enumerate()
            .map(|(i, spec)| self.fault(i, spec, &topology, duration))
            .collect::<Res<Vec<_>>>()?;
        if let Some(c) = conflict::first(&faults, &topology, duration) {
            return Err(self.value_err(&format!("faults[{}]", c.index), c.message));
        }
        let expect = file
            .expect
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(metric, cond)| self.expectation(metric, cond, &topology))
            .collect::<Res<Vec<_>>>()?;
        Ok(Experiment {
            path: self.path.to_path_buf(),
            name: file.name,
            concept: file.concept.map(|s| s.trim().to_string()),
            description: file.description.map(|s| s.trim().to_string()),
            seed: file.seed,
            duration,
            backend: file.backend,
            workload,
            topology,
            faults,
            expect,
            network,
            placement,
        })
    }

    /// `placement:`, node name → swarm constraints (`zone=a` is the node label `zone`).
    fn placement(
        &self,
        file: std::collections::BTreeMap<String, yaml::PlacementFile>,
        topology: &Topology,
    ) -> Res<std::collections::BTreeMap<NodeId, Vec<String>>> {
        let mut out = std::collections::BTreeMap::new();
        for (name, constraints) in file {
            let at = format!("placement.{name}");
            let node = topology.by_name(&name).ok_or_else(|| {
                self.key_err(
                    &at,
                    format!(
                        "no node is named `{name}`; the nodes are {}",
                        topology.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            let list = match constraints {
                yaml::PlacementFile::One(c) => vec![c],
                yaml::PlacementFile::Many(l) => l,
            };
            let list = list
                .iter()
                .map(|c| crate::backend::swarm::constraint(c).map_err(|m| self.value_err(&at, m)))
                .collect::<Res<Vec<_>>>()?;
            out.insert(node.id, list);
        }
        Ok(out)
    }

    /// `network:`, the sim backend's model: the measured defaults unless overridden.
    fn network(&self, file: NetworkFile, topology: &Topology) -> Res<driver::sim::Network> {
        let mut net = driver::sim::Network::default();
        if let Some(l) = file.latency {
            net.latency = self.latency(l, "network.latency")?;
        }
        if let Some(r) = file.restart_time {
            net.restart_time = r.0;
        }
        for (i, link) in file.links.into_iter().enumerate() {
            let at = format!("network.links[{i}]");
            let node = |name: &str, key: &str| {
                topology.by_name(name).map(|n| n.id).ok_or_else(|| {
                    self.value_err(
                        &format!("{at}.{key}"),
                        format!(
                            "no node is named `{name}`; the nodes are {}",
                            topology.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
            };
            let (from, to) = (node(&link.from, "from")?, node(&link.to, "to")?);
            let latency = self.latency(link.latency, &format!("{at}.latency"))?;
            net.links.insert((from, to), latency);
            if !link.one_way {
                net.links.insert((to, from), latency);
            }
        }
        Ok(net)
    }

    fn latency(&self, file: LatencyFile, at: &str) -> Res<driver::sim::Latency> {
        use driver::sim::Latency;
        Ok(match file {
            LatencyFile::Fixed { value } => Latency::Fixed { value: value.0 },
            LatencyFile::Normal { mean, stddev } => Latency::Normal { mean: mean.0, stddev: stddev.0 },
            LatencyFile::Exponential { mean } if mean.0.is_zero() => {
                return Err(
                    self.value_err(&format!("{at}.mean"), "an exponential latency needs a mean above zero")
                )
            }
            LatencyFile::Exponential { mean } => Latency::Exponential { mean: mean.0 },
        })
    }

    /// The topology fits the backend named in the file (`auto`: the larger limit).
    fn size_limit(&self, topology: &Topology, backend: BackendChoice) -> Res<()> {
        let (max, why) = limits::max_nodes(backend);
        let n = topology.nodes.len();
        if n <= max {
            return Ok(());
        }
        // Point at the count that made it so large.
        let at = ["replicas", "nodes", "processes", "generals", "participants"]
            .iter()
            .map(|k| format!("workload.{k}"))
            .find(|p| self.loc.value(p).is_some())
            .unwrap_or_else(|| "workload".to_string());
        Err(self.value_err(&at, format!("this makes {n} nodes, over the limit of {max}: {why}")))
    }

    /// A client's `rate` within what one client agent sustains.
    pub(crate) fn rate(&self, rate: Option<Rate>, default: f64) -> Res<f64> {
        let rate = rate.map_or(default, |r| r.0);
        if rate > limits::MAX_RATE && !self.simulated {
            return Err(self.value_err(
                "workload.rate",
                format!("{rate}/s is over the limit of {}/s: {}", limits::MAX_RATE, limits::RATE_REASON),
            ));
        }
        Ok(rate)
    }

    fn expectation(&self, metric: String, condition: String, topology: &Topology) -> Res<Expectation> {
        let at = format!("expect.{metric}");
        let mut parts = metric.split('.');
        let root = parts.next().unwrap_or_default();
        // A workload's own section is a root by its registry line.
        if !REPORT_ROOTS.contains(&root) && !crate::workload::report_keys().contains(&root) {
            return Err(self.key_err(
                &at,
                format!(
                    "unknown metric `{metric}`; expected a report.json path such as availability, requests.wrong, failures"
                ),
            ));
        }
        // `nodes.NAME.…`: a misspelt node would be null, and its condition could never hold.
        if let (true, Some(node)) = (root == "nodes", parts.next()) {
            if node.parse::<usize>().is_err() && topology.by_name(node).is_none() {
                return Err(
                    self.key_err(&at, format!("no node named `{node}` in this experiment's topology"))
                );
            }
        }
        let (op, value) = parse_condition(&condition).ok_or_else(|| {
            self.value_err(
                &at,
                format!("`{condition}` is not a condition; expected an operator (<, <=, >, >=, ==, !=) and a number, like \">= 0.999\""),
            )
        })?;
        Ok(Expectation { metric, op, value, condition: condition.trim().to_string() })
    }

    fn fault(&self, i: usize, spec: &FaultSpec, topo: &Topology, duration: Duration) -> Res<FaultPlan> {
        let base = format!("faults[{i}]");
        let field = |name: &str| format!("{base}.{name}");
        let kind = spec.kind;
        for name in spec.present_fields() {
            if !applies(kind, name) {
                return Err(
                    self.key_err(&field(name), format!("`{name}` does not apply to `{}`", kind.as_str()))
                );
            }
        }
        let schedule = self.schedule(&base, kind, spec, duration)?;
        let (selection, target) = self.selection(&base, kind, spec, topo)?;
        let params = self.params(&base, kind, spec, &selection, topo)?;
        let line = self.loc.value(&base).map_or(0, |p| p.line);
        Ok(FaultPlan { index: i, kind, target, line, schedule, selection, params })
    }

    fn schedule(&self, base: &str, kind: FaultKind, spec: &FaultSpec, duration: Duration) -> Res<Schedule> {
        let field = |name: &str| format!("{base}.{name}");
        let length = spec.for_.map(|d| d.0);
        if length.is_some_and(|l| l.is_zero()) {
            return Err(
                self.value_err(&field("for"), "`for` must be above zero; leave it out for a permanent fault")
            );
        }
        let inside = |at: Duration, what: &str| -> Res<()> {
            if at >= duration {
                return Err(self.value_err(
                    &field(what),
                    format!(
                        "this fault would start at {}, outside the run (duration: {})",
                        Dur(at),
                        Dur(duration)
                    ),
                ));
            }
            Ok(())
        };
        match &spec.every {
            None => {
                let at = spec.at.ok_or_else(|| {
                    self.value_err(
                        base,
                        "a fault needs `at` (once) or `every` (repeated); expected e.g. `at: 10s`",
                    )
                })?;
                inside(at.0, "at")?;
                Ok(Schedule::Once { at: at.0, length })
            }
            Some(EverySpec::Period(period)) => {
                let period = period.0;
                if period < Duration::from_millis(1) {
                    return Err(self.value_err(&field("every"), "the period must be at least 1ms"));
                }
                if kind != FaultKind::Restart {
                    let Some(l) = length else {
                        return Err(self.value_err(
                            &field("every"),
                            "a fixed `every` needs `for`, how long each occurrence lasts (e.g. `every: 10s, for: 1s`)",
                        ));
                    };
                    if l >= period {
                        return Err(self.value_err(
                            &field("for"),
                            format!("`for` ({}) must be shorter than the period ({})", Dur(l), Dur(period)),
                        ));
                    }
                }
                let first = spec.at.map_or(period, |d| d.0);
                inside(first, if spec.at.is_some() { "at" } else { "every" })?;
                Ok(Schedule::Periodic { first, period, length })
            }
            Some(EverySpec::Random(r)) => {
                if kind == FaultKind::Restart {
                    return Err(self.value_err(
                        &field("every"),
                        "`every: {mttf, mttr}` does not apply to `restart` (it has no down time); use a fixed period",
                    ));
                }
                if spec.for_.is_some() {
                    return Err(self.key_err(
                        &field("for"),
                        "`for` does not apply with `every: {mttf, mttr}`: down times are drawn with mean mttr",
                    ));
                }
                if r.mttf.0 < Duration::from_millis(1) || r.mttr.0 < Duration::from_millis(1) {
                    return Err(self.value_err(&field("every"), "mttf and mttr must be at least 1ms"));
                }
                let law = match r.distribution {
                    LifetimeLaw::Exponential => {
                        if r.shape.is_some() {
                            return Err(self.key_err(
                                &field("every.shape"),
                                "`shape` does not apply to `distribution: exponential`",
                            ));
                        }
                        Lifetime::Exponential
                    }
                    LifetimeLaw::Weibull => {
                        let shape = r.shape.ok_or_else(|| {
                            self.value_err(
                                &field("every"),
                                "`distribution: weibull` needs `shape` (e.g. 1.5)",
                            )
                        })?;
                        if !(shape.is_finite() && (0.1..=100.0).contains(&shape)) {
                            return Err(self.value_err(
                                &field("every.shape"),
                                format!("the Weibull shape must be between 0.1 and 100; got {shape}"),
                            ));
                        }
                        Lifetime::Weibull { shape }
                    }
                };
                let first = spec.at.map_or(Duration::ZERO, |d| d.0);
                inside(first, "at")?;
                Ok(Schedule::Random { first, mttf: r.mttf.0, mttr: r.mttr.0, law })
            }
        }
    }

    fn node(&self, at: &str, name: &str, topo: &Topology) -> Res<NodeId> {
        topo.by_name(name).map(|n| n.id).ok_or_else(|| {
            let names: Vec<&str> = topo.nodes.iter().map(|n| n.name.as_str()).collect();
            self.value_err(at, format!("unknown node `{name}`; the nodes are {}", names.join(", ")))
        })
    }

    fn selection(
        &self,
        base: &str,
        kind: FaultKind,
        spec: &FaultSpec,
        topo: &Topology,
    ) -> Res<(Selection, String)> {
        let field = |name: &str| format!("{base}.{name}");
        if kind == FaultKind::Partition {
            let Some(groups) = &spec.groups else {
                return Err(self.value_err(
                    base,
                    "`partition` needs `groups`, like [[replica-1], [replica-2, voter-1]]",
                ));
            };
            if groups.len() < 2 {
                return Err(self.value_err(&field("groups"), "a partition needs at least two groups"));
            }
            let mut seen: Vec<NodeId> = Vec::new();
            let mut ids = Vec::new();
            for (g, group) in groups.iter().enumerate() {
                if group.is_empty() {
                    return Err(
                        self.value_err(&format!("{base}.groups[{g}]"), "a partition group must not be empty")
                    );
                }
                let mut ids_g = Vec::new();
                for (k, name) in group.iter().enumerate() {
                    let at = format!("{base}.groups[{g}][{k}]");
                    let id = self.node(&at, name, topo)?;
                    if seen.contains(&id) {
                        return Err(self.value_err(&at, format!("`{name}` appears in the partition twice")));
                    }
                    seen.push(id);
                    ids_g.push(id);
                }
                ids.push(ids_g);
            }
            let written =
                groups.iter().map(|g| format!("[{}]", g.join(", "))).collect::<Vec<_>>().join(" | ");
            return Ok((Selection::Groups { groups: ids, one_way: spec.one_way.unwrap_or(false) }, written));
        }
        match (&spec.target, &spec.link) {
            (Some(_), Some(_)) => {
                Err(self.key_err(&field("link"), "give either `target` or `link`, not both"))
            }
            (None, None) => {
                let what = if applies(kind, "link") { "`target` or `link`" } else { "`target`" };
                Err(self
                    .value_err(base, format!("`{}` needs {what}, like `target: replica-1`", kind.as_str())))
            }
            (None, Some(link)) => {
                let from = self.node(&field("link"), &link.from, topo)?;
                let to = self.node(&field("link"), &link.to, topo)?;
                if from == to {
                    return Err(self.value_err(&field("link"), "a link joins two different nodes"));
                }
                Ok((Selection::Link { from, to }, link.to_string()))
            }
            (Some(TargetSpec::Node(name)), None) => {
                Ok((Selection::Nodes(vec![self.node(&field("target"), name, topo)?]), name.clone()))
            }
            (Some(t @ TargetSpec::Role(r)), None) => {
                let candidates: Vec<NodeId> = topo.with_role(&r.role).map(|n| n.id).collect();
                if candidates.is_empty() {
                    let mut roles: Vec<&str> = topo.nodes.iter().map(|n| n.role.as_str()).collect();
                    roles.dedup();
                    return Err(self.value_err(
                        &field("target.role"),
                        format!("unknown role `{}`; the roles are {}", r.role, roles.join(", ")),
                    ));
                }
                if r.count == 0 || r.count > candidates.len() {
                    return Err(self.value_err(
                        &field("target.count"),
                        format!(
                            "count must be between 1 and {} (the {} nodes); got {}",
                            candidates.len(),
                            r.role,
                            r.count
                        ),
                    ));
                }
                let sel = match r.pick {
                    Pick::First => Selection::Nodes(candidates[..r.count].to_vec()),
                    Pick::Random => Selection::Random { candidates, count: r.count },
                };
                Ok((sel, t.to_string()))
            }
        }
    }

    fn params(
        &self,
        base: &str,
        kind: FaultKind,
        spec: &FaultSpec,
        selection: &Selection,
        topo: &Topology,
    ) -> Res<FaultParams> {
        let field = |name: &str| format!("{base}.{name}");
        let probability = || -> Res<f64> {
            let p = spec.probability.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&p) {
                return Err(self.value_err(
                    &field("probability"),
                    format!("probability must be between 0 and 1; got {p}"),
                ));
            }
            Ok(p)
        };
        match kind {
            FaultKind::Omission => Ok(FaultParams::Omission {
                direction: spec.direction.unwrap_or(Direction::Both),
                probability: probability()?,
            }),
            FaultKind::Duplicate => Ok(FaultParams::Duplicate { probability: probability()? }),
            FaultKind::Delay => Ok(FaultParams::Delay {
                distribution: self.distribution(base, spec)?,
                reorder: spec.reorder.unwrap_or(false),
            }),
            FaultKind::Slow => Ok(FaultParams::Slow { distribution: self.distribution(base, spec)? }),
            FaultKind::ClockSkew => {
                if spec.offset.is_none() && spec.drift.is_none() {
                    return Err(self.value_err(
                        base,
                        "`clock_skew` needs `offset` (like -200ms) or `drift` (like 0.01 for 1% fast), or both",
                    ));
                }
                let drift = spec.drift.unwrap_or(0.0);
                if !(drift.is_finite() && (-0.99..=10.0).contains(&drift)) {
                    return Err(self.value_err(
                        &field("drift"),
                        format!(
                            "drift must be between -0.99 (almost stopped) and 10 (11 times as fast); got {drift}"
                        ),
                    ));
                }
                Ok(FaultParams::ClockSkew { offset_nanos: spec.offset.map_or(0, |o| o.as_nanos()), drift })
            }
            FaultKind::Byzantine => {
                let mode = spec.mode.unwrap_or(ByzantineSpecMode::Corrupt);
                if spec.impersonate.is_some() && mode != ByzantineSpecMode::Forge {
                    return Err(self.key_err(
                        &field("impersonate"),
                        format!("`impersonate` applies to `mode: forge` only, not `mode: {}`", mode.as_str()),
                    ));
                }
                if spec.conspiracy.is_some() && mode != ByzantineSpecMode::Collude {
                    return Err(self.key_err(
                        &field("conspiracy"),
                        format!(
                            "`conspiracy` applies to `mode: collude` only, not `mode: {}`",
                            mode.as_str()
                        ),
                    ));
                }
                let mode = match mode {
                    ByzantineSpecMode::Corrupt => ByzantineMode::Corrupt,
                    ByzantineSpecMode::Collude => ByzantineMode::Collude,
                    ByzantineSpecMode::Equivocate => ByzantineMode::Equivocate,
                    ByzantineSpecMode::Stale => ByzantineMode::Stale,
                    ByzantineSpecMode::Forge => return self.forge(base, spec, selection, topo),
                };
                Ok(FaultParams::Byzantine { mode, conspiracy: spec.conspiracy.clone() })
            }
            _ => Ok(FaultParams::None),
        }
    }

    /// Who each possible liar of a `mode: forge` fault claims to be:
    /// `impersonate`, or else the next node of the liar's role.
    fn forge(
        &self,
        base: &str,
        spec: &FaultSpec,
        selection: &Selection,
        topo: &Topology,
    ) -> Res<FaultParams> {
        let field = |name: &str| format!("{base}.{name}");
        let liars: Vec<NodeId> = match selection {
            Selection::Nodes(n) => n.clone(),
            Selection::Random { candidates, .. } => candidates.clone(),
            Selection::Link { from, .. } => vec![*from],
            Selection::Groups { .. } => Vec::new(),
        };
        let claimed = match &spec.impersonate {
            Some(name) => Some(self.node(&field("impersonate"), name, topo)?),
            None => None,
        };
        let mut claims = Vec::new();
        for liar in liars {
            let victim = match claimed {
                Some(c) => c,
                None => next_of_role(topo, liar).ok_or_else(|| {
                    self.value_err(
                        base,
                        format!(
                            "`mode: forge` needs `impersonate`, the node the target claims to be: `{}` has no peer of its role",
                            topo.by_id(liar).map_or("?", |n| n.name.as_str())
                        ),
                    )
                })?,
            };
            if victim == liar {
                return Err(self.value_err(
                    &field("impersonate"),
                    "a node cannot forge messages as itself; `impersonate` must not be one of the targets",
                ));
            }
            claims.push((liar, victim));
        }
        Ok(FaultParams::Forge { claims, everyone: topo.nodes.iter().map(|n| n.id).collect() })
    }

    /// A delay law and its parameters (for `delay` and `slow`).
    fn distribution(&self, base: &str, spec: &FaultSpec) -> Res<DelayDistribution> {
        let field = |name: &str| format!("{base}.{name}");
        let law = spec.distribution.unwrap_or(DelayLaw::Fixed);
        let needs: &[&str] = match law {
            DelayLaw::Fixed => &["delay"],
            DelayLaw::Uniform => &["min", "max"],
            DelayLaw::Normal => &["mean", "stddev"],
            DelayLaw::Pareto => &["scale", "shape"],
        };
        let present = spec.present_fields();
        for name in ["delay", "min", "max", "mean", "stddev", "scale", "shape"] {
            if present.contains(&name) && !needs.contains(&name) {
                return Err(self.key_err(
                    &field(name),
                    format!("`{name}` does not apply to `distribution: {}`", law.as_str()),
                ));
            }
        }
        if let Some(missing) = needs.iter().find(|n| !present.contains(n)) {
            let at = if spec.distribution.is_some() { field("distribution") } else { base.to_string() };
            return Err(self.value_err(
                &at,
                format!(
                    "`distribution: {}` needs {} (missing `{missing}`)",
                    law.as_str(),
                    needs.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
                ),
            ));
        }
        let d = |v: Option<Dur>| v.map_or(Duration::ZERO, |d| d.0);
        Ok(match law {
            DelayLaw::Fixed => DelayDistribution::Fixed(d(spec.delay)),
            DelayLaw::Uniform => {
                let (min, max) = (d(spec.min), d(spec.max));
                if min > max {
                    return Err(self.value_err(&field("max"), "`max` must not be below `min`"));
                }
                DelayDistribution::Uniform { min, max }
            }
            DelayLaw::Normal => DelayDistribution::Normal { mean: d(spec.mean), stddev: d(spec.stddev) },
            DelayLaw::Pareto => {
                let shape = spec.shape.unwrap_or(0.0);
                if !(shape.is_finite() && shape > 0.0) {
                    return Err(self.value_err(
                        &field("shape"),
                        format!("the Pareto shape must be above zero; got {shape}"),
                    ));
                }
                DelayDistribution::Pareto { scale: d(spec.scale), shape }
            }
        })
    }
}

/// The next node of `node`'s role after it, wrapping; None if it is alone.
fn next_of_role(topo: &Topology, node: NodeId) -> Option<NodeId> {
    let role = &topo.by_id(node)?.role;
    let peers: Vec<NodeId> = topo.with_role(role).map(|n| n.id).collect();
    let at = peers.iter().position(|p| *p == node)?;
    let next = peers[(at + 1) % peers.len()];
    (next != node).then_some(next)
}

/// Check one fault injected at run time (see [`Experiment::live_occurrences`]).
pub(super) fn live(
    exp: &Experiment,
    spec: &FaultSpec,
    now: Duration,
    index: usize,
) -> Result<FaultPlan, String> {
    let remaining = exp.duration.saturating_sub(now);
    if remaining.is_zero() {
        return Err(format!("the run is over ({} of {})", Dur(now), Dur(exp.duration)));
    }
    // An injected fault with no time starts at once.
    let mut spec = spec.clone();
    if spec.at.is_none() && spec.every.is_none() {
        spec.at = Some(Dur(Duration::ZERO));
    }
    let path = Path::new("");
    let check = Checker { path, loc: Locator::default(), simulated: exp.backend == BackendChoice::Sim };
    let mut plan = check.fault(index, &spec, &exp.topology, remaining).map_err(|e| e.message)?;
    plan.line = 0;
    Ok(plan)
}

/// Whether the optional field `name` may appear on a fault of `kind`.
fn applies(kind: FaultKind, name: &str) -> bool {
    use FaultKind::*;
    match name {
        "at" | "every" => true,
        "for" => kind != Restart,
        "target" => kind != Partition,
        "link" => matches!(kind, Omission | Delay | Byzantine | Duplicate),
        "groups" | "one_way" => kind == Partition,
        "direction" => kind == Omission,
        "probability" => matches!(kind, Omission | Duplicate),
        "distribution" | "delay" | "min" | "max" | "mean" | "stddev" | "scale" | "shape" => {
            matches!(kind, Delay | Slow)
        }
        "reorder" => kind == Delay,
        "mode" | "impersonate" | "conspiracy" => kind == Byzantine,
        "offset" | "drift" => kind == ClockSkew,
        _ => false,
    }
}

/// `>= 0.999` → (Ge, 0.999).
pub(crate) fn parse_condition(s: &str) -> Option<(CmpOp, f64)> {
    let s = s.trim();
    // Two-character operators first so `>=` is not read as `>`.
    let ops = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    let (op, rest) = ops.iter().find_map(|(text, op)| s.strip_prefix(text).map(|rest| (*op, rest)))?;
    let value: f64 = rest.trim().parse().ok()?;
    value.is_finite().then_some((op, value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_every_operator() {
        assert_eq!(parse_condition(">= 0.999"), Some((CmpOp::Ge, 0.999)));
        assert_eq!(parse_condition("== 0"), Some((CmpOp::Eq, 0.0)));
        assert_eq!(parse_condition("<5"), Some((CmpOp::Lt, 5.0)));
        assert_eq!(parse_condition("!= 1"), Some((CmpOp::Ne, 1.0)));
        assert_eq!(parse_condition("> 2"), Some((CmpOp::Gt, 2.0)));
        assert_eq!(parse_condition("<= 3"), Some((CmpOp::Le, 3.0)));
        assert_eq!(parse_condition("about 3"), None);
        assert_eq!(parse_condition(">= lots"), None);
        assert_eq!(parse_condition("0.5"), None);
        assert_eq!(parse_condition(">= NaN"), None);
    }

    #[test]
    fn field_applicability_follows_the_kind() {
        assert!(applies(FaultKind::Omission, "probability"));
        assert!(!applies(FaultKind::Crash, "probability"));
        assert!(!applies(FaultKind::Restart, "for"));
        assert!(applies(FaultKind::Delay, "link"));
        assert!(!applies(FaultKind::Crash, "link"));
        assert!(!applies(FaultKind::Partition, "target"));
    }
}
