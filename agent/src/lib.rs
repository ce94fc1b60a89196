//! The node agent: what runs inside a node Pod besides containerd, kubelet
//! and kubeadm. It keeps the node's pod network (podCIDRs given out by the
//! control plane's agent, the CNI config, a VXLAN overlay to every other
//! node from the Node list), serves cluster DNS, and provisions local
//! volumes for the default StorageClass. Before the node starts it sets
//! its cgroups up (`cgroups`).
//!
//! What it decides comes from `nesting::node` and `nesting::dns`; this crate
//! watches the cluster and carries it out.

pub mod alloc;
pub mod cgroups;
pub mod cluster;
pub mod dns;
pub mod docker_stub;
pub mod join;
pub mod net;
pub mod overlay;
pub mod readdress;
pub mod renew;
pub mod storage;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use nesting::node::{self, AgentConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    ControlPlane,
    Worker,
}

#[derive(Debug, Parser)]
#[command(
    name = "inception-agent",
    version,
    about = "kubectl-inception's node agent",
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// This node's role in its cluster.
    #[arg(long, value_enum, required = true)]
    pub role: Option<Role>,
    /// The agent's config (the bootstrap ConfigMap's agent.json).
    #[arg(long, default_value_t = format!("{}/{}", node::BOOTSTRAP_DIR, node::AGENT_CONFIG_KEY))]
    pub config: String,
    /// This node's name (default: the host name, lower case, as kubelet registers it).
    #[arg(long)]
    pub node_name: Option<String>,
    /// This node's address on its parent's network (default: $POD_IP).
    #[arg(long, env = "POD_IP")]
    pub node_ip: Option<std::net::IpAddr>,
}

/// What the agent does besides running a node (the default).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Only local volumes, with the default StorageClass: what the lab
    /// runs on its machine so its clusters' node Pods get claims.
    Volumes {
        #[arg(long)]
        kubeconfig: String,
        /// The node whose claims it provisions.
        #[arg(long)]
        node_name: String,
        /// The volumes directory, a directory per volume (an absolute path).
        #[arg(long)]
        dir: String,
    },
    /// Before containerd and kubelet: make the node's cgroups fit for
    /// kubelet (v1: binds at the Pod's cgroup path; v2: processes into a
    /// leaf, controllers enabled, /kubelet made).
    Cgroups {
        /// Only print `yes` if the entrypoint must first re-execute itself
        /// in a cgroup namespace (cgroup v2 without one), else `no`.
        #[arg(long)]
        needs_namespace: bool,
    },
    /// A worker, before `kubeadm join`: wait (at most --timeout) until the
    /// control plane takes joins, looking every half second.
    JoinWait {
        /// How long to wait before leaving it to kubeadm's own discovery.
        #[arg(long, default_value = "10m", value_parser = parse_secs)]
        timeout: std::time::Duration,
    },
    /// Before kubelet starts: if this node last started with another
    /// address (its Pod was recreated), rewrite what names the old one.
    Readdress {
        /// This node's address now (default: $POD_IP).
        #[arg(long, env = "POD_IP")]
        node_ip: std::net::IpAddr,
    },
}

fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s}: a number of s or m, like 90s or 10m"))?;
    match unit {
        "" | "s" => Ok(std::time::Duration::from_secs(n)),
        "m" => Ok(std::time::Duration::from_secs(n * 60)),
        _ => Err(format!("{s}: a number of s or m, like 90s or 10m")),
    }
}

/// Logs on stderr; `quiet_client` leaves out the kube client's own error
/// lines (a wait that expects refusals says what it waits for itself).
pub fn init_logs(quiet_client: bool) {
    let default = if quiet_client {
        "info,hickory_server=warn,kube_client=off"
    } else {
        "info,hickory_server=warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("INCEPTION_AGENT_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .init();
}

pub fn read_config(path: &str) -> Result<AgentConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the agent config {path}"))?;
    AgentConfig::from_json(&text).with_context(|| format!("the agent config {path} is not valid"))
}

fn host_name() -> Result<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("cannot read the host name")?;
    Ok(h.trim().to_lowercase())
}

/// Waits for a kubeconfig kubeadm writes, then makes a client from it. A
/// kubelet's kubeconfig names its client certificate, which kubelet writes
/// a moment after: until then, the agent waits too.
async fn client_from(path: &str) -> Result<kube::Client> {
    let p = PathBuf::from(path);
    let mut said = false;
    let start = std::time::Instant::now();
    loop {
        match client_now(&p).await {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() > std::time::Duration::from_secs(600) => return Err(e),
            Err(e) => {
                if !said {
                    tracing::info!("waiting for {path}: {e:#}");
                    said = true;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn client_now(p: &std::path::Path) -> Result<kube::Client> {
    let path = p.display();
    let kc =
        kube::config::Kubeconfig::read_from(p).with_context(|| format!("cannot read {path}"))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .with_context(|| format!("cannot use {path}"))?;
    kube::Client::try_from(cfg).with_context(|| format!("cannot make a client from {path}"))
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Volumes {
            kubeconfig,
            node_name,
            dir,
        }) => return volumes_only(&kubeconfig, node_name, dir).await,
        Some(Command::Readdress { node_ip }) => return readdress::run(node_ip),
        Some(Command::Cgroups { needs_namespace }) => return cgroups::apply::run(needs_namespace),
        Some(Command::JoinWait { timeout }) => {
            let cfg = read_config(&cli.config)?;
            let endpoint = cfg.apiserver.context(
                "the agent config names no apiserver (made by an older kubectl-inception)",
            )?;
            let token = std::fs::read_to_string(join::TOKEN_FILE)
                .with_context(|| format!("cannot read {}", join::TOKEN_FILE))?;
            return join::wait(&endpoint, &token, timeout).await;
        }
        None => {}
    }
    // kubelet's cAdvisor waits 5 s for a Docker unless one answers.
    tokio::spawn(async {
        if let Err(e) = docker_stub::serve(std::path::Path::new(docker_stub::SOCKET)).await {
            tracing::warn!("no Docker stand-in for kubelet's cAdvisor: {e:#}");
        }
    });
    let role = cli.role.context("--role is required")?;
    let cfg = read_config(&cli.config)?;
    let me = match cli.node_name {
        Some(n) => n,
        None => host_name()?,
    };
    let link = net::Link::find(cli.node_ip)?;
    tracing::info!(
        "node {me} ({:?}): {} on {} mtu {}, pod network mtu {}",
        role,
        link.ip,
        link.name,
        link.mtu,
        link.pod_mtu()
    );
    let control_plane = role == Role::ControlPlane;
    // A new node's network is known before it registers: the control
    // plane's the first planned one, a worker's its own unless another node
    // holds it (only a node that has not joined yet: once it has, its Node
    // says which, and a wrong guess would give Pods addresses of another).
    let own = if control_plane {
        cfg.node_pod_cidrs.first().copied()
    } else if std::path::Path::new(node::KUBELET_KUBECONFIG).exists() {
        None
    } else {
        node::worker_cidr(&me, &cfg.node_pod_cidrs)
    };
    if let Some(cidr) = own {
        net::write_cni(&cidr, link.pod_mtu())?;
    }
    net::masquerade(&cfg.cluster_pod_cidr).await?;
    let overlay = overlay::Overlay::create(&link).await?;
    let kubeconfig = if control_plane {
        node::ADMIN_KUBECONFIG
    } else {
        node::KUBELET_KUBECONFIG
    };
    let client = client_from(kubeconfig).await?;
    // Local volumes: the control plane's agent makes the default class,
    // every agent provisions the claims scheduled to its node.
    let volumes = {
        let client = client.clone();
        let me = me.clone();
        async move {
            if control_plane {
                cluster::ensure_storage(&client).await;
                tokio::try_join!(
                    storage::run(client, me, nesting::storage::VOLUMES_DIR.into()),
                    renew::run()
                )?;
                return Ok(());
            }
            storage::run(client, me, nesting::storage::VOLUMES_DIR.into()).await
        }
    };

    if cfg.dns == node::Dns::Coredns {
        tracing::info!("cluster DNS left to CoreDNS");
        tokio::try_join!(
            net::run(client, cfg, me, link, overlay, control_plane),
            volumes
        )?;
        return Ok(());
    }
    // Cluster DNS on this node, for names of the cluster domain; the rest
    // goes to the node Pod's own resolvers.
    let store = dns::Store::new(&cfg.cluster_domain);
    // On the node's own address, not the wildcard: a UDP answer must leave
    // from the address it was asked on, and a wildcard socket would answer
    // Pods of this node from the bridge's address.
    let listen = std::net::SocketAddr::new(link.ip, 53);
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream: Vec<_> = dns::upstreams_from_resolv_conf(&resolv)
        .into_iter()
        // Loopback in a node Pod is this agent itself.
        .filter(|u| {
            u.ip() != link.ip
                && u.ip() != cfg.dns_ip
                && !u.ip().is_unspecified()
                && !u.ip().is_loopback()
        })
        .collect();
    tracing::info!(
        "cluster DNS for {} on {listen}, upstream {upstream:?}",
        cfg.cluster_domain
    );
    let domain = cfg.cluster_domain.clone();
    tokio::try_join!(
        net::run(client.clone(), cfg, me, link, overlay, control_plane),
        dns::watch(client, domain, store.clone()),
        dns::serve(listen, store, upstream),
        volumes,
    )?;
    Ok(())
}

/// The default StorageClass and its provisioner for one node, nothing else.
async fn volumes_only(kubeconfig: &str, node: String, dir: String) -> Result<()> {
    anyhow::ensure!(
        dir.starts_with('/'),
        "--dir {dir}: give an absolute path (the volumes' paths on the node)"
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {dir}"))?;
    let client = client_from(kubeconfig).await?;
    tracing::info!("local volumes of node {node} in {dir}");
    cluster::ensure_storage(&client).await;
    storage::run(client, node, dir).await
}
