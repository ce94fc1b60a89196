//! Trying the node Pod for real: a short-lived namespace of the doctor's
//! own, a dry-run node Pod in it, the node image pulled, the probe Pod,
//! and cleaning up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, Namespace, Pod, PodSpec, SecurityContext, ServiceAccount,
    Volume, VolumeMount,
};
use kube::api::{DeleteParams, LogParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use nesting::doctor;

use super::facts::refusal;
use crate::retry;

/// How long the probe Pod may take to run to the end.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a new namespace may take to get its default ServiceAccount.
const SA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the doctor's namespace to be gone.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A real, short-lived namespace labelled like the plugin's, to try Pods
/// in; it has its default ServiceAccount when this returns.
pub(super) async fn scratch_namespace(
    client: &Client,
    mut labels: BTreeMap<String, String>,
) -> Result<String, String> {
    labels.insert(doctor::DOCTOR_LABEL.into(), "true".into());
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some("inception-doctor-".into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let made = api
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("cannot create a namespace: {}", refusal(e)))?;
    let name = made.metadata.name.unwrap_or_default();
    tracing::info!(namespace = %name, "created the doctor's namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    let start = Instant::now();
    while start.elapsed() < SA_TIMEOUT {
        if let Ok(Some(_)) = sas.get_opt("default").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(name)
}

/// A node Pod, as the control-plane StatefulSet makes it, dry run.
pub(super) async fn pod_dry_run(
    client: &Client,
    namespace: &str,
    spec: &PodSpec,
) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some("node-".into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec.clone()),
        ..Pod::default()
    };
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&pp, &pod).await.map(drop).map_err(refusal)
}

const PROBE_POD: &str = "probe";

/// A Pod `name` that runs `command` in `image` once, as the node Pods pull
/// it (IfNotPresent), with no credentials or Service variables.
fn one_shot(name: &str, image: &str, command: Vec<String>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(0),
            containers: vec![Container {
                name: name.into(),
                image: Some(image.into()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(command),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// Runs the probe Pod to the end; its node and what it printed.
pub(super) async fn run_probe(
    client: &Client,
    namespace: &str,
    image: &str,
) -> Result<doctor::ProbeFacts, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pod = one_shot(
        PROBE_POD,
        image,
        vec!["sh".into(), "-c".into(), doctor::PROBE_SCRIPT.into()],
    );
    if let Some(spec) = pod.spec.as_mut() {
        let c = &mut spec.containers[0];
        c.security_context = Some(SecurityContext {
            privileged: Some(true),
            ..SecurityContext::default()
        });
        c.volume_mounts = Some(vec![VolumeMount {
            name: "modules".into(),
            mount_path: doctor::PROBE_MODULES_MOUNT.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]);
        spec.volumes = Some(vec![Volume {
            name: "modules".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/lib/modules".into(),
                type_: Some(String::new()),
            }),
            ..Volume::default()
        }]);
    }
    api.create(&PostParams::default(), &pod)
        .await
        .map_err(|e| format!("refused: {}", refusal(e)))?;
    let start = Instant::now();
    let done = loop {
        let p = retry::retry(|| api.get(PROBE_POD))
            .await
            .map_err(|e| e.to_string())?;
        let phase = p.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            break p;
        }
        if let Some(reason) = image_problem(&p) {
            return Err(reason);
        }
        if start.elapsed() > PROBE_TIMEOUT {
            return Err(format!(
                "still {} after {}s{}",
                phase.unwrap_or_else(|| "Pending".into()),
                PROBE_TIMEOUT.as_secs(),
                why_waiting(&p)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let node = done
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_else(|| "?".into());
    let logs = api
        .logs(PROBE_POD, &LogParams::default())
        .await
        .map_err(|e| format!("cannot read its output: {e}"))?;
    if done.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
        return Err(format!(
            "it failed on node {node}: {}",
            logs.lines().last().unwrap_or("no output")
        ));
    }
    Ok(doctor::parse_probe(&node, &logs))
}

const PULL_POD: &str = "image";
/// How long the node image may take to be there and start.
const PULL_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether a node can get `image`: a Pod with it that only runs `true`
/// (unprivileged), as the node Pods pull it (IfNotPresent).
pub(super) async fn try_image(client: &Client, namespace: &str, image: &str) -> doctor::Pull {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = one_shot(PULL_POD, image, vec!["true".into()]);
    if let Err(e) = api.create(&PostParams::default(), &pod).await {
        return doctor::Pull::Skipped(format!("its Pod was refused: {}", refusal(e)));
    }
    let start = Instant::now();
    loop {
        let p = match retry::retry(|| api.get(PULL_POD)).await {
            Ok(p) => p,
            Err(e) => return doctor::Pull::Skipped(format!("cannot read its Pod: {e}")),
        };
        if let Some(reason) = image_problem(&p) {
            return doctor::Pull::Refused(reason);
        }
        // An image ID, or a container that ran: the image is on the node.
        let there = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .any(|cs| {
                !cs.image_id.is_empty()
                    || cs
                        .state
                        .as_ref()
                        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            });
        if there {
            let node = p
                .spec
                .and_then(|s| s.node_name)
                .unwrap_or_else(|| "?".into());
            return doctor::Pull::Ran { node };
        }
        if start.elapsed() > PULL_TIMEOUT {
            let phase = p.status.as_ref().and_then(|s| s.phase.clone());
            return doctor::Pull::Slow(format!(
                "still {} after {}s{}",
                phase.unwrap_or_else(|| "Pending".into()),
                PULL_TIMEOUT.as_secs(),
                why_waiting(&p)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The image cannot be had: no point waiting.
fn image_problem(p: &Pod) -> Option<String> {
    const HOPELESS: &[&str] = &[
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
    ];
    let st = p.status.as_ref()?;
    st.container_statuses.iter().flatten().find_map(|cs| {
        let waiting = cs.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        HOPELESS.contains(&reason).then(|| {
            format!(
                "the node cannot get the image ({reason}: {})",
                waiting.message.as_deref().unwrap_or("no message")
            )
        })
    })
}

/// `: reason message` of a Pod that did not run.
fn why_waiting(p: &Pod) -> String {
    let st = p.status.clone().unwrap_or_default();
    let mut why = Vec::new();
    for c in st.conditions.unwrap_or_default() {
        if c.status != "True" && c.message.is_some() {
            why.push(format!(
                "{} {}",
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default()
            ));
        }
    }
    for cs in st.container_statuses.unwrap_or_default() {
        if let Some(w) = cs.state.and_then(|s| s.waiting) {
            why.push(format!(
                "{} {}",
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            ));
        }
    }
    if why.is_empty() {
        String::new()
    } else {
        format!(": {}", why.join("; ").trim())
    }
}

/// Deletes the doctor's namespace (and the probe Pod at once), waiting a
/// little for it to go.
pub(super) async fn cleanup(client: &Client, namespace: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for pod in [PULL_POD, PROBE_POD] {
        let _ = pods
            .delete(pod, &DeleteParams::default().grace_period(0))
            .await;
    }
    let api: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = api.delete(namespace, &DeleteParams::background()).await {
        eprintln!("warning: cannot delete the doctor's namespace {namespace}: {e}");
        return;
    }
    let start = Instant::now();
    while start.elapsed() < CLEANUP_TIMEOUT {
        if let Ok(None) = api.get_opt(namespace).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::warn!(%namespace, "the doctor's namespace is still being deleted");
}
