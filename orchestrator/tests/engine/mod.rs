//! What the tests against the real docker engine share (docker and swarm):
//! a run id per test, its backend configuration, and a guard that removes
//! the run's objects however the test ends.
#![allow(dead_code, clippy::unwrap_used)]

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListVolumesOptions,
};
use bollard::Docker;
use orchestrator::backend::docker;
use orchestrator::backend::BackendConfig;
use std::collections::HashMap;
use std::time::Duration;

/// The faultlab binary the agents run.
pub const AGENT: &str = env!("CARGO_BIN_EXE_faultlab");

/// Removes the run's objects when the test ends, however it ends.
pub struct RunGuard(pub String);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let _ = docker::teardown_blocking(&self.0);
    }
}

/// A run id of its own for `test` (a label value and a docker name).
pub fn run_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t-{test}-{}-{nanos:x}", std::process::id())
}

/// The backend configuration of a test run.
pub fn config(run_id: &str) -> BackendConfig {
    BackendConfig {
        run_id: run_id.to_string(),
        token: format!("token-{run_id}"),
        agent_exe: AGENT.into(),
        watchdog: Duration::from_secs(30),
        host_paths: Vec::new(),
    }
}

/// Services, containers, networks and volumes carrying `label`.
pub async fn leftovers(docker: &Docker, label: &str) -> [usize; 4] {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    // An engine in no swarm has no services (it answers 503).
    let s = docker
        .list_services(Some(ListServicesOptions { filters: Some(filters.clone()), ..Default::default() }))
        .await
        .unwrap_or_default();
    let c = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let n = docker.list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) })).await.unwrap();
    let v = docker.list_volumes(Some(ListVolumesOptions { filters: Some(filters) })).await.unwrap();
    [s.len(), c.len(), n.len(), v.volumes.unwrap_or_default().len()]
}
