//! What the docker tests share: whether a daemon answers (without one a
//! test passes, unless FAULTLAB_REQUIRE_DOCKER=1 makes it fail), and what a
//! run left behind.

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use bollard::Docker;
use orchestrator::backend::docker::DockerBackend;
use std::collections::HashMap;

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
    let f = label_filter(format!("faultlab.run={run}"));
    let c = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(f.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let n = docker.list_networks(Some(ListNetworksOptions { filters: Some(f.clone()) })).await.unwrap();
    let v = docker.list_volumes(Some(ListVolumesOptions { filters: Some(f) })).await.unwrap();
    (c.len(), n.len(), v.volumes.unwrap_or_default().len())
}
