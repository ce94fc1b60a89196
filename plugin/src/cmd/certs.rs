//! `certs PATH`: when the certificates of a cluster's PKI expire, and its
//! bootstrap token. Keys and the token's secret are never printed.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use nesting::ClusterPath;
use nesting::certs::{CertsReport, TokenRow};
use nesting::manifests::PKI_SECRET;
use nesting::pki::token::{TOKEN_EXPIRATION_KEY, TOKEN_NAMESPACE, secret_name};

use crate::cli::{CertsArgs, Global, TreeFormat};
use crate::{client, output, reach, retry, token};

/// How long the cluster may take to tell its token's expiry.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn certs(global: &Global, args: &CertsArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    output::refuse_wide(args.output, "certs")?;
    let cluster = client::connect(global).await?;
    let mut chain = reach::reach(&cluster.client, &path).await?;
    let (parent, ns) = (chain.parent.clone(), chain.namespace.clone());
    // The token's expiry is only known inside: skipped if out of reach.
    let inner = match tokio::time::timeout(TOKEN_TIMEOUT, chain.enter(&path)).await {
        Ok(Ok(inner)) => Some(inner),
        Ok(Err(e)) => {
            tracing::warn!("cannot reach cluster {path} for its bootstrap token: {e:#}");
            None
        }
        Err(_) => {
            tracing::warn!("cluster {path} did not answer for its bootstrap token");
            None
        }
    };
    let report = report(&parent, inner.as_ref(), &ns, &path, SystemTime::now()).await?;
    print(&report, args.output, out)
}

/// The certificates in the `pki` Secret of `ns`, and the token's expiry
/// as `inner` (the cluster itself) tells it.
async fn report(
    parent: &Client,
    inner: Option<&Client>,
    ns: &str,
    path: &ClusterPath,
    now: SystemTime,
) -> Result<CertsReport> {
    let api: Api<Secret> = Api::namespaced(parent.clone(), ns);
    let secret = retry::retry(|| api.get_opt(PKI_SECRET))
        .await?
        .ok_or_else(|| anyhow!("cluster {path} has no Secret {ns}/{PKI_SECRET}"))?;
    // Only certificates are kept, never the keys next to them.
    let certs: Vec<(String, String)> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.ends_with(".crt"))
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    let certs = nesting::pki::certificates(certs.iter().map(|(k, v)| (k, v)))
        .with_context(|| format!("Secret {ns}/{PKI_SECRET}"))?;
    let token = match inner {
        Some(inner) => token_row(parent, inner, ns).await,
        None => None,
    };
    Ok(CertsReport {
        path: path.to_string(),
        certificates: nesting::certs::rows(&certs, now),
        token,
    })
}

/// The id and expiry of the token the parent hands to node Pods; `None`
/// (logged) when it cannot be read.
async fn token_row(parent: &Client, inner: &Client, ns: &str) -> Option<TokenRow> {
    let id = match token::current(parent, ns).await {
        Ok(t) => t.id,
        Err(e) => {
            tracing::warn!("{e:#}");
            return None;
        }
    };
    let api: Api<Secret> = Api::namespaced(inner.clone(), TOKEN_NAMESPACE);
    let name = secret_name(&id);
    match retry::retry(|| api.get_opt(&name)).await {
        Ok(found) => Some(TokenRow {
            expiration: found
                .as_ref()
                .and_then(|s| s.data.as_ref()?.get(TOKEN_EXPIRATION_KEY))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned()),
            found: found.is_some(),
            id,
        }),
        Err(e) => {
            tracing::warn!("cannot read the bootstrap token's Secret: {e}");
            None
        }
    }
}

fn print(report: &CertsReport, format: TreeFormat, out: &mut impl Write) -> Result<()> {
    match format {
        TreeFormat::Table | TreeFormat::Wide => {
            out.write_all(nesting::certs::table(report).as_bytes())?
        }
        TreeFormat::Json => output::json(report, out)?,
        TreeFormat::Yaml => output::yaml(report, out)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests;
