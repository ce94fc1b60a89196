//! `tree` against the current context: what exists, found by labels in
//! each cluster, walked down through each cluster's own API.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::api::ListParams;
use kube::{Api, Client};
use nesting::ClusterPath;
use nesting::manifests::{CONTROL_PLANE, WORKERS};
use nesting::plan::PlanDigest;
use nesting::ranges::ParentNetworks;
use nesting::record::{self, LevelRecord};
use nesting::status::{Count, Seen, Status};
use serde::Serialize;

use crate::cli::{Global, TreeArgs, TreeFormat};
use crate::discover;
use crate::{client, output, reach, state, wait};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveCluster {
    pub path: String,
    pub depth: u32,
    pub namespace: String,
    /// Ready, NotReady, paused, booting, missing or deleting.
    pub status: Status,
    pub version: Option<String>,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Option<String>,
    /// Ready control-plane Pods / wanted.
    pub control_plane: String,
    /// Ready worker Pods / wanted.
    pub workers: String,
    /// Ready inner nodes / all inner nodes, when the cluster answered.
    pub nodes: Option<String>,
    /// The pod network's MTU, as the node agents found it (the smallest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub age: String,
    pub deleting: bool,
    /// Its node Pods stopped by `pause`, its state kept.
    pub paused: bool,
    /// What its node Pods ask of the parent, and use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<usage::Usage>,
    /// `yes`, or why the cluster's API could not be reached from here.
    pub reachable: String,
    /// The cluster's own record of its place in the tree, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<LevelRecord>,
    pub children: Vec<LiveCluster>,
    /// What its status is made of.
    #[serde(skip)]
    pub seen: Seen,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveTree {
    pub context: String,
    pub server: String,
    /// The current cluster's own networks, and where they were found.
    pub parent: ParentNetworks,
    pub clusters: Vec<LiveCluster>,
}

fn ratio(ready: Option<i32>, want: Option<i32>) -> String {
    format!("{}/{}", ready.unwrap_or(0), want.unwrap_or(0))
}

fn count(ready: Option<i32>, want: Option<i32>) -> Count {
    let n = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
    Count {
        ready: n(ready),
        want: n(want),
    }
}

/// Since `ts`, when known.
fn since(ts: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<Duration> {
    let secs = (jiff::Timestamp::now() - ts?.0).get_seconds().max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

fn age(since: Option<Duration>) -> String {
    let Some(d) = since else { return "?".into() };
    match d.as_secs() {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// How long a cluster may take to answer before it shows as unreachable,
/// each level on its own.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// Writes the tree on `out`; in a table, what is not a row (why a cluster
/// is unreachable, the current context's networks) goes to stderr.
pub async fn tree(global: &Global, args: &TreeArgs, out: &mut impl Write) -> Result<()> {
    let cluster = client::connect(global).await?;
    let mut err = std::io::stderr();
    if !args.watch {
        let view = snapshot(&cluster).await?;
        return render(&view, args.output, out, &mut err);
    }
    let is_table = matches!(args.output, TreeFormat::Table | TreeFormat::Wide);
    let tty = std::io::stdout().is_terminal();
    loop {
        let view = snapshot(&cluster).await?;
        let (mut buf, mut notes) = (Vec::new(), Vec::new());
        render(&view, args.output, &mut buf, &mut notes)?;
        if tty && is_table {
            // Clear the screen, then draw the tree.
            out.write_all(b"\x1b[2J\x1b[H")?;
        } else if args.output == TreeFormat::Yaml {
            out.write_all(b"---\n")?;
        }
        out.write_all(&buf)?;
        out.flush()?;
        if is_table {
            err.write_all(&notes)?;
            writeln!(
                err,
                "\nrefreshed {} (every {}s, Ctrl-C stops)",
                jiff::Timestamp::now().strftime("%H:%M:%S"),
                args.interval.as_secs_f64()
            )?;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(args.interval) => {}
        }
    }
}

/// The tree in `format` on `out`; a table's notes on `notes`.
fn render(
    view: &LiveTree,
    format: TreeFormat,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<()> {
    match format {
        TreeFormat::Json => output::json(view, out),
        TreeFormat::Yaml => output::yaml(view, out),
        TreeFormat::Table => table::table(view, false, out, notes),
        TreeFormat::Wide => table::table(view, true, out, notes),
    }
}

/// The whole live tree, walked from the current context through each
/// cluster's API.
async fn snapshot(cluster: &client::Cluster) -> Result<LiveTree> {
    let (parent, found) = tokio::join!(
        discover::discover(&cluster.client),
        clusters_in(&cluster.client, None)
    );
    Ok(LiveTree {
        context: cluster.context.clone(),
        server: cluster.server.clone(),
        parent,
        clusters: inspect_all(cluster.client.clone(), found?).await,
    })
}

/// The namespaces of the clusters whose node Pods run in the cluster
/// `client` reaches (`here`: its path, `None` for the current context).
async fn clusters_in(
    client: &Client,
    here: Option<&ClusterPath>,
) -> Result<Vec<(ClusterPath, Namespace)>> {
    let namespaces = state::namespaces(client, &nesting::labels::all_selector()).await?;
    Ok(namespaces
        .into_iter()
        .filter_map(|ns| {
            let path = state::path_of(&ns)?;
            // In a cluster of the tree, only its own children belong here.
            let belongs = here.is_none_or(|h| path.parent().as_ref() == Some(h));
            belongs.then_some((path, ns))
        })
        .collect())
}

/// Inspects the clusters `found` in the cluster `client` reaches, each with
/// its subtree.
fn inspect_all(
    client: Client,
    found: Vec<(ClusterPath, Namespace)>,
) -> futures::future::BoxFuture<'static, Vec<LiveCluster>> {
    Box::pin(async move {
        let mut clusters = futures::future::join_all(
            found
                .into_iter()
                .map(|(path, ns)| inspect(client.clone(), path, ns)),
        )
        .await;
        clusters.sort_by(|a, b| a.path.cmp(&b.path));
        nest(clusters)
    })
}

/// Hangs clusters found in one context below their parents found there
/// too (clusters of several depths in the current context, as left by an
/// interrupted run or `gc` material).
fn nest(flat: Vec<LiveCluster>) -> Vec<LiveCluster> {
    let mut map: BTreeMap<ClusterPath, LiveCluster> = flat
        .into_iter()
        .filter_map(|c| Some((c.path.parse().ok()?, c)))
        .collect();
    let mut paths: Vec<ClusterPath> = map.keys().cloned().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.depth()));
    for p in paths {
        let Some(pp) = p.parent().filter(|pp| map.contains_key(pp)) else {
            continue;
        };
        if let Some(child) = map.remove(&p)
            && let Some(parent) = map.get_mut(&pp)
        {
            parent.children.push(child);
        }
    }
    map.into_values().collect()
}

/// One cluster, with its status.
async fn inspect(parent: Client, path: ClusterPath, ns: Namespace) -> LiveCluster {
    let mut c = look(parent, path, ns).await;
    c.status = c.seen.status();
    c
}

/// One cluster: its objects in the parent, then its own API and children.
/// Reaching it and reading it is bounded by [`REACH_TIMEOUT`]; each child
/// then has its own.
async fn look(parent: Client, path: ClusterPath, ns: Namespace) -> LiveCluster {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let digest = state::digest_of(&ns).and_then(|d| d.parse::<PlanDigest>().ok());
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), &name);
    let deploy: Api<StatefulSet> = Api::namespaced(parent.clone(), &name);
    let (s, d) = tokio::join!(sts.get_opt(CONTROL_PLANE), deploy.get_opt(WORKERS));
    // Unread (an error) is not missing.
    let cp_found = !matches!(s, Ok(None));
    let s = s.ok().flatten();
    let d = d.ok().flatten();
    let cp_ready = s
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.ready_replicas);
    let cp_want = s
        .as_ref()
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas);
    let workers = count(
        d.as_ref()
            .and_then(|d| d.status.as_ref())
            .and_then(|s| s.ready_replicas),
        d.as_ref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.replicas),
    );
    let deleting = ns.metadata.deletion_timestamp.is_some();
    let paused = s
        .as_ref()
        .and_then(|s| nesting::pause::paused_workers(s.metadata.annotations.as_ref()))
        .is_some();
    let since = since(ns.metadata.creation_timestamp.as_ref());
    let mut c = LiveCluster {
        path: path.to_string(),
        depth: path.depth(),
        namespace: name.clone(),
        version: digest.as_ref().map(|d| d.version.to_string()),
        pod_cidr: digest.as_ref().map(|d| d.pod_cidr.to_string()),
        service_cidr: digest.as_ref().map(|d| d.service_cidr.to_string()),
        status: Status::NotReady,
        control_plane: ratio(cp_ready, cp_want),
        workers: format!("{}/{}", workers.ready, workers.want),
        nodes: None,
        mtu: None,
        age: age(since),
        deleting,
        paused,
        usage: None,
        reachable: String::new(),
        record: None,
        children: Vec::new(),
        seen: Seen {
            deleting,
            paused,
            control_plane: cp_found.then(|| count(cp_ready, cp_want)),
            workers,
            nodes: None,
            age: since,
        },
    };
    if deleting {
        c.reachable = "no: being deleted".into();
        return c;
    }
    c.usage = usage::usage(&parent, &name).await;
    if c.paused {
        c.reachable = format!("no: paused (`kubectl inception resume {path}`)");
        return c;
    }
    if cp_ready.unwrap_or(0) < 1 {
        c.reachable = "no: control plane not Ready".into();
        return c;
    }
    // The tunnel lives in this future: a timeout drops it, and so closes it.
    let inside = async {
        let (inner, tunnel) = reach::inner(&parent, &path, &name).await?;
        let nodes: Api<Node> = Api::all(inner.clone());
        let records: Api<ConfigMap> = Api::namespaced(inner.clone(), record::NAMESPACE);
        let lp = ListParams::default();
        let (version, nodes, rec, found) = tokio::join!(
            inner.apiserver_version(),
            nodes.list(&lp),
            records.get_opt(record::NAME),
            clusters_in(&inner, Some(&path))
        );
        let (version, nodes, found) = (version?, nodes?, found?);
        let rec = rec
            .ok()
            .flatten()
            .and_then(|cm| LevelRecord::from_config_map(&cm).ok().flatten());
        anyhow::Ok((inner, tunnel, version, nodes.items, rec, found))
    };
    match tokio::time::timeout(REACH_TIMEOUT, inside).await {
        Ok(Ok((inner, _tunnel, version, nodes, rec, found))) => {
            c.reachable = "yes".into();
            c.version = Some(version.git_version);
            let n = Count {
                ready: u32::try_from(wait::ready_nodes(&nodes)).unwrap_or(0),
                want: u32::try_from(nodes.len()).unwrap_or(0),
            };
            c.nodes = Some(format!("{}/{}", n.ready, n.want));
            c.seen.nodes = Some(n);
            c.mtu = nesting::node::cluster_mtu(&nodes);
            c.record = rec;
            c.children = inspect_all(inner, found).await;
        }
        Ok(Err(e)) => c.reachable = format!("no: {e:#}"),
        Err(_) => c.reachable = format!("no: no answer in {}s", REACH_TIMEOUT.as_secs()),
    }
    c
}

mod table;
#[cfg(test)]
mod tests;
mod usage;
