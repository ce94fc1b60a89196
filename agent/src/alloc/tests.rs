use super::*;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::Value;
use tower_test::mock;

fn fake() -> (Api<Node>, mock::Handle<Request<Body>, Response<Body>>) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Api::all(kube::Client::new(svc, "default")), handle)
}

fn view(name: &str, cidr: Option<&str>) -> NodeView {
    NodeView {
        name: name.into(),
        pod_cidr: cidr.map(|c| c.parse().unwrap()),
        ip: None,
    }
}

fn planned() -> Vec<IpNet> {
    ["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect()
}

fn node_reply(name: &str, body: &Value) -> Response<Body> {
    let mut node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    node["spec"] = body["spec"].clone();
    Response::builder()
        .body(Body::from(serde_json::to_vec(&node).unwrap()))
        .unwrap()
}

async fn body_of(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_node_without_a_cidr_is_patched_with_its_own() {
    let (api, mut handle) = fake();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (req, send) = handle.next_request().await.expect("a request");
            assert_eq!(req.method(), Method::PATCH);
            let path = req.uri().path().to_string();
            let ct = req.headers()["content-type"].to_str().unwrap().to_string();
            assert_eq!(ct, "application/merge-patch+json");
            let name = path.rsplit('/').next().unwrap().to_string();
            let body = body_of(req).await;
            assert_eq!(body["spec"]["podCIDR"], body["spec"]["podCIDRs"][0]);
            seen.push((path, body["spec"]["podCIDR"].as_str().unwrap().to_string()));
            send.send_response(node_reply(&name, &body));
        }
        seen
    });
    let views = [
        view("cp", None),
        view("w-1", Some("10.1.1.0/24")),
        view("w-2", None),
    ];
    let given = allocate(&api, &views, &planned(), "cp").await;
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        [
            ("/api/v1/nodes/cp".to_string(), "10.1.0.0/24".to_string()),
            ("/api/v1/nodes/w-2".to_string(), "10.1.2.0/24".to_string()),
        ]
    );
    assert_eq!(given.len(), 2);
}

#[tokio::test]
async fn a_refused_patch_is_not_counted_and_the_rest_go_on() {
    let (api, mut handle) = fake();
    let server = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("first");
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "nodes \"a\" is forbidden", "reason": "Forbidden", "code": 403});
        send.send_response(
            Response::builder()
                .status(StatusCode::FORBIDDEN)
                .body(Body::from(serde_json::to_vec(&status).unwrap()))
                .unwrap(),
        );
        let (req, send) = handle.next_request().await.expect("second");
        let body = body_of(req).await;
        send.send_response(node_reply("b", &body));
    });
    let views = [
        view("cp", Some("10.1.0.0/24")),
        view("a", None),
        view("b", None),
    ];
    let given = allocate(&api, &views, &planned(), "cp").await;
    server.await.unwrap();
    assert_eq!(given, [("b".to_string(), "10.1.2.0/24".parse().unwrap())]);
}

#[tokio::test]
async fn a_cidr_given_but_not_seen_yet_is_never_given_again() {
    let (api, mut handle) = fake();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (req, send) = handle.next_request().await.expect("a request");
            let name = req.uri().path().rsplit('/').next().unwrap().to_string();
            let body = body_of(req).await;
            seen.push((
                name.clone(),
                body["spec"]["podCIDR"].as_str().unwrap().to_string(),
            ));
            send.send_response(node_reply(&name, &body));
        }
        seen
    });
    let mut alloc = Allocator::default();
    // w-b registers first and is given the first worker CIDR ...
    let mut first = [view("cp", Some("10.1.0.0/24")), view("w-b", None)];
    alloc.run(&api, &mut first, &planned(), "cp").await;
    // ... then w-a registers while the list still shows w-b without one.
    let mut second = [
        view("cp", Some("10.1.0.0/24")),
        view("w-a", None),
        view("w-b", None),
    ];
    alloc.run(&api, &mut second, &planned(), "cp").await;
    assert_eq!(
        server.await.unwrap(),
        [
            ("w-b".to_string(), "10.1.1.0/24".to_string()),
            ("w-a".to_string(), "10.1.2.0/24".to_string()),
        ]
    );
    assert_eq!(second[2].pod_cidr, Some("10.1.1.0/24".parse().unwrap()));
}

#[tokio::test]
async fn nothing_is_sent_when_every_node_has_one() {
    let (api, mut handle) = fake();
    let views = [
        view("cp", Some("10.1.0.0/24")),
        view("a", Some("10.1.1.0/24")),
    ];
    assert!(allocate(&api, &views, &planned(), "cp").await.is_empty());
    // The handle would hold any request sent.
    assert!(futures::poll!(Box::pin(handle.next_request())).is_pending());
}

#[tokio::test]
async fn mtu_goes_on_the_own_node_as_an_annotation() {
    let (api, mut handle) = fake();
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("a request");
        assert_eq!(req.uri().path(), "/api/v1/nodes/cp");
        let body = body_of(req).await;
        assert_eq!(
            body["metadata"]["annotations"][node::MTU_ANNOTATION],
            "1400"
        );
        send.send_response(node_reply("cp", &json!({})));
    });
    assert!(publish_mtu(&api, "cp", 1400).await);
    server.await.unwrap();
}
