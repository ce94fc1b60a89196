//! Two levels: a cluster inside a cluster inside the lab. `up` is killed
//! while level 2 boots and run again; the tree converges, shows in `tree`,
//! is reached from this machine through a chain of tunnels, passes the
//! smoke test at level 2 with its node Pods on different level-1 nodes
//! (pod traffic, Services, DNS and full-MTU packets across the overlay),
//! survives the deletion of level 1's control-plane Pod (node state on
//! claims), and one `down` removes everything, claims included.

#[path = "deep/restart.rs"]
mod restart;

use std::process::Stdio;
use std::time::{Duration, Instant};

use inception_tests::Lab;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::ListParams;

const NAME: &str = "deep";

fn up_args(lab: &Lab) -> Vec<String> {
    let version = lab.fact("LAB_K8S_VERSION");
    [
        "up",
        NAME,
        "--depth",
        "2",
        "--workers",
        "2",
        "--kubernetes-version",
        version,
        "--image",
        &format!("localhost/kubectl-inception/node:{version}"),
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
        "--timeout",
        "5m",
    ]
    .map(String::from)
    .to_vec()
}

/// The live tree as JSON.
fn tree(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap()
}

#[tokio::test]
async fn two_levels_survive_an_interruption_and_are_reached_from_here() {
    let lab = Lab::with_node();
    lab.ok(&["down", NAME]);

    // Kill `up` once level 2's objects exist in level 1, mid-boot.
    let args = up_args(&lab);
    let mut first = std::process::Command::new(&lab.bin)
        .args(&args)
        .env("KUBECONFIG", &lab.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let t = tree(&lab);
        if t["clusters"][0]["children"][0]["path"] == "deep/0" {
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "up ended before level 2 was created"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "level 2 not created in 5 minutes: {t}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let t = tree(&lab);
    assert_ne!(
        t["clusters"][0]["children"][0]["nodes"], "3/3",
        "level 2 was already Ready when up was killed: {t}"
    );

    // The same command again converges.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lab.ok(&argv);
    assert!(out.contains("cluster deep unchanged or updated"), "{out}");
    assert!(out.contains("cluster deep/0 unchanged or updated"), "{out}");
    assert!(out.contains("cluster deep Ready: 3 nodes"), "{out}");
    assert!(out.contains("cluster deep/0 Ready: 3 nodes"), "{out}");

    // The same tree with another images dir would restart its control
    // planes, whose etcd lives in their Pods: refused, nothing changes.
    let lab_pods: Api<Pod> = Api::namespaced(lab.client().await, "inception-deep");
    let uid = |p: Pod| p.metadata.uid.unwrap_or_default();
    let before = uid(lab_pods.get("control-plane-0").await.unwrap());
    let mut other = argv.clone();
    let dir = other.iter().position(|a| *a == "--images-dir").unwrap() + 1;
    other[dir] = "/srv/other-images";
    let err = lab.fails(&other);
    assert!(
        err.contains("cluster deep exists and this run would restart its control plane")
            && err.contains("hostPath.path")
            && err.contains("/srv/other-images")
            && err.contains("Nothing was changed"),
        "{err}"
    );
    let sts_lab: Api<StatefulSet> = Api::namespaced(lab.client().await, "inception-deep");
    let kept = serde_json::to_string(&sts_lab.get("control-plane").await.unwrap().spec).unwrap();
    assert!(
        !kept.contains("/srv/other-images"),
        "the template changed: {kept}"
    );
    assert_eq!(
        uid(lab_pods.get("control-plane-0").await.unwrap()),
        before,
        "the control plane was restarted"
    );

    // Nothing was made twice: one namespace per cluster, one Pod per node.
    let lab_ns: Api<Namespace> = Api::all(lab.client().await);
    let ours = ListParams::default().labels("kubectl-inception.dev/tree=deep");
    assert_eq!(lab_ns.list(&ours).await.unwrap().items.len(), 1);
    let (level1, tunnel1) = lab.inner_client(NAME).await;
    let l1_ns: Api<Namespace> = Api::all(level1.clone());
    assert_eq!(l1_ns.list(&ours).await.unwrap().items.len(), 1);
    let l1_pods: Api<Pod> = Api::namespaced(level1.clone(), "inception-deep-0");
    assert_eq!(
        l1_pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let sts: Api<StatefulSet> = Api::namespaced(level1.clone(), "inception-deep-0");
    assert_eq!(
        sts.list(&ListParams::default()).await.unwrap().items.len(),
        2,
        "a control plane and workers"
    );
    drop(tunnel1);
    let volumes = restart::claims_bound(
        &lab,
        "inception-deep",
        &["control-plane-0", "workers-0", "workers-1"],
    )
    .await;

    // `tree` walks both levels and finds each level's own record.
    let t = tree(&lab);
    let top = &t["clusters"][0];
    let child = &top["children"][0];
    assert_eq!(top["path"], "deep");
    assert_eq!(top["reachable"], "yes", "{t}");
    assert_eq!(top["nodes"], "3/3", "{t}");
    assert_eq!(child["path"], "deep/0");
    assert_eq!(child["reachable"], "yes", "{t}");
    assert_eq!(child["nodes"], "3/3", "{t}");
    assert_eq!(child["version"], lab.fact("LAB_K8S_VERSION"));
    assert_eq!(child["record"]["parent"], "deep");
    assert_eq!(child["record"]["parentNamespace"], "inception-deep-0");
    assert_eq!(top["record"]["children"][0], "deep/0");
    // What each level's node Pods ask of their parent, and use now.
    for c in [top, child] {
        assert_eq!(c["usage"]["cpuRequests"], "300m", "{t}");
        assert_eq!(c["usage"]["memoryRequests"], "768Mi", "{t}");
        assert!(c["usage"]["memoryInUse"].is_string(), "{t}");
    }
    let table = lab.ok(&["tree"]);
    assert!(table.contains("  deep/0"), "{table}");

    // Networks: level 2 overlaps neither level 1 nor the lab.
    let level2: ipnet::IpNet = child["podCIDR"].as_str().unwrap().parse().unwrap();
    let level1_pods: ipnet::IpNet = top["podCIDR"].as_str().unwrap().parse().unwrap();
    let level1_svc: ipnet::IpNet = top["serviceCIDR"].as_str().unwrap().parse().unwrap();
    let lab_pods: ipnet::IpNet = lab.fact("LAB_POD_CIDR").parse().unwrap();
    let lab_svc: ipnet::IpNet = lab.fact("LAB_SERVICE_CIDR").parse().unwrap();
    for other in [level1_pods, level1_svc, lab_pods, lab_svc] {
        assert!(
            !other.contains(&level2.network()) && !level2.contains(&other.network()),
            "{level2} overlaps {other}"
        );
    }

    // The smoke test at level 2; its Pod's IP is in level 2's pod CIDR.
    // Level 2's node Pods sit on different level-1 nodes (spread), so its
    // pod traffic, Services and DNS cross level 1's network: the overlay.
    let (level1, tunnel1) = lab.inner_client(NAME).await;
    let hosts: std::collections::BTreeSet<String> =
        Api::<Pod>::namespaced(level1.clone(), "inception-deep-0")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.spec?.node_name)
            .collect();
    assert_eq!(
        hosts.len(),
        2,
        "level 2's node Pods share one level-1 node: {hosts:?}"
    );
    let out = lab.ok(&["test", "deep/0", "--keep"]);
    assert!(out.contains("smoke test passed on cluster deep/0"), "{out}");
    for check in [
        "NodePort",
        "pod network",
        "Service",
        "DNS",
        "MTU",
        "volumes",
    ] {
        assert!(
            out.contains(&format!("check {check}: ok")),
            "{check} missing: {out}"
        );
    }
    // The pod network's MTU shrinks by the overlay's 50 bytes a level.
    let mtus = |c: kube::Client| async move {
        Api::<Node>::all(c)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|n| {
                n.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubectl-inception.dev/mtu"))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect::<std::collections::BTreeSet<String>>()
    };
    let l1_mtu = mtus(level1.clone()).await;
    drop(tunnel1);
    let (inner, tunnel) = lab.inner_client("deep/0").await;
    let l2_mtu = mtus(inner.clone()).await;
    assert_eq!(
        l1_mtu.len(),
        1,
        "level 1 nodes disagree on the MTU: {l1_mtu:?}"
    );
    assert_eq!(
        l2_mtu.len(),
        1,
        "level 2 nodes disagree on the MTU: {l2_mtu:?}"
    );
    let l1: u32 = l1_mtu.first().unwrap().parse().unwrap();
    let l2: u32 = l2_mtu.first().unwrap().parse().unwrap();
    assert_eq!(l1 - l2, 50, "level 1 MTU {l1}, level 2 MTU {l2}");
    assert!(out.contains(&format!("{l2}-byte packets cross")), "{out}");
    let t = tree(&lab);
    assert_eq!(t["clusters"][0]["mtu"], l1, "{t}");
    assert_eq!(t["clusters"][0]["children"][0]["mtu"], l2, "{t}");
    let nodes = Api::<Node>::all(inner.clone())
        .list(&ListParams::default())
        .await
        .expect("level 2 answers from here");
    assert_eq!(nodes.items.len(), 3);
    for n in &nodes.items {
        let cidr = inception_tests::pod_cidr(n);
        assert!(
            level2.contains(&cidr),
            "node {:?} has {cidr}",
            n.metadata.name
        );
    }
    let smoke = Api::<Pod>::namespaced(inner, "inception-smoke")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(!smoke.items.is_empty());
    for p in &smoke.items {
        let ip: std::net::IpAddr = p
            .status
            .as_ref()
            .unwrap()
            .pod_ip
            .as_ref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(level2.contains(&ip), "smoke Pod IP {ip} outside {level2}");
    }
    drop(tunnel);

    restart::control_plane_pod_deleted(&lab, || tree(&lab)).await;

    // connect: a command against level 2, then a context merged into a
    // kubeconfig of ours, which down removes.
    let kc_dir = std::env::temp_dir().join(format!("inception-deep-kc-{}", std::process::id()));
    std::fs::create_dir_all(&kc_dir).unwrap();
    let user_kc = kc_dir.join("config");
    std::fs::copy(&lab.kubeconfig, &user_kc).unwrap();
    let kubectl = format!("{}/kubectl", lab.fact("LAB_BIN_DIR"));
    let o = std::process::Command::new(&lab.bin)
        .args([
            "--kubeconfig",
            user_kc.to_str().unwrap(),
            "connect",
            "deep/0",
            "--",
        ])
        .args([kubectl.as_str(), "get", "nodes", "-o", "name"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
    let code = std::process::Command::new(&lab.bin)
        .args([
            "--kubeconfig",
            user_kc.to_str().unwrap(),
            "connect",
            "deep",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .status()
        .unwrap();
    assert_eq!(
        code.code(),
        Some(3),
        "connect passes the command's exit code on"
    );
    let mut hold = std::process::Command::new(&lab.bin)
        .args([
            "--kubeconfig",
            user_kc.to_str().unwrap(),
            "connect",
            "deep/0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&user_kc)
        .unwrap()
        .contains("inception-deep-0")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "context not merged"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = std::process::Command::new(&kubectl)
        .args([
            "--kubeconfig",
            user_kc.to_str().unwrap(),
            "--context",
            "inception-deep-0",
            "get",
            "nodes",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Stopped as a terminal or a service manager stops it (SIGTERM), a
    // second connect removes the context it added and leaves the other.
    let mut top = std::process::Command::new(&lab.bin)
        .args(["--kubeconfig", user_kc.to_str().unwrap(), "connect", "deep"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let has = |name: &str| {
        kube::config::Kubeconfig::read_from(&user_kc)
            .unwrap()
            .contexts
            .iter()
            .any(|c| c.name == name)
    };
    let start = Instant::now();
    while !has("inception-deep") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "context inception-deep not merged"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &top.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    top.wait().unwrap();
    assert!(
        !has("inception-deep") && has("inception-deep-0"),
        "after SIGTERM, connect removed its own context only"
    );
    // Killed outright (SIGKILL), connect leaves its context: down removes it.
    hold.kill().unwrap();
    hold.wait().unwrap();

    // One down removes both levels and the merged context; nothing is left.
    let uids = lab.node_pod_uids("inception-deep").await;
    assert_eq!(uids.len(), 3);
    let out = lab.ok(&["--kubeconfig", user_kc.to_str().unwrap(), "down", NAME]);
    assert!(out.contains("context inception-deep-0 removed"), "{out}");
    assert!(
        !std::fs::read_to_string(&user_kc)
            .unwrap()
            .contains("inception-deep")
    );
    assert!(lab_ns.get_opt("inception-deep").await.unwrap().is_none());
    lab.assert_nothing_left("inception-deep", &uids);
    let start = Instant::now();
    while let Some(left) = volumes.iter().find(|d| d.exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the claim's directory {} is left",
            left.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.assert_no_clusters();
    std::fs::remove_dir_all(&kc_dir).unwrap();
}
