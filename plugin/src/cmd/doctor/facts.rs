//! Facts read from the current cluster for the doctor's checks: what the
//! user may do, its nodes, the tree's namespace, and dry runs.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use nesting::doctor::{self, Check, NamespaceState, NodeFacts};
use nesting::labels;

use crate::{apply, state};

pub(super) async fn rbac(client: &Client, namespace: &str) -> Check {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ask = |n: doctor::Need| {
        let api = api.clone();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(n.verb.into()),
                    group: Some(n.group.into()),
                    resource: Some(n.resource.into()),
                    subresource: (!n.subresource.is_empty()).then(|| n.subresource.into()),
                    namespace: (!n.cluster_scoped()).then(|| namespace.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        async move {
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map(|r| r.status.is_some_and(|s| s.allowed))
                .map_err(|e| e.to_string());
            (n, answer)
        }
    };
    let answers = futures::future::join_all(doctor::NEEDED.iter().copied().map(ask)).await;
    doctor::rbac(&answers, namespace)
}

pub(super) async fn nodes(client: &Client) -> Result<Vec<NodeFacts>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .map(|n| {
            let spec = n.spec.unwrap_or_default();
            NodeFacts {
                name: n.metadata.name.unwrap_or_default(),
                ready: n
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True"),
                unschedulable: spec.unschedulable.unwrap_or(false),
                taints: spec
                    .taints
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                    .map(|t| t.key)
                    .collect(),
            }
        })
        .collect())
}

pub(super) async fn namespace_state(
    client: &Client,
    name: &str,
) -> Result<Option<Namespace>, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(name).await.map_err(|e| e.to_string())
}

pub(super) fn describe_namespace(ns: &Namespace) -> NamespaceState {
    if let Some(t) = &ns.metadata.deletion_timestamp {
        let conditions = state::true_conditions(ns);
        return NamespaceState::Terminating {
            since: t.0.to_string(),
            conditions,
        };
    }
    let managed = ns
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGER);
    NamespaceState::Exists {
        managed,
        path: state::path_of(ns).map(|p| p.to_string()),
        digest: state::digest_of(ns).map(str::to_string),
    }
}

/// What the server says to an API call: accepted, or its message.
pub(super) fn refusal(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        e => e.to_string(),
    }
}

/// Server-side apply of the namespace as `up` makes it, dry run; when
/// refused, the HTTP code and message.
pub(super) async fn namespace_dry_run(
    client: &Client,
    ns: &Namespace,
) -> Result<(), (u16, String)> {
    let api: Api<Namespace> = Api::all(client.clone());
    let name = ns.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(apply::FIELD_MANAGER).dry_run(),
        &Patch::Apply(ns),
    )
    .await
    .map(drop)
    .map_err(|e| match e {
        kube::Error::Api(s) => (s.code, s.message),
        e => (0, e.to_string()),
    })
}
