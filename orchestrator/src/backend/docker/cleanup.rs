//! Removing what runs leave behind: one run's objects (teardown), anything
//! faultlab made (`faultlab clean`), and the objects of runs whose
//! orchestrator died (swept at the start of every docker run).
//!
//! Stale runs are found by owner labels on every object: `faultlab.pid`,
//! `faultlab.pid-start` (the process's start time in clock ticks since boot,
//! from `/proc/<pid>/stat`, so a recycled pid does not look alive) and
//! `faultlab.host` (the host name: objects another host made are left alone).

use super::{DockerError, LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_RUN};
use bollard::query_parameters::{
    ListConfigsOptions, ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What a cleanup removed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Swarm services removed.
    pub services: usize,
    /// Swarm configs removed.
    pub configs: usize,
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
}

impl CleanReport {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        *self == CleanReport::default()
    }

    fn add(&mut self, other: CleanReport) {
        self.services += other.services;
        self.configs += other.configs;
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
    }
}

impl std::fmt::Display for CleanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Swarm objects are named only where there are some: most engines are no swarm.
        if self.services > 0 || self.configs > 0 {
            write!(f, "{} services, {} configs, ", self.services, self.configs)?;
        }
        write!(f, "{} containers, {} networks, {} volumes", self.containers, self.networks, self.volumes)
    }
}

/// A 404 or 409-"already in progress" means someone else removed it first.
fn gone(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
        || matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, message }
            if message.contains("already in progress"))
}

/// The engine refuses to remove a network that it believes still has endpoints.
fn stale_endpoints(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 403, message }
        if message.contains("has active endpoints"))
}

/// A volume a container still uses.
fn in_use(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, message }
        if message.contains("in use"))
}

/// Whether the engine answered that it is no swarm manager (503): it then
/// holds no services or configs.
fn no_swarm(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 503, .. })
}

/// The swarm services and configs matching a label filter: (service ids, config ids).
async fn swarm_objects(
    docker: &Docker,
    filters: &HashMap<String, Vec<String>>,
) -> Result<(Vec<String>, Vec<String>), DockerError> {
    let services = match docker
        .list_services(Some(ListServicesOptions { filters: Some(filters.clone()), ..Default::default() }))
        .await
    {
        Ok(s) => s.into_iter().filter_map(|s| s.id).collect(),
        Err(e) if no_swarm(&e) => return Ok((Vec::new(), Vec::new())),
        Err(source) => return Err(DockerError::api("list services", source)),
    };
    let configs = match docker.list_configs(Some(ListConfigsOptions { filters: Some(filters.clone()) })).await
    {
        Ok(c) => c.into_iter().filter_map(|c| c.id).collect(),
        Err(e) if no_swarm(&e) => Vec::new(),
        Err(source) => return Err(DockerError::api("list configs", source)),
    };
    Ok((services, configs))
}

/// How long a network whose swarm services were just removed may keep the
/// tasks' endpoints before its removal is given up.
const SWARM_RELEASE: Duration = Duration::from_secs(10);

/// Remove every swarm service and config, container, network and volume
/// matching a label filter (`key` or `key=value`). Services go first (else
/// swarm would replace their containers), then containers: they hold the others.
pub(crate) async fn remove_labelled(docker: &Docker, label: &str) -> Result<CleanReport, DockerError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let mut report = CleanReport::default();
    let (services, configs) = swarm_objects(docker, &filters).await?;
    let removals = services.iter().map(|id| async move {
        match docker.delete_service(id).await {
            Ok(()) => Ok(1),
            Err(e) if gone(&e) => Ok(0),
            Err(source) => Err(DockerError::api("remove a service", source)),
        }
    });
    for r in futures::future::join_all(removals).await {
        report.services += r?;
    }
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|source| DockerError::api("list containers", source))?;
    let removals = containers.iter().filter_map(|c| c.id.as_deref()).map(|id| async move {
        let opts = RemoveContainerOptions { force: true, v: false, link: false };
        match docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(1),
            Err(e) if gone(&e) => Ok(0),
            Err(source) => Err(DockerError::api("remove a container", source)),
        }
    });
    for r in futures::future::join_all(removals).await {
        report.containers += r?;
    }
    for id in &configs {
        match docker.delete_config(id).await {
            Ok(()) => report.configs += 1,
            Err(e) if gone(&e) => {}
            Err(source) => return Err(DockerError::api("remove a config", source)),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) }))
        .await
        .map_err(|source| DockerError::api("list networks", source))?;
    // Swarm releases a removed service's network attachments a moment later.
    let release_until =
        std::time::Instant::now() + if services.is_empty() { Duration::ZERO } else { SWARM_RELEASE };
    for n in networks.iter().filter_map(|n| n.id.as_deref()) {
        let removed = loop {
            match docker.remove_network(n).await {
                Err(e) if stale_endpoints(&e) && std::time::Instant::now() < release_until => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                r => break r,
            }
        };
        match removed {
            Ok(()) => report.networks += 1,
            Err(e) if gone(&e) => {}
            // Every container of ours is gone by now: an endpoint the engine
            // still counts is its own stale state (left by a container start
            // that failed half-way), which only a daemon restart clears. It
            // must not stop the rest of the cleanup.
            Err(e) if stale_endpoints(&e) => {}
            Err(source) => return Err(DockerError::api("remove a network", source)),
        }
    }
    // A removed swarm network lingers on the node until its agent catches up:
    // teardown returns once it is gone, so that nothing is seen left behind.
    while !services.is_empty() && std::time::Instant::now() < release_until {
        let left = docker
            .list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) }))
            .await
            .map_err(|source| DockerError::api("list networks", source))?;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters: Some(filters) }))
        .await
        .map_err(|source| DockerError::api("list volumes", source))?;
    for v in volumes.volumes.unwrap_or_default() {
        let removed = loop {
            match docker.remove_volume(&v.name, Some(RemoveVolumeOptions { force: true })).await {
                // A task container swarm is still removing holds it.
                Err(e) if in_use(&e) && std::time::Instant::now() < release_until => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                r => break r,
            }
        };
        match removed {
            Ok(()) => report.volumes += 1,
            Err(e) if gone(&e) => {}
            Err(source) => return Err(DockerError::api("remove a volume", source)),
        }
    }
    Ok(report)
}

/// Remove everything of one run.
pub(crate) async fn remove_run(docker: &Docker, run_id: &str) -> Result<CleanReport, DockerError> {
    remove_labelled(docker, &format!("{LABEL_RUN}={run_id}")).await
}

/// Remove everything labelled faultlab.* (containers, networks, volumes); returns counts.
/// The agent images stay: they are a cache keyed by the binary's hash.
pub async fn clean_all() -> Result<CleanReport, DockerError> {
    let docker = super::connect_engine().await?;
    remove_labelled(&docker, LABEL_RUN).await
}

/// Who owns a run's objects, judged from their owner labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The orchestrator that made them runs (same pid, same start time).
    Alive { pid: u32 },
    /// Its orchestrator is gone (no such pid, or a recycled one).
    Gone { pid: u32 },
    /// Made on another host sharing this engine: its pids mean nothing here.
    OtherHost(String),
    /// No owner labels (made by an older faultlab).
    Unknown,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Alive { pid } => write!(f, "owner pid {pid} is alive"),
            Owner::Gone { pid } => write!(f, "owner pid {pid} is gone"),
            Owner::OtherHost(h) => write!(f, "made on host {h}"),
            Owner::Unknown => write!(f, "no owner labels"),
        }
    }
}

/// One run's objects on the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunObjects {
    /// The run id (`faultlab.run`).
    pub run: String,
    pub owner: Owner,
    /// What the engine holds of it.
    pub objects: CleanReport,
}

/// Every run that has objects on the engine, with its owner.
pub async fn runs() -> Result<Vec<RunObjects>, DockerError> {
    let docker = super::connect_engine().await?;
    list_runs(&docker).await
}

async fn list_runs(docker: &Docker) -> Result<Vec<RunObjects>, DockerError> {
    let filters = HashMap::from([("label".to_string(), vec![LABEL_RUN.to_string()])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|source| DockerError::api("list containers", source))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) }))
        .await
        .map_err(|source| DockerError::api("list networks", source))?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters: Some(filters.clone()) }))
        .await
        .map_err(|source| DockerError::api("list volumes", source))?;
    let services = match docker
        .list_services(Some(ListServicesOptions { filters: Some(filters), ..Default::default() }))
        .await
    {
        Ok(s) => s,
        Err(e) if no_swarm(&e) => Vec::new(),
        Err(source) => return Err(DockerError::api("list services", source)),
    };
    // (labels of the first object that has owner labels, counts)
    let mut runs: BTreeMap<String, (Option<HashMap<String, String>>, CleanReport)> = BTreeMap::new();
    let mut note = |labels: HashMap<String, String>, count: fn(&mut CleanReport)| {
        let Some(run) = labels.get(LABEL_RUN).cloned() else { return };
        let entry = runs.entry(run).or_default();
        count(&mut entry.1);
        if entry.0.is_none() && labels.contains_key(LABEL_PID) {
            entry.0 = Some(labels);
        }
    };
    for labels in services.into_iter().filter_map(|s| s.spec.and_then(|s| s.labels)) {
        note(labels, |r| r.services += 1);
    }
    for labels in containers.into_iter().filter_map(|c| c.labels) {
        note(labels, |r| r.containers += 1);
    }
    for labels in networks.into_iter().filter_map(|n| n.labels) {
        note(labels, |r| r.networks += 1);
    }
    for labels in volumes.volumes.unwrap_or_default().into_iter().map(|v| v.labels) {
        note(labels, |r| r.volumes += 1);
    }
    let host = host_name();
    Ok(runs
        .into_iter()
        .map(|(run, (labels, objects))| RunObjects { run, owner: owner(labels.as_ref(), &host), objects })
        .collect())
}

/// Judges a run's owner from its labels, on this host.
fn owner(labels: Option<&HashMap<String, String>>, host: &str) -> Owner {
    let Some(labels) = labels else { return Owner::Unknown };
    match labels.get(LABEL_HOST) {
        Some(h) if h != host => return Owner::OtherHost(h.clone()),
        _ => {}
    }
    let Some(pid) = labels.get(LABEL_PID).and_then(|p| p.parse::<u32>().ok()) else { return Owner::Unknown };
    let start = labels.get(LABEL_PID_START).map(String::as_str);
    // Alive only if the pid exists and started when the owner did: a recycled
    // pid belongs to somebody else.
    let alive = process_start_time(pid).is_some_and(|now| start.is_none_or(|s| s == now));
    if alive {
        Owner::Alive { pid }
    } else {
        Owner::Gone { pid }
    }
}

/// What `clean` did: the runs it removed (with what it removed), those it
/// left, and those whose removal the engine refused.
#[derive(Debug, Default)]
pub struct CleanOutcome {
    pub removed: Vec<(RunObjects, CleanReport)>,
    pub kept: Vec<RunObjects>,
    pub failed: Vec<(RunObjects, DockerError)>,
}

/// Removes the runs whose owner is gone, or every run with `all` (live ones
/// included: the caller asks first). Runs of another host, or with no owner
/// labels, are kept unless `all`.
pub async fn clean(all: bool) -> Result<CleanOutcome, DockerError> {
    let docker = super::connect_engine().await?;
    let mut out = CleanOutcome::default();
    for run in list_runs(&docker).await? {
        if all || matches!(run.owner, Owner::Gone { .. }) {
            // One run the engine will not let go of (a network with a stale
            // endpoint, say) does not keep the others.
            match remove_run(&docker, &run.run).await {
                Ok(removed) => out.removed.push((run, removed)),
                Err(e) => out.failed.push((run, e)),
            }
        } else {
            out.kept.push(run);
        }
    }
    Ok(out)
}

/// Remove the objects of runs whose orchestrator is no longer alive on this
/// host (see the module doc for the owner labels). A run the engine refuses
/// to remove is skipped here: it is no reason to stop a new run, and
/// `faultlab clean` names it.
pub async fn sweep_stale() -> Result<CleanReport, DockerError> {
    let outcome = clean(false).await?;
    let mut report = CleanReport::default();
    for (_, r) in &outcome.removed {
        report.add(*r);
    }
    Ok(report)
}

/// Remove everything labelled faultlab.run=<id>, synchronously: usable from a
/// panic hook or a Drop guard, inside or outside a tokio runtime (it runs its
/// own runtime on a fresh thread). Gives up after 30 s.
pub fn teardown_blocking(run_id: &str) -> Result<CleanReport, DockerError> {
    let run_id = run_id.to_string();
    let worker = std::thread::Builder::new()
        .name("faultlab-teardown".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(DockerError::Runtime)?;
            rt.block_on(async {
                match tokio::time::timeout(Duration::from_secs(30), async {
                    let docker = super::connect_engine().await?;
                    remove_run(&docker, &run_id).await
                })
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(DockerError::Timeout("teardown")),
                }
            })
        })
        .map_err(DockerError::Runtime)?;
    worker.join().unwrap_or(Err(DockerError::Timeout("teardown (its thread panicked)")))
}

/// The owner labels every object of a run carries.
pub(crate) fn owner_labels() -> [(String, String); 3] {
    let pid = std::process::id();
    [
        (LABEL_PID.to_string(), pid.to_string()),
        (LABEL_PID_START.to_string(), process_start_time(pid).unwrap_or_default()),
        (LABEL_HOST.to_string(), host_name()),
    ]
}

/// The process's start time (field 22 of /proc/<pid>/stat), or None when it is gone.
fn process_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3; field 22 is the 20th from there.
    rest.split_whitespace().nth(19).map(str::to_string)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_has_a_start_time_and_a_dead_pid_has_none() {
        let me = process_start_time(std::process::id()).unwrap();
        assert!(me.parse::<u64>().is_ok(), "{me}");
        // Linux pids stop well below this.
        assert_eq!(process_start_time(u32::MAX - 1), None);
    }

    #[test]
    fn a_runs_owner_is_judged_by_pid_start_time_and_host() {
        let host = host_name();
        let labels = |pid: &str, start: &str, host: &str| {
            HashMap::from([
                (LABEL_PID.to_string(), pid.to_string()),
                (LABEL_PID_START.to_string(), start.to_string()),
                (LABEL_HOST.to_string(), host.to_string()),
            ])
        };
        let me = std::process::id();
        let my_start = process_start_time(me).unwrap();
        assert_eq!(owner(Some(&labels(&me.to_string(), &my_start, &host)), &host), Owner::Alive { pid: me });
        // Our pid with another start time: a recycled pid, so the owner is gone.
        assert_eq!(owner(Some(&labels(&me.to_string(), "1", &host)), &host), Owner::Gone { pid: me });
        assert_eq!(owner(Some(&labels("4194305", "1", &host)), &host), Owner::Gone { pid: 4_194_305 });
        assert_eq!(
            owner(Some(&labels("4194305", "1", "elsewhere")), &host),
            Owner::OtherHost("elsewhere".into())
        );
        assert_eq!(owner(None, &host), Owner::Unknown);
    }

    #[test]
    fn owner_labels_name_this_process() {
        let labels = owner_labels();
        assert_eq!(labels[0].1, std::process::id().to_string());
        assert!(!labels[1].1.is_empty());
    }
}
