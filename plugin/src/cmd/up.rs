//! `up`: plan, check against what exists, then each cluster: apply, wait,
//! record, and on to its children through its own API.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::{Manifest, SERVICE};
use nesting::plan::Runtime;
use nesting::stage::Stage;
use nesting::{ClusterPath, Plan, PlanRequest, PlannedCluster, record};

use crate::cli::{Global, UpArgs};
use crate::client;
use crate::discover;
use crate::existing;
use crate::progress::Progress;
use crate::tunnel::Tunnel;
use crate::{apply, reach, request, retry, state, wait};

pub(super) async fn service_ip(client: &kube::Client, namespace: &str) -> Result<std::net::IpAddr> {
    let api: kube::Api<Service> = kube::Api::namespaced(client.clone(), namespace);
    let svc = retry::retry(|| api.get(SERVICE)).await?;
    svc.spec
        .and_then(|s| s.cluster_ip)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("Service {namespace}/{SERVICE} has no ClusterIP"))
}

pub async fn up(global: &Global, args: &UpArgs, out: &mut impl Write) -> Result<()> {
    // Bad flags fail before any connection is made.
    let mut req = request::request(global, &args.name, &args.plan)?;
    let first = nesting::Plan::new(&req)?;

    let cluster = client::connect(global).await?;
    let top = &first.clusters[0];
    crate::storage_class::settle(
        &cluster.client,
        &top.namespace,
        &top.path.to_string(),
        &mut req.node_storage,
        args.plan.ephemeral,
    )
    .await?;
    let found = discover::discover(&cluster.client).await;
    found.fold_into(&mut req, request::given(&args.plan));
    let plan = plan_around(&cluster.client, &req).await?;
    if plan.depth() > 1 && !args.wait {
        bail!(
            "--depth {} needs --wait: each level is created through the API of the level above, once that one is Ready",
            plan.depth()
        );
    }

    let run = Run {
        plan: &plan,
        args,
        started: Instant::now(),
    };
    let done = up_siblings(&run, cluster.client.clone(), plan.level(1)).await?;
    for l in summary(&plan, &done, args.wait) {
        writeln!(out, "{l}")?;
    }
    if args.wait {
        writeln!(
            out,
            "tree {} Ready in {:.1}s: `kubectl inception tree` shows it, `kubectl inception connect PATH` reaches any cluster",
            plan.clusters[0].path.tree,
            run.started.elapsed().as_secs_f64()
        )?;
    }
    Ok(())
}

/// Plans the tree around what exists of it (see [`nesting::grow`]): a
/// deeper or wider tree keeps every existing cluster's ranges; a smaller
/// one, or another plan for an existing cluster, is refused before
/// anything is written.
async fn plan_around(client: &Client, req: &PlanRequest) -> Result<Plan> {
    let existing = existing::find(client, &req.tree.name).await?;
    let plan = nesting::grow::plan_around(req, &existing.found)?;
    for (path, why) in &existing.unseen {
        if plan.find(path).is_some_and(|c| !c.children.is_empty()) {
            tracing::warn!(
                "cluster {path} exists, but the clusters in it could not be listed ({why}): \
                 up plans them from what is free and checks each one when it gets there"
            );
        }
    }
    Ok(plan)
}

/// What one `up` shares between its clusters.
struct Run<'a> {
    plan: &'a Plan,
    args: &'a UpArgs,
    started: Instant,
}

/// How one cluster went, in seconds since `up` started.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub path: ClusterPath,
    pub existed: bool,
    pub objects: usize,
    /// When this cluster's apply started and ended.
    pub apply: (f64, f64),
    /// When its node Pods were Ready.
    pub pods_ready: Option<f64>,
    /// When all its inner nodes were Ready.
    pub nodes_ready: Option<f64>,
}

impl Outcome {
    /// Seconds from the start of this cluster's apply to all its nodes Ready.
    pub fn boot(&self) -> Option<f64> {
        self.nodes_ready.map(|r| r - self.apply.0)
    }
}

fn summary(plan: &Plan, done: &[Outcome], waited: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for o in done {
        let Some(c) = plan.find(&o.path) else {
            continue;
        };
        lines.push(format!(
            "cluster {} {} in namespace {} (pods {}, services {}, {})",
            c.path,
            if o.existed {
                "unchanged or updated"
            } else {
                "created"
            },
            c.namespace,
            c.networks.pod_cidr,
            c.networks.service_cidr,
            plan.version
        ));
    }
    if waited {
        for o in done {
            let (Some(pods), Some(nodes), Some(boot)) = (o.pods_ready, o.nodes_ready, o.boot())
            else {
                continue;
            };
            let want = plan.find(&o.path).map(|c| 1 + c.workers).unwrap_or(0);
            lines.push(format!(
                "cluster {} Ready: {want} nodes, {nodes:.1}s after up started (boot {boot:.1}s: apply {:.1}s, node Pods {:.1}s, nodes {:.1}s)",
                o.path,
                o.apply.1 - o.apply.0,
                pods - o.apply.1,
                nodes - pods,
            ));
        }
    }
    lines
}

/// Brings up the sibling clusters `siblings` inside the cluster `parent`
/// reaches; each one then goes on with its own children as soon as it is
/// Ready, whatever its siblings are doing.
async fn up_siblings(run: &Run<'_>, parent: Client, siblings: Vec<usize>) -> Result<Vec<Outcome>> {
    // Below the top, the parent is a cluster of this tree: check that the
    // children's planned networks still fit what it really uses.
    if let Some(&first) = siblings.first()
        && let Some(at) = run.plan.clusters[first].path.parent()
    {
        let found = discover::discover(&parent).await;
        let used: Vec<_> = (found.service_cidrs.iter().chain(&found.pod_cidrs))
            .map(|f| (f.cidr, f.source.clone()))
            .collect();
        for &i in &siblings {
            let c = &run.plan.clusters[i];
            let bad = nesting::cidr::clashes(&c.networks, &used, &found.node_ips);
            if !bad.is_empty() {
                bail!(
                    "cluster {} does not fit in cluster {at} as it really is: {}. \
                     Remove the subtree with `kubectl inception down {at}` and run up again, \
                     or plan other ranges with --cidr-pool or --exclude",
                    c.path,
                    bad.join("; ")
                );
            }
        }
    }
    // Check every sibling before writing anything.
    let mut checked = Vec::new();
    for &i in &siblings {
        let mut c = run.plan.clusters[i].clone();
        let existed = state::reconcile(&parent, run.plan, &mut c).await?;
        if existed {
            refuse::refuse_restart(run.plan, &parent, &c, run.args.allow_restart).await?;
        }
        checked.push((c, existed));
    }
    let subtrees = checked
        .into_iter()
        .map(|(c, existed)| Box::pin(up_cluster(run, &parent, c, existed)));
    Ok(try_join_all(subtrees)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

fn secs(run: &Run<'_>) -> f64 {
    run.started.elapsed().as_secs_f64()
}

/// One cluster, step by step: its configuration, its nodes, waiting for
/// them, its record inside itself, then its children through its own API.
async fn up_cluster(
    run: &Run<'_>,
    parent: &Client,
    mut c: PlannedCluster,
    existed: bool,
) -> Result<Vec<Outcome>> {
    let pb = Progress::new(c.path.to_string(), "applying");
    let mut o = Outcome {
        path: c.path.clone(),
        existed,
        objects: 0,
        apply: (secs(run), 0.0),
        pods_ready: None,
        nodes_ready: None,
    };
    let (runtime, config) = apply_config(run.plan, parent, &c).await?;
    if existed {
        crate::token::for_new_workers(parent, &mut c).await?;
    }
    let nodes = apply_nodes(run.plan, parent, &c, &runtime).await?;
    o.objects = config + nodes;
    o.apply.1 = secs(run);
    if !run.args.wait {
        pb.finish_with_message(format!("applied {} objects", o.objects));
        return Ok(vec![o]);
    }
    let (inner, _tunnel) = wait_cluster(run, parent, &c, &pb, &mut o).await?;
    record(&inner, run.plan, &c).await?;
    pb.finish_with_message(format!(
        "Ready: {} nodes, boot {:.1}s",
        1 + c.workers,
        o.boot().unwrap_or_default()
    ));
    let mut all = vec![o];
    all.extend(up_children(run, inner, &c).await?);
    Ok(all)
}

/// Applies everything but the node workloads: the Namespace, Secrets,
/// ConfigMaps and the apiserver Service. Returns what the node Pods need
/// to know from the parent (its apiserver endpoints, which they reject,
/// and the Service's ClusterIP, for their host aliases) and how many
/// objects were applied.
async fn apply_config(
    plan: &Plan,
    parent: &Client,
    c: &PlannedCluster,
) -> Result<(Runtime, usize)> {
    let mut runtime = Runtime {
        apiserver_ip: None,
        parent_apiservers: discover::parent_apiservers(parent).await,
    };
    let config: Vec<Manifest> = plan
        .manifests_with(c, &runtime)?
        .into_iter()
        .filter(|m| Stage::of(m) != Stage::Workloads)
        .collect();
    apply::apply_cluster(parent, &config).await?;
    runtime.apiserver_ip = Some(service_ip(parent, &c.namespace).await?);
    Ok((runtime, config.len()))
}

/// Applies the control plane's and the workers' StatefulSets,
/// together. Returns how many objects were applied.
async fn apply_nodes(
    plan: &Plan,
    parent: &Client,
    c: &PlannedCluster,
    runtime: &Runtime,
) -> Result<usize> {
    let nodes: Vec<Manifest> = plan
        .manifests_with(c, runtime)?
        .into_iter()
        .filter(|m| Stage::of(m) == Stage::Workloads)
        .collect();
    apply::apply_cluster(parent, &nodes).await?;
    Ok(nodes.len())
}

/// Waits for the node Pods, then for the nodes inside, through a tunnel
/// that is returned with a client for the cluster.
async fn wait_cluster(
    run: &Run<'_>,
    parent: &Client,
    c: &PlannedCluster,
    pb: &Progress,
    o: &mut Outcome,
) -> Result<(Client, Tunnel)> {
    wait::wait_ready(parent, c, pb, run.args.timeout).await?;
    o.pods_ready = Some(secs(run));
    let (inner, tunnel) = reach::inner(parent, &c.path, &c.namespace).await?;
    wait::wait_nodes(parent, &inner, c, pb, run.args.timeout).await?;
    o.nodes_ready = Some(secs(run));
    Ok((inner, tunnel))
}

/// The cluster's children, through its own API.
async fn up_children(run: &Run<'_>, inner: Client, c: &PlannedCluster) -> Result<Vec<Outcome>> {
    if c.children.is_empty() {
        return Ok(Vec::new());
    }
    up_siblings(run, inner, c.children.clone()).await
}

/// Stores the cluster's place in the tree inside the cluster itself.
async fn record(inner: &Client, plan: &Plan, c: &PlannedCluster) -> Result<()> {
    let cm = plan.record(c).to_config_map()?;
    let api: Api<ConfigMap> = Api::namespaced(inner.clone(), record::NAMESPACE);
    let (pp, patch) = (PatchParams::apply(apply::FIELD_MANAGER), Patch::Apply(&cm));
    retry::retry(|| api.patch(record::NAME, &pp, &patch))
        .await
        .map_err(|e| {
            apply::describe(
                e,
                "ConfigMap",
                &format!(
                    "{}/{} in cluster {}",
                    record::NAMESPACE,
                    record::NAME,
                    c.path
                ),
            )
        })?;
    Ok(())
}

mod refuse;
#[cfg(test)]
mod tests;
