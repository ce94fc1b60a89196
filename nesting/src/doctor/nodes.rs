//! The cluster's nodes: enough of them, and usable ones.

use super::Check;

/// What matters of one node for node Pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub ready: bool,
    pub unschedulable: bool,
    /// Keys of NoSchedule/NoExecute taints (node Pods tolerate none).
    pub taints: Vec<String>,
}

impl NodeFacts {
    /// Ready, schedulable and untainted: node Pods can run there.
    pub fn usable(&self) -> bool {
        self.ready && !self.unschedulable && self.taints.is_empty()
    }

    fn why_not(&self) -> String {
        let mut why = Vec::new();
        if !self.ready {
            why.push("NotReady".to_string());
        }
        if self.unschedulable {
            why.push("cordoned".to_string());
        }
        if !self.taints.is_empty() {
            why.push(format!("tainted {}", self.taints.join(",")));
        }
        format!("{} {}", self.name, why.join(" "))
    }
}

/// At least one Ready node that takes Pods without tolerations.
pub fn nodes(listed: Result<&[NodeFacts], &str>) -> Check {
    let nodes = match listed {
        Ok(n) => n,
        Err(e) => {
            return Check::warn(
                "nodes",
                format!("cannot list nodes: {e}"),
                "ask for the right to list nodes, or check kubectl get nodes yourself",
            );
        }
    };
    if nodes.is_empty() {
        return Check::fail(
            "nodes",
            "the cluster has no nodes: node Pods would stay Pending",
            "add a node (kubectl get nodes lists none)",
        );
    }
    let usable = nodes.iter().filter(|n| n.usable()).count();
    let others: Vec<String> = nodes
        .iter()
        .filter(|n| !n.usable())
        .map(NodeFacts::why_not)
        .collect();
    if usable == 0 {
        return Check::fail(
            "nodes",
            format!("no node takes Pods: {}", others.join("; ")),
            "make a node Ready, uncordon it or remove its taints",
        );
    }
    let mut detail = format!("{usable} of {} nodes Ready and schedulable", nodes.len());
    if !others.is_empty() {
        detail.push_str(&format!(" (not: {})", others.join("; ")));
    }
    Check::ok("nodes", detail)
}
