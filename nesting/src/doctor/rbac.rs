//! The permissions the plugin needs, and whether it has them.

use super::Check;

/// A permission the plugin uses in the current cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    /// Without it the plugin still works, with less: found by other means,
    /// or a column of `tree` left empty.
    pub optional: bool,
}

impl Need {
    /// Whether the resource lives outside namespaces (asked without one).
    pub fn cluster_scoped(&self) -> bool {
        CLUSTER_SCOPED.contains(&self.resource)
    }
}

const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "nodes",
    "storageclasses",
    "servicecidrs",
    "selfsubjectaccessreviews",
];

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
        optional: false,
    }
}

const fn sub(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource,
        optional: false,
    }
}

const fn optional(n: Need) -> Need {
    Need {
        optional: true,
        ..n
    }
}

/// What the plugin does in the current cluster (`up`, `tree`, `down`,
/// `kubeconfig`, `connect`, `test`, `scale`, `pause`, `load`, `gc`,
/// `doctor`): server-side apply (create + patch) of each cluster's objects,
/// Pod reads, logs, exec and port-forward, events while waiting, namespace
/// deletion; then what finds the cluster's own networks and usage. Inner
/// clusters need nothing: the plugin is their admin. `deploy/rbac.yaml` is
/// [`cluster_role`] of this list.
pub const NEEDED: &[Need] = &[
    need("create", "", "namespaces"),
    need("patch", "", "namespaces"),
    need("get", "", "namespaces"),
    need("list", "", "namespaces"),
    need("delete", "", "namespaces"),
    need("create", "", "pods"),
    need("get", "", "pods"),
    need("list", "", "pods"),
    // doctor's short-lived probe Pod
    need("delete", "", "pods"),
    sub("get", "", "pods", "log"),
    sub("create", "", "pods", "exec"),
    sub("create", "", "pods", "portforward"),
    // why node Pods wait (fail fast)
    need("list", "", "events"),
    need("create", "", "services"),
    need("patch", "", "services"),
    need("get", "", "services"),
    need("create", "", "secrets"),
    need("patch", "", "secrets"),
    need("get", "", "secrets"),
    need("create", "", "configmaps"),
    need("patch", "", "configmaps"),
    need("get", "", "configmaps"),
    need("get", "", "serviceaccounts"),
    need("create", "apps", "statefulsets"),
    need("patch", "apps", "statefulsets"),
    need("get", "apps", "statefulsets"),
    sub("patch", "apps", "statefulsets", "scale"),
    // Workers as a Deployment: a cluster made by an older version.
    need("get", "apps", "deployments"),
    need("create", "policy", "poddisruptionbudgets"),
    need("patch", "policy", "poddisruptionbudgets"),
    // The default class of the node Pods' claims.
    need("get", "storage.k8s.io", "storageclasses"),
    need("list", "storage.k8s.io", "storageclasses"),
    need("list", "", "nodes"),
    // The service range, from the refusal of an out-of-range ClusterIP;
    // an accepted probe is deleted at once.
    optional(need("delete", "", "services")),
    optional(need("list", "networking.k8s.io", "servicecidrs")),
    // The apiserver's own endpoints, which node Pods may not reach.
    optional(need("list", "discovery.k8s.io", "endpointslices")),
    optional(need("get", "", "endpoints")),
    // Memory in use in `tree` (the kubelets' summary API).
    optional(sub("get", "", "nodes", "proxy")),
];

/// The answers of SelfSubjectAccessReviews for [`NEEDED`]: allowed, or an
/// error asking.
pub fn rbac(answers: &[(Need, Result<bool, String>)], namespace: &str) -> Check {
    let denied = |optional: bool| -> Vec<String> {
        answers
            .iter()
            .filter(|(n, a)| n.optional == optional && matches!(a, Ok(false)))
            .map(|(n, _)| n.to_string())
            .collect()
    };
    let (missing, missing_optional) = (denied(false), denied(true));
    let unknown: Vec<String> = answers
        .iter()
        .filter_map(|(n, a)| a.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            "rbac",
            format!("not allowed: {}", missing.join(", ")),
            format!(
                "ask for these rights (cluster-wide for namespaces and nodes, in {namespace} for the rest): `kubectl inception doctor --print-rbac` prints a ClusterRole that grants all of them"
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
    if !missing_optional.is_empty() {
        return Check::warn(
            "rbac",
            format!("not allowed, optional: {}", missing_optional.join(", ")),
            "up works without them but finds less of the cluster's networks (pass --parent-service-cidr and --parent-node-ip) and tree shows no memory in use; `doctor --print-rbac` prints a ClusterRole with all of them",
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

/// A ClusterRole `kubectl-inception` that grants [`NEEDED`]: one rule per
/// resource, in the list's order.
pub fn cluster_role() -> String {
    let mut rules: Vec<(&str, String, Vec<&str>)> = Vec::new();
    for n in NEEDED {
        let resource = if n.subresource.is_empty() {
            n.resource.to_string()
        } else {
            format!("{}/{}", n.resource, n.subresource)
        };
        match rules
            .iter_mut()
            .find(|(g, r, _)| *g == n.group && *r == resource)
        {
            Some((_, _, verbs)) => verbs.push(n.verb),
            None => rules.push((n.group, resource, vec![n.verb])),
        }
    }
    let mut out = String::from(
        "# What kubectl-inception does in the cluster it is pointed at: bind it\n\
         # (ClusterRoleBinding) to whoever runs the plugin. Made by\n\
         # `kubectl inception doctor --print-rbac`; `doctor` checks each right.\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRole\n\
         metadata:\n  name: kubectl-inception\n\
         rules:\n",
    );
    for (group, resource, verbs) in rules {
        out.push_str(&format!(
            "- apiGroups: [\"{group}\"]\n  resources: [\"{resource}\"]\n  verbs: [{}]\n",
            verbs
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
