//! Writes to Nodes: the control plane's agent gives each node its podCIDR
//! from the planned list (kube-controller-manager's allocator is off), and
//! every agent publishes its pod network's MTU on its own Node.

use std::collections::BTreeMap;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use nesting::node::{self, NodeView};
use serde_json::json;

/// The control plane's allocator: remembers what it gave, because the Node
/// list it works from (a watch) shows a patch only some time after it was
/// made, and a node must never get a podCIDR another node already holds.
#[derive(Debug, Default)]
pub struct Allocator {
    given: BTreeMap<String, IpNet>,
}

impl Allocator {
    /// Fills in what was given and not seen yet, then gives the rest.
    pub async fn run(
        &mut self,
        nodes: &Api<Node>,
        views: &mut [NodeView],
        planned: &[IpNet],
        control_plane: &str,
    ) {
        for v in views.iter_mut() {
            match (v.pod_cidr, self.given.get(&v.name)) {
                (None, Some(c)) => v.pod_cidr = Some(*c),
                // Seen: the watch caught up.
                (Some(_), Some(_)) => {
                    self.given.remove(&v.name);
                }
                _ => {}
            }
        }
        for (name, cidr) in allocate(nodes, views, planned, control_plane).await {
            if let Some(v) = views.iter_mut().find(|v| v.name == name) {
                v.pod_cidr = Some(cidr);
            }
            self.given.insert(name, cidr);
        }
    }
}

/// Gives every node without a podCIDR one (see `nesting::node::allocations`)
/// and returns those that took. A refused patch is logged and tried again
/// on the next change of the Node list.
pub async fn allocate(
    nodes: &Api<Node>,
    views: &[NodeView],
    planned: &[IpNet],
    control_plane: &str,
) -> Vec<(String, IpNet)> {
    let mut given = Vec::new();
    let wanted = node::allocations(views, planned, control_plane);
    if wanted.len() < views.iter().filter(|v| v.pod_cidr.is_none()).count() {
        tracing::warn!(
            "the pod network holds {} nodes: some nodes get no podCIDR",
            planned.len()
        );
    }
    for (name, cidr) in wanted {
        let patch = json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
        match nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!("podCIDR {cidr} given to node {name}");
                given.push((name, cidr));
            }
            Err(e) => tracing::warn!("cannot give podCIDR {cidr} to node {name}: {e}"),
        }
    }
    given
}

/// Puts the pod network's MTU on this node's annotations (`tree` shows it).
/// True once done.
pub async fn publish_mtu(nodes: &Api<Node>, me: &str, mtu: u32) -> bool {
    let patch = json!({"metadata": {"annotations": {node::MTU_ANNOTATION: mtu.to_string()}}});
    match nodes
        .patch(me, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("cannot annotate node {me} with its MTU: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests;
