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
mod tests;
