//! `down`: delete a cluster's namespace and every cluster below it.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;
use nesting::{ClusterPath, labels};

use crate::cli::{DownArgs, Global};
use crate::{client, kubeconfig_file, reach, retry, state};

pub async fn down(global: &Global, args: &DownArgs, out: &mut impl Write) -> Result<()> {
    let target: Option<ClusterPath> = match &args.path {
        Some(p) => Some(p.parse()?),
        None => None,
    };
    let cluster = client::connect(global).await?;
    // Below the top level, the cluster's namespace is in its parent,
    // reached through the tunnels of the levels above.
    let (client, _chain) = match &target {
        Some(t) if t.depth() > 1 => {
            let chain = match reach::reach(&cluster.client, t).await {
                Ok(r) => r,
                Err(e) if reach::Missing::is_none(&e) => {
                    writeln!(out, "nothing to delete: {e:#}")?;
                    return kubeconfig_file::forget(
                        global,
                        &cluster.context,
                        |p| p.is_within(t),
                        out,
                    );
                }
                Err(e) => return Err(e),
            };
            (chain.parent.clone(), Some(chain))
        }
        _ => (cluster.client.clone(), None),
    };
    let selector = match &target {
        Some(t) => labels::tree_selector(&t.tree),
        None => labels::all_selector(),
    };
    let mut doomed: Vec<(String, ClusterPath)> = state::namespaces(&client, &selector)
        .await?
        .iter()
        .filter_map(|ns| {
            let path = state::path_of(ns)?;
            let keep = target.as_ref().is_some_and(|t| !path.is_within(t));
            (!keep).then(|| (ns.metadata.name.clone().unwrap_or_default(), path))
        })
        .collect();
    doomed.sort();
    let what = target
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_else(|| "any tree".into());
    // Contexts `connect` added for these clusters go too, found or not.
    let roots: Vec<ClusterPath> = match &target {
        Some(t) => vec![t.clone()],
        None => doomed.iter().map(|(_, p)| p.clone()).collect(),
    };
    let forget = |out: &mut dyn Write| {
        kubeconfig_file::forget(
            global,
            &cluster.context,
            |p| roots.iter().any(|r| p.is_within(r)),
            out,
        )
    };
    if doomed.is_empty() {
        writeln!(
            out,
            "nothing to delete: no cluster {what} in context {}",
            cluster.context
        )?;
        return forget(out);
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let dp = DeleteParams::background();
    for (ns, path) in &doomed {
        match retry::retry(|| api.delete(ns, &dp)).await {
            Ok(_) => tracing::info!(namespace = %ns, %path, "deleting"),
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot delete namespace {ns} of cluster {path}"));
            }
        }
    }
    if args.wait {
        let start = Instant::now();
        loop {
            let mut left = Vec::new();
            for (ns, _) in &doomed {
                match api.get_opt(ns).await {
                    Ok(None) => {}
                    Ok(Some(_)) => left.push(ns.as_str()),
                    // Not known to be gone yet: asked again next round.
                    Err(e) if retry::transient(&e) => left.push(ns.as_str()),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read namespace {ns}"));
                    }
                }
            }
            if left.is_empty() {
                break;
            }
            if start.elapsed() > args.timeout {
                bail!(
                    "namespaces still terminating after {}s: {}. Check `kubectl get ns {}` for finalizers",
                    args.timeout.as_secs(),
                    left.join(", "),
                    left[0]
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for (ns, path) in &doomed {
        writeln!(out, "cluster {path} deleted (namespace {ns})")?;
    }
    forget(out)
}
