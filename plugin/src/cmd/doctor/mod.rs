//! `doctor`: preflight checks of the current cluster, before anything is
//! created. This module gathers facts (API calls); `nesting::doctor`
//! judges. `scratch` tries Pods in a namespace of its own.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Namespace, PodSpec};
use kube::Client;
use nesting::doctor::{self, Check, DryRun, NamespaceState, NodeFacts, ProbeFacts, Report};
use nesting::manifests::Manifest;
use nesting::plan::PlanDigest;
use nesting::ranges::{FoundRange, ParentNetworks};
use nesting::{Plan, PlanRequest, TreeSpec};

mod facts;
mod scratch;

use self::facts::{describe_namespace, namespace_dry_run, namespace_state, nodes, rbac};
use self::scratch::{cleanup, pod_dry_run, run_probe, scratch_namespace, try_image};
use crate::cli::{DoctorArgs, Global, TreeFormat};
use crate::discover;
use crate::{client, output, request};

pub async fn doctor(global: &Global, args: &DoctorArgs, out: &mut impl Write) -> Result<()> {
    if args.print_rbac {
        out.write_all(doctor::cluster_role().as_bytes())?;
        return Ok(());
    }
    // Bad flags fail before any connection; a tree that does not fit is a
    // check of its own.
    output::refuse_wide(args.output, "doctor")?;
    let req = request::request(global, &args.name, &args.plan)?;
    req.tree.validate()?;
    match Plan::new(&req) {
        Ok(_) | Err(nesting::Error::Pool(_) | nesting::Error::Prefix(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let report = match client::connect(global).await {
        Err(e) => Report::new(vec![doctor::api(Err(&format!("{e:#}")))], None),
        Ok(cluster) => gather(&cluster, args, req).await?,
    };
    match args.output {
        TreeFormat::Table | TreeFormat::Wide => table(&report, out)?,
        TreeFormat::Json => output::json(&report, out)?,
        TreeFormat::Yaml => output::yaml(&report, out)?,
    }
    match report.problems {
        0 => Ok(()),
        1 => bail!("doctor found 1 problem"),
        n => bail!("doctor found {n} problems"),
    }
}

fn table(report: &Report, out: &mut impl Write) -> Result<()> {
    let mut rows = vec![["CHECK", "STATUS", "DETAIL"].map(String::from)];
    for c in &report.checks {
        rows.push([c.name.clone(), c.status.to_string(), c.detail.clone()]);
    }
    output::print_table(&rows, out)?;
    let hints: Vec<&Check> = report.checks.iter().filter(|c| c.hint.is_some()).collect();
    if !hints.is_empty() {
        writeln!(out)?;
        for c in hints {
            writeln!(out, "{}: {}", c.name, c.hint.as_deref().unwrap_or_default())?;
        }
    }
    Ok(())
}

/// The parent's ranges as the CIDR check describes them: flags win.
fn ranges(flags: &[String], found: &[FoundRange], flag: &str) -> Vec<doctor::FoundRange> {
    if flags.is_empty() {
        found.to_vec()
    } else {
        flags
            .iter()
            .filter_map(|s| s.parse().ok())
            .map(|cidr| doctor::FoundRange {
                cidr,
                source: flag.to_string(),
            })
            .collect()
    }
}

/// Every check, in order: the API, RBAC, nodes, Pod Security, the node
/// Pod (and the probe), CIDRs, and what already exists.
async fn gather(cluster: &client::Cluster, args: &DoctorArgs, req: PlanRequest) -> Result<Report> {
    let client = &cluster.client;
    let mut checks = Vec::new();
    let version = client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .map_err(|e| e.to_string());
    checks.push(doctor::api(match &version {
        Ok(v) => Ok((v.as_str(), cluster.server.as_str())),
        Err(e) => Err(e.as_str()),
    }));
    if version.is_err() {
        return Ok(Report::new(checks, None));
    }

    let top_namespace = match &req.root_namespace {
        Some(ns) => ns.clone(),
        None => nesting::naming::namespace(&nesting::ClusterPath::root(&req.tree.name)),
    };
    let (rbac, nodes, found, existing) = tokio::join!(
        rbac(client, &top_namespace),
        nodes(client),
        discover::discover(client),
        namespace_state(client, &top_namespace),
    );
    checks.push(rbac);
    let node_facts = nodes.as_ref().map(Vec::as_slice).map_err(String::as_str);
    let top = existing.as_ref().ok().and_then(Option::as_ref);
    let (plan, cidr_check) = plan_here(args, &req, &found, node_facts, top);
    checks.push(doctor::nodes(node_facts));
    let (shape, ns_manifest, node_pod) = shape_of(&plan, &req)?;
    checks.push(pod_security(client, &top_namespace, &ns_manifest, &existing).await);
    let (more, probe) = try_pods(
        client,
        args,
        &shape,
        &ns_manifest,
        &node_pod,
        &top_namespace,
        node_facts.is_ok_and(|n| n.iter().any(NodeFacts::usable)),
    )
    .await?;
    checks.extend(more);
    checks.push(cidr_check);

    let state = match &existing {
        Ok(None) => NamespaceState::Absent,
        Ok(Some(ns)) => describe_namespace(ns),
        Err(e) => {
            checks.push(Check::warn(
                "namespace",
                format!("cannot read namespace {top_namespace}: {e}"),
                "see the rbac check",
            ));
            return Ok(Report::new(checks, probe));
        }
    };
    let want = plan.as_ref().ok().map(|p| p.digest(&p.clusters[0]));
    checks.push(doctor::existing(
        &top_namespace,
        &req.tree.name,
        want.as_deref(),
        &state,
    ));
    Ok(Report::new(checks, probe))
}

/// The plan against what the cluster uses, and the CIDR check.
fn plan_here(
    args: &DoctorArgs,
    req: &PlanRequest,
    found: &ParentNetworks,
    nodes: Result<&[NodeFacts], &str>,
    top: Option<&Namespace>,
) -> (Result<Plan, nesting::Error>, Check) {
    let mut full = req.clone();
    found.fold_into(&mut full, request::given(&args.plan));
    // As `up` does, keep the ranges the top cluster holds where they fit.
    let root = nesting::ClusterPath::root(&req.tree.name);
    let kept = top
        .filter(|ns| crate::state::path_of(ns).as_ref() == Some(&root))
        .and_then(|ns| crate::state::digest_of(ns)?.parse::<PlanDigest>().ok());
    if let Some(d) = kept {
        full.kept.insert(root, d.kept());
    }
    let plan = Plan::new(&full);
    let service = ranges(
        &args.plan.parent_service_cidr,
        &found.service_cidrs,
        "--parent-service-cidr",
    );
    let pod = ranges(
        &args.plan.parent_pod_cidr,
        &found.pod_cidrs,
        "--parent-pod-cidr",
    );
    let check = doctor::cidrs(&doctor::CidrFacts {
        request: &full.cidr,
        clusters: usize::try_from(req.tree.cluster_count()).unwrap_or(usize::MAX),
        service_cidrs: &service,
        pod_cidrs: &pod,
        node_ips: &full.cidr.node_ips,
        has_nodes: nodes.is_ok_and(|n| !n.is_empty()),
    });
    (plan, check)
}

/// What the node Pods and the namespace look like: from the plan, or,
/// when the tree does not fit, from a one-cluster plan in the default pool.
fn shape_of(
    plan: &Result<Plan, nesting::Error>,
    req: &PlanRequest,
) -> Result<(Plan, Namespace, PodSpec)> {
    let shape = match plan {
        Ok(p) => p.clone(),
        Err(_) => Plan::new(&PlanRequest {
            tree: TreeSpec {
                depth: 1,
                width: 1,
                ..req.tree.clone()
            },
            cidr: Default::default(),
            ..req.clone()
        })?,
    };
    let manifests = shape.manifests(&shape.clusters[0])?;
    let ns_manifest = manifests.iter().find_map(|m| match m {
        Manifest::Namespace(n) => Some(n.clone()),
        _ => None,
    });
    let node_pod = manifests.iter().find_map(|m| match m {
        Manifest::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.template.spec.clone()),
        _ => None,
    });
    let (Some(ns_manifest), Some(node_pod)) = (ns_manifest, node_pod) else {
        bail!("the plan has no Namespace or control-plane StatefulSet");
    };
    Ok((shape, ns_manifest, node_pod))
}

/// Pod Security: the namespace as up applies it, dry run.
async fn pod_security(
    client: &Client,
    top_namespace: &str,
    ns_manifest: &Namespace,
    existing: &Result<Option<Namespace>, String>,
) -> Check {
    let dry = namespace_dry_run(client, ns_manifest).await;
    let enforce = match existing {
        Ok(Some(ns)) => Some(
            ns.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-security.kubernetes.io/enforce"))
                .map(String::as_str),
        ),
        _ => None,
    };
    doctor::pod_security(
        top_namespace,
        match &dry {
            Ok(()) => DryRun::Accepted,
            Err((409, e)) => DryRun::Conflict(e),
            Err((_, e)) => DryRun::Refused(e),
        },
        enforce,
    )
}

/// The privileged node Pod (and the probe) in a namespace of our own,
/// deleted afterwards, even on Ctrl-C.
async fn try_pods(
    client: &Client,
    args: &DoctorArgs,
    shape: &Plan,
    ns_manifest: &Namespace,
    node_pod: &PodSpec,
    top_namespace: &str,
    nodes_usable: bool,
) -> Result<(Vec<Check>, Option<ProbeFacts>)> {
    let pod_security_labels: BTreeMap<String, String> = ns_manifest
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("pod-security.kubernetes.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let scratch = scratch_namespace(client, pod_security_labels).await;
    let work = async {
        let mut found = Vec::new();
        match &scratch {
            Err(e) => found.push(doctor::privileged_pods_unchecked(e)),
            Ok(ns) => {
                let dry = pod_dry_run(client, ns, node_pod).await;
                found.push(doctor::privileged_pods(
                    dry.as_ref().map(|_| ()).map_err(String::as_str),
                    top_namespace,
                ));
            }
        }
        let pull = match &scratch {
            _ if !nodes_usable => doctor::Pull::Skipped("no node takes Pods".into()),
            Err(e) => doctor::Pull::Skipped(format!("no namespace to try in: {e}")),
            Ok(ns) => try_image(client, ns, &shape.image).await,
        };
        found.push(doctor::image(&shape.image, &pull));
        let mut facts = None;
        if args.probe && matches!(pull, doctor::Pull::Refused(_) | doctor::Pull::Slow(_)) {
            found.push(doctor::probe_failed(
                "the node image is not there (see the image check)",
                &shape.image,
            ));
        } else if args.probe {
            match &scratch {
                Err(e) => found.push(doctor::probe_failed(
                    &format!("no namespace to run it in: {e}"),
                    &shape.image,
                )),
                Ok(ns) => match run_probe(client, ns, &shape.image).await {
                    Ok(f) => {
                        found.extend(doctor::probe(&f, shape.version));
                        facts = Some(f);
                    }
                    Err(why) => found.push(doctor::probe_failed(&why, &shape.image)),
                },
            }
        }
        (found, facts)
    };
    let done = tokio::select! {
        r = work => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Ok(ns) = &scratch {
        cleanup(client, ns).await;
    }
    let Some(done) = done else {
        bail!("interrupted (the doctor's namespace was deleted)");
    };
    Ok(done)
}
