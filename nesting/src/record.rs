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
mod tests {
    use super::*;
    use crate::{PlanRequest, TreeSpec};

    fn plan() -> Plan {
        let spec = TreeSpec {
            name: "lab".into(),
            depth: 3,
            width: 2,
            workers: 1,
        };
        Plan::new(&PlanRequest::new(spec, crate::Entropy::from_system())).unwrap()
    }

    #[test]
    fn records_the_place_of_each_cluster() {
        let plan = plan();
        let mid = plan.find(&"lab/1".parse().unwrap()).unwrap();
        let r = plan.record(mid);
        assert_eq!(r.path, "lab/1");
        assert_eq!(r.depth, 2);
        assert_eq!(r.parent.as_deref(), Some("lab"));
        assert_eq!(r.children, ["lab/1/0", "lab/1/1"]);
        assert_eq!(r.pod_cidr, mid.networks.pod_cidr.to_string());
        assert_eq!(r.plan, plan.digest(mid));
        assert!(r.kubeconfig_secret.starts_with(&mid.namespace));
        let top = plan.record(plan.find(&"lab".parse().unwrap()).unwrap());
        assert_eq!(top.parent, None);
        let leaf = plan.record(plan.find(&"lab/0/1".parse().unwrap()).unwrap());
        assert!(leaf.children.is_empty());
    }

    #[test]
    fn round_trips_through_its_config_map() {
        let plan = plan();
        for c in &plan.clusters {
            let r = plan.record(c);
            let cm = r.to_config_map().unwrap();
            assert_eq!(cm.metadata.namespace.as_deref(), Some(NAMESPACE));
            assert_eq!(
                cm.metadata.labels.as_ref().unwrap()[labels::PATH],
                c.path.dotted()
            );
            assert_eq!(LevelRecord::from_config_map(&cm).unwrap(), Some(r));
        }
    }

    #[test]
    fn a_foreign_config_map_is_an_error_or_nothing() {
        let empty = ConfigMap::default();
        assert_eq!(LevelRecord::from_config_map(&empty).unwrap(), None);
        let junk = ConfigMap {
            data: Some(BTreeMap::from([(
                KEY.to_string(),
                "- 1\n- 2\n".to_string(),
            )])),
            ..ConfigMap::default()
        };
        let err = LevelRecord::from_config_map(&junk).unwrap_err().to_string();
        assert!(err.contains("not a level record"), "{err}");
    }
}
