use http::Method;
use nesting::{PlanRequest, TreeSpec};
use serde_json::json;

use super::refuse::refuse_restart;
use super::*;
use crate::fake;

fn plan() -> Plan {
    Plan::new(&PlanRequest::new(
        TreeSpec {
            name: "lab".into(),
            depth: 1,
            width: 1,
            workers: 1,
        },
        nesting::Entropy::from_system(),
    ))
    .unwrap()
}

/// A parent whose apiserver is at 192.0.2.2:6443 and which gives the
/// apiserver Service ClusterIP 10.96.5.5; applies are echoed.
fn parent() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    fake::serve(parent_answer)
}

/// How the parent of [`parent`] answers a request.
fn parent_answer(s: &fake::Seen) -> http::Response<kube::client::Body> {
    if s.method == Method::PATCH {
        return fake::ok(s.body.clone());
    }
    match s.path.as_str() {
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices" => fake::list(
            "EndpointSlice",
            vec![json!({
                "metadata": {"name": "kubernetes"}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["192.0.2.2"]}],
                "ports": [{"port": 6443}],
            })],
        ),
        "/api/v1/namespaces/inception-lab/services/apiserver" => fake::ok(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "apiserver", "namespace": "inception-lab"},
            "spec": {"clusterIP": "10.96.5.5"},
        })),
        _ => fake::not_found(),
    }
}

fn patched(log: &fake::Log) -> Vec<String> {
    let all = log.all();
    all.iter()
        .filter(|s| s.method == Method::PATCH)
        .map(|s| s.body["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn config_first_then_nodes_that_know_the_service_ip() {
    let plan = plan();
    let c = &plan.clusters[0];
    let (client, log, _server) = parent();

    let (runtime, config) = apply_config(&plan, &client, c).await.unwrap();
    assert_eq!(runtime.apiserver_ip, Some("10.96.5.5".parse().unwrap()));
    assert_eq!(
        runtime.parent_apiservers,
        ["192.0.2.2:6443".parse().unwrap()]
    );
    let kinds = patched(&log);
    assert_eq!(kinds.len(), config);
    assert_eq!(kinds[0], "Namespace");
    assert!(kinds.contains(&"Service".to_string()), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "StatefulSet"), "{kinds:?}");
    // The Service was read after it was applied.
    let all = log.all();
    let svc = "/api/v1/namespaces/inception-lab/services/apiserver";
    let applied = all.iter().position(|s| s.is(&Method::PATCH, svc));
    let read = all.iter().position(|s| s.is(&Method::GET, svc));
    assert!(applied < read, "{all:?}");

    let nodes = apply_nodes(&plan, &client, c, &runtime).await.unwrap();
    assert_eq!(nodes, 3, "two StatefulSets and the control plane's budget");
    let all = log.all();
    let sts = |name: &str| {
        all.iter()
            .find(|s| {
                s.method == Method::PATCH
                    && s.body["kind"] == "StatefulSet"
                    && s.body["metadata"]["name"] == name
            })
            .unwrap()
            .body["spec"]["template"]["spec"]["hostAliases"][0]["ip"]
            .clone()
    };
    // Workers reach the apiserver at the Service's address; the control
    // plane its own on loopback.
    assert_eq!(sts("workers"), "10.96.5.5");
    assert_eq!(sts("control-plane"), "127.0.0.1");
}

#[tokio::test]
async fn a_service_without_an_ip_stops_before_the_nodes() {
    let plan = plan();
    let (client, log, _server) = fake::serve(|s| {
        if s.method == Method::PATCH {
            fake::ok(s.body.clone())
        } else if s.path.ends_with("/services/apiserver") {
            fake::ok(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "apiserver"}, "spec": {}}))
        } else {
            fake::not_found()
        }
    });
    let e = apply_config(&plan, &client, &plan.clusters[0])
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Service inception-lab/apiserver has no ClusterIP"
    );
    assert!(!patched(&log).iter().any(|k| k == "StatefulSet"));
}

#[tokio::test(start_paused = true)]
async fn a_busy_server_is_asked_again_for_the_service_ip() {
    let plan = plan();
    let reads = std::sync::atomic::AtomicUsize::new(0);
    let (client, log, _server) = fake::serve(move |s| {
        if s.method == Method::PATCH {
            fake::ok(s.body.clone())
        } else if s.path.ends_with("/services/apiserver") {
            match reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => fake::status(503, "ServiceUnavailable"),
                _ => fake::ok(json!({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": "apiserver"}, "spec": {"clusterIP": "10.96.5.5"}})),
            }
        } else {
            fake::not_found()
        }
    });
    let (runtime, _) = apply_config(&plan, &client, &plan.clusters[0])
        .await
        .unwrap();
    assert_eq!(runtime.apiserver_ip, Some("10.96.5.5".parse().unwrap()));
    let svc = "/api/v1/namespaces/inception-lab/services/apiserver";
    assert_eq!(log.count(&Method::GET, svc), 2);
}

/// A parent holding cluster `lab` whose control plane runs `image`; the
/// server-side dry run of an apply answers with the applied object.
fn parent_with_control_plane(
    plan: &Plan,
    image: &str,
) -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    let runtime = Runtime {
        apiserver_ip: Some("10.96.5.5".parse().unwrap()),
        parent_apiservers: vec!["192.0.2.2:6443".parse().unwrap()],
    };
    let mut live = plan
        .manifests_with(&plan.clusters[0], &runtime)
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            Manifest::StatefulSet(s) => Some(serde_json::to_value(s).unwrap()),
            _ => None,
        })
        .unwrap();
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    fake::serve(move |s| {
        if s.method == Method::GET
            && s.path == "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane"
        {
            return fake::ok(live.clone());
        }
        parent_answer(s)
    })
}

#[tokio::test]
async fn a_rerun_that_would_restart_a_control_plane_is_refused_and_changes_nothing() {
    let plan = plan();
    let (client, log, _server) = parent_with_control_plane(&plan, "example/other-node:v1");
    let e = refuse_restart(&plan, &client, &plan.clusters[0], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("would restart its control plane"), "{e}");
    assert!(
        e.contains("spec.containers[0].image: \"example/other-node:v1\" → \"ghcr.io/kubectl-inception/node:"),
        "{e}"
    );
    assert!(
        e.contains("Nothing was changed") && e.contains("--allow-restart"),
        "{e}"
    );
    let patches: Vec<_> = log
        .all()
        .into_iter()
        .filter(|s| s.method == Method::PATCH)
        .collect();
    assert_eq!(patches.len(), 1, "only the dry run");
    assert!(
        patches[0].query.contains("dryRun=All"),
        "{}",
        patches[0].query
    );
}

#[tokio::test]
async fn a_rerun_with_the_same_template_or_allowed_goes_on() {
    let plan = plan();
    let same = plan.image.clone();
    let (client, _, _server) = parent_with_control_plane(&plan, &same);
    refuse_restart(&plan, &client, &plan.clusters[0], false)
        .await
        .unwrap();
    let (client, _, _server) = parent_with_control_plane(&plan, "example/other-node:v1");
    refuse_restart(&plan, &client, &plan.clusters[0], true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cluster_without_a_control_plane_yet_is_not_checked() {
    let plan = plan();
    let (client, log, _server) = parent();
    refuse_restart(&plan, &client, &plan.clusters[0], false)
        .await
        .unwrap();
    assert!(log.all().iter().all(|s| s.method != Method::PATCH));
}

fn request(depth: u32) -> PlanRequest {
    PlanRequest::new(
        TreeSpec {
            name: "lab".into(),
            depth,
            width: 1,
            workers: 1,
        },
        nesting::Entropy::from_system(),
    )
}

/// A parent holding the namespaces `items`, no control plane Ready.
fn holding(items: Vec<serde_json::Value>) -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    fake::serve(move |s| match s.path.as_str() {
        "/api/v1/namespaces" => fake::list("Namespace", items.clone()),
        _ => fake::not_found(),
    })
}

#[tokio::test]
async fn a_deeper_rerun_keeps_the_root_it_finds() {
    let one = Plan::new(&request(1)).unwrap();
    let digest = one.digest(&one.clusters[0]);
    let (client, log, _server) = holding(vec![
        fake::namespace("inception-lab", "lab", Some(&digest), true),
        // Not a child of the current context: ignored.
        fake::namespace("inception-lab-0", "lab/0", Some("v1.20.2 pods=x"), true),
    ]);
    let two = plan_around(&client, &request(2)).await.unwrap();
    assert_eq!(two.clusters.len(), 2);
    assert_eq!(two.clusters[0].networks, one.clusters[0].networks);
    // Only reads: the tree's namespaces, then whether lab's control plane
    // is Ready (it is not: what is in it is left unseen).
    let all = log.all();
    assert!(all.iter().all(|s| s.method == Method::GET), "{all:?}");
    assert!(all[0].query.contains("lab"), "{:?}", all[0].query);
    let sts = "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane";
    assert_eq!(log.count(&Method::GET, sts), 1);
    assert_eq!(all.len(), 2, "{all:?}");
}

#[tokio::test]
async fn a_root_carved_the_old_way_keeps_its_ranges() {
    // Older versions gave a depth-2 root the service CIDR after every pod CIDR.
    let old = format!(
        "{} pods=10.0.0.0/16 services=10.2.0.0/20",
        request(1).version
    );
    let (client, _, _server) = holding(vec![fake::namespace(
        "inception-lab",
        "lab",
        Some(&old),
        true,
    )]);
    let plan = plan_around(&client, &request(2)).await.unwrap();
    assert_eq!(plan.digest(&plan.clusters[0]), old);
    let child = &plan.clusters[1].networks;
    for theirs in ["10.0.0.0/16", "10.2.0.0/20"] {
        let theirs: ipnet::IpNet = theirs.parse().unwrap();
        for mine in [child.pod_cidr, child.service_cidr] {
            assert!(!nesting::ranges::overlaps(&mine, &theirs), "{mine}");
        }
    }
}

#[tokio::test]
async fn another_plan_for_the_root_is_refused_before_anything_is_written() {
    let one = Plan::new(&request(1)).unwrap();
    let digest = one.digest(&one.clusters[0]);
    let (client, log, _server) = holding(vec![fake::namespace(
        "inception-lab",
        "lab",
        Some(&digest),
        true,
    )]);
    let mut req = request(2);
    req.cidr.pod_prefix = Some(18);
    let e = plan_around(&client, &req).await.unwrap_err().to_string();
    assert!(
        e.starts_with("cluster lab exists with a different plan"),
        "{e}"
    );
    assert!(e.contains(&format!("existing: {digest}")), "{e}");
    assert!(log.all().iter().all(|s| s.method == Method::GET));
}
