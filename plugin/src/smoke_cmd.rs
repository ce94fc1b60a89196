//! `test PATH`: the smoke test. A web server Deployment behind a NodePort
//! Service in the cluster, answered over HTTP from this machine.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::CONTROL_PLANE;
use nesting::{ClusterPath, smoke};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cli::{Global, TestArgs};
use crate::{apply, client, kubeconfig_cmd, wait};

async fn http_get<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> Result<String> {
    s.write_all(b"GET / HTTP/1.0\r\nHost: smoke\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| anyhow!("no HTTP answer in 10 s"))??;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Asks node `name` over `s`; fine only for a 200 with the smoke body.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(s: S, name: &str) -> Result<()> {
    let r = http_get(s).await?;
    if smoke::answered(&r) {
        Ok(())
    } else {
        bail!(
            "node {name} answered: {}",
            r.lines().next().unwrap_or_default()
        )
    }
}

async fn node_image(parent: &Client, ns: &str) -> Result<String> {
    let sts: Api<StatefulSet> = Api::namespaced(parent.clone(), ns);
    let s = sts.get(CONTROL_PLANE).await?;
    s.spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.first().and_then(|c| c.image.clone()))
        .ok_or_else(|| anyhow!("StatefulSet {ns}/{CONTROL_PLANE} has no image"))
}

pub async fn test(global: &Global, args: &TestArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let root = client::connect(global).await?;
    let (parent, ns, _tunnels) = kubeconfig_cmd::reach(&root.client, &path).await?;
    let image = node_image(&parent, &ns).await?;
    let (inner, tunnel) = wait::inner_client(&parent, &path, &ns).await?;
    let result = run(&parent, &inner, &path, &ns, &image, args.timeout).await;
    if !args.keep {
        let nss: Api<Namespace> = Api::all(inner.clone());
        let _ = nss
            .delete(smoke::NAMESPACE, &DeleteParams::background())
            .await;
    }
    tunnel.abort();
    let (node, port, how, took) = result?;
    writeln!(
        out,
        "smoke test passed on cluster {path}: HTTP 200 from NodePort {port} on node {node} ({how}) {:.1}s after start",
        took.as_secs_f64()
    )?;
    Ok(())
}

async fn run(
    parent: &Client,
    inner: &Client,
    path: &ClusterPath,
    ns: &str,
    image: &str,
    timeout: Duration,
) -> Result<(String, i32, &'static str, Duration)> {
    let start = Instant::now();
    let pp = PatchParams::apply(apply::FIELD_MANAGER);
    let nss: Api<Namespace> = Api::all(inner.clone());
    // A previous run's namespace may still be going away.
    while let Some(ns) = nss.get_opt(smoke::NAMESPACE).await? {
        if ns.metadata.deletion_timestamp.is_none() {
            break;
        }
        if start.elapsed() > timeout {
            bail!(
                "namespace {} of an earlier smoke test is still terminating in cluster {path}",
                smoke::NAMESPACE
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    nss.patch(smoke::NAMESPACE, &pp, &Patch::Apply(&smoke::namespace()))
        .await
        .with_context(|| {
            format!(
                "cannot create namespace {} in cluster {path}",
                smoke::NAMESPACE
            )
        })?;
    let deploys: Api<Deployment> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
    let services: Api<Service> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
    let nodes: Api<Node> = Api::all(inner.clone());
    let replicas = 1;
    deploys
        .patch(
            smoke::NAME,
            &pp,
            &Patch::Apply(&smoke::deployment(image, replicas)),
        )
        .await
        .context("cannot create the smoke Deployment")?;
    let svc = services
        .patch(smoke::NAME, &pp, &Patch::Apply(&smoke::service()))
        .await
        .context("cannot create the smoke Service")?;
    let port = svc
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p.first().and_then(|p| p.node_port))
        .ok_or_else(|| anyhow!("the smoke Service got no NodePort"))?;
    loop {
        let d = deploys.get(smoke::NAME).await?;
        if d.status.and_then(|s| s.ready_replicas).unwrap_or(0) >= replicas {
            break;
        }
        if start.elapsed() > timeout {
            let pods: Api<Pod> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
            let why: Vec<String> = pods
                .list(&ListParams::default())
                .await
                .map(|l| {
                    l.items
                        .iter()
                        .map(|p| {
                            let st = p.status.clone().unwrap_or_default();
                            let waiting = st
                                .container_statuses
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
                                .collect::<Vec<_>>()
                                .join(",");
                            format!(
                                "{} {} {waiting}",
                                p.metadata.name.clone().unwrap_or_default(),
                                st.phase.unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            bail!(
                "the smoke Deployment in cluster {path} is not Ready after {}s: {}",
                timeout.as_secs(),
                why.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every node answers on the NodePort: try them in order, directly when
    // this machine routes to the node Pods, else through the parent's API.
    // kube-proxy holds the port open before its rules are in place, so an
    // early try may get an empty answer: try again until the timeout.
    let mut last = anyhow!("the cluster has no nodes");
    while start.elapsed() < timeout {
        for n in nodes.list(&ListParams::default()).await?.items {
            let name = n.metadata.name.clone().unwrap_or_default();
            let Some(ip) = n
                .status
                .and_then(|s| s.addresses)
                .and_then(|a| a.into_iter().find(|a| a.type_ == "InternalIP"))
                .and_then(|a| a.address.parse::<std::net::IpAddr>().ok())
            else {
                continue;
            };
            let addr = SocketAddr::new(ip, port as u16);
            if let Ok(Ok(conn)) =
                tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                    .await
            {
                match ask(conn, &name).await {
                    Ok(()) => return Ok((name, port, "direct", start.elapsed())),
                    Err(e) => last = e,
                }
                continue;
            }
            // Through the parent: the node Pod with that IP, port-forwarded.
            let pods: Api<Pod> = Api::namespaced(parent.clone(), ns);
            let pod = pods
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .find(|p| {
                    p.status.as_ref().and_then(|s| s.pod_ip.as_deref()) == Some(&ip.to_string())
                });
            let Some(pod) = pod.and_then(|p| p.metadata.name) else {
                continue;
            };
            match pods.portforward(&pod, &[port as u16]).await {
                Ok(mut pf) => {
                    let stream = pf
                        .take_stream(port as u16)
                        .ok_or_else(|| anyhow!("port-forward gave no stream"))?;
                    match ask(stream, &name).await {
                        Ok(()) => {
                            return Ok((name, port, "through a port-forward", start.elapsed()));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = anyhow!("port-forward to {pod}: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last.context(format!(
        "no node of cluster {path} answered on NodePort {port}"
    )))
}
