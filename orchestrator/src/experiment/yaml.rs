//! Everything that knows the YAML parser: the file's serde types, the
//! serde_yaml call, and a locator (yaml-rust2 events) that finds the line and
//! column of a key or value by path, for errors found after deserialising.
//! Swapping the parser means rewriting this file only.
//!
//! Before either runs, [`check_budget`] bounds the file's size and nesting
//! in one linear pass. serde-saphyr (one maintained parser with budgets and
//! located errors) was weighed instead: it refuses 100,000 levels in 2 to
//! 4 ms where serde_yaml took 98 to 121 s, but its type errors say less
//! ("invalid u64" where serde_yaml says `invalid type: string "three",
//! expected usize`), it gives no positions for the checks made after
//! deserialising (the locator would stay), and the pre-scan makes the two
//! parsers as fast on hostile input (the 100,000-deep file is refused in
//! under 10 ms). Revisit when serde_yaml's deprecation starts to cost.

use crate::backend::BackendChoice;
use faults::spec::FaultSpec;
use faults::Dur;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;
use std::fmt;
use yaml_rust2::parser::{Event, Parser};

/// A position in the file, both 1-based.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The start of the file, used when nothing better is known.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// The experiment file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub name: String,
    #[serde(default)]
    pub concept: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: u64,
    pub duration: Dur,
    #[serde(default)]
    pub backend: BackendChoice,
    pub workload: WorkloadFile,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Metric path → condition, in file order.
    #[serde(default)]
    pub expect: Option<ExpectFile>,
    /// The failure detector of the workloads that use one.
    #[serde(default)]
    pub detector: Option<DetectorFile>,
    /// The sim backend's network model.
    #[serde(default)]
    pub network: Option<NetworkFile>,
    /// Swarm placement constraints by node name (other backends ignore them).
    #[serde(default)]
    pub placement: Option<std::collections::BTreeMap<String, PlacementFile>>,
}

/// One node's placement: a constraint or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PlacementFile {
    One(String),
    Many(Vec<String>),
}

/// `network:` as written: the sim backend's latency and restart time.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Every link's one-way latency.
    #[serde(default)]
    pub latency: Option<LatencyFile>,
    /// How long a restart takes.
    #[serde(default)]
    pub restart_time: Option<Dur>,
    /// Links whose latency differs.
    #[serde(default)]
    pub links: Vec<LinkFile>,
}

/// One link's latency: `{ from: client-1, to: voter-1, latency: {...} }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    pub from: String,
    pub to: String,
    pub latency: LatencyFile,
    /// Both directions (default) or only `from -> to`.
    #[serde(default)]
    pub one_way: bool,
}

/// A latency distribution as written.
#[derive(Copy, Clone, Debug, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum LatencyFile {
    Fixed { value: Dur },
    Normal { mean: Dur, stddev: Dur },
    Exponential { mean: Dur },
}

/// `detector:` as written: the kind and, flat, every kind's parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorFile {
    pub kind: DetectorKindFile,
    /// Heartbeat interval η.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// How often nodes ask their detectors.
    #[serde(default)]
    pub check: Option<Dur>,
    /// Fixed: Δ, counted from the last heartbeat received.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// φ-accrual: suspect when φ reaches this.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// φ-accrual and Chen: arrivals kept.
    #[serde(default)]
    pub window: Option<usize>,
    /// φ-accrual: floor of the standard deviation.
    #[serde(default)]
    pub min_std_dev: Option<Dur>,
    /// φ-accrual: pause accepted on top of the mean.
    #[serde(default)]
    pub acceptable_pause: Option<Dur>,
    /// Chen: safety margin α after the expected arrival.
    #[serde(default)]
    pub alpha: Option<Dur>,
}

/// The detectors a file can name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKindFile {
    Fixed,
    PhiAccrual,
    Chen,
}

/// `expect:` in file order.
#[derive(Debug, Default)]
pub struct ExpectFile(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for ExpectFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of report.json paths to conditions, like availability: \">= 0.999\"")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ExpectFile, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Condition>()? {
                    out.push((k, v.0));
                }
                Ok(ExpectFile(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A condition string; a bare number is read as `== number`.
struct Condition(String);

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition like \">= 0.999\", \"== 0\" or \"< 5\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Condition, E> {
                Ok(Condition(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Condition, E> {
                Ok(Condition(format!("== {v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Condition, E> {
                Ok(Condition(format!("== {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Condition, E> {
                Ok(Condition(format!("== {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any value, thrown away.
#[derive(Debug)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

pub use crate::workload::WorkloadFile;

/// `protocol:` of the checkpointing workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointProtocol {
    Independent,
    Coordinated,
    PessimisticLogging,
    OptimisticLogging,
    CausalLogging,
    KooToueg,
    Cic,
}

/// `protocol:` of the commit workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum CommitProtocol {
    #[serde(rename = "2pc")]
    TwoPhaseCommit,
    #[serde(rename = "3pc")]
    ThreePhaseCommit,
}

/// `semantics:` of the RPC workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpcSemantics {
    AtLeastOnce,
    AtMostOnce,
}

/// A request rate per second, written `2000/s` or `2k/s`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Rate(pub f64);

impl Rate {
    /// Parse `2000/s`, `2k/s`, `1.5k/s`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || format!("`{s}` is not a rate; expected a rate like 1000/s or 2k/s");
        let num = s.trim().strip_suffix("/s").ok_or_else(bad)?.trim();
        let (num, mult) = match num.strip_suffix(['k', 'K']) {
            Some(n) => (n, 1000.0),
            None => (num, 1.0),
        };
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        let v = v * mult;
        if !v.is_finite() || v <= 0.0 {
            return Err(format!("`{s}`: the rate must be above zero"));
        }
        Ok(Rate(v))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        faults::text::from_str(d, "a rate like 1000/s or 2k/s", Rate::parse)
    }
}

/// A deserialisation or syntax error, located where the parser could say
/// (`None`: it concerns the file as a whole, like a missing top-level key).
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Option<Pos>,
    pub message: String,
}

/// The largest experiment file read, in bytes. The library's largest is
/// under 2 KB; 1 MiB leaves room for generated files while keeping the
/// parse under a second.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The deepest nesting of maps and lists accepted. An experiment needs
/// five levels (`faults` > entry > `every` > ...); serde_yaml's cost grows
/// with the square of the depth (100,000 levels: about 100 s of CPU), so
/// anything past a generous bound is refused before it runs.
pub const MAX_DEPTH: usize = 64;

/// Deserialise the file's text, after [`check_budget`].
pub fn parse(text: &str) -> Result<ExperimentFile, SyntaxError> {
    check_budget(text)?;
    serde_yaml::from_str(text).map_err(|e| {
        let message = strip_location(&e.to_string());
        // A missing top-level key is located at the document's start, which
        // says nothing: it is about the file as a whole. (Nested ones carry
        // their path, `workload: missing field ...`, and point at their map.)
        let pos = e
            .location()
            .map(|l| Pos { line: l.line(), column: l.column() })
            .filter(|_| !message.starts_with("missing field "));
        SyntaxError { pos, message }
    })
}

/// Refuse a text too large or nested too deep, in time linear in its size:
/// one pass of yaml-rust2's event parser (which never builds a tree and
/// caps flow nesting itself), stopped at the first level past [`MAX_DEPTH`].
/// A syntax error found here is reported from here.
pub fn check_budget(text: &str) -> Result<(), SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError { pos: None, message: too_large(text.len()) });
    }
    let too_deep = |pos: Pos| SyntaxError {
        pos: Some(pos),
        message: format!(
            "nested deeper than {MAX_DEPTH} levels of maps and lists; an experiment needs a handful"
        ),
    };
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((event, mark)) => match event {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(too_deep(Pos { line: mark.line(), column: mark.col() + 1 }));
                    }
                }
                Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
                Event::StreamEnd => return Ok(()),
                _ => {}
            },
            Err(e) => {
                let m = e.marker();
                let pos = Pos { line: m.line(), column: m.col() + 1 };
                // yaml-rust2 refuses deep flow nesting on its own ("recursion limit exceeded").
                if e.info().contains("recursion limit") {
                    return Err(too_deep(pos));
                }
                // Past a syntax error serde_yaml's parser (another one) could read
                // on into what this pass has not bounded: the error is final here.
                return Err(SyntaxError { pos: Some(pos), message: e.info().to_string() });
            }
        }
    }
}

/// The message for a file over [`MAX_FILE_BYTES`].
pub fn too_large(len: usize) -> String {
    format!(
        "the file is {len} bytes, over the limit of {MAX_FILE_BYTES} bytes (1 MiB); an experiment needs a few KB"
    )
}

/// serde_yaml appends " at line L column C" to its messages; we print the
/// location in front instead.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

/// Where each key and value of a document sits, by path (`faults[2].target`,
/// `workload.rate`, `expect.requests.wrong`).
#[derive(Debug, Default)]
pub struct Locator {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl Locator {
    /// Index a document; an unreadable document gives an empty locator (the
    /// serde pass has already accepted it, so this does not happen in practice).
    pub fn new(text: &str) -> Locator {
        let mut loc = Locator::default();
        let mut parser = Parser::new_from_str(text);
        // Each frame: the path of the container, and for maps the pending key.
        enum Frame {
            Seq { path: String, next: usize },
            Map { path: String, key: Option<String> },
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut guard = 0usize;
        loop {
            guard += 1;
            let Ok((event, mark)) = parser.next_token() else { break };
            let pos = Pos { line: mark.line(), column: mark.col() + 1 };
            // The path of the node this event starts, if it is a value (not a key).
            let mut value_path: Option<String> = None;
            match stack.last_mut() {
                Some(Frame::Seq { path, next }) => {
                    if !matches!(event, Event::SequenceEnd) {
                        value_path = Some(format!("{path}[{next}]"));
                        *next += 1;
                    }
                }
                Some(Frame::Map { path, key }) => {
                    if !matches!(event, Event::MappingEnd) {
                        match key.take() {
                            Some(k) => value_path = Some(join(path, &k)),
                            None => {
                                // A key. Only scalar keys are addressable.
                                let k = match &event {
                                    Event::Scalar(s, ..) => s.clone(),
                                    _ => String::from("?"),
                                };
                                loc.keys.entry(join(path, &k)).or_insert(pos);
                                *key = Some(k);
                                if let Event::Scalar(..) = event {
                                    continue;
                                }
                                // A complex key: skip it as a value of path "?".
                                value_path = Some(join(path, "?key"));
                            }
                        }
                    }
                }
                None => {
                    if matches!(event, Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..))
                    {
                        value_path = Some(String::new());
                    }
                }
            }
            if let Some(p) = &value_path {
                loc.values.entry(p.clone()).or_insert(pos);
            }
            match event {
                Event::SequenceStart(..) => {
                    stack.push(Frame::Seq { path: value_path.unwrap_or_default(), next: 0 })
                }
                Event::MappingStart(..) => {
                    stack.push(Frame::Map { path: value_path.unwrap_or_default(), key: None })
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                }
                Event::StreamEnd => break,
                // Only the first document counts, as for serde_yaml.
                Event::DocumentEnd => break,
                _ => {}
            }
            if guard > 10_000_000 {
                break;
            }
        }
        loc
    }

    /// The position of the value at `path`.
    pub fn value(&self, path: &str) -> Option<Pos> {
        self.values.get(path).copied()
    }

    /// The position of the key that ends `path` (falls back to the value).
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Keys of `expect:` known to be report.json paths of numbers (first segment).
pub const REPORT_ROOTS: &[&str] = &[
    "seed",
    "duration_seconds",
    "planned_seconds",
    "paused_seconds",
    "requests",
    "latency_seconds",
    "availability",
    "availability_time",
    "availability_model",
    "availability_model_with_restart",
    "availability_ci",
    "availability_time_ci",
    "availability_exponential_ci",
    "throughput_per_second",
    "failures",
    "failures_excluding_host_stalls",
    "host_stalls",
    "valid",
    "run_failures",
    "mttf_seconds",
    "mttr_seconds",
    "mttf_ci",
    "mttr_ci",
    "mttf_lower_bound_seconds",
    "schedule_drawn",
    "recovery_seconds",
    "detector",
    "tmr",
    "linearizability",
    "checkpointing",
    "byzantine",
    "commit",
    "rpc",
    "repeat",
    "nodes",
    "faults",
    "skipped_faults",
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\nworkload:\n  kind: tmr\n  rate: 2000/s\nfaults:\n  - { at: 10s, kind: crash, target: replica-2 }\n  - at: 12s\n    kind: pause\nexpect:\n  requests.wrong: \"== 0\"\n";

    #[test]
    fn locator_finds_keys_and_values_in_block_and_flow_style() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.value("workload.rate"), Some(Pos { line: 4, column: 9 }));
        assert_eq!(loc.key("workload.rate"), Some(Pos { line: 4, column: 3 }));
        assert_eq!(loc.value("faults[0]"), Some(Pos { line: 6, column: 5 }));
        assert_eq!(loc.value("faults[0].target"), Some(Pos { line: 6, column: 37 }));
        assert_eq!(loc.key("faults[0].target"), Some(Pos { line: 6, column: 29 }));
        assert_eq!(loc.value("faults[1].kind"), Some(Pos { line: 8, column: 11 }));
        assert_eq!(loc.value("expect.requests.wrong"), Some(Pos { line: 10, column: 19 }));
        assert_eq!(loc.value("nothing"), None);
        assert_eq!(loc.key("name"), Some(Pos { line: 1, column: 1 }));
    }

    #[test]
    fn serde_errors_carry_their_location_without_repeating_it() {
        let err = parse("name: x\nduration: 30s\nseed: three\nworkload: { kind: tmr }\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(3));
        assert!(!err.message.contains("at line"), "{}", err.message);
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(Rate::parse("2000/s"), Ok(Rate(2000.0)));
        assert_eq!(Rate::parse("2k/s"), Ok(Rate(2000.0)));
        assert!(Rate::parse("2000").is_err());
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast/s").is_err());
    }
}
