//! The order a cluster's objects are applied in.

use crate::manifests::Manifest;

/// When an object is applied, relative to the others of its cluster: each
/// stage once the one before it is in place, objects of a stage together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The cluster's Namespace.
    Namespace,
    /// Secrets, ConfigMaps and the apiserver Service.
    Config,
    /// The node Pods' StatefulSets, which need the Service's ClusterIP, and
    /// the control plane's disruption budget.
    Workloads,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 3] = [Stage::Namespace, Stage::Config, Stage::Workloads];

    pub fn of(m: &Manifest) -> Stage {
        match m {
            Manifest::Namespace(_) => Stage::Namespace,
            Manifest::StatefulSet(_) | Manifest::PodDisruptionBudget(_) => Stage::Workloads,
            Manifest::Secret(_) | Manifest::ConfigMap(_) | Manifest::Service(_) => Stage::Config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Plan, PlanRequest, TreeSpec};

    #[test]
    fn a_cluster_goes_namespace_then_config_then_nodes() {
        let plan = Plan::new(&PlanRequest::new(
            TreeSpec {
                name: "lab".into(),
                depth: 1,
                width: 1,
                workers: 1,
            },
            crate::Entropy::from_system(),
        ))
        .unwrap();
        let objects = plan.manifests(&plan.clusters[0]).unwrap();
        let count = |s: Stage| objects.iter().filter(|m| Stage::of(m) == s).count();
        assert_eq!(count(Stage::Namespace), 1);
        assert_eq!(count(Stage::Workloads), 3, "two StatefulSets, a budget");
        assert_eq!(
            count(Stage::Config),
            objects.len() - 4,
            "Secrets, ConfigMaps, Service"
        );
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
