//! Carrying out the cgroup decisions: writes to the cgroup files below a
//! `sysroot` (`/` on a node, a fake tree in tests) and mounts through a
//! [`Mounter`] (the `mount` command on a node).

use std::io::{self, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{
    Bind, INIT, KUBELET, Version, enable_writes, mounts, needs_namespace, needs_remount, pids,
    under, v1_binds, v1_hierarchies, version,
};

/// Where the node Pod's cgroups are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// "No such process": a pid listed in `cgroup.procs` that exited before it
/// was moved.
const ESRCH: i32 = 3;

/// The mounts the setup makes.
pub trait Mounter {
    fn bind(&self, source: &Path, target: &Path) -> Result<()>;
    /// Replaces what is mounted at `at` by the cgroup2 tree of this
    /// process's cgroup namespace.
    fn remount_cgroup2(&self, at: &Path) -> Result<()>;
}

/// Mounts with the `mount` and `umount` commands.
pub struct MountCommand;

fn command(cmd: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {cmd}"))?;
    if !out.status.success() {
        bail!(
            "{cmd} {:?} failed ({}): {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Mounter for MountCommand {
    fn bind(&self, source: &Path, target: &Path) -> Result<()> {
        command(
            "mount",
            &["--bind".as_ref(), source.as_os_str(), target.as_os_str()],
        )
    }

    fn remount_cgroup2(&self, at: &Path) -> Result<()> {
        // Lazily: something may still hold the old tree open.
        let _ = command("umount", &["-l".as_ref(), at.as_os_str()]);
        command(
            "mount",
            &[
                "-t".as_ref(),
                "cgroup2".as_ref(),
                "cgroup2".as_ref(),
                at.as_os_str(),
            ],
        )
    }
}

/// What the node sees: its root and the texts of `/proc/self/cgroup` and
/// `/proc/self/mountinfo`.
pub struct Host<'a> {
    pub sysroot: &'a Path,
    pub proc_self_cgroup: &'a str,
    pub mountinfo: &'a str,
}

/// What the setup did, and what it could not do (it goes on without).
#[derive(Debug)]
pub struct Outcome {
    pub version: Version,
    /// v1: the binds made.
    pub binds: Vec<Bind>,
    /// v2: the controllers enabled for the children of the root.
    pub enabled: Vec<String>,
    pub warnings: Vec<String>,
}

/// Appends `text` to a cgroup file (each write is one request to the kernel;
/// in a fake tree the writes pile up and can be read back).
fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    f.write_all(format!("{text}\n").as_bytes())
}

/// Sets the node's cgroups up for kubelet.
pub fn setup(host: &Host, mounter: &dyn Mounter) -> Result<Outcome> {
    let root = under(host.sysroot, CGROUP_ROOT);
    let v = version(&root);
    let mut out = Outcome {
        version: v,
        binds: Vec::new(),
        enabled: Vec::new(),
        warnings: Vec::new(),
    };
    match v {
        Version::V1 => setup_v1(host, mounter, &mut out),
        Version::V2 => setup_v2(host, mounter, &root, &mut out)?,
    }
    Ok(out)
}

fn setup_v1(host: &Host, mounter: &dyn Mounter, out: &mut Outcome) {
    let all = mounts(host.mountinfo);
    let hierarchies = v1_hierarchies(&all);
    if hierarchies.is_empty() {
        out.warnings.push(format!(
            "no cgroup v1 hierarchy is mounted under {CGROUP_ROOT}: kubelet will fail to start \
             (the node Pod must be privileged so its runtime mounts them)"
        ));
    }
    for b in v1_binds(&all) {
        let (source, target) = (
            under(host.sysroot, &b.source),
            under(host.sysroot, &b.target),
        );
        let done = std::fs::create_dir_all(&target)
            .with_context(|| format!("cannot make {}", b.target))
            .and_then(|()| mounter.bind(&source, &target));
        match done {
            Ok(()) => out.binds.push(b),
            Err(e) => out
                .warnings
                .push(format!("cannot bind {} at {}: {e:#}", b.source, b.target)),
        }
    }
    for h in hierarchies {
        let dir = under(host.sysroot, &h.mount_point);
        if let Err(e) = kubelet_v1(&dir) {
            out.warnings.push(format!(
                "cannot make {}/{KUBELET}: {e}",
                h.mount_point.trim_end_matches('/')
            ));
        }
    }
}

/// kubelet's root in one v1 hierarchy; in cpuset's, with the parent's cpus
/// and memory nodes (a new cpuset cgroup starts with none).
fn kubelet_v1(dir: &Path) -> io::Result<()> {
    let kubelet = dir.join(KUBELET);
    std::fs::create_dir_all(&kubelet)?;
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let Ok(parent) = std::fs::read_to_string(dir.join(f)) else {
            continue; // not the cpuset hierarchy
        };
        let own = std::fs::read_to_string(kubelet.join(f)).unwrap_or_default();
        if own.trim().is_empty() {
            std::fs::write(kubelet.join(f), parent.trim())?;
        }
    }
    Ok(())
}

fn setup_v2(host: &Host, mounter: &dyn Mounter, root: &Path, out: &mut Outcome) -> Result<()> {
    if needs_namespace(Version::V2, host.proc_self_cgroup) {
        // /sys/fs/cgroup is the parent node's: leave it alone.
        bail!(
            "no cgroup namespace: {CGROUP_ROOT} is the parent node's whole cgroup tree. \
             The entrypoint enters one (unshare --cgroup) before this; run it through the entrypoint, \
             or give the node Pod a runtime that makes a cgroup namespace"
        );
    }
    if needs_remount(&mounts(host.mountinfo), CGROUP_ROOT) {
        mounter.remount_cgroup2(root).with_context(|| {
            format!("cannot mount this cgroup namespace's tree at {CGROUP_ROOT}")
        })?;
    }
    let init = root.join(INIT);
    std::fs::create_dir_all(&init).with_context(|| format!("cannot make {CGROUP_ROOT}/{INIT}"))?;
    let procs = std::fs::read_to_string(root.join("cgroup.procs"))
        .with_context(|| format!("cannot read {CGROUP_ROOT}/cgroup.procs"))?;
    for pid in pids(&procs) {
        match append(&init.join("cgroup.procs"), &pid.to_string()) {
            Err(e) if e.raw_os_error() != Some(ESRCH) => out.warnings.push(format!(
                "cannot move process {pid} into {CGROUP_ROOT}/{INIT}: {e}"
            )),
            _ => {}
        }
    }
    out.enabled = enable(root, CGROUP_ROOT, &mut out.warnings)?;
    let kubelet = root.join(KUBELET);
    std::fs::create_dir_all(&kubelet)
        .with_context(|| format!("cannot make {CGROUP_ROOT}/{KUBELET}"))?;
    enable(
        &kubelet,
        &format!("{CGROUP_ROOT}/{KUBELET}"),
        &mut out.warnings,
    )?;
    Ok(())
}

/// Enables for the children of `dir` every controller it has, one by one;
/// returns those enabled and warns about the rest.
fn enable(dir: &Path, shown: &str, warnings: &mut Vec<String>) -> Result<Vec<String>> {
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
        .with_context(|| format!("cannot read {shown}/cgroup.controllers"))?;
    let mut enabled = Vec::new();
    let mut refused = Vec::new();
    for w in enable_writes(&controllers) {
        match append(&dir.join("cgroup.subtree_control"), &w) {
            Ok(()) => enabled.push(w[1..].to_string()),
            Err(e) => refused.push(format!("{} ({e})", &w[1..])),
        }
    }
    if !refused.is_empty() {
        warnings.push(format!(
            "{shown}: cannot enable {} for its children; kubelet cannot limit those",
            refused.join(", ")
        ));
    }
    Ok(enabled)
}

/// `inception-agent cgroups`: on the node itself.
pub fn run(needs_namespace_only: bool) -> Result<()> {
    let proc_self_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").context("cannot read /proc/self/cgroup")?;
    if needs_namespace_only {
        let v = version(Path::new(CGROUP_ROOT));
        println!(
            "{}",
            if needs_namespace(v, &proc_self_cgroup) {
                "yes"
            } else {
                "no"
            }
        );
        return Ok(());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .context("cannot read /proc/self/mountinfo")?;
    let host = Host {
        sysroot: Path::new("/"),
        proc_self_cgroup: &proc_self_cgroup,
        mountinfo: &mountinfo,
    };
    let out = setup(&host, &MountCommand)?;
    match out.version {
        Version::V1 => tracing::info!(
            "cgroup v1: bound {}",
            if out.binds.is_empty() {
                "nothing".to_string()
            } else {
                out.binds
                    .iter()
                    .map(|b| format!("{} at {}", b.source, b.target))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        Version::V2 => tracing::info!(
            "cgroup v2: processes in /{INIT}, controllers enabled: {}",
            out.enabled.join(" ")
        ),
    }
    for w in &out.warnings {
        tracing::warn!("{w}");
    }
    Ok(())
}
