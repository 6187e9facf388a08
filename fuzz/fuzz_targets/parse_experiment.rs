//! The experiment parser never panics, whatever the text; and a file it
//! accepts expands into occurrences without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(exp) = orchestrator::experiment::parse_str(Path::new("fuzz.yaml"), text) {
        let _ = exp.occurrences(exp.seed, exp.duration);
    }
});
