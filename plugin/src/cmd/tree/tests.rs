use http::Method;
use serde_json::json;

use super::*;
use crate::fake;

fn ns(name: &str, path: &str) -> Namespace {
    serde_json::from_value(fake::namespace(name, path, None, true)).unwrap()
}

#[tokio::test]
async fn only_children_of_here_belong_here() {
    let items = vec![
        fake::namespace("inception-lab-0", "lab/0", None, true),
        fake::namespace("inception-lab-0-0", "lab/0/0", None, true),
        fake::namespace("inception-other-0", "other/0", None, true),
    ];
    let (client, _log, _server) = fake::serve(move |_| fake::list("Namespace", items.clone()));
    let lab: ClusterPath = "lab".parse().unwrap();
    let found = clusters_in(&client, Some(&lab)).await.unwrap();
    let paths: Vec<String> = found.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(paths, ["lab/0"]);
    // From the current context, every cluster found is listed.
    assert_eq!(clusters_in(&client, None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_cluster_being_deleted_is_not_entered() {
    let (client, log, _server) = fake::serve(|_| fake::not_found());
    let mut n = ns("inception-lab", "lab");
    n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
    let c = inspect(client, "lab".parse().unwrap(), n).await;
    assert_eq!(c.reachable, "no: being deleted");
    assert!(c.deleting);
    // Only its workloads were read: no tunnel was tried.
    assert!(log.all().iter().all(|s| {
        s.method == Method::GET
            && s.path
                .starts_with("/apis/apps/v1/namespaces/inception-lab/")
    }));
}

#[tokio::test]
async fn a_control_plane_not_ready_is_reported_and_not_entered() {
    let (client, log, _server) = fake::serve(|s| match s.path.as_str() {
        "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane" => fake::ok(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "control-plane"},
            "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "x"},
            "status": {"replicas": 1, "readyReplicas": 0},
        })),
        _ => fake::not_found(),
    });
    let c = inspect(client, "lab".parse().unwrap(), ns("inception-lab", "lab")).await;
    assert_eq!(c.reachable, "no: control plane not Ready");
    assert_eq!(c.control_plane, "0/1");
    assert_eq!(c.workers, "0/0");
    // Its workloads, then its node Pods and the parent's nodes (usage).
    assert_eq!(log.all().len(), 4, "{:?}", log.all());
}

#[tokio::test(start_paused = true)]
async fn a_silent_cluster_times_out_alone() {
    let ready = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "control-plane"},
        "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "x"},
        "status": {"replicas": 1, "readyReplicas": 1},
    });
    let (client, log, _server) = fake::serve_some(move |s| match s.path.as_str() {
        "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane" => {
            Some(fake::ok(ready.clone()))
        }
        // Its PKI Secrets, read to reach it, never come.
        p if p.starts_with("/api/v1/namespaces/inception-lab/secrets/") => None,
        _ => Some(fake::not_found()),
    });
    let found = vec![
        ("lab".parse().unwrap(), ns("inception-lab", "lab")),
        ("other".parse().unwrap(), ns("inception-other", "other")),
    ];
    let clusters = inspect_all(client, found).await;
    assert_eq!(clusters[0].path, "lab");
    assert_eq!(clusters[0].reachable, "no: no answer in 15s");
    // Its sibling was inspected on its own, unaffected.
    assert_eq!(clusters[1].path, "other");
    assert_eq!(clusters[1].reachable, "no: control plane not Ready");
    assert!(log.count(&Method::GET, "/api/v1/namespaces/inception-lab/secrets/pki") == 1);
}
