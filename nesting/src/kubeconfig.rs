//! Kubeconfigs for planned clusters.
//!
//! A small serde model of the kubeconfig file rather than kube's own type:
//! this crate stays free of the client stack, and the few fields written
//! here are stable across every kubectl release.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Error;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, server: &str) -> Kubeconfig {
        Kubeconfig::admin(&KubeconfigInput {
            name,
            server,
            ca_pem: "CA",
            cert_pem: "CERT",
            key_pem: "-----BEGIN PRIVATE KEY-----",
            tls_server_name: Some("apiserver.inception-lab.svc"),
            proxy_url: None,
        })
    }

    #[test]
    fn round_trips_with_kubectl_field_names() {
        let k = sample("inception-lab", "https://127.0.0.1:7443");
        let y = k.to_yaml().unwrap();
        assert!(y.contains("current-context: inception-lab"), "{y}");
        assert!(
            y.contains("tls-server-name: apiserver.inception-lab.svc"),
            "{y}"
        );
        assert!(y.contains("certificate-authority-data: Q0E="), "{y}");
        assert!(!y.contains("proxy-url"), "{y}");
        assert_eq!(Kubeconfig::from_yaml(&y).unwrap(), k);
    }

    #[test]
    fn debug_hides_the_key() {
        let k = sample("a", "https://x");
        assert!(!format!("{k:?}").contains("LS0tLS1CRUdJTi")); // base64 of "-----BEGIN"
    }

    #[test]
    fn merge_replaces_by_name() {
        let mut a = sample("a", "https://one");
        a.merge(&sample("b", "https://two"));
        a.merge(&sample("a", "https://three"));
        assert_eq!(a.clusters.len(), 2);
        assert_eq!(a.clusters[0].cluster.server, "https://three");
        assert_eq!(a.current_context, "a");
    }
}
