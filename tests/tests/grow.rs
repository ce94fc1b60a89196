//! A tree that grows, on the lab without a node: `up grow` then
//! `up grow --depth 2`. The deeper rerun is not refused as another plan
//! and keeps the root as it is (same objects, same UIDs, nothing
//! re-applied), then waits for the root to be Ready to make level 2 in it,
//! which never happens here: nothing runs on this lab. Another pool for
//! the same tree is still refused.

use std::collections::BTreeMap;

use inception_tests::Lab;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::api::ListParams;
use kube::{Api, Client};

const NAME: &str = "grow";

/// kind/namespace/name -> UID, generation and plan digest of every object
/// of the tree.
async fn objects(client: &Client) -> BTreeMap<String, String> {
    let lp = ListParams::default().labels(&format!("kubectl-inception.dev/tree={NAME}"));
    let mut out = BTreeMap::new();
    macro_rules! collect {
        ($k:ty, $kind:literal) => {
            let api: Api<$k> = Api::all(client.clone());
            for o in api.list(&lp).await.unwrap().items {
                let m = o.metadata;
                let digest = m
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubectl-inception.dev/plan"))
                    .cloned();
                out.insert(
                    format!(
                        "{}/{}/{}",
                        $kind,
                        m.namespace.unwrap_or_default(),
                        m.name.unwrap_or_default()
                    ),
                    format!("uid={:?} gen={:?} plan={digest:?}", m.uid, m.generation),
                );
            }
        };
    }
    collect!(Namespace, "Namespace");
    collect!(Secret, "Secret");
    collect!(ConfigMap, "ConfigMap");
    collect!(Service, "Service");
    collect!(StatefulSet, "StatefulSet");
    out
}

#[tokio::test]
async fn a_deeper_rerun_keeps_the_root_and_goes_on_to_level_2() {
    let lab = Lab::get();
    let client = lab.client().await;
    lab.ok(&["down", NAME]); // leftovers of an earlier run
    let out = lab.ok(&["up", NAME, "--wait=false"]);
    assert!(out.contains("cluster grow created"), "{out}");
    let before = objects(&client).await;
    assert!(
        before.contains_key("Namespace//inception-grow"),
        "{before:?}"
    );
    assert!(
        before["Namespace//inception-grow"].contains("plan=Some"),
        "{before:?}"
    );

    // Depth 2: the root is kept, and up goes on to wait for it before it
    // makes level 2 inside it. Older versions refused this rerun: the
    // root's service CIDR moved with the tree's size.
    let err = lab.fails(&["up", NAME, "--depth", "2", "--timeout", "5s"]);
    assert!(!err.contains("different plan"), "{err}");
    assert!(err.contains("cluster grow is not Ready after 5s"), "{err}");
    assert_eq!(
        objects(&client).await,
        before,
        "the deeper rerun changed the root"
    );

    // Another pool is another plan for the root: refused, nothing changes.
    let err = lab.fails(&["up", NAME, "--depth", "2", "--cidr-pool", "172.16.0.0/12"]);
    assert!(
        err.contains("cluster grow exists with a different plan"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        objects(&client).await,
        before,
        "a refused run changed objects"
    );

    lab.ok(&["down", NAME]);
    assert!(objects(&client).await.is_empty());
}
