//! The ClusterRole in deploy/rbac.yaml is enough: a user bound to it alone
//! passes doctor's rbac check and can make, see and remove a tree on the
//! API lab; bound to it without pods/exec, doctor names what is missing.

use std::time::{Duration, Instant};

use base64::Engine;
use inception_tests::Lab;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::Kubeconfig;
use kube::{Api, Client};
use serde_json::{Value, json};

const NS: &str = "rbac-test";

fn role_file() -> ClusterRole {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/rbac.yaml");
    serde_saphyr::from_str(&text).expect("deploy/rbac.yaml is a ClusterRole")
}

fn apply<K>(api: &Api<K>, name: &str, obj: Value) -> impl Future<Output = ()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api = api.clone();
    let name = name.to_string();
    async move {
        api.patch(
            &name,
            &PatchParams::apply("rbac-test").force(),
            &Patch::Apply(obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }
}

/// A ServiceAccount bound to `role` (applied as given), and a kubeconfig
/// file with its token and the lab's server.
async fn user(lab: &Lab, client: &Client, role: &ClusterRole) -> Lab {
    let name = role.metadata.name.clone().unwrap();
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let mut role_json = serde_json::to_value(role).unwrap();
    role_json["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    role_json["kind"] = json!("ClusterRole");
    apply(&roles, &name, role_json).await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    apply(
        &sas,
        &name,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    )
    .await;
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    apply(
        &bindings,
        &name,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}],
        }),
    )
    .await;
    // 1.20 makes a token Secret for each ServiceAccount.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    let token = loop {
        let sa = sas.get(&name).await.unwrap();
        let secret = match sa.secrets.unwrap_or_default().first() {
            Some(r) => secrets
                .get(r.name.as_deref().unwrap_or_default())
                .await
                .ok(),
            None => None,
        };
        if let Some(t) = secret.and_then(|s| s.data?.get("token").cloned()) {
            break String::from_utf8(t.0).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no token for ServiceAccount {name}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let admin = Kubeconfig::read_from(&lab.kubeconfig).unwrap();
    let cluster = &admin.clusters[0].cluster.as_ref().unwrap();
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(d), _) => d.clone(),
        (None, Some(f)) => {
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(f).unwrap())
        }
        _ => panic!("the lab kubeconfig names no CA"),
    };
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": {
            "server": cluster.server, "certificate-authority-data": ca}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "lab", "user": name}}],
        "current-context": name,
    });
    let file = std::env::temp_dir().join(format!(
        "inception-{name}-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(&kubeconfig).unwrap()).unwrap();
    Lab {
        kubeconfig: file,
        facts: lab.facts.clone(),
        bin: lab.bin.clone(),
    }
}

fn rbac_check(as_user: &Lab, name: &str) -> Value {
    let o = as_user.run(&["doctor", name, "-o", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no report ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rbac")
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn the_cluster_role_in_the_repository_is_enough() {
    let lab = Lab::get();
    let client = lab.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    apply(
        &namespaces,
        NS,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .await;

    let role = role_file();
    assert_eq!(role.metadata.name.as_deref(), Some("kubectl-inception"));
    let full = user(&lab, &client, &role).await;
    let check = rbac_check(&full, "rbacok");
    assert_eq!(check["status"], "ok", "{check:#}");

    // What the role grants is what a tree takes: up, tree, down, as that
    // user alone (API lab: objects are stored, nothing runs).
    full.ok(&["down", "rbacok"]);
    full.ok(&["up", "rbacok", "--workers", "0", "--wait=false"]);
    let tree = full.ok(&["tree", "-o", "json"]);
    assert!(tree.contains("rbacok"), "{tree}");
    full.ok(&["down", "rbacok"]);
    assert!(
        namespaces
            .get_opt("inception-rbacok")
            .await
            .unwrap()
            .is_none(),
        "down as the user left the namespace"
    );

    // Without pods/exec: doctor fails the check and names the right.
    let mut less = role.clone();
    less.metadata.name = Some("kubectl-inception-no-exec".into());
    less.rules
        .as_mut()
        .unwrap()
        .retain(|r| r.resources.as_deref() != Some(&["pods/exec".to_string()][..]));
    let partial = user(&lab, &client, &less).await;
    let check = rbac_check(&partial, "rbacno");
    assert_eq!(check["status"], "fail", "{check:#}");
    assert_eq!(
        check["detail"], "not allowed: create pods/exec",
        "{check:#}"
    );

    for name in ["kubectl-inception", "kubectl-inception-no-exec"] {
        let _ = Api::<ClusterRoleBinding>::all(client.clone())
            .delete(name, &DeleteParams::default())
            .await;
        let _ = Api::<ClusterRole>::all(client.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }
    let _ = namespaces.delete(NS, &DeleteParams::default()).await;
    let _ = std::fs::remove_file(&full.kubeconfig);
    let _ = std::fs::remove_file(&partial.kubeconfig);
}
