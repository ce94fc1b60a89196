use super::*;

#[test]
fn capacity_follows_the_prefix() {
    assert_eq!(node_capacity(&"10.0.0.0/16".parse().unwrap()), 256);
    assert_eq!(node_capacity(&"10.0.0.0/24".parse().unwrap()), 1);
    assert_eq!(node_capacity(&"10.0.0.0/22".parse().unwrap()), 4);
    assert_eq!(node_capacity(&"fd00::/56".parse().unwrap()), 256);
    assert_eq!(node_capacity(&"::/0".parse().unwrap()), u64::MAX);
}

#[test]
fn too_many_workers_are_refused_with_what_fits() {
    let small: IpNet = "10.1.0.0/22".parse().unwrap();
    let path: crate::ClusterPath = "lab/0".parse().unwrap();
    assert!(check_workers(&path, &small, 3).is_ok());
    let e = check_workers(&path, &small, 4).unwrap_err();
    assert!(
        matches!(e, crate::Error::TooManyWorkers { capacity: 4, .. }),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.contains("lab/0") && e.contains("at most 3 workers"),
        "{e}"
    );
}

#[test]
fn nodes_without_their_pod_are_stale() {
    let nodes = ["control-plane-0", "workers-abc-1", "workers-abc-2"];
    let pods = ["control-plane-0", "Workers-abc-2", "workers-abc-3"];
    assert_eq!(stale_nodes(nodes, pods), ["workers-abc-1"]);
    assert!(stale_nodes(nodes, nodes).is_empty());
}
