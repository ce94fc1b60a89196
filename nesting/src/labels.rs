//! Label and annotation keys put on every object the plugin makes.

use std::collections::BTreeMap;

use crate::tree::ClusterPath;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "kubectl-inception";
pub const TREE: &str = "kubectl-inception.dev/tree";
/// Label form of the path: `lab.0.1`.
pub const PATH: &str = "kubectl-inception.dev/path";
pub const DEPTH: &str = "kubectl-inception.dev/depth";
pub const ROLE: &str = "kubectl-inception.dev/role";
/// Annotation with the path as users type it: `lab/0/1`.
pub const PATH_ANNOTATION: &str = "kubectl-inception.dev/path";
/// Annotation holding a digest of the planned networks and version, so a
/// rerun with a different plan is refused instead of half-applied.
pub const PLAN_ANNOTATION: &str = "kubectl-inception.dev/plan";

pub const ROLE_CONTROL_PLANE: &str = "control-plane";
pub const ROLE_WORKER: &str = "worker";

/// Labels every object of a cluster carries.
pub fn cluster_labels(path: &ClusterPath) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGER.to_string()),
        (TREE.to_string(), path.tree.clone()),
        (PATH.to_string(), path.dotted()),
        (DEPTH.to_string(), path.depth().to_string()),
    ])
}

/// Selector for every object of one tree.
pub fn tree_selector(tree: &str) -> String {
    format!("{MANAGED_BY}={MANAGER},{TREE}={tree}")
}

/// Selector for every inception object.
pub fn all_selector() -> String {
    format!("{MANAGED_BY}={MANAGER}")
}

/// Metadata of an object the plugin or agent makes inside a cluster: its
/// name, namespace, our managed-by label and one label of its own.
pub fn managed_meta(
    name: &str,
    namespace: Option<&str>,
    label: (&str, &str),
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([
            (MANAGED_BY.to_string(), MANAGER.to_string()),
            (label.0.to_string(), label.1.to_string()),
        ])),
        ..Default::default()
    }
}
