//! A cluster's cost in its parent: what its node Pods request against what
//! the parent's nodes can give, and the memory they use now (the summary
//! API of the parent's kubelets, through the parent's API).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client};
use nesting::quantity::{bytes, cpu_millis, show_bytes, show_cpu};
use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// CPU the node Pods request, and the parent's allocatable CPU.
    pub cpu_requests: String,
    pub parent_cpu: String,
    /// Memory the node Pods request, and the parent's allocatable memory.
    pub memory_requests: String,
    pub parent_memory: String,
    /// The node Pods' working set now, if the parent's kubelets said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_in_use: Option<String>,
}

impl Usage {
    /// `200m/2 512Mi/23Gi`: requests of the parent's allocatable.
    pub fn requests(&self) -> String {
        format!(
            "{}/{} {}/{}",
            self.cpu_requests, self.parent_cpu, self.memory_requests, self.parent_memory
        )
    }
}

/// Requests summed over `pods`, allocatable over `nodes`.
pub fn add_up(pods: &[Pod], nodes: &[Node]) -> Usage {
    let (mut cpu, mut mem) = (0, 0);
    for c in pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| &s.containers)
    {
        let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        cpu += req
            .and_then(|r| r.get("cpu"))
            .and_then(|q| cpu_millis(&q.0))
            .unwrap_or(0);
        mem += req
            .and_then(|r| r.get("memory"))
            .and_then(|q| bytes(&q.0))
            .unwrap_or(0);
    }
    let (mut pcpu, mut pmem) = (0, 0);
    for a in nodes
        .iter()
        .filter_map(|n| n.status.as_ref()?.allocatable.as_ref())
    {
        pcpu += a.get("cpu").and_then(|q| cpu_millis(&q.0)).unwrap_or(0);
        pmem += a.get("memory").and_then(|q| bytes(&q.0)).unwrap_or(0);
    }
    Usage {
        cpu_requests: show_cpu(cpu),
        parent_cpu: show_cpu(pcpu),
        memory_requests: show_bytes(mem),
        parent_memory: show_bytes(pmem),
        memory_in_use: None,
    }
}

/// The working set of the Pods of `namespace` in one kubelet summary.
pub fn working_set(summary: &serde_json::Value, namespace: &str) -> u64 {
    summary["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["podRef"]["namespace"] == namespace)
        .filter_map(|p| p["memory"]["workingSetBytes"].as_u64())
        .sum()
}

/// The usage of the cluster in `namespace` of the cluster `parent` reaches.
pub async fn usage(parent: &Client, namespace: &str) -> Option<Usage> {
    let pods: Api<Pod> = Api::namespaced(parent.clone(), namespace);
    let nodes: Api<Node> = Api::all(parent.clone());
    let (node_pods, all) = (
        ListParams::default().labels(nesting::labels::ROLE),
        ListParams::default(),
    );
    let (p, n) = tokio::join!(pods.list(&node_pods), nodes.list(&all));
    let p = p.ok()?.items;
    let mut u = add_up(&p, &n.map(|l| l.items).unwrap_or_default());
    let hosts: BTreeSet<String> = p
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    let mut used = None;
    for h in hosts {
        let req = http::Request::get(format!("/api/v1/nodes/{h}/proxy/stats/summary"))
            .body(Vec::new())
            .ok()?;
        if let Ok(s) = parent.request::<serde_json::Value>(req).await {
            *used.get_or_insert(0) += working_set(&s, namespace);
        }
    }
    u.memory_in_use = used.map(show_bytes);
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_of_allocatable() {
        let pod = |cpu: &str, mem: &str| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [{"name": "node",
                "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}}))
            .unwrap()
        };
        let node: Node = serde_json::from_value(json!({"status": {"allocatable": {
            "cpu": "2", "memory": "24542920Ki"}}}))
        .unwrap();
        let u = add_up(&[pod("100m", "256Mi"), pod("100m", "256Mi")], &[node]);
        assert_eq!(u.requests(), "200m/2 512Mi/23.4Gi");
    }

    #[test]
    fn working_set_of_one_namespace() {
        let s = json!({"pods": [
            {"podRef": {"name": "control-plane-0", "namespace": "inception-a"}, "memory": {"workingSetBytes": 300}},
            {"podRef": {"name": "workers-0", "namespace": "inception-a"}, "memory": {"workingSetBytes": 200}},
            {"podRef": {"name": "x", "namespace": "other"}, "memory": {"workingSetBytes": 999}}
        ]});
        assert_eq!(working_set(&s, "inception-a"), 500);
        assert_eq!(working_set(&json!({}), "inception-a"), 0);
    }
}
