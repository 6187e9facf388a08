//! `faultlab list`: the library's files in course order, as the course
//! file beside them (`course.txt`) gives it, under each concept's heading.

use super::secs;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::tests::library;
    use super::*;

    fn pos_of(names: &[String], n: &str) -> usize {
        names.iter().position(|x| x == n).unwrap_or_else(|| panic!("{n} is not listed"))
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
        assert!(
            pos_of(&names, "multicast-partition-splits-views.yaml")
                < pos_of(&names, "paxos-majority-decides.yaml")
        );
        let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert!(pos("three-phase-commit-does-not-block.yaml") < pos("multicast-ack-implosion.yaml"));
        assert!(pos("fault-class-transient.yaml") < pos("tmr-masks-one-crash.yaml"));
        assert!(pos("tmr-masks-one-crash.yaml") < pos("byzantine-generals-4-agree.yaml"));
        assert!(pos("heartbeat-crash-detection.yaml") < pos("checkpoint-domino.yaml"));
        assert_eq!(
            names.last().unwrap(),
            "paxos-kv-linearizable-under-partition.yaml",
            "linearizability follows consensus"
        );
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
}
