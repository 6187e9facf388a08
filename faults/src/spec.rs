//! The `faults:` entries of an experiment file (filled in by the YAML module).
