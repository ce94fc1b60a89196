use super::*;
use crate::cidr::CidrRequest;
use ipnet::IpNet;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn report_counts_problems_and_warnings() {
    let r = Report::new(
        vec![
            Check::ok("a", "fine"),
            Check::warn("b", "hmm", "do x"),
            Check::fail("c", "bad", "do y"),
            Check::fail("d", "bad", "do z"),
        ],
        None,
    );
    assert_eq!((r.problems, r.warnings), (2, 1));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][1]["status"], "warn");
    assert!(json["checks"][0].get("hint").is_none());
    assert!(json.get("probe").is_none());
}

#[test]
fn api_verdict() {
    assert_eq!(api(Ok(("v1.20.2", "https://x"))).status, Status::Ok);
    let c = api(Err("connection refused"));
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("connection refused"));
}

#[test]
fn rbac_names_what_is_missing() {
    let all: Vec<_> = NEEDED.iter().map(|n| (*n, Ok(true))).collect();
    assert_eq!(rbac(&all, "ns").status, Status::Ok);
    let mut some = all.clone();
    some[0].1 = Ok(false);
    let exec = NEEDED.iter().position(|n| n.subresource == "exec").unwrap();
    some[exec].1 = Ok(false);
    let c = rbac(&some, "ns");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.detail, "not allowed: create namespaces, create pods/exec",
        "{c:?}"
    );
    let sts = NEEDED
        .iter()
        .find(|n| n.resource == "statefulsets")
        .unwrap();
    assert_eq!(sts.to_string(), "create statefulsets.apps");
    let mut err = all.clone();
    err[1].1 = Err("timeout".into());
    assert_eq!(rbac(&err, "ns").status, Status::Warn);
    // Optional rights missing: a warning naming them, not a failure.
    let mut opt = all;
    for a in opt.iter_mut().filter(|(n, _)| n.optional) {
        a.1 = Ok(false);
    }
    let c = rbac(&opt, "ns");
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(c.detail.contains("get nodes/proxy"), "{c:?}");
}

#[test]
fn the_cluster_role_grants_every_right_once() {
    let role = cluster_role();
    for n in NEEDED {
        let resource = match n.subresource {
            "" => n.resource.to_string(),
            s => format!("{}/{s}", n.resource),
        };
        let rule = format!(
            "- apiGroups: [\"{}\"]\n  resources: [\"{resource}\"]\n",
            n.group
        );
        assert_eq!(role.matches(&rule).count(), 1, "{rule} in\n{role}");
        let verbs = role[role.find(&rule).unwrap() + rule.len()..]
            .lines()
            .next()
            .unwrap();
        assert!(verbs.contains(&format!("\"{}\"", n.verb)), "{n}: {verbs}");
    }
    assert!(NEEDED.iter().any(|n| n.cluster_scoped()) && !NEEDED[5].cluster_scoped());
}

#[test]
fn nodes_need_one_ready_and_schedulable() {
    assert_eq!(nodes(Ok(&[])).status, Status::Fail);
    let ready = NodeFacts {
        name: "a".into(),
        ready: true,
        ..NodeFacts::default()
    };
    let cordoned = NodeFacts {
        name: "b".into(),
        ready: true,
        unschedulable: true,
        ..NodeFacts::default()
    };
    let tainted = NodeFacts {
        name: "c".into(),
        ready: true,
        taints: vec!["node-role.kubernetes.io/master".into()],
        ..NodeFacts::default()
    };
    let down = NodeFacts {
        name: "d".into(),
        ..NodeFacts::default()
    };
    let c = nodes(Ok(&[cordoned.clone(), tainted.clone(), down.clone()]));
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("b cordoned"), "{}", c.detail);
    assert!(c.detail.contains("d NotReady"), "{}", c.detail);
    let c = nodes(Ok(&[ready, down]));
    assert_eq!(c.status, Status::Ok);
    assert!(c.detail.starts_with("1 of 2 nodes"), "{}", c.detail);
    assert_eq!(nodes(Err("forbidden")).status, Status::Warn);
}

#[test]
fn denials_point_at_their_source() {
    assert!(
        denial_hint("pods \"x\" is forbidden: violates PodSecurity \"baseline:latest\"")
            .contains("Pod Security")
    );
    assert!(
        denial_hint("admission webhook \"validation.gatekeeper.sh\" denied the request")
            .contains("webhook")
    );
    assert!(denial_hint("User \"bob\" cannot create resource \"pods\"").contains("rbac check"));
    let c = privileged_pods(Err("denied: privileged"), "ns");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(privileged_pods(Ok(()), "ns").status, Status::Ok);
}

#[test]
fn pod_security_reports_existing_level() {
    use DryRun::*;
    assert_eq!(pod_security("ns", Accepted, None).status, Status::Ok);
    assert_eq!(
        pod_security("ns", Accepted, Some(Some("privileged"))).status,
        Status::Ok
    );
    let c = pod_security("ns", Accepted, Some(Some("baseline")));
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("enforces baseline"), "{}", c.detail);
    assert!(
        pod_security("ns", Accepted, Some(None))
            .detail
            .contains("cluster default")
    );
    let c = pod_security(
        "ns",
        Conflict("conflict with kubectl"),
        Some(Some("baseline")),
    );
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("enforces baseline"), "{}", c.detail);
    assert_eq!(
        pod_security("ns", Refused("denied by policy"), None).status,
        Status::Fail
    );
}

fn cidr_check(pools: &[&str], exclude: &[&str], clusters: usize) -> Check {
    let service = vec![FoundRange {
        cidr: net("10.96.0.0/12"),
        source: "apiserver".into(),
    }];
    let req = CidrRequest {
        pools: pools.iter().map(|p| net(p)).collect(),
        exclude: exclude.iter().map(|p| net(p)).collect(),
        ..CidrRequest::default()
    };
    cidrs(&CidrFacts {
        request: &req,
        clusters,
        service_cidrs: &service,
        pod_cidrs: &[],
        node_ips: &[],
        has_nodes: false,
    })
}

#[test]
fn cidrs_fit_or_say_what_overlaps_and_what_to_pass() {
    let c = cidr_check(&["10.0.0.0/8"], &["10.96.0.0/12"], 3);
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(
        c.detail
            .contains("avoiding service CIDR 10.96.0.0/12 (apiserver)")
    );
    let c = cidr_check(&["10.96.0.0/12"], &["10.96.0.0/12"], 1);
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.detail.contains("holds 0 clusters"), "{}", c.detail);
    assert!(c.detail.contains("overlaps service CIDR 10.96.0.0/12"));
    assert!(
        c.hint
            .as_deref()
            .unwrap()
            .contains("--cidr-pool 10.0.0.0/8"),
        "{c:?}"
    );
    // Too many clusters for any suggestion.
    let c = cidr_check(&["192.168.0.0/16"], &["10.96.0.0/12"], 20_000);
    assert_eq!(c.status, Status::Fail);
    assert!(c.hint.unwrap().contains("smaller"));
}

#[test]
fn unknown_parent_ranges_warn() {
    let req = CidrRequest::default();
    let f = CidrFacts {
        request: &req,
        clusters: 1,
        service_cidrs: &[],
        pod_cidrs: &[],
        node_ips: &[],
        has_nodes: true,
    };
    let c = cidrs(&f);
    assert_eq!(c.status, Status::Warn);
    assert!(c.hint.unwrap().contains("--parent-service-cidr"));
    let service = [FoundRange {
        cidr: net("10.96.0.0/12"),
        source: "x".into(),
    }];
    let c = cidrs(&CidrFacts {
        service_cidrs: &service,
        ..f.clone()
    });
    assert!(c.hint.unwrap().contains("--parent-pod-cidr"));
    let c = cidrs(&CidrFacts {
        service_cidrs: &service,
        has_nodes: false,
        ..f
    });
    assert_eq!(c.status, Status::Ok);
}

#[test]
fn existing_namespace_verdicts() {
    let ok = existing("inception-lab", "lab", Some("d1"), &NamespaceState::Absent);
    assert_eq!(ok.status, Status::Ok);
    let mine = |path: &str, digest: &str| NamespaceState::Exists {
        managed: true,
        path: Some(path.into()),
        digest: Some(digest.into()),
    };
    let c = existing("inception-lab", "lab", Some("d1"), &mine("lab", "d1"));
    assert_eq!(c.status, Status::Ok);
    assert!(c.detail.contains("up converges it"));
    let c = existing("inception-lab", "lab", Some("d2"), &mine("lab", "d1"));
    assert_eq!(c.status, Status::Fail);
    assert!(c.hint.unwrap().contains("kubectl inception down lab"));
    assert_eq!(
        existing("inception-lab", "lab", None, &mine("other", "d1")).status,
        Status::Fail
    );
    let foreign = NamespaceState::Exists {
        managed: false,
        path: None,
        digest: None,
    };
    assert_eq!(
        existing("inception-lab", "lab", None, &foreign).status,
        Status::Fail
    );
    let stuck = NamespaceState::Terminating {
        since: "2024-01-01T00:00:00Z".into(),
        conditions: vec!["NamespaceFinalizersRemaining: example.com/hold in 1 resource".into()],
    };
    let c = existing("inception-lab", "lab", None, &stuck);
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("stuck Terminating"));
    assert!(c.detail.contains("example.com/hold"));
    assert!(c.hint.unwrap().contains("finalizers"));
}

#[test]
fn probe_output_is_parsed_and_judged() {
    let out = "cgroup=cgroup2fs\nfs/inotify/max_user_instances=128\nfs/inotify/max_user_watches=1048576\nnet/netfilter/nf_conntrack_max=262144\nkmsg=yes\nmodules=no\nkernel=6.1.0\n";
    let f = parse_probe("n1", out);
    assert_eq!(f.cgroup_version(), Some("v2"));
    assert_eq!(f.inotify_max_user_instances, Some(128));
    assert_eq!(f.inotify_max_user_watches, Some(1_048_576));
    assert_eq!(f.nf_conntrack_max, Some(262_144));
    assert_eq!((f.kmsg, f.modules), (Some(true), Some(false)));
    let checks = probe(&f, crate::version::DEFAULT);
    let status = |n: &str| checks.iter().find(|c| c.name == n).unwrap().status;
    assert_eq!(status("probe"), Status::Ok);
    assert_eq!(status("cgroup"), Status::Ok);
    assert_eq!(status("inotify"), Status::Warn);
    assert_eq!(status("conntrack"), Status::Ok);
    assert_eq!(status("kmsg"), Status::Ok);
    assert_eq!(status("modules"), Status::Warn);
    let inotify = checks.iter().find(|c| c.name == "inotify").unwrap();
    assert!(inotify.detail.contains("max_user_instances 128"));
    assert!(
        inotify
            .hint
            .as_deref()
            .unwrap()
            .contains("max_user_instances=512")
    );
}

#[test]
fn cgroup_v1_depends_on_the_release() {
    let f = parse_probe(
        "n",
        "cgroup=tmpfs\nnet/netfilter/nf_conntrack_max=1000\nkmsg=no\n",
    );
    let at = |v: &str, name: &str| {
        probe(&f, v.parse().unwrap())
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
            .status
    };
    assert_eq!(at("v1.20.2", "cgroup"), Status::Ok);
    assert_eq!(at("v1.32.0", "cgroup"), Status::Warn);
    // Runs with failCgroupV1: false, which the rendered config has.
    assert_eq!(at("v1.37.0", "cgroup"), Status::Warn);
    assert_eq!(at("v1.20.2", "inotify"), Status::Warn);
    assert_eq!(at("v1.20.2", "conntrack"), Status::Warn);
    assert_eq!(at("v1.20.2", "kmsg"), Status::Fail);
    assert_eq!(parse_probe("n", "cgroup=\n").cgroup_fs, None);
}

#[test]
fn image_verdicts_say_what_to_do() {
    let ok = image("n:v1", &Pull::Ran { node: "a".into() });
    assert_eq!(
        (ok.status, ok.detail.as_str()),
        (Status::Ok, "node a has n:v1")
    );
    let no = image("n:v1", &Pull::Refused("ErrImagePull: not found".into()));
    assert_eq!(no.status, Status::Fail);
    assert!(
        no.detail.contains("cannot get n:v1: ErrImagePull"),
        "{no:?}"
    );
    assert!(no.hint.as_deref().unwrap().contains("--image"));
    assert_eq!(
        image("n:v1", &Pull::Slow("Pending".into())).status,
        Status::Warn
    );
    assert_eq!(
        image("n:v1", &Pull::Skipped("no node".into())).status,
        Status::Warn
    );
}
