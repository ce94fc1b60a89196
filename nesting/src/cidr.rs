//! Pod and service CIDRs for every cluster of a tree.
//!
//! Blocks are carved first-fit from the pool, largest blocks first (all pod
//! CIDRs, then all service CIDRs) so that aligned blocks pack without holes.
//! Nothing handed out overlaps another block, the parent's ranges, node
//! addresses or user exclusions. Same input, same output.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::{PoolError, PrefixError};

mod carve;

use carve::{Carver, Span, nth_ip, span};

/// Default pool when none is given.
pub const DEFAULT_POOL: &str = "10.0.0.0/8";

/// Networks of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Networks {
    #[serde(rename = "podCIDR")]
    pub pod_cidr: IpNet,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: IpNet,
    /// The in-cluster `kubernetes` Service IP: the first address of the service CIDR.
    #[serde(rename = "kubernetesServiceIP")]
    pub kubernetes_service_ip: IpAddr,
    /// Cluster DNS IP: the tenth address of the service CIDR (kubeadm's choice).
    #[serde(rename = "dnsIP")]
    pub dns_ip: IpAddr,
}

/// What to carve from and what to avoid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrRequest {
    pub pools: Vec<IpNet>,
    /// Parent pod CIDRs, parent service CIDR, user exclusions.
    pub exclude: Vec<IpNet>,
    /// Parent node addresses.
    pub node_ips: Vec<IpAddr>,
    /// Pod CIDR prefix length; `None` picks the family default.
    pub pod_prefix: Option<u8>,
    /// Service CIDR prefix length; `None` picks the family default.
    pub service_prefix: Option<u8>,
}

impl Default for CidrRequest {
    fn default() -> Self {
        CidrRequest {
            pools: vec![DEFAULT_POOL.parse().unwrap()],
            exclude: Vec::new(),
            node_ips: Vec::new(),
            pod_prefix: None,
            service_prefix: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Pod prefix: default, and the accepted range. Nodes get /24 (v4) or
    /// /64 (v6) each, with at most 16 bits between.
    fn pod_prefix(self) -> (u8, u8, u8) {
        match self {
            Family::V4 => (16, 8, 24),
            Family::V6 => (56, 48, 64),
        }
    }

    /// Service prefix: default, and the range the apiserver accepts.
    fn service_prefix(self) -> (u8, u8, u8) {
        match self {
            Family::V4 => (20, 12, 28),
            Family::V6 => (112, 108, 120),
        }
    }
}

/// Parses CIDR text, saying which flag it came from when it is wrong.
pub fn parse_cidr(flag: &str, text: &str) -> Result<IpNet, Error> {
    let net: IpNet = text.trim().parse().map_err(|_| Error::BadCidr {
        flag: flag.to_string(),
        value: text.to_string(),
        reason: "expected an address/prefix such as 10.0.0.0/8 or fd00::/48".into(),
    })?;
    if net.trunc() != net {
        return Err(Error::BadCidr {
            flag: flag.to_string(),
            value: text.to_string(),
            reason: format!("host bits are set; did you mean {}?", net.trunc()),
        });
    }
    Ok(net)
}

/// Ranges whose addresses are not for clusters, with what they are.
const SPECIAL: [(&str, &str); 9] = [
    ("0.0.0.0/8", "\"this network\""),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// Why a pool cannot be used, if it cannot: it covers every address or
/// overlaps a special range.
pub fn unusable(pool: &IpNet) -> Option<String> {
    if pool.prefix_len() == 0 {
        return Some("covers every address".into());
    }
    SPECIAL.iter().find_map(|(range, what)| {
        let range: IpNet = range.parse().ok()?;
        let overlaps = range.contains(&pool.network()) || pool.contains(&range.network());
        overlaps.then(|| format!("overlaps {range}, {what} addresses"))
    })
}

/// Checked inputs: one family, prefixes in range.
struct Checked {
    family: Family,
    pod_prefix: u8,
    service_prefix: u8,
    pools: Vec<Span>,
    used: Vec<Span>,
}

fn check(req: &CidrRequest) -> Result<Checked, Error> {
    let first = req.pools.first().ok_or(PoolError::Missing)?;
    if let Some((pool, why)) = req.pools.iter().find_map(|p| unusable(p).map(|w| (*p, w))) {
        return Err(PoolError::Unusable { pool, why }.into());
    }
    let family = Family::of(first);
    if let Some(p) = req.pools.iter().find(|p| Family::of(p) != family) {
        return Err(PoolError::MixedFamilies {
            pool: *p,
            family: Family::of(p).name(),
            first: *first,
            first_family: family.name(),
        }
        .into());
    }
    let prefix = |flag: &'static str, given: Option<u8>, (def, min, max): (u8, u8, u8)| {
        let prefix = given.unwrap_or(def);
        if prefix < min || prefix > max {
            return Err(PrefixError::OutOfRange {
                flag,
                prefix,
                family: family.name(),
                min,
                max,
            });
        }
        Ok(prefix)
    };
    let pod_prefix = prefix("--pod-prefix", req.pod_prefix, family.pod_prefix())?;
    let service_prefix = prefix(
        "--service-prefix",
        req.service_prefix,
        family.service_prefix(),
    )?;
    let largest_pool = req.pools.iter().map(|p| p.prefix_len()).min().unwrap_or(0);
    if pod_prefix < largest_pool {
        return Err(PrefixError::LargerThanPools {
            pod_prefix,
            largest_pool,
        }
        .into());
    }
    let mut used: Vec<Span> = req
        .exclude
        .iter()
        .filter(|n| Family::of(n) == family)
        .map(span)
        .chain(req.node_ips.iter().filter_map(|ip| match (ip, family) {
            (IpAddr::V4(a), Family::V4) => Some(Span {
                start: u32::from(*a).into(),
                end: u32::from(*a).into(),
            }),
            (IpAddr::V6(a), Family::V6) => Some(Span {
                start: u128::from(*a),
                end: u128::from(*a),
            }),
            _ => None,
        }))
        .collect();
    used.sort();
    Ok(Checked {
        family,
        pod_prefix,
        service_prefix,
        pools: req.pools.iter().map(span).collect(),
        used,
    })
}

fn carve(c: &Checked, count: usize) -> Option<Vec<Networks>> {
    let mut carver = Carver {
        family: c.family,
        pools: c.pools.clone(),
        used: c.used.clone(),
    };
    // Larger blocks first: with equal prefixes, pods first anyway.
    let (first, second) = if c.pod_prefix <= c.service_prefix {
        (c.pod_prefix, c.service_prefix)
    } else {
        (c.service_prefix, c.pod_prefix)
    };
    let a: Vec<IpNet> = (0..count)
        .map(|_| carver.take(first))
        .collect::<Option<_>>()?;
    let b: Vec<IpNet> = (0..count)
        .map(|_| carver.take(second))
        .collect::<Option<_>>()?;
    let (pods, services) = if c.pod_prefix <= c.service_prefix {
        (a, b)
    } else {
        (b, a)
    };
    Some(
        pods.into_iter()
            .zip(services)
            .map(|(pod_cidr, service_cidr)| Networks {
                kubernetes_service_ip: nth_ip(&service_cidr, 1),
                dns_ip: nth_ip(&service_cidr, 10),
                pod_cidr,
                service_cidr,
            })
            .collect(),
    )
}

/// Networks for `count` clusters, in order.
pub fn allocate(req: &CidrRequest, count: usize) -> Result<Vec<Networks>, Error> {
    let c = check(req)?;
    if let Some(n) = carve(&c, count) {
        return Ok(n);
    }
    // Say how many would fit: the largest k that carves.
    let (mut lo, mut hi) = (0usize, count);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if carve(&c, mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Err(PoolError::Full {
        pools: req.pools.clone(),
        fits: lo,
        needs: count,
        pod_prefix: c.pod_prefix,
        service_prefix: c.service_prefix,
    }
    .into())
}

/// The prefix of one node's share of a pod CIDR: /24 (IPv4) or /64 (IPv6),
/// as the node agent on the control plane hands them out.
pub fn node_prefix(pod_cidr: &IpNet) -> u8 {
    match pod_cidr {
        IpNet::V4(_) => 24,
        IpNet::V6(_) => 64,
    }
}

/// Most nodes a cluster is planned for: the podCIDRs listed for its nodes.
pub const MAX_NODES: usize = 1024;

/// The podCIDRs a cluster's nodes take, in order (the control plane's
/// first): each node a /24 (IPv4) or a /64 (IPv6) of the pod CIDR, at most
/// [`MAX_NODES`].
pub fn node_cidrs(pod_cidr: &IpNet) -> Vec<IpNet> {
    match pod_cidr.subnets(node_prefix(pod_cidr).max(pod_cidr.prefix_len())) {
        Ok(nets) => nets.take(MAX_NODES).collect(),
        Err(_) => vec![*pod_cidr],
    }
}

/// Where a cluster's planned networks clash with what its parent really
/// uses: `used` are (range, where it was found), `node_ips` the parent's
/// node addresses. Empty when the plan still fits.
pub fn clashes(planned: &Networks, used: &[(IpNet, String)], node_ips: &[IpAddr]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, mine) in [
        ("pod CIDR", &planned.pod_cidr),
        ("service CIDR", &planned.service_cidr),
    ] {
        for (theirs, source) in used {
            if crate::ranges::overlaps(mine, theirs) {
                out.push(format!("{what} {mine} overlaps {theirs} ({source})"));
            }
        }
        for ip in node_ips.iter().filter(|ip| mine.contains(*ip)) {
            out.push(format!("{what} {mine} holds node address {ip}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
