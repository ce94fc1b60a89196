//! Worker counts a cluster can hold, and which of its nodes are gone.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::cidr::node_prefix;

/// How many nodes a pod CIDR can hold: the node agent on the control plane
/// gives each node a /24 (IPv4) or a /64 (IPv6) of it, from the planned list
/// (see [`crate::cidr::node_cidrs`]).
pub fn node_capacity(pod_cidr: &IpNet) -> u64 {
    let bits = node_prefix(pod_cidr).saturating_sub(pod_cidr.prefix_len());
    1u64.checked_shl(u32::from(bits)).unwrap_or(u64::MAX)
}

/// Checks a wanted worker count against the cluster's pod CIDR (one node
/// is the control plane). The error says what fits.
pub fn check_workers(
    path: &crate::ClusterPath,
    pod_cidr: &IpNet,
    workers: u32,
) -> Result<(), crate::Error> {
    let capacity = node_capacity(pod_cidr).min(crate::cidr::MAX_NODES as u64);
    if u64::from(workers) + 1 > capacity {
        return Err(crate::Error::TooManyWorkers {
            path: path.to_string(),
            workers,
            pod_cidr: *pod_cidr,
            capacity,
            node_prefix: node_prefix(pod_cidr),
        });
    }
    Ok(())
}

/// Nodes of the inner cluster whose node Pod no longer exists: a node is
/// named after its Pod's hostname, which is the Pod's name.
pub fn stale_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a str>,
    pods: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let pods: BTreeSet<String> = pods.into_iter().map(|p| p.to_ascii_lowercase()).collect();
    nodes
        .into_iter()
        .filter(|n| !pods.contains(*n))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
