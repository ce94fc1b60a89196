//! `up`: plan, check against what exists, apply level 1, wait.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use futures::future::try_join_all;
use indicatif::MultiProgress;
use k8s_openapi::api::core::v1::Service;
use nesting::Plan;
use nesting::manifests::{Manifest, SERVICE};

use crate::cli::{Global, UpArgs};
use crate::client;
use crate::discover::{self, ParentNetworks};
use crate::{apply, plan_cmd, state, wait};

/// Adds what was found in the parent to the plan request, unless flags said it.
fn fold_in(req: &mut nesting::PlanRequest, args: &UpArgs, found: &ParentNetworks) {
    if args.plan.parent_service_cidr.is_empty() {
        req.cidr
            .exclude
            .extend(found.service_cidrs.iter().map(|f| f.cidr));
    }
    if args.plan.parent_pod_cidr.is_empty() {
        req.cidr
            .exclude
            .extend(found.pod_cidrs.iter().map(|f| f.cidr));
    }
    if args.plan.parent_node_ip.is_empty() {
        req.cidr.node_ips.extend(found.node_ips.iter().copied());
    }
    if let (None, Some(d)) = (&args.plan.parent_domain, &found.dns_domain) {
        req.parent_domain = d.clone();
    }
}

async fn service_ip(client: &kube::Client, namespace: &str) -> Result<std::net::IpAddr> {
    let api: kube::Api<Service> = kube::Api::namespaced(client.clone(), namespace);
    let svc = api.get(SERVICE).await?;
    svc.spec
        .and_then(|s| s.cluster_ip)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("Service {namespace}/{SERVICE} has no ClusterIP"))
}

pub async fn up(global: &Global, args: &UpArgs, out: &mut impl Write) -> Result<()> {
    // Bad flags fail before any connection is made.
    let mut req = plan_cmd::request(global, &args.name, &args.plan)?;
    nesting::Plan::new(&req)?;

    let cluster = client::connect(global).await?;
    let found = discover::discover(&cluster.client).await;
    fold_in(&mut req, args, &found);
    let mut plan = Plan::new(&req)?;
    if plan.depth() > 1 && !args.wait {
        bail!(
            "--depth {} needs --wait: each level is created through the API of the level above, once that one is Ready",
            plan.depth()
        );
    }

    let multi = MultiProgress::new();
    let started = Instant::now();
    let mut lines = Vec::new();
    let level1 = plan.level(1);
    build(
        cluster.client.clone(),
        &mut plan,
        level1,
        args,
        &multi,
        started,
        &mut lines,
    )
    .await?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// Brings up the clusters `kids` (siblings) inside the cluster `parent`
/// reaches, then, once they are Ready, their children inside each of them.
async fn build(
    parent: kube::Client,
    plan: &mut Plan,
    kids: Vec<usize>,
    args: &UpArgs,
    multi: &MultiProgress,
    started: Instant,
    lines: &mut Vec<String>,
) -> Result<()> {
    // Check every sibling before writing anything.
    let mut existed = Vec::new();
    for &i in &kids {
        let mut c = plan.clusters[i].clone();
        existed.push(state::reconcile(&parent, plan, &mut c).await?);
        plan.clusters[i] = c;
    }
    let plan_ref: &Plan = plan;
    let applies = kids.iter().map(|&i| {
        let parent = &parent;
        async move {
            let c = &plan_ref.clusters[i];
            let pb = wait::bar(multi, c.path.to_string(), "applying");
            // Everything but the workloads first: the Service's ClusterIP
            // then goes into the node Pods' host aliases.
            let (workloads, base): (Vec<_>, Vec<_>) = plan_ref
                .manifests(c)?
                .into_iter()
                .partition(|m| matches!(m, Manifest::StatefulSet(_) | Manifest::Deployment(_)));
            apply::apply_cluster(parent, &base).await?;
            let ip = service_ip(parent, &c.namespace).await?;
            let workloads: Vec<Manifest> = plan_ref
                .manifests_with(c, Some(ip))?
                .into_iter()
                .filter(|m| workloads.iter().any(|w| w.kind() == m.kind()))
                .collect();
            apply::apply_cluster(parent, &workloads).await?;
            pb.finish_with_message(format!("applied {} objects", base.len() + workloads.len()));
            anyhow::Ok(())
        }
    });
    try_join_all(applies).await?;
    for (&i, existed) in kids.iter().zip(&existed) {
        let c = &plan_ref.clusters[i];
        lines.push(format!(
            "cluster {} {} in namespace {} (pods {}, services {}, {})",
            c.path,
            if *existed {
                "unchanged or updated"
            } else {
                "created"
            },
            c.namespace,
            c.networks.pod_cidr,
            c.networks.service_cidr,
            plan_ref.version
        ));
    }
    if !args.wait {
        return Ok(());
    }
    let waits = kids
        .iter()
        .map(|&i| wait::wait_ready(&parent, &plan_ref.clusters[i], multi, args.timeout));
    try_join_all(waits).await?;
    let nodes = kids
        .iter()
        .map(|&i| wait::wait_nodes(&parent, &plan_ref.clusters[i], multi, args.timeout));
    try_join_all(nodes).await?;
    for &i in &kids {
        let c = &plan_ref.clusters[i];
        lines.push(format!(
            "cluster {} Ready: {} nodes, {:.1}s after up started",
            c.path,
            1 + c.workers,
            started.elapsed().as_secs_f64()
        ));
    }
    // One level down, through each new cluster's own API.
    for i in kids {
        let children = plan.clusters[i].children.clone();
        if children.is_empty() {
            continue;
        }
        let (path, ns) = (
            plan.clusters[i].path.clone(),
            plan.clusters[i].namespace.clone(),
        );
        let (inner, tunnel) = wait::inner_client(&parent, &path, &ns).await?;
        let result = Box::pin(build(inner, plan, children, args, multi, started, lines)).await;
        tunnel.abort();
        result?;
    }
    Ok(())
}
