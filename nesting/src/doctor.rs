//! Preflight verdicts for `doctor`: pure checks on facts the plugin gathered.
//!
//! The plugin asks the cluster; this module turns what it found into
//! [`Check`]s: ok, warn or fail, a one-line reason and, when not ok, what to
//! do. Thresholds live here so they are tested without a cluster.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::KubeVersion;
use crate::cidr::{self, CidrRequest};

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

/// A permission the plugin needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        Ok(())
    }
}

const fn need(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
    }
}

const fn sub(verb: &'static str, resource: &'static str, subresource: &'static str) -> Need {
    Need {
        verb,
        group: "",
        resource,
        subresource,
    }
}

/// What `up`, `tree`, `kubeconfig`, `connect`, `test` and `down` do in a
/// parent: server-side apply (create + patch) of a cluster's objects, Pod
/// reads, exec and port-forward, namespace deletion.
pub const NEEDED: &[Need] = &[
    need("create", "", "namespaces"),
    need("patch", "", "namespaces"),
    need("get", "", "namespaces"),
    need("list", "", "namespaces"),
    need("delete", "", "namespaces"),
    need("create", "", "pods"),
    need("get", "", "pods"),
    need("list", "", "pods"),
    sub("get", "pods", "log"),
    sub("create", "pods", "exec"),
    sub("create", "pods", "portforward"),
    need("create", "", "services"),
    need("patch", "", "services"),
    need("get", "", "services"),
    need("create", "", "secrets"),
    need("patch", "", "secrets"),
    need("get", "", "secrets"),
    need("create", "", "configmaps"),
    need("patch", "", "configmaps"),
    need("create", "apps", "statefulsets"),
    need("patch", "apps", "statefulsets"),
    need("create", "apps", "deployments"),
    need("patch", "apps", "deployments"),
];

/// The answers of SelfSubjectAccessReviews for [`NEEDED`]: allowed, or an
/// error asking.
pub fn rbac(answers: &[(Need, Result<bool, String>)], namespace: &str) -> Check {
    let missing: Vec<String> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(false)))
        .map(|(n, _)| n.to_string())
        .collect();
    let unknown: Vec<String> = answers
        .iter()
        .filter_map(|(n, a)| a.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            "rbac",
            format!("not allowed: {}", missing.join(", ")),
            format!(
                "ask for these rights (cluster-wide for namespaces, in {namespace} for the rest), e.g. a ClusterRoleBinding to cluster-admin"
            ),
        );
    }
    if !unknown.is_empty() {
        return Check::warn(
            "rbac",
            format!("could not ask: {}", unknown.join(", ")),
            "kubectl auth can-i --list shows your rights",
        );
    }
    Check::ok(
        "rbac",
        format!(
            "all {} permissions the plugin uses are granted",
            answers.len()
        ),
    )
}

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
    fn usable(&self) -> bool {
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

/// What an admission denial most likely came from, and what to do.
pub fn denial_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("cannot create resource") || m.contains("cannot patch resource") {
        "you lack the rights: see the rbac check".into()
    } else if m.contains("podsecurity") || m.contains("pod-security") {
        "Pod Security Admission refused it: allow the label pod-security.kubernetes.io/enforce=privileged on inception namespaces (exemptions in the cluster's AdmissionConfiguration)".into()
    } else if m.contains("podsecuritypolicy") || m.contains("security policy") {
        "a PodSecurityPolicy refused it: bind a privileged PSP to the namespace's service accounts"
            .into()
    } else if m.contains("webhook") || m.contains("policy") {
        "an admission policy (webhook, Gatekeeper, Kyverno) refused it: ask for an exception for namespaces inception-*".into()
    } else {
        "ask the cluster admin to allow privileged Pods with hostPath volumes in inception-* namespaces".into()
    }
}

/// How the server answered a dry run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun<'a> {
    Accepted,
    /// Server-side apply conflict: fields owned by another manager.
    Conflict(&'a str),
    /// Refused by admission, validation or authorization.
    Refused(&'a str),
}

/// The server-side dry run of the top cluster's Namespace (with the
/// pod-security labels the plugin sets); `existing` is the enforce label of
/// the namespace if it exists (`Some(None)`: exists without one).
pub fn pod_security(namespace: &str, dry_run: DryRun, existing: Option<Option<&str>>) -> Check {
    let level = existing.flatten().unwrap_or("the cluster default");
    match dry_run {
        DryRun::Refused(e) => Check::fail(
            "pod-security",
            format!("namespace {namespace} with enforce=privileged refused: {e}"),
            denial_hint(e),
        ),
        DryRun::Conflict(e) => Check::warn(
            "pod-security",
            format!("namespace {namespace} enforces {level}, labels set by someone else: {e}"),
            "up does not take them over: choose another tree name or -n NAMESPACE",
        ),
        DryRun::Accepted => match existing {
            Some(level) if level != Some("privileged") => Check::warn(
                "pod-security",
                format!(
                    "namespace {namespace} exists and enforces {}; up relabels it privileged (dry run accepted)",
                    level.unwrap_or("the cluster default")
                ),
                format!(
                    "kubectl get namespace {namespace} --show-labels; up sets pod-security.kubernetes.io/enforce=privileged"
                ),
            ),
            _ => Check::ok(
                "pod-security",
                format!("namespace {namespace} labelled enforce=privileged accepted (dry run)"),
            ),
        },
    }
}

/// The server-side dry run of a node Pod (privileged, hostPath) in a
/// namespace labelled like the plugin's.
pub fn privileged_pods(result: Result<(), &str>, namespace: &str) -> Check {
    match result {
        Ok(()) => Check::ok(
            "privileged-pods",
            format!(
                "a node Pod (privileged, hostPath) is accepted (dry run, in a namespace labelled like {namespace})"
            ),
        ),
        Err(e) => Check::fail(
            "privileged-pods",
            format!("a node Pod is refused: {e}"),
            denial_hint(e),
        ),
    }
}

/// The privileged Pod check could not be made (no namespace to test in).
pub fn privileged_pods_unchecked(why: &str) -> Check {
    Check::warn(
        "privileged-pods",
        format!("not checked: {why}"),
        "see the rbac check: doctor needs to create a namespace to test in",
    )
}

/// A range of the current cluster and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundRange {
    pub cidr: IpNet,
    pub source: String,
}

/// What the CIDR check is made from.
#[derive(Clone, Debug)]
pub struct CidrFacts<'a> {
    /// The plan's request, with the cluster's ranges already excluded.
    pub request: &'a CidrRequest,
    /// Clusters of the tree.
    pub clusters: usize,
    pub service_cidrs: &'a [FoundRange],
    pub pod_cidrs: &'a [FoundRange],
    pub node_ips: &'a [IpAddr],
    /// The cluster has nodes (so its pods have addresses somewhere).
    pub has_nodes: bool,
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Pools tried in turn when suggesting another `--cidr-pool`.
const CANDIDATE_POOLS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "100.64.0.0/10",
    "192.168.0.0/16",
    "fd00::/8",
];

/// The tree fits in the pools beside the cluster's own ranges.
pub fn cidrs(f: &CidrFacts) -> Check {
    let pools: Vec<String> = f.request.pools.iter().map(|p| p.to_string()).collect();
    let pools = pools.join(", ");
    let clash: Vec<String> = f
        .service_cidrs
        .iter()
        .map(|r| ("service", r))
        .chain(f.pod_cidrs.iter().map(|r| ("pod", r)))
        .filter(|(_, r)| f.request.pools.iter().any(|p| overlaps(p, &r.cidr)))
        .map(|(kind, r)| format!("{kind} CIDR {} ({})", r.cidr, r.source))
        .chain(
            f.node_ips
                .iter()
                .filter(|ip| f.request.pools.iter().any(|p| p.contains(*ip)))
                .map(|ip| format!("node address {ip}")),
        )
        .collect();
    match cidr::allocate(f.request, f.clusters) {
        Ok(nets) => {
            let mut detail = format!(
                "{} in {pools} (first: pods {}, services {})",
                match f.clusters {
                    1 => "1 cluster fits".to_string(),
                    n => format!("{n} clusters fit"),
                },
                nets[0].pod_cidr,
                nets[0].service_cidr
            );
            if !clash.is_empty() {
                detail.push_str(&format!(", avoiding {}", clash.join(", ")));
            }
            if f.service_cidrs.is_empty() {
                return Check::warn(
                    "cidrs",
                    format!("{detail}; this cluster's service CIDR was not found"),
                    "pass --parent-service-cidr CIDR so nothing overlaps it",
                );
            }
            if f.pod_cidrs.is_empty() && f.has_nodes {
                return Check::warn(
                    "cidrs",
                    format!("{detail}; this cluster's pod CIDR was not found"),
                    "pass --parent-pod-cidr CIDR so nothing overlaps it",
                );
            }
            Check::ok("cidrs", detail)
        }
        Err(e) => {
            let mut detail = e.to_string();
            if !clash.is_empty() {
                detail = format!("{detail}; the pool overlaps {}", clash.join(", "));
            }
            let hint = match suggest_pool(f) {
                Some(p) => format!("pass --cidr-pool {p} (it fits the tree beside this cluster's ranges), or a smaller --depth/--width"),
                None => "pass a larger --cidr-pool free of this cluster's ranges, raise --pod-prefix/--service-prefix, or make the tree smaller".into(),
            };
            Check::fail("cidrs", detail, hint)
        }
    }
}

/// A well-known private pool of the same family where the tree fits.
fn suggest_pool(f: &CidrFacts) -> Option<IpNet> {
    let v4 = f.request.pools.first().is_none_or(|p| p.addr().is_ipv4());
    CANDIDATE_POOLS
        .iter()
        .filter_map(|p| p.parse::<IpNet>().ok())
        .filter(|p| p.addr().is_ipv4() == v4 && !f.request.pools.contains(p))
        .find(|p| {
            let req = CidrRequest {
                pools: vec![*p],
                ..f.request.clone()
            };
            cidr::allocate(&req, f.clusters).is_ok()
        })
}

/// The top cluster's namespace as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceState {
    Absent,
    /// Being deleted: since when, and the namespace's conditions saying
    /// what is left (content, finalizers).
    Terminating {
        since: String,
        conditions: Vec<String>,
    },
    Exists {
        /// Labelled as made by kubectl-inception.
        managed: bool,
        /// The cluster path it belongs to, from its annotation.
        path: Option<String>,
        /// Its plan digest annotation.
        digest: Option<String>,
    },
}

/// Whether `up` can make or converge the top cluster's namespace.
/// `want_digest` is `None` when no plan could be made.
pub fn existing(
    namespace: &str,
    want_path: &str,
    want_digest: Option<&str>,
    state: &NamespaceState,
) -> Check {
    match state {
        NamespaceState::Absent => Check::ok(
            "namespace",
            format!("{namespace} does not exist yet: up creates it"),
        ),
        NamespaceState::Terminating { since, conditions } => {
            let mut detail = format!("{namespace} is stuck Terminating (deleted {since})");
            if !conditions.is_empty() {
                detail.push_str(&format!(": {}", conditions.join("; ")));
            }
            Check::fail(
                "namespace",
                detail,
                format!(
                    "kubectl get namespace {namespace} -o yaml shows what is left (status.conditions); \
                     kubectl api-resources --verbs=list --namespaced -o name | xargs -n1 kubectl get -n {namespace} -o name \
                     lists the objects, whose metadata.finalizers hold it"
                ),
            )
        }
        NamespaceState::Exists { managed: false, .. } => Check::fail(
            "namespace",
            format!("{namespace} exists and was not made by kubectl-inception: up refuses it"),
            "choose another tree name or -n NAMESPACE",
        ),
        NamespaceState::Exists {
            managed: true,
            path,
            digest,
        } => {
            if path.as_deref() != Some(want_path) {
                return Check::fail(
                    "namespace",
                    format!(
                        "{namespace} belongs to cluster {}, not {want_path}",
                        path.as_deref().unwrap_or("?")
                    ),
                    "choose another tree name or -n NAMESPACE",
                );
            }
            match (digest.as_deref(), want_digest) {
                (Some(have), Some(want)) if have != want => Check::fail(
                    "namespace",
                    format!(
                        "cluster {want_path} exists with another plan ({have}; this one: {want})"
                    ),
                    format!(
                        "rerun with the flags it was made with, or remove it first: kubectl inception down {want_path}"
                    ),
                ),
                _ => Check::ok(
                    "namespace",
                    format!("cluster {want_path} exists in {namespace}: up converges it"),
                ),
            }
        }
    }
}

/// The script the probe Pod runs: one `key=value` a line.
pub const PROBE_SCRIPT: &str = r#"echo "cgroup=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
for k in fs/inotify/max_user_instances fs/inotify/max_user_watches net/netfilter/nf_conntrack_max; do
  echo "$k=$(cat /proc/sys/$k 2>/dev/null)"
done
if [ -c /dev/kmsg ]; then echo kmsg=yes; else echo kmsg=no; fi
if [ -d "/host/lib/modules/$(uname -r)" ]; then echo modules=yes; else echo modules=no; fi
echo "kernel=$(uname -r)"
"#;

/// Where the probe Pod mounts the node's /lib/modules.
pub const PROBE_MODULES_MOUNT: &str = "/host/lib/modules";

/// What the probe Pod saw on its node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeFacts {
    pub node: String,
    /// `stat -fc %T /sys/fs/cgroup`: cgroup2fs (v2) or tmpfs (v1).
    pub cgroup_fs: Option<String>,
    pub inotify_max_user_instances: Option<u64>,
    pub inotify_max_user_watches: Option<u64>,
    pub nf_conntrack_max: Option<u64>,
    pub kmsg: Option<bool>,
    pub modules: Option<bool>,
    pub kernel: Option<String>,
}

impl ProbeFacts {
    /// `v2`, `v1` or what the filesystem type said.
    pub fn cgroup_version(&self) -> Option<&str> {
        self.cgroup_fs.as_deref().map(|t| match t {
            "cgroup2fs" => "v2",
            "tmpfs" => "v1",
            other => other,
        })
    }
}

/// Reads the probe's output ([`PROBE_SCRIPT`]).
pub fn parse_probe(node: &str, output: &str) -> ProbeFacts {
    let mut f = ProbeFacts {
        node: node.to_string(),
        ..ProbeFacts::default()
    };
    for line in output.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim();
        let text = (!v.is_empty()).then(|| v.to_string());
        let num = v.parse::<u64>().ok();
        let yes = match v {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        match k {
            "cgroup" => f.cgroup_fs = text,
            "fs/inotify/max_user_instances" => f.inotify_max_user_instances = num,
            "fs/inotify/max_user_watches" => f.inotify_max_user_watches = num,
            "net/netfilter/nf_conntrack_max" => f.nf_conntrack_max = num,
            "kmsg" => f.kmsg = yes,
            "modules" => f.modules = yes,
            "kernel" => f.kernel = text,
            _ => {}
        }
    }
    f
}

/// The probe Pod did not run to the end.
pub fn probe_failed(why: &str, image: &str) -> Check {
    Check::fail(
        "probe",
        format!("the probe Pod did not run: {why}"),
        format!(
            "the probe uses the node image {image}: pass --image with an image the nodes have (the one up will use)"
        ),
    )
}

/// Verdicts on what the probe saw, for clusters of release `version`.
pub fn probe(f: &ProbeFacts, version: KubeVersion) -> Vec<Check> {
    let mut out = vec![Check::ok(
        "probe",
        format!(
            "a privileged Pod ran on node {}{}",
            f.node,
            f.kernel
                .as_deref()
                .map(|k| format!(" (kernel {k})"))
                .unwrap_or_default()
        ),
    )];
    out.push(match (f.cgroup_version(), f.cgroup_fs.as_deref()) {
        (Some("v2"), _) => Check::ok("cgroup", "cgroup v2 (cgroup2fs)"),
        (Some("v1"), _) if version.at_least(35) => Check::fail(
            "cgroup",
            format!("cgroup v1 (tmpfs): kubelet {version} refuses to start on it"),
            "boot the nodes with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or use --kubernetes-version v1.34 or older",
        ),
        (Some("v1"), _) if version.at_least(31) => Check::warn(
            "cgroup",
            format!("cgroup v1 (tmpfs): deprecated for kubelet {version}"),
            "boot the nodes with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
        ),
        (Some("v1"), _) => Check::ok("cgroup", "cgroup v1 (tmpfs)"),
        (_, Some(t)) => Check::warn(
            "cgroup",
            format!("/sys/fs/cgroup is {t}, neither cgroup v1 nor v2"),
            "kubelet needs a cgroup filesystem at /sys/fs/cgroup",
        ),
        (_, None) => Check::warn(
            "cgroup",
            "cgroup version unknown (stat /sys/fs/cgroup failed)",
            "kubelet needs a cgroup filesystem at /sys/fs/cgroup",
        ),
    });
    out.push(
        match (f.inotify_max_user_instances, f.inotify_max_user_watches) {
            (Some(i), Some(w)) if i >= MIN_INOTIFY_INSTANCES && w >= MIN_INOTIFY_WATCHES => {
                Check::ok(
                    "inotify",
                    format!("max_user_instances {i}, max_user_watches {w}"),
                )
            }
            (Some(i), Some(w)) => Check::warn(
                "inotify",
                format!(
                    "max_user_instances {i}, max_user_watches {w}: low for kubelet and containerd at every level (\"too many open files\")"
                ),
                format!(
                    "on the nodes: sysctl -w fs.inotify.max_user_instances={} fs.inotify.max_user_watches={}",
                    i.max(MIN_INOTIFY_INSTANCES),
                    w.max(MIN_INOTIFY_WATCHES)
                ),
            ),
            _ => Check::warn(
                "inotify",
                "cannot read fs.inotify limits",
                "check sysctl fs.inotify on the nodes",
            ),
        },
    );
    out.push(match f.nf_conntrack_max {
        Some(n) if n >= MIN_CONNTRACK => Check::ok("conntrack", format!("nf_conntrack_max {n}")),
        Some(n) => Check::warn(
            "conntrack",
            format!("nf_conntrack_max {n}: every nested level shares this table"),
            format!("on the nodes: sysctl -w net.netfilter.nf_conntrack_max={MIN_CONNTRACK}"),
        ),
        None => Check::warn(
            "conntrack",
            "nf_conntrack is not loaded (no net.netfilter.nf_conntrack_max)",
            "on the nodes: modprobe nf_conntrack (kube-proxy needs it)",
        ),
    });
    out.push(match f.kmsg {
        Some(true) => Check::ok("kmsg", "/dev/kmsg present"),
        _ => Check::fail(
            "kmsg",
            "/dev/kmsg missing in a privileged Pod: kubelet will not start",
            "run nodes whose kernel exposes /dev/kmsg",
        ),
    });
    out.push(match f.modules {
        Some(true) => Check::ok("modules", "/lib/modules of the running kernel present"),
        _ => Check::warn(
            "modules",
            "no /lib/modules for the running kernel on the node: no module can be loaded",
            "load br_netfilter, overlay, nf_conntrack and ip_tables on the nodes beforehand",
        ),
    });
    out
}

#[cfg(test)]
mod tests;
