//! The contract between a plan and the node agent in every node Pod: where
//! things are, what the agent reads, and the pure decisions it takes from
//! the Node list (which node gets which podCIDR, who its overlay peers are,
//! the CNI config it writes). The agent only carries them out.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Node, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Where the bootstrap ConfigMap is mounted in every node Pod.
pub const BOOTSTRAP_DIR: &str = "/etc/inception/bootstrap";
/// Bootstrap ConfigMap key holding the agent's [`AgentConfig`] as JSON.
pub const AGENT_CONFIG_KEY: &str = "agent.json";
/// The CNI config the agent writes for containerd.
pub const CNI_CONFIG: &str = "/etc/cni/net.d/10-inception.conflist";
/// kubeadm's admin kubeconfig: the control plane's agent allocates with it.
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
/// kubelet's kubeconfig: every other agent watches Nodes with it.
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";

/// The VXLAN device of the overlay between a cluster's node Pods.
pub const VXLAN_DEVICE: &str = "inception.vx";
pub const VXLAN_ID: u32 = 1;
/// Linux's (and flannel's) VXLAN port; every level has its own network
/// namespaces, so nested overlays never share a socket.
pub const VXLAN_PORT: u16 = 8472;
/// The iptables chain (nat table, from POSTROUTING) that masquerades pod
/// traffic leaving the cluster's pod network.
pub const MASQUERADE_CHAIN: &str = "INCEPTION-MASQ";
/// Node annotation where each agent publishes its pod network's MTU.
pub const MTU_ANNOTATION: &str = "kubectl-inception.dev/mtu";

/// Who serves a cluster's DNS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dns {
    /// The node agent on every node: no image to pull, works at any depth.
    #[default]
    Builtin,
    /// kubeadm's CoreDNS addon, for nodes that can pull its image.
    Coredns,
}

/// What the agent needs of the plan, from the bootstrap ConfigMap. Keys it
/// does not know are ignored, so a node image older than the plugin still
/// reads what it knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentConfig {
    /// The cluster's whole pod network.
    pub cluster_pod_cidr: IpNet,
    pub service_cidr: IpNet,
    /// One podCIDR per node, the control plane's first.
    pub node_pod_cidrs: Vec<IpNet>,
    pub dns_ip: IpAddr,
    pub cluster_domain: String,
    #[serde(default)]
    pub dns: Dns,
    /// `host:port` of the cluster's apiserver, as the nodes reach it: a
    /// worker waits there until the control plane takes joins.
    #[serde(default)]
    pub apiserver: Option<String>,
}

impl AgentConfig {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// The parts of a Node the agent decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub pod_cidr: Option<IpNet>,
    pub ip: Option<IpAddr>,
}

impl NodeView {
    pub fn of(node: &Node) -> Self {
        let spec = node.spec.as_ref();
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .and_then(|a| a.address.parse().ok());
        NodeView {
            name: node.metadata.name.clone().unwrap_or_default(),
            pod_cidr: spec
                .and_then(|s| s.pod_cidr.as_deref())
                .and_then(|c| c.parse().ok()),
            ip,
        }
    }
}

/// Which nodes get which podCIDR: the control plane the first planned one;
/// a worker its own (see `worker_cidr`) when no node holds it, else the
/// first planned one that no node holds, in the order given. Nodes that
/// cannot get one are left out (the list is as long as the pod CIDR holds
/// nodes; `scale` refuses more).
pub fn allocations(
    nodes: &[NodeView],
    planned: &[IpNet],
    control_plane: &str,
) -> Vec<(String, IpNet)> {
    let mut used: Vec<IpNet> = nodes.iter().filter_map(|n| n.pod_cidr).collect();
    let mut out = Vec::new();
    let wanting = || nodes.iter().filter(|n| n.pod_cidr.is_none());
    // Own ones first, so that no other node takes one first.
    for n in wanting() {
        let own = if n.name == control_plane {
            planned.first().copied()
        } else {
            worker_cidr(&n.name, planned)
        };
        if let Some(c) = own.filter(|c| !used.contains(c)) {
            used.push(c);
            out.push((n.name.clone(), c));
        }
    }
    for n in wanting() {
        if n.name == control_plane || out.iter().any(|(name, _)| *name == n.name) {
            continue;
        }
        if let Some(c) = planned.iter().skip(1).find(|c| !used.contains(c)).copied() {
            used.push(c);
            out.push((n.name.clone(), c));
        }
    }
    out
}

/// The podCIDR a worker gets when it is free: the worker StatefulSet's Pod
/// `workers-N` (its node's name) the planned one after the control plane's
/// and N others. Known before the node registers, so its agent writes the
/// CNI config before kubelet starts, and kubelet finds the network ready
/// at once (it looks again only every 5 s).
pub fn worker_cidr(name: &str, planned: &[IpNet]) -> Option<IpNet> {
    let n: usize = name
        .strip_prefix(crate::manifests::WORKERS)?
        .strip_prefix('-')?
        .parse()
        .ok()?;
    planned.get(n.checked_add(1)?).copied()
}

/// A hardware address as `ip` and `bridge` write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The VTEP address of a node follows from its IP, so peers need nothing
/// published to reach it: locally administered, unicast, `0e:1c:` and the
/// IPv4 address, or `0e:1d:` and four bytes of an IPv6 address's SHA-256.
pub fn vtep_mac(node_ip: IpAddr) -> Mac {
    match node_ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Mac([0x0e, 0x1c, o[0], o[1], o[2], o[3]])
        }
        IpAddr::V6(v6) => {
            let h = Sha256::digest(v6.octets());
            Mac([0x0e, 0x1d, h[0], h[1], h[2], h[3]])
        }
    }
}

/// A node's VTEP address: the first address of its podCIDR (the bridge
/// takes the second as the pods' gateway), as flannel does.
pub fn vtep_ip(pod_cidr: &IpNet) -> IpAddr {
    pod_cidr.network()
}

/// Bytes VXLAN adds to each packet: outer IP, UDP, VXLAN and Ethernet
/// headers (50 over IPv4, 70 over IPv6).
pub fn overlay_overhead(node_ip: IpAddr) -> u32 {
    match node_ip {
        IpAddr::V4(_) => 50,
        IpAddr::V6(_) => 70,
    }
}

/// The pod network's MTU on a node Pod whose own interface has `link_mtu`.
pub fn pod_mtu(link_mtu: u32, node_ip: IpAddr) -> u32 {
    link_mtu.saturating_sub(overlay_overhead(node_ip))
}

/// A cluster's pod network MTU as its agents published it on their Nodes:
/// the smallest, or `None` before any agent did.
pub fn cluster_mtu(nodes: &[Node]) -> Option<u32> {
    nodes
        .iter()
        .filter_map(|n| {
            n.metadata
                .annotations
                .as_ref()?
                .get(MTU_ANNOTATION)?
                .parse()
                .ok()
        })
        .min()
}

/// Another node as the overlay reaches it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    pub pod_cidr: IpNet,
    pub node_ip: IpAddr,
    pub vtep_ip: IpAddr,
    pub vtep_mac: Mac,
}

/// Every other node with a podCIDR and an address of the same family as
/// `me`'s, sorted: what the VXLAN routes, neighbours and FDB must hold.
pub fn peers(nodes: &[NodeView], me: &str) -> Vec<Peer> {
    let mut out: Vec<Peer> = nodes
        .iter()
        .filter(|n| n.name != me)
        .filter_map(|n| {
            let (cidr, ip) = (n.pod_cidr?, n.ip?);
            Some(Peer {
                pod_cidr: cidr,
                node_ip: ip,
                vtep_ip: vtep_ip(&cidr),
                vtep_mac: vtep_mac(ip),
            })
        })
        .collect();
    out.sort();
    out
}

/// The CNI config of a node: a bridge on its podCIDR with the given MTU.
/// No masquerading here: pod traffic keeps its source across the overlay,
/// and the agent masquerades only what leaves the cluster's pod network.
pub fn cni_config(pod_cidr: &IpNet, mtu: u32) -> String {
    let default = match pod_cidr {
        IpNet::V4(_) => "0.0.0.0/0",
        IpNet::V6(_) => "::/0",
    };
    let conf = json!({
        "cniVersion": "0.4.0",
        "name": "inception",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "mtu": mtu,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr.to_string()}]],
                    "routes": [{"dst": default}]
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    serde_json::to_string_pretty(&conf).expect("plain data serializes") + "\n"
}

/// The subnet and MTU a CNI config written by [`cni_config`] holds.
pub fn read_cni_config(conf: &str) -> Option<(IpNet, u32)> {
    let v: serde_json::Value = serde_json::from_str(conf).ok()?;
    let bridge = v.get("plugins")?.get(0)?;
    let subnet = bridge
        .pointer("/ipam/ranges/0/0/subnet")?
        .as_str()?
        .parse()
        .ok()?;
    let mtu = bridge.get("mtu")?.as_u64()?;
    Some((subnet, u32::try_from(mtu).ok()?))
}

/// The nat rules of [`MASQUERADE_CHAIN`], as iptables arguments after
/// `-A CHAIN`: traffic within the pod network keeps its source, the rest
/// leaves with the node's address.
pub fn masquerade_rules(cluster_pod_cidr: &IpNet) -> Vec<Vec<String>> {
    let c = cluster_pod_cidr.to_string();
    vec![
        vec!["-d".into(), c, "-j".into(), "RETURN".into()],
        vec!["-j".into(), "MASQUERADE".into()],
    ]
}

/// Name of the cluster DNS Service (and its Endpoints) in `kube-system`,
/// kept as kubeadm's CoreDNS addon names it.
pub const DNS_SERVICE: &str = "kube-dns";
pub const DNS_NAMESPACE: &str = "kube-system";
/// The ClusterRole (and its binding to every node) that lets each node's
/// agent watch Services and Endpoints for DNS: kubelet's own rights hold
/// only `get` on Endpoints.
pub const AGENT_ROLE: &str = "kubectl-inception:node-agent";

fn agent_meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    crate::labels::managed_meta(name, namespace, ("k8s-app", DNS_SERVICE))
}

/// The cluster DNS Service at the planned address, without a selector:
/// its Endpoints are the nodes, where each agent answers on port 53.
pub fn dns_service(dns_ip: IpAddr) -> Service {
    let port = |name: &str, protocol: &str| ServicePort {
        name: Some(name.into()),
        port: 53,
        protocol: Some(protocol.into()),
        target_port: Some(IntOrString::Int(53)),
        ..ServicePort::default()
    };
    Service {
        metadata: agent_meta(DNS_SERVICE, Some(DNS_NAMESPACE)),
        spec: Some(ServiceSpec {
            cluster_ip: Some(dns_ip.to_string()),
            ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The DNS Service's Endpoints: every node that has an address, sorted.
pub fn dns_endpoints(nodes: &[NodeView]) -> Endpoints {
    let mut ips: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.ip)
        .map(|ip| ip.to_string())
        .collect();
    ips.sort();
    ips.dedup();
    let port = |name: &str, protocol: &str| EndpointPort {
        name: Some(name.into()),
        port: 53,
        protocol: Some(protocol.into()),
        ..EndpointPort::default()
    };
    Endpoints {
        metadata: agent_meta(DNS_SERVICE, Some(DNS_NAMESPACE)),
        subsets: (!ips.is_empty()).then(|| {
            vec![EndpointSubset {
                addresses: Some(
                    ips.into_iter()
                        .map(|ip| EndpointAddress {
                            ip,
                            ..EndpointAddress::default()
                        })
                        .collect(),
                ),
                ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
                ..EndpointSubset::default()
            }]
        }),
    }
}

/// Read access for every node's agent to what DNS answers from.
pub fn agent_rbac() -> (ClusterRole, ClusterRoleBinding) {
    let role = ClusterRole {
        metadata: agent_meta(AGENT_ROLE, None),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["services".into(), "endpoints".into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    };
    (role, nodes_binding(agent_meta(AGENT_ROLE, None)))
}

/// Binds the ClusterRole named by `metadata` to every node (group
/// `system:nodes`), which is who the node agents act as.
pub fn nodes_binding(metadata: ObjectMeta) -> ClusterRoleBinding {
    let name = metadata.name.clone().unwrap_or_default();
    ClusterRoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name,
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Group".into(),
            name: "system:nodes".into(),
            ..Subject::default()
        }]),
    }
}

#[cfg(test)]
mod tests;
