//! What the control plane's agent keeps in its cluster besides podCIDRs:
//! the cluster DNS Service, its Endpoints (the nodes), and the agents'
//! read access to Services and Endpoints.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use nesting::node::{self, NodeView};

const MANAGER: &str = "inception-agent";

fn apply() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// The DNS Service at the planned address and the agents' access.
pub async fn ensure_dns(client: &Client, dns_ip: std::net::IpAddr) -> Result<()> {
    let (role, binding) = node::agent_rbac();
    Api::<ClusterRole>::all(client.clone())
        .patch(node::AGENT_ROLE, &apply(), &Patch::Apply(&role))
        .await
        .with_context(|| format!("cannot apply ClusterRole {}", node::AGENT_ROLE))?;
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(node::AGENT_ROLE, &apply(), &Patch::Apply(&binding))
        .await
        .with_context(|| format!("cannot apply ClusterRoleBinding {}", node::AGENT_ROLE))?;
    Api::<Service>::namespaced(client.clone(), node::DNS_NAMESPACE)
        .patch(
            node::DNS_SERVICE,
            &apply(),
            &Patch::Apply(&node::dns_service(dns_ip)),
        )
        .await
        .with_context(|| {
            format!(
                "cannot apply Service {}/{} at {dns_ip}",
                node::DNS_NAMESPACE,
                node::DNS_SERVICE
            )
        })?;
    Ok(())
}

/// The DNS Service's Endpoints: every node's address.
pub async fn dns_endpoints(client: &Client, nodes: &[NodeView]) -> Result<()> {
    Api::<Endpoints>::namespaced(client.clone(), node::DNS_NAMESPACE)
        .patch(
            node::DNS_SERVICE,
            &apply(),
            &Patch::Apply(&node::dns_endpoints(nodes)),
        )
        .await
        .with_context(|| {
            format!(
                "cannot apply Endpoints {}/{}",
                node::DNS_NAMESPACE,
                node::DNS_SERVICE
            )
        })?;
    Ok(())
}
