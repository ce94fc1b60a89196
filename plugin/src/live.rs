//! `tree` against the current context: what exists, found by labels.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::Api;
use nesting::ClusterPath;
use nesting::manifests::{CONTROL_PLANE, WORKERS};
use nesting::plan::PlanDigest;
use serde::Serialize;

use crate::cli::{Global, TreeFormat};
use crate::discover::{self, ParentNetworks};
use crate::{client, output, state};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveCluster {
    pub path: String,
    pub depth: u32,
    pub namespace: String,
    pub version: Option<String>,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Option<String>,
    /// Ready control-plane Pods / wanted.
    pub control_plane: String,
    /// Ready worker Pods / wanted.
    pub workers: String,
    pub age: String,
    pub deleting: bool,
    pub children: Vec<LiveCluster>,
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

fn age(ts: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    let Some(t) = ts else { return "?".into() };
    let secs = (jiff::Timestamp::now() - t.0).get_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub async fn tree(global: &Global, format: TreeFormat, out: &mut impl Write) -> Result<()> {
    let cluster = client::connect(global).await?;
    let selector = nesting::labels::all_selector();
    let (parent, namespaces) = tokio::join!(
        discover::discover(&cluster.client),
        state::namespaces(&cluster.client, &selector)
    );
    let mut flat: Vec<(ClusterPath, LiveCluster)> = Vec::new();
    for ns in namespaces? {
        let Some(path) = state::path_of(&ns) else {
            continue;
        };
        let name = ns.metadata.name.clone().unwrap_or_default();
        let digest = state::digest_of(&ns).and_then(|d| d.parse::<PlanDigest>().ok());
        let sts: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), &name);
        let deploy: Api<Deployment> = Api::namespaced(cluster.client.clone(), &name);
        let (s, d) = tokio::join!(sts.get_opt(CONTROL_PLANE), deploy.get_opt(WORKERS));
        let s = s.ok().flatten();
        let d = d.ok().flatten();
        flat.push((
            path.clone(),
            LiveCluster {
                path: path.to_string(),
                depth: path.depth(),
                namespace: name,
                version: digest.as_ref().map(|d| d.version.to_string()),
                pod_cidr: digest.as_ref().map(|d| d.pod_cidr.to_string()),
                service_cidr: digest.as_ref().map(|d| d.service_cidr.to_string()),
                control_plane: ratio(
                    s.as_ref()
                        .and_then(|s| s.status.as_ref())
                        .and_then(|s| s.ready_replicas),
                    s.as_ref()
                        .and_then(|s| s.spec.as_ref())
                        .and_then(|s| s.replicas),
                ),
                workers: ratio(
                    d.as_ref()
                        .and_then(|d| d.status.as_ref())
                        .and_then(|s| s.ready_replicas),
                    d.as_ref()
                        .and_then(|d| d.spec.as_ref())
                        .and_then(|s| s.replicas),
                ),
                age: age(ns.metadata.creation_timestamp.as_ref()),
                deleting: ns.metadata.deletion_timestamp.is_some(),
                children: Vec::new(),
            },
        ));
    }
    // Hang each cluster below its parent, deepest first, when the parent is here.
    let mut map: BTreeMap<ClusterPath, LiveCluster> = flat.into_iter().collect();
    let mut paths: Vec<ClusterPath> = map.keys().cloned().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.depth()));
    for p in paths {
        let Some(pp) = p.parent().filter(|pp| map.contains_key(pp)) else {
            continue;
        };
        let child = map.remove(&p);
        if let (Some(child), Some(parent)) = (child, map.get_mut(&pp)) {
            parent.children.push(child);
        }
    }
    let view = LiveTree {
        context: cluster.context,
        server: cluster.server,
        parent,
        clusters: map.into_values().collect(),
    };
    match format {
        TreeFormat::Json => output::json(&view, out),
        TreeFormat::Yaml => output::yaml(&view, out),
        TreeFormat::Table => table(&view, out),
    }
}

fn table(view: &LiveTree, out: &mut impl Write) -> Result<()> {
    fn rows(c: &LiveCluster, acc: &mut Vec<[String; 8]>) {
        let dash = || "-".to_string();
        acc.push([
            c.path.clone(),
            c.namespace.clone(),
            c.version.clone().unwrap_or_else(dash),
            c.pod_cidr.clone().unwrap_or_else(dash),
            c.service_cidr.clone().unwrap_or_else(dash),
            c.control_plane.clone(),
            if c.deleting {
                "deleting".into()
            } else {
                c.workers.clone()
            },
            c.age.clone(),
        ]);
        for ch in &c.children {
            rows(ch, acc);
        }
    }
    if view.clusters.is_empty() {
        writeln!(out, "no inception clusters in context {}", view.context)?;
    } else {
        let mut t = vec![
            [
                "PATH",
                "NAMESPACE",
                "VERSION",
                "POD CIDR",
                "SERVICE CIDR",
                "CONTROL PLANE",
                "WORKERS",
                "AGE",
            ]
            .map(String::from),
        ];
        for c in &view.clusters {
            rows(c, &mut t);
        }
        output::print_table(&t, out)?;
    }
    writeln!(out)?;
    let list = |f: &[discover::Found]| {
        if f.is_empty() {
            "not found".to_string()
        } else {
            f.iter()
                .map(|f| format!("{} ({})", f.cidr, f.source))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(out, "context {} at {}", view.context, view.server)?;
    writeln!(out, "  service CIDR: {}", list(&view.parent.service_cidrs))?;
    writeln!(out, "  pod CIDR:     {}", list(&view.parent.pod_cidrs))?;
    Ok(())
}
