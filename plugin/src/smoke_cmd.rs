//! `test PATH`: the smoke test. A web server Deployment behind a NodePort
//! Service in the cluster, answered over HTTP from this machine.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::api::{AttachParams, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::{CONTROL_PLANE, NODE_CONTAINER};
use nesting::{ClusterPath, smoke};
use tokio::io::AsyncReadExt;

use crate::cli::{Global, TestArgs};
use crate::{apply, client, kubeconfig_cmd, wait};

/// Runs an HTTP GET to `ip:port` inside node Pod `pod` (socat is in the
/// node image) and returns the answer.
async fn ask_from_pod(pods: &Api<Pod>, pod: &str, ip: &str, port: u16) -> Result<String> {
    let ip: std::net::IpAddr = ip
        .parse()
        .map_err(|_| anyhow!("node address {ip:?} is not an IP"))?;
    let target = match ip {
        std::net::IpAddr::V4(v4) => format!("TCP:{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("TCP6:[{v6}]:{port}"),
    };
    let cmd = format!(
        "printf 'GET / HTTP/1.0\\r\\nHost: smoke\\r\\n\\r\\n' | socat -t 5 -T 10 - {target}"
    );
    let ap = AttachParams::default()
        .container(NODE_CONTAINER)
        .stdin(false)
        .stdout(true)
        .stderr(false);
    let mut proc = pods.exec(pod, ["sh", "-c", cmd.as_str()], &ap).await?;
    let mut stdout = proc
        .stdout()
        .ok_or_else(|| anyhow!("exec in {pod} gave no stdout"))?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stdout.read_to_end(&mut buf))
        .await
        .map_err(|_| anyhow!("no HTTP answer in 15 s"))??;
    drop(stdout);
    let _ = proc.join().await;
    Ok(String::from_utf8_lossy(&buf).into_owned())
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
) -> Result<(String, i32, String, Duration)> {
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
    // Every node answers on the NodePort. Each node's address is asked
    // from inside another node Pod (the node's own when it is alone),
    // through the parent's API: nothing here connects to cluster addresses
    // itself, as those may not be routed on this machine.
    // kube-proxy holds the port open before its rules are in place, so an
    // early try may get an empty answer: try again until the timeout.
    let pods: Api<Pod> = Api::namespaced(parent.clone(), ns);
    let mut last = anyhow!("the cluster has no nodes");
    while start.elapsed() < timeout {
        let node_pods: Vec<(String, String)> = pods
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|p| Some((p.status?.pod_ip?, p.metadata.name?)))
            .collect();
        for n in nodes.list(&ListParams::default()).await?.items {
            let name = n.metadata.name.clone().unwrap_or_default();
            let Some(ip) = n
                .status
                .and_then(|s| s.addresses)
                .and_then(|a| a.into_iter().find(|a| a.type_ == "InternalIP"))
                .map(|a| a.address)
            else {
                continue;
            };
            let from = node_pods
                .iter()
                .find(|(pod_ip, _)| *pod_ip != ip)
                .or_else(|| node_pods.first());
            let Some((_, from)) = from else {
                continue;
            };
            match ask_from_pod(&pods, from, &ip, port as u16).await {
                Ok(r) if smoke::answered(&r) => {
                    let how = format!("asked from node Pod {from}");
                    return Ok((name, port, how, start.elapsed()));
                }
                Ok(r) => {
                    last = anyhow!(
                        "node {name} answered: {}",
                        r.lines().next().unwrap_or("nothing")
                    )
                }
                Err(e) => last = e.context(format!("cannot ask {ip}:{port} from Pod {from}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last.context(format!(
        "no node of cluster {path} answered on NodePort {port}"
    )))
}
