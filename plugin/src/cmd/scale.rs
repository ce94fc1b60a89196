//! `scale PATH --workers N`: change how many worker nodes a cluster has.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::WORKERS;
use nesting::record::{self, LevelRecord};
use nesting::{ClusterPath, labels};

use crate::cli::{Global, ScaleArgs};
use crate::progress::Progress;
use crate::{client, reach, retry, token, wait};

pub async fn scale(global: &Global, args: &ScaleArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let cluster = client::connect(global).await?;
    let mut chain = reach::reach(&cluster.client, &path).await?;
    let inner = chain
        .enter(&path)
        .await
        .with_context(|| format!("cannot reach cluster {path}"))?;
    scale_one(&chain.parent, &inner, &path, &chain.namespace, args, out).await
}

async fn scale_one(
    parent: &Client,
    inner: &Client,
    path: &ClusterPath,
    ns: &str,
    args: &ScaleArgs,
    out: &mut impl Write,
) -> Result<()> {
    // The cluster's own record says how big its pod CIDR is.
    let cms: Api<ConfigMap> = Api::namespaced(inner.clone(), record::NAMESPACE);
    let rec = cms
        .get_opt(record::NAME)
        .await?
        .as_ref()
        .map(LevelRecord::from_config_map)
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            anyhow!("cluster {path} has no record of its place yet: let `up` finish first")
        })?;
    let pod_cidr = rec
        .pod_cidr
        .parse()
        .with_context(|| format!("cluster {path} records pod CIDR {:?}", rec.pod_cidr))?;
    nesting::scale::check_workers(path, &pod_cidr, args.workers)?;
    // Workers joining need a token the cluster still takes: the first one
    // lives 24 h.
    if args.workers > 0
        && token::refresh(parent, inner, ns)
            .await
            .with_context(|| format!("cannot make a bootstrap token for cluster {path}"))?
    {
        writeln!(
            out,
            "cluster {path}: new bootstrap token for joining workers"
        )?;
    }

    let deploys: Api<StatefulSet> = Api::namespaced(parent.clone(), ns);
    let before = retry::retry(|| deploys.get_opt(WORKERS))
        .await?
        .ok_or_else(|| {
            anyhow!(
                "cluster {path} has no StatefulSet {ns}/{WORKERS}: rerun `kubectl inception up`"
            )
        })?
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let replicas = Patch::Merge(serde_json::json!({ "spec": { "replicas": args.workers } }));
    let pp = PatchParams::default();
    retry::retry(|| deploys.patch_scale(WORKERS, &pp, &replicas))
        .await
        .with_context(|| format!("cannot scale StatefulSet {ns}/{WORKERS}"))?;
    if !args.wait {
        writeln!(
            out,
            "cluster {path}: workers {before} -> {} (not waiting)",
            args.workers
        )?;
        return Ok(());
    }

    let start = Instant::now();
    let pb = Progress::new(path.to_string(), "scaling");
    let pods: Api<Pod> = Api::namespaced(parent.clone(), ns);
    let nodes: Api<Node> = Api::all(inner.clone());
    let node_pods = ListParams::default().labels(labels::ROLE);
    let want = 1 + args.workers as usize;
    let mut removed = Vec::new();
    loop {
        let pod_list = match pods.list(&node_pods).await {
            Ok(l) => l.items,
            Err(e) if retry::transient(&e) => {
                tracing::debug!("listing node Pods of {path}, trying again: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let live: Vec<&str> = pod_list
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        let all_pods: Vec<&str> = pod_list
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        let node_list = match nodes.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::debug!("listing nodes of {path}: {e}");
                Vec::new()
            }
        };
        let names: Vec<&str> = node_list
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        // A node goes once its Pod is gone altogether: its kubelet stopped.
        for n in nesting::scale::stale_nodes(names.iter().copied(), all_pods.iter().copied()) {
            match nodes.delete(&n, &DeleteParams::default()).await {
                Ok(_) => removed.push(n),
                Err(kube::Error::Api(s)) if s.is_not_found() => {}
                // Deleted next round.
                Err(e) if retry::transient(&e) => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot delete node {n} of {path}"));
                }
            }
        }
        let ready = wait::ready_nodes(&node_list);
        pb.set_message(format!(
            "node Pods {}/{want}, nodes {ready}/{want} Ready of {}",
            live.len(),
            names.len()
        ));
        if live.len() == want && all_pods.len() == want && names.len() == want && ready == want {
            break;
        }
        if start.elapsed() > args.timeout {
            pb.abandon();
            let why = wait::diagnose(parent, ns).await;
            bail!(
                "cluster {path}: {ready} of {want} nodes Ready ({} nodes, {} node Pods) after {}s.\n{why}",
                names.len(),
                all_pods.len(),
                args.timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pb.finish_and_clear();
    removed.sort();
    removed.dedup();
    if !removed.is_empty() {
        writeln!(out, "cluster {path}: removed nodes {}", removed.join(", "))?;
    }
    writeln!(
        out,
        "cluster {path}: workers {before} -> {}, {want} nodes Ready in {:.1}s",
        args.workers,
        start.elapsed().as_secs_f64()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::Method;
    use nesting::{Plan, PlanRequest, TreeSpec};
    use serde_json::json;

    use super::*;
    use crate::fake;

    const WORKERS_STS: &str = "/apis/apps/v1/namespaces/inception-lab/statefulsets/workers";

    /// The cluster, holding its record of a /16 pod CIDR.
    fn inner() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
        let plan = Plan::new(&PlanRequest::new(
            TreeSpec {
                name: "lab".into(),
                depth: 1,
                width: 1,
                workers: 1,
            },
            nesting::Entropy::from_system(),
        ))
        .unwrap();
        let cm = plan.record(&plan.clusters[0]).to_config_map().unwrap();
        let cm = serde_json::to_value(cm).unwrap();
        fake::serve(move |s| match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/namespaces/kube-public/configmaps/kubectl-inception") => {
                fake::ok(cm.clone())
            }
            // No Secret of the current token: it expired.
            ("POST", "/api/v1/namespaces/kube-system/secrets") => fake::ok(s.body.clone()),
            _ => fake::not_found(),
        })
    }

    const TOKEN: &str = "/api/v1/namespaces/inception-lab/secrets/bootstrap-token";

    /// The parent, with a StatefulSet of one worker and the cluster's token.
    fn parent() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
        fake::serve(|s| {
            let d = json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "workers", "namespace": "inception-lab"},
                "spec": {"replicas": 1, "selector": {}, "serviceName": "apiserver", "template": {}},
            });
            let token = json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap-token"},
                // abcdef.0123456789abcdef
                "data": {"token": "YWJjZGVmLjAxMjM0NTY3ODlhYmNkZWY="},
            });
            match (s.method.as_str(), s.path.as_str()) {
                ("GET", WORKERS_STS) => fake::ok(d),
                ("GET" | "PATCH", TOKEN) => fake::ok(token),
                ("PATCH", p) if p == format!("{WORKERS_STS}/scale") => fake::ok(json!({
                    "apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": "workers"}, "spec": {"replicas": 3},
                })),
                _ => fake::not_found(),
            }
        })
    }

    fn args(workers: u32) -> ScaleArgs {
        ScaleArgs {
            path: "lab".into(),
            workers,
            wait: false,
            timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn scaling_patches_the_workers_statefulset() {
        let (inner, inner_log, _i) = inner();
        let (parent, log, _p) = parent();
        let mut out = Vec::new();
        let path: ClusterPath = "lab".parse().unwrap();
        scale_one(&parent, &inner, &path, "inception-lab", &args(3), &mut out)
            .await
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "cluster lab: new bootstrap token for joining workers\n\
             cluster lab: workers 1 -> 3 (not waiting)\n"
        );
        assert!(!out.contains("0123456789abcdef"));
        let patches: Vec<_> = log
            .all()
            .into_iter()
            .filter(|s| s.method == Method::PATCH)
            .collect();
        // The new token reaches the worker Pods' Secret before they start.
        assert_eq!(patches[0].path, TOKEN);
        assert_eq!(patches[1].path, format!("{WORKERS_STS}/scale"));
        assert_eq!(patches[1].body, json!({"spec": {"replicas": 3}}));
        assert_eq!(
            inner_log.count(&Method::POST, "/api/v1/namespaces/kube-system/secrets"),
            1
        );
    }

    #[tokio::test]
    async fn no_workers_need_no_token() {
        let (inner, inner_log, _i) = inner();
        let (parent, log, _p) = parent();
        let path: ClusterPath = "lab".parse().unwrap();
        let mut out = Vec::new();
        scale_one(&parent, &inner, &path, "inception-lab", &args(0), &mut out)
            .await
            .unwrap();
        assert_eq!(log.count(&Method::GET, TOKEN), 0);
        assert_eq!(inner_log.all().len(), 1);
    }

    #[tokio::test]
    async fn too_many_workers_change_nothing() {
        let (inner, _, _i) = inner();
        let (parent, log, _p) = parent();
        let path: ClusterPath = "lab".parse().unwrap();
        let e = scale_one(
            &parent,
            &inner,
            &path,
            "inception-lab",
            &args(100_000),
            &mut Vec::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("cluster lab cannot hold 100000 workers"), "{e}");
        assert!(log.all().is_empty(), "{:?}", log.all());
    }
}
