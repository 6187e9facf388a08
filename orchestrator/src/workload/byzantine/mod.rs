//! Byzantine agreement among generals, OM(m).

mod section;

/// Its section's key in report.json.
const KEY: &str = "byzantine";

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::FaultPlan;
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::DetectorConfig;

/// `workload:` of the Byzantine-agreement workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ByzantineFile {
    /// Generals: the commander and its lieutenants.
    pub generals: Option<usize>,
    /// m, the traitors OM(m) is run to tolerate.
    pub traitors: Option<usize>,
    /// A new agreement instance every `interval`.
    pub interval: Option<Dur>,
    /// The time one round of messages is given.
    pub round: Option<Dur>,
}

/// Parameters of the Byzantine-agreement workload (the generals' list and
/// the seed are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct ByzantineParams {
    pub generals: usize,
    pub config: workloads::byzantine::Config,
}

impl Describe for ByzantineParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("byzantine.instances", "rounds of agreement in which a loyal lieutenant decided (one round per order the commander sends)"),
    Meaning::of("byzantine.agreement", "rounds in which every loyal lieutenant decided the same order (IC1)"),
    Meaning::of("byzantine.disagreements", "rounds in which loyal lieutenants decided different orders: agreement broken"),
    Meaning::of("byzantine.validity_checked", "rounds with a loyal commander, the only rounds where validity applies"),
    Meaning::of("byzantine.validity", "a count of rounds: those with a loyal commander in which every loyal lieutenant decided the commander's order (IC2)"),
    Meaning::of("byzantine.validity_violations", "rounds with a loyal commander in which some loyal lieutenant decided something other than the commander's order"),
    Meaning::of("byzantine.agreement_rate", "agreement over instances: the share of rounds in which the loyal lieutenants agreed"),
    Meaning::of("byzantine.validity_rate", "validity over validity_checked: the share of loyal-commander rounds that were obeyed"),
    Meaning::of("byzantine.retreats", "decisions of the default order (retreat) by loyal lieutenants that found no majority"),
    Meaning::of("byzantine.traitor_commander", "rounds in which the commander was the traitor and a loyal lieutenant received its lie (conflicting values)"),
    Meaning::of("byzantine.traitor_lieutenant", "rounds in which a lieutenant was the traitor and a loyal lieutenant received its lie (conflicting values)"),
    ];
}

impl Plugin for ByzantineParams {
    fn kind(&self) -> &'static str {
        "byzantine-agreement"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Byzantine(workloads::byzantine::Config {
            generals: run.ids(&["commander", "lieutenant"]),
            seed: run.seed,
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.interval
    }

    fn prepare(&self, recorder: &mut Recorder, _run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.set_section(KEY, Box::<section::ByzantineRecorder>::default());
    }
}

impl Validate for ByzantineFile {
    /// `kind: byzantine-agreement`: `commander-1` and `lieutenant-1`... running OM(m).
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        let generals = w.generals.unwrap_or(4);
        if !(3..=10).contains(&generals) {
            return Err(cx.value_err(
                "workload.generals",
                format!("generals must be 3 to 10 (the commander and its lieutenants); got {generals}"),
            ));
        }
        let m = w.traitors.unwrap_or(1);
        if m == 0 || m + 1 >= generals {
            return Err(cx.value_err(
                "workload.traitors",
                format!("traitors (m of OM(m)) must be at least 1 and below generals - 1; got {m}"),
            ));
        }
        let interval = cx.positive_dur("interval", w.interval, Duration::from_millis(200))?;
        let round = cx.positive_dur("round", w.round, Duration::from_millis(40))?;
        let rounds = round * u32::try_from(m + 1).unwrap_or(u32::MAX);
        if rounds >= interval {
            return Err(cx.value_err(
                "workload.interval",
                format!(
                    "the interval ({}) must exceed the m+1 rounds of one instance ({})",
                    Dur(interval),
                    Dur(rounds)
                ),
            ));
        }
        let config = workloads::byzantine::Config { generals: Vec::new(), m, interval, round, seed: 0 };
        let topology = Topology::from_roles(&[("commander", 1), ("lieutenant", generals - 1)]);
        Ok((Workload::Byzantine(ByzantineParams { generals, config }), topology))
    }
}
