//! Whether the tree's CIDRs fit beside the cluster's own ranges.

use std::net::IpAddr;

use ipnet::IpNet;

use super::Check;
use crate::cidr::{self, CidrRequest};

pub use crate::ranges::FoundRange;

/// What the CIDR check is made from.
#[derive(Clone, Debug)]
pub struct CidrFacts<'a> {
    /// The plan's request, with the cluster's ranges already excluded.
    pub request: &'a CidrRequest,
    /// Clusters of the tree.
    pub clusters: usize,
    pub service_cidrs: &'a [FoundRange],
    pub pod_cidrs: &'a [FoundRange],
    pub node_ips: &'a [IpAddr],
    /// The cluster has nodes (so its pods have addresses somewhere).
    pub has_nodes: bool,
}

use crate::ranges::overlaps;

/// Pools tried in turn when suggesting another `--cidr-pool`.
const CANDIDATE_POOLS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "100.64.0.0/10",
    "192.168.0.0/16",
    "fd00::/8",
];

/// The tree fits in the pools beside the cluster's own ranges.
pub fn cidrs(f: &CidrFacts) -> Check {
    let pools: Vec<String> = f.request.pools.iter().map(|p| p.to_string()).collect();
    let pools = pools.join(", ");
    let clash: Vec<String> = f
        .service_cidrs
        .iter()
        .map(|r| ("service", r))
        .chain(f.pod_cidrs.iter().map(|r| ("pod", r)))
        .filter(|(_, r)| f.request.pools.iter().any(|p| overlaps(p, &r.cidr)))
        .map(|(kind, r)| format!("{kind} CIDR {} ({})", r.cidr, r.source))
        .chain(
            f.node_ips
                .iter()
                .filter(|ip| f.request.pools.iter().any(|p| p.contains(*ip)))
                .map(|ip| format!("node address {ip}")),
        )
        .collect();
    match cidr::allocate(f.request, f.clusters) {
        Ok(nets) => {
            let mut detail = format!(
                "{} in {pools} (first: pods {}, services {})",
                match f.clusters {
                    1 => "1 cluster fits".to_string(),
                    n => format!("{n} clusters fit"),
                },
                nets[0].pod_cidr,
                nets[0].service_cidr
            );
            if !clash.is_empty() {
                detail.push_str(&format!(", avoiding {}", clash.join(", ")));
            }
            if f.service_cidrs.is_empty() {
                return Check::warn(
                    "cidrs",
                    format!("{detail}; this cluster's service CIDR was not found"),
                    "pass --parent-service-cidr CIDR so nothing overlaps it",
                );
            }
            if f.pod_cidrs.is_empty() && f.has_nodes {
                return Check::warn(
                    "cidrs",
                    format!("{detail}; this cluster's pod CIDR was not found"),
                    "pass --parent-pod-cidr CIDR so nothing overlaps it",
                );
            }
            Check::ok("cidrs", detail)
        }
        Err(e) => {
            let mut detail = e.to_string();
            if !clash.is_empty() {
                detail = format!("{detail}; the pool overlaps {}", clash.join(", "));
            }
            let hint = match suggest_pool(f) {
                Some(p) => format!("pass --cidr-pool {p} (it fits the tree beside this cluster's ranges), or a smaller --depth/--width"),
                None => "pass a larger --cidr-pool free of this cluster's ranges, raise --pod-prefix/--service-prefix, or make the tree smaller".into(),
            };
            Check::fail("cidrs", detail, hint)
        }
    }
}

/// A well-known private pool of the same family where the tree fits.
fn suggest_pool(f: &CidrFacts) -> Option<IpNet> {
    let v4 = f.request.pools.first().is_none_or(|p| p.addr().is_ipv4());
    CANDIDATE_POOLS
        .iter()
        .filter_map(|p| p.parse::<IpNet>().ok())
        .filter(|p| p.addr().is_ipv4() == v4 && !f.request.pools.contains(p))
        .find(|p| {
            let req = CidrRequest {
                pools: vec![*p],
                ..f.request.clone()
            };
            cidr::allocate(&req, f.clusters).is_ok()
        })
}
