//! The swarm backend: one Docker Swarm service per node, through bollard's
//! Swarm API.
//!
//! Each node is a service with one replica and restart condition `none`, so
//! that faultlab, not swarm, decides when a node comes back. The services
//! share an attachable overlay network for data, in endpoint mode `dnsrr`:
//! no virtual IP and no ingress routing mesh, which both need the kernel's
//! IPVS (absent on many hosts, this test machine's included: there a VIP or
//! an ingress port refuses every connection). Each agent is reached at its
//! task container's address on the overlay; the control port is published
//! in `host` mode (the engine's own port mapping, as on the docker backend)
//! and reached at `127.0.0.1:<port>` on the manager. Measured on the
//! one-node swarm: a TCP connect to the published port and one to the
//! container's bridge address take the same time (p50 18–20 µs, p95
//! 29–82 µs, 300 connects each), and only the published port is reachable
//! from another host.
//! Stable storage is a named volume mounted at `/state` (one per swarm node:
//! on several nodes, a node's storage survives its crash when the task comes
//! back on the same swarm node, which the restart below ensures).
//!
//! Faults, and which way each goes:
//! - crash: SIGKILL to the task's container through the engine of the swarm
//!   node running it (swarm marks the task failed and, restart condition
//!   `none`, leaves it down);
//! - restart: the same container started again through that engine: it
//!   keeps its overlay address (swarm pinned it in the container's config),
//!   so the peers' addresses handed out at deploy stay right; a new task
//!   would get a new address. Swarm leaves the restarted container alone
//!   (its task is over and nothing replaces it). The published port may change;
//!   `start` returns it;
//! - pause / resume: freeze and thaw the task's container through its engine;
//! - isolate / reconnect: in the agent's interposer, over the control channel
//!   (an overlay endpoint of a service task is swarm's to manage).
//!
//! The engine reached is this host's; a task that runs on another swarm node
//! is an error naming that node (see docs/swarm.md for the multi-host plan).
//! Every object carries the docker backend's labels, so teardown,
//! `faultlab clean` and the stale sweep find services and all.

use super::docker::{
    self, image, DockerError, NodeEvent, CONTROL_PORT, DATA_PORT, LABEL_NODE, LABEL_ROLE, LABEL_RUN,
    STATE_DIR,
};
use super::{AgentEndpoint, BackendConfig, NodeLaunch};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpec,
    EndpointSpecModeEnum, Mount, MountBindOptions, MountType, MountVolumeOptions, NetworkAttachmentConfig,
    NetworkCreateRequest, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, Task, TaskSpec,
    TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
    TaskState,
};
use bollard::query_parameters::{ListContainersOptions, ListTasksOptions, PushImageOptions, TagImageOptions};
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use workloads::NodeId;

/// How long a service's task may take to run (first start or restart).
const TASK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a task's state is polled while waiting for it.
const TASK_POLL: Duration = Duration::from_millis(50);

/// Errors of the swarm backend; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "the docker engine is not a swarm manager ({state}): run `docker swarm init --advertise-addr 127.0.0.1` for a one-node swarm, or run faultlab on a manager of your swarm"
    )]
    NotManager { state: String },
    #[error("the service {service} did not run: {reason}")]
    TaskFailed { service: String, reason: String },
    #[error("the service {service} did not run within {within:?} (its task is {state}{detail})")]
    TaskTimeout { service: String, within: Duration, state: String, detail: String },
    #[error(
        "{node} runs on swarm node {swarm_node}, whose engine this orchestrator does not reach; faults act through the engine of the node that runs the task (see docs/swarm.md)"
    )]
    RemoteTask { node: String, swarm_node: String },
    #[error("cannot push the agent image to {registry}: {detail}")]
    Push { registry: String, detail: String },
}

fn api(op: impl Into<String>, source: bollard::errors::Error) -> SwarmError {
    SwarmError::Docker(DockerError::api(op, source))
}

/// One node's service.
#[derive(Clone, Debug)]
struct Service {
    /// The service's name (also its containers' name prefix).
    name: String,
    /// The node's name (`replica-1`).
    node: String,
}

/// What one deployed run owns.
struct Run {
    id: String,
    /// The overlay network's name.
    data_net: String,
    services: BTreeMap<NodeId, Service>,
    events_task: Option<tokio::task::JoinHandle<()>>,
}

/// Agents as swarm services, driven from a manager.
pub struct SwarmBackend {
    docker: Docker,
    /// This engine's swarm node id: tasks elsewhere are out of its reach.
    local_node: String,
    /// Where the image goes for a swarm of several nodes (`host:port`).
    registry: Option<String>,
    run: Option<Run>,
    events: Option<mpsc::UnboundedReceiver<NodeEvent>>,
    image: Option<image::AgentImage>,
}

impl SwarmBackend {
    /// Connect to the local engine, which must be a swarm manager.
    pub async fn connect(registry: Option<String>) -> Result<SwarmBackend, SwarmError> {
        let docker = docker::connect_engine().await?;
        let info = docker.info().await.map_err(|source| api("read the engine's info", source))?;
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm.local_node_state.map(|s| s.to_string()).unwrap_or_else(|| "inactive".into());
        if state != "active" || swarm.control_available != Some(true) {
            let state = if state == "active" { "a worker, not a manager".to_string() } else { state };
            return Err(SwarmError::NotManager { state });
        }
        let local_node = swarm.node_id.unwrap_or_default();
        Ok(SwarmBackend { docker, local_node, registry, run: None, events: None, image: None })
    }

    /// Whether the local engine is an active swarm manager.
    pub async fn available() -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(2), SwarmBackend::connect(None)).await, Ok(Ok(_)))
    }

    /// The bollard client.
    pub fn engine(&self) -> &Docker {
        &self.docker
    }

    /// The agent image of the last deploy.
    pub fn agent_image(&self) -> Option<&image::AgentImage> {
        self.image.as_ref()
    }

    /// The run currently deployed.
    pub fn run_id(&self) -> Option<&str> {
        self.run.as_ref().map(|r| r.id.as_str())
    }

    /// The service name of a node.
    pub fn service_name(&self, node: NodeId) -> Option<&str> {
        self.run.as_ref().and_then(|r| r.services.get(&node)).map(|s| s.name.as_str())
    }

    /// Node state changes (the task containers' die, start, pause, unpause
    /// as the engine reports them). Taken once per deploy.
    pub fn events(&mut self) -> Option<mpsc::UnboundedReceiver<NodeEvent>> {
        self.events.take()
    }

    /// The image reference the services run: the image id on one node (the
    /// engine then never tries to pull it), or the image pushed to the
    /// registry for several.
    async fn image_reference(&mut self, cfg: &BackendConfig) -> Result<String, SwarmError> {
        let image = image::ensure(&self.docker, &cfg.agent_exe).await?;
        let reference = image.reference.clone();
        self.image = Some(image);
        let Some(registry) = self.registry.clone() else {
            let inspected = self
                .docker
                .inspect_image(&reference)
                .await
                .map_err(|source| api(format!("inspect the image {reference}"), source))?;
            return inspected
                .id
                .ok_or_else(|| DockerError::Missing { what: "image id", object: reference.clone() }.into());
        };
        let (repo, tag) = reference.split_once(':').unwrap_or((&reference, "latest"));
        let remote = format!("{registry}/{repo}");
        self.docker
            .tag_image(
                &reference,
                Some(TagImageOptions { repo: Some(remote.clone()), tag: Some(tag.to_string()) }),
            )
            .await
            .map_err(|source| api(format!("tag {reference} as {remote}:{tag}"), source))?;
        let mut push = self.docker.push_image(
            &remote,
            Some(PushImageOptions { tag: Some(tag.to_string()), ..Default::default() }),
            None,
        );
        while let Some(item) = push.next().await {
            let info =
                item.map_err(|e| SwarmError::Push { registry: registry.clone(), detail: e.to_string() })?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(SwarmError::Push { registry, detail });
            }
        }
        Ok(format!("{remote}:{tag}"))
    }

    /// Create the run's overlay network and one service per node, wait until
    /// every task runs, and return each node's endpoint (in the order of
    /// `nodes`). On failure everything created so far is removed.
    pub async fn deploy(
        &mut self,
        cfg: &BackendConfig,
        nodes: &[NodeLaunch],
    ) -> Result<Vec<AgentEndpoint>, SwarmError> {
        if self.run.is_some() {
            return Err(DockerError::AlreadyDeployed.into());
        }
        match self.deploy_inner(cfg, nodes).await {
            Ok(endpoints) => Ok(endpoints),
            Err(e) => {
                self.abort_events();
                self.run = None;
                // Best effort: the deploy error is the one worth reporting.
                let _ = docker::cleanup::remove_run(&self.docker, &cfg.run_id).await;
                Err(e)
            }
        }
    }

    async fn deploy_inner(
        &mut self,
        cfg: &BackendConfig,
        nodes: &[NodeLaunch],
    ) -> Result<Vec<AgentEndpoint>, SwarmError> {
        let image = self.image_reference(cfg).await?;
        let prefix = format!("faultlab-{}", docker::docker_name(&cfg.run_id));
        let mut labels: HashMap<String, String> =
            HashMap::from([(LABEL_RUN.to_string(), cfg.run_id.clone())]);
        labels.extend(docker::cleanup::owner_labels());
        let data_net = format!("{prefix}-data");
        self.run = Some(Run {
            id: cfg.run_id.clone(),
            data_net: String::new(),
            services: BTreeMap::new(),
            events_task: None,
        });

        // The task containers carry the run's labels: the docker backend's
        // event stream serves here too. Subscribed before anything starts.
        let names: HashMap<String, NodeId> = nodes.iter().map(|n| (n.name.clone(), n.id)).collect();
        let (ready_tx, _ready_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(docker::forward_events(
            self.docker.clone(),
            cfg.run_id.clone(),
            names,
            tx,
            ready_tx,
        ));
        if let Some(run) = self.run.as_mut() {
            run.events_task = Some(task);
        }
        self.events = Some(rx);

        self.docker
            .create_network(NetworkCreateRequest {
                name: data_net.clone(),
                driver: Some("overlay".to_string()),
                attachable: Some(true),
                // Not internal: the engine maps a host-mode port through the
                // bridge (docker_gwbridge) a task joins only for a routable network.
                internal: Some(false),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|source| api(format!("create the overlay network {data_net}"), source))?;
        let spec = ServiceTemplate {
            cfg,
            image: &image,
            data_net: &data_net,
            volume: format!("{prefix}-state"),
            labels: &labels,
        };
        let names: Vec<String> =
            nodes.iter().map(|n| format!("{prefix}-{}", docker::docker_name(&n.name))).collect();
        let created = futures::future::join_all(
            nodes.iter().zip(&names).map(|(node, name)| self.create_service(&spec, node, name)),
        )
        .await;
        for r in created {
            r?;
        }
        let ran = futures::future::join_all(names.iter().map(|name| self.wait_running(name, &[]))).await;
        for r in ran {
            r?;
        }
        let mut endpoints = Vec::with_capacity(nodes.len());
        let mut services = BTreeMap::new();
        for (node, name) in nodes.iter().zip(&names) {
            services.insert(node.id, Service { name: name.clone(), node: node.name.clone() });
        }
        if let Some(run) = self.run.as_mut() {
            run.services = services;
            run.data_net = data_net;
        }
        for node in nodes {
            let id = self.container(node.id).await?.ok_or_else(|| SwarmError::TaskFailed {
                service: self.service(node.id).map(|s| s.name.clone()).unwrap_or_default(),
                reason: "its task runs but its container is gone".into(),
            })?;
            endpoints.push(self.endpoint_of(&id).await?);
        }
        Ok(endpoints)
    }

    async fn create_service(
        &self,
        spec: &ServiceTemplate<'_>,
        node: &NodeLaunch,
        name: &str,
    ) -> Result<(), SwarmError> {
        let mut labels = spec.labels.clone();
        labels.insert(LABEL_NODE.to_string(), node.name.clone());
        labels.insert(LABEL_ROLE.to_string(), node.role.clone());
        let mut volume_labels = spec.labels.clone();
        volume_labels.insert(LABEL_ROLE.to_string(), "state".to_string());
        let mounts = std::iter::once(Mount {
            target: Some(STATE_DIR.to_string()),
            source: Some(spec.volume.clone()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(spec.labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .chain(spec.cfg.host_paths.iter().map(|p| Mount {
            target: Some(p.display().to_string()),
            source: Some(p.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            bind_options: Some(MountBindOptions::default()),
            ..Default::default()
        }))
        .collect();
        let service = ServiceSpec {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(spec.image.to_string()),
                    labels: Some(labels),
                    args: Some(vec![
                        "agent".to_string(),
                        "--control".to_string(),
                        format!("0.0.0.0:{CONTROL_PORT}"),
                        "--watchdog".to_string(),
                        format!("{}ms", spec.cfg.watchdog.as_millis()),
                    ]),
                    hostname: Some(node.name.clone()),
                    env: Some(vec![
                        format!("{}={}", node_agent::proto::TOKEN_ENV, spec.cfg.token),
                        format!("FAULTLAB_NODE={}", node.name),
                    ]),
                    mounts: Some(mounts),
                    init: Some(true),
                    // A crash is a SIGKILL anyway; teardown need not wait.
                    stop_grace_period: Some(0),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                placement: (!node.placement.is_empty()).then(|| TaskSpecPlacement {
                    constraints: Some(node.placement.clone()),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(spec.data_net.to_string()),
                    aliases: Some(vec![node.name.clone()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ports: Some(vec![EndpointPortConfig {
                    target_port: Some(i64::from(CONTROL_PORT)),
                    protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                    publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        };
        self.docker
            .create_service(service, None)
            .await
            .map_err(|source| api(format!("create the service {name}"), source))?;
        Ok(())
    }

    /// The service's tasks, newest first.
    async fn tasks(&self, service: &str) -> Result<Vec<Task>, SwarmError> {
        let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
        let mut tasks = self
            .docker
            .list_tasks(Some(ListTasksOptions { filters: Some(filters) }))
            .await
            .map_err(|source| api(format!("list the tasks of {service}"), source))?;
        tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(tasks)
    }

    /// Wait until a task of `service` other than those in `old` runs.
    async fn wait_running(&self, service: &str, old: &[String]) -> Result<Task, SwarmError> {
        let until = Instant::now() + TASK_TIMEOUT;
        loop {
            let tasks = self.tasks(service).await?;
            let newest = tasks.into_iter().find(|t| t.id.as_ref().is_some_and(|id| !old.contains(id)));
            if let Some(task) = newest {
                let status = task.status.clone().unwrap_or_default();
                match status.state {
                    Some(TaskState::RUNNING) => return Ok(task),
                    Some(
                        TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE | TaskState::SHUTDOWN,
                    ) => {
                        let reason =
                            status.err.or(status.message).unwrap_or_else(|| "no reason given".into());
                        return Err(SwarmError::TaskFailed { service: service.to_string(), reason });
                    }
                    // Swarm keeps such a task pending for ever: say so now.
                    Some(TaskState::PENDING)
                        if status.err.as_deref().is_some_and(|e| e.contains("no suitable node")) =>
                    {
                        let constraints = task
                            .spec
                            .and_then(|s| s.placement)
                            .and_then(|p| p.constraints)
                            .unwrap_or_default()
                            .join(", ");
                        let reason = format!(
                            "no swarm node satisfies its placement constraints [{constraints}] ({})",
                            status.err.unwrap_or_default()
                        );
                        return Err(SwarmError::TaskFailed { service: service.to_string(), reason });
                    }
                    state if Instant::now() >= until => {
                        let detail = [status.message, status.err]
                            .into_iter()
                            .flatten()
                            .map(|m| format!(": {m}"))
                            .collect::<String>();
                        let state = state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
                        return Err(SwarmError::TaskTimeout {
                            service: service.to_string(),
                            within: TASK_TIMEOUT,
                            state,
                            detail,
                        });
                    }
                    _ => {}
                }
            } else if Instant::now() >= until {
                return Err(SwarmError::TaskTimeout {
                    service: service.to_string(),
                    within: TASK_TIMEOUT,
                    state: "not created".into(),
                    detail: String::new(),
                });
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }

    /// The published control port and the address on the data network of
    /// a task container on this engine.
    async fn endpoint_of(&self, container: &str) -> Result<AgentEndpoint, SwarmError> {
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|source| api(format!("inspect the container {container}"), source))?;
        let port = docker::published_control_port(&info).ok_or_else(|| DockerError::Missing {
            what: "published control port",
            object: container.to_string(),
        })?;
        let data_net = self.run.as_ref().map(|r| r.data_net.as_str()).unwrap_or_default();
        let ip = info
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut n| n.remove(data_net))
            .and_then(|e| e.ip_address)
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
            .ok_or_else(|| DockerError::Missing {
                what: "address on the data network",
                object: container.to_string(),
            })?;
        Ok(AgentEndpoint {
            control: SocketAddr::from(([127, 0, 0, 1], port)),
            data_listen: SocketAddr::from(([0, 0, 0, 0], DATA_PORT)),
            data_addr: SocketAddr::from((ip, DATA_PORT)),
        })
    }

    fn service(&self, node: NodeId) -> Result<&Service, SwarmError> {
        let run = self.run.as_ref().ok_or(DockerError::NotDeployed)?;
        Ok(run.services.get(&node).ok_or(DockerError::UnknownNode(node))?)
    }

    /// The node's live container on this engine, or None when its task is
    /// down; an error when the task runs on a swarm node out of reach.
    async fn container(&self, node: NodeId) -> Result<Option<String>, SwarmError> {
        self.container_in(node, &["running", "paused"]).await
    }

    /// The node's container on this engine in one of `states`.
    async fn container_in(&self, node: NodeId, states: &[&str]) -> Result<Option<String>, SwarmError> {
        let s = self.service(node)?;
        let run = self.run.as_ref().map(|r| r.id.clone()).unwrap_or_default();
        let filters = HashMap::from([
            ("label".to_string(), vec![format!("{LABEL_RUN}={run}"), format!("{LABEL_NODE}={}", s.node)]),
            ("status".to_string(), states.iter().map(|s| s.to_string()).collect()),
        ]);
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|source| api(format!("list the containers of {}", s.name), source))?;
        if let Some(id) = containers.into_iter().find_map(|c| c.id) {
            return Ok(Some(id));
        }
        // Not here: down, or running on another swarm node.
        let elsewhere = self.tasks(&s.name).await?.into_iter().find(|t| {
            t.status.as_ref().and_then(|st| st.state) == Some(TaskState::RUNNING)
                && t.node_id.as_deref().is_some_and(|n| n != self.local_node)
        });
        match elsewhere {
            Some(t) => Err(SwarmError::RemoteTask {
                node: s.node.clone(),
                swarm_node: t.node_id.unwrap_or_default(),
            }),
            None => Ok(None),
        }
    }

    /// Kill the node's task container (SIGKILL); swarm leaves it down. A node
    /// already down stays down.
    pub async fn crash(&self, node: NodeId) -> Result<(), SwarmError> {
        match self.container(node).await? {
            Some(id) => Ok(docker::kill(&self.docker, &id).await?),
            None => Ok(()),
        }
    }

    /// Start a crashed node again: its container, through the engine that
    /// ran it (see the module doc). A running node is left as is.
    pub async fn start(&self, node: NodeId) -> Result<AgentEndpoint, SwarmError> {
        let id = match self.container(node).await? {
            Some(id) => id,
            None => {
                let dead = self.container_in(node, &["exited", "dead", "created"]).await?;
                let id = dead.ok_or(DockerError::Missing {
                    what: "container to restart",
                    object: self.service(node)?.name.clone(),
                })?;
                match self.docker.start_container(&id, None).await {
                    Ok(()) => {}
                    Err(e) if docker::not_modified(&e) => {}
                    Err(source) => return Err(api(format!("start the container {id}"), source)),
                }
                id
            }
        };
        self.endpoint_of(&id).await
    }

    /// Freeze the node's task container.
    pub async fn pause(&self, node: NodeId) -> Result<(), SwarmError> {
        match self.container(node).await? {
            Some(id) => Ok(docker::pause(&self.docker, &id).await?),
            None => Ok(()),
        }
    }

    /// Thaw the node's task container.
    pub async fn resume(&self, node: NodeId) -> Result<(), SwarmError> {
        match self.container(node).await? {
            Some(id) => Ok(docker::unpause(&self.docker, &id).await?),
            None => Ok(()),
        }
    }

    /// Remove every service, container, network and volume of the run. Idempotent.
    pub async fn teardown(&mut self) -> Result<(), SwarmError> {
        self.abort_events();
        if let Some(run) = self.run.take() {
            docker::cleanup::remove_run(&self.docker, &run.id).await?;
        }
        Ok(())
    }

    fn abort_events(&mut self) {
        if let Some(task) = self.run.as_mut().and_then(|r| r.events_task.take()) {
            task.abort();
        }
    }
}

impl Drop for SwarmBackend {
    fn drop(&mut self) {
        // Last line of defence (early return, panic): nothing outlives its run.
        self.abort_events();
        if let Some(run) = self.run.take() {
            let _ = docker::teardown_blocking(&run.id);
        }
    }
}

/// What every service of a run shares.
struct ServiceTemplate<'a> {
    cfg: &'a BackendConfig,
    image: &'a str,
    data_net: &'a str,
    volume: String,
    labels: &'a HashMap<String, String>,
}

/// One placement constraint as swarm reads it: an expression that already
/// names a swarm attribute (`node.hostname==h1`, `node.labels.zone!=b`)
/// passes as is; `key=value` is the node label `key` equal to `value`.
pub fn constraint(expr: &str) -> Result<String, String> {
    let expr = expr.trim();
    let (key, op, value) = ["==", "!=", "="]
        .iter()
        .find_map(|op| expr.split_once(op).map(|(k, v)| (k.trim(), *op, v.trim())))
        .ok_or_else(|| {
            format!("`{expr}` is not a constraint: expected `key=value` or `node.<attribute>==value`")
        })?;
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !key_ok || value.is_empty() {
        return Err(format!(
            "`{expr}` is not a constraint: expected `key=value` or `node.<attribute>==value`"
        ));
    }
    let op = if op == "=" { "==" } else { op };
    let key = if key.starts_with("node.") || key.starts_with("engine.labels.") {
        key.to_string()
    } else {
        format!("node.labels.{key}")
    };
    Ok(format!("{key}{op}{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_node_labels_unless_they_name_an_attribute() {
        assert_eq!(constraint("zone=a").unwrap(), "node.labels.zone==a");
        assert_eq!(constraint(" zone = a ").unwrap(), "node.labels.zone==a");
        assert_eq!(constraint("node.hostname==h1").unwrap(), "node.hostname==h1");
        assert_eq!(constraint("node.labels.zone!=b").unwrap(), "node.labels.zone!=b");
        assert_eq!(constraint("node.role==manager").unwrap(), "node.role==manager");
        assert!(constraint("zone").unwrap_err().contains("key=value"));
        assert!(constraint("=a").is_err());
        assert!(constraint("zone=").is_err());
        assert!(constraint("zo ne=a").is_err());
    }

    /// The runner spawns backend calls on a multi-threaded runtime.
    #[allow(dead_code)]
    fn backend_futures_are_send(b: &mut SwarmBackend, cfg: &BackendConfig) {
        fn send<T: Send>(_: T) {}
        send(b.deploy(cfg, &[]));
        send(b.crash(NodeId(1)));
        send(b.start(NodeId(1)));
        send(b.pause(NodeId(1)));
        send(b.teardown());
    }
}
