//! Which StorageClass the top level's node Pods keep their state on.

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::{Api, Client, ResourceExt};
use nesting::manifests::{CONTROL_PLANE, STATE_VOLUME};
use nesting::plan::NodeStorage;

use crate::retry;

use nesting::storage::{DEFAULT_CLASS as GA, DEFAULT_CLASS_BETA as BETA};

const DEFAULT_CLASS: [&str; 2] = [GA, BETA];

/// The class of an existing control plane's state claim; `None` when it
/// keeps its state in emptyDirs.
pub fn class_of(sts: &StatefulSet) -> Option<String> {
    sts.spec
        .as_ref()?
        .volume_claim_templates
        .as_ref()?
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(STATE_VOLUME))
        .and_then(|t| t.spec.as_ref()?.storage_class_name.clone())
}

/// Settles `storage.top_class` for the top cluster (in `namespace` of the
/// cluster `client` reaches): what an existing control plane has, else
/// `--storage-class` if it exists, else the default class. With none, the
/// top level keeps its state in emptyDirs, with a warning.
pub async fn settle(
    client: &Client,
    namespace: &str,
    path: &str,
    storage: &mut NodeStorage,
    ephemeral: bool,
) -> Result<()> {
    if ephemeral {
        return Ok(());
    }
    let given = storage.top_class.clone();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    if let Some(live) = retry::retry(|| sts.get_opt(CONTROL_PLANE)).await? {
        let have = class_of(&live);
        if given.is_some() && given != have {
            bail!(
                "cluster {path} keeps its node state {}; --storage-class {} cannot change that in place. \
                 Rerun without --storage-class, or move it with `kubectl inception down {path}` and up again",
                describe(have.as_deref()),
                given.unwrap_or_default()
            );
        }
        storage.top_class = have;
        return Ok(());
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    if let Some(c) = given {
        if retry::retry(|| classes.get_opt(&c)).await?.is_none() {
            bail!(
                "StorageClass {c} does not exist in the current cluster: `kubectl get storageclass` lists them \
                 (or pass --ephemeral to keep node state in emptyDirs)"
            );
        }
        return Ok(());
    }
    let lp = kube::api::ListParams::default();
    let list = retry::retry(|| classes.list(&lp)).await?;
    storage.top_class = default_class(&list.items);
    if storage.top_class.is_none() {
        tracing::warn!(
            "the current cluster has no default StorageClass: the node Pods of {path} keep their state in emptyDirs, \
             lost when a Pod is deleted or evicted; give --storage-class to keep it"
        );
    }
    Ok(())
}

/// The default class among `classes` (the first by name if several say so).
pub fn default_class(classes: &[StorageClass]) -> Option<String> {
    let mut defaults: Vec<String> = classes
        .iter()
        .filter(|c| {
            DEFAULT_CLASS
                .iter()
                .any(|k| c.annotations().get(*k).map(String::as_str) == Some("true"))
        })
        .map(|c| c.name_any())
        .collect();
    defaults.sort();
    defaults.into_iter().next()
}

fn describe(class: Option<&str>) -> String {
    match class {
        Some(c) => format!("on claims of StorageClass {c}"),
        None => "in emptyDirs".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, default: Option<&str>) -> StorageClass {
        let mut meta = json!({"name": name});
        if let Some(k) = default {
            meta["annotations"] = json!({k: "true"});
        }
        serde_json::from_value(json!({"metadata": meta, "provisioner": "x"})).unwrap()
    }

    #[test]
    fn the_default_class_is_found_by_either_annotation() {
        assert_eq!(default_class(&[class("a", None)]), None);
        assert_eq!(
            default_class(&[class("a", None), class("gp3", Some(DEFAULT_CLASS[0]))]),
            Some("gp3".into())
        );
        assert_eq!(
            default_class(&[class("old", Some(DEFAULT_CLASS[1]))]),
            Some("old".into())
        );
        assert_eq!(
            default_class(&[
                class("z", Some(DEFAULT_CLASS[0])),
                class("b", Some(DEFAULT_CLASS[0]))
            ]),
            Some("b".into())
        );
    }

    #[test]
    fn the_class_of_a_control_plane() {
        let with: StatefulSet = serde_json::from_value(json!({"spec": {
            "selector": {}, "serviceName": "apiserver", "template": {},
            "volumeClaimTemplates": [{"metadata": {"name": "state"}, "spec": {"storageClassName": "standard"}}]
        }}))
        .unwrap();
        assert_eq!(class_of(&with), Some("standard".into()));
        let without: StatefulSet = serde_json::from_value(json!({"spec": {
            "selector": {}, "serviceName": "apiserver", "template": {}
        }}))
        .unwrap();
        assert_eq!(class_of(&without), None);
    }
}
