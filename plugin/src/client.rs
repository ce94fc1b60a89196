//! Connecting to the cluster named by kubectl's flags.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Global;

/// A client and where it points, for messages.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub server: String,
    pub context: String,
}

fn load_kubeconfig(global: &Global) -> Result<Kubeconfig> {
    match &global.kubeconfig {
        Some(paths) if !paths.is_empty() => {
            let mut merged: Option<Kubeconfig> = None;
            for p in paths.split(':').filter(|p| !p.is_empty()) {
                let kc = Kubeconfig::read_from(p).with_context(|| {
                    format!("cannot read kubeconfig {p}: check --kubeconfig or KUBECONFIG")
                })?;
                merged = Some(match merged {
                    None => kc,
                    Some(m) => m.merge(kc).context("cannot merge the kubeconfig files")?,
                });
            }
            merged.ok_or_else(|| anyhow!("--kubeconfig is empty"))
        }
        _ => Kubeconfig::read().map_err(|_| {
            anyhow!(
                "no kubeconfig found: pass --kubeconfig or set KUBECONFIG \
                 (no cluster at hand? `eval \"$(tests/lab/lab up)\"` starts a local one)"
            )
        }),
    }
}

/// Connects and checks that the server answers.
pub async fn connect(global: &Global) -> Result<Cluster> {
    let kc = load_kubeconfig(global)?;
    let context = match &global.context {
        Some(c) => c.clone(),
        None => kc
            .current_context
            .clone()
            .ok_or_else(|| anyhow!("the kubeconfig has no current context: pass --context NAME"))?,
    };
    if !kc.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "context {context:?} not found in the kubeconfig (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let mut config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .with_context(|| format!("cannot use context {context:?}"))?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).with_context(|| format!("cannot make a client for {server}"))?;
    let version = tokio::time::timeout(Duration::from_secs(15), client.apiserver_version())
        .await
        .map_err(|_| {
            anyhow!("cannot reach the cluster at {server} (context {context:?}): no answer in 15 s")
        })?
        .with_context(|| format!("cannot reach the cluster at {server} (context {context:?})"))?;
    tracing::info!(%server, %context, version = %version.git_version, "connected");
    Ok(Cluster {
        client,
        server,
        context,
    })
}
