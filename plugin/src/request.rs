//! Flags to a plan request.

use anyhow::{Context, Result, bail};
use nesting::cidr::{CidrRequest, parse_cidr};
use nesting::ranges::Given;
use nesting::{KubeVersion, PlanRequest, TreeSpec};

use crate::cli::{DnsArg, Global, PlanArgs};

/// Turns flags into a plan request for the tree `name`.
pub fn request(global: &Global, name: &str, a: &PlanArgs) -> Result<PlanRequest> {
    let tree = TreeSpec {
        name: name.to_string(),
        depth: a.depth,
        width: a.width,
        workers: a.workers,
    };
    let mut req = PlanRequest::new(tree, nesting::Entropy::from_system());
    if let Some(v) = &a.kubernetes_version {
        req.version = v.parse::<KubeVersion>()?;
    }
    req.image = a
        .image
        .clone()
        .unwrap_or_else(|| nesting::plan::default_image(req.version));
    let cidrs = |flag: &str, list: &[String]| -> Result<Vec<ipnet::IpNet>> {
        list.iter()
            .map(|s| parse_cidr(flag, s).map_err(Into::into))
            .collect()
    };
    let mut exclude = cidrs("--exclude", &a.exclude)?;
    exclude.extend(cidrs("--parent-pod-cidr", &a.parent_pod_cidr)?);
    exclude.extend(cidrs("--parent-service-cidr", &a.parent_service_cidr)?);
    let node_ips = a
        .parent_node_ip
        .iter()
        .map(|s| {
            s.parse()
                .with_context(|| format!("invalid address {s:?} for --parent-node-ip: expected an IP such as 192.168.1.10"))
        })
        .collect::<Result<Vec<_>>>()?;
    req.cidr = CidrRequest {
        pools: cidrs("--cidr-pool", &a.cidr_pool)?,
        exclude,
        node_ips,
        pod_prefix: a.pod_prefix,
        service_prefix: a.service_prefix,
    };
    let parent_domain = a
        .parent_domain
        .clone()
        .unwrap_or_else(|| "cluster.local".into());
    for (flag, d) in [
        ("--parent-domain", &parent_domain),
        ("--cluster-domain", &a.cluster_domain),
    ] {
        if !nesting::naming::is_dns_subdomain(d) {
            bail!(
                "invalid domain {d:?} for {flag}: expected DNS labels joined by dots, such as cluster.local"
            );
        }
    }
    req.parent_domain = parent_domain;
    req.cluster_domain = a.cluster_domain.clone();
    req.dns = match a.dns {
        DnsArg::Builtin => nesting::node::Dns::Builtin,
        DnsArg::Coredns => nesting::node::Dns::Coredns,
    };
    req.node_requests = nesting::plan::NodeRequests {
        cpu: a.node_cpu.clone(),
        memory: a.node_memory.clone(),
    };
    req.node_storage = if a.ephemeral {
        nesting::plan::NodeStorage::ephemeral()
    } else {
        nesting::plan::NodeStorage {
            top_class: a.storage_class.clone(),
            ..nesting::plan::NodeStorage::default()
        }
    };
    req.node_storage.size = a.node_storage.clone();
    req.runtime_class = a.runtime_class.clone();
    req.root_namespace = global.namespace.clone();
    if let Some(dir) = &a.images_dir {
        if !dir.starts_with('/') {
            bail!("--images-dir {dir:?} must be an absolute path on the nodes");
        }
        req.images_dir = Some(dir.clone());
    }
    Ok(req)
}

/// Which of the parent's facts the flags gave.
pub fn given(a: &PlanArgs) -> Given {
    Given {
        service_cidrs: !a.parent_service_cidr.is_empty(),
        pod_cidrs: !a.parent_pod_cidr.is_empty(),
        node_ips: !a.parent_node_ip.is_empty(),
        domain: a.parent_domain.is_some(),
    }
}
