//! What the control plane's agent keeps in its cluster besides podCIDRs:
//! the cluster DNS Service, its Endpoints (the nodes), the agents' read
//! access to Services and Endpoints, and the default StorageClass with the
//! agents' access to claims and volumes.

use std::fmt::Debug;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use nesting::node::{self, NodeView};
use nesting::storage;
use serde::Serialize;
use serde::de::DeserializeOwned;

const MANAGER: &str = "inception-agent";

/// Server-side apply of `obj` through `api`; the error names the object.
async fn apply<K>(api: Api<K>, obj: &K) -> Result<()>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(obj))
        .await
        .with_context(|| {
            let ns = meta
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            format!(
                "cannot apply {} {ns}{name}",
                K::kind(&K::DynamicType::default())
            )
        })?;
    Ok(())
}

/// The DNS Service at the planned address and the agents' access.
pub async fn ensure_dns(client: &Client, dns_ip: std::net::IpAddr) -> Result<()> {
    let (role, binding) = node::agent_rbac();
    apply(Api::<ClusterRole>::all(client.clone()), &role).await?;
    apply(Api::<ClusterRoleBinding>::all(client.clone()), &binding).await?;
    let dns = Api::<Service>::namespaced(client.clone(), node::DNS_NAMESPACE);
    apply(dns, &node::dns_service(dns_ip)).await
}

/// The DNS Service's Endpoints: every node's address.
pub async fn dns_endpoints(client: &Client, nodes: &[NodeView]) -> Result<()> {
    let api = Api::<Endpoints>::namespaced(client.clone(), node::DNS_NAMESPACE);
    apply(api, &node::dns_endpoints(nodes)).await
}

/// The default StorageClass and every node's right to provision its
/// volumes; tried until the API takes them.
pub async fn ensure_storage(client: &Client) {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        let (role, binding) = storage::storage_rbac();
        let done = async {
            apply(Api::<ClusterRole>::all(client.clone()), &role).await?;
            apply(Api::<ClusterRoleBinding>::all(client.clone()), &binding).await?;
            apply(
                Api::<StorageClass>::all(client.clone()),
                &storage::storage_class(),
            )
            .await
        };
        match done.await {
            Ok(()) => return,
            Err(e) => tracing::debug!("storage class, not yet: {e:#}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(10));
    }
}
