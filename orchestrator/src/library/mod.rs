//! The experiment library: `faultlab list` (one line per file) and
//! `faultlab explain FILE` (the concept, what to watch, what the numbers
//! should show), in words for a student. The text is derived from the
//! file's `concept`, `description`, fault list and `expect:`, plus a table
//! of what each report.json metric means.

mod list;
mod meanings;

pub use list::{entries, render_list, Entry, ListError, COURSE_FILE};
pub use meanings::{metric_meaning, Meaning};

use crate::experiment::{
    CmpOp, Expectation, Experiment, FaultKind, FaultParams, FaultPlan, Lifetime, Schedule, Selection,
    Workload,
};
use std::fmt::Write as _;
use std::time::Duration;

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
                    "{row}{back}. Together with {} that makes {} faulty replicas at once, more than the {} \
                     that a majority voter over {} replicas masks (it needs 2k+1 replicas for k faults): {}.",
                    names.join(" and "),
                    others.len() + 1,
                    crate::words::count(k as f64, "fault"),
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
    exp.workload.watch().into()
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(super) mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// The experiment library of the repository.
    pub(in crate::library) fn library() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments")
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
}
