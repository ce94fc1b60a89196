//! `test PATH`: the smoke test. A web server on every node behind a
//! NodePort Service, then checks that make a cluster usable: every node
//! answers on the NodePort, every Pod reaches every other across nodes,
//! the Service's ClusterIP reaches a backend on every node, Service and Pod
//! DNS names resolve from every node, and a packet of the pod network's
//! full MTU crosses between nodes. Each check is reported with its time.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Service};
use kube::api::{AttachParams, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use nesting::manifests::{BOOTSTRAP_CONFIGMAP, CONTROL_PLANE};
use nesting::node::{AGENT_CONFIG_KEY, AgentConfig};
use nesting::{ClusterPath, smoke};
use tokio::io::AsyncReadExt;

mod checks;

use crate::cli::{Global, TestArgs};
use crate::{apply, client, reach};

/// Runs `sh -c script` in a Pod; returns whether it exited 0 and its
/// stdout and stderr.
async fn sh(
    pods: &Api<Pod>,
    pod: &str,
    container: Option<&str>,
    script: &str,
) -> Result<(bool, String)> {
    let mut ap = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    if let Some(c) = container {
        ap = ap.container(c);
    }
    let mut proc = pods
        .exec(pod, ["sh", "-c", script], &ap)
        .await
        .with_context(|| format!("cannot exec in Pod {pod}"))?;
    let mut stdout = proc
        .stdout()
        .ok_or_else(|| anyhow!("exec in {pod} gave no stdout"))?;
    let mut stderr = proc
        .stderr()
        .ok_or_else(|| anyhow!("exec in {pod} gave no stderr"))?;
    let status = proc.take_status();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let read = async {
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.and(b)
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .map_err(|_| anyhow!("`{script}` in Pod {pod} gave no answer in 20 s"))??;
    let ok = match status {
        Some(s) => s
            .await
            .is_some_and(|s| s.status.as_deref() == Some("Success")),
        None => false,
    };
    let _ = proc.join().await;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(&String::from_utf8_lossy(&err));
    Ok((ok, text))
}

fn target(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("TCP:{v4}:{port}"),
        IpAddr::V6(v6) => format!("TCP6:[{v6}]:{port}"),
    }
}

/// An HTTP GET of `ip:port` run inside a Pod (socat is in the node image).
async fn get(
    pods: &Api<Pod>,
    pod: &str,
    container: Option<&str>,
    ip: IpAddr,
    port: u16,
) -> Result<String> {
    let cmd = format!(
        "printf 'GET / HTTP/1.0\\r\\nHost: smoke\\r\\n\\r\\n' | socat -t 5 -T 10 - {}",
        target(ip, port)
    );
    Ok(sh(pods, pod, container, &cmd).await?.1)
}

/// Tries `f` until it succeeds or `deadline` passes; the last error tells why.
async fn retry<T, F, Fut>(deadline: Instant, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
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

/// The cluster's DNS domain and pod network, from its bootstrap ConfigMap.
async fn agent_config(parent: &Client, ns: &str) -> Result<AgentConfig> {
    let cm = Api::<ConfigMap>::namespaced(parent.clone(), ns)
        .get(BOOTSTRAP_CONFIGMAP)
        .await
        .with_context(|| format!("cannot read ConfigMap {ns}/{BOOTSTRAP_CONFIGMAP}"))?;
    let text = cm
        .data
        .and_then(|mut d| d.remove(AGENT_CONFIG_KEY))
        .ok_or_else(|| anyhow!("ConfigMap {ns}/{BOOTSTRAP_CONFIGMAP} has no {AGENT_CONFIG_KEY}: made by an older kubectl-inception? rerun up"))?;
    AgentConfig::from_json(&text)
        .with_context(|| format!("{AGENT_CONFIG_KEY} in {ns}/{BOOTSTRAP_CONFIGMAP}"))
}

/// One check's outcome.
struct Check {
    name: &'static str,
    detail: String,
    took: Duration,
}

pub async fn test(global: &Global, args: &TestArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let root = client::connect(global).await?;
    let mut chain = reach::reach(&root.client, &path).await?;
    let (parent, ns) = (chain.parent.clone(), chain.namespace.clone());
    let image = node_image(&parent, &ns).await?;
    let cfg = agent_config(&parent, &ns).await?;
    let inner = chain.enter(&path).await?;
    let start = Instant::now();
    let result = run(&parent, &inner, &path, &ns, &image, &cfg, args.timeout, out).await;
    if !args.keep {
        let nss: Api<Namespace> = Api::all(inner.clone());
        let _ = nss
            .delete(smoke::NAMESPACE, &DeleteParams::background())
            .await;
    }
    drop(chain);
    let nodes = result?;
    writeln!(
        out,
        "smoke test passed on cluster {path}: {nodes} nodes, every check in {:.1}s",
        start.elapsed().as_secs_f64()
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    parent: &Client,
    inner: &Client,
    path: &ClusterPath,
    ns: &str,
    image: &str,
    cfg: &AgentConfig,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<usize> {
    let start = Instant::now();
    let deadline = start + timeout;
    let (port, cluster_ip, node_list) = create(inner, path, image, deadline).await?;
    let count = node_list.len();
    let web: Api<Pod> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
    let t = Instant::now();
    let pods = web_servers(&web, path, count, deadline, timeout).await?;
    report(
        out,
        Check {
            name: "web servers",
            detail: format!("one Ready on each of {count} nodes"),
            took: t.elapsed(),
        },
    )?;
    let s = Smoke {
        path,
        web,
        node_pods: Api::namespaced(parent.clone(), ns),
        nodes: node_list,
        pods,
        port,
        cluster_ip,
        deadline,
        image,
    };
    report(out, checks::node_port(&s).await?)?;
    report(out, checks::pod_network(&s).await?)?;
    report(out, checks::service(&s).await?)?;
    report(out, checks::dns(&s, cfg).await?)?;
    report(out, checks::mtu(&s).await?)?;
    report(out, checks::volumes(&s).await?)?;
    Ok(count)
}

fn report(out: &mut impl Write, c: Check) -> Result<()> {
    writeln!(
        out,
        "check {}: ok, {} ({:.1}s)",
        c.name,
        c.detail,
        c.took.as_secs_f64()
    )?;
    Ok(())
}

/// What the checks share: the smoke test's objects as they came up.
struct Smoke<'a> {
    path: &'a ClusterPath,
    /// The smoke namespace's Pods, in the cluster.
    web: Api<Pod>,
    /// The cluster's node Pods, in its parent.
    node_pods: Api<Pod>,
    nodes: Vec<Node>,
    /// Ready web Pods: name, address, node.
    pods: Vec<(String, IpAddr, String)>,
    port: i32,
    cluster_ip: IpAddr,
    deadline: Instant,
    /// The node image: it has the shell the volume check runs.
    image: &'a str,
}

/// Makes the smoke namespace, DaemonSet and Service (once an earlier
/// run's namespace is gone); returns the NodePort, the ClusterIP and the
/// nodes.
async fn create(
    inner: &Client,
    path: &ClusterPath,
    image: &str,
    deadline: Instant,
) -> Result<(i32, IpAddr, Vec<Node>)> {
    let pp = PatchParams::apply(apply::FIELD_MANAGER);
    let nss: Api<Namespace> = Api::all(inner.clone());
    // A previous run's namespace may still be going away.
    while let Some(ns) = nss.get_opt(smoke::NAMESPACE).await? {
        if ns.metadata.deletion_timestamp.is_none() {
            break;
        }
        if Instant::now() > deadline {
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
    let daemons: Api<DaemonSet> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
    let services: Api<Service> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
    let nodes: Api<Node> = Api::all(inner.clone());
    daemons
        .patch(smoke::NAME, &pp, &Patch::Apply(&smoke::daemon_set(image)))
        .await
        .context("cannot create the smoke DaemonSet")?;
    let svc = services
        .patch(smoke::NAME, &pp, &Patch::Apply(&smoke::service()))
        .await
        .context("cannot create the smoke Service")?;
    let spec = svc.spec.unwrap_or_default();
    let port = spec
        .ports
        .as_ref()
        .and_then(|p| p.first().and_then(|p| p.node_port))
        .ok_or_else(|| anyhow!("the smoke Service got no NodePort"))?;
    let cluster_ip: IpAddr = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| anyhow!("the smoke Service got no ClusterIP"))?;
    let node_list = nodes.list(&ListParams::default()).await?.items;

    Ok((port, cluster_ip, node_list))
}

/// Waits for a web server Ready on every node.
async fn web_servers(
    web: &Api<Pod>,
    path: &ClusterPath,
    count: usize,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<(String, IpAddr, String)>> {
    retry(deadline, || async {
        let list = web
            .list(&ListParams::default().labels(&format!("app={}", smoke::NAME)))
            .await?;
        let mut ready = Vec::new();
        let mut why = Vec::new();
        // Pods on their way out (an earlier DaemonSet's) do not count.
        for p in list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let name = p.metadata.name.clone().unwrap_or_default();
            let st = p.status.clone().unwrap_or_default();
            let is_ready = st
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let ip = st.pod_ip.and_then(|ip| ip.parse().ok());
            let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
            match ip {
                Some(ip) if is_ready => ready.push((name, ip, node)),
                _ => why.push(format!("{name} {}", st.phase.unwrap_or_default())),
            }
        }
        let on: BTreeSet<&String> = ready.iter().map(|(_, _, node)| node).collect();
        if ready.len() != count || on.len() != count {
            bail!(
                "{} of {count} web Pods Ready ({})",
                ready.len(),
                why.join(", ")
            );
        }
        Ok(ready)
    })
    .await
    .with_context(|| {
        format!(
            "the smoke DaemonSet in cluster {path} is not Ready on every node after {}s",
            timeout.as_secs()
        )
    })
}
