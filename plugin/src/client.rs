//! Connecting to the cluster named by kubectl's flags.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Global;
use crate::proxy;

/// A client and where it points, for messages.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub server: String,
    pub context: String,
}

/// What a user without a readable kubeconfig is told.
const NO_KUBECONFIG: &str = "no kubeconfig found: point KUBECONFIG or --kubeconfig at your \
    cluster's kubeconfig (~/.kube/config is read by default); no cluster yet? \
    `kind create cluster` makes a local one (from a checkout of this repository, \
    `eval \"$(tests/lab/lab up)\"` starts its lab)";

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
        _ => Kubeconfig::read().map_err(|_| anyhow!(NO_KUBECONFIG)),
    }
}

/// `--request-timeout` as kubectl reads it: 0 is no timeout, a bare number
/// is seconds, else a duration such as 30s, 2m or 1h.
pub fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: give a duration with a unit (1s, 2m, 3h), or 0 for no timeout"))
}

/// `--request-timeout` of this run, once the parent's client is made: the
/// clients of inner clusters, made deeper down, follow it too.
static REQUEST_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Read, write and first-answer timeouts from `--request-timeout`:
/// unset keeps ours (`read` for reading, 15 s for the first answer), 0
/// waits forever (the first answer still 15 s), else that long for each.
pub fn apply_timeouts(
    config: &mut Config,
    request_timeout: Option<Duration>,
    read: Duration,
) -> Duration {
    config.connect_timeout = Some(Duration::from_secs(5));
    match request_timeout.or_else(|| REQUEST_TIMEOUT.get().copied()) {
        None => {
            config.read_timeout = Some(read);
            Duration::from_secs(15)
        }
        Some(Duration::ZERO) => {
            config.read_timeout = None;
            config.write_timeout = None;
            Duration::from_secs(15)
        }
        Some(d) => {
            config.connect_timeout = Some(d.min(Duration::from_secs(5)));
            config.read_timeout = Some(d);
            config.write_timeout = Some(d);
            d
        }
    }
}

/// Fails, listing what there is, when `name` is not among `known`.
fn check_named<'a>(
    what: &str,
    flag: &str,
    name: &str,
    known: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let known: Vec<&str> = known.collect();
    if known.contains(&name) {
        return Ok(());
    }
    let list = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    bail!("{what} {name:?} not found in the kubeconfig (it has: {list}): check {flag}")
}

/// The client configuration kubectl's flags name, and its context.
pub async fn config(global: &Global) -> Result<(Config, String)> {
    let kc = load_kubeconfig(global)?;
    let context = match &global.context {
        Some(c) => c.clone(),
        None => kc
            .current_context
            .clone()
            .ok_or_else(|| anyhow!("the kubeconfig has no current context: pass --context NAME"))?,
    };
    let names =
        |v: &[kube::config::NamedContext]| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let contexts = names(&kc.contexts);
    check_named(
        "context",
        "--context",
        &context,
        contexts.iter().map(String::as_str),
    )?;
    if let Some(cluster) = &global.cluster {
        check_named(
            "cluster",
            "--cluster",
            cluster,
            kc.clusters.iter().map(|c| c.name.as_str()),
        )?;
    }
    if let Some(user) = &global.user {
        check_named(
            "user",
            "--user",
            user,
            kc.auth_infos.iter().map(|u| u.name.as_str()),
        )?;
    }
    // The cluster entry in use, for its proxy-url.
    let cluster_name = global.cluster.clone().or_else(|| {
        kc.contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
    });
    let proxy_url = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.proxy_url.clone());
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: global.cluster.clone(),
        user: global.user.clone(),
    };
    let mut config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(proxy::explain)
        .with_context(|| format!("cannot use context {context:?}"))?;
    // kube reads HTTPS_PROXY itself but matches NO_PROXY against the
    // proxy's address: decide here, as kubectl does.
    config.proxy_url = proxy::choose(&config.cluster_url, proxy_url.as_deref(), |k| {
        std::env::var(k).ok()
    })
    .map_err(|e| anyhow!("{e}: check the kubeconfig's proxy-url or HTTPS_PROXY"))?;
    Ok((config, context))
}

/// Connects and checks that the server answers.
pub async fn connect(global: &Global) -> Result<Cluster> {
    let (mut config, context) = config(global).await?;
    if let Some(t) = global.request_timeout {
        let _ = REQUEST_TIMEOUT.set(t);
    }
    let first = apply_timeouts(&mut config, global.request_timeout, Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    if let Some(p) = &config.proxy_url {
        tracing::debug!(%server, proxy = %p, "through a proxy");
    }
    let client =
        Client::try_from(config).with_context(|| format!("cannot make a client for {server}"))?;
    let version = tokio::time::timeout(first, client.apiserver_version())
        .await
        .map_err(|_| {
            anyhow!(
                "cannot reach the cluster at {server} (context {context:?}): no answer in {}",
                humantime::format_duration(first)
            )
        })?
        .with_context(|| format!("cannot reach the cluster at {server} (context {context:?})"))?;
    tracing::info!(%server, %context, version = %version.git_version, "connected");
    Ok(Cluster {
        client,
        server,
        context,
    })
}

#[cfg(test)]
mod tests;
