//! Two levels: a cluster inside a cluster inside the lab, reached from this
//! machine through a chain of tunnels, and removed with one `down`.

use inception_tests::Lab;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Api;
use kube::api::ListParams;

#[tokio::test]
async fn two_levels_boot_and_are_reached_from_here() {
    let lab = Lab::with_node();
    lab.ok(&["down", "deep"]);
    let out = lab.up_booting("deep", &["--depth", "2", "--workers", "1"]);
    assert!(out.contains("cluster deep Ready: 2 nodes"), "{out}");
    assert!(out.contains("cluster deep/0 Ready: 2 nodes"), "{out}");
    let plan: serde_json::Value = serde_json::from_str(&lab.ok(&[
        "tree",
        "--plan",
        "deep",
        "--depth",
        "2",
        "--parent-service-cidr",
        lab.fact("LAB_SERVICE_CIDR"),
        "--parent-pod-cidr",
        lab.fact("LAB_POD_CIDR"),
        "-o",
        "json",
    ]))
    .unwrap();
    let level2: ipnet::IpNet = plan[0]["children"][0]["podCIDR"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let level1: ipnet::IpNet = plan[0]["podCIDR"].as_str().unwrap().parse().unwrap();
    let lab_pods: ipnet::IpNet = lab.fact("LAB_POD_CIDR").parse().unwrap();
    for other in [level1, lab_pods] {
        assert!(
            !other.contains(&level2.network()) && !level2.contains(&other.network()),
            "{level2} overlaps {other}"
        );
    }

    // Level 2's apiserver from this machine, through level 1.
    let (inner, tunnel) = lab.inner_client("deep/0").await;
    let nodes = Api::<Node>::all(inner)
        .list(&ListParams::default())
        .await
        .expect("level 2 answers");
    assert_eq!(nodes.items.len(), 2);
    for n in &nodes.items {
        let cidr = inception_tests::pod_cidr(n);
        assert!(
            level2.contains(&cidr),
            "node {:?} has {cidr}, outside {level2}",
            n.metadata.name
        );
    }
    drop(tunnel);

    // One down removes both levels: the top namespace takes level 2 with it.
    lab.ok(&["down", "deep"]);
    let ns: Api<Namespace> = Api::all(lab.client().await);
    assert!(ns.get_opt("inception-deep").await.unwrap().is_none());
    assert!(lab.ok(&["tree"]).contains("no inception clusters"));
}
