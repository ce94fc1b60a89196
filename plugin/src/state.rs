//! Clusters that already exist in a parent, found by their labels.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::ListParams;
use kube::{Api, Client};
use nesting::manifests::{CONTROL_PLANE, PKI_SECRET, TOKEN_KEY, TOKEN_SECRET};
use nesting::pki::ClusterPki;
use nesting::{ClusterPath, Plan, PlannedCluster, labels};

/// Namespaces of inception clusters matching a label selector.
pub async fn namespaces(client: &Client, selector: &str) -> Result<Vec<Namespace>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .context("cannot list namespaces")?;
    Ok(list.items)
}

/// A namespace's conditions that hold, as `Type: message`.
pub fn true_conditions(ns: &Namespace) -> Vec<String> {
    (ns.status.as_ref().and_then(|s| s.conditions.as_ref()))
        .into_iter()
        .flatten()
        .filter(|c| c.status == "True")
        .map(|c| format!("{}: {}", c.type_, c.message.clone().unwrap_or_default()))
        .collect()
}

/// The cluster path a namespace belongs to.
pub fn path_of(ns: &Namespace) -> Option<ClusterPath> {
    ns.metadata
        .annotations
        .as_ref()?
        .get(labels::PATH_ANNOTATION)?
        .parse()
        .ok()
}

/// The plan digest recorded on a cluster's namespace.
pub fn digest_of(ns: &Namespace) -> Option<&str> {
    ns.metadata
        .annotations
        .as_ref()?
        .get(labels::PLAN_ANNOTATION)
        .map(String::as_str)
}

fn is_managed(ns: &Namespace) -> bool {
    ns.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGER)
}

/// Reads the PKI of an existing cluster; `None` when its Secrets are not there yet.
pub async fn load_pki(client: &Client, namespace: &str) -> Result<Option<ClusterPki>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let (pki, token) = tokio::try_join!(api.get_opt(PKI_SECRET), api.get_opt(TOKEN_SECRET))
        .with_context(|| format!("cannot read the Secrets of namespace {namespace}"))?;
    let (Some(pki), Some(token)) = (pki, token) else {
        return Ok(None);
    };
    let text =
        |data: Option<BTreeMap<String, k8s_openapi::ByteString>>| -> BTreeMap<String, String> {
            data.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect()
        };
    let files = text(pki.data);
    let token = text(token.data).remove(TOKEN_KEY).unwrap_or_default();
    let pki = ClusterPki::from_files(files, &token)
        .with_context(|| format!("the PKI stored in namespace {namespace} is unusable"))?;
    Ok(Some(pki))
}

/// A cluster whose PKI Secrets are gone gets a new PKI only if no control
/// plane runs yet (an earlier `up` stopped before them); over a running
/// one, its nodes would no longer trust each other, so that is refused.
async fn refuse_new_pki(client: &Client, c: &PlannedCluster) -> Result<()> {
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &c.namespace);
    let running = sts
        .get_opt(CONTROL_PLANE)
        .await
        .with_context(|| format!("cannot read StatefulSet {}/{CONTROL_PLANE}", c.namespace))?
        .is_some();
    if !running {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &c.namespace);
    let mut missing = Vec::new();
    for name in [PKI_SECRET, TOKEN_SECRET] {
        if secrets.get_opt(name).await?.is_none() {
            missing.push(format!("Secret {}/{name}", c.namespace));
        }
    }
    bail!(
        "cluster {} runs, but {} {} missing: a new PKI would lock its nodes out of it. Nothing was changed. \
         Restore {}, or remove the cluster with `kubectl inception down {}` and run up again",
        c.path,
        missing.join(" and "),
        if missing.len() == 1 { "is" } else { "are" },
        if missing.len() == 1 { "it" } else { "them" },
        c.path
    )
}

/// Makes a planned cluster match what exists: reuses its PKI so a rerun
/// changes nothing, and refuses a different plan for an existing cluster.
pub async fn reconcile(client: &Client, plan: &Plan, c: &mut PlannedCluster) -> Result<bool> {
    let api: Api<Namespace> = Api::all(client.clone());
    let Some(ns) = api
        .get_opt(&c.namespace)
        .await
        .with_context(|| format!("cannot read namespace {}", c.namespace))?
    else {
        return Ok(false);
    };
    if !is_managed(&ns) {
        bail!(
            "namespace {} exists and is not managed by kubectl-inception: choose another tree name or -n NAMESPACE",
            c.namespace
        );
    }
    if path_of(&ns).as_ref() != Some(&c.path) {
        bail!(
            "namespace {} belongs to cluster {}, not {}: choose another tree name or -n NAMESPACE",
            c.namespace,
            path_of(&ns)
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            c.path
        );
    }
    if ns.metadata.deletion_timestamp.is_some() {
        bail!(
            "cluster {} is being deleted: wait for `kubectl inception down {}` to finish, then run up again",
            c.path,
            c.path
        );
    }
    let want = plan.digest(c);
    if let Some(have) = digest_of(&ns).filter(|have| *have != want) {
        return Err(nesting::Error::DifferentPlan {
            path: c.path.clone(),
            have: have.to_string(),
            want,
        }
        .into());
    }
    match load_pki(client, &c.namespace).await? {
        Some(pki) => {
            c.pki = pki;
            renew(c)?;
        }
        None => refuse_new_pki(client, c).await?,
    }
    Ok(true)
}

/// Renews the leaf certificates of `c`'s PKI that expire within 30 days
/// (the admin certificate of its kubeconfigs among them); the apply then
/// writes them to its Secrets. See [`nesting::pki::RENEW_BEFORE`].
fn renew(c: &mut PlannedCluster) -> Result<()> {
    let renewed = c
        .pki
        .renew_expiring(&nesting::Entropy::from_system())
        .with_context(|| format!("cannot renew the certificates of cluster {}", c.path))?;
    if !renewed.is_empty() {
        tracing::warn!(
            "cluster {}: renewed {} (under 30 days left); kubeconfigs written before hold the old admin certificate:              get new ones with `kubectl inception kubeconfig {}`",
            c.path,
            renewed.join(", "),
            c.path
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::Method;
    use nesting::{PlanRequest, TreeSpec};

    use super::*;
    use crate::fake;

    fn plan() -> Plan {
        Plan::new(&PlanRequest::new(
            TreeSpec {
                name: "lab".into(),
                depth: 1,
                width: 1,
                workers: 1,
            },
            nesting::Entropy::from_system(),
        ))
        .unwrap()
    }

    /// Reconciles the top cluster of `plan` against a parent holding `ns`
    /// (none: 404), its Secrets absent.
    async fn reconcile_with(ns: Option<serde_json::Value>) -> (Result<bool>, fake::Log) {
        let plan = plan();
        let mut c = plan.clusters[0].clone();
        let (client, log, _server) = fake::serve(move |s| match (&ns, s.path.as_str()) {
            (Some(ns), "/api/v1/namespaces/inception-lab") => fake::ok(ns.clone()),
            _ => fake::not_found(),
        });
        (reconcile(&client, &plan, &mut c).await, log)
    }

    #[tokio::test]
    async fn a_new_cluster_needs_one_read() {
        let (r, log) = reconcile_with(None).await;
        assert!(!r.unwrap());
        assert_eq!(log.all().len(), 1);
    }

    #[tokio::test]
    async fn the_same_plan_is_reused() {
        let want = plan().digest(&plan().clusters[0]);
        let ns = fake::namespace("inception-lab", "lab", Some(&want), true);
        let (r, log) = reconcile_with(Some(ns)).await;
        assert!(r.unwrap());
        // Then its Secrets are read, to keep its PKI.
        let secrets = "/api/v1/namespaces/inception-lab/secrets";
        assert_eq!(log.count(&Method::GET, &format!("{secrets}/pki")), 1);
        assert_eq!(
            log.count(&Method::GET, &format!("{secrets}/bootstrap-token")),
            1
        );
    }

    #[tokio::test]
    async fn a_rerun_renews_the_admin_certificate_when_under_30_days_are_left() {
        use base64::Engine as _;
        use nesting::pki::{ADMIN_CERT, CA_CERT};
        use std::time::{Duration, SystemTime};

        let plan = plan();
        let want = plan.digest(&plan.clusters[0]);
        let ns = fake::namespace("inception-lab", "lab", Some(&want), true);
        let made = SystemTime::now() - Duration::from_secs(340 * 24 * 3600);
        let old = nesting::Entropy::new([3; 32], made);
        let tree = TreeSpec {
            name: "lab".into(),
            depth: 1,
            width: 1,
            workers: 1,
        };
        let old = Plan::new(&PlanRequest::new(tree, old)).unwrap();
        let old = old.clusters[0].pki.clone();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let files: serde_json::Map<String, serde_json::Value> = old
            .files
            .iter()
            .map(|(k, v)| (k.clone(), b64(v).into()))
            .collect();
        let token = b64(&old.token.token());
        let (client, _, _server) = fake::serve(move |s| match s.path.as_str() {
            "/api/v1/namespaces/inception-lab" => fake::ok(ns.clone()),
            "/api/v1/namespaces/inception-lab/secrets/pki" => fake::ok(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pki"}, "data": files,
            })),
            "/api/v1/namespaces/inception-lab/secrets/bootstrap-token" => {
                fake::ok(serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "bootstrap-token"}, "data": {"token": token}}))
            }
            _ => fake::not_found(),
        });
        let mut c = plan.clusters[0].clone();
        assert!(reconcile(&client, &plan, &mut c).await.unwrap());
        // Same CA and token, a new admin certificate good for a year.
        assert_eq!(c.pki.files[CA_CERT], old.files[CA_CERT]);
        assert_eq!(c.pki.token, old.token);
        assert_ne!(c.pki.files[ADMIN_CERT], old.files[ADMIN_CERT]);
        let admin =
            nesting::pki::certificates(c.pki.files.iter().filter(|(k, _)| *k == ADMIN_CERT))
                .unwrap();
        let left = nesting::pki::days_left(admin[0].not_after, SystemTime::now());
        assert!(left >= 364, "{left}");
        // The kubeconfig the apply writes holds it.
        let kc = plan.kubeconfig(&c, "https://x", None).to_yaml().unwrap();
        assert!(kc.contains(&b64(&c.pki.files[ADMIN_CERT])), "{kc}");
    }

    #[tokio::test]
    async fn a_running_cluster_without_its_pki_is_refused_not_given_a_new_one() {
        let plan = plan();
        let want = plan.digest(&plan.clusters[0]);
        let ns = fake::namespace("inception-lab", "lab", Some(&want), true);
        let serve = |running: bool| {
            let ns = ns.clone();
            fake::serve(move |s| match s.path.as_str() {
                "/api/v1/namespaces/inception-lab" => fake::ok(ns.clone()),
                "/api/v1/namespaces/inception-lab/secrets/bootstrap-token" => {
                    fake::ok(serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "bootstrap-token"}}))
                }
                "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane" if running => {
                    fake::ok(
                        serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                        "metadata": {"name": "control-plane"}}),
                    )
                }
                _ => fake::not_found(),
            })
        };
        let mut c = plan.clusters[0].clone();
        let (client, _, _server) = serve(true);
        let e = reconcile(&client, &plan, &mut c)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cluster lab runs, but Secret inception-lab/pki is missing"),
            "{e}"
        );
        assert!(e.contains("Nothing was changed"), "{e}");
        // Before its control plane exists, an earlier up stopped early: a
        // new PKI is fine.
        let (client, _, _server) = serve(false);
        assert!(reconcile(&client, &plan, &mut c).await.unwrap());
    }

    #[tokio::test]
    async fn refusals_name_the_namespace_and_say_what_to_do() {
        let ns = fake::namespace("inception-lab", "lab", None, false);
        let e = reconcile_with(Some(ns)).await.0.unwrap_err().to_string();
        assert!(
            e.contains("namespace inception-lab exists and is not managed"),
            "{e}"
        );

        let ns = fake::namespace("inception-lab", "other", None, true);
        let e = reconcile_with(Some(ns)).await.0.unwrap_err().to_string();
        assert!(e.contains("belongs to cluster other, not lab"), "{e}");

        let ns = fake::namespace("inception-lab", "lab", Some("v1.0 old"), true);
        let e = reconcile_with(Some(ns)).await.0.unwrap_err().to_string();
        assert!(
            e.contains("cluster lab exists with a different plan"),
            "{e}"
        );
        assert!(e.contains("existing: v1.0 old"), "{e}");

        let mut ns = fake::namespace("inception-lab", "lab", None, true);
        ns["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        let e = reconcile_with(Some(ns)).await.0.unwrap_err().to_string();
        assert!(e.contains("cluster lab is being deleted"), "{e}");
    }
}
