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
use nesting::manifests::{BOOTSTRAP_CONFIGMAP, CONTROL_PLANE, NODE_CONTAINER};
use nesting::node::{AGENT_CONFIG_KEY, AgentConfig};
use nesting::{ClusterPath, smoke};
use tokio::io::AsyncReadExt;

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
    let web: Api<Pod> = Api::namespaced(inner.clone(), smoke::NAMESPACE);
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
    let count = node_list.len();

    // A web server Ready on every node.
    let t = Instant::now();
    let pods: Vec<(String, IpAddr, String)> = retry(deadline, || async {
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
    })?;
    let mut report = |c: Check| -> Result<()> {
        writeln!(
            out,
            "check {}: ok, {} ({:.1}s)",
            c.name,
            c.detail,
            c.took.as_secs_f64()
        )?;
        Ok(())
    };
    report(Check {
        name: "web servers",
        detail: format!("one Ready on each of {count} nodes"),
        took: t.elapsed(),
    })?;

    // Every node answers on the NodePort, asked from inside another node
    // Pod through the parent's API: nothing here connects to cluster
    // addresses itself, as those may not be routed on this machine.
    let t = Instant::now();
    let node_pods_api: Api<Pod> = Api::namespaced(parent.clone(), ns);
    let node_pods: Vec<(IpAddr, String)> = node_pods_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|p| Some((p.status?.pod_ip?.parse().ok()?, p.metadata.name?)))
        .collect();
    for n in &node_list {
        let name = n.metadata.name.clone().unwrap_or_default();
        let ip: IpAddr = nesting::node::NodeView::of(n)
            .ip
            .ok_or_else(|| anyhow!("node {name} has no InternalIP"))?;
        let (_, from) = node_pods
            .iter()
            .find(|(pod_ip, _)| *pod_ip != ip)
            .or_else(|| node_pods.first())
            .ok_or_else(|| anyhow!("cluster {path} has no node Pods"))?;
        retry(deadline, || async {
            let r = get(&node_pods_api, from, Some(NODE_CONTAINER), ip, port as u16).await?;
            if smoke::answered(&r) {
                Ok(())
            } else {
                bail!(
                    "node {name} ({ip}:{port}) answered: {}",
                    r.lines().next().unwrap_or("nothing")
                )
            }
        })
        .await
        .with_context(|| {
            format!("node {name} of cluster {path} does not answer on NodePort {port}")
        })?;
    }
    report(Check {
        name: "NodePort",
        detail: format!("port {port} answered on all {count} nodes"),
        took: t.elapsed(),
    })?;

    // Pod to Pod, every ordered pair of nodes.
    let t = Instant::now();
    let mut pairs = 0;
    for (a, _, a_node) in &pods {
        for (b, b_ip, b_node) in pods.iter().filter(|(b, ..)| b != a) {
            retry(deadline, || async {
                let r = get(&web, a, None, *b_ip, smoke::PORT as u16).await?;
                match smoke::answered_by(&r) {
                    Some(who) if who == b => Ok(()),
                    _ => bail!("{}", r.lines().last().unwrap_or("no answer")),
                }
            })
            .await
            .with_context(|| {
                format!("Pod {a} on node {a_node} cannot reach Pod {b} ({b_ip}) on node {b_node}")
            })?;
            pairs += 1;
        }
    }
    report(Check {
        name: "pod network",
        detail: format!("{pairs} Pod pairs across nodes"),
        took: t.elapsed(),
    })?;

    // The ClusterIP reaches the backend on every node.
    let t = Instant::now();
    let (from, ..) = &pods[0];
    let all: BTreeSet<&str> = pods.iter().map(|(n, ..)| n.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut asked = 0;
    while seen.len() < all.len() {
        if Instant::now() > deadline || asked >= 40 * all.len() {
            bail!(
                "Service {}/{} at {cluster_ip} reached only {seen:?} of {all:?} after {asked} requests from Pod {from}",
                smoke::NAMESPACE,
                smoke::NAME
            );
        }
        asked += 1;
        if let Ok(r) = get(&web, from, None, cluster_ip, 80).await
            && let Some(who) = smoke::answered_by(&r)
            && let Some(known) = all.get(who)
        {
            seen.insert(*known);
        }
    }
    report(Check {
        name: "Service",
        detail: format!(
            "ClusterIP {cluster_ip} reached all {} backends in {asked} requests",
            all.len()
        ),
        took: t.elapsed(),
    })?;

    // DNS from every node: the Service's name and another Pod's name.
    let t = Instant::now();
    let svc_name = smoke::service_dns_name(&cfg.cluster_domain);
    for (i, (a, _, a_node)) in pods.iter().enumerate() {
        let (_, b_ip, _) = &pods[(i + 1) % pods.len()];
        let pod_name = smoke::pod_dns_name(*b_ip, smoke::NAMESPACE, &cfg.cluster_domain);
        for (name, want) in [(&svc_name, cluster_ip), (&pod_name, *b_ip)] {
            retry(deadline, || async {
                let (ok, r) = sh(&web, a, None, &format!("getent hosts {name}")).await?;
                let got = r
                    .split_whitespace()
                    .next()
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                if ok && got == Some(want) {
                    Ok(())
                } else {
                    bail!("getent hosts {name} gave {:?}", r.trim())
                }
            })
            .await
            .with_context(|| {
                format!("DNS in Pod {a} on node {a_node}: {name} does not resolve to {want}")
            })?;
        }
    }
    report(Check {
        name: "DNS",
        detail: format!("{svc_name} and Pod names resolve on all {count} nodes"),
        took: t.elapsed(),
    })?;

    // A packet of the full MTU, not fragmented, between every pair.
    let t = Instant::now();
    let mut mtu = 0;
    for (a, a_ip, a_node) in &pods {
        let (_, m) = sh(&web, a, None, "cat /sys/class/net/eth0/mtu").await?;
        mtu = m
            .trim()
            .parse()
            .with_context(|| format!("Pod {a}: eth0 MTU {m:?}"))?;
        for (b, b_ip, b_node) in pods.iter().filter(|(b, ..)| b != a) {
            let size = smoke::ping_payload(mtu, *a_ip);
            retry(deadline, || async {
                let (ok, r) = sh(&web, a, None, &format!("ping -c 1 -W 3 -M do -s {size} {b_ip}")).await?;
                if ok { Ok(()) } else { bail!("{}", r.trim()) }
            })
            .await
            .with_context(|| format!("a {mtu}-byte packet from Pod {a} on node {a_node} does not reach Pod {b} on node {b_node}"))?;
        }
    }
    report(Check {
        name: "MTU",
        detail: format!("{mtu}-byte packets cross between every pair of nodes"),
        took: t.elapsed(),
    })?;
    Ok(count)
}
