//! A level that really boots: `up` on the lab with a node returns when the
//! inner control plane and worker are Ready; the inner API answers from this
//! machine; the smoke test passes; `down` leaves nothing on the node.

use inception_tests::Lab;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;

#[tokio::test]
async fn a_level_boots_answers_and_goes_away() {
    let lab = Lab::with_node();
    lab.ok(&["down", "boot"]);
    let out = lab.up_booting("boot", &["--workers", "1"]);
    assert!(out.contains("cluster boot Ready: 2 nodes"), "{out}");

    // The node Pods run without a ServiceAccount token.
    let parent = lab.client().await;
    let pods: Api<Pod> = Api::namespaced(parent.clone(), "inception-boot");
    let node_pods = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(node_pods.len(), 2);
    let uids: Vec<String> = node_pods
        .iter()
        .map(|p| p.metadata.uid.clone().unwrap())
        .collect();
    for p in &node_pods {
        let c = &p.spec.as_ref().unwrap().containers[0];
        let mounts = c.volume_mounts.clone().unwrap_or_default();
        assert!(
            mounts
                .iter()
                .all(|m| !m.mount_path.contains("serviceaccount")),
            "token mounted in {:?}",
            p.metadata.name
        );
    }

    // The bootstrap token stays out of the node Pods' logs (kubeadm prints it).
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(parent.clone(), "inception-boot");
    let token = secrets.get("bootstrap-token").await.unwrap().data.unwrap()["token"].clone();
    let token = String::from_utf8(token.0).unwrap();
    assert_eq!(token.len(), 23, "a kubeadm token");
    for p in &node_pods {
        let name = p.metadata.name.clone().unwrap();
        let logs = pods.logs(&name, &Default::default()).await.unwrap();
        assert!(
            logs.contains("inception-bootstrap: kubeadm"),
            "{name} logs: {logs}"
        );
        let secret = &token[7..];
        assert!(!logs.contains(secret), "the token is in the logs of {name}");
    }

    // The inner API from this machine, through the kubeconfig's tunnel.
    let (inner, tunnel) = lab.inner_client("boot").await;
    let nodes: Api<Node> = Api::all(inner.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .expect("the inner apiserver answers through the tunnel");
    assert_eq!(list.items.len(), 2);
    // Node pod CIDRs lie inside the planned pod CIDR.
    let tree: serde_json::Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
    let planned: ipnet::IpNet = tree["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "boot")
        .unwrap()["podCIDR"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for n in &list.items {
        let cidr = inception_tests::pod_cidr(n);
        assert!(planned.contains(&cidr), "{cidr} outside {planned}");
    }
    drop(tunnel);

    // The same through a tunnel in the background: `kubeconfig --detach`
    // returns once the file is written, `disconnect` stops the tunnel.
    let file = std::env::temp_dir().join(format!("inception-boot-{}.detached", std::process::id()));
    let o = lab.run(&[
        "kubeconfig",
        "boot",
        "--write",
        file.to_str().unwrap(),
        "--detach",
    ]);
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{said}");
    let number = |after: &str| -> u32 {
        said.split(after)
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after {after:?} in {said}"))
    };
    let (pid, port) = (
        number("(pid "),
        u16::try_from(number("127.0.0.1:")).unwrap(),
    );
    let kc = kube::config::Kubeconfig::read_from(&file).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let detached = kube::Client::try_from(config).unwrap();
    let listed = Api::<Node>::all(detached)
        .list(&ListParams::default())
        .await
        .expect("the inner apiserver answers through the detached tunnel");
    assert_eq!(listed.items.len(), 2);
    let out = lab.ok(&["disconnect", "boot"]);
    assert!(
        out.contains(&format!("(pid {pid}, for {}) stopped", file.display())),
        "{out}"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.is_empty(), "pid {pid} still runs");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open"
    );
    let _ = std::fs::remove_file(&file);

    // The seed's smoke test.
    let out = lab.ok(&["test", "boot"]);
    assert!(out.contains("smoke test passed on cluster boot"), "{out}");

    // Down leaves nothing on the node: no Pods, mounts or rules of the cluster.
    lab.ok(&["down", "boot"]);
    lab.assert_nothing_left("inception-boot", &uids);
    lab.assert_no_clusters();
}
