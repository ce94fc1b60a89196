//! `pause PATH` / `resume PATH`: a cluster's node Pods scaled to zero and
//! back, its state (and every cluster below it) kept on their claims.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::{CONTROL_PLANE, WORKERS};
use nesting::pause::{PAUSE_ORDER, PAUSED_ANNOTATION, paused_workers, resume_replicas};
use nesting::{ClusterPath, labels};

use crate::cli::{Global, PauseArgs};
use crate::{client, reach, retry, storage_class, wait};

pub async fn pause(global: &Global, args: &PauseArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let cluster = client::connect(global).await?;
    let chain = reach::reach(&cluster.client, &path).await?;
    let (parent, ns) = (&chain.parent, chain.namespace.as_str());
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), ns);
    let cp = get(&sts, CONTROL_PLANE, &path).await?;
    if paused_workers(cp.metadata.annotations.as_ref()).is_some() {
        writeln!(out, "cluster {path} is paused already")?;
        return Ok(());
    }
    if storage_class::class_of(&cp).is_none() {
        bail!(
            "cluster {path} keeps its node state in emptyDirs: pausing would lose it and every cluster below it. \
             Only a cluster made with a StorageClass (--storage-class, or the parent's default class) can be paused"
        );
    }
    let workers = replicas(&get(&sts, WORKERS, &path).await?);
    let note =
        serde_json::json!({"metadata": {"annotations": {PAUSED_ANNOTATION: workers.to_string()}}});
    patch(&sts, CONTROL_PLANE, &note).await?;
    for name in PAUSE_ORDER {
        scale(&sts, name, 0).await?;
    }
    if args.wait {
        let pods: Api<Pod> = Api::namespaced(parent.clone(), ns);
        let start = Instant::now();
        loop {
            let left = node_pods(&pods).await?.len();
            if left == 0 {
                break;
            }
            if start.elapsed() > args.timeout {
                bail!(
                    "cluster {path}: {left} node Pods still there after {}s",
                    args.timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    writeln!(
        out,
        "cluster {path} paused: its node Pods are stopped, its state is kept on their claims; \
         `kubectl inception resume {path}` starts it again"
    )?;
    Ok(())
}

pub async fn resume(global: &Global, args: &PauseArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let cluster = client::connect(global).await?;
    let mut chain = reach::reach(&cluster.client, &path).await?;
    let (parent, ns) = (chain.parent.clone(), chain.namespace.clone());
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), &ns);
    let cp = get(&sts, CONTROL_PLANE, &path).await?;
    let Some(workers) = paused_workers(cp.metadata.annotations.as_ref()) else {
        writeln!(out, "cluster {path} is not paused")?;
        return Ok(());
    };
    let start = Instant::now();
    for (name, n) in resume_replicas(workers) {
        scale(&sts, name, n).await?;
    }
    let unmark = serde_json::json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}});
    patch(&sts, CONTROL_PLANE, &unmark).await?;
    if !args.wait {
        writeln!(
            out,
            "cluster {path} resuming: {} node Pods starting",
            1 + workers
        )?;
        return Ok(());
    }
    let want = 1 + workers as usize;
    let pods: Api<Pod> = Api::namespaced(parent.clone(), &ns);
    let deadline = |what: &str| -> Result<()> {
        if start.elapsed() > args.timeout {
            bail!("cluster {path}: {what} after {}s", args.timeout.as_secs());
        }
        Ok(())
    };
    loop {
        let ready = node_pods(&pods)
            .await?
            .iter()
            .filter(|p| pod_ready(p))
            .count();
        if ready == want {
            break;
        }
        deadline(&format!("{ready} of {want} node Pods Ready"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let inner = chain
        .enter(&path)
        .await
        .with_context(|| format!("cannot reach cluster {path}"))?;
    wait_nodes(&inner, want, &deadline).await?;
    writeln!(
        out,
        "cluster {path} resumed: {want} nodes Ready in {:.1}s",
        start.elapsed().as_secs_f64()
    )?;
    Ok(())
}

async fn wait_nodes(
    inner: &Client,
    want: usize,
    deadline: &dyn Fn(&str) -> Result<()>,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(inner.clone());
    loop {
        let ready = match nodes.list(&ListParams::default()).await {
            Ok(l) => wait::ready_nodes(&l.items),
            Err(e) if retry::transient(&e) => 0,
            Err(e) => return Err(e.into()),
        };
        if ready >= want {
            return Ok(());
        }
        deadline(&format!("{ready} of {want} nodes Ready"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn get(sts: &Api<StatefulSet>, name: &str, path: &ClusterPath) -> Result<StatefulSet> {
    retry::retry(|| sts.get_opt(name))
        .await?
        .ok_or_else(|| anyhow!("cluster {path} has no StatefulSet {name}: is it a cluster `up` made? `kubectl inception tree` lists them"))
}

fn replicas(s: &StatefulSet) -> u32 {
    s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0).max(0) as u32
}

async fn patch(sts: &Api<StatefulSet>, name: &str, body: &serde_json::Value) -> Result<()> {
    let (pp, p) = (PatchParams::default(), Patch::Merge(body));
    retry::retry(|| sts.patch(name, &pp, &p))
        .await
        .with_context(|| format!("cannot annotate StatefulSet {name}"))?;
    Ok(())
}

async fn scale(sts: &Api<StatefulSet>, name: &str, n: u32) -> Result<()> {
    let body = serde_json::json!({"spec": {"replicas": n}});
    let (pp, p) = (PatchParams::default(), Patch::Merge(&body));
    retry::retry(|| sts.patch_scale(name, &pp, &p))
        .await
        .with_context(|| format!("cannot scale StatefulSet {name} to {n}"))?;
    Ok(())
}

async fn node_pods(pods: &Api<Pod>) -> Result<Vec<Pod>> {
    let lp = ListParams::default().labels(labels::ROLE);
    Ok(retry::retry(|| pods.list(&lp)).await?.items)
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
