//! The probe Pod: what it runs on a node and what its output says.

use serde::{Deserialize, Serialize};

use super::{Check, MIN_CONNTRACK, MIN_INOTIFY_INSTANCES, MIN_INOTIFY_WATCHES};
use crate::KubeVersion;

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
        // The rendered kubelet config says failCgroupV1: false (see
        // crate::kubeadm), without which kubelet refuses cgroup v1 from 1.35.
        (Some("v1"), _) if version.at_least(35) => Check::warn(
            "cgroup",
            format!(
                "cgroup v1 (tmpfs): kubelet {version} refuses it by default; it runs only because its config says failCgroupV1: false"
            ),
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
