use super::*;
use std::collections::BTreeMap;

fn n(name: &str, cidr: Option<&str>, ip: Option<&str>) -> NodeView {
    NodeView {
        name: name.into(),
        pod_cidr: cidr.map(|c| c.parse().unwrap()),
        ip: ip.map(|i| i.parse().unwrap()),
    }
}

fn planned() -> Vec<IpNet> {
    ["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect()
}

#[test]
fn control_plane_gets_the_first_and_workers_the_first_free() {
    let nodes = [
        n("w-a", None, None),
        n("cp", None, None),
        n("w-b", Some("10.1.1.0/24"), None),
    ];
    let got = allocations(&nodes, &planned(), "cp");
    assert_eq!(
        got,
        vec![
            ("cp".to_string(), "10.1.0.0/24".parse().unwrap()),
            ("w-a".to_string(), "10.1.2.0/24".parse().unwrap()),
        ]
    );
}

#[test]
fn workers_get_their_own_cidr_when_free() {
    let nodes = [
        n("other", None, None),
        n("workers-1", None, None),
        n("cp", None, None),
        n("workers-0", None, None),
    ];
    let got = allocations(&nodes, &planned(), "cp");
    let of = |name: &str| {
        got.iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.to_string())
    };
    assert_eq!(of("workers-1").as_deref(), Some("10.1.2.0/24"));
    assert_eq!(of("workers-0").as_deref(), Some("10.1.1.0/24"));
    assert_eq!(of("cp").as_deref(), Some("10.1.0.0/24"));
    // No CIDR is left for the node that has no own one.
    assert_eq!(of("other"), None);
    // A worker whose own CIDR is held takes the first free one.
    let nodes = [
        n("workers-0", None, None),
        n("x", Some("10.1.1.0/24"), None),
    ];
    let got = allocations(&nodes, &planned(), "cp");
    assert_eq!(
        got,
        vec![("workers-0".into(), "10.1.2.0/24".parse().unwrap())]
    );
}

#[test]
fn worker_cidr_follows_the_ordinal() {
    assert_eq!(
        worker_cidr("workers-0", &planned()),
        Some("10.1.1.0/24".parse().unwrap())
    );
    assert_eq!(
        worker_cidr("workers-1", &planned()),
        Some("10.1.2.0/24".parse().unwrap())
    );
    for name in [
        "workers-2",
        "workers-",
        "workers-x",
        "workersx-0",
        "cp",
        "workers-18446744073709551615",
    ] {
        assert_eq!(worker_cidr(name, &planned()), None, "{name}");
    }
}

#[test]
fn no_allocation_when_the_list_is_used_up_or_all_have_one() {
    let nodes = [
        n("cp", Some("10.1.0.0/24"), None),
        n("a", Some("10.1.1.0/24"), None),
        n("b", Some("10.1.2.0/24"), None),
        n("c", None, None),
    ];
    assert!(allocations(&nodes, &planned(), "cp").is_empty());
    assert!(allocations(&nodes[..3], &planned(), "cp").is_empty());
}

#[test]
fn two_new_workers_never_share_a_cidr() {
    let nodes = [
        n("cp", Some("10.1.0.0/24"), None),
        n("a", None, None),
        n("b", None, None),
    ];
    let got = allocations(&nodes, &planned(), "cp");
    assert_eq!(got.len(), 2);
    assert_ne!(got[0].1, got[1].1);
}

#[test]
fn peers_are_the_other_complete_nodes() {
    let nodes = [
        n("me", Some("10.1.0.0/24"), Some("192.168.0.2")),
        n("b", Some("10.1.2.0/24"), Some("192.168.7.3")),
        n("a", Some("10.1.1.0/24"), Some("192.168.0.9")),
        n("no-ip", Some("10.1.3.0/24"), None),
        n("no-cidr", None, Some("192.168.0.4")),
    ];
    let p = peers(&nodes, "me");
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].pod_cidr.to_string(), "10.1.1.0/24");
    assert_eq!(p[0].vtep_ip.to_string(), "10.1.1.0");
    assert_eq!(p[0].vtep_mac.to_string(), "0e:1c:c0:a8:00:09");
    assert_eq!(p[1].node_ip.to_string(), "192.168.7.3");
}

#[test]
fn vtep_macs_are_unicast_local_and_distinct() {
    let a = vtep_mac("fd00::1".parse().unwrap());
    let b = vtep_mac("fd00::2".parse().unwrap());
    assert_ne!(a, b);
    for m in [a, b, vtep_mac("10.0.0.1".parse().unwrap())] {
        assert_eq!(m.0[0] & 1, 0, "unicast");
        assert_eq!(m.0[0] & 2, 2, "locally administered");
    }
}

#[test]
fn cluster_mtu_is_the_smallest_published() {
    let node = |mtu: Option<&str>| Node {
        metadata: ObjectMeta {
            annotations: mtu.map(|m| BTreeMap::from([(MTU_ANNOTATION.to_string(), m.to_string())])),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    assert_eq!(
        cluster_mtu(&[node(Some("1450")), node(None), node(Some("1400"))]),
        Some(1400)
    );
    assert_eq!(cluster_mtu(&[node(None), node(Some("x"))]), None);
}

#[test]
fn mtu_shrinks_by_the_overlay_per_level() {
    let v4: IpAddr = "10.0.0.1".parse().unwrap();
    let l1 = pod_mtu(1500, v4);
    let l2 = pod_mtu(l1, v4);
    assert_eq!((l1, l2), (1450, 1400));
    assert_eq!(pod_mtu(1500, "fd00::1".parse().unwrap()), 1430);
}

#[test]
fn cni_config_reads_back_and_does_not_masquerade() {
    for (cidr, default) in [("10.1.2.0/24", "0.0.0.0/0"), ("fd00:1:2::/64", "::/0")] {
        let net: IpNet = cidr.parse().unwrap();
        let conf = cni_config(&net, 1400);
        assert_eq!(read_cni_config(&conf), Some((net, 1400)));
        let v: serde_json::Value = serde_json::from_str(&conf).unwrap();
        assert_eq!(v["plugins"][0]["ipMasq"], false);
        assert_eq!(v["plugins"][0]["ipam"]["routes"][0]["dst"], default);
    }
    assert_eq!(read_cni_config("{}"), None);
}

#[test]
fn agent_config_round_trips_and_ignores_unknown_keys() {
    let c = AgentConfig {
        cluster_pod_cidr: "10.1.0.0/16".parse().unwrap(),
        service_cidr: "10.2.0.0/20".parse().unwrap(),
        node_pod_cidrs: planned(),
        dns_ip: "10.2.0.10".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
        dns: Dns::Coredns,
        apiserver: Some("apiserver.inception-lab.svc:6443".into()),
    };
    assert_eq!(AgentConfig::from_json(&c.to_json()).unwrap(), c);
    // From an older plugin: no apiserver.
    let mut old: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    old.as_object_mut().unwrap().remove("apiserver");
    assert_eq!(
        AgentConfig::from_json(&old.to_string()).unwrap().apiserver,
        None
    );
    // A newer plugin's keys are ignored; a missing one is an error.
    let mut v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    v["fromTheFuture"] = json!(1);
    assert_eq!(AgentConfig::from_json(&v.to_string()).unwrap(), c);
    v.as_object_mut().unwrap().remove("dnsIp");
    assert!(AgentConfig::from_json(&v.to_string()).is_err());
}

#[test]
fn dns_service_has_the_planned_ip_and_the_nodes_as_endpoints() {
    let svc = dns_service("10.2.0.10".parse().unwrap());
    let spec = svc.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.2.0.10"));
    assert!(spec.selector.is_none(), "endpoints are kept by the agent");
    let ports = spec.ports.unwrap();
    assert_eq!(ports.len(), 2);
    let nodes = [
        n("b", None, Some("192.168.0.9")),
        n("a", None, Some("192.168.0.2")),
        n("c", None, None),
    ];
    let ep = dns_endpoints(&nodes);
    let addrs: Vec<String> = ep.subsets.unwrap()[0]
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.ip.clone())
        .collect();
    assert_eq!(addrs, ["192.168.0.2", "192.168.0.9"]);
    assert!(dns_endpoints(&[]).subsets.is_none());
    let (role, binding) = agent_rbac();
    assert_eq!(binding.role_ref.name, role.metadata.name.unwrap());
    assert_eq!(binding.subjects.unwrap()[0].name, "system:nodes");
}

#[test]
fn masquerade_keeps_pod_to_pod_sources() {
    let r = masquerade_rules(&"10.1.0.0/16".parse().unwrap());
    assert_eq!(r[0], ["-d", "10.1.0.0/16", "-j", "RETURN"]);
    assert_eq!(r.last().unwrap(), &["-j", "MASQUERADE"]);
}
