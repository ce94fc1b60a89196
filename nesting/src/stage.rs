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
    /// The node Pods' StatefulSet and Deployment, which need the Service's
    /// ClusterIP.
    Workloads,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 3] = [Stage::Namespace, Stage::Config, Stage::Workloads];

    pub fn of(m: &Manifest) -> Stage {
        match m {
            Manifest::Namespace(_) => Stage::Namespace,
            Manifest::StatefulSet(_) | Manifest::Deployment(_) => Stage::Workloads,
            Manifest::Secret(_) | Manifest::ConfigMap(_) | Manifest::Service(_) => Stage::Config,
        }
    }
}
