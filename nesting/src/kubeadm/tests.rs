use super::*;

fn networks() -> Networks {
    crate::cidr::allocate(&crate::cidr::CidrRequest::default(), 1)
        .unwrap()
        .remove(0)
}

fn render_for(version: &str, schedulable: bool) -> KubeadmConfig {
    let n = networks();
    let sans = vec![
        "apiserver".to_string(),
        "apiserver.inception-lab".to_string(),
    ];
    render(&KubeadmInput {
        version: version.parse().unwrap(),
        cluster_name: "lab",
        control_plane_endpoint: "apiserver.inception-lab.svc:6443",
        networks: &n,
        cluster_domain: "cluster.local",
        cert_sans: &sans,
        discovery_hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        node_labels: "kubectl-inception.dev/path=lab",
        schedulable_control_plane: schedulable,
    })
    .unwrap()
}

fn docs(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

#[test]
fn api_version_follows_release() {
    for (v, api) in [
        ("v1.20.2", "kubeadm.k8s.io/v1beta2"),
        ("v1.25.0", "kubeadm.k8s.io/v1beta3"),
        ("v1.37.0", "kubeadm.k8s.io/v1beta4"),
    ] {
        let c = render_for(v, false);
        let init = docs(&c.init);
        assert_eq!(init.len(), 4);
        assert_eq!(init[0]["apiVersion"], api);
        assert_eq!(init[1]["apiVersion"], api);
        assert_eq!(init[1]["kubernetesVersion"], v);
        assert_eq!(docs(&c.join)[0]["apiVersion"], api);
    }
}

#[test]
fn extra_args_are_a_map_before_v1beta4_and_a_list_after() {
    let old = docs(&render_for("v1.30.0", false).init);
    assert_eq!(
        old[0]["nodeRegistration"]["kubeletExtraArgs"]["node-labels"],
        "kubectl-inception.dev/path=lab"
    );
    assert_eq!(
        old[1]["controllerManager"]["extraArgs"]["controllers"],
        NO_NODE_IPAM
    );
    let new = docs(&render_for("v1.31.0", false).init);
    assert_eq!(
        new[0]["nodeRegistration"]["kubeletExtraArgs"][0],
        json!({"name": "node-labels", "value": "kubectl-inception.dev/path=lab"})
    );
    assert_eq!(
        new[1]["controllerManager"]["extraArgs"][0],
        json!({"name": "controllers", "value": NO_NODE_IPAM})
    );
}

#[test]
fn networks_proxy_and_kubelet_settings() {
    let n = networks();
    let init = docs(&render_for("v1.20.2", false).init);
    assert_eq!(init[1]["networking"]["podSubnet"], n.pod_cidr.to_string());
    assert_eq!(
        init[1]["networking"]["serviceSubnet"],
        n.service_cidr.to_string()
    );
    assert_eq!(
        init[1]["controlPlaneEndpoint"],
        "apiserver.inception-lab.svc:6443"
    );
    assert_eq!(init[2]["failSwapOn"], false);
    assert_eq!(init[2]["clusterDNS"][0], n.dns_ip.to_string());
    assert_eq!(init[3]["iptables"]["masqueradeAll"], true);
    assert_eq!(init[3]["conntrack"]["maxPerCore"], 0);
    assert_eq!(init[0]["bootstrapTokens"][0]["token"], TOKEN_PLACEHOLDER);
    assert_eq!(
        init[0]["nodeRegistration"]["criSocket"],
        "/run/containerd/containerd.sock"
    );
    assert!(init[0]["nodeRegistration"].get("taints").is_none());
    let join = docs(&render_for("v1.20.2", false).join);
    assert_eq!(
        join[0]["discovery"]["bootstrapToken"]["token"],
        TOKEN_PLACEHOLDER
    );
}

#[test]
fn control_plane_schedulable_without_workers() {
    let init = docs(&render_for("v1.37.0", true).init);
    assert_eq!(init[0]["nodeRegistration"]["taints"], json!([]));
    assert_eq!(
        init[0]["nodeRegistration"]["criSocket"],
        "unix:///run/containerd/containerd.sock"
    );
}

#[test]
fn snapshot_v1_20() {
    let c = render_for("v1.20.2", false);
    insta::assert_snapshot!("init_v1_20", c.init);
    insta::assert_snapshot!("join_v1_20", c.join);
}

#[test]
fn fail_cgroup_v1_only_where_kubelet_knows_it() {
    for (v, has) in [
        ("v1.20.2", false),
        ("v1.30.9", false),
        ("v1.31.0", true),
        ("v1.37.0", true),
    ] {
        let c = render_for(v, false);
        for kubelet in [&docs(&c.init)[2], &docs(&c.join)[1]] {
            assert_eq!(kubelet["kind"], "KubeletConfiguration");
            match has {
                true => assert_eq!(kubelet["failCgroupV1"], false, "{v}"),
                false => assert!(kubelet.get("failCgroupV1").is_none(), "{v}"),
            }
        }
    }
}

#[test]
fn snapshot_v1_22() {
    let c = render_for("v1.22.0", false);
    insta::assert_snapshot!("init_v1_22", c.init);
    insta::assert_snapshot!("join_v1_22", c.join);
}

#[test]
fn snapshot_v1_30() {
    let c = render_for("v1.30.0", false);
    insta::assert_snapshot!("init_v1_30", c.init);
    insta::assert_snapshot!("join_v1_30", c.join);
}

#[test]
fn snapshot_v1_31() {
    let c = render_for("v1.31.0", false);
    insta::assert_snapshot!("init_v1_31", c.init);
    insta::assert_snapshot!("join_v1_31", c.join);
}

#[test]
fn snapshot_v1_37() {
    let c = render_for("v1.37.0", false);
    insta::assert_snapshot!("init_v1_37", c.init);
    insta::assert_snapshot!("join_v1_37", c.join);
}
