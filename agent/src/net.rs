//! The node's side of the pod network: its link to the parent network, the
//! CNI config, masquerading, and the loop that follows the Node list.
//!
//! Links, routes and rules are set with iproute2 and iptables (both in the
//! node image) rather than a netlink crate: `ip ... replace` converges in
//! one call, `ip -j` gives stable JSON to read back, and `iptables` is the
//! wrapper that picks the backend kube-proxy uses, which no crate knows.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use nesting::node::{self, AgentConfig, NodeView};
use serde::Deserialize;

use crate::overlay::Overlay;

/// Runs a command, returning its stdout; fails with its stderr.
pub async fn cmd(program: &str, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The node Pod's interface on the parent's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub ip: IpAddr,
    pub mtu: u32,
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    mtu: u32,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Deserialize)]
struct IpAddrInfo {
    local: IpAddr,
    #[serde(default)]
    scope: String,
}

impl Link {
    /// The interface holding `ip` (or the first global address outside
    /// loopback and the node's own devices) from `ip -j addr show`.
    pub fn from_ip_json(json: &str, ip: Option<IpAddr>) -> Result<Link> {
        let links: Vec<IpLink> =
            serde_json::from_str(json).context("cannot read `ip -j addr show`")?;
        for l in &links {
            if l.ifname == "lo"
                || l.ifname == "cni0"
                || l.ifname == node::VXLAN_DEVICE
                || l.ifname.starts_with("veth")
            {
                continue;
            }
            for a in &l.addr_info {
                let wanted = match ip {
                    Some(ip) => a.local == ip,
                    None => a.scope == "global",
                };
                if wanted {
                    return Ok(Link {
                        name: l.ifname.clone(),
                        ip: a.local,
                        mtu: l.mtu,
                    });
                }
            }
        }
        match ip {
            Some(ip) => Err(anyhow!("no interface holds the node address {ip}")),
            None => Err(anyhow!("no interface with a global address: set POD_IP")),
        }
    }

    pub fn find(ip: Option<IpAddr>) -> Result<Link> {
        let out = std::process::Command::new("ip")
            .args(["-j", "addr", "show"])
            .output()
            .context("cannot run ip")?;
        Link::from_ip_json(&String::from_utf8_lossy(&out.stdout), ip)
    }

    pub fn pod_mtu(&self) -> u32 {
        node::pod_mtu(self.mtu, self.ip)
    }
}

/// Writes the CNI config for this node's podCIDR unless it holds it already.
pub fn write_cni(cidr: &IpNet, mtu: u32) -> Result<bool> {
    let path = std::path::Path::new(node::CNI_CONFIG);
    if let Ok(old) = std::fs::read_to_string(path)
        && node::read_cni_config(&old) == Some((*cidr, mtu))
    {
        return Ok(false);
    }
    let dir = path.parent().expect("a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, node::cni_config(cidr, mtu))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("pod network {cidr} mtu {mtu} written to {}", path.display());
    Ok(true)
}

fn iptables_for(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "iptables",
        IpNet::V6(_) => "ip6tables",
    }
}

/// Pod traffic leaving the cluster's pod network goes out with the node's
/// address; traffic between pods keeps its source. Rules are added only
/// where missing, so a restarted agent adds nothing twice.
pub async fn masquerade(cluster: &IpNet) -> Result<()> {
    let ipt = iptables_for(cluster);
    let chain = node::MASQUERADE_CHAIN;
    if cmd(ipt, &["-w", "5", "-t", "nat", "-n", "-L", chain])
        .await
        .is_err()
    {
        cmd(ipt, &["-w", "5", "-t", "nat", "-N", chain]).await?;
    }
    let cidr = cluster.to_string();
    let mut rules: Vec<(String, Vec<String>)> = node::masquerade_rules(cluster)
        .into_iter()
        .map(|r| (chain.to_string(), r))
        .collect();
    rules.push((
        "POSTROUTING".into(),
        vec!["-s".into(), cidr, "-j".into(), chain.into()],
    ));
    for (ch, rule) in rules {
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        let mut check = vec!["-w", "5", "-t", "nat", "-C", &ch];
        check.extend(&rule);
        if cmd(ipt, &check).await.is_ok() {
            continue;
        }
        let mut add = vec!["-w", "5", "-t", "nat", "-A", &ch];
        add.extend(&rule);
        cmd(ipt, &add).await?;
    }
    Ok(())
}

/// Follows the Node list for good: gives out podCIDRs (control plane),
/// writes this node's CNI config once it has one, keeps the overlay's
/// peers, and publishes the pod network's MTU on its own Node.
pub async fn run(
    client: Client,
    cfg: AgentConfig,
    me: String,
    link: Link,
    mut overlay: Overlay,
    control_plane: bool,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let (reader, writer) = reflector::store();
    let stream =
        reflector(writer, watcher(nodes.clone(), watcher::Config::default())).default_backoff();
    futures::pin_mut!(stream);
    let mut own: Option<IpNet> = None;
    let mut published = false;
    let mut ready = false;
    let mut dns_made = false;
    let mut allocator = crate::alloc::Allocator::default();
    let mut dns_nodes: Option<Vec<IpAddr>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => ready = true,
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("watching Nodes: {e}");
                continue;
            }
        }
        if !ready {
            continue;
        }
        let mut views: Vec<NodeView> = reader.state().iter().map(|n| NodeView::of(n)).collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        if control_plane {
            allocator
                .run(&nodes, &mut views, &cfg.node_pod_cidrs, &me)
                .await;
        }
        let mine = views.iter().find(|v| v.name == me).and_then(|v| v.pod_cidr);
        if let Some(cidr) = mine
            && own != Some(cidr)
        {
            write_cni(&cidr, link.pod_mtu())?;
            overlay.set_own(&cidr).await?;
            own = Some(cidr);
        }
        if let Err(e) = overlay.sync(&node::peers(&views, &me)).await {
            tracing::warn!("overlay: {e:#}");
        }
        if control_plane && cfg.dns == node::Dns::Builtin {
            if !dns_made {
                match crate::cluster::ensure_dns(&client, cfg.dns_ip).await {
                    Ok(()) => dns_made = true,
                    Err(e) => tracing::warn!("{e:#}"),
                }
            }
            let ips: Vec<IpAddr> = views.iter().filter_map(|v| v.ip).collect();
            if dns_made && dns_nodes.as_ref() != Some(&ips) {
                match crate::cluster::dns_endpoints(&client, &views).await {
                    Ok(()) => dns_nodes = Some(ips),
                    Err(e) => tracing::warn!("{e:#}"),
                }
            }
        }
        if !published && views.iter().any(|v| v.name == me) {
            published = crate::alloc::publish_mtu(&nodes, &me, link.pod_mtu()).await;
        }
    }
    bail!("the Node watch ended")
}

#[cfg(test)]
mod tests;
