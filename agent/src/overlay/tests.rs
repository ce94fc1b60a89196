use super::*;
use nesting::node::{NodeView, peers};

fn view(name: &str, cidr: &str, ip: &str) -> NodeView {
    NodeView {
        name: name.into(),
        pod_cidr: Some(cidr.parse().unwrap()),
        ip: Some(ip.parse().unwrap()),
    }
}

fn set(v: &[NodeView]) -> BTreeSet<Peer> {
    peers(v, "me").into_iter().collect()
}

#[test]
fn device_is_made_on_the_link_with_its_mtu_and_mac() {
    let link = Link {
        name: "eth0".into(),
        ip: "10.1.0.7".parse().unwrap(),
        mtu: 1450,
    };
    let c = create_commands(&link);
    assert_eq!(
        c[1].join(" "),
        "ip link add inception.vx type vxlan id 1 dstport 8472 local 10.1.0.7 dev eth0 nolearning"
    );
    assert_eq!(
        c[2].join(" "),
        "ip link set inception.vx address 0e:1c:0a:01:00:07 mtu 1400 up"
    );
    assert_eq!(
        own_commands(&"10.3.1.0/24".parse().unwrap())[0].join(" "),
        "ip addr replace 10.3.1.0/32 dev inception.vx"
    );
}

#[test]
fn new_peers_get_fdb_neighbour_and_route() {
    let want = set(&[view("a", "10.3.1.0/24", "10.1.0.8")]);
    let c = sync_commands(&BTreeSet::new(), &want);
    let c: Vec<String> = c.iter().map(|c| c.join(" ")).collect();
    assert_eq!(
        c,
        [
            "bridge fdb replace 0e:1c:0a:01:00:08 dev inception.vx dst 10.1.0.8 self permanent",
            "ip neigh replace 10.3.1.0 lladdr 0e:1c:0a:01:00:08 dev inception.vx nud permanent",
            "ip route replace 10.3.1.0/24 via 10.3.1.0 dev inception.vx onlink",
        ]
    );
    assert!(sync_commands(&want, &want).is_empty());
}

#[test]
fn a_peer_that_moved_is_removed_then_added() {
    let have = set(&[view("a", "10.3.1.0/24", "10.1.0.8")]);
    let want = set(&[view("a", "10.3.1.0/24", "10.1.0.9")]);
    let c: Vec<String> = sync_commands(&have, &want)
        .iter()
        .map(|c| c.join(" "))
        .collect();
    assert_eq!(c.len(), 6);
    assert!(c[0].starts_with("ip route del 10.3.1.0/24"));
    assert!(c[2].contains("dst 10.1.0.8"));
    assert!(c[3].contains("dst 10.1.0.9"));
}
