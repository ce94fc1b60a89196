//! Node Pods that will not come up by waiting: what `up` stops on within
//! seconds, with the cause and what to do, instead of waiting out
//! `--timeout`. A cause counts once it has lasted [`SETTLE`] (an image
//! pull or a scheduling attempt may fail once and then succeed).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};

/// How long a cause must last before `up` stops on it.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Why node Pods cannot come up, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// Stable across polls: the same cause keeps the same key.
    pub key: String,
    pub cause: String,
    pub fix: String,
    /// A node container restarting over and over: its logs tell why.
    pub crashing: Option<String>,
}

const PULL: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// The first cause found among the node Pods and the events of their
/// namespace, if any.
pub fn stuck(pods: &[Pod], events: &[Event]) -> Option<Stuck> {
    for p in pods {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        let Some(st) = &p.status else { continue };
        for cs in st.container_statuses.iter().flatten() {
            let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = w.reason.as_deref().unwrap_or_default();
            let message = w.message.as_deref().unwrap_or_default();
            if PULL.contains(&reason) {
                return Some(Stuck {
                    key: format!("pull {}", cs.image),
                    cause: format!(
                        "node Pod {name} cannot get its image {}: {reason} {message}",
                        cs.image
                    ),
                    fix: "make the image pullable by the parent's nodes, or give --image with one they have \
                          (and --images-dir for the archives of nested levels); `kubectl inception doctor --probe` tries a Pod"
                        .into(),
                    crashing: None,
                });
            }
            if reason == "CrashLoopBackOff" {
                return Some(Stuck {
                    key: format!("crash {name}"),
                    cause: format!(
                        "node Pod {name} keeps exiting ({} restarts)",
                        cs.restart_count
                    ),
                    fix: "see its last log lines below; `kubectl inception doctor --probe` checks what a node needs".into(),
                    crashing: Some(name.to_string()),
                });
            }
        }
        for c in st.conditions.iter().flatten() {
            if c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
            {
                let message = c.message.as_deref().unwrap_or_default();
                // Waiting for a volume is the provisioner's turn, not a verdict.
                if message.contains("PersistentVolumeClaim")
                    || message.contains("persistent volume")
                {
                    continue;
                }
                return Some(Stuck {
                    key: format!("unschedulable {name}"),
                    cause: format!("node Pod {name} cannot be scheduled: {message}"),
                    fix: "lower --node-cpu and --node-memory, or make room (or remove taints) on the parent's nodes".into(),
                    crashing: None,
                });
            }
        }
    }
    for e in events {
        let kind = e.involved_object.kind.as_deref().unwrap_or_default();
        if e.reason.as_deref() == Some("FailedCreate") && kind == "StatefulSet" {
            let what = e.involved_object.name.as_deref().unwrap_or_default();
            let message = e.message.as_deref().unwrap_or_default().trim();
            // Events outlive their cause: once the StatefulSet has a Pod,
            // an earlier refusal is over. And a namespace made a moment
            // ago may not have its default ServiceAccount yet: the
            // controller tries again.
            let has_pod = pods.iter().any(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .and_then(|n| n.strip_prefix(what)?.strip_prefix('-'))
                    .is_some_and(|ordinal| ordinal.bytes().all(|b| b.is_ascii_digit()))
            });
            if has_pod || message.contains("error looking up service account") {
                continue;
            }
            return Some(Stuck {
                key: format!("create {what}"),
                cause: format!("StatefulSet {what} cannot create its Pods: {message}"),
                fix: if message.contains("RuntimeClass") {
                    "check --runtime-class: `kubectl get runtimeclass` lists the classes the parent has".into()
                } else {
                    "node Pods are privileged: the parent must admit them (Pod Security `privileged` on the namespace, \
                     no policy refusing privileged Pods); `kubectl inception doctor` checks it"
                        .into()
                },
                crashing: None,
            });
        }
    }
    None
}

/// What kubelet prints when it refuses a cgroup v1 host (from 1.35, unless
/// its config says `failCgroupV1: false`); the sentence after it changed
/// between releases.
pub const KUBELET_REFUSES_CGROUP_V1: &str =
    "kubelet is configured to not run on a host using cgroup v1";

/// A cause found in a node container's log lines. The entrypoint restarts
/// kubelet after every exit, so a kubelet that cannot start shows here,
/// not as a container crash.
pub fn in_logs(pod: &str, logs: &str) -> Option<Stuck> {
    let line = logs
        .lines()
        .rev()
        .find(|l| l.contains(KUBELET_REFUSES_CGROUP_V1))?;
    Some(Stuck {
        key: format!("cgroup v1 {pod}"),
        cause: format!(
            "kubelet in node Pod {pod} refuses to run on cgroup v1, which its node shows it: {}",
            line.trim()
        ),
        fix: "run the cluster on a parent whose nodes use cgroup v2 (boot them with systemd.unified_cgroup_hierarchy=1),               or give --kubernetes-version v1.34 or older. The kubelet config kubectl-inception writes says               failCgroupV1: false from v1.31 on: a node that refuses had its config from elsewhere               (an older kubectl-inception, or a changed bootstrap ConfigMap)"
            .into(),
        crashing: None,
    })
}

/// Node Pods whose container runs without being ready: their logs may
/// tell why (see [`in_logs`]).
pub fn running_not_ready(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| {
            p.status.iter().any(|st| {
                st.container_statuses
                    .iter()
                    .flatten()
                    .any(|cs| !cs.ready && cs.state.as_ref().is_some_and(|s| s.running.is_some()))
            })
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "control-plane-0"}, "status": status}))
            .unwrap()
    }

    fn waiting(reason: &str) -> Pod {
        pod(json!({"containerStatuses": [{
            "name": "node", "image": "example/node:v1", "imageID": "", "ready": false,
            "restartCount": 4, "state": {"waiting": {"reason": reason, "message": "not found"}}
        }]}))
    }

    #[test]
    fn a_missing_image_names_the_image() {
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            let s = stuck(&[waiting(reason)], &[]).unwrap();
            assert!(
                s.cause.contains("example/node:v1") && s.cause.contains(reason),
                "{s:?}"
            );
            assert!(s.fix.contains("--image"), "{s:?}");
            assert_eq!(s.key, "pull example/node:v1", "the same key on every poll");
        }
    }

    #[test]
    fn a_crash_loop_asks_for_the_logs() {
        let s = stuck(&[waiting("CrashLoopBackOff")], &[]).unwrap();
        assert_eq!(s.crashing.as_deref(), Some("control-plane-0"));
        assert!(s.cause.contains("4 restarts"), "{s:?}");
    }

    #[test]
    fn unschedulable_but_not_while_a_volume_is_made() {
        let cond = |m: &str| {
            pod(
                json!({"conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": m}]}),
            )
        };
        let s = stuck(&[cond("0/1 nodes are available: 1 Insufficient cpu.")], &[]).unwrap();
        assert!(
            s.cause.contains("Insufficient cpu") && s.fix.contains("--node-cpu"),
            "{s:?}"
        );
        let volume =
            cond("0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.");
        assert_eq!(stuck(&[volume], &[]), None);
    }

    #[test]
    fn an_admission_refusal_of_the_statefulset() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "x"}, "reason": "FailedCreate",
            "involvedObject": {"kind": "StatefulSet", "name": "control-plane"},
            "message": "create Pod control-plane-0 in StatefulSet control-plane failed error: pods \"control-plane-0\" is forbidden: violates PodSecurity \"baseline:latest\": privileged"
        }))
        .unwrap();
        let s = stuck(&[], &[e]).unwrap();
        assert!(
            s.cause.contains("violates PodSecurity") && s.fix.contains("privileged"),
            "{s:?}"
        );
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "y"}, "reason": "FailedCreate",
            "involvedObject": {"kind": "StatefulSet", "name": "control-plane"},
            "message": "create Pod control-plane-0 in StatefulSet control-plane failed error: pods \"control-plane-0\" is forbidden: pod rejected: RuntimeClass \"gvisor\" not found"
        }))
        .unwrap();
        let s = stuck(&[], std::slice::from_ref(&e)).unwrap();
        assert!(s.fix.contains("--runtime-class"), "{s:?}");
        // Once the StatefulSet has its Pod, the event is history.
        let made: Pod =
            serde_json::from_value(json!({"metadata": {"name": "control-plane-0"}})).unwrap();
        assert_eq!(stuck(&[made], std::slice::from_ref(&e)), None);
        let other: Pod =
            serde_json::from_value(json!({"metadata": {"name": "control-plane-x"}})).unwrap();
        assert!(stuck(&[other], &[e]).is_some());
    }

    /// Found by the depth bench: a level's namespace had no default
    /// ServiceAccount yet when its StatefulSet first made its Pod.
    #[test]
    fn a_namespace_without_its_service_account_yet_is_no_cause() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "z"}, "reason": "FailedCreate",
            "involvedObject": {"kind": "StatefulSet", "name": "control-plane"},
            "message": "create Pod control-plane-0 in StatefulSet control-plane failed error: pods \"control-plane-0\" is forbidden: error looking up service account inception-bench3-0/default: serviceaccount \"default\" not found"
        }))
        .unwrap();
        assert_eq!(stuck(&[], &[e]), None);
    }

    /// How kubelet reports it (1.35), among the entrypoint's lines.
    const REFUSAL: &str = "inception-node: starting kubelet\n\
        E1204 17:30:01.123456     812 run.go:72] \"command failed\" err=\"kubelet is configured to not run \
        on a host using cgroup v1. cgroup v1 support is in maintenance mode\"\n\
        inception-node: kubelet exited (1); restarting in 1s\n";

    #[test]
    fn kubelet_refusing_cgroup_v1_says_what_to_do() {
        let s = in_logs("control-plane-0", REFUSAL).unwrap();
        assert_eq!(s.key, "cgroup v1 control-plane-0");
        assert!(
            s.cause.contains("control-plane-0") && s.cause.contains("maintenance mode"),
            "{s:?}"
        );
        assert!(s.cause.starts_with("kubelet in node Pod"), "{s:?}");
        for what in ["cgroup v2", "v1.34 or older", "failCgroupV1: false"] {
            assert!(s.fix.contains(what), "{what}: {s:?}");
        }
        // The newer wording of the same refusal.
        let newer = "err=\"kubelet is configured to not run on a host using cgroup v1. \
                     cgroup v1 support is unsupported and will be removed in a future release\"";
        assert!(in_logs("w", newer).is_some());
        let fine = "inception-node: starting kubelet\nI1204 kubelet.go:1] \"Started kubelet\"\n\
                    W1204 cgroup v1 support is in maintenance mode, please migrate to cgroup v2\n";
        assert_eq!(in_logs("control-plane-0", fine), None);
    }

    #[test]
    fn logs_are_read_of_running_pods_not_ready() {
        let state = |running: bool, ready: bool, name: &str| -> Pod {
            let st = if running {
                json!({"running": {}})
            } else {
                json!({"waiting": {"reason": "ContainerCreating"}})
            };
            serde_json::from_value(json!({"metadata": {"name": name}, "status": {
                "containerStatuses": [{"name": "node", "image": "i", "imageID": "",
                "ready": ready, "restartCount": 0, "state": st}]}}))
            .unwrap()
        };
        let pods = [
            state(true, false, "a"),
            state(true, true, "b"),
            state(false, false, "c"),
            pod(json!({})),
        ];
        assert_eq!(running_not_ready(&pods), ["a"]);
    }

    #[test]
    fn pods_on_their_way_are_not_stuck() {
        let starting = pod(json!({"containerStatuses": [{
            "name": "node", "image": "example/node:v1", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}
        }]}));
        assert_eq!(stuck(&[starting, pod(json!({}))], &[]), None);
    }
}
