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
            return Some(Stuck {
                key: format!("create {what}"),
                cause: format!("StatefulSet {what} cannot create its Pods: {message}"),
                fix: "node Pods are privileged: the parent must admit them (Pod Security `privileged` on the namespace, \
                      no policy refusing privileged Pods); `kubectl inception doctor` checks it"
                    .into(),
                crashing: None,
            });
        }
    }
    None
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
