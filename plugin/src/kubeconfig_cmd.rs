//! `kubeconfig PATH`: an admin kubeconfig for a cluster, from the PKI the
//! plugin made. By default it points at a local tunnel that this command
//! keeps open: each connection is carried by a port-forward through the
//! parent's API to the control-plane Pod. A tunnel needs only a client for
//! the parent, so the next level can be reached through this one.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use nesting::kubeadm::APISERVER_PORT;
use nesting::kubeconfig::{Kubeconfig, KubeconfigInput};
use nesting::manifests::{CONTROL_PLANE, SERVICE};
use nesting::{ClusterPath, labels};
use tokio::net::TcpListener;

use crate::cli::{Global, KubeconfigArgs};
use crate::{client, state};

/// Where a cluster's objects live in its parent.
pub async fn find_namespace(client: &Client, path: &ClusterPath) -> Result<String> {
    let selector = format!(
        "{},{}={}",
        labels::tree_selector(&path.tree),
        labels::PATH,
        path.dotted()
    );
    let found = state::namespaces(client, &selector).await?;
    match found.as_slice() {
        [ns] => Ok(ns.metadata.name.clone().unwrap_or_default()),
        [] => {
            bail!("no cluster {path} in this context: `kubectl inception tree` lists what exists")
        }
        _ => bail!(
            "more than one namespace claims cluster {path}: remove the stale one with `kubectl inception down {path}`"
        ),
    }
}

/// The client of the cluster holding `path`'s objects, and their namespace
/// there: for `lab/0/1`, tunnels through `lab` and `lab/0` from the current
/// context. Keep the returned handles: aborting them closes the tunnels.
pub async fn reach(
    root: &Client,
    path: &ClusterPath,
) -> Result<(Client, String, Vec<tokio::task::JoinHandle<()>>)> {
    let mut client = root.clone();
    let mut tunnels = Vec::new();
    let mut at = ClusterPath::root(&path.tree);
    for &i in &path.indexes {
        let ns = find_namespace(&client, &at)
            .await
            .with_context(|| format!("on the way to {path}"))?;
        let (inner, tunnel) = crate::wait::inner_client(&client, &at, &ns)
            .await
            .with_context(|| format!("cannot reach cluster {at} on the way to {path}"))?;
        client = inner;
        tunnels.push(tunnel);
        at = at.child(i);
    }
    let ns = find_namespace(&client, path).await?;
    Ok((client, ns, tunnels))
}

/// Admin kubeconfig for the cluster in `namespace`, reaching it at `server`.
pub async fn build(
    client: &Client,
    path: &ClusterPath,
    namespace: &str,
    server: &str,
) -> Result<Kubeconfig> {
    let pki = state::load_pki(client, namespace)
        .await?
        .ok_or_else(|| anyhow!("cluster {path} has no PKI Secret yet: wait for `up` to finish"))?;
    let host = format!("{SERVICE}.{namespace}.svc");
    Ok(Kubeconfig::admin(&KubeconfigInput {
        name: &format!("inception-{}", path.dashed()),
        server,
        ca_pem: pki.ca_cert(),
        cert_pem: pki.admin_cert(),
        key_pem: pki.admin_key(),
        tls_server_name: Some(&host),
        proxy_url: None,
    }))
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode on open: set it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Listens on 127.0.0.1 and carries each connection to `pod:port` through
/// the API of `client`'s cluster.
pub async fn open_tunnel(
    client: Client,
    namespace: String,
    pod: String,
    port: u16,
    local: u16,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", local))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{local}"))?;
    let addr = listener.local_addr()?;
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, peer)) = listener.accept().await else {
                continue;
            };
            let pods = pods.clone();
            let pod = pod.clone();
            tokio::spawn(async move {
                let mut pf = match pods.portforward(&pod, &[port]).await {
                    Ok(pf) => pf,
                    Err(e) => {
                        tracing::warn!(%peer, "port-forward to {pod}:{port} failed: {e}");
                        return;
                    }
                };
                let Some(mut upstream) = pf.take_stream(port) else {
                    return;
                };
                if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
                    tracing::debug!(%peer, "tunnel connection closed: {e}");
                }
                drop(upstream);
                let _ = pf.join().await;
            });
        }
    });
    Ok((addr, task))
}

pub async fn kubeconfig(
    global: &Global,
    args: &KubeconfigArgs,
    out: &mut impl Write,
) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    if args.merge {
        return crate::connect::merge_and_hold(global, &path, args.port, out).await;
    }
    let root = client::connect(global).await?;
    let (parent, ns, _tunnels) = reach(&root.client, &path).await?;
    let emit = |kc: &Kubeconfig, out: &mut dyn Write| -> Result<()> {
        let text = kc.to_yaml()?;
        match &args.write {
            Some(file) => {
                write_private(file, &text)?;
                eprintln!("wrote {}", file.display());
            }
            None => out.write_all(text.as_bytes())?,
        }
        Ok(())
    };
    if args.internal {
        let server = format!("https://{SERVICE}.{ns}.svc:{APISERVER_PORT}");
        let kc = build(&parent, &path, &ns, &server).await?;
        return emit(&kc, out);
    }
    let pod = format!("{CONTROL_PLANE}-0");
    let (addr, task) =
        open_tunnel(parent.clone(), ns.clone(), pod, APISERVER_PORT, args.port).await?;
    let kc = build(&parent, &path, &ns, &format!("https://{addr}")).await?;
    emit(&kc, out)?;
    out.flush()?;
    hold(&path, addr, task).await;
    Ok(())
}

/// Keeps the tunnel to cluster `path` on `addr` open until Ctrl-C.
pub async fn hold(
    path: &ClusterPath,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
) {
    eprintln!(
        "tunnel to cluster {path} open on {addr}: keep this command running, Ctrl-C closes it"
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = task => {}
    }
}
