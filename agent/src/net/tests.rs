use super::*;

const IP_ADDR: &str = r#"[
      {"ifindex":1,"ifname":"lo","mtu":65536,"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
      {"ifindex":2,"ifname":"eth0","mtu":1450,"addr_info":[{"family":"inet","local":"10.1.0.7","prefixlen":24,"scope":"global"},
        {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},
      {"ifindex":3,"ifname":"cni0","mtu":1400,"addr_info":[{"family":"inet","local":"10.3.0.1","prefixlen":24,"scope":"global"}]}
    ]"#;

#[test]
fn link_is_the_interface_holding_the_node_address() {
    let l = Link::from_ip_json(IP_ADDR, Some("10.1.0.7".parse().unwrap())).unwrap();
    assert_eq!(
        l,
        Link {
            name: "eth0".into(),
            ip: "10.1.0.7".parse().unwrap(),
            mtu: 1450
        }
    );
    assert_eq!(l.pod_mtu(), 1400);
    let any = Link::from_ip_json(IP_ADDR, None).unwrap();
    assert_eq!(any.name, "eth0");
    let e = Link::from_ip_json(IP_ADDR, Some("10.9.9.9".parse().unwrap())).unwrap_err();
    assert!(e.to_string().contains("10.9.9.9"), "{e}");
}
