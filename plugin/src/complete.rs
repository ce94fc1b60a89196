//! `__complete ARGS... WORD`: completions in cobra's format, for kubectl's
//! plugin completion (kubectl 1.26+ runs `kubectl_complete-inception` with
//! the words after `kubectl inception`, the last the one being typed).
//! One candidate a line (`candidate<TAB>description`), then `:DIRECTIVE`.
//! Verbs, flags and their values come from the command line's definition;
//! cluster paths from the live tree, best effort within 2 s.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use clap::{Arg, Command};
use nesting::{ClusterPath, labels};

use crate::cli::Global;
use crate::{client, reach, state};

/// cobra's ShellCompDirective values.
pub const FILES: u8 = 0;
pub const NO_FILES: u8 = 4;

/// What the word being typed is.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    /// These candidates (with descriptions), no file names.
    Words(Vec<(String, String)>),
    /// File names: the shell's own completion.
    Files,
    /// A cluster path of the live tree.
    ClusterPath,
}

fn first_line(text: Option<&clap::builder::StyledStr>) -> String {
    let text = text.map(ToString::to_string).unwrap_or_default();
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    // "kubectl inception up: create ..." -> "create ...".
    match line.split_once(": ") {
        Some((head, rest)) if head.starts_with("kubectl inception") => rest.to_string(),
        _ => line,
    }
}

fn takes_value(a: &Arg) -> bool {
    a.get_action().takes_values()
}

/// Candidates for the value of `a`: its possible values, file names for
/// FILE, DIR and ARCHIVE, else nothing to offer.
fn values_of(a: &Arg) -> Want {
    let possible = a.get_possible_values();
    if !possible.is_empty() {
        return Want::Words(
            possible
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| (v.get_name().to_string(), first_line(v.get_help())))
                .collect(),
        );
    }
    let files = ["FILE", "DIR", "ARCHIVE", "CMD"];
    if a.get_value_names()
        .is_some_and(|n| n.iter().any(|n| files.contains(&n.as_str())))
    {
        return Want::Files;
    }
    if a.get_id() == "path" {
        return Want::ClusterPath;
    }
    Want::Words(Vec::new())
}

/// What completes `words`' last word (the one being typed) on `root`.
pub fn want(root: &Command, words: &[String]) -> Want {
    let (typed, before) = match words.split_last() {
        Some((t, b)) => (t.as_str(), b),
        None => ("", &[][..]),
    };
    let mut sub: Option<&Command> = None;
    let mut positionals = 0usize;
    let mut value_for: Option<Arg> = None;
    let mut after_dashes = false;
    let flag = |cmd: Option<&Command>, w: &str| -> Option<Arg> {
        let find = |c: &Command| -> Option<Arg> {
            c.get_arguments()
                .find(|a| match w.strip_prefix("--") {
                    Some(long) => a.get_long() == Some(long),
                    None => w.len() == 2 && a.get_short() == w.chars().nth(1),
                })
                .cloned()
        };
        cmd.and_then(find).or_else(|| find(root))
    };
    for w in before {
        if value_for.take().is_some() {
            continue;
        }
        if after_dashes {
            positionals += 1;
        } else if w == "--" {
            after_dashes = true;
        } else if w.starts_with('-') && w.len() > 1 {
            if !w.contains('=') {
                value_for = flag(sub, w).filter(takes_value);
            }
        } else if sub.is_none() {
            sub = root
                .get_subcommands()
                .find(|c| c.get_name() == w || c.get_all_aliases().any(|a| a == w));
            if sub.is_none() {
                return Want::Words(Vec::new());
            }
        } else {
            positionals += 1;
        }
    }
    if let Some(a) = &value_for {
        return values_of(a);
    }
    if after_dashes {
        return Want::Files;
    }
    if typed.starts_with('-') {
        let mut flags: Vec<(String, String)> = sub
            .into_iter()
            .flat_map(|c| c.get_arguments())
            .chain(root.get_arguments())
            .filter(|a| !a.is_hide_set() && !a.is_positional())
            .filter_map(|a| {
                a.get_long()
                    .map(|l| (format!("--{l}"), first_line(a.get_help())))
            })
            .collect();
        flags.push(("--help".into(), "Print help".into()));
        let mut seen = std::collections::BTreeSet::new();
        flags.retain(|(f, _)| seen.insert(f.clone()));
        return Want::Words(flags);
    }
    let Some(sub) = sub else {
        return Want::Words(
            root.get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| (c.get_name().to_string(), first_line(c.get_about())))
                .collect(),
        );
    };
    let pos: Vec<&Arg> = sub.get_positionals().collect();
    let at = pos.get(positionals).or_else(|| {
        pos.last()
            .filter(|a| a.get_num_args().is_some_and(|n| n.max_values() > 1))
    });
    match at {
        Some(a) => values_of(a),
        None => Want::Words(Vec::new()),
    }
}

/// The cluster paths one level below what `typed` names: the trees of the
/// current context, or the children of the cluster before the last `/`.
async fn cluster_paths(global: &Global, typed: &str) -> Result<Vec<String>> {
    let root = client::connect(global).await?;
    let client = match typed.rsplit_once('/') {
        None => root.client,
        Some((above, _)) => {
            let above: ClusterPath = above.parse()?;
            let mut chain = reach::reach(&root.client, &above).await?;
            let inner = chain.enter(&above).await?;
            // The tunnels close with `chain`: list before it goes.
            return list_paths(&inner).await;
        }
    };
    list_paths(&client).await
}

async fn list_paths(client: &kube::Client) -> Result<Vec<String>> {
    let found = state::namespaces(client, &labels::all_selector()).await?;
    let mut paths: Vec<String> = found
        .iter()
        .filter_map(|ns| ns.metadata.labels.as_ref()?.get(labels::PATH))
        .map(|dotted| dotted.replace('.', "/"))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Prints the completions of `words` in cobra's format.
pub async fn complete(
    root: &Command,
    global: &Global,
    words: &[String],
    out: &mut impl Write,
) -> Result<()> {
    let typed = words.last().map(String::as_str).unwrap_or_default();
    let (candidates, directive) = match want(root, words) {
        Want::Words(w) => (w, NO_FILES),
        Want::Files => (Vec::new(), FILES),
        Want::ClusterPath => {
            let live = tokio::time::timeout(Duration::from_secs(2), cluster_paths(global, typed));
            let paths = match live.await {
                Ok(Ok(p)) => p,
                _ => Vec::new(),
            };
            (
                paths.into_iter().map(|p| (p, String::new())).collect(),
                NO_FILES,
            )
        }
    };
    for (word, help) in candidates.iter().filter(|(w, _)| w.starts_with(typed)) {
        if help.is_empty() {
            writeln!(out, "{word}")?;
        } else {
            writeln!(out, "{word}\t{help}")?;
        }
    }
    writeln!(out, ":{directive}")?;
    Ok(())
}

#[cfg(test)]
#[path = "complete_tests.rs"]
mod tests;
