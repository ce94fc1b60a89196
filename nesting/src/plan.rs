//! A whole tree, planned up front: every cluster's names, networks, PKI,
//! kubeadm configs and manifests.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cidr::{self, CidrRequest, Kept, Networks};
use crate::kubeadm::{self, APISERVER_PORT, KubeadmConfig, KubeadmInput};
use crate::kubeconfig::Kubeconfig;
use crate::manifests::{self, ClusterObjects, Manifest};
use crate::pki::{ClusterPki, PkiRequest};
use crate::tree::{ClusterPath, TreeSpec};
use crate::version::KubeVersion;
use crate::{Entropy, Error, labels};

mod digest;
mod node_storage;
mod requests;
mod validate;

pub use digest::PlanDigest;
pub use node_storage::NodeStorage;
pub use requests::NodeRequests;
use validate::{
    validate_image, validate_images_dir, validate_namespace, validate_runtime_class,
    validate_workers,
};

/// Everything a plan is made from.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub tree: TreeSpec,
    pub version: KubeVersion,
    pub image: String,
    pub cidr: CidrRequest,
    /// Ranges of clusters that exist, kept where they fit (see
    /// [`crate::grow::plan_around`]).
    pub kept: BTreeMap<ClusterPath, Kept>,
    /// DNS domain of the cluster the root is created in.
    pub parent_domain: String,
    /// DNS domain of every planned cluster.
    pub cluster_domain: String,
    /// Namespace of the root cluster; `inception-<name>` when `None`.
    pub root_namespace: Option<String>,
    /// Directory of image archives on the parent's nodes (see
    /// [`manifests::IMAGES_MOUNT`]); nested levels get the same mount path.
    pub images_dir: Option<String>,
    /// Who serves cluster DNS in every planned cluster.
    pub dns: crate::node::Dns,
    /// What every node Pod requests from its parent.
    pub node_requests: NodeRequests,
    /// Where node Pods keep their state.
    pub node_storage: NodeStorage,
    /// RuntimeClass of the top level's node Pods (the parent's runtime
    /// for nested containers, e.g. sysbox); levels below use their
    /// parent's default.
    pub runtime_class: Option<String>,
    /// What keys, serial numbers and tokens are drawn from, and the time
    /// certificates start at: the same request gives the same plan.
    pub entropy: Entropy,
}

impl PlanRequest {
    /// A request with the defaults; `entropy` is usually
    /// [`Entropy::from_system`].
    pub fn new(tree: TreeSpec, entropy: Entropy) -> Self {
        PlanRequest {
            tree,
            version: crate::version::DEFAULT,
            image: default_image(crate::version::DEFAULT),
            cidr: CidrRequest::default(),
            kept: BTreeMap::new(),
            parent_domain: "cluster.local".into(),
            cluster_domain: "cluster.local".into(),
            root_namespace: None,
            images_dir: None,
            node_requests: NodeRequests::default(),
            node_storage: NodeStorage::default(),
            runtime_class: None,
            dns: crate::node::Dns::Builtin,
            entropy,
        }
    }
}

/// Where the release workflow publishes the node images, one tag per
/// Kubernetes version (`images/node/versions`).
pub const IMAGE_REPOSITORY: &str = "ghcr.io/kubectl-inception/node";

/// The published node image for a release.
pub fn default_image(version: KubeVersion) -> String {
    format!("{IMAGE_REPOSITORY}:{version}")
}

/// One cluster of the plan.
#[derive(Clone, Debug)]
pub struct PlannedCluster {
    pub path: ClusterPath,
    /// Namespace in the parent cluster holding every object of this cluster.
    pub namespace: String,
    pub networks: Networks,
    pub pki: ClusterPki,
    pub workers: u32,
    /// Index of the parent in [`Plan::clusters`]; `None` for the root.
    pub parent: Option<usize>,
    pub children: Vec<usize>,
}

/// The whole tree.
#[derive(Clone, Debug)]
pub struct Plan {
    pub version: KubeVersion,
    pub image: String,
    pub parent_domain: String,
    pub cluster_domain: String,
    pub images_dir: Option<String>,
    pub dns: crate::node::Dns,
    pub node_requests: NodeRequests,
    pub node_storage: NodeStorage,
    pub runtime_class: Option<String>,
    /// Breadth first: parents before children, level by level.
    pub clusters: Vec<PlannedCluster>,
}

impl Plan {
    /// Plans the tree: validates the input, carves CIDRs, makes PKI.
    pub fn new(req: &PlanRequest) -> Result<Plan, Error> {
        req.tree.validate()?;
        validate_image(&req.image)?;
        req.node_requests.validate()?;
        req.node_storage.validate()?;
        if let Some(rc) = &req.runtime_class {
            validate_runtime_class(rc)?;
        }
        if let Some(dir) = &req.images_dir {
            validate_images_dir(dir)?;
        }
        let paths = req.tree.paths();
        let kept: Vec<Option<Kept>> = paths.iter().map(|p| req.kept.get(p).copied()).collect();
        let networks = cidr::allocate_keeping(&req.cidr, &kept)?;
        let mut clusters: Vec<PlannedCluster> = Vec::with_capacity(paths.len());
        let mut index: BTreeMap<ClusterPath, usize> = BTreeMap::new();
        for (i, (path, networks)) in paths.into_iter().zip(networks).enumerate() {
            let parent = path.parent().map(|p| index[&p]);
            let namespace = match (&req.root_namespace, parent) {
                (Some(ns), None) => ns.clone(),
                _ => crate::naming::namespace(&path),
            };
            validate_namespace(&namespace)?;
            validate_workers(&path, &networks.pod_cidr, req.tree.workers)?;
            let parent_domain = if parent.is_some() {
                &req.cluster_domain
            } else {
                &req.parent_domain
            };
            let pki = ClusterPki::generate(
                &PkiRequest {
                    service_name: manifests::SERVICE,
                    namespace: &namespace,
                    parent_domain,
                    cluster_domain: &req.cluster_domain,
                    kubernetes_service_ip: networks.kubernetes_service_ip,
                    extra_sans: &[],
                },
                &req.entropy.derive(&format!("cluster {path}")),
            )?;
            if let Some(p) = parent {
                clusters[p].children.push(i);
            }
            index.insert(path.clone(), i);
            clusters.push(PlannedCluster {
                path,
                namespace,
                networks,
                pki,
                workers: req.tree.workers,
                parent,
                children: Vec::new(),
            });
        }
        Ok(Plan {
            version: req.version,
            image: req.image.clone(),
            parent_domain: req.parent_domain.clone(),
            cluster_domain: req.cluster_domain.clone(),
            images_dir: req.images_dir.clone(),
            runtime_class: req.runtime_class.clone(),
            node_requests: req.node_requests.clone(),
            node_storage: req.node_storage.clone(),
            dns: req.dns,
            clusters,
        })
    }

    pub fn find(&self, path: &ClusterPath) -> Option<&PlannedCluster> {
        self.clusters.iter().find(|c| &c.path == path)
    }

    /// Deepest level of the plan (1 for a single cluster).
    pub fn depth(&self) -> u32 {
        self.clusters
            .iter()
            .map(|c| c.path.depth())
            .max()
            .unwrap_or(0)
    }

    /// Indexes of the clusters at one depth, in order.
    pub fn level(&self, depth: u32) -> Vec<usize> {
        (0..self.clusters.len())
            .filter(|&i| self.clusters[i].path.depth() == depth)
            .collect()
    }

    fn parent_domain_of(&self, c: &PlannedCluster) -> &str {
        if c.parent.is_some() {
            &self.cluster_domain
        } else {
            &self.parent_domain
        }
    }

    /// `apiserver.<namespace>.svc`: the apiserver's name for pods of the parent.
    pub fn service_host(&self, c: &PlannedCluster) -> String {
        crate::naming::service_host(&c.namespace)
    }

    /// `host:port` the cluster's nodes and the parent's pods reach it at.
    pub fn control_plane_endpoint(&self, c: &PlannedCluster) -> String {
        format!("{}:{APISERVER_PORT}", self.service_host(c))
    }

    /// What must not change between two runs for the same cluster.
    pub fn digest(&self, c: &PlannedCluster) -> String {
        PlanDigest {
            version: self.version,
            pod_cidr: c.networks.pod_cidr,
            service_cidr: c.networks.service_cidr,
        }
        .to_string()
    }

    pub fn kubeadm(&self, c: &PlannedCluster) -> Result<KubeadmConfig, Error> {
        let sans = ClusterPki::apiserver_sans(&PkiRequest {
            service_name: manifests::SERVICE,
            namespace: &c.namespace,
            parent_domain: self.parent_domain_of(c),
            cluster_domain: &self.cluster_domain,
            kubernetes_service_ip: c.networks.kubernetes_service_ip,
            extra_sans: &[],
        });
        kubeadm::render(&KubeadmInput {
            version: self.version,
            cluster_name: &c.path.dashed(),
            control_plane_endpoint: &self.control_plane_endpoint(c),
            networks: &c.networks,
            cluster_domain: &self.cluster_domain,
            cert_sans: &sans,
            discovery_hash: &c.pki.discovery_hash,
            node_labels: &format!("{}={}", labels::PATH, c.path.dotted()),
            schedulable_control_plane: c.workers == 0,
        })
    }

    /// Admin kubeconfig reaching `server`; the TLS name is always the
    /// Service's, so tunnels and proxies verify the same certificate.
    pub fn kubeconfig(
        &self,
        c: &PlannedCluster,
        server: &str,
        proxy_url: Option<&str>,
    ) -> Kubeconfig {
        Kubeconfig::for_cluster(&c.path, &c.namespace, &c.pki, server, proxy_url)
    }

    /// Every object of one cluster, to apply into its parent, as planned:
    /// without anything only known when applying (see [`Runtime`]).
    pub fn manifests(&self, c: &PlannedCluster) -> Result<Vec<Manifest>, Error> {
        self.manifests_with(c, &Runtime::default())
    }

    /// Names node Pods reach their apiserver by, within the parent.
    pub fn apiserver_names(&self, c: &PlannedCluster) -> Vec<String> {
        let host = self.service_host(c);
        vec![
            format!("{host}.{}", self.parent_domain_of(c)),
            host,
            format!("{}.{}", manifests::SERVICE, c.namespace),
        ]
    }

    /// Every object of one cluster, with what is known only when applying:
    /// the apiserver Service's ClusterIP mapped to its names in node Pods,
    /// the parent apiserver's endpoints the node Pods must never reach.
    pub fn manifests_with(
        &self,
        c: &PlannedCluster,
        runtime: &Runtime,
    ) -> Result<Vec<Manifest>, Error> {
        let kubeadm = self.kubeadm(c)?;
        let server = format!("https://{}", self.control_plane_endpoint(c));
        let kubeconfig = self.kubeconfig(c, &server, None).to_yaml()?;
        Ok(manifests::cluster_objects(&ClusterObjects {
            path: &c.path,
            namespace: &c.namespace,
            image: &self.image,
            workers: c.workers,
            plan_digest: &self.digest(c),
            pki_files: &c.pki.files,
            token: &c.pki.token.token(),
            kubeconfig: &kubeconfig,
            kubeadm_init: &kubeadm.init,
            kubeadm_join: &kubeadm.join,
            skip_phases: &kubeadm::skip_phases(self.dns).join(","),
            apiserver_ip: runtime.apiserver_ip,
            apiserver_names: &self.apiserver_names(c),
            parent_apiservers: &runtime.parent_apiservers,
            agent_config: &self.agent_config(c).to_json(),
            // Deeper levels find the archives where their parent's node
            // Pods have them mounted.
            images_dir: self.images_dir.as_deref().map(|d| {
                if c.parent.is_some() {
                    manifests::IMAGES_MOUNT
                } else {
                    d
                }
            }),
            requests: &self.node_requests,
            state: self.node_storage.claim(c.parent.is_some()),
            runtime_class: self.runtime_class.as_deref().filter(|_| c.parent.is_none()),
        }))
    }

    /// What the node agents of a cluster read from its bootstrap ConfigMap.
    pub fn agent_config(&self, c: &PlannedCluster) -> crate::node::AgentConfig {
        crate::node::AgentConfig {
            cluster_pod_cidr: c.networks.pod_cidr,
            service_cidr: c.networks.service_cidr,
            node_pod_cidrs: crate::cidr::node_cidrs(&c.networks.pod_cidr),
            dns_ip: c.networks.dns_ip,
            cluster_domain: self.cluster_domain.clone(),
            dns: self.dns,
            apiserver: Some(self.control_plane_endpoint(c)),
        }
    }

    /// The planned tree, nested, for `tree --plan`.
    pub fn view(&self) -> Vec<ClusterView> {
        fn build(plan: &Plan, i: usize) -> ClusterView {
            let c = &plan.clusters[i];
            ClusterView {
                path: c.path.to_string(),
                depth: c.path.depth(),
                namespace: c.namespace.clone(),
                version: plan.version.to_string(),
                workers: c.workers,
                networks: c.networks.clone(),
                children: c.children.iter().map(|&j| build(plan, j)).collect(),
            }
        }
        (0..self.clusters.len())
            .filter(|&i| self.clusters[i].parent.is_none())
            .map(|i| build(self, i))
            .collect()
    }
}

/// What a cluster's objects hold that is only known when applying them,
/// read from the parent: never part of the plan or its digest, and each
/// part left out of the objects while unknown (empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runtime {
    /// The apiserver Service's ClusterIP, known once the Service exists.
    pub apiserver_ip: Option<std::net::IpAddr>,
    /// The parent apiserver's own endpoints (its `default/kubernetes`
    /// Endpoints): the node Pods reject every connection to them.
    pub parent_apiservers: Vec<std::net::SocketAddr>,
}

/// One cluster of the planned tree as shown to users.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub path: String,
    pub depth: u32,
    pub namespace: String,
    pub version: String,
    pub workers: u32,
    #[serde(flatten)]
    pub networks: Networks,
    pub children: Vec<ClusterView>,
}

#[cfg(test)]
mod tests;
