//! Request-level tests of the apply module against a scripted fake API
//! server: every request the client sends goes through a `tower-test` mock,
//! and a task plays the API server, checking what it receives and answering
//! with the object it was sent, or with a Kubernetes `Status` error.

use std::collections::{BTreeMap, BTreeSet};
use std::task::Poll;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use nesting::manifests::{
    CONTROL_PLANE, KUBEADM_CONFIGMAP, Manifest, PKI_SECRET, SERVICE, WORKERS,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle, SendResponse};

use super::*;

type ApiHandle = Handle<Request<Body>, Response<Body>>;
type Reply = SendResponse<Response<Body>>;

/// A client whose every request lands in the returned handle.
fn fake_client() -> (Client, ApiHandle) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(svc, "default"), handle)
}

/// The 9 objects of the root cluster of a one-cluster tree.
fn objects() -> Vec<Manifest> {
    let req = nesting::PlanRequest::new(
        nesting::TreeSpec {
            name: "t".into(),
            depth: 1,
            width: 1,
            workers: 1,
        },
        nesting::Entropy::from_system(),
    );
    let plan = nesting::Plan::new(&req).unwrap();
    let objects = plan.manifests(&plan.clusters[0]).unwrap();
    assert_eq!(objects.len(), 10, "the planner's object list changed");
    objects
}

fn pick(objects: &[Manifest], kind: &str, name: &str) -> Manifest {
    objects
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the plan"))
        .clone()
}

/// The namespace the cluster's objects live in.
fn namespace(objects: &[Manifest]) -> String {
    let ns = objects
        .iter()
        .find(|m| matches!(m, Manifest::Namespace(_)))
        .expect("a Namespace in the plan")
        .name()
        .to_owned();
    assert!(!ns.is_empty());
    ns
}

/// Where the API server serves an object, written out by hand rather than
/// derived from kube, so a wrong URL in the client shows up here.
fn expected_path(m: &Manifest) -> String {
    let ns = m.meta().namespace.clone().unwrap_or_default();
    let name = m.name();
    match m {
        Manifest::Namespace(_) => format!("/api/v1/namespaces/{name}"),
        Manifest::Secret(_) => format!("/api/v1/namespaces/{ns}/secrets/{name}"),
        Manifest::ConfigMap(_) => format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
        Manifest::Service(_) => format!("/api/v1/namespaces/{ns}/services/{name}"),
        Manifest::StatefulSet(_) => {
            format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}")
        }
        // The fake server serves no policy/v1, as 1.20 does not.
        Manifest::PodDisruptionBudget(_) => {
            format!("/apis/policy/v1beta1/namespaces/{ns}/poddisruptionbudgets/{name}")
        }
    }
}

/// The discovery of policy/v1 before a disruption budget is applied.
const POLICY_V1: &str = "/apis/policy/v1";

/// One request as the fake server saw it.
#[derive(Debug)]
struct Seen {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Value,
}

impl Seen {
    async fn read(req: Request<Body>) -> Seen {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.expect("readable request body");
        let query = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (p.to_owned(), String::new()),
            })
            .collect();
        Seen {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query,
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned()),
            // A GET has no body.
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("request body is JSON")
            },
        }
    }

    fn kind(&self) -> &str {
        self.body["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.body["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// Checks this is a server-side apply of `m` by the plugin.
    fn assert_applies(&self, m: &Manifest) {
        assert_eq!(self.method, Method::PATCH, "{self:?}");
        assert_eq!(self.path, expected_path(m), "{self:?}");
        assert_eq!(
            self.query.get("fieldManager").map(String::as_str),
            Some(FIELD_MANAGER),
            "{self:?}"
        );
        assert_eq!(FIELD_MANAGER, "kubectl-inception");
        // Taking fields from other managers would hide conflicts that
        // `describe` is there to explain.
        assert_ne!(
            self.query.get("force").map(String::as_str),
            Some("true"),
            "{self:?}"
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{self:?}"
        );
        assert_eq!(self.kind(), m.kind(), "{self:?}");
        assert_eq!(self.name(), m.name(), "{self:?}");
        assert_eq!(
            self.body["metadata"]["namespace"].as_str(),
            m.meta().namespace.as_deref(),
            "{self:?}"
        );
        // The whole object goes out, not only its name (a budget in the
        // version the server has).
        let mut want = m.to_value();
        if let Manifest::PodDisruptionBudget(_) = m {
            want["apiVersion"] = "policy/v1beta1".into();
        }
        assert_eq!(self.body, want, "{self:?}");
    }
}

async fn receive(handle: &mut ApiHandle) -> (Seen, Reply) {
    let (req, reply) = handle.next_request().await.expect("a request");
    (Seen::read(req).await, reply)
}

/// What the API server answers to a successful apply: the object.
fn echo(seen: &Seen) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&seen.body).unwrap()))
        .unwrap()
}

/// A Kubernetes `Status` error.
fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&status).unwrap()))
        .unwrap()
}

/// Applies `m` against a server that answers its one request with
/// `answer`, checks that request, and that no other was sent.
async fn apply_one(
    m: &Manifest,
    answer: impl FnOnce(&Seen) -> Response<Body> + Send + 'static,
) -> Result<()> {
    let (client, mut handle) = fake_client();
    let server = tokio::spawn(async move {
        let (seen, reply) = receive(&mut handle).await;
        reply.send_response(answer(&seen));
        let more = handle.next_request().await;
        assert!(more.is_none(), "a second request: {:?}", more.map(|r| r.0));
        seen
    });
    let res = apply(&client, m).await;
    drop(client);
    let seen = server.await.expect("fake server");
    seen.assert_applies(m);
    res
}

#[tokio::test]
async fn apply_namespace_is_one_server_side_apply() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "Namespace", &ns);
    apply_one(&m, echo).await.unwrap();
    assert_eq!(expected_path(&m), format!("/api/v1/namespaces/{ns}"));
}

#[tokio::test]
async fn apply_secret_goes_to_its_namespace() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "Secret", PKI_SECRET);
    assert_eq!(m.meta().namespace.as_deref(), Some(ns.as_str()));
    apply_one(&m, echo).await.unwrap();
    assert_eq!(
        expected_path(&m),
        format!("/api/v1/namespaces/{ns}/secrets/pki")
    );
}

#[tokio::test]
async fn apply_statefulset_goes_to_apps_v1() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "StatefulSet", CONTROL_PLANE);
    apply_one(&m, echo).await.unwrap();
    assert_eq!(
        expected_path(&m),
        format!("/apis/apps/v1/namespaces/{ns}/statefulsets/control-plane")
    );
}

#[tokio::test]
async fn conflict_names_the_object_and_the_other_manager() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "ConfigMap", KUBEADM_CONFIGMAP);
    let err = apply_one(&m, |_| {
        failure(
            409,
            "Conflict",
            r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.kubeadm"#,
        )
    })
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains(&format!("ConfigMap {ns}/kubeadm")), "{text}");
    assert!(text.contains("another manager"), "{text}");
    assert!(text.contains("kubectl-edit"), "server message lost: {text}");
    assert!(
        matches!(
            err.downcast_ref::<ApplyError>(),
            Some(ApplyError::Conflict { kind, .. }) if kind == "ConfigMap"
        ),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn server_error_names_the_object_and_the_code() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "Service", SERVICE);
    let (client, mut handle) = fake_client();
    let server = tokio::spawn(async move {
        let mut tries = 0;
        while let Some((_, reply)) = handle.next_request().await {
            tries += 1;
            reply.send_response(failure(
                500,
                "InternalError",
                "etcdserver: request timed out",
            ));
        }
        tries
    });
    let err = apply(&client, &m).await.unwrap_err();
    drop(client);
    assert_eq!(
        server.await.unwrap(),
        4,
        "a server error is tried again, 4 times in all"
    );
    let text = format!("{err:#}");
    assert!(text.contains(&format!("Service {ns}/apiserver")), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("etcdserver: request timed out"), "{text}");
    assert!(!text.contains("another manager"), "{text}");
}

#[tokio::test]
async fn forbidden_says_not_allowed_to_write() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "StatefulSet", WORKERS);
    let err = apply_one(&m, move |_| {
        failure(
            403,
            "Forbidden",
            r#"statefulsets.apps "workers" is forbidden: User "dev" cannot patch resource"#,
        )
    })
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("not allowed to write"), "{text}");
    assert!(
        text.contains(&format!("StatefulSet {ns}/workers")),
        "{text}"
    );
    assert!(text.contains("cannot patch resource"), "{text}");
    assert!(!text.contains("HTTP 403"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_broken_connection_is_tried_again() {
    let objects = objects();
    let m = pick(&objects, "Secret", PKI_SECRET);
    let (client, mut handle) = fake_client();
    let server = tokio::spawn(async move {
        let (_, reply) = receive(&mut handle).await;
        reply.send_error("connection reset by peer");
        let (seen, reply) = receive(&mut handle).await;
        reply.send_response(echo(&seen));
        seen
    });
    apply(&client, &m).await.unwrap();
    server.await.unwrap().assert_applies(&m);
}

#[tokio::test(start_paused = true)]
async fn broken_connection_names_the_object() {
    let objects = objects();
    let ns = namespace(&objects);
    let m = pick(&objects, "Secret", PKI_SECRET);
    let (client, mut handle) = fake_client();
    let server = tokio::spawn(async move {
        let mut last = None;
        while let Some((req, reply)) = handle.next_request().await {
            last = Some(Seen::read(req).await);
            reply.send_error("connection reset by peer");
        }
        last.expect("a request")
    });
    let err = apply(&client, &m).await.unwrap_err();
    drop(client);
    server.await.unwrap().assert_applies(&m);
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("cannot apply Secret {ns}/pki")),
        "{text}"
    );
    assert!(text.contains("connection reset by peer"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_in_virtual_time() {
    let objects = objects();
    let m = pick(&objects, "StatefulSet", CONTROL_PLANE);
    // Nobody reads the handle: the request waits for an answer forever.
    let (client, mut handle) = fake_client();
    let real = std::time::Instant::now();
    let virt = tokio::time::Instant::now();

    // The guard matters only if `apply` had no deadline of its own: the
    // test then fails, in virtual time too, instead of hanging.
    let err = tokio::time::timeout(APPLY_TIMEOUT * 2, apply(&client, &m))
        .await
        .expect("apply never gave up")
        .unwrap_err();

    let waited = virt.elapsed();
    assert!(waited >= APPLY_TIMEOUT, "gave up after {waited:?}");
    assert!(
        waited < APPLY_TIMEOUT + Duration::from_secs(1),
        "gave up after {waited:?}"
    );
    assert!(
        real.elapsed() < Duration::from_secs(5),
        "time was not paused"
    );
    let text = format!("{err:#}");
    assert!(text.contains("no answer from the server in 30s"), "{text}");
    assert!(text.contains("StatefulSet"), "{text}");
    assert!(text.contains(CONTROL_PLANE), "{text}");
    // It timed out waiting for the answer, not before sending.
    let Poll::Ready(Some((req, _reply))) = handle.poll_request() else {
        panic!("the request never reached the server");
    };
    Seen::read(req).await.assert_applies(&m);
    assert!(handle.poll_request().is_pending(), "a second request");
}

/// Lets every other task run until all wait on something: with paused
/// time the clock only moves once the runtime is idle.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Plays the API server for `apply_cluster`. For each stage size it takes
/// that many requests without answering any, checks nothing else is sent
/// while they are unanswered, then answers them (a 500 for `fail`, the
/// object otherwise). Afterwards it answers whatever else comes until the
/// client is dropped, and returns every request in arrival order.
fn cluster_server(
    mut handle: ApiHandle,
    stages: &'static [usize],
    fail: Option<String>,
) -> JoinHandle<Vec<Seen>> {
    tokio::spawn(async move {
        let answer = move |s: &Seen| {
            if Some(&s.path) == fail.as_ref() {
                failure(500, "InternalError", "boom")
            } else {
                echo(s)
            }
        };
        let mut all = Vec::new();
        for (i, &n) in stages.iter().enumerate() {
            let mut pending = Vec::new();
            for _ in 0..n {
                pending.push(receive(&mut handle).await);
            }
            settle().await;
            if let Poll::Ready(Some((req, _))) = handle.poll_request() {
                let extra = Seen::read(req).await;
                panic!(
                    "stage {i}: {} {} sent before {:?} were answered",
                    extra.kind(),
                    extra.name(),
                    pending.iter().map(|p| &p.0.path).collect::<Vec<_>>()
                );
            }
            for (seen, reply) in pending {
                reply.send_response(answer(&seen));
                all.push(seen);
            }
        }
        while let Some((req, reply)) = handle.next_request().await {
            let seen = Seen::read(req).await;
            reply.send_response(answer(&seen));
            all.push(seen);
        }
        all
    })
}

#[tokio::test(start_paused = true)]
async fn cluster_stops_before_workloads_when_configuration_fails() {
    let objects = objects();
    let ns = namespace(&objects);
    let pki = expected_path(&pick(&objects, "Secret", PKI_SECRET));
    let (client, handle) = fake_client();
    let server = cluster_server(handle, &[1, 6], Some(pki.clone()));

    let err = apply_cluster(&client, &objects).await.unwrap_err();
    drop(client);
    let seen = server.await.expect("fake server");

    let text = format!("{err:#}");
    assert!(text.contains("apply failed"), "{text}");
    assert!(text.contains(&format!("Secret {ns}/pki")), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");

    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths[0], format!("/api/v1/namespaces/{ns}"), "{paths:#?}");
    assert!(paths.contains(&pki.as_str()), "{paths:#?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("statefulsets") || p.contains("deployments")),
        "workloads applied after a failed stage: {paths:#?}"
    );
    // The failing Secret was tried again, the others once each.
    assert_eq!(paths.iter().filter(|p| **p == pki).count(), 4, "{paths:#?}");
    assert_eq!(seen.len(), 10, "{paths:#?}");
}

#[tokio::test(start_paused = true)]
async fn cluster_applies_every_object_once_in_stages() {
    let objects = objects();
    let (client, handle) = fake_client();
    let server = cluster_server(handle, &[1, 6, 3], None);

    apply_cluster(&client, &objects).await.unwrap();
    drop(client);
    let (discovery, seen): (Vec<Seen>, Vec<Seen>) = server
        .await
        .expect("fake server")
        .into_iter()
        .partition(|s| s.method == Method::GET);
    let asked: Vec<&str> = discovery.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(asked, [POLICY_V1], "one discovery, for the budget");

    assert_eq!(seen.len(), objects.len(), "{seen:#?}");
    let sent: BTreeSet<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    let wanted: Vec<String> = objects.iter().map(expected_path).collect();
    let wanted: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    assert_eq!(sent, wanted, "each object exactly once");
    for s in &seen {
        let m = objects.iter().find(|m| expected_path(m) == s.path).unwrap();
        s.assert_applies(m);
    }

    let kinds: Vec<&str> = seen.iter().map(Seen::kind).collect();
    assert_eq!(kinds[0], "Namespace", "{kinds:?}");
    let mut middle = kinds[1..7].to_vec();
    middle.sort_unstable();
    assert_eq!(
        middle,
        [
            "ConfigMap",
            "ConfigMap",
            "Secret",
            "Secret",
            "Secret",
            "Service"
        ],
        "{kinds:?}"
    );
    let mut last = kinds[7..].to_vec();
    last.sort_unstable();
    assert_eq!(
        last,
        ["PodDisruptionBudget", "StatefulSet", "StatefulSet"],
        "{kinds:?}"
    );
}
