//! Pod and service CIDRs for every cluster of a tree.
//!
//! Blocks are carved first-fit from the pool, cluster by cluster in the
//! plan's breadth-first order, each cluster's larger block first. Nothing
//! handed out overlaps another block, the parent's ranges, node addresses or
//! user exclusions. Same input, same output.
//!
//! Why cluster by cluster: a cluster's blocks then depend only on the pools,
//! prefixes and exclusions and on the clusters before it, never on how many
//! come after. The root's CIDRs are the same at every depth and width, and a
//! deeper tree (`--depth` grown) appends its new level after every existing
//! cluster, leaving them as they are. (Carving all pod CIDRs, then all
//! service CIDRs, as older versions did, moved the root's service CIDR with
//! the tree's size.)
//!
//! A wider tree (`--width` grown) puts new clusters between existing ones in
//! that order. No numbering that depends on the path alone stays dense for
//! every shape (depth 2 width 3 and depth 3 width 2 do not contain one
//! another), so instead the ranges existing clusters hold are [`Kept`]: they
//! are reserved first, and only the other clusters are carved, from what is
//! free. That also keeps trees carved the old way working. A kept pair that
//! does not fit the request (another prefix, outside the pools, over an
//! exclusion or another kept range) is dropped: that cluster is planned
//! anew, and `up` refuses the difference.

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

/// The ranges an existing cluster holds, to keep when planning around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    pub pod_cidr: IpNet,
    pub service_cidr: IpNet,
}

impl Networks {
    /// Networks around a pod and a service CIDR.
    pub fn of(pod_cidr: IpNet, service_cidr: IpNet) -> Self {
        Networks {
            kubernetes_service_ip: nth_ip(&service_cidr, 1),
            dns_ip: nth_ip(&service_cidr, 10),
            pod_cidr,
            service_cidr,
        }
    }
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

/// Networks for every cluster in order, keeping the kept ones that fit;
/// `Err` says how many clusters, in order, did fit.
fn carve(c: &Checked, kept: &[Option<Kept>]) -> Result<Vec<Networks>, usize> {
    let mut carver = Carver {
        family: c.family,
        pools: c.pools.clone(),
        used: c.used.clone(),
    };
    let prefixes_match = |k: &Kept| {
        k.pod_cidr.prefix_len() == c.pod_prefix && k.service_cidr.prefix_len() == c.service_prefix
    };
    // Kept ranges first, so no new block takes them.
    let kept: Vec<Option<Kept>> = kept
        .iter()
        .map(|k| k.filter(|k| prefixes_match(k) && carver.reserve(&[k.pod_cidr, k.service_cidr])))
        .collect();
    let pods_first = c.pod_prefix <= c.service_prefix;
    let mut out = Vec::with_capacity(kept.len());
    for (i, k) in kept.iter().enumerate() {
        let (pod, service) = match k {
            Some(k) => (k.pod_cidr, k.service_cidr),
            None if pods_first => {
                let pod = carver.take(c.pod_prefix).ok_or(i)?;
                (pod, carver.take(c.service_prefix).ok_or(i)?)
            }
            None => {
                let service = carver.take(c.service_prefix).ok_or(i)?;
                (carver.take(c.pod_prefix).ok_or(i)?, service)
            }
        };
        out.push(Networks::of(pod, service));
    }
    Ok(out)
}

/// Networks for `count` new clusters, in order.
pub fn allocate(req: &CidrRequest, count: usize) -> Result<Vec<Networks>, Error> {
    allocate_keeping(req, &vec![None; count])
}

/// Networks for one cluster per entry of `kept`, in order: an existing
/// cluster's ranges where given and they fit the request, new blocks from
/// what is free for the others.
pub fn allocate_keeping(req: &CidrRequest, kept: &[Option<Kept>]) -> Result<Vec<Networks>, Error> {
    let c = check(req)?;
    carve(&c, kept).map_err(|fits| {
        PoolError::Full {
            pools: req.pools.clone(),
            fits,
            needs: kept.len(),
            pod_prefix: c.pod_prefix,
            service_prefix: c.service_prefix,
        }
        .into()
    })
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
