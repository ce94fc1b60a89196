//! Level 1's control-plane Pod is deleted: it comes back as the same node
//! of the same cluster, its state on its claim, and level 2 stays Ready.

use std::time::{Duration, Instant};

use inception_tests::Lab;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::wait::await_condition;

/// The claims of the tree's top level, Bound, on the lab's default class;
/// returns the lab directories that hold them.
pub async fn claims_bound(lab: &Lab, namespace: &str, nodes: &[&str]) -> Vec<std::path::PathBuf> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(lab.client().await, namespace);
    let list = pvcs.list(&ListParams::default()).await.unwrap().items;
    let mut dirs = Vec::new();
    for node in nodes {
        let name = format!("state-{node}");
        let c = list
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no claim {name} in {namespace}"));
        let spec = c.spec.as_ref().unwrap();
        assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
        let phase = c.status.as_ref().and_then(|s| s.phase.as_deref());
        assert_eq!(phase, Some("Bound"), "claim {name}");
        let volume = spec.volume_name.clone().unwrap();
        let dir = std::path::Path::new(lab.fact("LAB_STATE_DIR"))
            .join("volumes")
            .join(volume);
        assert!(
            dir.join("kubernetes").is_dir(),
            "{} holds no /etc/kubernetes",
            dir.display()
        );
        dirs.push(dir);
    }
    dirs
}

pub async fn control_plane_pod_deleted(lab: &Lab, tree: impl Fn() -> serde_json::Value) {
    let (level1, tunnel) = lab.inner_client("deep").await;
    let cms: Api<ConfigMap> = Api::namespaced(level1, "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "made-before-the-restart"}, "data": {"a": "1"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    drop(tunnel);

    let pods: Api<Pod> = Api::namespaced(lab.client().await, "inception-deep");
    let old = pods.get("control-plane-0").await.unwrap();
    let (old_uid, old_ip) = (
        old.metadata.uid.clone().unwrap(),
        old.status.and_then(|s| s.pod_ip).unwrap(),
    );
    pods.delete("control-plane-0", &DeleteParams::default())
        .await
        .unwrap();
    // Another Pod of the same name, Ready.
    let ready = await_condition(pods.clone(), "control-plane-0", |p: Option<&Pod>| {
        p.filter(|p| p.metadata.uid.as_deref() != Some(old_uid.as_str()))
            .and_then(|p| p.status.as_ref()?.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    });
    tokio::time::timeout(Duration::from_secs(180), ready)
        .await
        .expect("control-plane-0 not Ready within 3 minutes")
        .unwrap();
    let new_ip = pods
        .get("control-plane-0")
        .await
        .unwrap()
        .status
        .and_then(|s| s.pod_ip);
    eprintln!("control-plane-0 back: {old_ip} -> {new_ip:?}");

    // The same cluster: what was made before is there.
    let (level1, tunnel) = lab.inner_client("deep").await;
    let cms: Api<ConfigMap> = Api::namespaced(level1, "default");
    assert!(
        cms.get_opt("made-before-the-restart")
            .await
            .unwrap()
            .is_some(),
        "level 1 lost its objects"
    );
    drop(tunnel);

    // Both levels come back to all nodes Ready, level 2 with its record.
    let start = Instant::now();
    loop {
        let t = tree();
        let top = &t["clusters"][0];
        let child = &top["children"][0];
        if top["nodes"] == "3/3" && child["nodes"] == "3/3" && child["path"] == "deep/0" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the tree is not Ready 3 minutes after the restart: {t}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
