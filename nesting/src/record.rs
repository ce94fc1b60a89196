//! What a cluster knows about its own place in the tree, stored inside it
//! (ConfigMap `kube-public/kubectl-inception`), so the tree can be walked
//! and understood from the root with no local state.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::manifests::{KUBECONFIG_KEY, KUBECONFIG_SECRET};
use crate::{Error, Plan, PlannedCluster, labels};

/// Namespace of the record in each cluster: readable by every user there.
pub const NAMESPACE: &str = "kube-public";
/// Name of the record's ConfigMap.
pub const NAME: &str = "kubectl-inception";
/// Key of the record in the ConfigMap.
pub const KEY: &str = "level.yaml";

/// One cluster's place in its tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelRecord {
    pub tree: String,
    pub path: String,
    pub depth: u32,
    /// The cluster whose Pods are this cluster's nodes; `None` at depth 1
    /// (the cluster `up` was run against).
    pub parent: Option<String>,
    /// Namespace of this cluster's objects in the parent.
    pub parent_namespace: String,
    /// `namespace/name[key]` of the Secret in the parent holding this
    /// cluster's admin kubeconfig (Service address, for the parent's Pods).
    pub kubeconfig_secret: String,
    pub version: String,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    pub cluster_domain: String,
    /// Paths of the clusters planned inside this one.
    pub children: Vec<String>,
    /// The plan digest also recorded on the parent's namespace.
    pub plan: String,
}

impl Plan {
    /// The record `up` stores inside cluster `c` once it is Ready.
    pub fn record(&self, c: &PlannedCluster) -> LevelRecord {
        LevelRecord {
            tree: c.path.tree.clone(),
            path: c.path.to_string(),
            depth: c.path.depth(),
            parent: c.path.parent().map(|p| p.to_string()),
            parent_namespace: c.namespace.clone(),
            kubeconfig_secret: format!("{}/{KUBECONFIG_SECRET}[{KUBECONFIG_KEY}]", c.namespace),
            version: self.version.to_string(),
            pod_cidr: c.networks.pod_cidr.to_string(),
            service_cidr: c.networks.service_cidr.to_string(),
            cluster_domain: self.cluster_domain.clone(),
            children: c
                .children
                .iter()
                .map(|&i| self.clusters[i].path.to_string())
                .collect(),
            plan: self.digest(c),
        }
    }
}

impl LevelRecord {
    /// The ConfigMap to apply inside the cluster itself.
    pub fn to_config_map(&self) -> Result<ConfigMap, Error> {
        let path: crate::ClusterPath = self.path.parse()?;
        let text = serde_saphyr::to_string(self).map_err(|e| Error::Render {
            what: format!("the level record of {}", self.path),
            reason: e.to_string(),
        })?;
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(NAME.into()),
                namespace: Some(NAMESPACE.into()),
                labels: Some(labels::cluster_labels(&path)),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(KEY.to_string(), text)])),
            ..ConfigMap::default()
        })
    }

    /// Reads a record back; `None` when the ConfigMap holds none.
    pub fn from_config_map(cm: &ConfigMap) -> Result<Option<LevelRecord>, Error> {
        let Some(text) = cm.data.as_ref().and_then(|d| d.get(KEY)) else {
            return Ok(None);
        };
        serde_saphyr::from_str(text)
            .map(Some)
            .map_err(|e| Error::Render {
                what: format!("ConfigMap {NAMESPACE}/{NAME}"),
                reason: format!("its {KEY} is not a level record: {e}"),
            })
    }
}

#[cfg(test)]
mod tests;
