//! Bootstrap tokens for workers that join an existing cluster: a token
//! lives 24 h in the inner cluster, so `scale` and `up` adding workers make
//! a new one there and hand it to the worker Pods (the parent's
//! `bootstrap-token` Secret, which a rerun of `up` then reads back).

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use nesting::manifests::{TOKEN_KEY, TOKEN_SECRET, WORKERS};
use nesting::pki::BootstrapToken;
use nesting::pki::token::{self, TOKEN_EXPIRATION_KEY, TOKEN_NAMESPACE, TokenState};
use nesting::{ClusterPath, PlannedCluster};

use crate::{apply, reach, retry};

/// How long `up` tries to reach a cluster to make a token.
const REACH_TIMEOUT: Duration = Duration::from_secs(30);

/// The token the parent hands to node Pods (`bootstrap-token` in `ns`).
pub async fn current(parent: &Client, ns: &str) -> Result<BootstrapToken> {
    let api: Api<Secret> = Api::namespaced(parent.clone(), ns);
    let secret = retry::retry(|| api.get_opt(TOKEN_SECRET))
        .await?
        .ok_or_else(|| anyhow!("Secret {ns}/{TOKEN_SECRET} is missing"))?;
    let text = secret
        .data
        .and_then(|mut d| d.remove(TOKEN_KEY))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .unwrap_or_default();
    BootstrapToken::parse(text.trim())
        .with_context(|| format!("Secret {ns}/{TOKEN_SECRET} holds no usable token"))
}

/// `current` if the inner cluster still has it for a while, else a new
/// token, made there first. Returns the new token, `None` if `current` stays.
pub async fn fresh(inner: &Client, current: &BootstrapToken) -> Result<Option<BootstrapToken>> {
    let api: Api<Secret> = Api::namespaced(inner.clone(), TOKEN_NAMESPACE);
    let name = current.secret_name();
    let found = retry::retry(|| api.get_opt(&name))
        .await
        .with_context(|| format!("cannot read Secret {TOKEN_NAMESPACE}/{name}"))?;
    let expiration = found
        .as_ref()
        .and_then(|s| s.data.as_ref()?.get(TOKEN_EXPIRATION_KEY))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let state = match &found {
        None => TokenState::Missing,
        Some(_) => TokenState::Found {
            expiration: expiration.as_deref(),
        },
    };
    let now = SystemTime::now();
    if !token::needs_new_token(state, now) {
        return Ok(None);
    }
    let new = BootstrapToken::generate(&nesting::Entropy::from_system().derive("bootstrap token"));
    let secret = new.secret(now)?;
    api.create(&PostParams::default(), &secret)
        .await
        .map_err(|e| {
            apply::describe(
                e,
                "Secret",
                &format!("{TOKEN_NAMESPACE}/{}", new.secret_name()),
            )
        })?;
    Ok(Some(new))
}

/// Puts `token` where the node Pods of the cluster in `ns` read it.
pub async fn store(parent: &Client, ns: &str, token: &BootstrapToken) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(parent.clone(), ns);
    let data = k8s_openapi::ByteString(token.token().into_bytes());
    let patch = Patch::Merge(serde_json::json!({ "data": { TOKEN_KEY: data } }));
    let pp = PatchParams {
        field_manager: Some(apply::FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    retry::retry(|| api.patch(TOKEN_SECRET, &pp, &patch))
        .await
        .map_err(|e| apply::describe(e, "Secret", &format!("{ns}/{TOKEN_SECRET}")))?;
    Ok(())
}

/// For `scale`: a token good for the workers about to join, made in the
/// cluster and handed to its Pods if the current one will not do.
/// Returns whether a new one was made.
pub async fn refresh(parent: &Client, inner: &Client, ns: &str) -> Result<bool> {
    let current = current(parent, ns).await?;
    match fresh(inner, &current).await? {
        Some(new) => {
            store(parent, ns, &new).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether the planned workers are more than the live StatefulSet's.
pub fn adds_workers(live: Option<&StatefulSet>, planned: u32) -> bool {
    let have = live
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    i64::from(planned) > i64::from(have)
}

/// For `up` over an existing cluster: when it adds workers, makes sure they
/// find a token the cluster takes (see [`refresh`]), and keeps it in `c`.
/// A cluster that cannot be reached keeps its token, with a warning.
pub async fn for_new_workers(parent: &Client, c: &mut PlannedCluster) -> Result<()> {
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), &c.namespace);
    let live = retry::retry(|| sts.get_opt(WORKERS)).await?;
    if !adds_workers(live.as_ref(), c.workers) {
        return Ok(());
    }
    let made = tokio::time::timeout(REACH_TIMEOUT, async {
        let (inner, _tunnel) = reach::inner(parent, &c.path, &c.namespace).await?;
        fresh(&inner, &c.pki.token).await
    })
    .await;
    match made {
        Ok(Ok(Some(new))) => {
            store(parent, &c.namespace, &new).await?;
            c.pki.token = new;
        }
        Ok(Ok(None)) => {}
        Ok(Err(e)) => warn_kept(&c.path, &format!("{e:#}")),
        Err(_) => warn_kept(
            &c.path,
            &format!("no answer in {}s", REACH_TIMEOUT.as_secs()),
        ),
    }
    Ok(())
}

fn warn_kept(path: &ClusterPath, why: &str) {
    tracing::warn!(
        "cluster {path}: cannot make a bootstrap token for the workers added ({why}); \
         they join only while the current one is valid: `kubectl inception scale {path} --workers N` makes a new one"
    );
}

#[cfg(test)]
mod tests;
