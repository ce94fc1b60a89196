//! What `up` refuses before it applies anything to an existing cluster:
//! a restart of its control plane, a paused cluster, and what cannot change
//! in place (state claims, workers made by an older version).

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::PatchParams;
use kube::{Api, Client};
use nesting::manifests::{CONTROL_PLANE, Manifest};
use nesting::plan::Runtime;
use nesting::{Plan, PlannedCluster};

use super::service_ip;
use crate::{apply, discover, retry};

/// Refuses, before anything is applied, a rerun that would restart the
/// control plane of an existing cluster: its node Pod's template would
/// change (as a server-side dry run of the apply shows), and its etcd
/// lives in that Pod. `allow` (--allow-restart) lets it go on.
pub(super) async fn refuse_restart(
    plan: &Plan,
    parent: &Client,
    c: &PlannedCluster,
    allow: bool,
) -> Result<()> {
    let api: Api<StatefulSet> = Api::namespaced(parent.clone(), &c.namespace);
    let Some(live) = retry::retry(|| api.get_opt(CONTROL_PLANE)).await? else {
        return Ok(());
    };
    let runtime = Runtime {
        apiserver_ip: Some(service_ip(parent, &c.namespace).await?),
        parent_apiservers: discover::parent_apiservers(parent).await,
    };
    let planned = plan
        .manifests_with(c, &runtime)?
        .into_iter()
        .find_map(|m| match m {
            Manifest::StatefulSet(s) => Some(s),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("the plan of cluster {} has no control plane", c.path))?;
    if nesting::pause::paused_workers(live.metadata.annotations.as_ref()).is_some() {
        bail!(
            "cluster {} is paused: `kubectl inception resume {}` first, then run up again",
            c.path,
            c.path
        );
    }
    refuse_old_layout(parent, c, &live, &planned).await?;
    let params = PatchParams::apply(apply::FIELD_MANAGER).dry_run();
    let next = apply::patch_owning_claims(&api, CONTROL_PLANE, &planned, &params).await?;
    let template = |s: &StatefulSet| serde_json::to_value(s.spec.as_ref().map(|s| &s.template));
    let changes = nesting::changes::differences(&template(&live)?, &template(&next)?);
    if changes.is_empty() {
        return Ok(());
    }
    if allow {
        tracing::warn!(
            "cluster {}: its control plane restarts (--allow-restart): {}",
            c.path,
            changes.join("; ")
        );
        return Ok(());
    }
    let cost = if crate::storage_class::class_of(&live).is_some() {
        "Its state is kept on its claim, but the cluster and every cluster below it would be down while it restarts"
    } else {
        "Its etcd lives in that Pod (an emptyDir), so the cluster and every cluster below it would be lost"
    };
    bail!(
        "cluster {path} exists and this run would restart its control plane: its node Pod would change in\n  {}\n\
         {cost}. Nothing was changed. \
         Rerun with the flags the tree was made with (--image, --images-dir, ...) and the kubectl-inception version that made it \
         (another version may render the node Pod differently), or pass --allow-restart to restart it",
        changes.join("\n  "),
        path = c.path
    )
}

/// Refuses, whatever --allow-restart says, what cannot change in place: a
/// control plane whose state claims would differ (a StatefulSet's claims
/// are fixed), and workers that are a Deployment (made by versions before
/// node state on claims).
async fn refuse_old_layout(
    parent: &Client,
    c: &PlannedCluster,
    live: &StatefulSet,
    planned: &StatefulSet,
) -> Result<()> {
    let claims = |s: &StatefulSet| {
        s.spec
            .as_ref()
            .and_then(|s| s.volume_claim_templates.as_ref())
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.metadata.name.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(parent.clone(), &c.namespace);
    let old_workers = retry::retry(|| deployments.get_opt(nesting::manifests::WORKERS))
        .await?
        .is_some();
    let (have, want) = (
        crate::storage_class::class_of(live),
        crate::storage_class::class_of(planned),
    );
    if old_workers || claims(live) != claims(planned) || have != want {
        let how = |c: Option<String>| match c {
            Some(c) => format!("on claims of StorageClass {c}"),
            None => "in emptyDirs".into(),
        };
        bail!(
            "cluster {path} keeps its node state {}{}; this run would keep it {}, which cannot change in place. Nothing was changed. \
             Rerun with the flags it was made with (--storage-class, --ephemeral), or remove it with \
             `kubectl inception down {path}` and run up again",
            how(have),
            if old_workers {
                " and has workers made by an older kubectl-inception"
            } else {
                ""
            },
            how(want),
            path = c.path
        );
    }
    Ok(())
}
