use super::*;
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

use crate::ranges::overlaps;

#[test]
fn nodes_take_the_pod_cidr_in_order() {
    let v4 = node_cidrs(&net("10.4.0.0/16"));
    assert_eq!(v4.len(), 256);
    assert_eq!(v4[0], net("10.4.0.0/24"));
    assert_eq!(v4[1], net("10.4.1.0/24"));
    assert_eq!(v4[255], net("10.4.255.0/24"));
    assert_eq!(node_cidrs(&net("10.4.7.0/24")), [net("10.4.7.0/24")]);
    let v6 = node_cidrs(&net("fd00:0:0:100::/56"));
    assert_eq!((v6.len(), v6[1]), (256, net("fd00:0:0:101::/64")));
    assert_eq!(node_cidrs(&net("10.0.0.0/8")).len(), MAX_NODES);
}

#[test]
fn clashes_name_the_range_and_where_it_was_found() {
    let n = allocate(&CidrRequest::default(), 1).unwrap().remove(0);
    assert!(clashes(&n, &[(net("192.168.0.0/16"), "x".into())], &[]).is_empty());
    let used = [(net("10.0.0.0/8"), "node podCIDR".to_string())];
    let c = clashes(&n, &used, &["10.0.0.7".parse().unwrap()]);
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(c[0].contains("overlaps 10.0.0.0/8 (node podCIDR)"), "{c:?}");
    assert!(c[1].contains("holds node address 10.0.0.7"), "{c:?}");
}

#[test]
fn default_pool_carves_cluster_by_cluster() {
    let n = allocate(&CidrRequest::default(), 3).unwrap();
    assert_eq!(n[0].pod_cidr, net("10.0.0.0/16"));
    assert_eq!(n[0].service_cidr, net("10.1.0.0/20"));
    // Later service CIDRs fill the /16 the first one opened.
    assert_eq!(n[1].pod_cidr, net("10.2.0.0/16"));
    assert_eq!(n[1].service_cidr, net("10.1.16.0/20"));
    assert_eq!(n[2].pod_cidr, net("10.3.0.0/16"));
    assert_eq!(n[2].service_cidr, net("10.1.32.0/20"));
    assert_eq!(n[0].kubernetes_service_ip.to_string(), "10.1.0.1");
    assert_eq!(n[0].dns_ip.to_string(), "10.1.0.10");
}

#[test]
fn skips_parent_ranges_and_node_ips() {
    let req = CidrRequest {
        exclude: vec![net("10.0.0.0/15"), net("10.96.0.0/12")],
        node_ips: vec!["10.2.3.4".parse().unwrap()],
        ..CidrRequest::default()
    };
    let n = allocate(&req, 2).unwrap();
    assert_eq!(n[0].pod_cidr, net("10.3.0.0/16"));
    assert_eq!(n[1].pod_cidr, net("10.4.0.0/16"));
    // The node IP only blocks 10.2.0.0/20: services fit beside it.
    assert_eq!(n[0].service_cidr, net("10.2.16.0/20"));
}

#[test]
fn too_small_pool_says_how_many_fit() {
    let req = CidrRequest {
        pools: vec![net("192.168.0.0/16")],
        pod_prefix: Some(18),
        service_prefix: Some(24),
        ..CidrRequest::default()
    };
    // 4 x /18 fill the /16: 3 pods + 3 services (one /18 for services) fit.
    let err = allocate(&req, 5).unwrap_err().to_string();
    assert!(err.contains("holds 3 clusters"), "{err}");
    assert!(err.contains("needs 5"), "{err}");
    assert!(allocate(&req, 3).is_ok());
}

#[test]
fn prefix_and_family_errors() {
    let big = CidrRequest {
        pools: vec![net("10.0.0.0/20")],
        ..CidrRequest::default()
    };
    assert!(
        allocate(&big, 1)
            .unwrap_err()
            .to_string()
            .contains("larger than every pool")
    );
    let mixed = CidrRequest {
        pools: vec![net("10.0.0.0/8"), net("fd00::/8")],
        ..CidrRequest::default()
    };
    assert!(
        allocate(&mixed, 1)
            .unwrap_err()
            .to_string()
            .contains("dual-stack")
    );
    let range = CidrRequest {
        service_prefix: Some(8),
        ..CidrRequest::default()
    };
    assert!(
        allocate(&range, 1)
            .unwrap_err()
            .to_string()
            .contains("--service-prefix /8")
    );
    let none = CidrRequest {
        pools: vec![],
        ..CidrRequest::default()
    };
    assert!(allocate(&none, 1).is_err());
}

#[test]
fn parse_cidr_errors_name_the_flag() {
    let e = parse_cidr("--exclude", "10.0.0.1/8")
        .unwrap_err()
        .to_string();
    assert!(e.contains("--exclude") && e.contains("10.0.0.0/8"), "{e}");
    let e = parse_cidr("--cidr-pool", "ten/8").unwrap_err().to_string();
    assert!(e.contains("--cidr-pool") && e.contains("ten/8"), "{e}");
}

#[test]
fn ipv6_plans() {
    let req = CidrRequest {
        pools: vec![net("fd00:10::/32")],
        ..CidrRequest::default()
    };
    let n = allocate(&req, 2).unwrap();
    assert_eq!(n[0].pod_cidr, net("fd00:10::/56"));
    assert_eq!(n[0].service_cidr, net("fd00:10:0:100::/112"));
    assert_eq!(n[1].pod_cidr, net("fd00:10:0:200::/56"));
    assert_eq!(n[0].kubernetes_service_ip.to_string(), "fd00:10:0:100::1");
    assert_eq!(n[0].dns_ip.to_string(), "fd00:10:0:100::a");
}

#[test]
fn deterministic() {
    let req = CidrRequest {
        exclude: vec![net("10.20.0.0/14")],
        ..CidrRequest::default()
    };
    assert_eq!(allocate(&req, 40).unwrap(), allocate(&req, 40).unwrap());
}

/// A pool clear of the special ranges pools may not touch: one that would
/// touch them moves into 10.0.0.0/8 (fd00::/8 for IPv6).
fn usable(net: IpNet) -> IpNet {
    if unusable(&net).is_none() {
        return net;
    }
    match net {
        IpNet::V4(v) => {
            let a = u32::from(v.network()) & 0x00ff_ffff | 0x0a00_0000;
            IpNet::V4(
                Ipv4Net::new(a.into(), v.prefix_len().max(8))
                    .unwrap()
                    .trunc(),
            )
        }
        IpNet::V6(v) => {
            let a = u128::from(v.network()) & !(0xff << 120) | (0xfd << 120);
            IpNet::V6(
                Ipv6Net::new(a.into(), v.prefix_len().max(8))
                    .unwrap()
                    .trunc(),
            )
        }
    }
}

fn v4_net() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 8u8..=24)
        .prop_map(|(a, p)| usable(IpNet::V4(Ipv4Net::new(a.into(), p).unwrap().trunc())))
}

fn v6_net() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 16u8..=64)
        .prop_map(|(a, p)| usable(IpNet::V6(Ipv6Net::new(a.into(), p).unwrap().trunc())))
}

/// Every block inside a pool, clear of every other block, exclusion and
/// node address.
fn assert_sound(req: &CidrRequest, count: usize, nets: &[Networks]) {
    assert_eq!(nets.len(), count);
    let all: Vec<IpNet> = nets
        .iter()
        .flat_map(|n| [n.pod_cidr, n.service_cidr])
        .collect();
    for (i, a) in all.iter().enumerate() {
        assert!(
            req.pools.iter().any(|p| p.contains(a)),
            "{a} outside the pools"
        );
        for b in &all[i + 1..] {
            assert!(!overlaps(a, b), "{a} overlaps {b}");
        }
        for e in &req.exclude {
            assert!(!overlaps(a, e), "{a} touches exclusion {e}");
        }
        for ip in &req.node_ips {
            assert!(!a.contains(ip), "{a} holds node {ip}");
        }
    }
    for n in nets {
        assert!(n.service_cidr.contains(&n.kubernetes_service_ip));
        assert!(n.service_cidr.contains(&n.dns_ip));
    }
}

/// Sound when it fits; when not, the count it says fits does.
fn check_plan(req: &CidrRequest, count: usize) {
    match allocate(req, count) {
        Ok(nets) => assert_sound(req, count, &nets),
        Err(Error::Pool(PoolError::Full { needs, fits, .. })) => {
            assert_eq!(needs, count);
            assert!(fits < count);
            assert_sound(req, fits, &allocate(req, fits).unwrap());
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn cluster_count(depth: u32, width: u32) -> usize {
    let spec = crate::tree::TreeSpec {
        name: "p".into(),
        depth,
        width,
        workers: 0,
    };
    spec.cluster_count() as usize
}

fn v4_pool(addr: u32, prefix: u8) -> IpNet {
    usable(IpNet::V4(
        Ipv4Net::new(addr.into(), prefix).unwrap().trunc(),
    ))
}

proptest! {
    #[test]
    fn v4_never_overlaps(
        pools in proptest::collection::vec(v4_net(), 1..3),
        exclude in proptest::collection::vec(v4_net(), 0..6),
        node_ips in proptest::collection::vec(any::<u32>(), 0..4),
        pod in 16u8..=24,
        svc in 20u8..=28,
        depth in 1u32..5,
        width in 1u32..4,
    ) {
        let count = crate::tree::TreeSpec { name: "p".into(), depth, width, workers: 0 }.cluster_count() as usize;
        let req = CidrRequest {
            pools: pools.into_iter().map(|p| if p.prefix_len() > 16 { IpNet::V4(Ipv4Net::new(match p { IpNet::V4(v) => v.network(), _ => unreachable!() }, 16).unwrap().trunc()) } else { p }).collect(),
            exclude,
            node_ips: node_ips.into_iter().map(|a| IpAddr::V4(a.into())).collect(),
            pod_prefix: Some(pod),
            service_prefix: Some(svc),
        };
        check_plan(&req, count);
    }

    #[test]
    fn v6_never_overlaps(
        pools in proptest::collection::vec(v6_net(), 1..3),
        exclude in proptest::collection::vec(v6_net(), 0..6),
        pod in 48u8..=64,
        svc in 108u8..=120,
        depth in 1u32..4,
        width in 1u32..4,
    ) {
        let count = crate::tree::TreeSpec { name: "p".into(), depth, width, workers: 0 }.cluster_count() as usize;
        let pools: Vec<IpNet> = pools.into_iter().map(|p| if p.prefix_len() > 40 { IpNet::V6(Ipv6Net::new(match p { IpNet::V6(v) => v.network(), _ => unreachable!() }, 40).unwrap().trunc()) } else { p }).collect();
        let req = CidrRequest { pools, exclude, node_ips: vec![], pod_prefix: Some(pod), service_prefix: Some(svc) };
        check_plan(&req, count);
    }

    /// A pool whose lower half holds every block, exclusions and node
    /// addresses anywhere but there: the tree must be planned.
    #[test]
    fn v4_plans_whatever_has_room(
        addr in any::<u32>(),
        pool_prefix in 8u8..=16,
        exclude in proptest::collection::vec(v4_net(), 0..6),
        node_ips in proptest::collection::vec(any::<u32>(), 0..4),
        pod in 16u8..=24,
        svc in 20u8..=28,
        depth in 1u32..5,
        width in 1u32..4,
    ) {
        let count = cluster_count(depth, width);
        let needed = count as u64 * ((1u64 << (32 - pod)) + (1u64 << (32 - svc)));
        // The smallest prefix whose half holds `needed`.
        let room = 32 - (2 * needed).next_power_of_two().trailing_zeros() as u8;
        let pool = v4_pool(addr, pool_prefix.min(room));
        let IpNet::V4(v4) = pool else { unreachable!() };
        let half = v4_pool(u32::from(v4.network()), pool.prefix_len() + 1);
        let req = CidrRequest {
            pools: vec![pool],
            exclude: exclude.into_iter().filter(|e| !overlaps(e, &half)).collect(),
            node_ips: node_ips
                .into_iter()
                .map(|a| IpAddr::V4(a.into()))
                .filter(|ip| !half.contains(ip))
                .collect(),
            pod_prefix: Some(pod),
            service_prefix: Some(svc),
        };
        let nets = allocate(&req, count);
        prop_assert!(nets.is_ok(), "{:?}", nets.err().map(|e| e.to_string()));
        assert_sound(&req, count, &nets.unwrap());
    }

    /// More clusters than the pool has addresses for: refused, saying a
    /// count that does fit.
    #[test]
    fn v4_refuses_what_has_no_room(
        addr in any::<u32>(),
        pod in 16u8..=24,
        wider in 0u8..=6,
        svc in 20u8..=28,
        extra in 1usize..4,
    ) {
        let pool = v4_pool(addr, pod.saturating_sub(wider).max(8));
        let per_cluster = (1u64 << (32 - pod)) + (1u64 << (32 - svc));
        let capacity = (1u64 << (32 - pool.prefix_len())) / per_cluster;
        let count = capacity as usize + extra;
        let req = CidrRequest {
            pools: vec![pool],
            exclude: vec![],
            node_ips: vec![],
            pod_prefix: Some(pod),
            service_prefix: Some(svc),
        };
        match allocate(&req, count) {
            Err(Error::Pool(PoolError::Full { fits, needs, .. })) => {
                prop_assert_eq!(needs, count);
                prop_assert!(fits as u64 <= capacity);
                assert_sound(&req, fits, &allocate(&req, fits).unwrap());
            }
            other => prop_assert!(false, "{count} clusters in {pool}: {:?}", other.map(|n| n.len())),
        }
    }
}
