//! The objects that make one cluster, applied into its parent.
//!
//! The control plane is a StatefulSet of one and the workers a StatefulSet
//! of N: a node Pod keeps its name (`control-plane-0`, `workers-1`) when it
//! is recreated, and with it its claim (etcd, `/etc/kubernetes`, kubelet,
//! containerd, the cluster's local volumes), so it comes back as the same
//! node of the same cluster.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::kubeadm::APISERVER_PORT;
use crate::labels;
use crate::tree::ClusterPath;

mod node_pods;

use node_pods::{control_plane, workers};

/// Object names inside a cluster's namespace.
pub const SERVICE: &str = "apiserver";
pub const CONTROL_PLANE: &str = "control-plane";
pub const WORKERS: &str = "workers";
/// Name of the container in every node Pod.
pub const NODE_CONTAINER: &str = "node";
pub const PKI_SECRET: &str = "pki";
pub const TOKEN_SECRET: &str = "bootstrap-token";
pub const KUBECONFIG_SECRET: &str = "kubeconfig";
pub const KUBEADM_CONFIGMAP: &str = "kubeadm";
pub const BOOTSTRAP_CONFIGMAP: &str = "bootstrap";

/// Key of the admin kubeconfig in its Secret.
pub const KUBECONFIG_KEY: &str = "admin.conf";
/// Key of the token in its Secret.
pub const TOKEN_KEY: &str = "token";

/// The script that runs kubeadm in a node Pod (mounted from a ConfigMap).
pub const BOOTSTRAP_SCRIPT: &str = include_str!("../assets/bootstrap.sh");
/// Key of the bootstrap ConfigMap listing the parent apiserver's own
/// endpoints (see [`parent_apiservers_file`]): bootstrap.sh rejects every
/// connection to them, and to the parent's `kubernetes` Service, in the
/// iptables chain [`PARENT_API_CHAIN`] of each node Pod.
pub const PARENT_APISERVERS_KEY: &str = "parent-apiservers";
/// The iptables chain (filter table, jumped to from OUTPUT and FORWARD)
/// that keeps a cluster's nodes and Pods away from the parent's API.
pub const PARENT_API_CHAIN: &str = "INCEPTION-PARENT-API";

/// One object of a plan.
// A few of them per cluster: boxing the StatefulSets saves nothing worth it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Manifest {
    Namespace(Namespace),
    Secret(Secret),
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(StatefulSet),
    /// Written as policy/v1; applied as policy/v1beta1 to a parent older
    /// than 1.21 (the same fields).
    PodDisruptionBudget(PodDisruptionBudget),
}

impl Manifest {
    pub fn kind(&self) -> &'static str {
        match self {
            Manifest::Namespace(_) => "Namespace",
            Manifest::Secret(_) => "Secret",
            Manifest::ConfigMap(_) => "ConfigMap",
            Manifest::Service(_) => "Service",
            Manifest::StatefulSet(_) => "StatefulSet",
            Manifest::PodDisruptionBudget(_) => "PodDisruptionBudget",
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Manifest::Namespace(o) => &o.metadata,
            Manifest::Secret(o) => &o.metadata,
            Manifest::ConfigMap(o) => &o.metadata,
            Manifest::Service(o) => &o.metadata,
            Manifest::StatefulSet(o) => &o.metadata,
            Manifest::PodDisruptionBudget(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Manifest::Namespace(o) => serde_json::to_value(o),
            Manifest::Secret(o) => serde_json::to_value(o),
            Manifest::ConfigMap(o) => serde_json::to_value(o),
            Manifest::Service(o) => serde_json::to_value(o),
            Manifest::StatefulSet(o) => serde_json::to_value(o),
            Manifest::PodDisruptionBudget(o) => serde_json::to_value(o),
        };
        // k8s-openapi types always serialize.
        v.unwrap_or(Value::Null)
    }
}

/// Secret keys whose values are private: keys, the token, kubeconfigs.
pub fn is_private_key(key: &str) -> bool {
    key.ends_with(".key") || key == TOKEN_KEY || key == KUBECONFIG_KEY
}

/// Text put in place of private Secret values unless they are asked for.
pub const REDACTED: &str = "redacted: rerun with --show-secrets";

impl Manifest {
    /// The object with private Secret values replaced by [`REDACTED`]
    /// (base64 of it, so the output stays valid).
    pub fn redacted(&self) -> Manifest {
        let mut m = self.clone();
        if let Manifest::Secret(s) = &mut m {
            for (k, v) in s.data.iter_mut().flatten() {
                if is_private_key(k) {
                    *v = ByteString(REDACTED.as_bytes().to_vec());
                }
            }
        }
        m
    }
}

/// What the manifests of one cluster are made from.
#[derive(Clone, Debug)]
pub struct ClusterObjects<'a> {
    pub path: &'a ClusterPath,
    pub namespace: &'a str,
    pub image: &'a str,
    pub workers: u32,
    /// Shown on the Namespace so a rerun with another plan is refused.
    pub plan_digest: &'a str,
    /// Secret data of the PKI.
    pub pki_files: &'a BTreeMap<String, String>,
    pub token: &'a str,
    /// Admin kubeconfig with the Service address, for pods of the parent.
    pub kubeconfig: &'a str,
    pub kubeadm_init: &'a str,
    pub kubeadm_join: &'a str,
    pub skip_phases: &'a str,
    /// The apiserver Service's ClusterIP, once known: node Pods then reach
    /// it by name without any DNS in the parent.
    pub apiserver_ip: Option<std::net::IpAddr>,
    /// Names the apiserver is reached by, mapped to `apiserver_ip`.
    pub apiserver_names: &'a [String],
    /// A directory of the parent's nodes holding image archives, mounted
    /// read-only at /var/lib/inception/images so no registry is needed.
    pub images_dir: Option<&'a str>,
    /// The parent apiserver's own endpoints, once read from the parent:
    /// node Pods must never reach them (nor the parent's `kubernetes`
    /// Service, which the node Pods know from their environment).
    pub parent_apiservers: &'a [SocketAddr],
    /// The node agent's [`crate::node::AgentConfig`], as JSON.
    pub agent_config: &'a str,
    /// What each node Pod requests from the parent.
    pub requests: &'a crate::plan::NodeRequests,
    /// The claim each node Pod keeps its state on; emptyDirs when `None`.
    pub state: Option<StateClaim<'a>>,
    /// RuntimeClass of the node Pods (e.g. sysbox), at the top level only.
    pub runtime_class: Option<&'a str>,
}

/// One claim per node Pod, from `class`, of `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateClaim<'a> {
    pub class: &'a str,
    pub size: &'a str,
}

/// The claim template (and volume) each node Pod keeps its state on.
pub const STATE_VOLUME: &str = "state";

/// The parent apiserver's endpoints as bootstrap.sh reads them from
/// [`PARENT_APISERVERS_KEY`]: one `IP PORT` a line, sorted, each once;
/// `None` when there are none (the key is then left out).
pub fn parent_apiservers_file(endpoints: &[SocketAddr]) -> Option<String> {
    let set: std::collections::BTreeSet<&SocketAddr> = endpoints.iter().collect();
    if set.is_empty() {
        return None;
    }
    Some(
        set.into_iter()
            .map(|a| format!("{} {}\n", a.ip(), a.port()))
            .collect(),
    )
}

/// Where node Pods find image archives to import at start.
pub const IMAGES_MOUNT: &str = "/var/lib/inception/images";

fn meta(o: &ClusterObjects, name: &str, role: Option<&str>) -> ObjectMeta {
    let mut l = labels::cluster_labels(o.path);
    if let Some(r) = role {
        l.insert(labels::ROLE.into(), r.into());
    }
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(o.namespace.to_string()),
        labels: Some(l),
        annotations: Some(BTreeMap::from([(
            labels::PATH_ANNOTATION.to_string(),
            o.path.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

fn selector(o: &ClusterObjects, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::PATH.to_string(), o.path.dotted()),
        (labels::TREE.to_string(), o.path.tree.clone()),
        (labels::ROLE.to_string(), role.to_string()),
    ])
}

fn bytes(map: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, ByteString> {
    map.into_iter()
        .map(|(k, v)| (k, ByteString(v.into_bytes())))
        .collect()
}

fn namespace(o: &ClusterObjects) -> Namespace {
    let mut m = meta(o, o.namespace, None);
    m.namespace = None;
    let l = m.labels.get_or_insert_with(BTreeMap::new);
    // Node Pods are privileged: say so, whatever the cluster default is.
    for mode in ["enforce", "audit", "warn"] {
        l.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "privileged".into(),
        );
    }
    m.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(labels::PLAN_ANNOTATION.into(), o.plan_digest.into());
    Namespace {
        metadata: m,
        ..Namespace::default()
    }
}

fn secret(o: &ClusterObjects, name: &str, data: BTreeMap<String, ByteString>) -> Secret {
    Secret {
        metadata: meta(o, name, None),
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }
}

fn config_map(o: &ClusterObjects, name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta(o, name, None),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

/// The bootstrap script, the node agent's config, and the parent
/// apiserver endpoints when known.
fn bootstrap_config_map(o: &ClusterObjects) -> ConfigMap {
    let parents = parent_apiservers_file(o.parent_apiservers);
    let mut data = vec![
        ("bootstrap.sh", BOOTSTRAP_SCRIPT),
        (crate::node::AGENT_CONFIG_KEY, o.agent_config),
    ];
    if let Some(p) = &parents {
        data.push((PARENT_APISERVERS_KEY, p));
    }
    config_map(o, BOOTSTRAP_CONFIGMAP, &data)
}

fn service(o: &ClusterObjects) -> Service {
    Service {
        metadata: meta(o, SERVICE, None),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(o, labels::ROLE_CONTROL_PLANE)),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: i32::from(APISERVER_PORT),
                target_port: Some(IntOrString::Int(i32::from(APISERVER_PORT))),
                // Kubernetes 1.20 rejects an apply without it.
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Every object of one cluster, in apply order.
pub fn cluster_objects(o: &ClusterObjects) -> Vec<Manifest> {
    vec![
        Manifest::Namespace(namespace(o)),
        Manifest::Secret(secret(o, PKI_SECRET, bytes(o.pki_files.clone()))),
        Manifest::Secret(secret(
            o,
            TOKEN_SECRET,
            bytes([(TOKEN_KEY.to_string(), o.token.to_string())]),
        )),
        Manifest::Secret(secret(
            o,
            KUBECONFIG_SECRET,
            bytes([(KUBECONFIG_KEY.to_string(), o.kubeconfig.to_string())]),
        )),
        Manifest::ConfigMap(config_map(
            o,
            KUBEADM_CONFIGMAP,
            &[
                ("init.yaml", o.kubeadm_init),
                ("join.yaml", o.kubeadm_join),
                ("skip-phases", o.skip_phases),
            ],
        )),
        Manifest::ConfigMap(bootstrap_config_map(o)),
        Manifest::Service(service(o)),
        Manifest::StatefulSet(control_plane(o)),
        Manifest::StatefulSet(workers(o)),
        Manifest::PodDisruptionBudget(control_plane_budget(o)),
    ]
}

/// The control plane may not be evicted (a drain of the parent's node
/// waits, or fails, instead of taking the cluster and those below it down).
fn control_plane_budget(o: &ClusterObjects) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(o, CONTROL_PLANE, Some(labels::ROLE_CONTROL_PLANE)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(o, labels::ROLE_CONTROL_PLANE)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

#[cfg(test)]
mod tests;
