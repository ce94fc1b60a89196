use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};

use super::*;
use crate::fake;

const OLD: &str = "abcdef.0123456789abcdef";
const INNER_OLD: &str = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
const INNER_SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";
const PARENT_TOKEN: &str = "/api/v1/namespaces/inception-lab/secrets/bootstrap-token";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// A cluster whose kube-system holds the old token's Secret expiring at
/// `expiration` (none: no Secret), and which takes new Secrets.
fn inner(expiration: Option<String>) -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    fake::serve(move |s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", INNER_OLD) => match &expiration {
            Some(e) => fake::ok(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
                "type": "bootstrap.kubernetes.io/token",
                "data": {"token-id": b64("abcdef"), "expiration": b64(e)},
            })),
            None => fake::not_found(),
        },
        ("POST", INNER_SECRETS) => fake::ok(s.body.clone()),
        _ => fake::not_found(),
    })
}

/// A parent holding the old token in `bootstrap-token`; patches are echoed.
fn parent() -> (Client, fake::Log, tokio::task::JoinHandle<()>) {
    fake::serve(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", PARENT_TOKEN) => fake::ok(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "bootstrap-token", "namespace": "inception-lab"},
            "data": {"token": b64(OLD)},
        })),
        ("PATCH", PARENT_TOKEN) => fake::ok(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "bootstrap-token", "namespace": "inception-lab"},
            "data": s.body["data"].clone(),
        })),
        _ => fake::not_found(),
    })
}

fn hours_from_now(h: u64) -> String {
    token::rfc3339(SystemTime::now() + Duration::from_secs(h * 3600)).unwrap()
}

#[tokio::test]
async fn a_token_with_time_left_is_kept() {
    let (inner, ilog, _i) = inner(Some(hours_from_now(20)));
    let (parent, plog, _p) = parent();
    assert!(!refresh(&parent, &inner, "inception-lab").await.unwrap());
    assert_eq!(ilog.all().len(), 1);
    assert_eq!(plog.count(&Method::PATCH, PARENT_TOKEN), 0);
}

#[tokio::test]
async fn an_expired_or_cleaned_up_token_is_replaced_inside_then_in_the_parent() {
    for expiration in [None, Some(hours_from_now(2))] {
        let (inner, ilog, _i) = inner(expiration);
        let (parent, plog, _p) = parent();
        assert!(refresh(&parent, &inner, "inception-lab").await.unwrap());

        let made = ilog
            .all()
            .into_iter()
            .find(|s| s.is(&Method::POST, INNER_SECRETS))
            .unwrap()
            .body;
        assert_eq!(made["type"], "bootstrap.kubernetes.io/token");
        let id = unb64(&made["data"]["token-id"]);
        assert_ne!(id, "abcdef");
        assert_eq!(
            made["metadata"]["name"].as_str().unwrap(),
            format!("bootstrap-token-{id}")
        );
        assert_eq!(
            unb64(&made["data"]["usage-bootstrap-authentication"]),
            "true"
        );
        let expires = token::parse_rfc3339(&unb64(&made["data"]["expiration"])).unwrap();
        let left = expires.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(23 * 3600), "{left:?}");

        // The parent's Secret gets the same token, nothing else.
        let patch = plog
            .all()
            .into_iter()
            .find(|s| s.is(&Method::PATCH, PARENT_TOKEN))
            .unwrap();
        let stored = unb64(&patch.body["data"]["token"]);
        assert_eq!(
            stored,
            format!("{id}.{}", unb64(&made["data"]["token-secret"]))
        );
        assert_eq!(patch.body.as_object().unwrap().len(), 1);
        assert!(patch.query.contains("fieldManager=kubectl-inception"));
    }
}

#[tokio::test]
async fn an_unusable_parent_token_is_named() {
    let (inner, _, _i) = inner(None);
    let (parent, _, _p) = fake::serve(|_| fake::not_found());
    let e = refresh(&parent, &inner, "inception-lab")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "Secret inception-lab/bootstrap-token is missing");
}

#[test]
fn only_more_workers_are_added_workers() {
    let sts = |n: i32| -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "workers"},
            "spec": {"replicas": n, "selector": {}, "serviceName": "apiserver", "template": {}},
        }))
        .unwrap()
    };
    assert!(adds_workers(Some(&sts(1)), 2));
    assert!(!adds_workers(Some(&sts(2)), 2));
    assert!(!adds_workers(Some(&sts(3)), 2));
    assert!(adds_workers(None, 1));
    assert!(!adds_workers(None, 0));
}
