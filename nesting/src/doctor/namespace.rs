//! Whether `up` can make or converge the top cluster's namespace.

use super::Check;

/// The top cluster's namespace as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceState {
    Absent,
    /// Being deleted: since when, and the namespace's conditions saying
    /// what is left (content, finalizers).
    Terminating {
        since: String,
        conditions: Vec<String>,
    },
    Exists {
        /// Labelled as made by kubectl-inception.
        managed: bool,
        /// The cluster path it belongs to, from its annotation.
        path: Option<String>,
        /// Its plan digest annotation.
        digest: Option<String>,
    },
}

/// Whether `up` can make or converge the top cluster's namespace.
/// `want_digest` is `None` when no plan could be made.
pub fn existing(
    namespace: &str,
    want_path: &str,
    want_digest: Option<&str>,
    state: &NamespaceState,
) -> Check {
    match state {
        NamespaceState::Absent => Check::ok(
            "namespace",
            format!("{namespace} does not exist yet: up creates it"),
        ),
        NamespaceState::Terminating { since, conditions } => {
            let mut detail = format!("{namespace} is stuck Terminating (deleted {since})");
            if !conditions.is_empty() {
                detail.push_str(&format!(": {}", conditions.join("; ")));
            }
            Check::fail(
                "namespace",
                detail,
                format!(
                    "kubectl get namespace {namespace} -o yaml shows what is left (status.conditions); \
                     kubectl api-resources --verbs=list --namespaced -o name | xargs -n1 kubectl get -n {namespace} -o name \
                     lists the objects, whose metadata.finalizers hold it"
                ),
            )
        }
        NamespaceState::Exists { managed: false, .. } => Check::fail(
            "namespace",
            format!("{namespace} exists and was not made by kubectl-inception: up refuses it"),
            "choose another tree name or -n NAMESPACE",
        ),
        NamespaceState::Exists {
            managed: true,
            path,
            digest,
        } => {
            if path.as_deref() != Some(want_path) {
                return Check::fail(
                    "namespace",
                    format!(
                        "{namespace} belongs to cluster {}, not {want_path}",
                        path.as_deref().unwrap_or("?")
                    ),
                    "choose another tree name or -n NAMESPACE",
                );
            }
            match (digest.as_deref(), want_digest) {
                (Some(have), Some(want)) if have != want => Check::fail(
                    "namespace",
                    format!(
                        "cluster {want_path} exists with another plan ({have}; this one: {want})"
                    ),
                    format!(
                        "rerun with the flags it was made with, or remove it first: kubectl inception down {want_path}"
                    ),
                ),
                _ => Check::ok(
                    "namespace",
                    format!("cluster {want_path} exists in {namespace}: up converges it"),
                ),
            }
        }
    }
}
