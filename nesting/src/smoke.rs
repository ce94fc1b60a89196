//! The smoke test run inside a cluster: a web server on every node (a
//! DaemonSet) exposed as a NodePort Service (the seed's nginx test, grown
//! into checks of the pod network, Services and DNS). The server is socat
//! from the node image, so it needs no registry.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Pod, PodSpec, PodTemplateSpec, Probe, Service, ServicePort,
    ServiceSpec, TCPSocketAction, Toleration, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const NAMESPACE: &str = "inception-smoke";
pub const NAME: &str = "web";
pub const PORT: i32 = 8080;
/// What the server answers; the test looks for it.
pub const BODY: &str = "kubectl-inception smoke test";

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    crate::labels::managed_meta(name, namespace, ("app", NAME))
}

/// Tolerates every taint: the smoke Pods run on every node, the control
/// plane's included.
fn every_node() -> Option<Vec<Toleration>> {
    Some(vec![Toleration {
        operator: Some("Exists".into()),
        ..Toleration::default()
    }])
}

pub fn namespace() -> Namespace {
    Namespace {
        metadata: meta(NAMESPACE, None),
        ..Namespace::default()
    }
}

/// A web server on every node using `image` (which must have socat); it
/// answers with [`BODY`] and its Pod's name.
pub fn daemon_set(image: &str) -> DaemonSet {
    let labels = BTreeMap::from([("app".to_string(), NAME.to_string())]);
    let reply = format!(
        "SYSTEM:'printf \"HTTP/1.0 200 OK\\\\r\\\\nContent-Type: text/plain\\\\r\\\\n\\\\r\\\\n{BODY} from %s\\\\n\" \"$HOSTNAME\"'"
    );
    DaemonSet {
        metadata: meta(NAME, Some(NAMESPACE)),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    tolerations: every_node(),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(1),
                    containers: vec![Container {
                        name: NAME.into(),
                        image: Some(image.into()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(vec![
                            "socat".into(),
                            format!("TCP-LISTEN:{PORT},fork,reuseaddr"),
                            reply,
                        ]),
                        ports: Some(vec![ContainerPort {
                            container_port: PORT,
                            protocol: Some("TCP".into()),
                            ..ContainerPort::default()
                        }]),
                        readiness_probe: Some(Probe {
                            tcp_socket: Some(TCPSocketAction {
                                port: IntOrString::Int(PORT),
                                ..TCPSocketAction::default()
                            }),
                            period_seconds: Some(1),
                            ..Probe::default()
                        }),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

pub fn service() -> Service {
    Service {
        metadata: meta(NAME, Some(NAMESPACE)),
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some(BTreeMap::from([("app".to_string(), NAME.to_string())])),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(PORT)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The Pod that gave an answer [`answered`] accepts.
pub fn answered_by(response: &str) -> Option<&str> {
    let rest = &response[response.find(BODY)? + BODY.len()..];
    rest.strip_prefix(" from ")?.split_whitespace().next()
}

/// A Pod's DNS name (`10-1-2-3.NS.pod.DOMAIN`, colons dashed for IPv6).
pub fn pod_dns_name(ip: std::net::IpAddr, namespace: &str, domain: &str) -> String {
    let dashed = ip.to_string().replace(['.', ':'], "-");
    format!("{dashed}.{namespace}.pod.{domain}")
}

/// The smoke Service's DNS name.
pub fn service_dns_name(domain: &str) -> String {
    format!("{NAME}.{NAMESPACE}.svc.{domain}")
}

/// The ICMP payload that makes a packet of exactly `mtu` bytes.
pub fn ping_payload(mtu: u32, ip: std::net::IpAddr) -> u32 {
    let headers = if ip.is_ipv4() { 20 + 8 } else { 40 + 8 };
    mtu.saturating_sub(headers)
}

/// True when `response` is a 200 carrying [`BODY`].
pub fn answered(response: &str) -> bool {
    let status_ok = response
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("HTTP/") && l.split_whitespace().nth(1) == Some("200"));
    status_ok && response.contains(BODY)
}

/// The volume check's objects: not labelled as the web servers, whose
/// DaemonSet would adopt and delete its Pods.
fn volume_meta(name: &str) -> ObjectMeta {
    crate::labels::managed_meta(name, Some(NAMESPACE), ("app", "volume"))
}

/// The claim the volume check makes for the node with hostname `host`:
/// no class named, so the cluster's default class must take it.
pub fn volume_claim(host: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: volume_meta(&format!("data-{host}")),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity("16Mi".into()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// What the volume check's Pod writes into its volume and reads back.
pub fn volume_token(host: &str) -> String {
    format!("{BODY}: volume on {host}")
}

/// A Pod on the node with hostname `host` (picked by the scheduler, which
/// is what binds a claim that waits for its first consumer) that writes
/// [`volume_token`] into the claim's volume, reads it back and stays.
pub fn volume_pod(host: &str, image: &str) -> Pod {
    let token = volume_token(host);
    Pod {
        metadata: volume_meta(&format!("volume-{host}")),
        spec: Some(PodSpec {
            node_selector: Some(BTreeMap::from([(
                "kubernetes.io/hostname".to_string(),
                host.to_string(),
            )])),
            tolerations: every_node(),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(1),
            containers: vec![Container {
                name: "volume".into(),
                image: Some(image.into()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    format!("echo '{token}' > /data/check && cat /data/check && exec sleep 3600"),
                ]),
                volume_mounts: Some(vec![VolumeMount {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    ..VolumeMount::default()
                }]),
                ..Container::default()
            }],
            volumes: Some(vec![Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: format!("data-{host}"),
                    read_only: None,
                }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests;
