//! Server-side apply of a cluster's objects into its parent.

use std::fmt::Debug;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::try_join_all;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use nesting::manifests::Manifest;
use nesting::stage::Stage;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Field manager of every object the plugin writes.
pub const FIELD_MANAGER: &str = "kubectl-inception";

/// How long one apply request may take.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER)
}

async fn apply_namespaced<K>(client: &Client, obj: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let meta = obj.meta();
    let (ns, name) = (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    );
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    patch_owning_claims(&api, &name, obj, &params())
        .await
        .map(drop)
        .map_err(|e| describe(e, &K::kind(&()), &format!("{ns}/{name}")))
}

/// An apply that, on the one conflict that is not a change by anyone,
/// applies again with force: the StatefulSet controller of 1.20 takes the
/// claim templates of a StatefulSet it updates (kubernetes#94136, fixed in
/// later releases), though nobody changed them.
pub async fn patch_owning_claims<K>(
    api: &Api<K>,
    name: &str,
    obj: &K,
    params: &PatchParams,
) -> kube::Result<K>
where
    K: Clone + Debug + Serialize + DeserializeOwned,
{
    let patch = Patch::Apply(obj);
    match crate::retry::retry(|| api.patch(name, params, &patch)).await {
        Err(kube::Error::Api(s)) if only_claims_conflict(&s) => {
            let forced = PatchParams {
                force: true,
                ..params.clone()
            };
            crate::retry::retry(|| api.patch(name, &forced, &patch)).await
        }
        other => other,
    }
}

/// A conflict over `.spec.volumeClaimTemplates` with the controller
/// manager, and nothing else.
pub fn only_claims_conflict(s: &kube::core::Status) -> bool {
    let causes = s
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    s.code == 409
        && !causes.is_empty()
        && causes.iter().all(|c| {
            c.field == ".spec.volumeClaimTemplates" && c.message.contains("kube-controller-manager")
        })
}

/// Why an object could not be applied, naming it and saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "{kind} {name} has fields owned by another manager ({message}): undo that change, or delete the cluster with `kubectl inception down` and run up again"
    )]
    Conflict {
        kind: String,
        name: String,
        message: String,
    },
    #[error(
        "not allowed to write {kind} {name}: {message}: ask for rights to create namespaces and workloads"
    )]
    Forbidden {
        kind: String,
        name: String,
        message: String,
    },
    #[error("the server refused {kind} {name} (HTTP {code}): {message}")]
    Refused {
        kind: String,
        name: String,
        code: u16,
        message: String,
    },
    #[error("cannot apply {kind} {name}")]
    Failed {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Turns an API error into one naming the object and what to do.
pub fn describe(e: kube::Error, kind: &str, name: &str) -> anyhow::Error {
    let (kind, name) = (kind.to_string(), name.to_string());
    match e {
        kube::Error::Api(s) if s.is_conflict() => ApplyError::Conflict {
            kind,
            name,
            message: s.message,
        },
        kube::Error::Api(s) if s.is_forbidden() => ApplyError::Forbidden {
            kind,
            name,
            message: s.message,
        },
        kube::Error::Api(s) => ApplyError::Refused {
            kind,
            name,
            code: s.code,
            message: s.message,
        },
        source => ApplyError::Failed { kind, name, source },
    }
    .into()
}

/// Applies one object, giving up after [`APPLY_TIMEOUT`].
pub async fn apply(client: &Client, m: &Manifest) -> Result<()> {
    tokio::time::timeout(APPLY_TIMEOUT, apply_now(client, m))
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "no answer from the server in {}s while applying {} {}{}: check the connection and rerun up",
                APPLY_TIMEOUT.as_secs(),
                m.kind(),
                m.meta().namespace.as_deref().map(|ns| format!("{ns}/")).unwrap_or_default(),
                m.name()
            ))
        })
}

async fn apply_now(client: &Client, m: &Manifest) -> Result<()> {
    match m {
        Manifest::Namespace(o) => {
            let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            let name = o.metadata.name.clone().unwrap_or_default();
            let (params, patch) = (params(), Patch::Apply(o));
            crate::retry::retry(|| api.patch(&name, &params, &patch))
                .await
                .map(drop)
                .map_err(|e| describe(e, "Namespace", &name))
        }
        Manifest::Secret(o) => apply_namespaced(client, o).await,
        Manifest::ConfigMap(o) => apply_namespaced(client, o).await,
        Manifest::Service(o) => apply_namespaced(client, o).await,
        Manifest::StatefulSet(o) => apply_namespaced(client, o).await,
        Manifest::PodDisruptionBudget(o) => apply_budget(client, o).await,
    }
}

/// A disruption budget as policy/v1 where the parent serves it, else as
/// policy/v1beta1 (before 1.21; the same fields).
async fn apply_budget(
    client: &Client,
    pdb: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
) -> Result<()> {
    use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
    let serves_v1 = crate::retry::retry(|| client.list_api_group_resources("policy/v1"))
        .await
        .map(|l| l.resources.iter().any(|r| r.name == "poddisruptionbudgets"))
        .unwrap_or(false);
    let version = if serves_v1 { "v1" } else { "v1beta1" };
    let gvk = GroupVersionKind::gvk("policy", version, "PodDisruptionBudget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets");
    let mut obj: DynamicObject = serde_json::from_value(serde_json::to_value(pdb)?)?;
    obj.types = Some(kube::core::TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    });
    let (ns, name) = (
        pdb.metadata.namespace.clone().unwrap_or_default(),
        pdb.metadata.name.clone().unwrap_or_default(),
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let (params, patch) = (params(), Patch::Apply(&obj));
    crate::retry::retry(|| api.patch(&name, &params, &patch))
        .await
        .map(drop)
        .map_err(|e| describe(e, "PodDisruptionBudget", &format!("{ns}/{name}")))
}

/// Applies a cluster's objects stage by stage ([`Stage`]): the Namespace,
/// then configuration and the Service together, then the workloads together.
pub async fn apply_cluster(client: &Client, objects: &[Manifest]) -> Result<()> {
    for s in Stage::ALL {
        try_join_all(
            objects
                .iter()
                .filter(|m| Stage::of(m) == s)
                .map(|m| apply(client, m)),
        )
        .await
        .context("apply failed")?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
