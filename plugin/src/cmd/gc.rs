//! `gc`: find what inception left behind, at the current context and in
//! every cluster reachable below it, and remove it (`--dry-run` lists it).
//! What counts as left over is decided by `nesting::gc`; this lists,
//! reaches and deletes.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Client};
use nesting::gc::{self, Action, Finding, Judged, Kind, Level, ListedNamespace, Survey};
use nesting::manifests::CONTROL_PLANE;
use nesting::record::{self, LevelRecord};
use nesting::{ClusterPath, labels};

use crate::cli::{GcArgs, Global};
use crate::tunnel::Tunnel;
use crate::{client, kubeconfig_file, reach, state};

/// How long a cluster may take to answer before it is left unsearched.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// One cluster whose namespaces were listed, and what was found there.
struct Searched {
    client: Client,
    judged: Judged,
    /// Namespace name -> uid, so a deletion never hits a namespace made
    /// again since it was listed.
    uids: Vec<(String, Option<String>)>,
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
async fn own_record(client: &Client) -> Option<LevelRecord> {
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
async fn explore(
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

/// The line for a finding whose removal failed.
fn failed_line(f: &Finding, e: &dyn std::fmt::Display) -> String {
    format!(
        "failed  {} {} ({})  {}: {e}",
        f.kind, f.name, f.place, f.reason
    )
}

pub async fn gc(global: &Global, args: &GcArgs, out: &mut impl Write) -> Result<()> {
    let root = client::connect(global).await?;
    let file = kubeconfig_file::user_kubeconfig(global)?;
    let text = kubeconfig_file::read_or_empty(&file)?;
    let marked = gc::marked_contexts(&text)
        .with_context(|| format!("cannot read the contexts of {}", file.display()))?;

    // The current context may itself be a cluster of a tree: its context
    // is marked by `connect`, or it holds its own record.
    let mut own: Vec<ClusterPath> = marked
        .iter()
        .filter(|(name, _)| *name == root.context)
        .map(|(_, m)| m.path.clone())
        .collect();
    if let Some(p) = own_record(&root.client)
        .await
        .and_then(|r| r.path.parse().ok())
    {
        own.push(p);
    }
    let mut survey = Survey::default();
    survey.live.extend(own.iter().cloned());
    survey.explored.extend(own.iter().cloned());

    let mut found = search(&root, own, survey).await?;
    let mut tally = Tally::default();
    remove_findings(&found.searched, args.dry_run, &mut tally, out).await?;
    // The deletions are done: close the tunnels.
    found.tunnels.clear();
    forget_stale(
        &root,
        &file,
        &marked,
        &found.survey,
        args.dry_run,
        &mut tally,
        out,
    )?;
    summary(&root.context, &found, &tally, args.dry_run, out)
}

/// What `gc` found: every cluster searched, those it could not search,
/// what is known to exist, and the tunnels its clients go through.
struct Found {
    searched: Vec<Searched>,
    unsearched: Vec<String>,
    survey: Survey,
    tunnels: Vec<Tunnel>,
}

/// Removals made (or that would be), failed, and stuck.
#[derive(Default)]
struct Tally {
    removed: usize,
    failed: usize,
    stuck: usize,
}

/// Lists the inception namespaces of the current context and of every
/// cluster reachable below it, level by level, and judges each level.
async fn search(
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

/// Deletes what each searched cluster holds that is left over (lists it
/// with `dry_run`).
async fn remove_findings(
    searched: &[Searched],
    dry_run: bool,
    t: &mut Tally,
    out: &mut impl Write,
) -> Result<()> {
    for s in searched {
        let api: Api<Namespace> = Api::all(s.client.clone());
        for f in &s.judged.findings {
            if f.action == Action::Stuck {
                t.stuck += 1;
                writeln!(out, "{}", f.line(false))?;
                continue;
            }
            if dry_run {
                t.removed += 1;
                writeln!(out, "{}", f.line(false))?;
                continue;
            }
            let uid = s
                .uids
                .iter()
                .find(|(n, _)| *n == f.name)
                .and_then(|(_, u)| u.clone());
            let mut dp = DeleteParams::background();
            if uid.is_some() {
                dp = dp.preconditions(Preconditions {
                    uid,
                    resource_version: None,
                });
            }
            match api.delete(&f.name, &dp).await {
                Ok(_) => {
                    t.removed += 1;
                    writeln!(out, "{}", f.line(true))?;
                }
                Err(kube::Error::Api(e)) if e.is_not_found() => {
                    t.removed += 1;
                    writeln!(out, "{}", f.line(true))?;
                }
                Err(e) => {
                    t.failed += 1;
                    writeln!(out, "{}", failed_line(f, &e))?;
                }
            }
        }
    }
    Ok(())
}

/// Removes from the user's kubeconfig the contexts `connect` added for
/// clusters known to be gone.
fn forget_stale(
    root: &client::Cluster,
    file: &std::path::Path,
    marked: &[(String, nesting::kubeconfig::Mark)],
    survey: &Survey,
    dry_run: bool,
    t: &mut Tally,
    out: &mut impl Write,
) -> Result<()> {
    let file_name = file.display().to_string();
    let stale: Vec<Finding> = gc::stale_contexts(marked, survey, &file_name, &root.context);
    if !stale.is_empty() {
        if dry_run {
            for f in &stale {
                t.removed += 1;
                writeln!(out, "{}", f.line(false))?;
            }
        } else {
            let doomed: BTreeSet<ClusterPath> = marked
                .iter()
                .filter(|(n, _)| stale.iter().any(|f| f.name == *n))
                .map(|(_, m)| m.path.clone())
                .collect();
            let result = kubeconfig_file::update(file, |text| {
                let (new, gone) = nesting::kubeconfig::remove_from_text(text, |m| {
                    m.from.as_deref() == Some(root.context.as_str()) && doomed.contains(&m.path)
                })
                .with_context(|| format!("cannot update {file_name}"))?;
                Ok(((!gone.is_empty()).then_some(new), gone))
            });
            match result {
                Ok(gone) => {
                    for name in gone {
                        t.removed += 1;
                        let f = stale.iter().find(|f| f.name == name);
                        match f {
                            Some(f) => writeln!(out, "{}", f.line(true))?,
                            None => writeln!(
                                out,
                                "removed  {} {name} ({file_name})  its cluster no longer exists",
                                Kind::Context
                            )?,
                        }
                    }
                }
                Err(e) => {
                    for f in &stale {
                        t.failed += 1;
                        writeln!(out, "{}", failed_line(f, &format!("{e:#}")))?;
                    }
                }
            }
        }
    }

    Ok(())
}

fn summary(
    context: &str,
    found: &Found,
    t: &Tally,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<()> {
    let clusters = found.searched.len() - 1;
    let scope = format!(
        "context {} and {clusters} cluster{} below it",
        context,
        if clusters == 1 { "" } else { "s" }
    );
    if t.removed + t.failed + t.stuck == 0 {
        writeln!(out, "nothing to collect in {scope}")?;
    } else if dry_run {
        writeln!(
            out,
            "{} would be removed, {} stuck, in {scope}",
            t.removed, t.stuck
        )?;
    } else {
        writeln!(
            out,
            "{} removed, {} failed, {} stuck, in {scope}",
            t.removed, t.failed, t.stuck
        )?;
    }
    for u in &found.unsearched {
        writeln!(out, "  not searched inside {u}")?;
    }
    if t.failed > 0 {
        bail!("{} of {} removals failed", t.failed, t.removed + t.failed);
    }
    Ok(())
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
