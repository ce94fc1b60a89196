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

    let level1 = plan.level(1);
    // Check every level-1 cluster before writing anything.
    let mut existed = Vec::new();
    for &i in &level1 {
        let mut c = plan.clusters[i].clone();
        existed.push(state::reconcile(&cluster.client, &plan, &mut c).await?);
        plan.clusters[i] = c;
    }

    let multi = MultiProgress::new();
    let started = Instant::now();
    let applies = level1.iter().map(|&i| {
        let plan = &plan;
        let client = &cluster.client;
        let multi = &multi;
        async move {
            let c = &plan.clusters[i];
            let pb = wait::bar(multi, c.path.to_string(), "applying");
            // Everything but the workloads first: the Service's ClusterIP
            // then goes into the node Pods' host aliases.
            let (workloads, base): (Vec<_>, Vec<_>) = plan
                .manifests(c)?
                .into_iter()
                .partition(|m| matches!(m, Manifest::StatefulSet(_) | Manifest::Deployment(_)));
            apply::apply_cluster(client, &base).await?;
            let ip = service_ip(client, &c.namespace).await?;
            let workloads: Vec<Manifest> = plan
                .manifests_with(c, Some(ip))?
                .into_iter()
                .filter(|m| workloads.iter().any(|w| w.kind() == m.kind()))
                .collect();
            apply::apply_cluster(client, &workloads).await?;
            pb.finish_with_message(format!("applied {} objects", base.len() + workloads.len()));
            anyhow::Ok(())
        }
    });
    try_join_all(applies).await?;
    let applied = started.elapsed();

    for (&i, existed) in level1.iter().zip(&existed) {
        let c = &plan.clusters[i];
        writeln!(
            out,
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
            plan.version
        )?;
    }
    tracing::info!(ms = applied.as_millis() as u64, "applied level 1");

    if args.wait {
        let waits = level1
            .iter()
            .map(|&i| wait::wait_ready(&cluster.client, &plan.clusters[i], &multi, args.timeout));
        try_join_all(waits).await?;
        let nodes = level1
            .iter()
            .map(|&i| wait::wait_nodes(&cluster.client, &plan.clusters[i], &multi, args.timeout));
        try_join_all(nodes).await?;
        let total = started.elapsed();
        for &i in &level1 {
            let c = &plan.clusters[i];
            writeln!(
                out,
                "cluster {} Ready: {} nodes, {:.1}s after apply started",
                c.path,
                1 + c.workers,
                total.as_secs_f64()
            )?;
        }
    }
    if plan.depth() > 1 {
        bail!(
            "--depth {}: level 1 was {}, but creating the levels below it is not supported yet. \
             Deeper levels are created only once level 1 is Ready, through its own API",
            plan.depth(),
            if args.wait {
                "created and is Ready"
            } else {
                "applied (not waited for)"
            }
        );
    }
    Ok(())
}
