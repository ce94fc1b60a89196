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
pub fn check_workers(path: &str, pod_cidr: &IpNet, workers: u32) -> Result<(), String> {
    let cap = node_capacity(pod_cidr).min(crate::cidr::MAX_NODES as u64);
    if u64::from(workers) + 1 > cap {
        return Err(format!(
            "cluster {path} cannot hold {workers} workers: its pod CIDR {pod_cidr} has room for {cap} nodes (one /{} each), the control plane included; ask for at most {} workers",
            node_prefix(pod_cidr),
            cap - 1
        ));
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
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_prefix() {
        assert_eq!(node_capacity(&"10.0.0.0/16".parse().unwrap()), 256);
        assert_eq!(node_capacity(&"10.0.0.0/24".parse().unwrap()), 1);
        assert_eq!(node_capacity(&"10.0.0.0/22".parse().unwrap()), 4);
        assert_eq!(node_capacity(&"fd00::/56".parse().unwrap()), 256);
        assert_eq!(node_capacity(&"::/0".parse().unwrap()), u64::MAX);
    }

    #[test]
    fn too_many_workers_are_refused_with_what_fits() {
        let small: IpNet = "10.1.0.0/22".parse().unwrap();
        assert!(check_workers("lab/0", &small, 3).is_ok());
        let e = check_workers("lab/0", &small, 4).unwrap_err();
        assert!(
            e.contains("lab/0") && e.contains("at most 3 workers"),
            "{e}"
        );
    }

    #[test]
    fn nodes_without_their_pod_are_stale() {
        let nodes = ["control-plane-0", "workers-abc-1", "workers-abc-2"];
        let pods = ["control-plane-0", "Workers-abc-2", "workers-abc-3"];
        assert_eq!(stale_nodes(nodes, pods), ["workers-abc-1"]);
        assert!(stale_nodes(nodes, nodes).is_empty());
    }
}
