//! Plans trees of nested Kubernetes clusters: pure data in, data out.
//!
//! No network I/O here: the plugin discovers, applies and waits; this crate
//! decides names, CIDRs, PKI, kubeadm config, manifests and kubeconfigs.

pub mod certs;
pub mod changes;
pub mod cidr;
pub mod dns;
pub mod doctor;
mod entropy;
mod error;
pub mod gc;
pub mod grow;
pub mod kubeadm;
pub mod kubeconfig;
pub mod labels;
pub mod manifests;
pub mod naming;
pub mod node;
pub mod pause;
pub mod pki;
pub mod plan;
pub mod quantity;
pub mod ranges;
pub mod readdress;
pub mod record;
pub mod scale;
pub mod smoke;
pub mod stage;
pub mod status;
pub mod storage;
pub mod stuck;
pub mod tree;
pub mod version;
pub mod yaml;

pub use entropy::Entropy;
pub use error::{Error, PoolError, PrefixError, ShapeError};
pub use plan::{Plan, PlanRequest, PlannedCluster};
pub use tree::{ClusterPath, TreeSpec};
pub use version::KubeVersion;
