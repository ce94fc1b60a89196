//! The part of a plan recorded on each cluster's Namespace, to tell
//! whether a later run plans the same cluster.

use crate::{Error, KubeVersion};

/// The part of a cluster's plan recorded on its Namespace:
/// `v1.20.2 pods=10.0.0.0/16 services=10.1.0.0/20`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanDigest {
    pub version: KubeVersion,
    pub pod_cidr: ipnet::IpNet,
    pub service_cidr: ipnet::IpNet,
}

impl std::fmt::Display for PlanDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pods={} services={}",
            self.version, self.pod_cidr, self.service_cidr
        )
    }
}

impl std::str::FromStr for PlanDigest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Render {
            what: "a plan record".into(),
            reason: format!("{s:?} is not like \"v1.20.2 pods=CIDR services=CIDR\""),
        };
        let mut parts = s.split_whitespace();
        let version = parts.next().ok_or_else(bad)?.parse()?;
        let mut cidr = |key: &str| -> Result<ipnet::IpNet, Error> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)
        };
        let pod_cidr = cidr("pods=")?;
        let service_cidr = cidr("services=")?;
        Ok(PlanDigest {
            version,
            pod_cidr,
            service_cidr,
        })
    }
}
