//! Volumes inside a nested cluster: a default StorageClass whose claims get
//! a directory on the node that first uses them, like the local-path
//! provisioner kind ships. The node agent on each node carries out what
//! these functions decide for the claims and volumes of its own node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::labels;

/// The default class, named as kind names its own: manifests written for
/// kind work unchanged.
pub const CLASS: &str = "standard";
/// The provisioner name in the class and on the volumes it made.
pub const PROVISIONER: &str = "kubectl-inception.dev/local-volumes";
/// Where each node keeps its volumes, a directory per volume.
pub const VOLUMES_DIR: &str = "/var/lib/inception/volumes";
/// The label on a volume naming the node that holds its directory.
pub const NODE_LABEL: &str = "kubectl-inception.dev/node";
/// The role and binding that let every node's agent provision.
pub const ROLE: &str = "kubectl-inception:local-volumes";

/// Set by the scheduler on a claim waiting for its first consumer.
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Set by the volume controller on a claim of an external provisioner
/// (the beta name up to 1.22, both names later).
const CLAIM_PROVISIONER: [&str; 2] = [
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
];
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The same, as clusters before 1.13 wrote it (still honoured).
pub const DEFAULT_CLASS_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// The cluster's default StorageClass: bound when a Pod first uses a
/// claim (so the volume is made on that Pod's node), deleted with its claim.
pub fn storage_class() -> StorageClass {
    let mut metadata = labels::managed_meta(
        CLASS,
        None,
        ("app.kubernetes.io/component", "local-volumes"),
    );
    metadata.annotations = Some(BTreeMap::from([(
        DEFAULT_CLASS.to_string(),
        "true".to_string(),
    )]));
    StorageClass {
        metadata,
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..StorageClass::default()
    }
}

/// Read access to claims, and making and deleting volumes, for every node:
/// each node's agent provisions the claims scheduled to it.
pub fn storage_rbac() -> (ClusterRole, ClusterRoleBinding) {
    let rule = |resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    };
    let meta =
        || labels::managed_meta(ROLE, None, ("app.kubernetes.io/component", "local-volumes"));
    let role = ClusterRole {
        metadata: meta(),
        rules: Some(vec![
            rule("persistentvolumeclaims", &["get", "list", "watch"]),
            rule(
                "persistentvolumes",
                &["get", "list", "watch", "create", "delete"],
            ),
        ]),
        ..ClusterRole::default()
    };
    (role, crate::node::nodes_binding(meta()))
}

/// The volume made for a claim: `pvc-` and the claim's uid, as upstream's
/// provisioners name theirs.
pub fn volume_name(claim: &PersistentVolumeClaim) -> Option<String> {
    claim.metadata.uid.as_deref().map(|u| format!("pvc-{u}"))
}

/// The directory of volume `name` in `dir` (the node's volumes directory,
/// [`VOLUMES_DIR`] in a node Pod); none for a name that is not one of ours
/// (a path must never leave `dir`).
pub fn volume_dir(name: &str, dir: &str) -> Option<String> {
    let uid = name.strip_prefix("pvc-")?;
    let ok = !uid.is_empty() && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then(|| format!("{}/{name}", dir.trim_end_matches('/')))
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The volume `node` makes for `claim` in its volumes directory `dir`, if
/// the claim waits for one there: it is unbound, of this provisioner, and
/// the scheduler picked `node` for its first Pod.
pub fn volume_for(
    claim: &PersistentVolumeClaim,
    node: &str,
    dir: &str,
) -> Option<PersistentVolume> {
    let meta = &claim.metadata;
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let spec = claim.spec.as_ref()?;
    let unbound = spec.volume_name.as_deref().is_none_or(str::is_empty)
        && claim
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_none_or(|p| p == "Pending");
    let ours = CLAIM_PROVISIONER
        .iter()
        .any(|k| annotation(meta, k) == Some(PROVISIONER));
    if !unbound || !ours || annotation(meta, SELECTED_NODE) != Some(node) {
        return None;
    }
    let name = volume_name(claim)?;
    let path = volume_dir(&name, dir)?;
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
        .unwrap_or_else(|| Quantity("1Gi".into()));
    let mut metadata = labels::managed_meta(&name, None, (NODE_LABEL, node));
    metadata.annotations = Some(BTreeMap::from([(
        PROVISIONED_BY.to_string(),
        PROVISIONER.to_string(),
    )]));
    Some(PersistentVolume {
        metadata,
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_string(), size)])),
            access_modes: spec.access_modes.clone(),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
                uid: meta.uid.clone(),
                ..ObjectReference::default()
            }),
            persistent_volume_reclaim_policy: Some("Delete".into()),
            storage_class_name: spec.storage_class_name.clone(),
            volume_mode: spec.volume_mode.clone(),
            host_path: Some(HostPathVolumeSource {
                path,
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: HOSTNAME.into(),
                            operator: "In".into(),
                            values: Some(vec![node.into()]),
                        }]),
                        ..NodeSelectorTerm::default()
                    }],
                }),
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    })
}

/// The directory `node` removes, then the volume it deletes: a volume of
/// this provisioner on `node` whose claim is gone (Released), to be deleted.
pub fn released_dir(volume: &PersistentVolume, node: &str, dir: &str) -> Option<String> {
    let meta = &volume.metadata;
    if meta.deletion_timestamp.is_some() {
        return None; // on its way out already
    }
    let on_node = meta.labels.as_ref()?.get(NODE_LABEL).map(String::as_str) == Some(node);
    let ours = annotation(meta, PROVISIONED_BY) == Some(PROVISIONER);
    let released = volume.status.as_ref()?.phase.as_deref() == Some("Released");
    let delete = volume
        .spec
        .as_ref()?
        .persistent_volume_reclaim_policy
        .as_deref()
        == Some("Delete");
    if on_node && ours && released && delete {
        volume_dir(meta.name.as_deref()?, dir)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
