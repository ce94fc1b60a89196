//! The chain of levels: a cluster of a tree is reached through tunnels,
//! each opened with the client of the level above, from the current
//! context down.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use kube::Client;
use nesting::kubeadm::APISERVER_PORT;
use nesting::kubeconfig::Kubeconfig;
use nesting::manifests::CONTROL_PLANE;
use nesting::{ClusterPath, labels};

use tokio::signal::unix::SignalKind;

use crate::state;
use crate::tunnel::Tunnel;

/// A cluster's place: the client of the cluster holding its objects, their
/// namespace there, and the tunnels of the levels above, closed on drop.
pub struct Reached {
    pub parent: Client,
    pub namespace: String,
    tunnels: Vec<Tunnel>,
}

impl Reached {
    /// A client for the cluster itself; its tunnel stays open as long as
    /// `self`.
    pub async fn enter(&mut self, path: &ClusterPath) -> Result<Client> {
        let (client, tunnel) = inner(&self.parent, path, &self.namespace).await?;
        self.tunnels.push(tunnel);
        Ok(client)
    }
}

/// Why a cluster's namespace was not found in its parent.
#[derive(Debug, thiserror::Error)]
pub enum Missing {
    #[error("no cluster {0} in this context: `kubectl inception tree` lists what exists")]
    None(ClusterPath),
    #[error(
        "more than one namespace claims cluster {0}: remove the stale one with `kubectl inception down {0}`"
    )]
    Many(ClusterPath),
}

impl Missing {
    /// True when `e` comes down to a cluster that does not exist.
    pub fn is_none(e: &anyhow::Error) -> bool {
        matches!(e.root_cause().downcast_ref(), Some(Missing::None(_)))
    }
}

/// Where a cluster's objects live in its parent.
pub async fn find_namespace(client: &Client, path: &ClusterPath) -> Result<String> {
    let selector = format!(
        "{},{}={}",
        labels::tree_selector(&path.tree),
        labels::PATH,
        path.dotted()
    );
    let found = state::namespaces(client, &selector).await?;
    match found.as_slice() {
        [ns] => Ok(ns.metadata.name.clone().unwrap_or_default()),
        [] => Err(Missing::None(path.clone()).into()),
        _ => Err(Missing::Many(path.clone()).into()),
    }
}

/// Reaches the parent of `path` from `root`: for `lab/0/1`, through `lab`
/// and `lab/0`.
pub async fn reach(root: &Client, path: &ClusterPath) -> Result<Reached> {
    let mut client = root.clone();
    let mut tunnels = Vec::new();
    let mut at = ClusterPath::root(&path.tree);
    for &i in &path.indexes {
        let ns = find_namespace(&client, &at)
            .await
            .with_context(|| format!("on the way to {path}"))?;
        let (next, tunnel) = inner(&client, &at, &ns)
            .await
            .with_context(|| format!("cannot reach cluster {at} on the way to {path}"))?;
        client = next;
        tunnels.push(tunnel);
        at = at.child(i);
    }
    let namespace = find_namespace(&client, path).await?;
    Ok(Reached {
        parent: client,
        namespace,
        tunnels,
    })
}

/// Admin kubeconfig for the cluster `path` whose objects are in
/// `namespace` of `parent`, reaching it at `server`.
pub async fn admin_kubeconfig(
    parent: &Client,
    path: &ClusterPath,
    namespace: &str,
    server: &str,
) -> Result<Kubeconfig> {
    let pki = state::load_pki(parent, namespace)
        .await?
        .ok_or_else(|| anyhow!("cluster {path} has no PKI Secret yet: wait for `up` to finish"))?;
    Ok(Kubeconfig::for_cluster(path, namespace, &pki, server, None))
}

/// Opens a tunnel on 127.0.0.1:`local` to the control plane of cluster
/// `path` (namespace `namespace` of `parent`), and a kubeconfig using it.
pub async fn tunnel_kubeconfig(
    parent: &Client,
    path: &ClusterPath,
    namespace: &str,
    local: u16,
) -> Result<(Kubeconfig, Tunnel)> {
    let pod = format!("{CONTROL_PLANE}-0");
    let tunnel = Tunnel::open(parent.clone(), namespace, &pod, APISERVER_PORT, local).await?;
    let server = format!("https://{}", tunnel.addr());
    let kc = admin_kubeconfig(parent, path, namespace, &server).await?;
    Ok((kc, tunnel))
}

/// A client for the cluster `path` whose objects are in `namespace` of
/// `parent`, through a tunnel to its control-plane Pod.
pub async fn inner(
    parent: &Client,
    path: &ClusterPath,
    namespace: &str,
) -> Result<(Client, Tunnel)> {
    let (kc, tunnel) = tunnel_kubeconfig(parent, path, namespace, 0).await?;
    let kc = kube::config::Kubeconfig::from_yaml(&kc.to_yaml()?)?;
    let config = local_config(kc).await?;
    Ok((Client::try_from(config)?, tunnel))
}

/// The client configuration for a kubeconfig pointing at a local tunnel:
/// never through a proxy, whatever HTTPS_PROXY says (kube would take it).
pub async fn local_config(kc: kube::config::Kubeconfig) -> Result<kube::Config> {
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(crate::proxy::explain)?;
    config.proxy_url = None;
    // --request-timeout, as for the parent; else 30 s reads.
    crate::client::apply_timeouts(&mut config, None, Duration::from_secs(30));
    Ok(config)
}

/// Keeps `tunnel` to cluster `path` open until Ctrl-C, SIGTERM or SIGHUP
/// (the terminal closed), so that the caller can clean up after it.
pub async fn hold(path: &ClusterPath, mut tunnel: Tunnel) {
    eprintln!(
        "tunnel to cluster {path} open on {}: keep this command running, Ctrl-C closes it",
        tunnel.addr()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = signal(SignalKind::terminate()) => {}
        _ = signal(SignalKind::hangup()) => {}
        _ = tunnel.closed() => {}
    }
}

/// Resolves on the first `kind` signal; never if it cannot be watched.
async fn signal(kind: SignalKind) {
    match tokio::signal::unix::signal(kind) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cluster_is_told_from_other_errors() {
        let p: ClusterPath = "lab/0".parse().unwrap();
        let e = anyhow::Error::from(Missing::None(p.clone())).context("on the way to lab/0/1");
        assert!(Missing::is_none(&e));
        assert_eq!(
            format!("{e:#}"),
            "on the way to lab/0/1: no cluster lab/0 in this context: `kubectl inception tree` lists what exists"
        );
        assert!(!Missing::is_none(&anyhow::Error::from(Missing::Many(p))));
        assert!(!Missing::is_none(&anyhow!("no cluster lab/0 here")));
    }
}

#[cfg(test)]
mod requests {
    use http::Method;

    use super::*;
    use crate::fake;

    async fn find(items: Vec<serde_json::Value>) -> (Result<String>, Vec<fake::Seen>) {
        let (client, log, _server) = fake::serve(move |_| fake::list("Namespace", items.clone()));
        let p: ClusterPath = "lab/0".parse().unwrap();
        (find_namespace(&client, &p).await, log.all())
    }

    #[tokio::test]
    async fn finds_the_one_namespace_labelled_with_the_path() {
        let ns = fake::namespace("inception-lab-0", "lab/0", None, true);
        let (found, seen) = find(vec![ns]).await;
        assert_eq!(found.unwrap(), "inception-lab-0");
        assert_eq!(seen.len(), 1);
        assert!(seen[0].is(&Method::GET, "/api/v1/namespaces"), "{seen:?}");
        // The selector names the tree and the dotted path.
        assert!(seen[0].query.contains("lab.0"), "{:?}", seen[0].query);
    }

    #[tokio::test]
    async fn none_or_two_namespaces_are_typed_errors() {
        let (none, _) = find(vec![]).await;
        let none = none.unwrap_err();
        assert!(Missing::is_none(&none), "{none:#}");
        let ns = |n| fake::namespace(n, "lab/0", None, true);
        let (many, _) = find(vec![ns("a"), ns("b")]).await;
        let many = many.unwrap_err();
        assert!(
            matches!(many.downcast_ref(), Some(Missing::Many(p)) if p.to_string() == "lab/0"),
            "{many:#}"
        );
    }

    #[tokio::test]
    async fn reaching_a_top_cluster_opens_no_tunnel() {
        let (client, log, _server) = fake::serve(|_| {
            fake::list(
                "Namespace",
                vec![fake::namespace("inception-lab", "lab", None, true)],
            )
        });
        let r = reach(&client, &"lab".parse().unwrap()).await.unwrap();
        assert_eq!(r.namespace, "inception-lab");
        assert!(r.tunnels.is_empty());
        assert_eq!(log.all().len(), 1);
    }
}

#[cfg(test)]
#[path = "reach_proxy_tests.rs"]
mod proxy_tests;
