//! `up`, `tree`, `kubeconfig` and `down` against a real v1.20 apiserver.

use std::collections::BTreeMap;

use base64::Engine;
use inception_tests::Lab;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;

/// What our own writes leave on an object: its generation and the plugin's
/// managedFields entry (controllers writing status change neither).
fn our_fingerprint(m: &kube::api::ObjectMeta) -> String {
    let ours: Vec<String> = m
        .managed_fields
        .iter()
        .flatten()
        .filter(|f| f.manager.as_deref() == Some("kubectl-inception"))
        .map(|f| {
            format!(
                "{:?} {:?} {:?}",
                f.operation,
                f.time.as_ref().map(|t| t.0),
                f.fields_v1.as_ref().map(|v| v.0.to_string())
            )
        })
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "one apply entry by kubectl-inception on {:?}",
        m.name
    );
    format!("gen={:?} {}", m.generation, ours[0])
}

/// kind/namespace/name -> fingerprint of every object of a tree.
async fn objects(client: &Client, tree: &str) -> BTreeMap<String, String> {
    let lp = ListParams::default().labels(&format!("kubectl-inception.dev/tree={tree}"));
    let mut out = BTreeMap::new();
    macro_rules! collect {
        ($k:ty, $kind:literal, $api:expr) => {
            let api: Api<$k> = $api;
            for o in api.list(&lp).await.unwrap().items {
                let m = o.metadata;
                out.insert(
                    format!(
                        "{}/{}/{}",
                        $kind,
                        m.namespace.clone().unwrap_or_default(),
                        m.name.clone().unwrap_or_default()
                    ),
                    our_fingerprint(&m),
                );
            }
        };
    }
    collect!(Namespace, "Namespace", Api::all(client.clone()));
    collect!(Secret, "Secret", Api::all(client.clone()));
    collect!(ConfigMap, "ConfigMap", Api::all(client.clone()));
    collect!(Service, "Service", Api::all(client.clone()));
    collect!(StatefulSet, "StatefulSet", Api::all(client.clone()));
    // The lab (1.20) serves disruption budgets as policy/v1beta1 only.
    let gvk = kube::core::GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
    let budgets = kube::core::ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets");
    collect!(
        kube::core::DynamicObject,
        "PodDisruptionBudget",
        Api::all_with(client.clone(), &budgets)
    );
    out
}

/// kind/namespace/name of every object `up --dry-run` plans at level 1.
fn planned(lab: &Lab, args: &[&str]) -> Vec<String> {
    let mut a = vec!["up"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--dry-run", "-o", "json"]);
    let out = lab.ok(&a);
    let first: Value = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let mut names: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn up_applies_every_planned_object_and_rerun_changes_nothing() {
    let lab = Lab::get();
    let client = lab.client().await;
    lab.ok(&["down", "apply"]); // leftovers of an earlier run
    let out = lab.ok(&["up", "apply", "--wait=false"]);
    assert!(
        out.contains("cluster apply created in namespace inception-apply"),
        "{out}"
    );

    // Every planned object exists, accepted by the real apiserver.
    let have = objects(&client, "apply").await;
    let mut have_names: Vec<String> = have.keys().cloned().collect();
    have_names.sort();
    assert_eq!(have_names, planned(&lab, &["apply"]));

    // The same command again: nothing changes.
    lab.ok(&["up", "apply", "--wait=false"]);
    assert_eq!(
        objects(&client, "apply").await,
        have,
        "a rerun changed objects"
    );

    // Another plan for the same cluster is refused, and nothing changes.
    let err = lab.fails(&[
        "up",
        "apply",
        "--wait=false",
        "--kubernetes-version",
        "v1.20.2",
    ]);
    assert!(err.contains("exists with a different plan"), "{err}");
    assert!(err.contains("this run: v1.20.2"), "{err}");
    let err = lab.fails(&["up", "apply", "--wait=false", "--pod-prefix", "18"]);
    assert!(err.contains("exists with a different plan"), "{err}");
    assert_eq!(
        objects(&client, "apply").await,
        have,
        "a refused run changed objects"
    );

    // Another image would restart the control plane: refused.
    let err = lab.fails(&[
        "up",
        "apply",
        "--wait=false",
        "--image",
        "localhost/other/node:v1.37.0",
    ]);
    assert!(
        err.contains("would restart its control plane") && err.contains("localhost/other/node"),
        "{err}"
    );
    // So would a template rendered otherwise by the version that made it
    // (applied here under up's own field manager): refused too.
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "inception-apply");
    let mut older = sts.get("control-plane").await.unwrap();
    older.metadata.managed_fields = None;
    older.metadata.resource_version = None;
    older.status = None;
    let pod = older.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    pod.containers[0]
        .env
        .get_or_insert_with(Vec::new)
        .push(k8s_openapi::api::core::v1::EnvVar {
            name: "RENDERED_BY".into(),
            value: Some("another version".into()),
            ..Default::default()
        });
    let as_up = kube::api::PatchParams::apply("kubectl-inception").force();
    sts.patch("control-plane", &as_up, &kube::api::Patch::Apply(&older))
        .await
        .unwrap();
    let have = objects(&client, "apply").await;
    let err = lab.fails(&["up", "apply", "--wait=false"]);
    assert!(
        err.contains("would restart its control plane") && err.contains("containers[0].env"),
        "{err}"
    );
    assert_eq!(
        objects(&client, "apply").await,
        have,
        "a refused run changed objects"
    );

    lab.ok(&["down", "apply"]);
    assert!(objects(&client, "apply").await.is_empty());
}

#[tokio::test]
async fn tree_shows_the_cluster_and_the_parent_networks() {
    let lab = Lab::get();
    lab.ok(&["down", "treeview"]); // leftovers of an earlier run
    lab.ok(&["up", "treeview", "--wait=false", "--workers", "2"]);
    let v: Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
    let c = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "treeview")
        .unwrap_or_else(|| panic!("treeview not in {v}"));
    assert_eq!(c["namespace"], "inception-treeview");
    assert_eq!(c["workers"], "0/2");
    assert_eq!(c["controlPlane"], "0/1");
    assert!(c["podCIDR"].as_str().unwrap().ends_with("/16"));
    // The service CIDR was found from the apiserver itself.
    let svc: Vec<&str> = v["parent"]["serviceCidrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(svc, [lab.fact("LAB_SERVICE_CIDR")]);
    // No planned range overlaps it.
    let lab_svc: ipnet::IpNet = lab.fact("LAB_SERVICE_CIDR").parse().unwrap();
    for key in ["podCIDR", "serviceCIDR"] {
        let n: ipnet::IpNet = c[key].as_str().unwrap().parse().unwrap();
        assert!(
            !n.contains(&lab_svc.network()) && !lab_svc.contains(&n.network()),
            "{key} {} overlaps the lab's services",
            c[key]
        );
    }
    // Nothing runs in this lab: the cluster shows, and why it is unreachable.
    assert_eq!(c["reachable"], "no: control plane not Ready");
    assert!(c["nodes"].is_null());
    assert_eq!(c["status"], "booting", "{v}");
    // stdout holds the table alone; the notes go to stderr.
    let o = lab.run(&["tree"]);
    let (table, notes) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{notes}");
    assert!(table.starts_with("PATH"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("treeview "))
        .unwrap_or_else(|| panic!("no treeview row in {table}"));
    assert_eq!(row.split_whitespace().nth(2), Some("booting"), "{table}");
    assert!(!table.contains("service CIDR: "), "{table}");
    assert!(notes.contains("service CIDR: "), "{notes}");
    assert!(
        notes.contains("unreachable treeview: control plane not Ready"),
        "{notes}"
    );
    // -o wide adds the networks.
    let wide = lab.ok(&["tree", "-o", "wide"]);
    let pods = c["podCIDR"].as_str().unwrap();
    assert!(!table.contains(pods) && wide.contains(pods), "{wide}");

    // --watch redraws until stopped.
    let mut watch = std::process::Command::new(&lab.bin)
        .args(["tree", "--watch", "--interval", "300ms", "-o", "yaml"])
        .env("KUBECONFIG", &lab.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    watch.kill().unwrap();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let docs = text.matches("---\n").count();
    assert!(docs >= 2, "{docs} documents in 3s of --watch:\n{text}");
    assert!(text.contains("path: treeview"), "{text}");
    lab.ok(&["down", "treeview"]);
}

#[tokio::test]
async fn internal_kubeconfig_trusts_the_apiserver_certificate() {
    let lab = Lab::get();
    let client = lab.client().await;
    lab.ok(&["down", "pki"]); // leftovers of an earlier run
    lab.ok(&["up", "pki", "--wait=false"]);
    let dir = std::env::temp_dir().join(format!("inception-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pki.kubeconfig");
    lab.ok(&[
        "kubeconfig",
        "pki",
        "--internal",
        "--write",
        file.to_str().unwrap(),
    ]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        kc["clusters"][0]["cluster"]["server"],
        "https://apiserver.inception-pki.svc:6443"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let ca_pem = b64
        .decode(
            kc["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "inception-pki");
    let pki = secrets.get("pki").await.unwrap().data.unwrap();
    let (_, ca) = x509_parser::pem::parse_x509_pem(&ca_pem).unwrap();
    let ca = ca.parse_x509().unwrap();
    let (_, server) = x509_parser::pem::parse_x509_pem(&pki["apiserver.crt"].0).unwrap();
    let server = server.parse_x509().unwrap();
    server
        .verify_signature(Some(ca.public_key()))
        .expect("the kubeconfig's CA signed the apiserver certificate");
    let sans = format!(
        "{:?}",
        server
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
    );
    assert!(sans.contains("apiserver.inception-pki.svc"), "{sans}");

    // The client certificate is the admin's, signed by the same CA.
    let (_, admin) = x509_parser::pem::parse_x509_pem(
        &b64.decode(
            kc["users"][0]["user"]["client-certificate-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let admin = admin.parse_x509().unwrap();
    admin.verify_signature(Some(ca.public_key())).unwrap();
    assert!(admin.subject().to_string().contains("system:masters"));
    std::fs::remove_dir_all(&dir).unwrap();
    lab.ok(&["down", "pki"]);
}

#[tokio::test]
async fn down_removes_everything_and_says_when_there_is_nothing() {
    let lab = Lab::get();
    let client = lab.client().await;
    lab.ok(&["down", "gone"]); // leftovers of an earlier run
    lab.ok(&["up", "gone", "--wait=false"]);
    assert!(!objects(&client, "gone").await.is_empty());
    let out = lab.ok(&["down", "gone"]);
    assert!(
        out.contains("cluster gone deleted (namespace inception-gone)"),
        "{out}"
    );
    assert!(
        objects(&client, "gone").await.is_empty(),
        "labelled objects left"
    );
    let ns: Api<Namespace> = Api::all(client.clone());
    assert!(ns.get_opt("inception-gone").await.unwrap().is_none());
    let out = lab.ok(&["down", "gone"]);
    assert!(out.contains("nothing to delete"), "{out}");
    // A path below a tree that does not exist is fine too.
    assert!(lab.ok(&["down", "gone/0"]).contains("nothing to delete"));
}

#[tokio::test]
async fn bad_input_is_refused_clearly() {
    let lab = Lab::get();
    let err = lab.fails(&["tree", "--context", "nope"]);
    assert!(err.contains("context \"nope\" not found"), "{err}");
    let err = lab.fails(&["up", "Bad_Name", "--wait=false"]);
    assert!(err.contains("invalid cluster name"), "{err}");
    let err = lab.fails(&["down", "lab/x"]);
    assert!(err.contains("invalid cluster path"), "{err}");
    let err = lab.fails(&["kubeconfig", "absent", "--internal"]);
    assert!(err.contains("no cluster absent"), "{err}");

    // A kubeconfig whose server does not answer.
    let dir = std::env::temp_dir().join(format!("inception-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(&lab.kubeconfig).unwrap();
    let start = text.find("server: ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let dead = format!(
        "{}server: https://127.0.0.1:1{}",
        &text[..start],
        &text[end..]
    );
    let file = dir.join("dead.kubeconfig");
    std::fs::write(&file, dead).unwrap();
    let o = std::process::Command::new(&lab.bin)
        .args(["tree", "--kubeconfig", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach the cluster at https://127.0.0.1:1"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
