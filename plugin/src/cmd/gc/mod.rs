//! `gc`: find what inception left behind, at the current context and in
//! every cluster reachable below it, and remove it (`--dry-run` lists it).
//! What counts as left over is decided by `nesting::gc`; this lists,
//! reaches and deletes.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use nesting::ClusterPath;
use nesting::gc::{self, Action, Finding, Kind, Survey};

mod search;

use self::search::{Found, Searched, own_record, search};
use crate::cli::{GcArgs, Global};
use crate::{client, kubeconfig_file};

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

/// Removals made (or that would be), failed, and stuck.
#[derive(Default)]
struct Tally {
    removed: usize,
    failed: usize,
    stuck: usize,
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
