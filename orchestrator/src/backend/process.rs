//! The process backend: one `faultlab agent` child process per node on 127.0.0.1.
