//! What exists of one tree, walked from the current context down through
//! each cluster's own API, so that `up` can grow the tree around it.

use std::time::Duration;

use anyhow::Result;
use futures::future::{BoxFuture, join_all};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use nesting::grow::Found;
use nesting::manifests::CONTROL_PLANE;
use nesting::tree::MAX_DEPTH;
use nesting::{ClusterPath, labels};

use crate::tunnel::Tunnel;
use crate::{reach, state};

/// How long a cluster may take to let its children be listed.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// What was found of a tree.
#[derive(Debug, Default)]
pub struct Existing {
    /// Every cluster found, with the plan digest on its namespace.
    pub found: Found,
    /// Clusters found whose children could not be looked for, and why.
    pub unseen: Vec<(ClusterPath, String)>,
}

impl Existing {
    fn merge(&mut self, other: Existing) {
        self.found.extend(other.found);
        self.unseen.extend(other.unseen);
    }
}

/// The clusters of tree `tree`: its root in the cluster `client` reaches,
/// and below it what each cluster whose control plane is Ready holds.
pub async fn find(client: &Client, tree: &str) -> Result<Existing> {
    let namespaces = state::namespaces(client, &labels::tree_selector(tree)).await?;
    Ok(walk(client.clone(), children_of(namespaces, None)).await)
}

/// The clusters of `namespaces` whose parent is `at` (`None`: the root).
fn children_of(
    namespaces: Vec<Namespace>,
    at: Option<&ClusterPath>,
) -> Vec<(ClusterPath, Namespace)> {
    namespaces
        .into_iter()
        .filter_map(|ns| {
            let path = state::path_of(&ns)?;
            (path.parent().as_ref() == at).then_some((path, ns))
        })
        .collect()
}

/// The clusters `here`, in the cluster `client` reaches, each with what is
/// below it.
fn walk(client: Client, here: Vec<(ClusterPath, Namespace)>) -> BoxFuture<'static, Existing> {
    Box::pin(async move {
        let mut out = Existing::default();
        let subtrees = here
            .into_iter()
            .map(|(p, ns)| subtree(client.clone(), p, ns));
        for part in join_all(subtrees).await {
            out.merge(part);
        }
        out
    })
}

async fn subtree(parent: Client, path: ClusterPath, ns: Namespace) -> Existing {
    let mut out = Existing::default();
    let digest = state::digest_of(&ns).map(str::to_string);
    out.found.insert(path.clone(), digest);
    if path.depth() >= MAX_DEPTH {
        return out;
    }
    match look_inside(&parent, &path, &ns).await {
        Ok((inner, _tunnel, below)) => out.merge(walk(inner, below).await),
        Err(why) => out.unseen.push((path, why)),
    }
    out
}

/// A client for cluster `path` and the clusters in it, or why not.
async fn look_inside(
    parent: &Client,
    path: &ClusterPath,
    ns: &Namespace,
) -> Result<(Client, Tunnel, Vec<(ClusterPath, Namespace)>), String> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Err("it is being deleted".into());
    }
    let name = ns.metadata.name.clone().unwrap_or_default();
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), &name);
    let ready = match sts.get_opt(CONTROL_PLANE).await {
        Ok(s) => s
            .and_then(|s| s.status)
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        Err(e) => {
            return Err(format!(
                "cannot read StatefulSet {name}/{CONTROL_PLANE}: {e}"
            ));
        }
    };
    if ready < 1 {
        return Err("its control plane is not Ready".into());
    }
    let inside = async {
        let (inner, tunnel) = reach::inner(parent, path, &name).await?;
        let namespaces = state::namespaces(&inner, &labels::tree_selector(&path.tree)).await?;
        anyhow::Ok((inner, tunnel, children_of(namespaces, Some(path))))
    };
    match tokio::time::timeout(REACH_TIMEOUT, inside).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer in {}s", REACH_TIMEOUT.as_secs())),
    }
}
