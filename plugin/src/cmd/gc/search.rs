//! Searching for what `gc` may collect: the current context and every
//! cluster reachable below it, level by level.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::{Api, Client};
use nesting::gc::{self, Judged, Level, ListedNamespace, Survey};
use nesting::manifests::CONTROL_PLANE;
use nesting::record::{self, LevelRecord};
use nesting::{ClusterPath, labels};

use crate::tunnel::Tunnel;
use crate::{client, reach, state};

/// How long a cluster may take to answer before it is left unsearched.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// One cluster whose namespaces were listed, and what was found there.
pub(super) struct Searched {
    pub client: Client,
    pub judged: Judged,
    /// Namespace name -> uid, so a deletion never hits a namespace made
    /// again since it was listed.
    pub uids: Vec<(String, Option<String>)>,
}

fn seconds_since(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<u64> {
    let t = t?;
    let secs = (jiff::Timestamp::now() - t.0).get_seconds();
    Some(u64::try_from(secs).unwrap_or(0))
}

fn listed(ns: &Namespace) -> ListedNamespace {
    let m = &ns.metadata;
    let mut finalizers: Vec<String> = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    finalizers.extend(m.finalizers.clone().unwrap_or_default());
    let conditions = state::true_conditions(ns);
    ListedNamespace {
        name: m.name.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        age_secs: seconds_since(m.creation_timestamp.as_ref()),
        deleting_secs: seconds_since(m.deletion_timestamp.as_ref()),
        finalizers,
        conditions,
    }
}

/// The cluster's own record of its place, when it has one.
pub(super) async fn own_record(client: &Client) -> Option<LevelRecord> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), record::NAMESPACE);
    let cm = api.get_opt(record::NAME).await.ok()??;
    LevelRecord::from_config_map(&cm).ok()?
}

/// A cluster to search: its client and what it is known as.
struct Visit {
    client: Client,
    place: String,
    own: Vec<ClusterPath>,
    current_context: bool,
    namespaces: Vec<Namespace>,
}

/// Reaches cluster `path` (namespace `ns` in `parent`) and lists its
/// inception namespaces and its record.
pub(super) async fn explore(
    parent: &Client,
    path: &ClusterPath,
    ns: &str,
    tunnels: &mut Vec<Tunnel>,
) -> Result<(Client, Vec<Namespace>, Option<LevelRecord>)> {
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), ns);
    let ready = sts
        .get_opt(CONTROL_PLANE)
        .await
        .with_context(|| format!("cannot read the control plane in namespace {ns}"))?
        .and_then(|s| s.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready < 1 {
        bail!("control plane not Ready");
    }
    let (inner, tunnel) = tokio::time::timeout(REACH_TIMEOUT, reach::inner(parent, path, ns))
        .await
        .map_err(|_| anyhow::anyhow!("no answer in {}s", REACH_TIMEOUT.as_secs()))??;
    let listed = tokio::time::timeout(REACH_TIMEOUT, async {
        let nss = state::namespaces(&inner, &labels::all_selector()).await?;
        let rec = own_record(&inner).await;
        anyhow::Ok((nss, rec))
    })
    .await;
    match listed {
        Ok(Ok((nss, rec))) => {
            tunnels.push(tunnel);
            Ok((inner, nss, rec))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("no answer in {}s", REACH_TIMEOUT.as_secs()),
    }
}

/// What `gc` found: every cluster searched, those it could not search,
/// what is known to exist, and the tunnels its clients go through.
pub(super) struct Found {
    pub searched: Vec<Searched>,
    pub unsearched: Vec<String>,
    pub survey: Survey,
    pub tunnels: Vec<Tunnel>,
}

/// Lists the inception namespaces of the current context and of every
/// cluster reachable below it, level by level, and judges each level.
pub(super) async fn search(
    root: &client::Cluster,
    own: Vec<ClusterPath>,
    mut survey: Survey,
) -> Result<Found> {
    let mut queue = VecDeque::from([Visit {
        client: root.client.clone(),
        place: root.context.clone(),
        own,
        current_context: true,
        namespaces: state::namespaces(&root.client, &labels::all_selector()).await?,
    }]);
    let mut tunnels = Vec::new();
    let mut searched: Vec<Searched> = Vec::new();
    let mut unsearched: Vec<String> = Vec::new();
    while let Some(v) = queue.pop_front() {
        let level = Level {
            place: v.place.clone(),
            own: v.own.clone(),
            current_context: v.current_context,
            namespaces: v.namespaces.iter().map(listed).collect(),
        };
        let judged = gc::judge(&level);
        for (ns, path) in &judged.kept {
            survey.live.insert(path.clone());
            let deleting = level
                .namespaces
                .iter()
                .any(|l| l.name == *ns && l.deleting_secs.is_some());
            if deleting {
                continue;
            }
            match explore(&v.client, path, ns, &mut tunnels).await {
                Ok((inner, namespaces, rec)) => {
                    let mut own = vec![path.clone()];
                    if let Some(p) = rec.and_then(|r| r.path.parse::<ClusterPath>().ok())
                        && p != *path
                    {
                        own.push(p);
                    }
                    survey.explored.extend(own.iter().cloned());
                    queue.push_back(Visit {
                        client: inner,
                        place: format!("{}/{path}", root.context),
                        own,
                        current_context: false,
                        namespaces,
                    });
                }
                Err(e) => {
                    tracing::debug!(%path, error = %format!("{e:#}"), "not searched");
                    unsearched.push(format!("{path}: {e:#}"));
                }
            }
        }
        searched.push(Searched {
            client: v.client,
            uids: v
                .namespaces
                .iter()
                .map(|n| {
                    (
                        n.metadata.name.clone().unwrap_or_default(),
                        n.metadata.uid.clone(),
                    )
                })
                .collect(),
            judged,
        });
    }

    Ok(Found {
        searched,
        unsearched,
        survey,
        tunnels,
    })
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::fake;

    #[tokio::test]
    async fn a_cluster_whose_control_plane_is_not_ready_is_not_entered() {
        let (client, log, _server) = fake::serve(|_| fake::not_found());
        let mut tunnels = Vec::new();
        let path: ClusterPath = "lab".parse().unwrap();
        let e = explore(&client, &path, "inception-lab", &mut tunnels)
            .await
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "control plane not Ready");
        assert!(tunnels.is_empty());
        let seen = log.all();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].is(
            &Method::GET,
            "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane"
        ));
    }

    #[tokio::test]
    async fn an_unreadable_control_plane_names_the_namespace() {
        let (client, _log, _server) = fake::serve(|_| fake::status(403, "Forbidden"));
        let mut tunnels = Vec::new();
        let path: ClusterPath = "lab".parse().unwrap();
        let e = explore(&client, &path, "inception-lab", &mut tunnels)
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "cannot read the control plane in namespace inception-lab"
        );
    }
}
