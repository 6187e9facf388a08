//! External nodes: programs that speak Maelstrom's protocol, hosted by the
//! agents, with faultlab's clients and checkers.

mod section;

/// Its section's key in report.json.
const KEY: &str = "external";

use super::{Describe, Plugin, RunView, Validate, Workload};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::Rate;
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::{NodeSpec, Topology};
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::external::{Config, ExtWorkload};
use workloads::{DetectorConfig, NodeId};

/// `workload:` of external nodes, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalFile {
    /// The protocol the program speaks: `maelstrom`.
    pub protocol: Option<String>,
    /// The program and its arguments, run in the experiment file's folder.
    pub command: Option<Vec<String>>,
    /// How many servers run the program.
    pub nodes: Option<u16>,
    /// Which of Maelstrom's workloads faultlab's clients drive.
    pub workload: Option<String>,
    /// lin-kv: how many clients (echo and unique-ids have one).
    pub clients: Option<u16>,
    /// Requests per second.
    pub rate: Option<Rate>,
    /// A reply later than this counts as failed.
    pub deadline: Option<Dur>,
    /// lin-kv: how many registers.
    pub keys: Option<u64>,
}

/// Parameters of the external workload (the nodes are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalParams {
    pub config: Config,
}

impl Describe for ExternalParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
        Meaning::of("external.invalid_lines", "lines a hosted program wrote on stdout that are not Maelstrom messages (dropped; the first is in first_offence)"),
        Meaning::of("external.unknown_nodes", "messages a hosted program addressed to a node that does not exist (dropped)"),
        Meaning::of("external.exits", "times a hosted program could not start or exited on its own (a crash fault kills it without counting here)"),
        Meaning::of("external.duplicate_ids", "unique-ids: ids handed out twice (each such reply also counts as a wrong request)"),
        Meaning::of("external.convergence.acked", "broadcast, g-set: values whose add was acknowledged"),
        Meaning::of("external.convergence.stable", "broadcast, g-set: values that came to be in a read of every node"),
        Meaning::of("external.convergence.lost", "broadcast, g-set: acknowledged values some node's reads never held by the end, of those acknowledged at least a second before it"),
        Meaning::of("external.counter.acked_sum", "g-counter: the deltas acknowledged at least a second before the end, which every node's last read must reach"),
        Meaning::of("external.counter.too_low", "g-counter: nodes whose last read is below acked_sum: acknowledged adds lost"),
        Meaning::of("external.counter.too_high", "g-counter: reads above every delta sent before them: an add counted twice"),
        Meaning::of("external.convergence.unsettled", "broadcast, g-set: values acknowledged in the last second and not yet stable: not judged"),
        Meaning::of("external.convergence.stable_latency_p50", "broadcast, g-set: from a value's send to the read that showed it on the last node (median; nodes are read every 100 ms)"),
    ];
    const WATCH: &str = "- All along: availability and latency, as for faultlab's own workloads: the clients judge every reply.\n\
        - echo: a reply that does not echo is wrong; unique-ids: an id seen before is wrong; lin-kv: the history's verdict (linearizability.ok) at the end.\n\
        - broadcast, g-set: values acknowledged against values stable on every node, and lost ones; the stable latency grows under partitions and loss.\n\
        - external.invalid_lines and first_offence: the program wrote something that is not a message.";
}

impl Plugin for ExternalParams {
    fn kind(&self) -> &'static str {
        "external"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::External(Config {
            servers: run.ids(&["node"]),
            clients: run.ids(&["client"]),
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.deadline
    }

    fn prepare(&self, recorder: &mut Recorder, _run: &RunView<'_>, _faults: &[FaultPlan]) {
        if self.config.workload == ExtWorkload::LinKv {
            recorder.requests_from_history();
        }
        recorder.set_section(KEY, Box::new(section::ExternalRecorder::default()));
    }

    fn open_loop_clients(&self, run: &RunView<'_>) -> Option<(f64, Vec<NodeId>)> {
        (self.config.workload != ExtWorkload::LinKv).then(|| (self.config.rate, run.ids(&["client"])))
    }

    fn hosts_programs(&self) -> bool {
        true
    }

    /// In a container the program runs as on the host: the container sees
    /// the host's installed runtimes (`/usr`, `/lib`, `/lib64`, `/bin`,
    /// `/etc/alternatives`), the experiment's folder and the folder of any
    /// file the command names, read-only, at the same paths.
    fn host_paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths: Vec<std::path::PathBuf> = ["/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"]
            .iter()
            .map(std::path::PathBuf::from)
            .filter(|p| p.exists())
            .collect();
        paths.push(self.config.dir.clone());
        for arg in &self.config.command {
            let file = self.config.dir.join(arg);
            if let Some(parent) = file.is_file().then(|| file.parent()).flatten() {
                paths.push(parent.canonicalize().unwrap_or_else(|_| parent.to_path_buf()));
            }
        }
        paths.sort();
        paths.dedup();
        paths
    }
}

impl Validate for ExternalFile {
    /// `kind: external`: servers running the program, and faultlab's clients.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        if cx.simulated {
            return Err(cx.value_err(
                "backend",
                "external nodes are real programs: the sim backend cannot host them; use `backend: process`",
            ));
        }
        match self.protocol.as_deref() {
            Some("maelstrom") | None => {}
            Some(other) => {
                return Err(cx.value_err(
                    "workload.protocol",
                    format!("the protocol must be `maelstrom`; got `{other}`"),
                ))
            }
        }
        let command = self.command.clone().unwrap_or_default();
        if command.is_empty() || command[0].is_empty() {
            return Err(cx.value_err(
                "workload.command",
                "command must name the program and its arguments, e.g. [python3, echo.py]",
            ));
        }
        const DRIVEN: &str = "echo, unique-ids, broadcast, g-set, g-counter and lin-kv";
        let workload = match self.workload.as_deref() {
            Some("echo") => ExtWorkload::Echo,
            Some("unique-ids") => ExtWorkload::UniqueIds,
            Some("lin-kv") => ExtWorkload::LinKv,
            Some("broadcast") => ExtWorkload::Broadcast,
            Some("g-set") => ExtWorkload::GSet,
            Some("g-counter") => ExtWorkload::GCounter,
            other => {
                let message = format!("workload must be one of {DRIVEN}; got {}", other.unwrap_or("nothing"));
                return Err(cx.value_err("workload.workload", message));
            }
        };
        let nodes = cx.count("nodes", self.nodes, 1, 1..=16)?;
        let lin_kv = workload == ExtWorkload::LinKv;
        if !lin_kv && self.clients.is_some_and(|c| c != 1) {
            return Err(cx.value_err(
                "workload.clients",
                "only lin-kv has several clients; the other workloads have one open-loop client",
            ));
        }
        let clients = cx.count("clients", self.clients, if lin_kv { 2 } else { 1 }, 1..=16)?;
        let keys = cx.count("keys", self.keys, 3, 1..=1_000)?;
        let rate = cx.rate(self.rate, if workload == ExtWorkload::LinKv { 20.0 } else { 100.0 })?;
        let deadline = cx.positive_dur("deadline", self.deadline, Duration::from_millis(500))?;
        let config = Config {
            servers: Vec::new(),
            clients: Vec::new(),
            command,
            dir: cx.dir(),
            workload,
            rate,
            deadline,
            keys,
        };
        let topology =
            Topology::from_roles(&[("node", usize::from(nodes)), ("client", usize::from(clients))]);
        Ok((Workload::External(ExternalParams { config }), topology))
    }
}
