//! The node Pods of a cluster: the control plane's StatefulSet of one and
//! the workers' StatefulSet, privileged, each running kubelet and
//! containerd, with their state on a claim (or emptyDirs).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, HostAlias, HostPathVolumeSource, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PodSpec, PodTemplateSpec, Probe,
    SecretVolumeSource, SecurityContext, TopologySpreadConstraint, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    BOOTSTRAP_CONFIGMAP, CONTROL_PLANE, ClusterObjects, IMAGES_MOUNT, KUBEADM_CONFIGMAP,
    NODE_CONTAINER, PKI_SECRET, SERVICE, STATE_VOLUME, TOKEN_SECRET, WORKERS, meta, selector,
};
use crate::kubeadm::APISERVER_PORT;
use crate::labels;

fn empty_dir(name: &str, memory: bool) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".to_string()),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// What a node keeps: each a directory of the claim, or an emptyDir (the
/// control plane also keeps etcd).
const STATE_DIRS: [(&str, &str); 4] = [
    ("containerd", "/var/lib/containerd"),
    ("kubelet", "/var/lib/kubelet"),
    ("kubernetes", "/etc/kubernetes"),
    // The cluster's local volumes (nesting::storage), one directory each.
    ("volumes", crate::storage::VOLUMES_DIR),
];

/// The node Pods' claim templates: one claim each, or none.
fn claim_templates(o: &ClusterObjects) -> Option<Vec<PersistentVolumeClaim>> {
    let s = o.state?;
    Some(vec![PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(STATE_VOLUME.into()),
            labels: Some(labels::cluster_labels(o.path)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some(s.class.into()),
            volume_mode: Some("Filesystem".into()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(s.size.into()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        // What the apiserver stores in a template (1.20 sets it, and its
        // StatefulSet controller then owns the list): sent as stored, so
        // a rerun's apply agrees instead of conflicting over it.
        status: Some(PersistentVolumeClaimStatus {
            phase: Some("Pending".into()),
            ..PersistentVolumeClaimStatus::default()
        }),
    }])
}

fn pod_template(o: &ClusterObjects, role: &str) -> PodTemplateSpec {
    let control_plane = role == labels::ROLE_CONTROL_PLANE;
    let mut volumes = vec![
        Volume {
            name: "modules".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/lib/modules".into(),
                type_: Some(String::new()),
            }),
            ..Volume::default()
        },
        empty_dir("run", true),
        empty_dir("tmp", true),
        Volume {
            name: "token".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(TOKEN_SECRET.into()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "kubeadm".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: KUBEADM_CONFIGMAP.into(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "bootstrap".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: BOOTSTRAP_CONFIGMAP.into(),
                default_mode: Some(0o755),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    if let Some(dir) = o.images_dir {
        volumes.push(Volume {
            name: "images".into(),
            host_path: Some(HostPathVolumeSource {
                path: dir.into(),
                type_: Some("Directory".into()),
            }),
            ..Volume::default()
        });
    }
    let mut mounts = vec![
        mount("modules", "/lib/modules", true),
        mount("run", "/run", false),
        mount("tmp", "/tmp", false),
        mount("token", "/etc/inception/token", true),
        mount("kubeadm", "/etc/inception/kubeadm", true),
        mount("bootstrap", "/etc/inception/bootstrap", true),
    ];
    if o.images_dir.is_some() {
        mounts.push(mount("images", IMAGES_MOUNT, true));
    }
    // The node's state: on the claim (a directory each) or in emptyDirs.
    let mut state = STATE_DIRS.to_vec();
    if control_plane {
        state.push(("etcd", "/var/lib/etcd"));
    }
    for (name, path) in state {
        if o.state.is_some() {
            mounts.push(VolumeMount {
                sub_path: Some(name.into()),
                ..mount(STATE_VOLUME, path, false)
            });
        } else {
            volumes.push(empty_dir(name, false));
            mounts.push(mount(name, path, false));
        }
    }
    if control_plane {
        volumes.push(Volume {
            name: "pki".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(PKI_SECRET.into()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount("pki", "/etc/inception/pki", true));
    }
    let probe = if control_plane {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".into()),
                port: IntOrString::Int(i32::from(APISERVER_PORT)),
                scheme: Some("HTTPS".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(2),
            ..Probe::default()
        }
    } else {
        Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "test".into(),
                    "-s".into(),
                    "/etc/kubernetes/kubelet.conf".into(),
                ]),
            }),
            period_seconds: Some(2),
            ..Probe::default()
        }
    };
    let env = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    let mut labels = labels::cluster_labels(o.path);
    labels.insert(labels::ROLE.into(), role.into());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            // The control plane reaches its own apiserver on loopback:
            // through the parent's Service it would wait for its own Pod
            // to be Ready there (kubeadm init waited 4 s more for that).
            // The others reach it at the Service's address, once known.
            host_aliases: if control_plane {
                Some(IpAddr::from(Ipv4Addr::LOCALHOST))
            } else {
                o.apiserver_ip
            }
            .map(|ip| {
                vec![HostAlias {
                    ip: ip.to_string(),
                    hostnames: Some(o.apiserver_names.to_vec()),
                }]
            }),
            // A cluster's node Pods spread over the parent's nodes where
            // they can, so one parent node going down takes one node only.
            topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: "kubernetes.io/hostname".into(),
                when_unsatisfiable: "ScheduleAnyway".into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([
                        (labels::PATH.to_string(), o.path.dotted()),
                        (labels::TREE.to_string(), o.path.tree.clone()),
                    ])),
                    ..LabelSelector::default()
                }),
                ..TopologySpreadConstraint::default()
            }]),
            // The node must never act with the parent's credentials.
            automount_service_account_token: Some(false),
            // No parent Service variables leak into the inner cluster.
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            runtime_class_name: o.runtime_class.map(String::from),
            containers: vec![Container {
                name: NODE_CONTAINER.into(),
                image: Some(o.image.into()),
                image_pull_policy: Some("IfNotPresent".into()),
                // The image's entrypoint starts containerd and kubelet, then
                // runs /etc/inception/bootstrap/bootstrap.sh with this role.
                args: Some(vec![role.into()]),
                env: Some(vec![
                    env("INCEPTION_ROLE", role),
                    env("INCEPTION_PATH", &o.path.to_string()),
                    // Its own image: the node unpacks it ahead of need,
                    // for node Pods of a cluster inside.
                    env("INCEPTION_NODE_IMAGE", o.image),
                    EnvVar {
                        name: "POD_IP".into(),
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                field_path: "status.podIP".into(),
                                ..ObjectFieldSelector::default()
                            }),
                            ..EnvVarSource::default()
                        }),
                        ..EnvVar::default()
                    },
                ]),
                security_context: Some(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                }),
                readiness_probe: Some(probe),
                resources: Some(o.requests.resources()),
                volume_mounts: Some(mounts),
                ..Container::default()
            }],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

pub(super) fn control_plane(o: &ClusterObjects) -> StatefulSet {
    StatefulSet {
        metadata: meta(o, CONTROL_PLANE, Some(labels::ROLE_CONTROL_PLANE)),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(SERVICE.into()),
            selector: LabelSelector {
                match_labels: Some(selector(o, labels::ROLE_CONTROL_PLANE)),
                ..LabelSelector::default()
            },
            template: pod_template(o, labels::ROLE_CONTROL_PLANE),
            volume_claim_templates: claim_templates(o),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

pub(super) fn workers(o: &ClusterObjects) -> StatefulSet {
    StatefulSet {
        metadata: meta(o, WORKERS, Some(labels::ROLE_WORKER)),
        spec: Some(StatefulSetSpec {
            replicas: Some(o.workers as i32),
            service_name: Some(SERVICE.into()),
            // Workers start and join together, not one after another.
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector(o, labels::ROLE_WORKER)),
                ..LabelSelector::default()
            },
            template: pod_template(o, labels::ROLE_WORKER),
            volume_claim_templates: claim_templates(o),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}
