//! The faultlab terminal dashboard: a pure UI state model, views that only
//! draw, and the snapshot type the orchestrator's recorder fills.

mod run;
pub mod snapshot;
pub mod state;
pub mod view;

pub use run::{run_dashboard, run_with};
pub use snapshot::Snapshot;
pub use state::{App, Command};
