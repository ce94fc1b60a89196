//! The smoke test's checks, each timed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{ListParams, LogParams, Patch, PatchParams};
use nesting::manifests::NODE_CONTAINER;
use nesting::node::AgentConfig;
use nesting::smoke;

use super::{Check, Smoke, get, retry, sh};

/// Every node answers on the NodePort, asked from inside another node
/// Pod through the parent's API: nothing here connects to cluster
/// addresses itself, as those may not be routed on this machine.
pub(super) async fn node_port(s: &Smoke<'_>) -> Result<Check> {
    let t = Instant::now();
    let path = s.path;
    let node_pods_api = s.node_pods.clone();
    let node_list = s.nodes.clone();
    let port = s.port;
    let deadline = s.deadline;
    let node_pods: Vec<(IpAddr, String)> = node_pods_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|p| Some((p.status?.pod_ip?.parse().ok()?, p.metadata.name?)))
        .collect();
    for n in &node_list {
        let name = n.metadata.name.clone().unwrap_or_default();
        let ip: IpAddr = nesting::node::NodeView::of(n)
            .ip
            .ok_or_else(|| anyhow!("node {name} has no InternalIP"))?;
        let (_, from) = node_pods
            .iter()
            .find(|(pod_ip, _)| *pod_ip != ip)
            .or_else(|| node_pods.first())
            .ok_or_else(|| anyhow!("cluster {path} has no node Pods"))?;
        retry(deadline, || async {
            let r = get(&node_pods_api, from, Some(NODE_CONTAINER), ip, port as u16).await?;
            if smoke::answered(&r) {
                Ok(())
            } else {
                bail!(
                    "node {name} ({ip}:{port}) answered: {}",
                    r.lines().next().unwrap_or("nothing")
                )
            }
        })
        .await
        .with_context(|| {
            format!("node {name} of cluster {path} does not answer on NodePort {port}")
        })?;
    }
    Ok(Check {
        name: "NodePort",
        detail: format!("port {port} answered on all {} nodes", node_list.len()),
        took: t.elapsed(),
    })
}

/// Pod to Pod, every ordered pair of nodes.
pub(super) async fn pod_network(s: &Smoke<'_>) -> Result<Check> {
    let t = Instant::now();
    let web = s.web.clone();
    let pods = s.pods.clone();
    let deadline = s.deadline;
    let mut pairs = 0;
    for (a, _, a_node) in &pods {
        for (b, b_ip, b_node) in pods.iter().filter(|(b, ..)| b != a) {
            retry(deadline, || async {
                let r = get(&web, a, None, *b_ip, smoke::PORT as u16).await?;
                match smoke::answered_by(&r) {
                    Some(who) if who == b => Ok(()),
                    _ => bail!("{}", r.lines().last().unwrap_or("no answer")),
                }
            })
            .await
            .with_context(|| {
                format!("Pod {a} on node {a_node} cannot reach Pod {b} ({b_ip}) on node {b_node}")
            })?;
            pairs += 1;
        }
    }
    Ok(Check {
        name: "pod network",
        detail: format!("{pairs} Pod pairs across nodes"),
        took: t.elapsed(),
    })
}

/// The ClusterIP reaches the backend on every node.
pub(super) async fn service(s: &Smoke<'_>) -> Result<Check> {
    let t = Instant::now();
    let web = s.web.clone();
    let pods = s.pods.clone();
    let cluster_ip = s.cluster_ip;
    let deadline = s.deadline;
    let (from, ..) = &pods[0];
    let all: BTreeSet<&str> = pods.iter().map(|(n, ..)| n.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut asked = 0;
    while seen.len() < all.len() {
        if Instant::now() > deadline || asked >= 40 * all.len() {
            bail!(
                "Service {}/{} at {cluster_ip} reached only {seen:?} of {all:?} after {asked} requests from Pod {from}",
                smoke::NAMESPACE,
                smoke::NAME
            );
        }
        asked += 1;
        if let Ok(r) = get(&web, from, None, cluster_ip, 80).await
            && let Some(who) = smoke::answered_by(&r)
            && let Some(known) = all.get(who)
        {
            seen.insert(*known);
        }
    }
    Ok(Check {
        name: "Service",
        detail: format!(
            "ClusterIP {cluster_ip} reached all {} backends in {asked} requests",
            all.len()
        ),
        took: t.elapsed(),
    })
}

/// DNS from every node: the Service's name and another Pod's name.
pub(super) async fn dns(s: &Smoke<'_>, cfg: &AgentConfig) -> Result<Check> {
    let t = Instant::now();
    let web = s.web.clone();
    let node_list = s.nodes.clone();
    let pods = s.pods.clone();
    let cluster_ip = s.cluster_ip;
    let deadline = s.deadline;
    let svc_name = smoke::service_dns_name(&cfg.cluster_domain);
    for (i, (a, _, a_node)) in pods.iter().enumerate() {
        let (_, b_ip, _) = &pods[(i + 1) % pods.len()];
        let pod_name = smoke::pod_dns_name(*b_ip, smoke::NAMESPACE, &cfg.cluster_domain);
        for (name, want) in [(&svc_name, cluster_ip), (&pod_name, *b_ip)] {
            retry(deadline, || async {
                let (ok, r) = sh(&web, a, None, &format!("getent hosts {name}")).await?;
                let got = r
                    .split_whitespace()
                    .next()
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                if ok && got == Some(want) {
                    Ok(())
                } else {
                    bail!("getent hosts {name} gave {:?}", r.trim())
                }
            })
            .await
            .with_context(|| {
                format!("DNS in Pod {a} on node {a_node}: {name} does not resolve to {want}")
            })?;
        }
    }
    Ok(Check {
        name: "DNS",
        detail: format!(
            "{svc_name} and Pod names resolve on all {} nodes",
            node_list.len()
        ),
        took: t.elapsed(),
    })
}

/// A packet of the full MTU, not fragmented, between every pair.
pub(super) async fn mtu(s: &Smoke<'_>) -> Result<Check> {
    let t = Instant::now();
    let web = s.web.clone();
    let pods = s.pods.clone();
    let deadline = s.deadline;
    let mut mtu = 0;
    for (a, a_ip, a_node) in &pods {
        let (_, m) = sh(&web, a, None, "cat /sys/class/net/eth0/mtu").await?;
        mtu = m
            .trim()
            .parse()
            .with_context(|| format!("Pod {a}: eth0 MTU {m:?}"))?;
        for (b, b_ip, b_node) in pods.iter().filter(|(b, ..)| b != a) {
            let size = smoke::ping_payload(mtu, *a_ip);
            retry(deadline, || async {
                let (ok, r) = sh(&web, a, None, &format!("ping -c 1 -W 3 -M do -s {size} {b_ip}")).await?;
                if ok { Ok(()) } else { bail!("{}", r.trim()) }
            })
            .await
            .with_context(|| format!("a {mtu}-byte packet from Pod {a} on node {a_node} does not reach Pod {b} on node {b_node}"))?;
        }
    }
    Ok(Check {
        name: "MTU",
        detail: format!("{mtu}-byte packets cross between every pair of nodes"),
        took: t.elapsed(),
    })
}

/// A claim of the default class binds on every node, and a Pod there
/// writes into its volume and reads it back.
pub(super) async fn volumes(s: &Smoke<'_>) -> Result<Check> {
    let t = Instant::now();
    let client = s.web.clone().into_client();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), smoke::NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client, smoke::NAMESPACE);
    let pp = PatchParams::apply(crate::apply::FIELD_MANAGER);
    let hosts: Vec<String> = s
        .nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/hostname").cloned())
                .unwrap_or(name)
        })
        .collect();
    for host in &hosts {
        let claim = smoke::volume_claim(host);
        let name = claim.metadata.name.clone().unwrap_or_default();
        claims
            .patch(&name, &pp, &Patch::Apply(&claim))
            .await
            .with_context(|| format!("cannot create claim {name} in cluster {}", s.path))?;
        let pod = smoke::volume_pod(host, s.image);
        let name = pod.metadata.name.clone().unwrap_or_default();
        pods.patch(&name, &pp, &Patch::Apply(&pod))
            .await
            .with_context(|| format!("cannot create Pod {name} in cluster {}", s.path))?;
    }
    for host in &hosts {
        let pod = format!("volume-{host}");
        let claim = format!("data-{host}");
        let token = smoke::volume_token(host);
        retry(s.deadline, || async {
            let c = claims.get(&claim).await?;
            let phase = c.status.and_then(|st| st.phase).unwrap_or_default();
            if phase != "Bound" {
                bail!("claim {claim} is {phase}, not Bound");
            }
            let log = pods.logs(&pod, &LogParams::default()).await.unwrap_or_default();
            if log.lines().any(|l| l == token) {
                Ok(())
            } else {
                bail!("Pod {pod} has not read back what it wrote")
            }
        })
        .await
        .with_context(|| {
            format!(
                "no working volume on node {host} of cluster {}: claim {claim} of the default class, Pod {pod}",
                s.path
            )
        })?;
    }
    Ok(Check {
        name: "volumes",
        detail: format!(
            "a claim of the default class bound, written and read back on each of {} nodes",
            hosts.len()
        ),
        took: t.elapsed(),
    })
}
