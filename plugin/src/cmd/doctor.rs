//! `doctor`: preflight checks of the current cluster, before anything is
//! created. This file gathers facts (API calls); `nesting::doctor` judges.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, Namespace, Node, Pod, PodSpec, SecurityContext,
    ServiceAccount, Volume, VolumeMount,
};
use kube::api::{DeleteParams, ListParams, LogParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use nesting::doctor::{self, Check, DryRun, NamespaceState, NodeFacts, Report};
use nesting::manifests::Manifest;
use nesting::{Plan, PlanRequest, TreeSpec, labels};

use crate::cli::{DoctorArgs, Global, TreeFormat};
use crate::discover;
use crate::{apply, client, output, request, retry, state};

/// How long the probe Pod may take to run to the end.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a new namespace may take to get its default ServiceAccount.
const SA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the doctor's namespace to be gone.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn doctor(global: &Global, args: &DoctorArgs, out: &mut impl Write) -> Result<()> {
    // Bad flags fail before any connection; a tree that does not fit is a
    // check of its own.
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
        TreeFormat::Table => table(&report, out)?,
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
fn ranges(
    flags: &[String],
    found: &[nesting::ranges::FoundRange],
    flag: &str,
) -> Vec<doctor::FoundRange> {
    if flags.is_empty() {
        found
            .iter()
            .map(|f| doctor::FoundRange {
                cidr: f.cidr,
                source: f.source.clone(),
            })
            .collect()
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

    // The plan against what the cluster uses.
    let mut full = req.clone();
    found.fold_into(&mut full, request::given(&args.plan));
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
    let node_ips = full.cidr.node_ips.clone();
    let node_facts = nodes.as_ref().map(Vec::as_slice).map_err(String::as_str);
    let cidr_check = doctor::cidrs(&doctor::CidrFacts {
        request: &full.cidr,
        clusters: usize::try_from(req.tree.cluster_count()).unwrap_or(usize::MAX),
        service_cidrs: &service,
        pod_cidrs: &pod,
        node_ips: &node_ips,
        has_nodes: node_facts.is_ok_and(|n| !n.is_empty()),
    });
    checks.push(doctor::nodes(node_facts));
    // What the node Pods and the namespace look like: from the plan, or,
    // when the tree does not fit, from a one-cluster plan in the default pool.
    let shape = match &plan {
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
    let top = &shape.clusters[0];
    let manifests = shape.manifests(top)?;
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

    // Pod Security: the namespace as up applies it, dry run.
    let dry = namespace_dry_run(client, &ns_manifest).await;
    let enforce = match &existing {
        Ok(Some(ns)) => Some(
            ns.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-security.kubernetes.io/enforce"))
                .map(String::as_str),
        ),
        _ => None,
    };
    checks.push(doctor::pod_security(
        &top_namespace,
        match &dry {
            Ok(()) => DryRun::Accepted,
            Err((409, e)) => DryRun::Conflict(e),
            Err((_, e)) => DryRun::Refused(e),
        },
        enforce,
    ));

    // The privileged node Pod (and the probe) in a namespace of our own.
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
                let dry = pod_dry_run(client, ns, &node_pod).await;
                found.push(doctor::privileged_pods(
                    dry.as_ref().map(|_| ()).map_err(String::as_str),
                    &top_namespace,
                ));
            }
        }
        let mut facts = None;
        if args.probe {
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
    let Some((more, probe)) = done else {
        bail!("interrupted (the doctor's namespace was deleted)");
    };
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

async fn rbac(client: &Client, namespace: &str) -> Check {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ask = |n: doctor::Need| {
        let api = api.clone();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(n.verb.into()),
                    group: Some(n.group.into()),
                    resource: Some(n.resource.into()),
                    subresource: (!n.subresource.is_empty()).then(|| n.subresource.into()),
                    namespace: (n.resource != "namespaces").then(|| namespace.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        async move {
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map(|r| r.status.is_some_and(|s| s.allowed))
                .map_err(|e| e.to_string());
            (n, answer)
        }
    };
    let answers = futures::future::join_all(doctor::NEEDED.iter().copied().map(ask)).await;
    doctor::rbac(&answers, namespace)
}

async fn nodes(client: &Client) -> Result<Vec<NodeFacts>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .map(|n| {
            let spec = n.spec.unwrap_or_default();
            NodeFacts {
                name: n.metadata.name.unwrap_or_default(),
                ready: n
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True"),
                unschedulable: spec.unschedulable.unwrap_or(false),
                taints: spec
                    .taints
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                    .map(|t| t.key)
                    .collect(),
            }
        })
        .collect())
}

async fn namespace_state(client: &Client, name: &str) -> Result<Option<Namespace>, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(name).await.map_err(|e| e.to_string())
}

fn describe_namespace(ns: &Namespace) -> NamespaceState {
    if let Some(t) = &ns.metadata.deletion_timestamp {
        let conditions = state::true_conditions(ns);
        return NamespaceState::Terminating {
            since: t.0.to_string(),
            conditions,
        };
    }
    let managed = ns
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGER);
    NamespaceState::Exists {
        managed,
        path: state::path_of(ns).map(|p| p.to_string()),
        digest: state::digest_of(ns).map(str::to_string),
    }
}

/// What the server says to an API call: accepted, or its message.
fn refusal(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        e => e.to_string(),
    }
}

/// Server-side apply of the namespace as `up` makes it, dry run; when
/// refused, the HTTP code and message.
async fn namespace_dry_run(client: &Client, ns: &Namespace) -> Result<(), (u16, String)> {
    let api: Api<Namespace> = Api::all(client.clone());
    let name = ns.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(apply::FIELD_MANAGER).dry_run(),
        &Patch::Apply(ns),
    )
    .await
    .map(drop)
    .map_err(|e| match e {
        kube::Error::Api(s) => (s.code, s.message),
        e => (0, e.to_string()),
    })
}

/// A real, short-lived namespace labelled like the plugin's, to try Pods
/// in; it has its default ServiceAccount when this returns.
async fn scratch_namespace(
    client: &Client,
    mut labels: BTreeMap<String, String>,
) -> Result<String, String> {
    labels.insert(doctor::DOCTOR_LABEL.into(), "true".into());
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some("inception-doctor-".into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let made = api
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("cannot create a namespace: {}", refusal(e)))?;
    let name = made.metadata.name.unwrap_or_default();
    tracing::info!(namespace = %name, "created the doctor's namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    let start = Instant::now();
    while start.elapsed() < SA_TIMEOUT {
        if let Ok(Some(_)) = sas.get_opt("default").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(name)
}

/// A node Pod, as the control-plane StatefulSet makes it, dry run.
async fn pod_dry_run(client: &Client, namespace: &str, spec: &PodSpec) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some("node-".into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec.clone()),
        ..Pod::default()
    };
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&pp, &pod).await.map(drop).map_err(refusal)
}

const PROBE_POD: &str = "probe";

/// Runs the probe Pod to the end; its node and what it printed.
async fn run_probe(
    client: &Client,
    namespace: &str,
    image: &str,
) -> Result<doctor::ProbeFacts, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(PROBE_POD.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(0),
            containers: vec![Container {
                name: PROBE_POD.into(),
                image: Some(image.into()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(vec!["sh".into(), "-c".into(), doctor::PROBE_SCRIPT.into()]),
                security_context: Some(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                }),
                volume_mounts: Some(vec![VolumeMount {
                    name: "modules".into(),
                    mount_path: doctor::PROBE_MODULES_MOUNT.into(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                }]),
                ..Container::default()
            }],
            volumes: Some(vec![Volume {
                name: "modules".into(),
                host_path: Some(HostPathVolumeSource {
                    path: "/lib/modules".into(),
                    type_: Some(String::new()),
                }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    api.create(&PostParams::default(), &pod)
        .await
        .map_err(|e| format!("refused: {}", refusal(e)))?;
    let start = Instant::now();
    let done = loop {
        let p = retry::retry(|| api.get(PROBE_POD))
            .await
            .map_err(|e| e.to_string())?;
        let phase = p.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            break p;
        }
        if let Some(reason) = image_problem(&p) {
            return Err(reason);
        }
        if start.elapsed() > PROBE_TIMEOUT {
            return Err(format!(
                "still {} after {}s{}",
                phase.unwrap_or_else(|| "Pending".into()),
                PROBE_TIMEOUT.as_secs(),
                why_waiting(&p)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let node = done
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_else(|| "?".into());
    let logs = api
        .logs(PROBE_POD, &LogParams::default())
        .await
        .map_err(|e| format!("cannot read its output: {e}"))?;
    if done.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
        return Err(format!(
            "it failed on node {node}: {}",
            logs.lines().last().unwrap_or("no output")
        ));
    }
    Ok(doctor::parse_probe(&node, &logs))
}

/// The image cannot be had: no point waiting.
fn image_problem(p: &Pod) -> Option<String> {
    const HOPELESS: &[&str] = &[
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
    ];
    let st = p.status.as_ref()?;
    st.container_statuses.iter().flatten().find_map(|cs| {
        let waiting = cs.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        HOPELESS.contains(&reason).then(|| {
            format!(
                "the node cannot get the image ({reason}: {})",
                waiting.message.as_deref().unwrap_or("no message")
            )
        })
    })
}

/// `: reason message` of a Pod that did not run.
fn why_waiting(p: &Pod) -> String {
    let st = p.status.clone().unwrap_or_default();
    let mut why = Vec::new();
    for c in st.conditions.unwrap_or_default() {
        if c.status != "True" && c.message.is_some() {
            why.push(format!(
                "{} {}",
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default()
            ));
        }
    }
    for cs in st.container_statuses.unwrap_or_default() {
        if let Some(w) = cs.state.and_then(|s| s.waiting) {
            why.push(format!(
                "{} {}",
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            ));
        }
    }
    if why.is_empty() {
        String::new()
    } else {
        format!(": {}", why.join("; ").trim())
    }
}

/// Deletes the doctor's namespace (and the probe Pod at once), waiting a
/// little for it to go.
async fn cleanup(client: &Client, namespace: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let _ = pods
        .delete(PROBE_POD, &DeleteParams::default().grace_period(0))
        .await;
    let api: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = api.delete(namespace, &DeleteParams::background()).await {
        eprintln!("warning: cannot delete the doctor's namespace {namespace}: {e}");
        return;
    }
    let start = Instant::now();
    while start.elapsed() < CLEANUP_TIMEOUT {
        if let Ok(None) = api.get_opt(namespace).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::warn!(%namespace, "the doctor's namespace is still being deleted");
}
