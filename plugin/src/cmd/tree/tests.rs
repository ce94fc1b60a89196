use http::Method;
use serde_json::json;

use super::*;
use crate::fake;

fn ns(name: &str, path: &str) -> Namespace {
    serde_json::from_value(fake::namespace(name, path, None, true)).unwrap()
}

#[tokio::test]
async fn only_children_of_here_belong_here() {
    let items = vec![
        fake::namespace("inception-lab-0", "lab/0", None, true),
        fake::namespace("inception-lab-0-0", "lab/0/0", None, true),
        fake::namespace("inception-other-0", "other/0", None, true),
    ];
    let (client, _log, _server) = fake::serve(move |_| fake::list("Namespace", items.clone()));
    let lab: ClusterPath = "lab".parse().unwrap();
    let found = clusters_in(&client, Some(&lab)).await.unwrap();
    let paths: Vec<String> = found.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(paths, ["lab/0"]);
    // From the current context, every cluster found is listed.
    assert_eq!(clusters_in(&client, None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_cluster_being_deleted_is_not_entered() {
    let (client, log, _server) = fake::serve(|_| fake::not_found());
    let mut n = ns("inception-lab", "lab");
    n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
    let c = inspect(client, "lab".parse().unwrap(), n).await;
    assert_eq!(c.reachable, "no: being deleted");
    assert!(c.deleting);
    assert_eq!(c.status, Status::Deleting);
    // Only its workloads were read: no tunnel was tried.
    assert!(log.all().iter().all(|s| {
        s.method == Method::GET
            && s.path
                .starts_with("/apis/apps/v1/namespaces/inception-lab/")
    }));
}

#[tokio::test]
async fn a_control_plane_not_ready_is_reported_and_not_entered() {
    let (client, log, _server) = fake::serve(|s| match s.path.as_str() {
        "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane" => fake::ok(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "control-plane"},
            "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "x"},
            "status": {"replicas": 1, "readyReplicas": 0},
        })),
        _ => fake::not_found(),
    });
    let c = inspect(client, "lab".parse().unwrap(), ns("inception-lab", "lab")).await;
    assert_eq!(c.reachable, "no: control plane not Ready");
    assert_eq!(c.control_plane, "0/1");
    assert_eq!(c.workers, "0/0");
    // No age known: not booting.
    assert_eq!(c.status, Status::NotReady);
    // Its workloads, then its node Pods and the parent's nodes (usage).
    assert_eq!(log.all().len(), 4, "{:?}", log.all());
}

#[tokio::test(start_paused = true)]
async fn a_silent_cluster_times_out_alone() {
    let ready = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "control-plane"},
        "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "x"},
        "status": {"replicas": 1, "readyReplicas": 1},
    });
    let (client, log, _server) = fake::serve_some(move |s| match s.path.as_str() {
        "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane" => {
            Some(fake::ok(ready.clone()))
        }
        // Its PKI Secrets, read to reach it, never come.
        p if p.starts_with("/api/v1/namespaces/inception-lab/secrets/") => None,
        _ => Some(fake::not_found()),
    });
    let found = vec![
        ("lab".parse().unwrap(), ns("inception-lab", "lab")),
        ("other".parse().unwrap(), ns("inception-other", "other")),
    ];
    let clusters = inspect_all(client, found).await;
    assert_eq!(clusters[0].path, "lab");
    assert_eq!(clusters[0].reachable, "no: no answer in 15s");
    // Its sibling was inspected on its own, unaffected.
    assert_eq!(clusters[1].path, "other");
    assert_eq!(clusters[1].reachable, "no: control plane not Ready");
    // Its control plane's StatefulSet is not there.
    assert_eq!(clusters[1].status, Status::Missing);
    assert!(log.count(&Method::GET, "/api/v1/namespaces/inception-lab/secrets/pki") == 1);
}

fn live(path: &str, seen: Seen) -> LiveCluster {
    let p: ClusterPath = path.parse().unwrap();
    LiveCluster {
        path: path.into(),
        depth: p.depth(),
        namespace: format!("inception-{}", path.replace('/', "-")),
        status: seen.status(),
        version: Some("v1.33.1".into()),
        pod_cidr: Some("10.100.0.0/16".into()),
        service_cidr: Some("10.101.0.0/20".into()),
        control_plane: "1/1".into(),
        workers: "1/1".into(),
        nodes: seen.nodes.map(|n| format!("{}/{}", n.ready, n.want)),
        mtu: Some(1430),
        age: "5m".into(),
        deleting: seen.deleting,
        paused: seen.paused,
        usage: Some(usage::Usage {
            cpu_requests: "200m".into(),
            parent_cpu: "4".into(),
            memory_requests: "512Mi".into(),
            parent_memory: "8Gi".into(),
            memory_in_use: Some("301Mi".into()),
        }),
        reachable: if seen.nodes.is_some() {
            "yes".into()
        } else {
            "no: control plane not Ready".into()
        },
        record: None,
        children: Vec::new(),
        seen,
    }
}

fn view() -> LiveTree {
    let one = |ready, want| Count { ready, want };
    let ready = Seen {
        control_plane: Some(one(1, 1)),
        workers: one(1, 1),
        nodes: Some(one(2, 2)),
        age: Some(Duration::from_secs(300)),
        ..Seen::default()
    };
    let mut top = live("lab", ready);
    top.children.push(live(
        "lab/0",
        Seen {
            paused: true,
            nodes: None,
            ..ready
        },
    ));
    top.children.push(live(
        "lab/1",
        Seen {
            workers: one(0, 1),
            nodes: None,
            age: Some(Duration::from_secs(20)),
            ..ready
        },
    ));
    LiveTree {
        context: "kind-lab".into(),
        server: "https://127.0.0.1:6443".into(),
        parent: ParentNetworks::default(),
        clusters: vec![top],
    }
}

fn render_to_strings(format: TreeFormat) -> (String, String) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    render(&view(), format, &mut out, &mut notes).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(notes).unwrap(),
    )
}

#[test]
fn the_table_has_a_status_column_and_nothing_but_rows() {
    let (out, notes) = render_to_strings(TreeFormat::Table);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let head: Vec<&str> = lines[0].split("   ").map(str::trim).collect();
    assert!(head.contains(&"STATUS"), "{out}");
    for wide in [
        "POD CIDR",
        "SERVICE CIDR",
        "MTU",
        "MEMORY USED",
        "REACHABLE",
    ] {
        assert!(!lines[0].contains(wide), "{wide} in {out}");
    }
    let status = |row: &str| row.split_whitespace().nth(2).unwrap().to_string();
    assert_eq!(status(lines[1]), "Ready", "{out}");
    assert_eq!(status(lines[2]), "paused", "{out}");
    assert_eq!(status(lines[3]), "booting", "{out}");
    assert!(lines[2].starts_with("  lab/0 "), "{out}");
    // The footer is not in the table.
    assert!(!out.contains("context kind-lab"), "{out}");
    assert!(!out.contains("unreachable"), "{out}");
    assert!(
        notes.contains("unreachable lab/1: control plane not Ready"),
        "{notes}"
    );
    assert!(
        notes.contains("context kind-lab at https://127.0.0.1:6443"),
        "{notes}"
    );
}

#[test]
fn wide_adds_networks_mtu_usage_and_reachable() {
    let (out, notes) = render_to_strings(TreeFormat::Wide);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for col in [
        "STATUS",
        "POD CIDR",
        "SERVICE CIDR",
        "MTU",
        "REQUESTS OF PARENT",
        "MEMORY USED",
        "REACHABLE",
    ] {
        assert!(lines[0].contains(col), "{col} not in {out}");
    }
    assert!(lines[1].contains("10.100.0.0/16"), "{out}");
    assert!(lines[1].contains("1430"), "{out}");
    assert!(lines[1].contains("200m/4 512Mi/8Gi"), "{out}");
    assert!(lines[1].trim_end().ends_with("yes"), "{out}");
    assert!(lines[3].trim_end().ends_with("no"), "{out}");
    assert!(notes.contains("unreachable lab/1"), "{notes}");
}

#[test]
fn an_empty_tree_says_so_on_stderr() {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let mut v = view();
    v.clusters.clear();
    render(&v, TreeFormat::Table, &mut out, &mut notes).unwrap();
    assert!(out.is_empty());
    let notes = String::from_utf8(notes).unwrap();
    assert!(
        notes.starts_with("no inception clusters in context kind-lab"),
        "{notes}"
    );
}
