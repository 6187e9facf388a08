//! The recorder's section for external nodes: `external` in report.json.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use workloads::external::ExtEvent;
use workloads::Observation;

/// `external` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExternalReport {
    pub duplicate_ids: u64,
    pub exits: u64,
    /// The first line a program wrote that was not a message or named an unknown node.
    pub first_offence: Option<String>,
    pub invalid_lines: u64,
    pub unknown_nodes: u64,
}

/// What the hosted programs did wrong, as their agents saw it.
#[derive(Debug, Default)]
pub struct ExternalRecorder {
    report: ExternalReport,
}

impl Section for ExternalRecorder {
    fn observe(&mut self, _seen: Seen, obs: Observation) -> Option<String> {
        let Observation::External(e) = obs else { return None };
        let r = &mut self.report;
        match e {
            ExtEvent::InvalidLine { line } => {
                r.invalid_lines += 1;
                r.first_offence.get_or_insert(line.clone());
                Some(format!("wrote a line that is not a message: {line}"))
            }
            ExtEvent::UnknownNode { line } => {
                r.unknown_nodes += 1;
                r.first_offence.get_or_insert(line.clone());
                Some(format!("addressed a node that does not exist: {line}"))
            }
            ExtEvent::Exited { status } => {
                r.exits += 1;
                Some(format!("program {status}"))
            }
            ExtEvent::Duplicate { id } => {
                r.duplicate_ids += 1;
                Some(format!("id {id} handed out twice"))
            }
        }
    }

    fn report(&self, _run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(Some(self.report.clone()))
    }

    fn lines(&self, _run: SoFar<'_>) -> Vec<(String, String)> {
        let r = &self.report;
        let text = format!(
            "{} invalid lines, {} to unknown nodes, {} exits, {} duplicate ids",
            r.invalid_lines, r.unknown_nodes, r.exits, r.duplicate_ids
        );
        vec![("program".to_string(), text)]
    }
}
