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
mod tests {
    use super::*;

    fn p(s: &str) -> ClusterPath {
        s.parse().unwrap()
    }

    fn cluster_ns(path: &str) -> ListedNamespace {
        let cp = p(path);
        ListedNamespace {
            name: format!("inception-{}", cp.dashed()),
            labels: labels::cluster_labels(&cp),
            annotations: BTreeMap::from([(labels::PATH_ANNOTATION.into(), path.into())]),
            age_secs: Some(3600),
            ..ListedNamespace::default()
        }
    }

    fn smoke_ns(age: u64) -> ListedNamespace {
        ListedNamespace {
            name: smoke::NAMESPACE.into(),
            labels: BTreeMap::from([
                (labels::MANAGED_BY.into(), labels::MANAGER.into()),
                ("app".into(), smoke::NAME.into()),
            ]),
            age_secs: Some(age),
            ..ListedNamespace::default()
        }
    }

    fn level(own: &[&str], current: bool, nss: Vec<ListedNamespace>) -> Level {
        Level {
            place: "ctx".into(),
            own: own.iter().map(|s| p(s)).collect(),
            current_context: current,
            namespaces: nss,
        }
    }

    fn removed(j: &Judged) -> Vec<&str> {
        j.findings
            .iter()
            .filter(|f| f.action == Action::Remove)
            .map(|f| f.name.as_str())
            .collect()
    }

    fn kept(j: &Judged) -> Vec<String> {
        j.kept.iter().map(|(_, p)| p.to_string()).collect()
    }

    #[test]
    fn the_current_context_keeps_tops_and_what_hangs_below_them() {
        let j = judge(&level(
            &[],
            true,
            vec![
                cluster_ns("lab"),
                cluster_ns("lab/0"),
                cluster_ns("lab/0/1"),
                cluster_ns("t/0/0"),
                cluster_ns("u/1"),
            ],
        ));
        assert_eq!(removed(&j), ["inception-u-1", "inception-t-0-0"]);
        assert_eq!(kept(&j), ["lab", "lab/0", "lab/0/1"]);
        let f = &j.findings[1];
        assert_eq!(f.kind, Kind::Namespace);
        assert_eq!(f.place, "ctx");
        assert!(
            f.reason.contains("parent cluster t/0 is not found"),
            "{f:?}"
        );
    }

    #[test]
    fn an_orphan_takes_its_children_here_with_it() {
        // u/0 is an orphan, so u/0/0 hangs below nothing in place.
        let j = judge(&level(
            &[],
            true,
            vec![cluster_ns("u/0/0"), cluster_ns("u/0")],
        ));
        assert_eq!(removed(&j), ["inception-u-0", "inception-u-0-0"]);
        assert!(j.kept.is_empty());
    }

    #[test]
    fn inside_a_cluster_only_its_own_children_and_tops_belong() {
        let j = judge(&level(
            &["lab/0"],
            false,
            vec![
                cluster_ns("lab/0/0"),
                cluster_ns("lab/1/0"),
                cluster_ns("lab/0/0/0"),
                cluster_ns("other"),
            ],
        ));
        assert_eq!(removed(&j), ["inception-lab-1-0", "inception-lab-0-0-0"]);
        assert_eq!(kept(&j), ["other", "lab/0/0"]);
        assert!(
            j.findings[0]
                .reason
                .contains("belongs inside cluster lab/1, not lab/0"),
            "{:?}",
            j.findings[0]
        );
    }

    #[test]
    fn a_cluster_known_by_two_paths_keeps_the_children_of_both() {
        // Reached as lab/0, recording itself as lab/9: inconsistent, so
        // nothing either path claims is collected.
        let j = judge(&level(
            &["lab/0", "lab/9"],
            false,
            vec![cluster_ns("lab/0/0"), cluster_ns("lab/9/0")],
        ));
        assert!(j.findings.is_empty(), "{:?}", j.findings);
    }

    #[test]
    fn a_marked_current_context_is_the_parent_of_its_children() {
        let j = judge(&level(
            &["lab"],
            true,
            vec![
                cluster_ns("lab/0"),
                cluster_ns("lab/0/0"),
                cluster_ns("x/3"),
            ],
        ));
        assert_eq!(removed(&j), ["inception-x-3"]);
        assert_eq!(kept(&j), ["lab/0", "lab/0/0"]);
    }

    #[test]
    fn the_path_label_is_enough() {
        let mut ns = cluster_ns("t/0/0");
        ns.annotations.clear();
        assert_eq!(ns.cluster_path(), Some(p("t/0/0")));
        let j = judge(&level(&[], true, vec![ns]));
        assert_eq!(removed(&j), ["inception-t-0-0"]);
    }

    #[test]
    fn unmanaged_namespaces_are_never_touched() {
        let mut ns = cluster_ns("t/0/0");
        ns.labels.remove(labels::MANAGED_BY);
        let j = judge(&level(&[], true, vec![ns]));
        assert!(j.findings.is_empty() && j.kept.is_empty());
    }

    #[test]
    fn old_smoke_namespaces_go_young_ones_stay() {
        let j = judge(&level(&["lab"], false, vec![smoke_ns(SMOKE_MAX_AGE_SECS)]));
        assert_eq!(removed(&j), [smoke::NAMESPACE]);
        assert!(j.findings[0].reason.contains("smoke test"));
        let j = judge(&level(&["lab"], false, vec![smoke_ns(30)]));
        assert!(j.findings.is_empty());
        let mut unknown_age = smoke_ns(0);
        unknown_age.age_secs = None;
        assert!(
            judge(&level(&[], true, vec![unknown_age]))
                .findings
                .is_empty()
        );
    }

    #[test]
    fn terminating_namespaces_are_reported_when_stuck_never_removed() {
        let mut stuck = cluster_ns("t/0/0");
        stuck.deleting_secs = Some(STUCK_AFTER_SECS + 60);
        stuck.finalizers = vec!["kubernetes".into()];
        stuck.conditions =
            vec!["NamespaceContentRemaining: Some resources are remaining: pods. has 2".into()];
        let mut going = cluster_ns("lab");
        going.deleting_secs = Some(5);
        let mut smoke = smoke_ns(SMOKE_MAX_AGE_SECS * 2);
        smoke.deleting_secs = Some(10);
        let j = judge(&level(&[], true, vec![stuck, going, smoke]));
        assert_eq!(j.findings.len(), 1, "{:?}", j.findings);
        let f = &j.findings[0];
        assert_eq!(f.action, Action::Stuck);
        assert_eq!(f.name, "inception-t-0-0");
        assert!(f.reason.contains("terminating for 3m"), "{}", f.reason);
        assert!(f.reason.contains("finalizers: kubernetes"), "{}", f.reason);
        assert!(
            f.reason.contains("NamespaceContentRemaining"),
            "{}",
            f.reason
        );
        assert_eq!(
            f.line(true),
            format!("stuck  namespace inception-t-0-0 (ctx)  {}", f.reason)
        );
        // Both still count as existing clusters.
        assert_eq!(kept(&j), ["t/0/0", "lab"]);
    }

    #[test]
    fn lines_say_what_was_done() {
        let f = Finding {
            action: Action::Remove,
            kind: Kind::Context,
            name: "inception-t-0".into(),
            place: "/home/u/.kube/config".into(),
            reason: "gone".into(),
        };
        assert_eq!(
            f.line(false),
            "would remove  context inception-t-0 (/home/u/.kube/config)  gone"
        );
        assert_eq!(
            f.line(true),
            "removed  context inception-t-0 (/home/u/.kube/config)  gone"
        );
    }

    #[test]
    fn a_cluster_is_gone_only_when_its_place_was_seen() {
        let survey = Survey {
            live: ["lab", "lab/0", "lab/1"].into_iter().map(p).collect(),
            explored: ["lab"].into_iter().map(p).collect(),
        };
        assert!(!survey.is_gone(&p("lab/0")));
        // lab was looked inside: lab/2 is not there.
        assert!(survey.is_gone(&p("lab/2")));
        assert!(survey.is_gone(&p("lab/2/0")));
        // lab/0 could not be looked inside: its children may exist.
        assert!(!survey.is_gone(&p("lab/0/0")));
        assert!(!survey.is_gone(&p("lab/0/0/1")));
        // No cluster of tree ghost here.
        assert!(survey.is_gone(&p("ghost")));
        assert!(survey.is_gone(&p("ghost/0")));
    }

    #[test]
    fn marked_contexts_are_read_and_the_stale_ones_found() {
        let text = r#"
apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: lab
  context: {cluster: lab, user: lab}
- name: inception-ghost-0
  context:
    cluster: inception-ghost-0
    user: inception-ghost-0
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/0, from: lab}
- name: inception-ghost-1
  context:
    cluster: inception-ghost-1
    user: inception-ghost-1
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/1, from: elsewhere}
- name: inception-old
  context:
    cluster: inception-old
    user: inception-old
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/2}
- name: inception-keep
  context:
    cluster: inception-keep
    user: inception-keep
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: keep, from: lab}
- name: other-ext
  context:
    cluster: x
    user: x
    extensions:
    - name: example.com/thing
      extension: {path: keep}
"#;
        let marked = marked_contexts(text).unwrap();
        let names: Vec<(&str, String)> = (marked.iter())
            .map(|(n, m)| (n.as_str(), m.path.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("inception-ghost-0", "ghost/0".into()),
                ("inception-ghost-1", "ghost/1".into()),
                ("inception-old", "ghost/2".into()),
                ("inception-keep", "keep".into()),
            ]
        );
        let survey = Survey {
            live: [p("keep")].into(),
            explored: BTreeSet::new(),
        };
        let f = stale_contexts(&marked, &survey, "/k", "lab");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "inception-ghost-0");
        assert_eq!(f[0].kind, Kind::Context);
        assert!(f[0].reason.contains("cluster ghost/0 no longer exists"));
        assert!(marked_contexts("").unwrap().is_empty());
        assert!(marked_contexts("contexts: 3\n").unwrap().is_empty());
    }
}
