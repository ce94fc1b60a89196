//! What `gc` removes: pure decisions on listed objects.
//!
//! The plugin lists the inception namespaces of each level it reaches (the
//! current context, then every reachable cluster below it) and the
//! contexts `connect` marked in the user's kubeconfig; this module says
//! which of them are left over. It is conservative: a cluster `tree` shows
//! in its place is never collected, whatever its health (`up` converges
//! those), and nothing is forced.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::kubeconfig::Mark;
use crate::tree::ClusterPath;
use crate::{Error, labels, smoke};

/// A smoke test namespace younger than this may belong to a running `test`.
pub const SMOKE_MAX_AGE_SECS: u64 = 10 * 60;
/// A namespace terminating for longer than this is reported as stuck.
pub const STUCK_AFTER_SECS: u64 = 2 * 60;

/// One inception namespace as listed at a level, ages already computed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedNamespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Seconds since it was created, when known.
    pub age_secs: Option<u64>,
    /// Seconds since its deletion was asked, when it is terminating.
    pub deleting_secs: Option<u64>,
    /// Finalizers still holding it (spec and metadata).
    pub finalizers: Vec<String>,
    /// Its status conditions that hold (`True`): `type: message`.
    pub conditions: Vec<String>,
}

impl ListedNamespace {
    fn is_managed(&self) -> bool {
        self.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER)
    }

    /// The cluster this namespace holds: from the path annotation, else
    /// from the path label (`lab.0.1`).
    pub fn cluster_path(&self) -> Option<ClusterPath> {
        if let Some(p) = self
            .annotations
            .get(labels::PATH_ANNOTATION)
            .and_then(|a| a.parse().ok())
        {
            return Some(p);
        }
        self.labels
            .get(labels::PATH)?
            .replace('.', "/")
            .parse()
            .ok()
    }

    fn is_smoke(&self) -> bool {
        self.name == smoke::NAMESPACE && self.cluster_path().is_none()
    }
}

/// The namespaces of one cluster, as listed through its API.
#[derive(Clone, Debug, Default)]
pub struct Level {
    /// Where this is, for messages (`ctx`, `ctx/lab/0`).
    pub place: String,
    /// The paths this cluster is known by: the path it was reached by, the
    /// path its own record gives, the path its kubeconfig context is
    /// marked with. Empty for a current context that is no known cluster.
    pub own: Vec<ClusterPath>,
    /// True for the current context: `tree` shows every cluster found
    /// there, hung below its parent when that is found there too.
    pub current_context: bool,
    pub namespaces: Vec<ListedNamespace>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Left over: delete it (or say it would be, with `--dry-run`).
    Remove,
    /// Terminating and not going: reported, never forced.
    Stuck,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Namespace,
    Context,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Namespace => "namespace",
            Kind::Context => "context",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub action: Action,
    pub kind: Kind,
    pub name: String,
    /// Where it is: a level's place, or the kubeconfig file.
    pub place: String,
    pub reason: String,
}

impl Finding {
    /// `would remove  namespace inception-t-0-0 (ctx)  reason`; `done` says
    /// whether a removal was made.
    pub fn line(&self, done: bool) -> String {
        let verb = match (self.action, done) {
            (Action::Stuck, _) => "stuck",
            (Action::Remove, true) => "removed",
            (Action::Remove, false) => "would remove",
        };
        format!(
            "{verb}  {} {} ({})  {}",
            self.kind, self.name, self.place, self.reason
        )
    }
}

/// What one level holds: what to collect there, and the clusters kept
/// (to look inside, and to know which clusters exist).
#[derive(Clone, Debug, Default)]
pub struct Judged {
    pub findings: Vec<Finding>,
    /// Cluster namespaces that are in their place: (namespace, path).
    pub kept: Vec<(String, ClusterPath)>,
}

fn minutes(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Decides what of one level's namespaces is left over.
///
/// A cluster namespace is in its place when its cluster is at depth 1 (a
/// tree's top goes in any cluster), when its parent is this cluster, or,
/// in the current context only, when its parent's namespace is in its
/// place here too (as `tree` shows it). Every other cluster namespace is
/// an orphan. Smoke test namespaces older than [`SMOKE_MAX_AGE_SECS`] are
/// left over. Terminating namespaces are never collected again; those
/// terminating for more than [`STUCK_AFTER_SECS`] are reported as stuck.
pub fn judge(level: &Level) -> Judged {
    let mut out = Judged::default();
    let mut clusters: Vec<(&ListedNamespace, ClusterPath)> = Vec::new();
    for ns in level.namespaces.iter().filter(|ns| ns.is_managed()) {
        if let Some(secs) = ns.deleting_secs {
            if secs >= STUCK_AFTER_SECS {
                let mut why = vec![format!("terminating for {}", minutes(secs))];
                if !ns.finalizers.is_empty() {
                    why.push(format!("finalizers: {}", ns.finalizers.join(", ")));
                }
                if !ns.conditions.is_empty() {
                    why.push(format!("conditions: {}", ns.conditions.join("; ")));
                }
                out.findings.push(Finding {
                    action: Action::Stuck,
                    kind: Kind::Namespace,
                    name: ns.name.clone(),
                    place: level.place.clone(),
                    reason: why.join("; "),
                });
            }
            // Still there: its cluster counts as existing until it is gone.
            if let Some(p) = ns.cluster_path() {
                out.kept.push((ns.name.clone(), p));
            }
            continue;
        }
        if ns.is_smoke() {
            if let Some(age) = ns.age_secs.filter(|&a| a >= SMOKE_MAX_AGE_SECS) {
                out.findings.push(Finding {
                    action: Action::Remove,
                    kind: Kind::Namespace,
                    name: ns.name.clone(),
                    place: level.place.clone(),
                    reason: format!(
                        "smoke test namespace left by `test --keep` or an interrupted test ({} old)",
                        minutes(age)
                    ),
                });
            }
            continue;
        }
        if let Some(p) = ns.cluster_path() {
            clusters.push((ns, p));
        }
    }
    // Parents before children, so a kept parent here keeps its children.
    clusters.sort_by(|(_, a), (_, b)| (a.depth(), a).cmp(&(b.depth(), b)));
    let mut here: BTreeSet<ClusterPath> = BTreeSet::new();
    for (ns, p) in clusters {
        let parent = p.parent();
        let in_place = match &parent {
            None => true,
            Some(pp) => level.own.contains(pp) || (level.current_context && here.contains(pp)),
        };
        if in_place {
            here.insert(p.clone());
            out.kept.push((ns.name.clone(), p));
            continue;
        }
        let parent = parent.map(|pp| pp.to_string()).unwrap_or_default();
        let reason = match level.own.first() {
            Some(own) if level.current_context => format!(
                "cluster {p} belongs inside cluster {parent}, but this is cluster {own} and {parent} is not here"
            ),
            Some(own) => format!("cluster {p} belongs inside cluster {parent}, not {own}"),
            None => format!("cluster {p}: its parent cluster {parent} is not found in the tree"),
        };
        out.findings.push(Finding {
            action: Action::Remove,
            kind: Kind::Namespace,
            name: ns.name.clone(),
            place: level.place.clone(),
            reason,
        });
    }
    out
}

/// Which clusters are known to exist, and which were looked inside.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    /// Every cluster found in its place (or terminating).
    pub live: BTreeSet<ClusterPath>,
    /// Clusters whose own API was listed: their children are all known.
    pub explored: BTreeSet<ClusterPath>,
}

impl Survey {
    /// True when cluster `p` is known not to exist: not found, and either
    /// no cluster of its line is found (its tree is not in this context)
    /// or the nearest one found was looked inside.
    pub fn is_gone(&self, p: &ClusterPath) -> bool {
        if self.live.contains(p) {
            return false;
        }
        let mut up = p.parent();
        while let Some(a) = up {
            if self.live.contains(&a) {
                return self.explored.contains(&a);
            }
            up = a.parent();
        }
        true
    }
}

/// The contexts of a user's kubeconfig text marked with a cluster path
/// (`connect` and `kubeconfig --merge` add them): (context name, mark).
pub fn marked_contexts(text: &str) -> Result<Vec<(String, Mark)>, Error> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |reason: String| Error::Render {
        what: "your kubeconfig".into(),
        reason,
    };
    let doc: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?;
    let Some(contexts) = doc.get("contexts").and_then(|c| c.as_array()) else {
        return Ok(Vec::new());
    };
    Ok(contexts
        .iter()
        .filter_map(|c| {
            let mark = crate::kubeconfig::mark_of(c)?;
            Some((c["name"].as_str()?.to_string(), mark))
        })
        .collect())
}

/// The marked contexts reached from `context` whose cluster is known to
/// be gone. Contexts reached from elsewhere are not judged from here.
pub fn stale_contexts(
    marked: &[(String, Mark)],
    survey: &Survey,
    file: &str,
    context: &str,
) -> Vec<Finding> {
    marked
        .iter()
        .filter(|(_, m)| m.from.as_deref() == Some(context) && survey.is_gone(&m.path))
        .map(|(name, Mark { path: p, .. })| Finding {
            action: Action::Remove,
            kind: Kind::Context,
            name: name.clone(),
            place: file.to_string(),
            reason: format!("cluster {p} no longer exists (not found from context {context})"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
