use std::collections::BTreeMap;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::Entropy;
use crate::cidr::{self, CidrRequest, Networks};
use crate::ranges::overlaps;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn spec(depth: u32, width: u32) -> TreeSpec {
    TreeSpec {
        name: "lab".into(),
        depth,
        width,
        workers: 1,
    }
}

fn request(depth: u32, width: u32) -> PlanRequest {
    let mut r = PlanRequest::new(spec(depth, width), Entropy::from_system());
    r.version = "v1.20.2".parse().unwrap();
    r
}

/// Networks of a tree carved with `kept` ranges for the paths it names.
fn carve(
    req: &CidrRequest,
    tree: &TreeSpec,
    kept: &BTreeMap<ClusterPath, Networks>,
) -> BTreeMap<ClusterPath, Networks> {
    let paths = tree.paths();
    let keep: Vec<Option<Kept>> = paths
        .iter()
        .map(|p| {
            kept.get(p).map(|n| Kept {
                pod_cidr: n.pod_cidr,
                service_cidr: n.service_cidr,
            })
        })
        .collect();
    let nets = cidr::allocate_keeping(req, &keep).unwrap();
    paths.into_iter().zip(nets).collect()
}

/// No block overlaps another, an exclusion, or leaves the pools.
fn assert_sound(req: &CidrRequest, nets: &BTreeMap<ClusterPath, Networks>) {
    let all: Vec<IpNet> = nets
        .values()
        .flat_map(|n| [n.pod_cidr, n.service_cidr])
        .collect();
    for (i, a) in all.iter().enumerate() {
        assert!(req.pools.iter().any(|p| p.contains(a)), "{a} outside");
        for b in &all[i + 1..] {
            assert!(!overlaps(a, b), "{a} overlaps {b}");
        }
        for e in &req.exclude {
            assert!(!overlaps(a, e), "{a} touches exclusion {e}");
        }
    }
}

#[test]
fn the_root_does_not_depend_on_the_tree_size() {
    let req = CidrRequest::default();
    let root = cidr::allocate(&req, 1).unwrap().remove(0);
    for depth in 1..=4 {
        for width in 1..=3 {
            let n = cidr::allocate(&req, spec(depth, width).paths().len()).unwrap();
            assert_eq!(n[0], root, "depth {depth} width {width}");
        }
    }
    assert_eq!(root.pod_cidr, net("10.0.0.0/16"));
    assert_eq!(root.service_cidr, net("10.1.0.0/20"));
}

#[test]
fn a_deeper_tree_keeps_every_cluster_without_being_told() {
    let req = CidrRequest {
        exclude: vec![net("10.4.0.0/14")],
        ..CidrRequest::default()
    };
    for width in 1..=3 {
        for depth in 1..4 {
            let small = carve(&req, &spec(depth, width), &BTreeMap::new());
            let big = carve(&req, &spec(depth + 1, width), &BTreeMap::new());
            for (path, n) in &small {
                assert_eq!(&big[path], n, "{path} at depth {depth} width {width}");
            }
        }
    }
}

#[test]
fn a_wider_tree_keeps_what_exists_and_overlaps_nothing() {
    let req = CidrRequest::default();
    for (from, to) in [((2, 1), (2, 3)), ((3, 1), (3, 2)), ((2, 2), (4, 3))] {
        let old = carve(&req, &spec(from.0, from.1), &BTreeMap::new());
        let new = carve(&req, &spec(to.0, to.1), &old);
        for (path, n) in &old {
            assert_eq!(&new[path], n, "{path}: {from:?} -> {to:?}");
        }
        assert_eq!(new.len(), spec(to.0, to.1).paths().len());
        assert_sound(&req, &new);
    }
    // Without keeping, lab/0/0 would move: it is not last in the wider order.
    let old = carve(&req, &spec(3, 1), &BTreeMap::new());
    let fresh = carve(&req, &spec(3, 2), &BTreeMap::new());
    let p: ClusterPath = "lab/0/0".parse().unwrap();
    assert_ne!(old[&p], fresh[&p]);
}

#[test]
fn kept_ranges_that_do_not_fit_the_request_are_carved_anew() {
    let req = CidrRequest::default();
    let fresh = cidr::allocate(&req, 2).unwrap();
    let kept = |pod: &str, svc: &str| {
        Some(Kept {
            pod_cidr: net(pod),
            service_cidr: net(svc),
        })
    };
    for bad in [
        kept("10.0.0.0/18", "10.1.0.0/20"),      // another pod prefix
        kept("172.16.0.0/16", "10.1.0.0/20"),    // outside the pool
        kept("10.0.0.0/16", "10.0.16.0/20"),     // over itself
        kept("fd00::/56", "fd00:0:0:100::/112"), // another family
    ] {
        let n = cidr::allocate_keeping(&req, &[bad, None]).unwrap();
        assert_eq!(n, fresh, "{bad:?}");
    }
    // Two kept pairs over each other: the first keeps its ranges.
    let a = kept("10.8.0.0/16", "10.9.0.0/20");
    let n = cidr::allocate_keeping(&req, &[a, a]).unwrap();
    assert_eq!(n[0].pod_cidr, net("10.8.0.0/16"));
    assert_eq!(n[1].pod_cidr, net("10.0.0.0/16"));
    let over = CidrRequest {
        exclude: vec![net("10.9.0.0/16")],
        ..CidrRequest::default()
    };
    let n = cidr::allocate_keeping(&over, &[a]).unwrap();
    assert_eq!(n[0].pod_cidr, net("10.0.0.0/16"));
}

/// Digests of clusters as found: those of `plan` at `paths`.
fn found(plan: &Plan, paths: &[&str]) -> Found {
    paths
        .iter()
        .map(|p| {
            let c = plan.find(&p.parse().unwrap()).unwrap();
            (c.path.clone(), Some(plan.digest(c)))
        })
        .collect()
}

#[test]
fn up_depth_2_after_depth_1_keeps_the_root() {
    let one = Plan::new(&request(1, 1)).unwrap();
    let two = plan_around(&request(2, 1), &found(&one, &["lab"])).unwrap();
    assert_eq!(two.clusters.len(), 2);
    assert_eq!(two.clusters[0].networks, one.clusters[0].networks);
    // The same as planning depth 2 from scratch.
    let fresh = Plan::new(&request(2, 1)).unwrap();
    assert_eq!(two.clusters[1].networks, fresh.clusters[1].networks);
    // Wider then: lab/0 and lab/0/0 stay where they are.
    let was = plan_around(&request(3, 1), &found(&two, &["lab", "lab/0"])).unwrap();
    let all = ["lab", "lab/0", "lab/0/0"];
    let wide = plan_around(&request(3, 3), &found(&was, &all)).unwrap();
    for p in all {
        let p = p.parse().unwrap();
        assert_eq!(
            wide.find(&p).unwrap().networks,
            was.find(&p).unwrap().networks
        );
    }
    assert_eq!(wide.clusters.len(), 13);
}

#[test]
fn a_tree_carved_the_old_way_converges() {
    // Older versions carved every pod CIDR, then every service CIDR.
    let old: Found = [
        ("lab", "v1.20.2 pods=10.0.0.0/16 services=10.3.0.0/20"),
        ("lab/0", "v1.20.2 pods=10.1.0.0/16 services=10.3.16.0/20"),
        ("lab/1", "v1.20.2 pods=10.2.0.0/16 services=10.3.32.0/20"),
    ]
    .into_iter()
    .map(|(p, d)| (p.parse().unwrap(), Some(d.to_string())))
    .collect();
    let again = plan_around(&request(2, 2), &old).unwrap();
    for c in &again.clusters {
        assert_eq!(Some(&again.digest(c)), old[&c.path].as_ref());
    }
    let deeper = plan_around(&request(3, 2), &old).unwrap();
    let nets: BTreeMap<ClusterPath, Networks> = deeper
        .clusters
        .iter()
        .map(|c| (c.path.clone(), c.networks.clone()))
        .collect();
    assert_sound(&CidrRequest::default(), &nets);
    assert_eq!(nets.len(), 7);
}

#[test]
fn another_plan_for_an_existing_cluster_is_refused() {
    let one = Plan::new(&request(2, 1)).unwrap();
    let have = found(&one, &["lab", "lab/0"]);
    let mut other = request(2, 1);
    other.version = "v1.21.0".parse().unwrap();
    let mut pool = request(2, 1);
    pool.cidr.pools = vec![net("172.16.0.0/12")];
    let mut prefix = request(2, 1);
    prefix.cidr.pod_prefix = Some(18);
    for req in [other, pool, prefix] {
        let e = plan_around(&req, &have).unwrap_err().to_string();
        assert!(
            e.starts_with("cluster lab exists with a different plan"),
            "{e}"
        );
        assert!(e.contains("nothing was changed"), "{e}");
        assert!(e.contains("kubectl inception down lab"), "{e}");
    }
    // A cluster with no digest is not compared.
    let mut bare = have.clone();
    bare.insert("lab".parse().unwrap(), None);
    bare.remove(&"lab/0".parse().unwrap());
    assert!(plan_around(&request(2, 1), &bare).is_ok());
}

#[test]
fn a_smaller_tree_is_refused_naming_what_to_remove() {
    let all: Vec<ClusterPath> = spec(3, 2).paths();
    let names = |v: Vec<ClusterPath>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(beyond(&spec(2, 2), &all)),
        ["lab/0/0", "lab/0/1", "lab/1/0", "lab/1/1"]
    );
    assert_eq!(names(beyond(&spec(3, 1), &all)), ["lab/0/1", "lab/1"]);
    assert_eq!(names(beyond(&spec(1, 1), &all)), ["lab/0", "lab/1"]);
    assert!(beyond(&spec(3, 2), &all).is_empty());
    assert!(beyond(&spec(4, 5), &all).is_empty());

    let plan = Plan::new(&request(3, 2)).unwrap();
    let have: Found = plan
        .clusters
        .iter()
        .map(|c| (c.path.clone(), Some(plan.digest(c))))
        .collect();
    let e = plan_around(&request(2, 1), &have).unwrap_err().to_string();
    assert!(
        e.starts_with("tree lab has clusters beyond --depth 2 --width 1: lab/0/0, lab/0/1, lab/1."),
        "{e}"
    );
    assert!(e.contains("Nothing was changed"), "{e}");
    assert!(e.contains("`kubectl inception down lab/1`"), "{e}");
    assert!(plan_around(&request(3, 2), &have).is_ok());
}

proptest! {
    /// Any growth keeps every existing cluster's ranges and overlaps nothing.
    #[test]
    fn growing_keeps_every_cluster(
        depth in 1u32..4,
        width in 1u32..4,
        more_depth in 0u32..2,
        more_width in 0u32..3,
        exclude in proptest::collection::vec((0u8..=255, 14u8..=20), 0..4),
    ) {
        let req = CidrRequest {
            exclude: exclude
                .into_iter()
                .map(|(b, p)| IpNet::new(std::net::Ipv4Addr::new(10, b, 0, 0).into(), p).unwrap().trunc())
                .collect(),
            ..CidrRequest::default()
        };
        let old = carve(&req, &spec(depth, width), &BTreeMap::new());
        let new = carve(&req, &spec(depth + more_depth, width + more_width), &old);
        for (path, n) in &old {
            prop_assert_eq!(&new[path], n);
        }
        assert_sound(&req, &new);
    }
}
