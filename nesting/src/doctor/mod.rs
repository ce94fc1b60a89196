//! Preflight verdicts for `doctor`: pure checks on facts the plugin gathered.
//!
//! The plugin asks the cluster; this module turns what it found into
//! [`Check`]s: ok, warn or fail, a one-line reason and, when not ok, what to
//! do. Thresholds live here so they are tested without a cluster.

use serde::{Deserialize, Serialize};

mod admission;
mod cidrs;
mod image;
mod namespace;
mod nodes;
mod probe;
mod rbac;

pub use admission::{
    DryRun, denial_hint, pod_security, privileged_pods, privileged_pods_unchecked,
};
pub use cidrs::{CidrFacts, FoundRange, cidrs};
pub use image::{Pull, image};
pub use namespace::{NamespaceState, existing};
pub use nodes::{NodeFacts, nodes};
pub use probe::{PROBE_MODULES_MOUNT, PROBE_SCRIPT, ProbeFacts, parse_probe, probe, probe_failed};
pub use rbac::{NEEDED, Need, cluster_role, rbac};

/// Label on the short-lived namespace `doctor` tests in (and removes).
pub const DOCTOR_LABEL: &str = "kubectl-inception.dev/doctor";

/// fs.inotify.max_user_instances below this: kubelet and containerd of
/// every nested level each hold instances, and the host's are shared.
pub const MIN_INOTIFY_INSTANCES: u64 = 512;
/// fs.inotify.max_user_watches below this is likely to run out.
pub const MIN_INOTIFY_WATCHES: u64 = 524_288;
/// net.netfilter.nf_conntrack_max below this is small for nested clusters
/// (kube-proxy's own floor); inner kube-proxies cannot raise it.
pub const MIN_CONNTRACK: u64 = 131_072;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        })
    }
}

/// One verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    pub fn warn(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Every verdict of one run, and what the probe Pod saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub checks: Vec<Check>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeFacts>,
    pub problems: usize,
    pub warnings: usize,
}

impl Report {
    pub fn new(checks: Vec<Check>, probe: Option<ProbeFacts>) -> Report {
        let count = |s| checks.iter().filter(|c| c.status == s).count();
        Report {
            problems: count(Status::Fail),
            warnings: count(Status::Warn),
            checks,
            probe,
        }
    }
}

/// One line: the apiserver's version and address, or why it did not answer
/// (the error names the server).
pub fn api(version: Result<(&str, &str), &str>) -> Check {
    match version {
        Ok((v, server)) => Check::ok("api", format!("Kubernetes {v} at {server}")),
        Err(e) => Check::fail(
            "api",
            e.to_string(),
            "check --kubeconfig/--context and that the cluster is up (kubectl version)",
        ),
    }
}

#[cfg(test)]
mod tests;
