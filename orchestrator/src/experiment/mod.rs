//! Experiment files: parsing (with file:line:column errors), validation, and
//! the expansion of fault schedules into concrete occurrences.
//!
//! - [`yaml`] holds everything that knows the YAML parser (serde types, the
//!   serde_yaml call, a locator for keys and values by path);
//! - `validate` turns the file into these typed forms, with located errors;
//! - `schedule` expands fault plans into occurrences from a seed.

mod conflict;
pub mod limits;
mod schedule;
pub(crate) mod validate;
pub mod yaml;

use crate::backend::BackendChoice;
use crate::topology::Topology;
use faults::spec::FaultSpec;
use faults::{ByzantineMode, DelayDistribution, Direction, MessageFault};
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::NodeId;

/// A parsed and validated experiment.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub path: PathBuf,
    pub name: String,
    pub concept: Option<String>,
    pub description: Option<String>,
    pub seed: u64,
    pub duration: Duration,
    pub backend: BackendChoice,
    pub workload: Workload,
    pub topology: Topology,
    pub faults: Vec<FaultPlan>,
    pub expect: Vec<Expectation>,
    /// The network model of the sim backend (the other backends have a real one).
    pub network: driver::sim::Network,
    /// Swarm placement constraints of the nodes that have some, as swarm reads them.
    pub placement: std::collections::BTreeMap<NodeId, Vec<String>>,
}

pub use crate::workload::{
    ByzantineParams, CheckpointParams, CommitParams, HeartbeatParams, PrimaryBackupParams, RpcParams,
    TmrParams, Workload,
};

/// The kinds of fault an experiment can name (the YAML's own `kind`).
pub use faults::spec::SpecKind as FaultKind;

/// One entry of `faults:`, validated.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Position in the file's list.
    pub index: usize,
    pub kind: FaultKind,
    /// The target as written (`replica-2`, `replica-1 -> voter-1`, `role replica x1`).
    pub target: String,
    /// Line of the entry in the file.
    pub line: usize,
    /// When it happens.
    pub schedule: Schedule,
    /// Which nodes or links it hits.
    pub selection: Selection,
    /// Parameters of message faults (`None` for container-level kinds).
    pub params: FaultParams,
}

/// When a planned fault happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Once at `at`, lasting `length` (`None`: permanent, or instantaneous for restart).
    Once { at: Duration, length: Option<Duration> },
    /// At `first`, `first + period`, ... until the run ends, each lasting `length`
    /// (`None` only for restart).
    Periodic { first: Duration, period: Duration, length: Option<Duration> },
    /// From `first`, alternating random up times (mean `mttf`) and down times
    /// (mean `mttr`); the fault is active during the down times.
    Random { first: Duration, mttf: Duration, mttr: Duration, law: Lifetime },
}

/// The law of random up and down times.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Lifetime {
    /// Exponential (memoryless) with the given mean.
    Exponential,
    /// Weibull with shape k, scaled so its mean is the given mean.
    Weibull { shape: f64 },
}

/// The nodes or links a planned fault hits.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// These nodes (a name, or a role with `pick: first`).
    Nodes(Vec<NodeId>),
    /// `count` of `candidates`, drawn from the seed at each occurrence.
    Random { candidates: Vec<NodeId>, count: usize },
    /// Messages from `from` to `to`.
    Link { from: NodeId, to: NodeId },
    /// Partition groups; with `one_way` only the first group's sends to the others are cut.
    Groups { groups: Vec<Vec<NodeId>>, one_way: bool },
}

/// Parameters of a message fault.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultParams {
    /// Container-level kinds, silence and partition need none.
    None,
    /// Drop messages.
    Omission { direction: Direction, probability: f64 },
    /// Delay messages.
    Delay { distribution: DelayDistribution, reorder: bool },
    /// Falsify results (corrupt, collude, equivocate, stale).
    Byzantine {
        mode: ByzantineMode,
        /// `collude` only: the named conspiracy (None: the run's one conspiracy).
        conspiracy: Option<String>,
    },
    /// Byzantine `mode: forge`: each possible liar and the node it claims to
    /// be; the rules go on every other node of the run (`everyone`).
    Forge { claims: Vec<(NodeId, NodeId)>, everyone: Vec<NodeId> },
    /// Processing delay of each received message.
    Slow { distribution: DelayDistribution },
    /// The node's clock is `offset_nanos` off and runs `1 + drift` times as fast.
    ClockSkew { offset_nanos: i64, drift: f64 },
    /// Received messages arrive twice with `probability`.
    Duplicate { probability: f64 },
}

/// One execution of a planned fault on concrete nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    /// Index of the FaultPlan.
    pub fault: usize,
    pub kind: FaultKind,
    /// Run-relative start.
    pub start: Duration,
    /// Run-relative end; None = permanent.
    pub end: Option<Duration>,
    pub action: Action,
}

/// What executing an occurrence means.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Kill these nodes; started again at `end` if any.
    Crash(Vec<NodeId>),
    /// Freeze these nodes until `end`.
    Pause(Vec<NodeId>),
    /// Kill and immediately start again.
    Restart(Vec<NodeId>),
    /// Cut these nodes off the data network until `end`.
    Isolate(Vec<NodeId>),
    /// Install these rules on these nodes' interposers until `end`.
    Message(Vec<(NodeId, MessageFault)>),
}

/// A comparison in `expect:`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// One `expect:` entry: `availability: ">= 0.999"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// A report.json path, dotted (`requests.wrong`).
    pub metric: String,
    pub op: CmpOp,
    pub value: f64,
    /// The condition as written (`>= 0.999`).
    pub condition: String,
}

impl Expectation {
    /// Whether `actual` satisfies the condition (a missing or null metric fails).
    pub fn holds(&self, actual: Option<f64>) -> bool {
        let Some(a) = actual else { return false };
        match self.op {
            CmpOp::Lt => a < self.value,
            CmpOp::Le => a <= self.value,
            CmpOp::Gt => a > self.value,
            CmpOp::Ge => a >= self.value,
            CmpOp::Eq => a == self.value,
            CmpOp::Ne => a != self.value,
        }
    }
}

/// An error in an experiment file, located (`line` 0: the file as a whole,
/// printed `file: message`).
#[derive(Debug, thiserror::Error)]
pub struct ExperimentError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.path.display(), self.message),
            (line, 0) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {}", self.path.display(), self.message),
        }
    }
}

/// Read, parse and validate an experiment file.
pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
    let whole = |message: String| ExperimentError { path: path.to_path_buf(), line: 0, column: 0, message };
    let file = std::fs::File::open(path).map_err(|e| whole(format!("cannot read the file: {e}")))?;
    // Read one byte past the limit, so a huge file (or /dev/zero) is never read whole.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, yaml::MAX_FILE_BYTES as u64 + 1), &mut bytes)
        .map_err(|e| whole(format!("cannot read the file: {e}")))?;
    if bytes.len() > yaml::MAX_FILE_BYTES {
        let len =
            std::fs::metadata(path).map_or(bytes.len(), |m| usize::try_from(m.len()).unwrap_or(usize::MAX));
        return Err(whole(yaml::too_large(len.max(bytes.len()))));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "the file is not UTF-8 text (byte {} is not); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_str(path, &text)
}

/// Parse and validate an experiment from text; `path` is used in errors and kept.
/// A leading UTF-8 byte-order mark (which some Windows editors write) is skipped.
pub fn parse_str(path: &Path, text: &str) -> Result<Experiment, ExperimentError> {
    validate::build(path, text.strip_prefix('\u{feff}').unwrap_or(text))
}

impl Experiment {
    /// Expand the fault schedules into occurrences that start before `duration`
    /// (random schedules drawn from `seed`), sorted by start; the second list
    /// holds faults skipped because they would start after it.
    pub fn occurrences(&self, seed: u64, duration: Duration) -> (Vec<Occurrence>, Vec<FaultPlan>) {
        schedule::expand(&self.faults, seed, duration)
    }

    /// Validate one fault injected at run time (the dashboard's) against this
    /// experiment's topology, and expand it into occurrences starting at
    /// `now` (run-relative): its `at` counts from `now`, and no `at` means now.
    /// `index` numbers the injected fault (past the file's faults) and picks
    /// its random streams. Errors are plain text: there is no file.
    pub fn live_occurrences(
        &self,
        spec: &FaultSpec,
        now: Duration,
        index: usize,
    ) -> Result<Vec<Occurrence>, String> {
        let plan = self.live_plan(spec, now, index)?;
        let remaining = self.duration.saturating_sub(now);
        let (mut occurrences, _) = schedule::expand(std::slice::from_ref(&plan), self.seed, remaining);
        for o in &mut occurrences {
            o.start += now;
            o.end = o.end.map(|e| e + now);
        }
        Ok(occurrences)
    }

    /// The validated plan of a fault injected at `now` (see [`Experiment::live_occurrences`]).
    pub fn live_plan(&self, spec: &FaultSpec, now: Duration, index: usize) -> Result<FaultPlan, String> {
        validate::live(self, spec, now, index)
    }

    /// What the random crash or pause schedule behind `availability_model`
    /// drew for `seed` over `duration`: the sample means of its up and down
    /// times, which a single run's MTTF and MTTR should be compared with.
    pub fn schedule_drawn(&self, seed: u64, duration: Duration) -> Option<crate::report::ScheduleDrawn> {
        let (plan, mttf, mttr) = self.faults.iter().find_map(|f| match (&f.kind, &f.schedule) {
            (FaultKind::Crash | FaultKind::Pause, Schedule::Random { mttf, mttr, first, .. }) => {
                Some(((f, *first), *mttf, *mttr))
            }
            _ => None,
        })?;
        let (f, first) = plan;
        let (occ, _) = schedule::expand(std::slice::from_ref(f), seed, duration);
        let mut ups = Vec::new();
        let mut downs = Vec::new();
        let mut from = first;
        for o in &occ {
            ups.push(o.start.saturating_sub(from).as_secs_f64());
            if let Some(end) = o.end {
                downs.push(end.saturating_sub(o.start).as_secs_f64());
                from = end;
            }
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        Some(crate::report::ScheduleDrawn {
            fault: f.index,
            model_mttf_seconds: mttf.as_secs_f64(),
            model_mttr_seconds: mttr.as_secs_f64(),
            mean_up_seconds: mean(&ups),
            mean_down_seconds: mean(&downs),
            occurrences: occ.len(),
        })
    }

    /// MTTF / (MTTF + MTTR) when a crash or pause fault runs on an
    /// `every: {mttf, mttr}` schedule (the first such fault).
    pub fn availability_model(&self) -> Option<f64> {
        self.repair_model().and_then(|(f, r)| (f + r > 0.0).then(|| f / (f + r)))
    }

    /// (MTTF, MTTR) in seconds of the first crash fault on an `every:
    /// {mttf, mttr}` schedule: the repairs whose restart time adds to the MTTR.
    pub fn repair_model(&self) -> Option<(f64, f64)> {
        self.faults.iter().find_map(|f| match (&f.kind, &f.schedule) {
            (FaultKind::Crash | FaultKind::Pause, Schedule::Random { mttf, mttr, .. }) => {
                Some((mttf.as_secs_f64(), mttr.as_secs_f64()))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
