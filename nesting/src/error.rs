use ipnet::IpNet;
use thiserror::Error;

/// Why a plan cannot be made. Messages say what was wrong and what to change.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid cluster name {value:?}: {reason}")]
    BadName { value: String, reason: String },
    #[error("invalid cluster path {value:?}: {reason}")]
    BadPath { value: String, reason: String },
    #[error(transparent)]
    BadShape(#[from] ShapeError),
    #[error("invalid Kubernetes version {value:?}: {reason}")]
    BadVersion { value: String, reason: String },
    #[error("invalid CIDR {value:?} for {flag}: {reason}")]
    BadCidr {
        flag: String,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("invalid image {value:?}: {reason}")]
    BadImage { value: String, reason: String },
    #[error(
        "--images-dir {value:?} {reason}: node Pods mount it from their parent's nodes; give a directory holding only image archives"
    )]
    BadImagesDir { value: String, reason: &'static str },
    #[error(
        "invalid --runtime-class {value:?}: a RuntimeClass name is lower-case letters, digits, '-' and '.' (kubectl get runtimeclass lists them)"
    )]
    BadRuntimeClass { value: String },
    #[error(
        "cluster {path} cannot hold {workers} workers: its pod CIDR {pod_cidr} has room for {capacity} nodes (one /{node_prefix} each), the control plane included; ask for at most {} workers or use a shorter --pod-prefix",
        capacity - 1
    )]
    TooManyWorkers {
        path: String,
        workers: u32,
        pod_cidr: IpNet,
        capacity: u64,
        node_prefix: u8,
    },
    #[error(
        "invalid {flag} {value:?}: expected a positive quantity, optionally with a unit ({units}), like 250m or 512Mi"
    )]
    BadQuantity {
        flag: &'static str,
        value: String,
        units: String,
    },
    #[error(
        "invalid --storage-class {0:?}: a StorageClass name is lower case letters, digits, '-' and '.' (see `kubectl get storageclass`)"
    )]
    BadStorageClass(String),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("cannot render {what}: {reason}")]
    Render { what: String, reason: String },
    /// An existing cluster this run plans differently.
    #[error(
        "cluster {path} exists with a different plan:\n  existing: {have}\n  this run: {want}\n\
         nothing was changed. Rerun with the flags it was made with, or remove it first: kubectl inception down {path}"
    )]
    DifferentPlan {
        path: crate::ClusterPath,
        have: String,
        want: String,
    },
}

/// A tree shape out of bounds.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ShapeError {
    /// `--depth`, `--width` or `--workers` outside `min..=max`.
    #[error("{flag} {value} is out of range: use {min} to {max}")]
    OutOfRange {
        flag: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    /// Depth and width make more clusters than allowed.
    #[error("--depth {depth} --width {width} makes {clusters} clusters; at most {max} are allowed")]
    TooManyClusters {
        depth: u32,
        width: u32,
        clusters: u64,
        max: usize,
    },
    /// Existing clusters a smaller tree would leave out.
    #[error(
        "tree {tree} has clusters beyond --depth {depth} --width {width}: {}. Nothing was changed: up never removes clusters. \
         Remove them first ({}), or rerun with a --depth and --width that hold them",
        paths(outside),
        downs(outside)
    )]
    Shrinks {
        tree: String,
        depth: u32,
        width: u32,
        outside: Vec<crate::ClusterPath>,
    },
}

/// A pod or service prefix that cannot be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PrefixError {
    /// Outside what the family accepts.
    #[error("{flag} /{prefix} is out of range for {family}: use /{min} to /{max}")]
    OutOfRange {
        flag: &'static str,
        prefix: u8,
        family: &'static str,
        min: u8,
        max: u8,
    },
    /// A pod CIDR larger than every pool.
    #[error(
        "--pod-prefix /{pod_prefix} is larger than every pool (the largest is /{largest_pool}): use a longer prefix or a larger --cidr-pool"
    )]
    LargerThanPools { pod_prefix: u8, largest_pool: u8 },
}

/// CIDR pools that cannot hold the tree.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PoolError {
    /// A pool no cluster may use: all addresses, or a special range.
    #[error("--cidr-pool {pool} {why}: use a private range such as 10.0.0.0/8 or fd00::/8")]
    Unusable { pool: IpNet, why: String },
    /// No pool at all.
    #[error("no --cidr-pool given: pass at least one, e.g. --cidr-pool 10.0.0.0/8")]
    Missing,
    /// Pools of both families.
    #[error(
        "--cidr-pool {pool} is {family} but {first} is {first_family}: dual-stack trees are not supported yet, use pools of one family"
    )]
    MixedFamilies {
        pool: IpNet,
        family: &'static str,
        first: IpNet,
        first_family: &'static str,
    },
    /// Fewer clusters fit than the tree has.
    #[error(
        "the pool {} holds {fits} clusters with /{pod_prefix} pod and /{service_prefix} service CIDRs (after exclusions), but the tree needs {needs}: \
         add or enlarge --cidr-pool, raise --pod-prefix/--service-prefix, or make the tree smaller",
        list(pools)
    )]
    Full {
        pools: Vec<IpNet>,
        fits: usize,
        needs: usize,
        pod_prefix: u8,
        service_prefix: u8,
    },
}

fn paths(paths: &[crate::ClusterPath]) -> String {
    list(paths)
}

fn downs(paths: &[crate::ClusterPath]) -> String {
    paths
        .iter()
        .map(|p| format!("`kubectl inception down {p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(nets: &[impl ToString]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
