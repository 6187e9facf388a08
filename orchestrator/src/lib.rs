//! faultlab's orchestrator: the experiment runner, backends, fault scheduler,
//! recorder, reports and the command line behind the `faultlab` binary.

pub mod backend;
pub mod bench;
pub mod cli;
pub mod experiment;
pub mod explore;
pub mod html;
pub mod library;
pub mod metrics;
pub mod recorder;
pub mod repeat;
pub mod report;
pub mod run;
pub mod summary;
pub mod topology;
pub mod words;
pub mod workload;
