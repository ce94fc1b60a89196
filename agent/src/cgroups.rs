//! `inception-agent cgroups`: run by the entrypoint before containerd and
//! kubelet, it makes the node Pod's cgroups fit for a nested kubelet
//! (cgroupDriver cgroupfs, cgroupRoot /kubelet).
//!
//! This file holds the decisions, made from texts (`/proc/self/cgroup`,
//! `/proc/self/mountinfo`, `cgroup.controllers`); [`apply`] carries them out.
//!
//! - cgroup v1: each hierarchy mounted in the Pod is a bind of the Pod's own
//!   cgroup (mountinfo's root field, e.g. `/kubepods/burstable/pod…/<id>`),
//!   while `/proc/self/cgroup` names that full path: kubelet and cAdvisor
//!   look for it under the mount point and fail. Binding each mount at that
//!   path too makes both views agree.
//! - cgroup v2: without a cgroup namespace `/sys/fs/cgroup` is the parent
//!   node's whole tree: the entrypoint re-executes itself in a new namespace
//!   (`unshare --cgroup`, it must be the process that enters it) and the
//!   agent mounts the namespace's own tree. A cgroup may hold processes or
//!   give controllers to its children, not both: every process moves into
//!   the leaf `init`, then every controller is enabled for the children, and
//!   `/kubelet` gets them too.

pub mod apply;

use std::path::{Path, PathBuf};

/// Which cgroup hierarchy the node Pod sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// v2 when the cgroup mount is the unified hierarchy (it has
/// `cgroup.controllers`), else v1 (a tmpfs of v1 hierarchies).
pub fn version(cgroup_root: &Path) -> Version {
    if cgroup_root.join("cgroup.controllers").is_file() {
        Version::V2
    } else {
        Version::V1
    }
}

/// Where the leaf for the node's own processes and kubelet's root go.
pub const INIT: &str = "init";
pub const KUBELET: &str = "kubelet";

/// One line of `/proc/self/mountinfo`, the fields used here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mounted directory within its filesystem (for cgroups: the cgroup).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
}

/// The mounts of a mountinfo text (lines it cannot read are left out).
pub fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // id parent major:minor root mount-point options [optional...] - type source super
            let dash = f.iter().skip(6).position(|x| *x == "-")? + 6;
            Some(Mount {
                root: unescape(f.get(3)?),
                mount_point: unescape(f.get(4)?),
                fs_type: f.get(dash + 1)?.to_string(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) if b[i] == b'\\' => {
                out.push(o.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup v2 path (the `0::` line of `/proc/self/cgroup`).
pub fn v2_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::trim)
}

/// True when the entrypoint must re-execute itself in a cgroup namespace:
/// cgroup v2 and this process's cgroup is not the root of its namespace
/// (so `/sys/fs/cgroup` shows cgroups that are not the Pod's).
pub fn needs_namespace(version: Version, proc_self_cgroup: &str) -> bool {
    version == Version::V2 && v2_path(proc_self_cgroup).is_some_and(|p| p != "/")
}

/// True when the cgroup2 mount at `cgroup_root` is not the root of this
/// process's cgroup namespace: it was mounted outside it (before the
/// entrypoint entered a new one) and shows a root like `/../..`.
pub fn needs_remount(mounts: &[Mount], cgroup_root: &str) -> bool {
    mounts
        .iter()
        .rev() // the last mount on a point is the one seen
        .find(|m| m.mount_point == cgroup_root && m.fs_type == "cgroup2")
        .is_some_and(|m| m.root != "/")
}

/// A v1 hierarchy to bind at the path `/proc/self/cgroup` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub target: String,
}

/// The v1 hierarchies (mount points, each once, in mountinfo order), less
/// the binds made below them by an earlier run.
pub fn v1_hierarchies(mounts: &[Mount]) -> Vec<&Mount> {
    let cgroups: Vec<&Mount> = mounts.iter().filter(|m| m.fs_type == "cgroup").collect();
    let below_another = |m: &Mount| {
        cgroups.iter().any(|n| {
            m.mount_point
                .strip_prefix(n.mount_point.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        })
    };
    let mut seen = Vec::<&Mount>::new();
    for m in cgroups.iter().copied().filter(|m| !below_another(m)) {
        if !seen.iter().any(|s| s.mount_point == m.mount_point) {
            seen.push(m);
        }
    }
    seen
}

/// The binds that make every v1 hierarchy show the Pod's cgroup at its full
/// path too, less those already mounted (after a container restart).
pub fn v1_binds(mounts: &[Mount]) -> Vec<Bind> {
    v1_hierarchies(mounts)
        .into_iter()
        .filter(|m| m.root != "/")
        .map(|m| Bind {
            source: m.mount_point.clone(),
            target: format!("{}{}", m.mount_point.trim_end_matches('/'), m.root),
        })
        .filter(|b| !mounts.iter().any(|m| m.mount_point == b.target))
        .collect()
}

/// What to write to `cgroup.subtree_control` to enable the controllers of
/// a `cgroup.controllers` text, one at a time (so one the parent did not
/// delegate does not keep the others off).
pub fn enable_writes(controllers: &str) -> Vec<String> {
    controllers
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect()
}

/// The pids of a `cgroup.procs` text.
pub fn pids(procs: &str) -> Vec<u32> {
    procs
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `path` (absolute, as the node sees it) below `sysroot` (`/` on a node,
/// a temporary directory in tests).
pub fn under(sysroot: &Path, path: &str) -> PathBuf {
    sysroot.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests;
