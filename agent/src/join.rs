//! A worker joins once the control plane takes joins. `kubeadm join`
//! looks for the cluster every 5 s; this looks every half second for what
//! its discovery needs: the `cluster-info` ConfigMap (kube-public,
//! readable by anyone) signed for this node's bootstrap token, which
//! kube-controller-manager adds after `kubeadm init` made the token and
//! uploaded its config.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// Where the node Pod has its bootstrap token (`<id>.<secret>`).
pub const TOKEN_FILE: &str = "/etc/inception/token/token";

/// Whether `cluster-info`'s data is signed for the token `id`.
pub fn signed_for(data: &BTreeMap<String, String>, id: &str) -> bool {
    data.contains_key(&format!("jws-kubeconfig-{id}"))
}

/// The id of a bootstrap token (`<id>.<secret>`); the secret is not kept.
pub fn token_id(token: &str) -> Option<&str> {
    let (id, secret) = token.trim().split_once('.')?;
    (id.len() == 6 && !secret.is_empty()).then_some(id)
}

/// Waits until `cluster-info` on `endpoint` (host:port) is signed for the
/// token, at most `limit`; past it kubeadm's own discovery takes over.
pub async fn wait(endpoint: &str, token: &str, limit: Duration) -> Result<()> {
    let id = token_id(token).context("the bootstrap token is not <id>.<secret>")?;
    let url: http::Uri = format!("https://{endpoint}")
        .parse()
        .with_context(|| format!("bad apiserver endpoint {endpoint}"))?;
    let mut config = kube::Config::new(url);
    // Anonymous and unverified: only a signal of readiness is read here.
    // kubeadm join then checks the CA against the pinned hash itself.
    config.accept_invalid_certs = true;
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = Some(Duration::from_secs(5));
    let client = kube::Client::try_from(config).context("cannot make a client")?;
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    let start = Instant::now();
    loop {
        if let Ok(Some(cm)) = api.get_opt("cluster-info").await
            && signed_for(&cm.data.unwrap_or_default(), id)
        {
            tracing::info!(
                "the control plane takes joins ({:.1}s)",
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if start.elapsed() > limit {
            tracing::warn!(
                "the control plane did not sign cluster-info in {limit:?}: joining anyway"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_for_this_token_only() {
        let mut data = BTreeMap::from([("kubeconfig".to_string(), "...".to_string())]);
        assert!(!signed_for(&data, "abcdef"));
        data.insert("jws-kubeconfig-zzzzzz".into(), "sig".into());
        assert!(!signed_for(&data, "abcdef"));
        data.insert("jws-kubeconfig-abcdef".into(), "sig".into());
        assert!(signed_for(&data, "abcdef"));
    }

    #[test]
    fn the_token_id_is_the_part_before_the_dot() {
        assert_eq!(token_id("abcdef.0123456789abcdef\n"), Some("abcdef"));
        assert_eq!(token_id("abcdef"), None);
        assert_eq!(token_id("abc.0123456789abcdef"), None);
        assert_eq!(token_id("abcdef."), None);
    }
}
