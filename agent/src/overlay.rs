//! The VXLAN overlay between a cluster's node Pods, on flannel's model: one
//! VTEP per node (the device [`node::VXLAN_DEVICE`], its MAC derived from
//! the node's address), and for every other node a route to its podCIDR
//! through its VTEP address, a permanent neighbour entry for that address
//! and an FDB entry sending that MAC to the node's address. Pod traffic
//! then crosses whatever network joins the node Pods, at any depth.

use std::collections::BTreeSet;

use anyhow::Result;
use ipnet::IpNet;
use nesting::node::{self, Peer};

use crate::net::{Link, cmd};

/// What to run, as argument lists: first word the program.
pub type Commands = Vec<Vec<String>>;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Remakes the device: a restarted agent starts from an empty one.
pub fn create_commands(link: &Link) -> Commands {
    let dev = node::VXLAN_DEVICE;
    vec![
        words(&format!("ip link del {dev}")),
        words(&format!(
            "ip link add {dev} type vxlan id {} dstport {} local {} dev {} nolearning",
            node::VXLAN_ID,
            node::VXLAN_PORT,
            link.ip,
            link.name
        )),
        words(&format!(
            "ip link set {dev} address {} mtu {} up",
            node::vtep_mac(link.ip),
            link.pod_mtu()
        )),
    ]
}

/// This node's own VTEP address.
pub fn own_commands(cidr: &IpNet) -> Commands {
    let ip = node::vtep_ip(cidr);
    let len = if ip.is_ipv4() { 32 } else { 128 };
    vec![words(&format!(
        "ip addr replace {ip}/{len} dev {}",
        node::VXLAN_DEVICE
    ))]
}

/// From the peers set up to the peers wanted: removals first.
pub fn sync_commands(have: &BTreeSet<Peer>, want: &BTreeSet<Peer>) -> Commands {
    let dev = node::VXLAN_DEVICE;
    let mut out = Vec::new();
    for p in have.difference(want) {
        out.push(words(&format!("ip route del {} dev {dev}", p.pod_cidr)));
        out.push(words(&format!("ip neigh del {} dev {dev}", p.vtep_ip)));
        out.push(words(&format!(
            "bridge fdb del {} dev {dev} dst {}",
            p.vtep_mac, p.node_ip
        )));
    }
    for p in want.difference(have) {
        out.push(words(&format!(
            "bridge fdb replace {} dev {dev} dst {} self permanent",
            p.vtep_mac, p.node_ip
        )));
        out.push(words(&format!(
            "ip neigh replace {} lladdr {} dev {dev} nud permanent",
            p.vtep_ip, p.vtep_mac
        )));
        out.push(words(&format!(
            "ip route replace {} via {} dev {dev} onlink",
            p.pod_cidr, p.vtep_ip
        )));
    }
    out
}

async fn run_all(commands: &Commands, ignore_first_failure: bool) -> Result<()> {
    for (i, c) in commands.iter().enumerate() {
        let args: Vec<&str> = c[1..].iter().map(String::as_str).collect();
        match cmd(&c[0], &args).await {
            Ok(_) => {}
            Err(_) if ignore_first_failure && i == 0 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The device and the peers it was given.
pub struct Overlay {
    peers: BTreeSet<Peer>,
}

impl Overlay {
    pub async fn create(link: &Link) -> Result<Overlay> {
        // The first command removes a device left by an earlier run.
        run_all(&create_commands(link), true).await?;
        tracing::info!(
            "overlay {} on {} ({}), vtep {}",
            node::VXLAN_DEVICE,
            link.name,
            link.ip,
            node::vtep_mac(link.ip)
        );
        Ok(Overlay {
            peers: BTreeSet::new(),
        })
    }

    pub async fn set_own(&mut self, cidr: &IpNet) -> Result<()> {
        run_all(&own_commands(cidr), false).await
    }

    /// Brings the device's routes, neighbours and FDB to `peers`. What
    /// failed is tried again on the next call.
    pub async fn sync(&mut self, peers: &[Peer]) -> Result<()> {
        let want: BTreeSet<Peer> = peers.iter().cloned().collect();
        if want == self.peers {
            return Ok(());
        }
        let commands = sync_commands(&self.peers, &want);
        // Forget them first: after a failure half way, all is redone.
        let had = std::mem::take(&mut self.peers);
        run_all(&commands, false).await?;
        for p in want.difference(&had) {
            tracing::info!("peer {} via {} ({})", p.pod_cidr, p.node_ip, p.vtep_mac);
        }
        self.peers = want;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
