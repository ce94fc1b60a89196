//! Kubeconfigs for planned clusters.
//!
//! A small serde model of the kubeconfig file rather than kube's own type:
//! this crate stays free of the client stack, and the few fields written
//! here are stable across every kubectl release.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::pki::ClusterPki;
use crate::yaml::Node;
use crate::{ClusterPath, Error, naming};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub clusters: Vec<NamedCluster>,
    pub users: Vec<NamedUser>,
    pub contexts: Vec<NamedContext>,
    pub current_context: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    pub cluster: Cluster,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    pub server: String,
    pub certificate_authority_data: String,
    /// Name to check the server certificate against when `server` is a
    /// tunnel or an address the certificate does not name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls_server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proxy_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    pub client_certificate_data: String,
    pub client_key_data: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("User { <client certificate and key redacted> }")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    pub context: Context,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
}

/// What goes into one admin kubeconfig.
#[derive(Clone, Debug)]
pub struct KubeconfigInput<'a> {
    /// Context, cluster and user name.
    pub name: &'a str,
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    pub tls_server_name: Option<&'a str>,
    pub proxy_url: Option<&'a str>,
}

impl Kubeconfig {
    /// The admin kubeconfig of cluster `path`, whose objects are in
    /// `namespace` of its parent, from its PKI: context `inception-PATH`,
    /// reaching the apiserver at `server`, checking its certificate for the
    /// apiserver Service's name.
    pub fn for_cluster(
        path: &ClusterPath,
        namespace: &str,
        pki: &ClusterPki,
        server: &str,
        proxy_url: Option<&str>,
    ) -> Self {
        let host = naming::service_host(namespace);
        Kubeconfig::admin(&KubeconfigInput {
            name: &naming::context(path),
            server,
            ca_pem: pki.ca_cert(),
            cert_pem: pki.admin_cert(),
            key_pem: pki.admin_key(),
            tls_server_name: Some(&host),
            proxy_url,
        })
    }

    pub fn admin(input: &KubeconfigInput) -> Self {
        let name = input.name.to_string();
        Kubeconfig {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: name.clone(),
                cluster: Cluster {
                    server: input.server.to_string(),
                    certificate_authority_data: STANDARD.encode(input.ca_pem),
                    tls_server_name: input.tls_server_name.map(str::to_string),
                    proxy_url: input.proxy_url.map(str::to_string),
                },
            }],
            users: vec![NamedUser {
                name: name.clone(),
                user: User {
                    client_certificate_data: STANDARD.encode(input.cert_pem),
                    client_key_data: STANDARD.encode(input.key_pem),
                },
            }],
            contexts: vec![NamedContext {
                name: name.clone(),
                context: Context {
                    cluster: name.clone(),
                    user: name.clone(),
                },
            }],
            current_context: name,
        }
    }

    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_saphyr::to_string(self).map_err(|e| Error::Render {
            what: "a kubeconfig".into(),
            reason: e.to_string(),
        })
    }

    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        serde_saphyr::from_str(text).map_err(|e| Error::Render {
            what: "a kubeconfig".into(),
            reason: e.to_string(),
        })
    }

    /// Adds the contexts, clusters and users of `other`, replacing entries of
    /// the same name. The current context is left as it was.
    pub fn merge(&mut self, other: &Kubeconfig) {
        fn put<T: Clone>(list: &mut Vec<T>, item: &T, name: impl Fn(&T) -> &str) {
            match list.iter_mut().find(|x| name(x) == name(item)) {
                Some(x) => *x = item.clone(),
                None => list.push(item.clone()),
            }
        }
        for c in &other.clusters {
            put(&mut self.clusters, c, |x| &x.name);
        }
        for u in &other.users {
            put(&mut self.users, u, |x| &x.name);
        }
        for c in &other.contexts {
            put(&mut self.contexts, c, |x| &x.name);
        }
    }
}

/// Name of the context extension marking contexts `connect` and
/// `kubeconfig --merge` add to a user's kubeconfig, holding the path.
pub const PATH_EXTENSION: &str = "kubectl-inception.dev/path";

fn doc_error(reason: impl std::fmt::Display) -> Error {
    Error::Render {
        what: "your kubeconfig".into(),
        reason: reason.to_string(),
    }
}

/// A user's kubeconfig as a generic document, so that fields this crate
/// does not model, and the order of keys, survive a change.
fn parse_doc(text: &str) -> Result<Node, Error> {
    if text.trim().is_empty() {
        return Ok(Node::Map(vec![
            ("apiVersion".into(), Node::Str("v1".into())),
            ("kind".into(), Node::Str("Config".into())),
        ]));
    }
    let v: Node = serde_saphyr::from_str(text).map_err(doc_error)?;
    if !v.is_map() {
        return Err(doc_error("it is not a YAML mapping"));
    }
    Ok(v)
}

/// Puts `item` into the list `key`, replacing the entry with the same name.
fn put(doc: &mut Node, key: &str, item: Node) {
    let list = doc.entry(key).seq_mut();
    let name = item.get("name").clone();
    match list.iter_mut().find(|x| *x.get("name") == name) {
        Some(x) => *x = item,
        None => list.push(item),
    }
}

/// What marks a context added to a user's kubeconfig: the cluster's path
/// and the context its tree was reached from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub path: ClusterPath,
    /// `None` for contexts marked before this was recorded.
    pub from: Option<String>,
}

/// The mark of one context entry of a user's kubeconfig, if any.
pub fn mark_of(context: &serde_json::Value) -> Option<Mark> {
    let ext = &context["context"]["extensions"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == PATH_EXTENSION)?["extension"];
    Some(Mark {
        path: ext["path"].as_str()?.parse().ok()?,
        from: ext["from"].as_str().map(str::to_string),
    })
}

fn node_of(v: &impl serde::Serialize) -> Result<Node, Error> {
    Node::from_value(v).map_err(doc_error)
}

/// Adds `kc` (one admin kubeconfig for cluster `path`) to the text of a
/// user's kubeconfig, replacing entries of the same name and marking the
/// context with the path and the context `from` which it was reached.
/// With `switch`, it becomes the current context. Other entries, unknown
/// fields and the order of keys stay as they were.
pub fn merge_into_text(
    text: &str,
    kc: &Kubeconfig,
    path: &ClusterPath,
    from: &str,
    switch: bool,
) -> Result<String, Error> {
    let mut doc = parse_doc(text)?;
    for c in &kc.clusters {
        put(&mut doc, "clusters", node_of(c)?);
    }
    for u in &kc.users {
        put(&mut doc, "users", node_of(u)?);
    }
    for c in &kc.contexts {
        let mut v = node_of(c)?;
        *v.entry("context").entry("extensions") = node_of(&serde_json::json!([{
            "name": PATH_EXTENSION,
            "extension": {"path": path.to_string(), "from": from},
        }]))?;
        put(&mut doc, "contexts", v);
    }
    if switch {
        *doc.entry("current-context") = Node::Str(kc.current_context.clone());
    }
    serde_saphyr::to_string(&doc).map_err(doc_error)
}

/// Removes from a user's kubeconfig text every context whose mark `doomed`
/// picks, with its cluster and user. Returns the new
/// text and the names removed (none: the text is returned as it was).
pub fn remove_from_text(
    text: &str,
    doomed: impl Fn(&Mark) -> bool,
) -> Result<(String, Vec<String>), Error> {
    if text.trim().is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    let mut doc = parse_doc(text)?;
    let s = |v: &Node| v.as_str().unwrap_or_default().to_string();
    let gone: Vec<(String, String, String)> = match doc.get("contexts") {
        Node::Seq(list) => list
            .iter()
            .filter(|c| mark_of(&c.to_json()).is_some_and(|m| doomed(&m)))
            .map(|c| {
                let ctx = c.get("context");
                (s(c.get("name")), s(ctx.get("cluster")), s(ctx.get("user")))
            })
            .collect(),
        _ => Vec::new(),
    };
    if gone.is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    let drop_named = |doc: &mut Node, key: &str, names: &[&str]| {
        if let Some(Node::Seq(list)) = doc.get_mut(key) {
            list.retain(|x| !x.get("name").as_str().is_some_and(|n| names.contains(&n)));
        }
    };
    let contexts: Vec<&str> = gone.iter().map(|g| g.0.as_str()).collect();
    let clusters: Vec<&str> = gone.iter().map(|g| g.1.as_str()).collect();
    let users: Vec<&str> = gone.iter().map(|g| g.2.as_str()).collect();
    drop_named(&mut doc, "contexts", &contexts);
    // A cluster or user another remaining context still names stays.
    let still_used = |field: &str| -> Vec<String> {
        match doc.get("contexts") {
            Node::Seq(list) => list
                .iter()
                .filter_map(|c| c.get("context").get(field).as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let (used_clusters, used_users) = (still_used("cluster"), still_used("user"));
    let clusters: Vec<&str> = clusters
        .into_iter()
        .filter(|n| !used_clusters.iter().any(|u| u == n))
        .collect();
    let users: Vec<&str> = users
        .into_iter()
        .filter(|n| !used_users.iter().any(|u| u == n))
        .collect();
    drop_named(&mut doc, "clusters", &clusters);
    drop_named(&mut doc, "users", &users);
    if doc
        .get("current-context")
        .as_str()
        .is_some_and(|c| contexts.contains(&c))
    {
        *doc.entry("current-context") = Node::Str(String::new());
    }
    let text = serde_saphyr::to_string(&doc).map_err(doc_error)?;
    Ok((text, contexts.into_iter().map(str::to_string).collect()))
}

#[cfg(test)]
mod tests;
