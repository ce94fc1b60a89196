//! `scale`: a booted cluster grows by two workers, then shrinks to one,
//! and its inner node list follows; a count its pod CIDR cannot hold is
//! refused before anything changes.

use inception_tests::Lab;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;

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
    let deploys: Api<Deployment> = Api::namespaced(parent.clone(), "inception-scale");

    // Refused: a /16 pod CIDR holds 256 nodes of /24.
    let err = lab.fails(&["scale", "scale", "--workers", "256"]);
    assert!(err.contains("at most 255 workers"), "{err}");
    let replicas = |d: Deployment| d.spec.unwrap().replicas.unwrap();
    assert_eq!(replicas(deploys.get("workers").await.unwrap()), 0);

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

    lab.ok(&["down", "scale"]);
}
