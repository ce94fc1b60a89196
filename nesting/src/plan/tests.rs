use super::*;
use crate::manifests::Manifest;
use ipnet::IpNet;
use serde_json::Value;

fn request(depth: u32, width: u32) -> PlanRequest {
    let mut r = PlanRequest::new(
        TreeSpec {
            name: "lab".into(),
            depth,
            width,
            workers: 1,
        },
        Entropy::from_system(),
    );
    r.version = "v1.20.2".parse().unwrap();
    r.image = "localhost/kubectl-inception/node:v1.20.2".into();
    r
}

fn plan(depth: u32, width: u32) -> Plan {
    Plan::new(&request(depth, width)).unwrap()
}

#[test]
fn tree_structure_and_namespaces() {
    let p = plan(3, 2);
    assert_eq!(p.clusters.len(), 7);
    assert_eq!(p.depth(), 3);
    assert_eq!(p.level(2).len(), 2);
    assert_eq!(p.level(3).len(), 4);
    let root = &p.clusters[0];
    assert_eq!(root.namespace, "inception-lab");
    assert_eq!(root.children.len(), 2);
    for (i, c) in p.clusters.iter().enumerate() {
        assert_eq!(c.namespace, format!("inception-{}", c.path.dashed()));
        for &ch in &c.children {
            assert_eq!(p.clusters[ch].parent, Some(i));
            assert_eq!(p.clusters[ch].path.parent().as_ref(), Some(&c.path));
        }
    }
    let found = p.find(&"lab/1/0".parse().unwrap()).unwrap();
    assert_eq!(found.namespace, "inception-lab-1-0");
}

#[test]
fn no_cidr_overlaps_and_distinct_pki() {
    let p = plan(3, 3);
    let nets: Vec<IpNet> = p
        .clusters
        .iter()
        .flat_map(|c| [c.networks.pod_cidr, c.networks.service_cidr])
        .collect();
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            assert!(
                !a.contains(&b.network()) && !b.contains(&a.network()),
                "{a} {b}"
            );
        }
    }
    let mut cas: Vec<&str> = p.clusters.iter().map(|c| c.pki.ca_cert()).collect();
    cas.sort();
    cas.dedup();
    assert_eq!(cas.len(), p.clusters.len());
}

#[test]
fn same_input_same_networks() {
    let a = plan(2, 2);
    let b = plan(2, 2);
    let nets = |p: &Plan| {
        p.clusters
            .iter()
            .map(|c| c.networks.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(nets(&a), nets(&b));
}

fn values(p: &Plan, i: usize) -> Vec<Value> {
    p.manifests(&p.clusters[i])
        .unwrap()
        .iter()
        .map(Manifest::to_value)
        .collect()
}

fn by_kind<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn every_object_is_labelled_and_namespaced() {
    let p = plan(2, 1);
    let objs = values(&p, 1);
    assert_eq!(objs.len(), 10);
    for o in &objs {
        let l = &o["metadata"]["labels"];
        assert_eq!(l[labels::TREE], "lab", "{o}");
        assert_eq!(l[labels::PATH], "lab.0", "{o}");
        assert_eq!(l[labels::MANAGED_BY], labels::MANAGER);
        assert_eq!(
            o["metadata"]["annotations"][labels::PATH_ANNOTATION],
            "lab/0"
        );
        if o["kind"] != "Namespace" {
            assert_eq!(o["metadata"]["namespace"], "inception-lab-0", "{o}");
        }
    }
    let ns = by_kind(&objs, "Namespace", "inception-lab-0");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    assert!(
        ns["metadata"]["annotations"][labels::PLAN_ANNOTATION]
            .as_str()
            .unwrap()
            .starts_with("v1.20.2 pods=")
    );
}

#[test]
fn node_pods_are_privileged_and_isolated() {
    let p = plan(1, 1);
    let objs = values(&p, 0);
    for (kind, name) in [("StatefulSet", "control-plane"), ("StatefulSet", "workers")] {
        let spec = &by_kind(&objs, kind, name)["spec"]["template"]["spec"];
        assert_eq!(spec["automountServiceAccountToken"], false);
        assert_eq!(spec["enableServiceLinks"], false);
        let c = &spec["containers"][0];
        assert_eq!(c["securityContext"]["privileged"], true);
        assert_eq!(c["image"], "localhost/kubectl-inception/node:v1.20.2");
        let vols = spec["volumes"].as_array().unwrap();
        let vol = |n: &str| vols.iter().find(|v| v["name"] == n).unwrap().clone();
        assert_eq!(vol("run")["emptyDir"]["medium"], "Memory");
        assert_eq!(vol("tmp")["emptyDir"]["medium"], "Memory");
        assert!(vol("containerd")["emptyDir"].is_object());
        assert!(vol("kubelet")["emptyDir"].is_object());
        let mounts = c["volumeMounts"].as_array().unwrap();
        let modules = mounts
            .iter()
            .find(|m| m["mountPath"] == "/lib/modules")
            .unwrap();
        assert_eq!(modules["readOnly"], true);
    }
    let sts = by_kind(&objs, "StatefulSet", "control-plane");
    assert_eq!(sts["spec"]["replicas"], 1);
    let deploy = by_kind(&objs, "StatefulSet", "workers");
    assert_eq!(deploy["spec"]["replicas"], 1);
    // The worker Pods never see the CA key.
    let wvols = deploy["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(wvols.iter().all(|v| v["name"] != "pki"));
}

#[test]
fn service_selects_control_plane_with_explicit_protocol() {
    let p = plan(1, 1);
    let objs = values(&p, 0);
    let svc = by_kind(&objs, "Service", "apiserver");
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["ports"][0]["port"], 6443);
    let sel = svc["spec"]["selector"].as_object().unwrap();
    let tmpl =
        &by_kind(&objs, "StatefulSet", "control-plane")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in sel {
        assert_eq!(&tmpl[k], v, "{k}");
    }
    let wtmpl = &by_kind(&objs, "StatefulSet", "workers")["spec"]["template"]["metadata"]["labels"];
    assert!(
        sel.iter().any(|(k, v)| &wtmpl[k] != v),
        "service must not select workers"
    );
}

fn secret_text(o: &Value, key: &str) -> String {
    use base64::Engine;
    let b = o["data"][key].as_str().unwrap();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
}

#[test]
fn secrets_hold_pki_token_and_kubeconfig() {
    let p = plan(1, 1);
    let c = &p.clusters[0];
    let objs = values(&p, 0);
    let pki = by_kind(&objs, "Secret", "pki");
    for key in [
        "ca.crt",
        "ca.key",
        "apiserver.crt",
        "sa.key",
        "sa.pub",
        "etcd-ca.crt",
        "front-proxy-ca.key",
    ] {
        assert!(pki["data"].get(key).is_some(), "missing {key}");
    }
    assert_eq!(secret_text(pki, "ca.crt"), c.pki.ca_cert());
    let token = by_kind(&objs, "Secret", "bootstrap-token");
    assert_eq!(secret_text(token, "token"), c.pki.token.token());
    let kc = crate::kubeconfig::Kubeconfig::from_yaml(&secret_text(
        by_kind(&objs, "Secret", "kubeconfig"),
        "admin.conf",
    ))
    .unwrap();
    assert_eq!(
        kc.clusters[0].cluster.server,
        "https://apiserver.inception-lab.svc:6443"
    );
    // The ConfigMaps hold no secret.
    for cm in ["kubeadm", "bootstrap"] {
        let text = by_kind(&objs, "ConfigMap", cm)["data"].to_string();
        assert!(!text.contains(&c.pki.token.secret), "{cm} holds the token");
        assert!(!text.contains("PRIVATE KEY"), "{cm} holds a key");
    }
    let kubeadm = &by_kind(&objs, "ConfigMap", "kubeadm")["data"];
    assert!(
        !kubeadm["init.yaml"]
            .as_str()
            .unwrap()
            .contains(&c.pki.discovery_hash)
    );
    assert!(
        kubeadm["join.yaml"]
            .as_str()
            .unwrap()
            .contains(&c.pki.discovery_hash)
    );
    assert_eq!(kubeadm["skip-phases"], "preflight,addon/coredns");
}

#[test]
fn children_sans_use_the_inner_domain() {
    let mut r = request(2, 1);
    r.parent_domain = "outer.example".into();
    r.cluster_domain = "inner.example".into();
    let p = Plan::new(&r).unwrap();
    let root = p.kubeadm(&p.clusters[0]).unwrap().init;
    let child = p.kubeadm(&p.clusters[1]).unwrap().init;
    assert!(
        root.contains("apiserver.inception-lab.svc.outer.example"),
        "{root}"
    );
    assert!(
        child.contains("apiserver.inception-lab-0.svc.inner.example"),
        "{child}"
    );
    assert!(child.contains("dnsDomain: inner.example"), "{child}");
}

#[test]
fn root_namespace_override_and_errors() {
    let mut r = request(2, 1);
    r.root_namespace = Some("sandbox".into());
    let p = Plan::new(&r).unwrap();
    assert_eq!(p.clusters[0].namespace, "sandbox");
    assert_eq!(p.clusters[1].namespace, "inception-lab-0");
    r.root_namespace = Some("Bad_NS".into());
    assert!(Plan::new(&r).unwrap_err().to_string().contains("Bad_NS"));
    let mut r = request(1, 1);
    r.image = "has space".into();
    assert!(
        Plan::new(&r)
            .unwrap_err()
            .to_string()
            .contains("invalid image")
    );
    let mut r = request(1, 1);
    r.cidr.pools = vec!["10.0.0.0/16".parse().unwrap()];
    let e = Plan::new(&r).unwrap_err().to_string();
    assert!(e.contains("holds 0 clusters"), "{e}");
}

#[test]
fn view_has_the_documented_fields() {
    let p = plan(2, 2);
    let v = serde_json::to_value(p.view()).unwrap();
    let root = &v[0];
    for f in [
        "path",
        "depth",
        "podCIDR",
        "serviceCIDR",
        "kubernetesServiceIP",
        "dnsIP",
        "namespace",
        "children",
    ] {
        assert!(root.get(f).is_some(), "missing {f} in {root}");
    }
    assert_eq!(root["path"], "lab");
    assert_eq!(root["children"].as_array().unwrap().len(), 2);
    assert_eq!(root["children"][1]["path"], "lab/1");
    assert_eq!(root["children"][1]["depth"], 2);
}

/// Redacts what changes from run to run: keys, certificates, tokens, hashes.
fn redacted(objs: &[Value]) -> Vec<Value> {
    let mut out = objs.to_vec();
    for o in &mut out {
        let secret = o["kind"] == "Secret";
        if let Some(data) = o["data"].as_object_mut().filter(|_| secret) {
            for v in data.values_mut() {
                *v = Value::String("[redacted]".into());
            }
        }
        if o["kind"] == "ConfigMap" && o["metadata"]["name"] == "kubeadm" {
            let join = o["data"]["join.yaml"].as_str().unwrap().to_string();
            let start = join.find("sha256:").unwrap();
            let hash = &join[start..start + 71];
            o["data"]["join.yaml"] = Value::String(join.replace(hash, "sha256:[redacted]"));
        }
    }
    out
}

#[test]
fn snapshot_one_cluster() {
    let p = plan(1, 1);
    let mut objs = redacted(&values(&p, 0));
    let bootstrap = objs
        .iter_mut()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"] == crate::manifests::BOOTSTRAP_CONFIGMAP
        })
        .unwrap();
    // The script is a file of its own, checked here to be carried verbatim:
    // the snapshot names it instead of repeating it.
    assert_eq!(
        bootstrap["data"]["bootstrap.sh"],
        crate::manifests::BOOTSTRAP_SCRIPT
    );
    bootstrap["data"]["bootstrap.sh"] = "[manifests::BOOTSTRAP_SCRIPT]".into();
    // The nodes' podCIDRs are every /24 of the pod CIDR in order, checked
    // here: the snapshot keeps their count and ends.
    let agent_json = bootstrap["data"]["agent.json"].as_str().unwrap();
    let mut agent: Value = serde_json::from_str(agent_json).unwrap();
    let cidrs: Vec<IpNet> = serde_json::from_value(agent["nodePodCidrs"].take()).unwrap();
    assert_eq!(
        cidrs,
        crate::cidr::node_cidrs(&p.clusters[0].networks.pod_cidr)
    );
    agent["nodePodCidrs"] = format!(
        "{} from {} to {}",
        cidrs.len(),
        cidrs[0],
        cidrs[cidrs.len() - 1]
    )
    .into();
    bootstrap["data"]["agent.json"] = agent.to_string().into();
    insta::assert_yaml_snapshot!("cluster_v1_20", objs);
}

#[test]
fn redaction_hides_keys_and_token_only() {
    let p = plan(1, 1);
    let c = &p.clusters[0];
    let objs: Vec<Value> = p
        .manifests(c)
        .unwrap()
        .iter()
        .map(|m| m.redacted().to_value())
        .collect();
    let all = serde_json::to_string(&objs).unwrap();
    assert!(!all.contains(&c.pki.token.secret));
    let pki = by_kind(&objs, "Secret", "pki");
    assert_eq!(secret_text(pki, "ca.key"), crate::manifests::REDACTED);
    assert_eq!(secret_text(pki, "ca.crt"), c.pki.ca_cert());
    assert_eq!(
        secret_text(by_kind(&objs, "Secret", "kubeconfig"), "admin.conf"),
        crate::manifests::REDACTED
    );
}

#[test]
fn digest_round_trips() {
    let p = plan(1, 1);
    let c = &p.clusters[0];
    let d: PlanDigest = p.digest(c).parse().unwrap();
    assert_eq!(d.version.to_string(), "v1.20.2");
    assert_eq!(d.pod_cidr, c.networks.pod_cidr);
    assert_eq!(d.service_cidr, c.networks.service_cidr);
    assert!("v1.20.2 pods=x services=y".parse::<PlanDigest>().is_err());
    assert!("".parse::<PlanDigest>().is_err());
}

#[test]
fn host_aliases_and_images_dir() {
    let mut r = request(1, 1);
    r.images_dir = Some("/srv/images".into());
    let p = Plan::new(&r).unwrap();
    let c = &p.clusters[0];
    let plain: Vec<Value> = p
        .manifests(c)
        .unwrap()
        .iter()
        .map(Manifest::to_value)
        .collect();
    // The control plane always reaches its apiserver on loopback; the
    // workers only once the Service's address is known.
    let sts = by_kind(&plain, "StatefulSet", "workers");
    assert!(sts["spec"]["template"]["spec"].get("hostAliases").is_none());
    let sts = by_kind(&plain, "StatefulSet", "control-plane");
    assert_eq!(
        sts["spec"]["template"]["spec"]["hostAliases"][0]["ip"],
        "127.0.0.1"
    );
    let ip: std::net::IpAddr = "10.96.0.42".parse().unwrap();
    let objs: Vec<Value> = p
        .manifests_with(
            c,
            &Runtime {
                apiserver_ip: Some(ip),
                ..Runtime::default()
            },
        )
        .unwrap()
        .iter()
        .map(Manifest::to_value)
        .collect();
    for (name, ip) in [("control-plane", "127.0.0.1"), ("workers", "10.96.0.42")] {
        let spec = &by_kind(&objs, "StatefulSet", name)["spec"]["template"]["spec"];
        assert_eq!(spec["hostAliases"][0]["ip"], ip);
        let names = spec["hostAliases"][0]["hostnames"].as_array().unwrap();
        assert!(names.contains(&Value::from("apiserver.inception-lab.svc")));
        assert!(names.contains(&Value::from("apiserver.inception-lab.svc.cluster.local")));
        let vol = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "images")
            .unwrap();
        assert_eq!(vol["hostPath"]["path"], "/srv/images");
        let m = spec["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "images")
            .unwrap();
        assert_eq!(m["mountPath"], "/var/lib/inception/images");
        assert_eq!(m["readOnly"], true);
    }
}

#[test]
fn parent_apiservers_go_to_the_bootstrap_config_map_only() {
    let p = plan(1, 1);
    let c = &p.clusters[0];
    let objects = |runtime: &Runtime| -> Vec<Value> {
        p.manifests_with(c, runtime)
            .unwrap()
            .iter()
            .map(Manifest::to_value)
            .collect()
    };
    let plain = objects(&Runtime::default());
    let key = crate::manifests::PARENT_APISERVERS_KEY;
    assert!(
        by_kind(&plain, "ConfigMap", "bootstrap")["data"]
            .get(key)
            .is_none()
    );
    let runtime = Runtime {
        apiserver_ip: None,
        parent_apiservers: vec![
            "192.0.2.2:27345".parse().unwrap(),
            "[fd00::2]:6443".parse().unwrap(),
            "10.0.0.9:6443".parse().unwrap(),
            "192.0.2.2:27345".parse().unwrap(),
        ],
    };
    let objs = objects(&runtime);
    assert_eq!(
        by_kind(&objs, "ConfigMap", "bootstrap")["data"][key],
        "10.0.0.9 6443\n192.0.2.2 27345\nfd00::2 6443\n"
    );
    // Nothing else differs: the node Pods' templates stay the same, so a
    // changed parent endpoint rolls no node Pod.
    for (a, b) in plain.iter().zip(&objs) {
        if a["kind"] != "ConfigMap" || a["metadata"]["name"] != "bootstrap" {
            assert_eq!(a, b);
        }
    }
    assert_eq!(plain.len(), objs.len());
}

#[test]
fn deeper_levels_mount_the_images_their_parent_has() {
    let mut r = request(2, 1);
    r.images_dir = Some("/srv/images".into());
    let p = Plan::new(&r).unwrap();
    let path_of = |i: usize| {
        let objs: Vec<Value> = p
            .manifests(&p.clusters[i])
            .unwrap()
            .iter()
            .map(Manifest::to_value)
            .collect();
        let spec = &by_kind(&objs, "StatefulSet", "control-plane")["spec"]["template"]["spec"];
        let vol = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "images")
            .unwrap()
            .clone();
        vol["hostPath"]["path"].as_str().unwrap().to_string()
    };
    assert_eq!(path_of(0), "/srv/images");
    assert_eq!(path_of(1), crate::manifests::IMAGES_MOUNT);
}

/// Every object of every cluster, as the dry run prints them.
fn whole_yaml(p: &Plan) -> String {
    let mut out = String::new();
    for c in &p.clusters {
        for m in p.manifests(c).unwrap() {
            out.push_str("---\n");
            out.push_str(&serde_saphyr::to_string(&m.to_value()).unwrap());
        }
    }
    out
}

#[test]
fn the_same_request_gives_the_same_plan() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let seeded = |seed: u8| {
        let mut r = request(2, 2);
        r.entropy = Entropy::new([seed; 32], now);
        Plan::new(&r).unwrap()
    };
    let (a, b) = (whole_yaml(&seeded(1)), whole_yaml(&seeded(1)));
    assert!(a.contains("BEGIN CERTIFICATE") || a.contains("LS0tLS1CRUdJTi"));
    assert!(a == b, "two plans from the same request differ");

    let (p, q) = (seeded(1), seeded(2));
    assert_ne!(whole_yaml(&p), whole_yaml(&q));
    for (x, y) in p.clusters.iter().zip(&q.clusters) {
        assert_ne!(x.pki.discovery_hash, y.pki.discovery_hash);
        assert_ne!(
            x.pki.files[crate::pki::CA_KEY],
            y.pki.files[crate::pki::CA_KEY]
        );
        assert_ne!(x.pki.token, y.pki.token);
    }
    // Clusters of one plan share no key.
    let cas: std::collections::BTreeSet<&str> = p
        .clusters
        .iter()
        .map(|c| c.pki.discovery_hash.as_str())
        .collect();
    assert_eq!(cas.len(), p.clusters.len());
}

#[test]
fn refuses_more_workers_than_the_pod_cidr_holds() {
    let mut r = request(1, 1);
    r.cidr.pod_prefix = Some(24);
    r.tree.workers = 3;
    let e = Plan::new(&r).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooManyWorkers {
                workers: 3,
                capacity: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("at most 0 workers"), "{e}");
    r.tree.workers = 0;
    Plan::new(&r).unwrap();
}

#[test]
fn refuses_images_dirs_that_expose_the_host() {
    for bad in [
        "/",
        "//",
        "/etc",
        "/etc/ssl",
        "/root",
        "/var/lib",
        "/proc/1",
        "images",
        "/srv/../etc",
        "/var/lib/kubelet/pods",
        "/run/containerd",
    ] {
        let mut r = request(1, 1);
        r.images_dir = Some(bad.into());
        let e = Plan::new(&r).unwrap_err();
        assert!(matches!(e, Error::BadImagesDir { .. }), "{bad}: {e}");
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
    for ok in [
        "/srv/images",
        "/root/.cache/kubectl-inception/images",
        "/var/lib/images/",
    ] {
        let mut r = request(1, 1);
        r.images_dir = Some(ok.into());
        Plan::new(&r).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn refuses_pools_no_cluster_may_use() {
    for bad in [
        "0.0.0.0/0",
        "::/0",
        "0.0.0.0/1",
        "127.0.0.0/16",
        "169.254.0.0/16",
        "224.0.0.0/8",
        "240.0.0.0/8",
        "fe80::/64",
        "ff00::/16",
    ] {
        let mut r = request(1, 1);
        r.cidr.pools = vec![bad.parse().unwrap()];
        let e = Plan::new(&r).unwrap_err();
        assert!(
            matches!(e, Error::Pool(crate::error::PoolError::Unusable { .. })),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
    for ok in ["10.0.0.0/8", "fd00::/48", "100.64.0.0/10", "172.16.0.0/12"] {
        let mut r = request(1, 1);
        r.cidr.pools = vec![ok.parse().unwrap()];
        Plan::new(&r).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn node_state_on_claims_where_a_class_is_known() {
    let mut req = request(2, 1);
    req.node_storage.top_class = Some("fast".into());
    let p = Plan::new(&req).unwrap();
    for (i, class) in [(0, "fast"), (1, crate::storage::CLASS)] {
        let objs = values(&p, i);
        for name in ["control-plane", "workers"] {
            let sts = by_kind(&objs, "StatefulSet", name);
            let claims = sts["spec"]["volumeClaimTemplates"].as_array().unwrap();
            assert_eq!(claims.len(), 1, "{name}");
            assert_eq!(claims[0]["metadata"]["name"], "state");
            assert_eq!(claims[0]["spec"]["storageClassName"], class);
            assert_eq!(
                claims[0]["spec"]["resources"]["requests"]["storage"],
                "10Gi"
            );
            let spec = &sts["spec"]["template"]["spec"];
            let vols = spec["volumes"].as_array().unwrap();
            assert!(
                vols.iter()
                    .all(|v| v["name"] != "containerd" && v["name"] != "etcd"),
                "no emptyDir for state: {vols:?}"
            );
            let mounts = spec["containers"][0]["volumeMounts"].as_array().unwrap();
            let on_claim: Vec<_> = mounts
                .iter()
                .filter(|m| m["name"] == "state")
                .map(|m| {
                    (
                        m["subPath"].as_str().unwrap(),
                        m["mountPath"].as_str().unwrap(),
                    )
                })
                .collect();
            let mut want = vec![
                ("containerd", "/var/lib/containerd"),
                ("kubelet", "/var/lib/kubelet"),
                ("kubernetes", "/etc/kubernetes"),
                ("volumes", crate::storage::VOLUMES_DIR),
            ];
            if name == "control-plane" {
                want.push(("etcd", "/var/lib/etcd"));
            }
            assert_eq!(on_claim, want, "{name}");
        }
        let workers = by_kind(&objs, "StatefulSet", "workers");
        assert_eq!(workers["spec"]["podManagementPolicy"], "Parallel");
    }
    // No class at the top: emptyDirs there, claims below.
    let p = plan(2, 1);
    let top = values(&p, 0);
    let sts = by_kind(&top, "StatefulSet", "control-plane");
    assert!(sts["spec"].get("volumeClaimTemplates").is_none());
    let vols = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        vols.iter()
            .any(|v| v["name"] == "etcd" && v["emptyDir"].is_object())
    );
    let nested = values(&p, 1);
    assert!(
        by_kind(&nested, "StatefulSet", "control-plane")["spec"]["volumeClaimTemplates"].is_array()
    );
}

#[test]
fn runtime_class_is_for_the_top_level_node_pods_only() {
    let mut req = request(2, 1);
    req.runtime_class = Some("sysbox-runc".into());
    let plan = Plan::new(&req).unwrap();
    let class_of = |i: usize| -> Vec<Option<String>> {
        plan.manifests(&plan.clusters[i])
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                Manifest::StatefulSet(s) => Some(
                    s.spec
                        .as_ref()?
                        .template
                        .spec
                        .as_ref()?
                        .runtime_class_name
                        .clone(),
                ),
                _ => None,
            })
            .collect()
    };
    assert_eq!(class_of(0), vec![Some("sysbox-runc".to_string()); 2]);
    assert_eq!(class_of(1), vec![None, None]);
    req.runtime_class = Some("Sysbox_runc".into());
    let err = Plan::new(&req).unwrap_err().to_string();
    assert!(
        err.contains("invalid --runtime-class \"Sysbox_runc\""),
        "{err}"
    );
}

#[test]
fn the_default_image_is_the_published_one_at_the_cluster_version() {
    let r = PlanRequest::new(
        TreeSpec {
            name: "lab".into(),
            depth: 1,
            width: 1,
            workers: 0,
        },
        Entropy::from_system(),
    );
    assert_eq!(
        r.image,
        format!("ghcr.io/kubectl-inception/node:{}", r.version)
    );
    assert_eq!(
        default_image("v1.31.14".parse().unwrap()),
        "ghcr.io/kubectl-inception/node:v1.31.14"
    );
}
