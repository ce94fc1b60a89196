//! A fake API server for request-level tests: every request a client
//! sends lands in a `tower-test` mock, and a task answers it with what a
//! routing function says, keeping what it saw.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock;

/// One request as the fake server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Seen {
    pub fn is(&self, method: &Method, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// Every request so far, in order of arrival.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, method: &Method, path: &str) -> usize {
        self.all().iter().filter(|s| s.is(method, path)).count()
    }
}

/// A client and a server task answering with `route` until the client is
/// dropped.
pub fn serve(
    mut route: impl FnMut(&Seen) -> Response<Body> + Send + 'static,
) -> (Client, Log, JoinHandle<()>) {
    serve_some(move |s| Some(route(s)))
}

/// As [`serve`], but a request `route` gives no answer to is left
/// hanging, as by a server that went silent.
pub fn serve_some(
    mut route: impl FnMut(&Seen) -> Option<Response<Body>> + Send + 'static,
) -> (Client, Log, JoinHandle<()>) {
    let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let log = Log::default();
    let kept = log.clone();
    let task = tokio::spawn(async move {
        let mut hanging = Vec::new();
        while let Some((req, reply)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let answer = route(&seen);
            kept.0.lock().unwrap().push(seen);
            match answer {
                Some(a) => reply.send_response(a),
                None => hanging.push(reply),
            }
        }
    });
    (Client::new(svc, "default"), log, task)
}

/// 200 with a JSON body.
pub fn ok(body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

/// A Kubernetes `Status` error.
pub fn status(code: u16, reason: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": format!("fake {reason}"),
        "reason": reason, "code": code,
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

pub fn not_found() -> Response<Body> {
    status(404, "NotFound")
}

/// A list of `kind` holding `items`.
pub fn list(kind: &str, items: Vec<Value>) -> Response<Body> {
    ok(json!({
        "kind": format!("{kind}List"), "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"}, "items": items,
    }))
}

/// A Namespace of an inception cluster at `path`.
pub fn namespace(name: &str, path: &str, digest: Option<&str>, managed: bool) -> Value {
    use nesting::labels;
    let mut annotations = serde_json::Map::new();
    annotations.insert(labels::PATH_ANNOTATION.into(), json!(path));
    if let Some(d) = digest {
        annotations.insert(labels::PLAN_ANNOTATION.into(), json!(d));
    }
    let mut labels = serde_json::Map::new();
    if managed {
        labels.insert(labels::MANAGED_BY.into(), json!(labels::MANAGER));
    }
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "annotations": annotations, "labels": labels},
    })
}
