//! What the tests against the real engine share (docker and swarm): whether
//! a daemon answers (without one a test passes, unless
//! FAULTLAB_REQUIRE_DOCKER=1 makes it fail), a run id per test, its backend
//! configuration, a guard that removes the run's objects however the test
//! ends, and what a run left behind.

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListVolumesOptions,
};
use bollard::Docker;
use orchestrator::backend::docker::{self, DockerBackend};
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

/// Whether `test` goes on: yes when `down` is None; otherwise (`down` says
/// why no daemon answers) it is skipped, or fails under FAULTLAB_REQUIRE_DOCKER=1.
pub fn goes_on(test: &str, down: Option<String>) -> bool {
    let Some(why) = down else { return true };
    assert!(
        std::env::var("FAULTLAB_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "{test}: FAULTLAB_REQUIRE_DOCKER=1 but {why}"
    );
    eprintln!("{test}: skipped: {why}");
    false
}

/// Whether a docker daemon answers (see [`goes_on`]).
pub async fn daemon_or_skip(test: &str) -> bool {
    let up = DockerBackend::available().await;
    goes_on(test, (!up).then(|| "no docker daemon answers".to_string()))
}

/// `label=value` as a docker list filter.
pub fn label_filter(label: String) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![label])])
}

/// Containers (running or not), networks and volumes labelled with `run`.
pub async fn objects(docker: &Docker, run: &str) -> (usize, usize, usize) {
    let [_, c, n, v] = leftovers(docker, &format!("faultlab.run={run}")).await;
    (c, n, v)
}

/// Services, containers, networks and volumes carrying `label`.
pub async fn leftovers(docker: &Docker, label: &str) -> [usize; 4] {
    let filters = label_filter(label.to_string());
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
