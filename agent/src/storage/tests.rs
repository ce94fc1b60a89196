use super::*;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::PersistentVolumeStatus;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn fake(root: &std::path::Path) -> (Provisioner, Handle) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let p = Provisioner {
        volumes: Api::all(kube::Client::new(svc, "default")),
        node: "w1".into(),
        dir: storage::VOLUMES_DIR.into(),
        root: root.to_path_buf(),
    };
    (p, handle)
}

const UID: &str = "0f6c6d1e-2b7a-4c1d-9e55-1a2b3c4d5e6f";

fn claim(node: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "web", "uid": UID, "annotations": {
            "volume.kubernetes.io/selected-node": node,
            "volume.beta.kubernetes.io/storage-provisioner": storage::PROVISIONER}},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage::CLASS,
            "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}
    }))
    .unwrap()
}

fn status(code: u16, reason: &str) -> Response<Body> {
    let s = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": reason, "reason": reason, "code": code});
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .body(Body::from(serde_json::to_vec(&s).unwrap()))
        .unwrap()
}

fn echo(body: &Value) -> Response<Body> {
    Response::builder()
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn body_of(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_claim_on_this_node_gets_a_writable_directory_and_its_volume() {
    let root = tempfile::tempdir().unwrap();
    let (p, mut handle) = fake(root.path());
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("a create");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/api/v1/persistentvolumes");
        let body = body_of(req).await;
        send.send_response(echo(&body));
        body
    });
    assert!(p.provision(&claim("w1")).await);
    let body = server.await.unwrap();
    let name = format!("pvc-{UID}");
    assert_eq!(body["metadata"]["name"], name.as_str());
    assert_eq!(
        body["spec"]["hostPath"]["path"],
        format!("{}/{name}", storage::VOLUMES_DIR)
    );
    let dir = root.path().join(&name);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o777, "any Pod user may write");
}

#[tokio::test]
async fn a_failed_create_is_tried_again_and_an_existing_volume_settles_it() {
    let root = tempfile::tempdir().unwrap();
    let (p, mut handle) = fake(root.path());
    let server = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("first");
        send.send_response(status(500, "InternalError"));
        let (_, send) = handle.next_request().await.expect("second");
        send.send_response(status(409, "AlreadyExists"));
    });
    assert!(!p.provision(&claim("w1")).await, "not settled after a 500");
    assert!(p.provision(&claim("w1")).await, "settled: it exists");
    server.await.unwrap();
}

#[tokio::test]
async fn claims_of_other_nodes_send_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (p, mut handle) = fake(root.path());
    assert!(p.provision(&claim("w2")).await);
    drop(p);
    assert!(handle.next_request().await.is_none(), "no request was sent");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_released_volume_loses_its_directory_then_its_object() {
    let root = tempfile::tempdir().unwrap();
    let (p, mut handle) = fake(root.path());
    let mut pv = storage::volume_for(&claim("w1"), "w1", storage::VOLUMES_DIR).unwrap();
    pv.status = Some(PersistentVolumeStatus {
        phase: Some("Released".into()),
        ..Default::default()
    });
    let dir = root.path().join(format!("pvc-{UID}"));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/file"), "data").unwrap();
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("a delete");
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(
            req.uri().path(),
            format!("/api/v1/persistentvolumes/pvc-{UID}")
        );
        send.send_response(status(404, "NotFound"));
    });
    assert!(p.release(&pv).await);
    server.await.unwrap();
    assert!(!dir.exists(), "the directory is gone");
}
