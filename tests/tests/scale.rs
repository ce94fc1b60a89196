//! `scale`: a booted cluster grows by two workers, then shrinks to one,
//! and its inner node list follows; a count its pod CIDR cannot hold is
//! refused before anything changes. Then `pause` stops its node Pods and
//! `resume` brings the same cluster back, with what was made before; and
//! `up --depth 2` grows a cluster inside it.

use inception_tests::Lab;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};

async fn node_names(lab: &Lab) -> Vec<String> {
    let (inner, _tunnel) = lab.inner_client("scale").await;
    let nodes: Api<Node> = Api::all(inner);
    let mut names: Vec<String> = (nodes.list(&ListParams::default()).await.unwrap().items)
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn workers_come_and_go() {
    let lab = Lab::with_node();
    lab.ok(&["down", "scale"]);
    lab.up_booting("scale", &["--workers", "0"]);
    let parent = lab.client().await;
    let pods: Api<Pod> = Api::namespaced(parent.clone(), "inception-scale");
    let workers: Api<StatefulSet> = Api::namespaced(parent.clone(), "inception-scale");

    // Refused: a /16 pod CIDR holds 256 nodes of /24.
    let err = lab.fails(&["scale", "scale", "--workers", "256"]);
    assert!(err.contains("at most 255 workers"), "{err}");
    let replicas = |d: StatefulSet| d.spec.unwrap().replicas.unwrap();
    assert_eq!(replicas(workers.get("workers").await.unwrap()), 0);

    // Up to two workers: three nodes, all Ready, named after their Pods.
    let out = lab.ok(&["scale", "scale", "--workers", "2", "--timeout", "5m"]);
    assert!(out.contains("workers 0 -> 2, 3 nodes Ready"), "{out}");
    let mut pod_names: Vec<String> = (pods.list(&ListParams::default()).await.unwrap().items)
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    pod_names.sort();
    assert_eq!(node_names(&lab).await, pod_names);
    assert_eq!(pod_names.len(), 3);

    // Down to one: the removed worker's node is gone from the inner cluster.
    let out = lab.ok(&["scale", "scale", "--workers", "1", "--timeout", "5m"]);
    assert!(out.contains("workers 2 -> 1, 2 nodes Ready"), "{out}");
    assert!(out.contains("removed nodes workers-"), "{out}");
    let left = node_names(&lab).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|n| pod_names.contains(n)), "{left:?}");

    // The same count again changes nothing.
    let out = lab.ok(&["scale", "scale", "--workers", "1"]);
    assert!(out.contains("workers 1 -> 1, 2 nodes Ready"), "{out}");
    assert!(!out.contains("removed"), "{out}");

    // certs: the cluster's certificates and its token, read live, no key.
    let certs: serde_json::Value =
        serde_json::from_str(&lab.ok(&["certs", "scale", "-o", "json"])).unwrap();
    let list = certs["certificates"].as_array().unwrap();
    assert!(
        list.iter().any(|c| c["subject"] == "kubernetes-admin"),
        "{certs}"
    );
    assert!(certs.get("token").is_some(), "the token's expiry: {certs}");
    assert!(!certs.to_string().contains("PRIVATE KEY"));

    // Paused: no node Pod runs, `tree` says so, `up` waits for a resume.
    let (inner, tunnel) = lab.inner_client("scale").await;
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "made-before-the-pause"}, "data": {"a": "1"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(inner, "default")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    drop(tunnel);
    let out = lab.ok(&["pause", "scale"]);
    assert!(out.contains("cluster scale paused"), "{out}");
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let t: serde_json::Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
    let c = &t["clusters"][0];
    assert_eq!(c["paused"], true, "{t}");
    assert_eq!(c["status"], "paused", "{t}");
    assert!(lab.ok(&["tree"]).contains("paused"));
    let version = lab.fact("LAB_K8S_VERSION");
    let image = format!("localhost/kubectl-inception/node:{version}");
    let err = lab.fails(&[
        "up",
        "scale",
        "--workers",
        "1",
        "--kubernetes-version",
        version,
        "--image",
        &image,
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
        "--timeout",
        "1m",
    ]);
    assert!(err.contains("cluster scale is paused"), "{err}");

    // Resumed: the same cluster, its nodes Ready, its objects there.
    let out = lab.ok(&["resume", "scale", "--timeout", "5m"]);
    assert!(
        out.contains("cluster scale resumed: 2 nodes Ready"),
        "{out}"
    );
    let (inner, tunnel) = lab.inner_client("scale").await;
    assert!(
        Api::<ConfigMap>::namespaced(inner, "default")
            .get_opt("made-before-the-pause")
            .await
            .unwrap()
            .is_some(),
        "the cluster lost its objects"
    );
    drop(tunnel);
    assert_eq!(node_names(&lab).await.len(), 2);

    // The tree grows: the same cluster, one level deeper, inside it.
    let root_uid = pods.get("control-plane-0").await.unwrap().metadata.uid;
    let out = lab.up_booting("scale", &["--workers", "1", "--depth", "2"]);
    assert!(out.contains("cluster scale unchanged or updated"), "{out}");
    assert!(out.contains("cluster scale/0 created"), "{out}");
    assert!(out.contains("cluster scale/0 Ready: 2 nodes"), "{out}");
    assert_eq!(
        pods.get("control-plane-0").await.unwrap().metadata.uid,
        root_uid,
        "growing restarted the top cluster"
    );

    lab.ok(&["down", "scale"]);
}
