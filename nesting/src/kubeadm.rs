//! kubeadm, kubelet and kube-proxy configuration for one cluster, written in
//! the kubeadm API version its Kubernetes release reads.
//!
//! The bootstrap token is not written here: the configs hold
//! [`TOKEN_PLACEHOLDER`], which the node's bootstrap script replaces with the
//! token from its Secret, so the ConfigMap holding them carries no secret.

use serde_json::{Value, json};

use crate::Error;
use crate::cidr::Networks;
use crate::version::{KubeVersion, KubeadmApi};

/// Stands for the bootstrap token in the rendered configs.
pub const TOKEN_PLACEHOLDER: &str = "@BOOTSTRAP_TOKEN@";

/// Port the inner apiserver listens on, in the node Pod and on its Service.
pub const APISERVER_PORT: u16 = 6443;

/// Phases the bootstrap script skips: preflight (images without crictl fail
/// it even with every error ignored, and kubeadm refuses `ignorePreflightErrors:
/// [all]` in a config file) and, with the node agent's DNS, CoreDNS (no
/// registry to pull its image from in offline setups).
pub fn skip_phases(dns: crate::node::Dns) -> Vec<&'static str> {
    match dns {
        crate::node::Dns::Builtin => vec!["preflight", "addon/coredns"],
        crate::node::Dns::Coredns => vec!["preflight"],
    }
}

/// What the configs are made of.
#[derive(Clone, Debug)]
pub struct KubeadmInput<'a> {
    pub version: KubeVersion,
    pub cluster_name: &'a str,
    /// `host:port` every node reaches the apiserver at.
    pub control_plane_endpoint: &'a str,
    pub networks: &'a Networks,
    pub cluster_domain: &'a str,
    pub cert_sans: &'a [String],
    pub discovery_hash: &'a str,
    /// Labels put on every node of this cluster, `k=v,k=v`.
    pub node_labels: &'a str,
    /// Keep the control plane schedulable (a cluster without workers).
    pub schedulable_control_plane: bool,
}

/// The rendered configs, multi-document YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeadmConfig {
    /// InitConfiguration + ClusterConfiguration + KubeletConfiguration + KubeProxyConfiguration.
    pub init: String,
    /// JoinConfiguration + KubeletConfiguration.
    pub join: String,
}

fn cri_socket(v: KubeVersion) -> &'static str {
    // kubeadm wants a URL from 1.24 on and warns about bare paths.
    if v.kubeadm_api() == KubeadmApi::V1beta2 {
        "/run/containerd/containerd.sock"
    } else {
        "unix:///run/containerd/containerd.sock"
    }
}

/// kube-controller-manager's controllers: kubeadm's (the defaults plus the
/// bootstrap token signer and cleaner, which joining needs), less the node
/// CIDR allocator.
pub const NO_NODE_IPAM: &str = "*,bootstrapsigner,tokencleaner,-nodeipam";

/// Command-line style arguments: a map up to v1beta3, a list of name/value from v1beta4.
fn args(api: KubeadmApi, pairs: &[(&str, &str)]) -> Value {
    if api >= KubeadmApi::V1beta4 {
        Value::Array(
            pairs
                .iter()
                .map(|(k, v)| json!({ "name": k, "value": v }))
                .collect(),
        )
    } else {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        )
    }
}

fn node_registration(input: &KubeadmInput, control_plane: bool) -> Value {
    let api = input.version.kubeadm_api();
    let mut reg = json!({
        "criSocket": cri_socket(input.version),
        "kubeletExtraArgs": args(api, &[("node-labels", input.node_labels)]),
    });
    if control_plane && input.schedulable_control_plane {
        reg["taints"] = json!([]);
    }
    reg
}

/// Kubelet settings that work inside a privileged Pod.
fn kubelet(input: &KubeadmInput) -> Value {
    let mut k = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        // No systemd in the node Pod.
        "cgroupDriver": "cgroupfs",
        // Inner pods live below the node Pod's own cgroup: they count against
        // its limits and cannot starve the node's processes.
        "cgroupRoot": "/kubelet",
        "failSwapOn": false,
        // The disk is shared with the parent: never evict on its fill level.
        "evictionHard": {
            "nodefs.available": "0%",
            "nodefs.inodesFree": "0%",
            "imagefs.available": "0%",
        },
        "imageGCHighThresholdPercent": 100,
        // Look at the node's state often, so a node is reported Ready within
        // seconds of its network (the status is only sent when it changed).
        "nodeStatusUpdateFrequency": "2s",
        // Unchanged status is still sent only this often (set, or it would
        // follow the update frequency).
        "nodeStatusReportFrequency": "1m",
        "clusterDNS": [input.networks.dns_ip.to_string()],
        "clusterDomain": input.cluster_domain,
    });
    if input.version.at_least(FAIL_CGROUP_V1_SINCE) {
        // From 1.35 kubelet refuses cgroup v1 unless this is false. The
        // configs are rendered before anything knows what the node Pods
        // will see, and on cgroup v2 the field changes nothing: so every
        // release that knows it gets it.
        k["failCgroupV1"] = json!(false);
    }
    k
}

/// The first release whose KubeletConfiguration has `failCgroupV1`.
pub const FAIL_CGROUP_V1_SINCE: u32 = 31;

fn kube_proxy(input: &KubeadmInput) -> Value {
    json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": input.networks.pod_cidr.to_string(),
        "iptables": { "masqueradeAll": true },
        // conntrack sysctls are read-only inside a Pod: leave them alone.
        "conntrack": {
            "maxPerCore": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    })
}

fn yaml_docs(what: &str, docs: &[Value]) -> Result<String, Error> {
    serde_saphyr::to_string_multiple(docs).map_err(|e| Error::Render {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Renders the init and join configs.
pub fn render(input: &KubeadmInput) -> Result<KubeadmConfig, Error> {
    let api = input.version.kubeadm_api();
    let api_version = api.api_version();

    let init = json!({
        "apiVersion": api_version,
        "kind": "InitConfiguration",
        "bootstrapTokens": [{
            "token": TOKEN_PLACEHOLDER,
            // Nodes need it only to join; workers joining later get a new
            // one (see crate::pki::token).
            "ttl": crate::pki::token::TOKEN_TTL_TEXT,
            "usages": ["signing", "authentication"],
            "groups": ["system:bootstrappers:kubeadm:default-node-token"],
        }],
        "localAPIEndpoint": { "bindPort": APISERVER_PORT },
        "nodeRegistration": node_registration(input, true),
    });

    let mut cluster = json!({
        "apiVersion": api_version,
        "kind": "ClusterConfiguration",
        "clusterName": input.cluster_name,
        "kubernetesVersion": input.version.to_string(),
        "controlPlaneEndpoint": input.control_plane_endpoint,
        "networking": {
            "podSubnet": input.networks.pod_cidr.to_string(),
            "serviceSubnet": input.networks.service_cidr.to_string(),
            "dnsDomain": input.cluster_domain,
        },
        "apiServer": { "certSANs": input.cert_sans },
        // Nodes get their podCIDR from the control plane's bootstrap, from
        // the planned list: the controller manager's own allocator first
        // looks at the nodes 10 s after it starts, and holds back every
        // controller started after it (StatefulSets, Deployments...).
        //
        // One control-plane node per cluster: no leader to elect, so the
        // controller manager and the scheduler start as soon as the
        // apiserver answers (an election retries every 2 s) and renew no
        // lease while idle. The controller manager starts some 40
        // controllers, each with its own service account: at the default
        // 20 requests/s that alone took 4 s.
        "controllerManager": { "extraArgs": args(api, &[
            ("controllers", NO_NODE_IPAM),
            ("leader-elect", "false"),
            ("kube-api-qps", "100"),
            ("kube-api-burst", "200"),
        ]) },
        "scheduler": { "extraArgs": args(api, &[("leader-elect", "false")]) },
        "etcd": { "local": { "dataDir": "/var/lib/etcd" } },
    });
    if api >= KubeadmApi::V1beta4 {
        // The given CAs are ECDSA P-256; let kubeadm's own certs match.
        cluster["encryptionAlgorithm"] = json!("ECDSA-P256");
    }

    let join = json!({
        "apiVersion": api_version,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": input.control_plane_endpoint,
                "token": TOKEN_PLACEHOLDER,
                "caCertHashes": [input.discovery_hash],
            },
        },
        "nodeRegistration": node_registration(input, false),
    });

    Ok(KubeadmConfig {
        init: yaml_docs(
            "the kubeadm init config",
            &[init, cluster, kubelet(input), kube_proxy(input)],
        )?,
        join: yaml_docs("the kubeadm join config", &[join, kubelet(input)])?,
    })
}

#[cfg(test)]
mod tests;
