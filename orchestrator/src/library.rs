//! The experiment library: `faultlab list` (one line per file) and
//! `faultlab explain FILE` (the concept, what to watch, what the numbers
//! should show), in words for a student. The text is derived from the
//! file's `concept`, `description`, fault list and `expect:`, plus a table
//! of what each report.json metric means.

use crate::experiment::{
    CmpOp, Expectation, Experiment, FaultKind, FaultParams, FaultPlan, Lifetime, Schedule, Selection,
    Workload,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One row of `faultlab list`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub file: PathBuf,
    /// The concept, or the error that kept the file from loading.
    pub concept: Result<String, String>,
    pub duration: Option<Duration>,
    /// The course section the file belongs to (a `## ` heading of the course file).
    pub section: Option<String>,
}

/// The file beside the experiments that puts them in course order.
pub const COURSE_FILE: &str = "course.txt";

/// Why the library cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "{course} does not list {}: add each to its concept's section, in course order",
        .missing.join(", ")
    )]
    NotInCourse { course: PathBuf, missing: Vec<String> },
    #[error("{course} names {}, which is not in the library", .unknown.join(", "))]
    NoSuchFile { course: PathBuf, unknown: Vec<String> },
}

/// The course order: (section, file name) in the order the course file gives.
fn course_order(text: &str) -> Vec<(Option<String>, String)> {
    let mut section = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(h) = line.strip_prefix("## ") {
            section = Some(h.trim().to_string());
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push((section.clone(), line.to_string()));
        }
    }
    out
}

/// The experiment files (`*.yaml`, `*.yml`) of `dir`, in the order of its
/// course file (`course.txt`), or by file name when it has none. Every file
/// must be in the course file, and every name there must be a file.
pub fn entries(dir: &Path) -> Result<Vec<Entry>, ListError> {
    let read = |path: &Path, e| ListError::Read { path: path.to_path_buf(), source: e };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let course = dir.join(COURSE_FILE);
    let ordered: Vec<(Option<String>, PathBuf)> = match std::fs::read_to_string(&course) {
        Ok(text) => {
            let order = course_order(&text);
            let name =
                |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let missing: Vec<String> =
                files.iter().map(name).filter(|n| !order.iter().any(|(_, o)| o == n)).collect();
            if !missing.is_empty() {
                return Err(ListError::NotInCourse { course, missing });
            }
            let unknown: Vec<String> = order
                .iter()
                .map(|(_, o)| o.clone())
                .filter(|o| !files.iter().any(|f| name(f) == *o))
                .collect();
            if !unknown.is_empty() {
                return Err(ListError::NoSuchFile { course, unknown });
            }
            order.into_iter().map(|(section, n)| (section, dir.join(n))).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => files.into_iter().map(|f| (None, f)).collect(),
        Err(e) => return Err(read(&course, e)),
    };
    Ok(ordered
        .into_iter()
        .map(|(section, file)| match crate::experiment::load(&file) {
            Ok(exp) => Entry {
                concept: Ok(exp.concept.clone().unwrap_or_else(|| "(no concept given)".into())),
                duration: Some(exp.duration),
                file,
                section,
            },
            Err(e) => Entry { concept: Err(e.message), duration: None, file, section },
        })
        .collect())
}

/// The library as a table: file, duration, concept, under each course section's heading.
pub fn render_list(entries: &[Entry]) -> String {
    let name = |e: &Entry| e.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let w = entries.iter().map(|e| name(e).len()).max().unwrap_or(4).max(4);
    let mut s = String::new();
    let _ = writeln!(s, "  {:<w$}  {:>8}  concept", "file", "duration");
    let mut section: Option<&str> = None;
    for e in entries {
        if e.section.as_deref() != section {
            section = e.section.as_deref();
            if let Some(h) = section {
                let _ = writeln!(s, "\n{h}:");
            }
        }
        let dur = e.duration.map(secs).unwrap_or_else(|| "-".into());
        let concept = match &e.concept {
            Ok(c) => c.clone(),
            Err(msg) => format!("INVALID: {msg}"),
        };
        let _ = writeln!(s, "  {:<w$}  {dur:>8}  {concept}", name(e));
    }
    let _ = writeln!(
        s,
        "\n{} experiments{}. `faultlab explain FILE` says what each shows; `faultlab run FILE` runs it.",
        entries.len(),
        if entries.iter().any(|e| e.section.is_some()) { ", in course order" } else { "" }
    );
    s
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 && s % 3600.0 == 0.0 {
        format!("{:.0} h", s / 3600.0)
    } else if s >= 120.0 && s % 60.0 == 0.0 {
        format!("{:.0} min", s / 60.0)
    } else if s == s.trunc() {
        format!("{s:.0} s")
    } else if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.0} ms", s * 1e3)
    }
}

/// Wrap `text` to `width` columns with `indent` before each line.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    wrap_hanging(text, width, indent, indent)
}

/// Wrap a bullet: `first` before the first line, `rest` before the others.
fn wrap_hanging(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut indent = first;
    for word in text.split_whitespace() {
        if !line.is_empty()
            && indent.chars().count() + line.chars().count() + 1 + word.chars().count() > width
        {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
            indent = rest;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

/// The text of `faultlab explain`.
pub fn explain(exp: &Experiment) -> String {
    let mut s = String::new();
    let file = exp.path.display();
    let _ = writeln!(s, "{}  ({file}, {})", exp.name, secs(exp.duration));
    if let Some(c) = &exp.concept {
        let _ = writeln!(s, "\nCONCEPT\n{}", wrap(c, 78, "  ").trim_end());
    }
    if let Some(d) = &exp.description {
        let _ = writeln!(s, "\nWHAT HAPPENS\n{}", wrap(d, 78, "  ").trim_end());
    }
    let _ = writeln!(s, "\nTHE SETUP\n{}", wrap(&setup(exp), 78, "  ").trim_end());
    let _ = writeln!(s, "\nWHAT TO WATCH ON THE DASHBOARD\n  (faultlab run {file} --tui)");
    if exp.faults.is_empty() {
        let _ = writeln!(s, "  No fault is scheduled: press a key on the dashboard to inject one by hand.");
    }
    for f in &exp.faults {
        let when = schedule_phrase(&f.schedule, exp.duration);
        let what = fault_phrase(exp, f);
        let watch = watch_phrase(exp, f);
        let _ = write!(s, "{}", wrap_hanging(&format!("- {when}, {what}. {watch}"), 78, "  ", "    "));
    }
    let _ = write!(s, "{}", wrap_hanging(&general_watch(exp), 78, "  ", "    "));
    let _ = writeln!(s, "\nWHAT THE NUMBERS SHOULD SHOW (report.json, checked at the end of the run)");
    if exp.expect.is_empty() {
        let _ = writeln!(s, "  The file states no expectation: read the summary table and report.html.");
    }
    for e in &exp.expect {
        let _ = write!(s, "{}", wrap_hanging(&format!("- {}", expectation_phrase(e)), 78, "  ", "    "));
    }
    let _ = writeln!(
        s,
        "\nAFTERWARDS\n{}",
        wrap(
            "report.html in the output directory shows availability over time with a red band for each \
             fault, the node states, the recovery incidents and these expectations marked PASS or FAIL. \
             `faultlab run` exits non-zero when an expectation fails. Numbers measured from samples come \
             with 95% intervals: availability from batch means over the 100 ms windows, MTTF and MTTR \
             from the chi-square law, which assumes exponential up and down times (it does not hold for \
             TMR without repair, whose hazard rises). With a random fault schedule the summary shows the \
             up and down times the seed actually drew beside the file's model.",
            78,
            "  "
        )
        .trim_end()
    );
    s
}

fn setup(exp: &Experiment) -> String {
    if let Workload::Tmr(p) = &exp.workload {
        return format!(
            "{} replicas compute every request; {} their answers and pass{} on the majority's; \
             {} {} requests per second, open loop (without waiting for replies, so an outage costs \
             requests); a reply later than {} counts as a failure.",
            p.replicas,
            if p.voters == 1 {
                "a single voter compares".to_string()
            } else {
                format!("{} voters compare", p.voters)
            },
            if p.voters == 1 { "es" } else { "" },
            if p.clients == 1 {
                "one client sends".to_string()
            } else {
                format!("{} clients send", p.clients)
            },
            p.rate,
            secs(p.deadline)
        );
    }
    if let Workload::Checkpointing(p) = &exp.workload {
        let c = &p.config;
        return format!(
            "{} processes pass {} tokens (money) around, {} hops each, one step every {}; they checkpoint \
             every {} ({:?} protocol), each checkpoint costing {} of work. After a crash they roll back to a \
             recovery line and the final balances are compared with a fault-free golden run.",
            p.processes,
            c.tokens,
            c.hops,
            secs(c.step),
            secs(c.interval),
            c.protocol,
            secs(c.checkpoint_cost)
        );
    }
    let roles: Vec<String> = {
        let mut r: Vec<(String, usize)> = Vec::new();
        for n in &exp.topology.nodes {
            match r.iter_mut().find(|(name, _)| *name == n.role) {
                Some(x) => x.1 += 1,
                None => r.push((n.role.clone(), 1)),
            }
        }
        r.into_iter().map(|(role, k)| format!("{k} {role}{}", if k == 1 { "" } else { "s" })).collect()
    };
    format!("The workload runs on {}.", roles.join(", "))
}

fn schedule_phrase(s: &Schedule, run: Duration) -> String {
    match *s {
        Schedule::Once { at, length: Some(l) } => format!("at {} for {}", secs(at), secs(l)),
        Schedule::Once { at, length: None } => format!("at {}", secs(at)),
        Schedule::Periodic { first, period, length } => format!(
            "every {} from {}{}",
            secs(period),
            secs(first),
            length.map(|l| format!(", each time for {}", secs(l))).unwrap_or_default()
        ),
        Schedule::Random { first, mttf, mttr, law } => {
            let law = match law {
                Lifetime::Exponential => "exponential".to_string(),
                Lifetime::Weibull { shape } => format!("Weibull, shape {shape}"),
            };
            let from = if first.is_zero() { String::new() } else { format!(" counted from {}", secs(first)) };
            if mttr >= run {
                format!("at a random time ({law}, mean {}{from})", secs(mttf))
            } else {
                format!(
                    "at random times ({law}: mean time to failure {}, mean time to repair {}{from})",
                    secs(mttf),
                    secs(mttr)
                )
            }
        }
    }
}

fn permanent(f: &FaultPlan, run: Duration) -> bool {
    match f.schedule {
        Schedule::Once { length, .. } => length.is_none(),
        Schedule::Random { mttr, .. } => mttr >= run,
        Schedule::Periodic { .. } => false,
    }
}

fn fault_phrase(exp: &Experiment, f: &FaultPlan) -> String {
    let t = &f.target;
    let forever = permanent(f, exp.duration);
    match (f.kind, &f.params) {
        (FaultKind::Crash, _) if forever => format!("{t} crashes for good (killed, never restarted)"),
        (FaultKind::Crash, _) => format!("{t} crashes (killed) and is restarted when the fault ends"),
        (FaultKind::Pause, _) => format!("{t} is frozen (alive but not running) and then resumes"),
        (FaultKind::Restart, _) => format!("{t} is killed and started again at once"),
        (FaultKind::Isolate, _) => format!("{t} loses its network: it runs but can reach nobody"),
        (FaultKind::Silence, _) => format!("{t} goes fail-silent: it keeps running but sends nothing"),
        (FaultKind::Omission, FaultParams::Omission { direction, probability }) => format!(
            "{t} loses {:.0} % of the messages it {}",
            probability * 100.0,
            match format!("{direction:?}").to_lowercase().as_str() {
                "send" => "sends",
                "receive" => "receives",
                _ => "sends and receives",
            }
        ),
        (FaultKind::Delay, _) => format!("messages on {t} are delayed"),
        (FaultKind::Partition, _) => {
            format!("the network splits into groups {t} that cannot talk to each other")
        }
        (FaultKind::Byzantine, FaultParams::Byzantine { mode, .. }) => {
            let mode = format!("{mode:?}").to_lowercase();
            let how = match mode.as_str() {
                "corrupt" => "returns its own random wrong results",
                "collude" => "returns the same wrong result as its accomplices",
                "equivocate" => "tells different peers different things",
                "stale" => "replays old results",
                _ => "lies",
            };
            format!("{t} turns Byzantine: it {how}")
        }
        (FaultKind::Byzantine, FaultParams::Forge { .. }) => {
            format!("{t} forges messages in another node's name")
        }
        (FaultKind::Slow, _) => format!("{t} becomes slow: it handles every message late"),
        (FaultKind::ClockSkew, _) => format!("{t}'s clock goes wrong (offset and drift)"),
        (FaultKind::Duplicate, _) => format!("messages to {t} arrive twice"),
        (kind, _) => format!("{} on {t}", kind.as_str()),
    }
}

/// The roles a fault hits (by the nodes it names).
fn roles_hit(exp: &Experiment, f: &FaultPlan) -> Vec<String> {
    let ids: Vec<workloads::NodeId> = match &f.selection {
        Selection::Nodes(n) => n.clone(),
        Selection::Random { candidates, .. } => candidates.clone(),
        Selection::Link { from, .. } => vec![*from],
        Selection::Groups { .. } => Vec::new(),
    };
    let mut roles: Vec<String> =
        ids.iter().filter_map(|id| exp.topology.by_id(*id).map(|n| n.role.clone())).collect();
    roles.sort();
    roles.dedup();
    roles
}

fn watch_phrase(exp: &Experiment, f: &FaultPlan) -> String {
    let tmr = if let Workload::Tmr(p) = &exp.workload { Some(p) } else { None };
    let roles = roles_hit(exp, f);
    let only = |r: &str| roles.len() == 1 && roles[0] == r;
    let tmr_replica = tmr.is_some() && only("replica");
    let row = match f.kind {
        FaultKind::Crash | FaultKind::Restart => "Watch its row turn red (down)",
        FaultKind::Pause => "Watch its row turn yellow (paused)",
        FaultKind::Partition => "Watch the suspicion matrix split along the partition",
        _ => "Its row stays green (the process is alive)",
    };
    let back = match f.kind {
        FaultKind::Crash if !permanent(f, exp.duration) && tmr_replica => {
            " and green again when it is restarted (a restarted replica first fetches the state from its peers)"
        }
        FaultKind::Crash if !permanent(f, exp.duration) => " and green again when it is restarted",
        _ => "",
    };
    let effect = match (tmr, f.kind) {
        (Some(p), _) if only("replica") => {
            let k = p.replicas.saturating_sub(1) / 2;
            let others = overlapping_replica_faults(exp, f);
            if others.len() + 1 > k && !others.is_empty() {
                let names: Vec<&str> = others.iter().map(|o| o.target.as_str()).collect();
                let lying =
                    f.kind == FaultKind::Byzantine && others.iter().all(|o| o.kind == FaultKind::Byzantine);
                let crashes = f.kind == FaultKind::Crash && others.iter().all(|o| o.kind == FaultKind::Crash);
                return format!(
                    "{row}{back}. Together with {} that makes {} faulty replicas at once, more than the {k} \
                     that a majority voter over {} replicas masks (it needs 2k+1 replicas for k faults): {}.",
                    names.join(" and "),
                    others.len() + 1,
                    p.replicas,
                    if lying {
                        "if they tell the same lie they outvote the truth and wrong answers reach the client"
                    } else if crashes {
                        "the voter finds no majority, so requests fail and availability drops until they \
                         recover (but no wrong answer gets through). Failing here is the majority voter's \
                         doing: crashed replicas are only silent, and against crashes k+1 replicas would \
                         suffice if the voter could tell a missing reply and passed on the one it got"
                    } else {
                        "the voter finds no majority, so requests fail and availability drops until they \
                         recover (but no wrong answer gets through)"
                    }
                );
            }
            match f.kind {
                FaultKind::Byzantine => format!(
                    "; the voter outvotes the liar as long as at most {k} of the {} replicas lie at once, so \
                     majority verdicts rise and no wrong answer reaches the client",
                    p.replicas
                ),
                FaultKind::Slow | FaultKind::Delay => {
                    "; the late replica's answers miss the vote, the timely majority decides".into()
                }
                FaultKind::Crash => format!(
                    "; the {} replicas left still agree, so the voter forwards the majority's answer: \
                     availability stays near 1 (at most a short blip at the instant of the crash) and the \
                     verdicts move from unanimous to majority. A crashed replica is only silent: against \
                     crashes k+1 replicas mask k if the voter can tell a missing reply; this majority voter \
                     needs 2k+1 ({} replicas mask {k}), what masking a liar takes too",
                    p.replicas - 1,
                    p.replicas
                ),
                _ => format!(
                    "; a majority voter over {} replicas masks {k} faulty one{}: while no more than that are \
                     faulty at once, availability stays near 1 (at most a short blip as the fault starts) and \
                     the verdicts move from unanimous to majority",
                    p.replicas,
                    if k == 1 { "" } else { "s" }
                ),
            }
        }
        (Some(p), _) if only("voter") && p.voters == 1 => {
            "; every request passes through the single voter, a single point of failure: availability drops \
             while it lasts"
                .into()
        }
        (Some(_), _) if only("voter") => "; the other voters still forward the majority's answer".into(),
        (_, FaultKind::Partition) => "; nodes on each side suspect the other side".into(),
        (None, FaultKind::Crash) => {
            "; the others notice through timeouts only (a crash sends no message)".into()
        }
        _ => String::new(),
    };
    format!("{row}{back}{effect}.")
}

/// Other one-off faults on replicas whose time overlaps this one's.
fn overlapping_replica_faults<'a>(exp: &'a Experiment, f: &FaultPlan) -> Vec<&'a FaultPlan> {
    let span = |p: &FaultPlan| match p.schedule {
        Schedule::Once { at, length } => Some((at, length.map_or(exp.duration, |l| at + l))),
        _ => None,
    };
    let Some((a0, a1)) = span(f) else { return Vec::new() };
    exp.faults
        .iter()
        .filter(|o| o.index != f.index && roles_hit(exp, o) == ["replica"])
        .filter(|o| span(o).is_some_and(|(b0, b1)| b0 < a1 && a0 < b1))
        .collect()
}

fn general_watch(exp: &Experiment) -> String {
    if crate::repeat::tmr_model_replicas(exp).is_some() {
        return "- All along: nothing is repaired, so the service fails for good when the second replica \
                crashes. One run is one story: run the file with --repeat 20 and the report draws the measured \
                R_TMR(t) (Kaplan–Meier) beside the model curves e^(−λt) for one replica and \
                3e^(−2λt) − 2e^(−3λt) for TMR, with λ = 1/MTTF of the file's crash schedule, and MTTF_TMR \
                beside 5/(6λ)."
            .into();
    }
    match &exp.workload {
        Workload::Tmr(_) => {
            "- All along: the availability gauge and the throughput line, the voter verdicts \
             (unanimous / majority / no majority) and the fault timeline at the bottom."
                .into()
        }
        Workload::Checkpointing(_) => {
            "- All along: the checkpoint counters; after the crash, the rollbacks and \
             how far each process went back (rollback distance, lost work)."
                .into()
        }
        #[allow(unreachable_patterns)]
        _ => "- All along: the node rows, the fault timeline and the workload's own counters.".into(),
    }
}

fn op_words(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "below",
        CmpOp::Le => "at most",
        CmpOp::Gt => "above",
        CmpOp::Ge => "at least",
        CmpOp::Eq => "exactly",
        CmpOp::Ne => "not",
    }
}

fn expectation_phrase(e: &Expectation) -> String {
    let value = if is_ratio(&e.metric) && e.value <= 1.0 && e.value > 0.0 && e.value != 1.0 {
        format!("{} ({} %)", e.value, trim(e.value * 100.0))
    } else {
        trim(e.value)
    };
    format!("{} {} {}: {}", e.metric, op_words(e.op), value, metric_meaning(&e.metric))
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn is_ratio(metric: &str) -> bool {
    metric.starts_with("availability") || metric.ends_with("query_accuracy") || metric.ends_with("ratio")
}

/// What a report.json metric means, in a sentence.
pub fn metric_meaning(metric: &str) -> String {
    let last = metric.rsplit('.').next().unwrap_or(metric);
    let exact: &[(&str, &str)] = &[
        ("availability", "the fraction of requests answered correctly within the deadline"),
        ("availability_time", "the fraction of the run's time the service was up (1 minus the outages' total length over the run)"),
        ("availability_model", "MTTF / (MTTF + MTTR) computed from the file's fault schedule, to compare with the measured availability"),
        ("failures", "how many times the service failed (outages: from the first request without a correct reply to the next one answered)"),
        ("availability_model_with_restart", "the model with the measured restart time added to every repair, MTTF / (MTTF + MTTR + restart): the one to compare the measured availability with, since every restart costs real time"),
        ("failures_excluding_host_stalls", "outages that do not coincide with a stall of the host (the orchestrator's or an agent's loop running 25 ms or more late): a busy host's hiccups cannot fail a condition on this one"),
        ("valid", "1 when the run really ran as written: no agent died or went silent outside a fault, every fault was executed, the clients kept sending"),
        ("mttf_seconds", "mean time to failure: total up time divided by the number of outages"),
        ("mttr_seconds", "mean time to repair: total outage time divided by the number of outages"),
        ("mttf_ci", "the 95% chi-square interval of the MTTF; it assumes exponential up times (a constant failure rate)"),
        ("mttr_ci", "the 95% chi-square interval of the MTTR; it assumes exponential down times"),
        ("availability_exponential_ci", "the 95% interval of the steady-state availability MTTF / (MTTF + MTTR) from the run's up and down times, assuming both exponential: compare it with availability_model"),
        ("availability_ci", "the 95% interval of the availability, from batch means over the run's 100 ms windows"),
        ("availability_time_ci", "the 95% interval of availability_time, from batch means over the run's 100 ms windows"),
        ("requests.total", "requests the clients sent"),
        ("requests.ok", "requests answered correctly within the deadline"),
        ("requests.failed", "requests with no correct reply in time (lost, late, or the voter could not decide)"),
        ("requests.wrong", "wrong answers that reached the client: a fault that was not masked but passed on as the truth"),
        ("tmr.unanimous", "votes where every replica agreed"),
        ("tmr.majority", "votes decided by a majority while the third result disagreed, was missing or came late: a fault masked"),
        ("tmr.no_majority", "votes where no majority agreed: the voter could not answer"),
        ("tmr.state_transfers", "restarted replicas that fetched the state from their peers before voting again"),
        ("detector.false_suspicions", "times a detector suspected a node that was in fact alive (a mistake)"),
        ("detector.query_accuracy", "P_A: the fraction of time a live node is trusted"),
        ("checkpointing.golden_match", "1 when the final state equals the fault-free golden run: recovery was correct"),
        ("checkpointing.orphans", "orphan messages: messages discarded because the state that sent them was rolled back"),
        ("checkpointing.forced", "checkpoints another process asked for (coordination) rather than the local timer"),
        ("checkpointing.survivors_rolled_back", "processes that did not crash but still had to roll back because of the one that did"),
        ("checkpointing.outputs_repeated", "outputs released twice because a rollback redid the work that produced them (output commit was not respected)"),
        ("checkpointing.replayed", "log records replayed during recoveries (the logged messages delivered again)"),
        ("checkpointing.rollbacks", "rollbacks of processes, the crashed one included"),
        ("checkpointing.cost_seconds", "what fault tolerance cost: time spent checkpointing plus work lost to rollbacks, the quantity Young's interval minimises"),
        ("checkpointing.young_interval_seconds", "Young's checkpoint interval τ ≈ √(2·δ·M) for this run's checkpoint cost δ and MTTF M"),
        ("byzantine.instances", "rounds of agreement in which a loyal lieutenant decided (one round per order the commander sends)"),
        ("byzantine.agreement", "rounds in which every loyal lieutenant decided the same order (IC1)"),
        ("byzantine.disagreements", "rounds in which loyal lieutenants decided different orders: agreement broken"),
        ("byzantine.validity_checked", "rounds with a loyal commander, the only rounds where validity applies"),
        ("byzantine.validity", "a count of rounds: those with a loyal commander in which every loyal lieutenant decided the commander's order (IC2)"),
        ("byzantine.validity_violations", "rounds with a loyal commander in which some loyal lieutenant decided something other than the commander's order"),
        ("byzantine.agreement_rate", "agreement over instances: the share of rounds in which the loyal lieutenants agreed"),
        ("byzantine.validity_rate", "validity over validity_checked: the share of loyal-commander rounds that were obeyed"),
        ("byzantine.retreats", "decisions of the default order (retreat) by loyal lieutenants that found no majority"),
        ("byzantine.traitor_commander", "rounds in which the commander was the traitor and a loyal lieutenant received its lie (conflicting values)"),
        ("byzantine.traitor_lieutenant", "rounds in which a lieutenant was the traitor and a loyal lieutenant received its lie (conflicting values)"),
        ("commit.committed", "transactions that committed"),
        ("commit.blocked", "participant–transaction pairs that blocked: a participant voted yes and then could neither commit nor abort on its own"),
        ("commit.blocked_seconds", "the time participants spent blocked, summed over participants and transactions, in seconds"),
        ("commit.max_blocked_seconds", "the longest a participant stayed blocked, in seconds"),
        ("commit.inconsistent", "transactions some participants committed and others aborted: atomicity broken"),
        ("commit.undecided", "transactions started that no participant had decided by the end of the run: participants left hanging"),
        ("commit.hung", "transactions still undecided at the end that had waited longer than any transaction took to be decided: left hanging, not merely in flight"),
        ("commit.max_termination_seconds", "the longest from a transaction's start to its decision by the termination protocol: how long participants waited for the silent coordinator"),
        ("commit.terminations", "transactions the participants decided among themselves without the coordinator (the termination protocol)"),
        ("rpc.duplicate_executions", "extra executions: the server ran a call it had already run (a retry of a call whose reply was lost)"),
        ("rpc.filtered", "retried requests the server recognised as duplicates and answered from its reply cache instead of executing again"),
        ("rpc.lost_replies", "replies lost on the way back to the client"),
        ("repeat.runs", "how many runs the series made"),
        ("recovery_seconds.count", "how many outages the run had"),
        ("detector.detection_seconds.count", "crash detections measured: one per monitor whose suspicion of the crashed node lasted until it came back"),
        ("repeat.mttf_seconds", "the MTTF estimated over all runs, from each run's time to its first failure"),
    ];
    if let Some((_, m)) = exact.iter().find(|(k, _)| *k == metric) {
        return (*m).to_string();
    }
    // The executed faults, in the order they ran: `faults.1.at_seconds` exists once two have.
    if let Some((n, field)) = metric.strip_prefix("faults.").and_then(|r| r.split_once('.')) {
        let nth =
            n.parse::<usize>().map_or_else(|_| n.to_string(), |i| format!("fault number {} to run", i + 1));
        match field {
            "at_seconds" => return format!("when {nth} was injected, in seconds (null: fewer faults ran)"),
            "until_seconds" => {
                return format!("when {nth} ended, in seconds (null: it lasted for the rest of the run)")
            }
            _ => {}
        }
    }
    // One outage's parts: `recovery_seconds.incidents.0.detection`.
    if let Some((n, field)) =
        metric.strip_prefix("recovery_seconds.incidents.").and_then(|r| r.split_once('.'))
    {
        let nth = n.parse::<usize>().map_or_else(|_| n.to_string(), |i| format!("outage number {}", i + 1));
        let part = match field {
            "detection" => {
                "its detection: from the outage's start until the new primary suspected the old one"
            }
            "failover" => {
                "its failover: from that suspicion until every trusted replica acknowledged the new view"
            }
            "catch_up" => {
                "its catch-up: from the new view until the new primary held the newest state and served"
            }
            "seconds" => "its length",
            _ => "",
        };
        if !part.is_empty() {
            return format!("{nth}, {part}, in seconds");
        }
    }
    // A node by name: `nodes.replica-2.crashes`.
    if let Some((node, field)) = metric.strip_prefix("nodes.").and_then(|r| r.rsplit_once('.')) {
        match field {
            "crashes" => return format!("times {node} was crashed: the fault reached its target"),
            "recoveries" => return format!("times {node} came back after a crash"),
            "down_seconds" => return format!("how long {node} was down, in seconds"),
            _ => {}
        }
    }
    let prefix: &[(&str, &str)] = &[
        ("latency_seconds", "the time from sending a request to its correct reply, in seconds"),
        ("recovery_seconds", "how long outages lasted, from the first failed request to the next correct reply, in seconds"),
        ("detector.detection_seconds", "T_D: the time from a crash to the detector's permanent suspicion, in seconds"),
        ("detector.mistake_recurrence_seconds", "E[T_MR]: the mean time between two wrong suspicions"),
        ("detector.mistake_duration_seconds", "E[T_M]: how long a wrong suspicion lasts on average"),
        ("checkpointing.checkpoints", "checkpoints written to stable storage"),
        ("checkpointing.overhead_seconds", "time spent checkpointing instead of working"),
        ("checkpointing.rollback_distance", "how many checkpoints a process went back when it rolled back (the domino effect makes this large)"),
        ("checkpointing.lost_work_seconds", "work done after the recovery line and thrown away by the rollback, in seconds"),
        ("checkpointing.rollbacks", "processes rolled back"),
        ("checkpointing.logged_messages", "messages written to the message log"),
        ("checkpointing.output_wait_seconds", "how long an output waited until it could no longer be rolled back (output commit)"),
        ("checkpointing.bytes", "bytes written to stable storage"),
        ("repeat.reliability_curve", "R(t), the probability of no service failure up to t, from the repeated runs"),
        ("repeat.availability", "availability across the repeated runs"),
    ];
    if let Some((_, m)) = prefix.iter().find(|(k, _)| metric.starts_with(k)) {
        return format!("{m}{}", stat_suffix(last));
    }
    // Workloads added later: guess from the word.
    let words: &[(&str, &str)] = &[
        ("duplicate", "requests executed more than once"),
        ("block", "participants left waiting, unable to decide"),
        ("agree", "whether the loyal nodes agreed"),
        ("wrong", "wrong results"),
        ("suspicion", "suspicions raised by failure detectors"),
    ];
    if let Some((_, m)) = words.iter().find(|(w, _)| metric.contains(w)) {
        return format!("{m} (report.json `{metric}`)");
    }
    format!("the report.json value `{metric}`")
}

fn stat_suffix(last: &str) -> &'static str {
    match last {
        "p50" => " (median)",
        "p95" => " (95th percentile)",
        "p99" => " (99th percentile)",
        "max" => " (the largest)",
        "mean" => " (the mean)",
        "count" => " (how many)",
        _ => "",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn library() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments")
    }

    #[test]
    fn list_follows_the_course_order() {
        let entries = entries(&library()).unwrap();
        assert!(entries.len() >= 5, "{entries:?}");
        let names: Vec<String> =
            entries.iter().map(|e| e.file.file_name().unwrap().to_string_lossy().into_owned()).collect();
        let course = std::fs::read_to_string(library().join(COURSE_FILE)).unwrap();
        let order: Vec<String> = course_order(&course).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, order);
        // Course order, not the alphabet: availability comes first, commit last.
        assert_eq!(names[0], "availability-high-reliability-low.yaml");
        assert_eq!(names.last().unwrap(), "three-phase-commit-does-not-block.yaml");
        let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert!(pos("fault-class-transient.yaml") < pos("tmr-masks-one-crash.yaml"));
        assert!(pos("tmr-masks-one-crash.yaml") < pos("byzantine-generals-4-agree.yaml"));
        assert!(pos("heartbeat-crash-detection.yaml") < pos("checkpoint-domino.yaml"));
        let table = render_list(&entries);
        assert!(table.contains("\nTMR and voters:\n  tmr-masks-one-crash.yaml"), "{table}");
        assert!(table.contains("30 s"), "{table}");
        assert!(table.contains("in course order"), "{table}");
        assert!(table.lines().next().unwrap().trim_start().starts_with("file"));
    }

    #[test]
    fn library_concepts_are_capitalised_alike() {
        // Lower case like the concepts table, except names and acronyms.
        for e in entries(&library()).unwrap() {
            let c = e.concept.unwrap();
            let first = c.split_whitespace().next().unwrap();
            let proper = ["TMR", "RPC", "Byzantine"].contains(&first);
            assert!(proper || first.starts_with(|c: char| c.is_lowercase()), "{}: {c}", e.file.display());
        }
    }

    #[test]
    fn a_library_file_missing_from_the_course_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let exp = "name: x\nduration: 5s\nworkload: { kind: tmr }\n";
        std::fs::write(dir.path().join("a.yaml"), exp).unwrap();
        std::fs::write(dir.path().join("b.yaml"), exp).unwrap();
        std::fs::write(dir.path().join(COURSE_FILE), "## one\nb.yaml\n").unwrap();
        let err = entries(dir.path()).unwrap_err().to_string();
        assert!(err.contains("does not list a.yaml"), "{err}");
        std::fs::write(dir.path().join(COURSE_FILE), "## one\nb.yaml\na.yaml\nc.yaml\n").unwrap();
        let err = entries(dir.path()).unwrap_err().to_string();
        assert!(err.contains("names c.yaml"), "{err}");
        std::fs::write(dir.path().join(COURSE_FILE), "## one\nb.yaml\n## two\na.yaml\n").unwrap();
        let list = entries(dir.path()).unwrap();
        assert_eq!(list[0].file, dir.path().join("b.yaml"));
        assert_eq!(list[1].section.as_deref(), Some("two"));
    }

    #[test]
    fn a_broken_file_is_listed_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "name: x\nbogus: 1\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an experiment").unwrap();
        let entries = entries(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(render_list(&entries).contains("INVALID"));
    }

    #[test]
    fn explain_tmr_masks_one_crash() {
        let exp = crate::experiment::load(&library().join("tmr-masks-one-crash.yaml")).unwrap();
        let raw = explain(&exp);
        let file = exp.path.display().to_string();
        assert!(raw.lines().filter(|l| !l.contains(&file)).all(|l| l.chars().count() <= 80), "{raw}");
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("CONCEPT") && text.contains("TMR and voters"), "{text}");
        assert!(text.contains("at 10 s for 5 s, replica-2 crashes"), "{text}");
        assert!(text.contains("row turn red"), "{text}");
        assert!(text.contains("availability stays near 1"), "{text}");
        assert!(text.contains("k+1 replicas mask k") && text.contains("needs 2k+1"), "{text}");
        assert!(!text.contains("100 %"), "masking, not a promise of 100 %: {text}");
        assert!(text.contains("loses 30 % of the messages it sends"), "{text}");
        assert!(text.contains("availability at least 0.999 (99.9 %)"), "{text}");
        assert!(text.contains("requests.wrong exactly 0: wrong answers that reached the client"), "{text}");
    }

    #[test]
    fn explain_every_library_file() {
        for e in entries(&library()).unwrap() {
            let Ok(exp) = crate::experiment::load(&e.file) else { continue };
            let text = explain(&exp);
            assert!(text.contains("WHAT TO WATCH"), "{}", e.file.display());
            // One bullet per fault, one for "all along", one per expectation.
            let tail = &text[text.find("WHAT TO WATCH").unwrap()..];
            let bullets = tail.matches("\n  - ").count();
            assert_eq!(bullets, exp.faults.len() + 1 + exp.expect.len(), "{text}");
            for x in &exp.expect {
                assert!(text.contains(&x.metric), "{}: {}", e.file.display(), x.metric);
            }
        }
    }

    #[test]
    fn voter_crash_is_a_single_point_of_failure() {
        let text = "name: v\nduration: 20s\nworkload: { kind: tmr, rate: 100/s }\nfaults:\n  - { at: 5s, kind: crash, target: voter-1 }\n";
        let exp = crate::experiment::parse_str(Path::new("v.yaml"), text).unwrap();
        let t = explain(&exp).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(t.contains("at 5 s, voter-1 crashes for good"), "{t}");
        assert!(t.contains("single point of failure"), "{t}");
    }

    #[test]
    fn two_crashes_at_once_break_tmr() {
        let exp = crate::experiment::load(&library().join("tmr-two-crashes-break-it.yaml")).unwrap();
        let t = explain(&exp).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(t.contains("Together with replica-3 that makes 2 faulty replicas at once"), "{t}");
        assert!(t.contains("no majority"), "{t}");
        assert!(!t.contains("availability stays near 1"), "{t}");
        assert!(t.contains("the majority voter's doing"), "{t}");
        assert!(t.contains("a single voter compares their answers and passes on"), "{t}");
    }

    #[test]
    fn the_reliability_model_file_points_at_repeat() {
        let exp = crate::experiment::load(&library().join("tmr-reliability-model.yaml")).unwrap();
        assert!(crate::repeat::tmr_model_replicas(&exp).is_some());
        let t = explain(&exp).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(t.contains("at a random time (exponential, mean 10 s), replica-2 crashes for good"), "{t}");
        assert!(t.contains("--repeat 20"), "{t}");
    }

    #[test]
    fn metric_meanings_cover_the_report() {
        assert!(metric_meaning("recovery_seconds.p95").contains("95th percentile"));
        assert!(metric_meaning("checkpointing.rollback_distance.max").contains("domino"));
        assert!(metric_meaning("rpc.duplicate_executions").contains("already run"));
        assert!(metric_meaning("byzantine.validity").contains("count of rounds"));
        assert!(metric_meaning("recovery_seconds.incidents.0.detection").contains("outage number 1"));
        assert!(metric_meaning("whatever.x").contains("`whatever.x`"));
        assert!(metric_meaning("commit.blocked").contains("blocked"));
        assert!(metric_meaning("failures_excluding_host_stalls").contains("stall"));
        assert!(metric_meaning("valid").contains("agent died"));
        assert!(metric_meaning("nodes.voter-1.crashes").contains("voter-1 was crashed"));
        assert!(metric_meaning("nodes.voter-1.down_seconds").contains("voter-1 was down"));
        assert!(metric_meaning("faults.1.at_seconds").contains("fault number 2 to run was injected"));
        assert!(metric_meaning("faults.0.until_seconds").contains("for the rest of the run"));
    }
}
