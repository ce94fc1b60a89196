//! `gc` against the API-only lab: orphans made by hand are listed, then
//! removed; clusters in their place and their contexts are kept.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use inception_tests::Lab;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

/// `gc` acts on the whole lab: the tests here run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serially(test: impl std::future::Future<Output = ()>) {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// A namespace labelled as `up` labels the one of cluster `path` (`t/0/0`).
fn cluster_namespace(path: &str) -> Namespace {
    let tree = path.split('/').next().unwrap();
    let depth = path.split('/').count();
    Namespace {
        metadata: ObjectMeta {
            name: Some(format!("inception-{}", path.replace('/', "-"))),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-inception".to_string(),
                ),
                ("kubectl-inception.dev/tree".to_string(), tree.to_string()),
                (
                    "kubectl-inception.dev/path".to_string(),
                    path.replace('/', "."),
                ),
                ("kubectl-inception.dev/depth".to_string(), depth.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                "kubectl-inception.dev/path".to_string(),
                path.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The namespace `test --keep` leaves in a cluster.
fn smoke_namespace() -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some("inception-smoke".into()),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-inception".to_string(),
                ),
                ("app".to_string(), "web".to_string()),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Deletes namespace `name` if it is there and waits until it is gone.
async fn delete_and_wait(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
    wait_gone(client, name).await;
}

async fn wait_gone(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let start = Instant::now();
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "namespace {name} is still there after 90s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Asserts that namespace `name` exists and is not being deleted.
async fn assert_kept(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = api
        .get_opt(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("namespace {name} was removed"));
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "namespace {name} is being deleted"
    );
}

/// The finding lines of a `gc` output (without its summary).
fn findings(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            ["removed  ", "would remove  ", "stuck  ", "failed  "]
                .iter()
                .any(|v| l.starts_with(v))
        })
        .collect()
}

#[test]
fn gc_lists_then_removes_orphan_namespaces_and_keeps_clusters_in_place() {
    serially(async {
        let lab = Lab::get();
        let client = lab.client().await;
        let api: Api<Namespace> = Api::all(client.clone());
        // Leftovers of an earlier run.
        lab.ok(&["down", "gckeep"]);
        for ns in ["inception-gcghost-0-0", "inception-smoke"] {
            delete_and_wait(&client, ns).await;
        }

        // A cluster in its place at depth 1, and one hung below it.
        lab.ok(&["up", "gckeep", "--wait=false"]);
        let pp = PostParams::default();
        api.create(&pp, &cluster_namespace("gckeep/0"))
            .await
            .unwrap();
        // An orphan: tree gcghost has no top cluster here.
        api.create(&pp, &cluster_namespace("gcghost/0/0"))
            .await
            .unwrap();
        // A smoke test namespace too young to be collected.
        api.create(&pp, &smoke_namespace()).await.unwrap();

        let out = lab.ok(&["gc", "--dry-run"]);
        let found = findings(&out);
        assert_eq!(found.len(), 1, "exactly the orphan:\n{out}");
        assert!(
            found[0].starts_with("would remove  namespace inception-gcghost-0-0 (lab-")
                && found[0].contains("parent cluster gcghost/0 is not found"),
            "{out}"
        );
        assert!(out.contains("1 would be removed, 0 stuck"), "{out}");
        for ns in [
            "inception-gcghost-0-0",
            "inception-gckeep",
            "inception-gckeep-0",
            "inception-smoke",
        ] {
            assert_kept(&client, ns).await;
        }

        let out = lab.ok(&["gc"]);
        let found = findings(&out);
        assert_eq!(found.len(), 1, "exactly the orphan:\n{out}");
        assert!(
            found[0].starts_with("removed  namespace inception-gcghost-0-0 (lab-"),
            "{out}"
        );
        assert!(out.contains("1 removed, 0 failed, 0 stuck"), "{out}");
        wait_gone(&client, "inception-gcghost-0-0").await;
        for ns in ["inception-gckeep", "inception-gckeep-0", "inception-smoke"] {
            assert_kept(&client, ns).await;
        }
        // The cluster still shows in the tree.
        let tree: Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
        let top = tree["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == "gckeep")
            .unwrap_or_else(|| panic!("gckeep not in {tree}"));
        assert_eq!(top["children"][0]["path"], "gckeep/0", "{tree}");

        let out = lab.ok(&["gc"]);
        assert!(findings(&out).is_empty(), "{out}");
        assert!(
            out.starts_with("nothing to collect in context lab-"),
            "{out}"
        );

        lab.ok(&["down", "gckeep"]);
        delete_and_wait(&client, "inception-smoke").await;
        for ns in ["inception-gckeep", "inception-gckeep-0"] {
            wait_gone(&client, ns).await;
        }
    });
}

/// Adds a context marked with cluster `path` reached from context `from`,
/// as `connect` does, with its own cluster and user.
fn add_marked_context(doc: &mut Value, path: &str, from: &str) {
    let name = format!("inception-{}", path.replace('/', "-"));
    let push = |doc: &mut Value, key: &str, item: Value| {
        doc[key].as_array_mut().unwrap().push(item);
    };
    push(
        doc,
        "clusters",
        json!({"name": name, "cluster": {"server": "https://127.0.0.1:1"}}),
    );
    push(doc, "users", json!({"name": name, "user": {"token": "x"}}));
    push(
        doc,
        "contexts",
        json!({"name": name, "context": {
            "cluster": name,
            "user": name,
            "extensions": [{
                "name": "kubectl-inception.dev/path",
                "extension": {"path": path, "from": from},
            }],
        }}),
    );
}

fn names(doc: &Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

fn gc_with(lab: &Lab, kubeconfig: &Path, args: &[&str]) -> String {
    let o = Command::new(&lab.bin)
        .arg("gc")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gc {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn gc_removes_contexts_of_clusters_that_are_gone() {
    serially(async {
        let lab = Lab::get();
        lab.ok(&["down", "gcctx"]);
        lab.ok(&["up", "gcctx", "--wait=false"]);

        // The lab's kubeconfig, plus contexts `connect` would have added:
        // for a cluster that is gone, for a live one, and for one below
        // it that cannot be looked for (its parent does not answer); and one
        // reached from another context, not judged from this one.
        let dir = std::env::temp_dir().join(format!("inception-gc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config");
        let mut doc: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&lab.kubeconfig).unwrap()).unwrap();
        let lab_context = doc["current-context"].as_str().unwrap().to_string();
        for path in ["gcghost/0", "gcctx", "gcctx/0"] {
            add_marked_context(&mut doc, path, &lab_context);
        }
        add_marked_context(&mut doc, "gcother/0", "some-other-cluster");
        let before = serde_saphyr::to_string(&doc).unwrap();
        std::fs::write(&file, &before).unwrap();

        let out = gc_with(&lab, &file, &["--dry-run"]);
        let found = findings(&out);
        assert_eq!(found.len(), 1, "exactly the stale context:\n{out}");
        assert_eq!(
            found[0],
            format!(
                "would remove  context inception-gcghost-0 ({})  cluster gcghost/0 no longer exists (not found from context {lab_context})",
                file.display()
            ),
            "{out}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            before,
            "--dry-run changed the kubeconfig"
        );

        let out = gc_with(&lab, &file, &[]);
        let found = findings(&out);
        assert_eq!(found.len(), 1, "exactly the stale context:\n{out}");
        assert!(
            found[0].starts_with("removed  context inception-gcghost-0 ("),
            "{out}"
        );
        let after: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            names(&after, "contexts"),
            [
                lab_context.as_str(),
                "inception-gcctx",
                "inception-gcctx-0",
                "inception-gcother-0"
            ]
        );
        assert!(!names(&after, "clusters").contains(&"inception-gcghost-0".to_string()));
        assert!(!names(&after, "users").contains(&"inception-gcghost-0".to_string()));
        assert_eq!(after["current-context"], lab_context.as_str());
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "kubeconfig mode {mode:o}");
        }

        let out = gc_with(&lab, &file, &[]);
        assert!(findings(&out).is_empty(), "{out}");

        lab.ok(&["down", "gcctx"]);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
