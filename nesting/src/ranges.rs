//! The ranges a parent cluster already uses, where each was found, and how
//! they go into a plan request.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::PlanRequest;

/// A range of a cluster and where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundRange {
    pub cidr: IpNet,
    pub source: String,
}

/// True when the two ranges share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A parent's networks as far as they could be found.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentNetworks {
    pub service_cidrs: Vec<FoundRange>,
    pub pod_cidrs: Vec<FoundRange>,
    pub node_ips: Vec<IpAddr>,
    /// The parent's DNS domain, where kubeadm recorded it.
    pub dns_domain: Option<String>,
    /// What could not be found, and why.
    pub notes: Vec<String>,
}

/// Which of the parent's facts flags gave: those are not overridden.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    pub service_cidrs: bool,
    pub pod_cidrs: bool,
    pub node_ips: bool,
    pub domain: bool,
}

impl ParentNetworks {
    /// Adds `cidr` found at `source`, unless it is already listed.
    pub fn add(list: &mut Vec<FoundRange>, cidr: IpNet, source: &str) {
        if !list.iter().any(|f| f.cidr == cidr) {
            list.push(FoundRange {
                cidr,
                source: source.to_string(),
            });
        }
    }

    /// Adds what was found to the plan request, unless flags said it.
    pub fn fold_into(&self, req: &mut PlanRequest, given: Given) {
        if !given.service_cidrs {
            req.cidr
                .exclude
                .extend(self.service_cidrs.iter().map(|f| f.cidr));
        }
        if !given.pod_cidrs {
            req.cidr
                .exclude
                .extend(self.pod_cidrs.iter().map(|f| f.cidr));
        }
        if !given.node_ips {
            req.cidr.node_ips.extend(self.node_ips.iter().copied());
        }
        if let (false, Some(d)) = (given.domain, &self.dns_domain) {
            req.parent_domain = d.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TreeSpec;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn overlap_both_ways() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.96.0.0/12")));
        assert!(overlaps(&net("10.96.0.0/12"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
    }

    #[test]
    fn flags_win_over_what_was_found() {
        let mut found = ParentNetworks::default();
        ParentNetworks::add(&mut found.service_cidrs, net("10.96.0.0/12"), "a");
        ParentNetworks::add(&mut found.service_cidrs, net("10.96.0.0/12"), "b");
        ParentNetworks::add(&mut found.pod_cidrs, net("10.244.0.0/16"), "c");
        found.node_ips.push("192.0.2.1".parse().unwrap());
        found.dns_domain = Some("corp.local".into());
        assert_eq!(found.service_cidrs.len(), 1);
        let tree = TreeSpec {
            name: "lab".into(),
            depth: 1,
            width: 1,
            workers: 1,
        };
        let mut req = PlanRequest::new(tree.clone(), crate::Entropy::from_system());
        found.fold_into(&mut req, Given::default());
        assert_eq!(
            req.cidr.exclude,
            [net("10.96.0.0/12"), net("10.244.0.0/16")]
        );
        assert_eq!(req.cidr.node_ips.len(), 1);
        assert_eq!(req.parent_domain, "corp.local");

        let mut req = PlanRequest::new(tree, crate::Entropy::from_system());
        let given = Given {
            service_cidrs: true,
            pod_cidrs: false,
            node_ips: true,
            domain: true,
        };
        let before = req.parent_domain.clone();
        found.fold_into(&mut req, given);
        assert_eq!(req.cidr.exclude, [net("10.244.0.0/16")]);
        assert!(req.cidr.node_ips.is_empty());
        assert_eq!(req.parent_domain, before);
    }
}
