//! The permissions the plugin needs, and whether it has them.

use super::Check;

/// A permission the plugin needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        Ok(())
    }
}

const fn need(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
    }
}

const fn sub(verb: &'static str, resource: &'static str, subresource: &'static str) -> Need {
    Need {
        verb,
        group: "",
        resource,
        subresource,
    }
}

/// What `up`, `tree`, `kubeconfig`, `connect`, `test` and `down` do in a
/// parent: server-side apply (create + patch) of a cluster's objects, Pod
/// reads, exec and port-forward, namespace deletion, the StorageClasses.
pub const NEEDED: &[Need] = &[
    need("create", "", "namespaces"),
    need("patch", "", "namespaces"),
    need("get", "", "namespaces"),
    need("list", "", "namespaces"),
    need("delete", "", "namespaces"),
    need("create", "", "pods"),
    need("get", "", "pods"),
    need("list", "", "pods"),
    sub("get", "pods", "log"),
    sub("create", "pods", "exec"),
    sub("create", "pods", "portforward"),
    need("create", "", "services"),
    need("patch", "", "services"),
    need("get", "", "services"),
    need("create", "", "secrets"),
    need("patch", "", "secrets"),
    need("get", "", "secrets"),
    need("create", "", "configmaps"),
    need("patch", "", "configmaps"),
    need("create", "apps", "statefulsets"),
    need("patch", "apps", "statefulsets"),
    need("get", "apps", "statefulsets"),
    // Workers as a Deployment: a cluster made by an older version.
    need("get", "apps", "deployments"),
    need("create", "policy", "poddisruptionbudgets"),
    need("patch", "policy", "poddisruptionbudgets"),
    // The default class of the node Pods' claims.
    need("list", "storage.k8s.io", "storageclasses"),
];

/// The answers of SelfSubjectAccessReviews for [`NEEDED`]: allowed, or an
/// error asking.
pub fn rbac(answers: &[(Need, Result<bool, String>)], namespace: &str) -> Check {
    let missing: Vec<String> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(false)))
        .map(|(n, _)| n.to_string())
        .collect();
    let unknown: Vec<String> = answers
        .iter()
        .filter_map(|(n, a)| a.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            "rbac",
            format!("not allowed: {}", missing.join(", ")),
            format!(
                "ask for these rights (cluster-wide for namespaces, in {namespace} for the rest), e.g. a ClusterRoleBinding to cluster-admin"
            ),
        );
    }
    if !unknown.is_empty() {
        return Check::warn(
            "rbac",
            format!("could not ask: {}", unknown.join(", ")),
            "kubectl auth can-i --list shows your rights",
        );
    }
    Check::ok(
        "rbac",
        format!(
            "all {} permissions the plugin uses are granted",
            answers.len()
        ),
    )
}
