use base64::Engine as _;
use nesting::{Plan, PlanRequest, TreeSpec};
use serde_json::{Map, Value, json};

use super::*;
use crate::fake;

const TOKEN: &str = "abcdef.0123456789abcdef";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A parent holding a planned cluster's `pki` and `bootstrap-token`.
fn parent() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    let tree = TreeSpec {
        name: "lab".into(),
        depth: 1,
        width: 1,
        workers: 1,
    };
    let plan = Plan::new(&PlanRequest::new(tree, nesting::Entropy::from_system())).unwrap();
    let files: Map<String, Value> = (plan.clusters[0].pki.files.iter())
        .map(|(k, v)| (k.clone(), b64(v).into()))
        .collect();
    fake::serve(move |s| match s.path.as_str() {
        "/api/v1/namespaces/inception-lab/secrets/pki" => fake::ok(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pki"}, "data": files,
        })),
        "/api/v1/namespaces/inception-lab/secrets/bootstrap-token" => fake::ok(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap-token"},
            "data": {"token": b64(TOKEN)},
        })),
        _ => fake::not_found(),
    })
}

/// The cluster, holding the token's Secret.
fn inner() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    fake::serve(|s| match s.path.as_str() {
        "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef" => fake::ok(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap-token-abcdef"},
            "data": {"token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
                "expiration": b64("2030-01-02T03:04:05Z")},
        })),
        _ => fake::not_found(),
    })
}

async fn run(format: TreeFormat, with_inner: bool) -> String {
    let (parent, _, _p) = parent();
    let (inner, _, _i) = inner();
    let path: ClusterPath = "lab".parse().unwrap();
    let inner = with_inner.then_some(&inner);
    let r = report(&parent, inner, "inception-lab", &path, SystemTime::now())
        .await
        .unwrap();
    let mut out = Vec::new();
    print(&r, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn every_certificate_and_the_token_expiry_and_no_secret() {
    let table = run(TreeFormat::Table, true).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 9, "{table}");
    assert!(lines[0].starts_with("CERTIFICATE"), "{table}");
    assert!(lines[1].starts_with("admin.crt "), "{table}");
    assert!(lines[1].contains("kubernetes-admin"), "{table}");
    assert!(lines[1].trim_end().ends_with(" 365") || lines[1].trim_end().ends_with(" 364"));
    assert_eq!(
        lines[8],
        "bootstrap token abcdef: expires 2030-01-02T03:04:05Z"
    );
    for out in [
        table,
        run(TreeFormat::Json, true).await,
        run(TreeFormat::Yaml, true).await,
    ] {
        assert!(!out.contains("PRIVATE KEY"), "{out}");
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert!(!out.contains(".key"), "{out}");
    }
}

#[tokio::test]
async fn without_the_cluster_only_the_certificates() {
    let json: Value = serde_json::from_str(&run(TreeFormat::Json, false).await).unwrap();
    assert_eq!(json["certificates"].as_array().unwrap().len(), 7);
    assert_eq!(json["certificates"][3]["subject"], "kubernetes");
    assert!(json.get("token").is_none(), "{json}");
}

#[tokio::test]
async fn a_cluster_without_its_pki_is_named() {
    let (parent, _, _p) = fake::serve(|_| fake::not_found());
    let path: ClusterPath = "lab".parse().unwrap();
    let e = report(&parent, None, "inception-lab", &path, SystemTime::now())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "cluster lab has no Secret inception-lab/pki");
}
