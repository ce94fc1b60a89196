//! The smoke test run inside a cluster: a web server Deployment exposed as
//! a NodePort Service (the seed's nginx test). The server is socat from the
//! node image, so it needs no registry.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, PodSpec, PodTemplateSpec, Probe, Service, ServicePort,
    ServiceSpec, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const NAMESPACE: &str = "inception-smoke";
pub const NAME: &str = "web";
pub const PORT: i32 = 8080;
/// What the server answers; the test looks for it.
pub const BODY: &str = "kubectl-inception smoke test";

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([
            (
                crate::labels::MANAGED_BY.to_string(),
                crate::labels::MANAGER.to_string(),
            ),
            ("app".to_string(), NAME.to_string()),
        ])),
        ..ObjectMeta::default()
    }
}

pub fn namespace() -> Namespace {
    Namespace {
        metadata: meta(NAMESPACE, None),
        ..Namespace::default()
    }
}

/// `replicas` web servers using `image` (which must have socat).
pub fn deployment(image: &str, replicas: i32) -> Deployment {
    let labels = BTreeMap::from([("app".to_string(), NAME.to_string())]);
    let reply = format!(
        "SYSTEM:'printf \"HTTP/1.0 200 OK\\\\r\\\\nContent-Type: text/plain\\\\r\\\\n\\\\r\\\\n{BODY}\\\\n\"'"
    );
    Deployment {
        metadata: meta(NAME, Some(NAMESPACE)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
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
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
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

/// True when `response` is a 200 carrying [`BODY`].
pub fn answered(response: &str) -> bool {
    let status_ok = response
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("HTTP/") && l.split_whitespace().nth(1) == Some("200"));
    status_ok && response.contains(BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_have_explicit_protocols_and_match() {
        let d = deployment("img", 2);
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(
            pod.containers[0].ports.as_ref().unwrap()[0]
                .protocol
                .as_deref(),
            Some("TCP")
        );
        let s = service();
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        assert_eq!(
            spec.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        let sel = spec.selector.as_ref().unwrap();
        let labels = d
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert!(sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    }

    #[test]
    fn answered_needs_200_and_the_body() {
        assert!(answered(&format!("HTTP/1.0 200 OK\r\n\r\n{BODY}\n")));
        assert!(!answered(&format!("HTTP/1.0 503 Busy\r\n\r\n{BODY}\n")));
        assert!(!answered("HTTP/1.0 200 OK\r\n\r\nsomething else"));
        assert!(!answered(""));
    }
}
