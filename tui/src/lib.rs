//! The faultlab terminal dashboard: a pure UI state model, views that only
//! draw, and the snapshot type the orchestrator's recorder fills.

pub mod snapshot;

pub use snapshot::Snapshot;
