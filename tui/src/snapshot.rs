//! The snapshot the dashboard renders. The orchestrator's recorder fills it
//! (the same recorder that writes report.json and feeds the Prometheus
//! exporter), so the dashboard never computes a metric of its own.

use serde::Serialize;

/// Where the run is.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum RunState {
    /// Deploying agents.
    #[default]
    Starting,
    /// Running the schedule.
    Running,
    /// The schedule is held (faults wait; the workload keeps running).
    Paused,
    /// The run ended.
    Finished,
    /// Stopped by the user or a signal.
    Interrupted,
}

/// A node's state.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum NodeStatus {
    #[default]
    Up,
    Down,
    Paused,
    /// Up, with state transfer in progress.
    Recovering,
}

/// One node's line in the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeView {
    pub name: String,
    pub role: String,
    pub status: NodeStatus,
    /// Active faults on this node, short names (`omission 30%`, `byzantine corrupt`).
    pub faults: Vec<String>,
    pub crashes: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub dropped: u64,
}

/// The service's numbers so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceView {
    pub requests_total: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub requests_wrong: u64,
    /// Correct replies / requests, run so far.
    pub availability: Option<f64>,
    /// Same over the last 10 s of folded requests.
    pub availability_recent: Option<f64>,
    /// 1 - outage time / elapsed.
    pub availability_time: f64,
    pub in_outage: bool,
    pub failures: u64,
    pub mttf_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
    pub recovery_last_seconds: Option<f64>,
    pub recovery_p95_seconds: Option<f64>,
    /// All recovery times so far (for the exporter's histogram).
    pub recovery_seconds: Vec<f64>,
    pub latency_p50_seconds: Option<f64>,
    pub latency_p99_seconds: Option<f64>,
    /// Cumulative counts of correct replies with latency <= each bound of
    /// [`LATENCY_BUCKETS`], then the sum of latencies in seconds.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_seconds: f64,
    /// Correct replies per second, one entry per second of the run (oldest first).
    pub throughput: Vec<u64>,
    /// p99 latency per second in microseconds, one entry per second.
    pub latency_p99_us: Vec<u64>,
    /// Availability per second (0..=1000 permille), one entry per second.
    pub availability_permille: Vec<u64>,
}

/// Bucket bounds of the latency histogram (seconds).
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// TMR voter verdicts so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TmrView {
    pub unanimous: u64,
    pub majority: u64,
    pub no_majority: u64,
    pub state_transfers: u64,
}

/// Failure-detector quality against ground truth, so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DetectorView {
    /// Suspicions of nodes that were up.
    pub false_suspicions: u64,
    /// Detection times of crashes (crash to permanent suspicion), seconds.
    pub detection_seconds: Vec<f64>,
}

/// The numbers of a workload that sends no client requests, which the
/// dashboard shows large in place of the request panels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Signal {
    /// Heartbeat failure detection (the matrix is [`Snapshot::suspicion`]).
    Detection(DetectionView),
    /// Byzantine agreement among generals.
    Agreement(AgreementView),
    /// Two- or three-phase commit.
    Commit(CommitView),
    /// Checkpointing and rollback recovery.
    Checkpointing(CheckpointView),
}

/// Failure detection so far, against ground truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DetectionView {
    /// Crashes (or pauses) a monitor went on suspecting until the node came back.
    pub detections: u64,
    /// Suspicions of nodes that were up.
    pub false_suspicions: u64,
    /// Crash-to-suspicion times: the median and the slowest.
    pub detection_p50_seconds: Option<f64>,
    pub detection_max_seconds: Option<f64>,
    /// Down spells a monitor has not (yet) suspected.
    pub undetected: u64,
    /// Share of the time both were up that monitors trusted their peers.
    pub query_accuracy: Option<f64>,
}

/// Byzantine agreement so far: the rounds judged and the latest one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AgreementView {
    /// Rounds in which a loyal lieutenant decided, and those in which every loyal one decided alike.
    pub rounds: u64,
    pub agreed: u64,
    /// Rounds with a loyal commander, and those in which every loyal lieutenant obeyed it.
    pub validity_rounds: u64,
    pub valid: u64,
    /// Loyal lieutenants' decisions of the default order (retreat).
    pub retreats: u64,
    /// The latest round: loyal lieutenants that decided, and how many of them
    /// followed the commander's order (None when the commander was a traitor).
    pub last_loyal: u64,
    pub last_followed: Option<u64>,
}

/// Atomic commitment so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CommitView {
    pub transactions: u64,
    pub committed: u64,
    pub aborted: u64,
    /// Participants blocked now: READY, and nobody can tell them the outcome.
    pub blocked_now: u64,
    /// The longest a participant stayed blocked on one transaction.
    pub max_blocked_seconds: f64,
    /// Transactions decided by the termination protocol (3PC) without the coordinator.
    pub terminations: u64,
    /// Transactions committed somewhere and aborted elsewhere (must stay 0).
    pub inconsistent: u64,
}

/// Checkpointing so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckpointView {
    pub checkpoints: u64,
    /// Checkpoints another process asked for.
    pub forced: u64,
    pub rollbacks: u64,
    /// Rollbacks of processes that had not failed (the domino effect).
    pub survivors_rolled_back: u64,
    /// Computation undone by rollbacks, seconds of process time.
    pub lost_work_seconds: f64,
    /// Messages discarded because they came from a rolled-back state.
    pub orphans: u64,
    pub logged_messages: u64,
}

/// A fault on the timeline: planned (from the file) or executed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultView {
    pub kind: String,
    pub target: String,
    /// Run-relative seconds.
    pub start: f64,
    /// None = still active, or (planned) lasting the rest of the run.
    pub end: Option<f64>,
    /// True once executed; false while only scheduled.
    pub executed: bool,
    /// True when injected by hand from the dashboard.
    pub manual: bool,
}

/// One sample of a series a workload exports beside the exporter's own
/// families (its name starts with `faultlab_`; samples of one name make one
/// family, so they share its kind, help and label names).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub help: String,
    /// A counter (only goes up) rather than a gauge.
    pub counter: bool,
    /// (label, value) pairs.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Series {
    /// A counter sample.
    pub fn counter(name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> Series {
        Series::new(name, help, true, labels, value)
    }

    /// A gauge sample.
    pub fn gauge(name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> Series {
        Series::new(name, help, false, labels, value)
    }

    fn new(name: &str, help: &str, counter: bool, labels: &[(&str, &str)], value: f64) -> Series {
        Series {
            name: name.into(),
            help: help.into(),
            counter,
            labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            value,
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LogLine {
    pub t: f64,
    pub text: String,
}

/// Everything the dashboard shows at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub experiment: String,
    /// The run's id (the `faultlab.run` label on what it deploys).
    pub run_id: String,
    pub concept: Option<String>,
    pub backend: String,
    pub seed: u64,
    pub run_state: RunState,
    pub elapsed_seconds: f64,
    pub duration_seconds: f64,
    /// `faultlab up`: no schedule, runs until stopped (its duration is only a bound).
    pub sandbox: bool,
    pub nodes: Vec<NodeView>,
    pub service: ServiceView,
    pub tmr: Option<TmrView>,
    /// `suspicion[i][j]`: node i suspects node j now (None when no detector runs).
    pub suspicion: Option<Vec<Vec<bool>>>,
    /// Failure-detector quality so far (None when no detector runs).
    pub detector: Option<DetectorView>,
    /// A workload without client requests: its numbers, shown instead of the
    /// request panels (None: a request workload).
    pub signal: Option<Signal>,
    /// The workload's own numbers, one line each (label, text): checkpoints
    /// and rollbacks, blocked transactions, agreement instances...
    pub workload: Vec<(String, String)>,
    /// The workload's own Prometheus series (see [`Series`]).
    pub series: Vec<Series>,
    pub faults: Vec<FaultView>,
    /// Faults injected so far, per kind (for the exporter).
    pub faults_injected: Vec<(String, u64)>,
    /// The newest events last.
    pub log: Vec<LogLine>,
    /// Why the run is invalid (an agent died or went silent outside a
    /// fault...), shown at once: its numbers no longer prove anything.
    pub invalid: Option<String>,
    /// Host stalls seen so far (the orchestrator's or an agent's loop ran late).
    pub host_stalls: u64,
    /// Where report.html was written once the run ended (None until then, or without `--out`).
    pub report: Option<String>,
}
