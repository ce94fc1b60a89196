//! Waiting for a cluster's node Pods, with progress and a diagnosis on timeout.

use std::time::Duration;

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use nesting::PlannedCluster;
use nesting::manifests::{CONTROL_PLANE, WORKERS};
use tokio::time::Instant;

use crate::progress::Progress;
use crate::retry;

async fn ready(client: &Client, c: &PlannedCluster) -> kube::Result<(bool, i32)> {
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &c.namespace);
    let deploy: Api<StatefulSet> = Api::namespaced(client.clone(), &c.namespace);
    let (s, d) = tokio::try_join!(sts.get_opt(CONTROL_PLANE), deploy.get_opt(WORKERS))?;
    let cp = s
        .and_then(|s| s.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
        >= 1;
    let w = d
        .and_then(|d| d.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    Ok((cp, w))
}

/// Waits until the control plane and every worker Pod are Ready.
pub async fn wait_ready(
    client: &Client,
    c: &PlannedCluster,
    pb: &Progress,
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    let mut seen = (false, 0);
    // A cause that stops `up` once it has lasted nesting::stuck::SETTLE.
    let mut cause: Option<(nesting::stuck::Stuck, Instant)> = None;
    let mut polls = 0u32;
    loop {
        polls += 1;
        if polls.is_multiple_of(4) {
            cause = match (stuck_now(client, &c.namespace).await, cause) {
                (Some(now), Some((was, since))) if now.key == was.key => Some((now, since)),
                (Some(now), _) => Some((now, Instant::now())),
                (None, _) => None,
            };
            if let Some((s, since)) = &cause
                && since.elapsed() >= nesting::stuck::SETTLE
            {
                pb.abandon();
                let mut s = s.clone();
                let logs = match &s.crashing {
                    Some(pod) => {
                        let text = pod_logs(client, &c.namespace, pod, true).await;
                        // A known cause among them says more than "keeps exiting".
                        if let Some(known) = nesting::stuck::in_logs(pod, &text) {
                            s.cause = known.cause;
                            s.fix = known.fix;
                        }
                        shown_logs(pod, &text)
                    }
                    None => String::new(),
                };
                bail!(
                    "cluster {}: {}.\n{}\n{logs}The objects stay in place: fix the cause and rerun up, or remove them with `kubectl inception down {}`",
                    c.path,
                    s.cause,
                    s.fix,
                    c.path
                );
            }
        }
        match ready(client, c).await {
            Ok(now) => seen = now,
            Err(e) if retry::transient(&e) => {
                tracing::debug!(cluster = %c.path, "reading its node workloads, trying again: {e}");
            }
            Err(e) => return Err(e.into()),
        }
        let (cp, w) = seen;
        pb.set_message(format!(
            "node Pods: control plane {}, workers {w}/{}",
            if cp { "Ready" } else { "starting" },
            c.workers
        ));
        if cp && w >= c.workers as i32 {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            pb.abandon();
            let why = diagnose(client, &c.namespace).await;
            bail!(
                "cluster {} is not Ready after {}s (control plane ready: {cp}, workers ready: {w}/{}).\n{why}\
                 The objects stay in place: rerun up to keep waiting, or remove them with `kubectl inception down {}`",
                c.path,
                timeout.as_secs(),
                c.workers,
                c.path
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Why the node Pods of `namespace` cannot come up, if they cannot.
async fn stuck_now(client: &Client, namespace: &str) -> Option<nesting::stuck::Stuck> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let (node_pods, all) = (
        ListParams::default().labels(nesting::labels::ROLE),
        ListParams::default(),
    );
    let (p, e) = tokio::join!(pods.list(&node_pods), events.list(&all));
    let (p, e) = (p.ok()?.items, e.map(|l| l.items).unwrap_or_default());
    if let Some(s) = nesting::stuck::stuck(&p, &e) {
        return Some(s);
    }
    // The entrypoint restarts kubelet, so a kubelet that cannot start
    // shows only in the logs of a node container that keeps running.
    for pod in nesting::stuck::running_not_ready(&p) {
        let text = pod_logs(client, namespace, &pod, false).await;
        if let Some(s) = nesting::stuck::in_logs(&pod, &text) {
            return Some(s);
        }
    }
    None
}

/// The last log lines of a node Pod, of its previous run (it crashed: the
/// lines shown) or of this one (searched: more of them, as kubelet's own
/// start lines come between two refusals); nothing if they cannot be read.
async fn pod_logs(client: &Client, namespace: &str, pod: &str, previous: bool) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = LogParams {
        tail_lines: Some(if previous { 15 } else { 200 }),
        previous,
        ..LogParams::default()
    };
    pods.logs(pod, &lp).await.unwrap_or_default()
}

fn shown_logs(pod: &str, text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    format!(
        "last log lines of {pod}:\n{}\n",
        text.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Pod phases, waiting reasons, recent events and last log lines.
pub async fn diagnose(client: &Client, namespace: &str) -> String {
    let mut out = String::new();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match pods.list(&ListParams::default()).await {
        Ok(list) if list.items.is_empty() => out.push_str("  no Pods were created\n"),
        Ok(list) => {
            for p in &list.items {
                let name = p.metadata.name.clone().unwrap_or_default();
                let st = p.status.clone().unwrap_or_default();
                out.push_str(&format!("  pod {name}: {}\n", st.phase.unwrap_or_default()));
                for cond in st
                    .conditions
                    .unwrap_or_default()
                    .iter()
                    .filter(|c| c.status != "True")
                {
                    out.push_str(&format!(
                        "    {} false: {} {}\n",
                        cond.type_,
                        cond.reason.clone().unwrap_or_default(),
                        cond.message.clone().unwrap_or_default()
                    ));
                }
                let mut started = false;
                for cs in st.container_statuses.unwrap_or_default() {
                    if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                        out.push_str(&format!(
                            "    container {} waiting: {} {}\n",
                            cs.name,
                            w.reason.clone().unwrap_or_default(),
                            w.message.clone().unwrap_or_default()
                        ));
                    }
                    started |= cs.state.as_ref().is_some_and(|s| s.waiting.is_none())
                        || cs.restart_count > 0;
                }
                if started {
                    let lp = LogParams {
                        tail_lines: Some(15),
                        ..LogParams::default()
                    };
                    if let Ok(logs) = pods.logs(&name, &lp).await {
                        out.push_str(&format!("    last log lines of {name}:\n"));
                        for l in logs.lines() {
                            out.push_str(&format!("      {l}\n"));
                        }
                    }
                }
            }
        }
        Err(e) => out.push_str(&format!("  cannot list Pods: {e}\n")),
    }
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let Ok(list) = events.list(&ListParams::default()).await {
        let mut items = list.items;
        items.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
        let recent: Vec<_> = items.iter().rev().take(8).collect();
        if !recent.is_empty() {
            out.push_str("  recent events:\n");
            for e in recent.iter().rev() {
                out.push_str(&format!(
                    "    {} {}: {}\n",
                    e.involved_object.name.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    e.message.clone().unwrap_or_default().trim()
                ));
            }
        }
    }
    out
}

/// Names of the Ready nodes among `nodes`.
pub fn ready_nodes(nodes: &[k8s_openapi::api::core::v1::Node]) -> usize {
    nodes
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

/// Waits until the inner cluster, reached with `inner`, has all its nodes Ready.
pub async fn wait_nodes(
    parent: &Client,
    inner: &Client,
    c: &PlannedCluster,
    pb: &Progress,
    timeout: Duration,
) -> Result<Duration> {
    use k8s_openapi::api::core::v1::Node;
    let start = Instant::now();
    let want = 1 + c.workers as usize;
    let nodes: Api<Node> = Api::all(inner.clone());
    loop {
        let ready = match nodes.list(&ListParams::default()).await {
            Ok(list) => ready_nodes(&list.items),
            Err(e) => {
                tracing::debug!("listing inner nodes: {e}");
                0
            }
        };
        pb.set_message(format!("nodes {ready}/{want} Ready"));
        if ready >= want {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            pb.abandon();
            let why = diagnose(parent, &c.namespace).await;
            bail!(
                "cluster {}: {ready} of {want} nodes Ready after {}s.\n{why}",
                c.path,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::Method;
    use nesting::{PlanRequest, TreeSpec};
    use serde_json::json;

    use super::*;
    use crate::fake;

    fn cluster() -> PlannedCluster {
        let plan = nesting::Plan::new(&PlanRequest::new(
            TreeSpec {
                name: "lab".into(),
                depth: 1,
                width: 1,
                workers: 2,
            },
            nesting::Entropy::from_system(),
        ))
        .unwrap();
        plan.clusters[0].clone()
    }

    fn workload(kind: &str, name: &str, ready: i32) -> serde_json::Value {
        json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "inception-lab"},
            "status": {"readyReplicas": ready},
        })
    }

    const STS: &str = "/apis/apps/v1/namespaces/inception-lab/statefulsets/control-plane";
    const WORKERS_STS: &str = "/apis/apps/v1/namespaces/inception-lab/statefulsets/workers";

    #[tokio::test(start_paused = true)]
    async fn a_busy_server_is_asked_again() {
        let c = cluster();
        let sts_calls = AtomicUsize::new(0);
        let (client, log, _server) = fake::serve(move |s| {
            if s.path == STS {
                // Busy twice, then Ready.
                match sts_calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => fake::status(503, "ServiceUnavailable"),
                    _ => fake::ok(workload("StatefulSet", CONTROL_PLANE, 1)),
                }
            } else if s.path == WORKERS_STS {
                fake::ok(workload("StatefulSet", WORKERS, 2))
            } else {
                fake::not_found()
            }
        });
        let pb = Progress::hidden();
        wait_ready(&client, &c, &pb, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(log.count(&Method::GET, STS), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_terminal_each_change_is_one_plain_line() {
        let c = cluster();
        let calls = AtomicUsize::new(0);
        let (client, _log, _server) = fake::serve(move |s| match s.path.as_str() {
            STS => fake::ok(workload("StatefulSet", CONTROL_PLANE, 1)),
            // One worker Ready for three polls, then both.
            WORKERS_STS => match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => fake::ok(workload("StatefulSet", WORKERS, 1)),
                _ => fake::ok(workload("StatefulSet", WORKERS, 2)),
            },
            _ => fake::not_found(),
        });
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let pb = Progress::plain("lab", "applying", buf.clone());
        wait_ready(&client, &c, &pb, Duration::from_secs(60))
            .await
            .unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("lab: applying ("), "{text}");
        assert!(
            lines[1].starts_with("lab: node Pods: control plane Ready, workers 1/2 ("),
            "{text}"
        );
        assert!(
            lines[2].starts_with("lab: node Pods: control plane Ready, workers 2/2 ("),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_ends_the_wait() {
        let c = cluster();
        let (client, log, _server) = fake::serve(|_| fake::status(403, "Forbidden"));
        let pb = Progress::hidden();
        let e = wait_ready(&client, &c, &pb, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("fake Forbidden"), "{e:#}");
        assert!(log.count(&Method::GET, STS) <= 1);
    }

    #[tokio::test(start_paused = true)]
    async fn too_few_workers_time_out_with_a_diagnosis() {
        let c = cluster();
        let (client, _log, _server) = fake::serve(|s| match s.path.as_str() {
            STS => fake::ok(workload("StatefulSet", CONTROL_PLANE, 1)),
            WORKERS_STS => fake::ok(workload("StatefulSet", WORKERS, 1)),
            "/api/v1/namespaces/inception-lab/pods" => fake::list("Pod", vec![]),
            _ => fake::list("Event", vec![]),
        });
        let pb = Progress::hidden();
        let e = wait_ready(&client, &c, &pb, Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster lab is not Ready after 5s"), "{e}");
        assert!(e.contains("workers ready: 1/2"), "{e}");
        assert!(e.contains("no Pods were created"), "{e}");
    }
}
