//! `down`: delete a cluster's namespace and every cluster below it.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::DeleteParams;
use kube::{Api, Client};
use nesting::{ClusterPath, labels};
use tokio::time::Instant;

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
    let doomed = doomed(&client, target.as_ref()).await?;
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
    delete(&client, &doomed).await?;
    if args.wait {
        wait_gone(&client, &doomed, args.timeout).await?;
    }
    for (ns, path) in &doomed {
        writeln!(out, "cluster {path} deleted (namespace {ns})")?;
    }
    forget(out)
}

/// The namespaces of `target` and every cluster below it (of every tree
/// without one), with their clusters' paths, sorted.
async fn doomed(
    client: &Client,
    target: Option<&ClusterPath>,
) -> Result<Vec<(String, ClusterPath)>> {
    let selector = match target {
        Some(t) => labels::tree_selector(&t.tree),
        None => labels::all_selector(),
    };
    let mut doomed: Vec<(String, ClusterPath)> = state::namespaces(client, &selector)
        .await?
        .iter()
        .filter_map(|ns| {
            let path = state::path_of(ns)?;
            let keep = target.is_some_and(|t| !path.is_within(t));
            (!keep).then(|| (ns.metadata.name.clone().unwrap_or_default(), path))
        })
        .collect();
    doomed.sort();
    Ok(doomed)
}

/// Starts deleting each namespace; one already gone is fine.
async fn delete(client: &Client, doomed: &[(String, ClusterPath)]) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let dp = DeleteParams::background();
    for (ns, path) in doomed {
        match retry::retry(|| api.delete(ns, &dp)).await {
            Ok(_) => tracing::info!(namespace = %ns, %path, "deleting"),
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot delete namespace {ns} of cluster {path}"));
            }
        }
    }
    Ok(())
}

/// Waits until every namespace is gone.
async fn wait_gone(
    client: &Client,
    doomed: &[(String, ClusterPath)],
    timeout: Duration,
) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let mut left = Vec::new();
        for (ns, _) in doomed {
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
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!(
                "namespaces still terminating after {}s: {}. Check `kubectl get ns {}` for finalizers",
                timeout.as_secs(),
                left.join(", "),
                left[0]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::Method;

    use super::*;
    use crate::fake;

    fn paths(d: &[(String, ClusterPath)]) -> Vec<String> {
        d.iter().map(|(ns, p)| format!("{ns}={p}")).collect()
    }

    #[tokio::test]
    async fn a_subtree_is_the_cluster_and_everything_below_it() {
        let items = vec![
            fake::namespace("inception-lab-1", "lab/1", None, true),
            fake::namespace("inception-lab", "lab", None, true),
            fake::namespace("inception-lab-0-0", "lab/0/0", None, true),
            fake::namespace("inception-lab-0", "lab/0", None, true),
        ];
        let (client, log, _server) = fake::serve(move |_| fake::list("Namespace", items.clone()));
        let t: ClusterPath = "lab/0".parse().unwrap();
        let d = doomed(&client, Some(&t)).await.unwrap();
        assert_eq!(
            paths(&d),
            ["inception-lab-0=lab/0", "inception-lab-0-0=lab/0/0"]
        );
        assert!(log.all()[0].query.contains("tree"), "{:?}", log.all());
        assert_eq!(doomed(&client, None).await.unwrap().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn deleting_retries_a_busy_server_and_takes_gone_as_done() {
        let calls = AtomicUsize::new(0);
        let (client, log, _server) = fake::serve(move |s| match s.path.as_str() {
            "/api/v1/namespaces/a" if calls.fetch_add(1, Ordering::SeqCst) == 0 => {
                fake::status(503, "ServiceUnavailable")
            }
            "/api/v1/namespaces/a" => fake::ok(fake::namespace("a", "lab", None, true)),
            _ => fake::not_found(),
        });
        let d = vec![
            ("a".to_string(), "lab".parse().unwrap()),
            ("b".to_string(), "lab/0".parse().unwrap()),
        ];
        delete(&client, &d).await.unwrap();
        assert_eq!(log.count(&Method::DELETE, "/api/v1/namespaces/a"), 2);
        assert_eq!(log.count(&Method::DELETE, "/api/v1/namespaces/b"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_deletion_names_the_namespace_and_cluster() {
        let (client, _log, _server) = fake::serve(|_| fake::status(403, "Forbidden"));
        let d = vec![("a".to_string(), "lab".parse().unwrap())];
        let e = delete(&client, &d).await.unwrap_err();
        assert_eq!(e.to_string(), "cannot delete namespace a of cluster lab");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_when_gone_or_names_what_is_left() {
        let reads = AtomicUsize::new(0);
        let (client, _log, _server) = fake::serve(move |s| {
            // `a` goes after three reads; `b` never does.
            let a_gone =
                s.path == "/api/v1/namespaces/a" && reads.fetch_add(1, Ordering::SeqCst) >= 3;
            if a_gone || s.path.ends_with("/c") {
                fake::not_found()
            } else {
                fake::ok(fake::namespace("x", "lab", None, true))
            }
        });
        let a = vec![("a".to_string(), "lab".parse().unwrap())];
        wait_gone(&client, &a, Duration::from_secs(60))
            .await
            .unwrap();
        let bc = vec![
            ("b".to_string(), "lab".parse().unwrap()),
            ("c".to_string(), "lab".parse().unwrap()),
        ];
        let e = wait_gone(&client, &bc, Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "namespaces still terminating after 2s: b. Check `kubectl get ns b` for finalizers"
        );
    }
}
