use std::cell::RefCell;
use std::fs;

use super::apply::{Host, Mounter, setup};
use super::*;

const POD: &str = "/kubepods/besteffort/pod0f1e/3a9c";

/// A v1 node Pod: a tmpfs with three hierarchies, each a bind of the Pod's
/// cgroup, and a mount point with a space (escaped by the kernel).
fn v1_mountinfo() -> String {
    format!(
        "1280 1200 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/a\n\
         1290 1280 0:60 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n\
         1291 1290 0:30 {POD} /sys/fs/cgroup/systemd rw,nosuid master:11 - cgroup cgroup rw,xattr,name=systemd\n\
         1292 1290 0:33 {POD} /sys/fs/cgroup/cpu,cpuacct rw,nosuid master:17 - cgroup cgroup rw,cpu,cpuacct\n\
         1293 1290 0:34 {POD} /sys/fs/cgroup/cpuset rw,nosuid master:18 - cgroup cgroup rw,cpuset\n\
         1294 1290 0:35 / /sys/fs/cgroup/odd\\040name rw,nosuid - cgroup cgroup rw,pids\n"
    )
}

#[test]
fn mountinfo_fields_with_optional_fields_and_escapes() {
    let m = mounts(&v1_mountinfo());
    assert_eq!(m.len(), 6);
    assert_eq!(m[1].fs_type, "tmpfs");
    assert_eq!(m[2].root, POD);
    assert_eq!(m[2].mount_point, "/sys/fs/cgroup/systemd");
    assert_eq!(m[2].fs_type, "cgroup");
    assert_eq!(m[5].mount_point, "/sys/fs/cgroup/odd name");
    assert!(mounts("garbage\n1 2 3\n").is_empty());
}

#[test]
fn v1_binds_each_hierarchy_at_the_pods_path_once() {
    let mut text = v1_mountinfo();
    // The same hierarchy twice (mounted again over itself): bound once.
    text.push_str(&format!(
        "1295 1290 0:33 {POD} /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    ));
    let b = v1_binds(&mounts(&text));
    assert_eq!(
        b.iter().map(|b| b.target.as_str()).collect::<Vec<_>>(),
        [
            format!("/sys/fs/cgroup/systemd{POD}"),
            format!("/sys/fs/cgroup/cpu,cpuacct{POD}"),
            format!("/sys/fs/cgroup/cpuset{POD}"),
        ]
    );
    assert_eq!(b[0].source, "/sys/fs/cgroup/systemd");
    // After a container restart the binds are there: none again.
    let mut again = text.clone();
    for x in &b {
        again.push_str(&format!(
            "1400 1290 0:30 {POD} {} rw - cgroup cgroup rw\n",
            x.target
        ));
    }
    assert_eq!(v1_binds(&mounts(&again)), []);
}

#[test]
fn namespace_and_remount_decisions() {
    let host = "12:pids:/x\n0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-3a.scope\n";
    assert!(needs_namespace(Version::V2, host));
    assert!(!needs_namespace(Version::V2, "0::/\n"));
    assert!(!needs_namespace(Version::V1, host), "v1 needs none");
    assert!(!needs_namespace(Version::V2, ""), "unknown: none");
    // After unshare the old mount shows a root above the namespace's.
    let old = "30 20 0:29 /../../.. /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    assert!(needs_remount(&mounts(old), "/sys/fs/cgroup"));
    let fresh = format!("{old}31 20 0:29 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
    assert!(!needs_remount(&mounts(&fresh), "/sys/fs/cgroup"));
    assert!(!needs_remount(&mounts(&v1_mountinfo()), "/sys/fs/cgroup"));
}

#[test]
fn controllers_enabled_one_at_a_time() {
    assert_eq!(
        enable_writes("cpuset cpu io memory pids\n"),
        ["+cpuset", "+cpu", "+io", "+memory", "+pids"]
    );
    assert!(enable_writes("\n").is_empty());
    assert_eq!(pids("1\n27\n\nx\n"), [1, 27]);
}

#[derive(Default)]
struct Recorder {
    binds: RefCell<Vec<(PathBuf, PathBuf)>>,
    remounts: RefCell<Vec<PathBuf>>,
    fail_binds: bool,
}

impl Mounter for Recorder {
    fn bind(&self, source: &Path, target: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(!self.fail_binds, "permission denied");
        self.binds
            .borrow_mut()
            .push((source.to_path_buf(), target.to_path_buf()));
        Ok(())
    }
    fn remount_cgroup2(&self, at: &Path) -> anyhow::Result<()> {
        self.remounts.borrow_mut().push(at.to_path_buf());
        Ok(())
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[test]
fn v1_setup_binds_and_makes_kubelets_cgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("sys/fs/cgroup");
    for h in ["systemd", "cpu,cpuacct", "cpuset", "odd name"] {
        fs::create_dir_all(cg.join(h)).unwrap();
    }
    fs::write(cg.join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
    fs::write(cg.join("cpuset/cpuset.mems"), "0\n").unwrap();
    let text = v1_mountinfo();
    let host = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "",
        mountinfo: &text,
    };
    let rec = Recorder::default();
    let out = setup(&host, &rec).unwrap();
    assert_eq!(out.version, Version::V1);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let binds = rec.binds.borrow();
    assert_eq!(binds.len(), 3);
    assert_eq!(binds[2].0, cg.join("cpuset"));
    assert_eq!(binds[2].1, cg.join(format!("cpuset{POD}")));
    assert!(binds[2].1.is_dir(), "the bind target is made first");
    for h in ["systemd", "cpu,cpuacct", "cpuset", "odd name"] {
        assert!(cg.join(h).join("kubelet").is_dir(), "{h}");
    }
    assert_eq!(read(&cg.join("cpuset/kubelet/cpuset.cpus")), "0-3");
    assert_eq!(read(&cg.join("cpuset/kubelet/cpuset.mems")), "0");
    assert!(!cg.join("systemd/kubelet/cpuset.cpus").exists());
    // A kubelet cpuset already set stays.
    fs::write(cg.join("cpuset/kubelet/cpuset.cpus"), "1").unwrap();
    setup(&host, &Recorder::default()).unwrap();
    assert_eq!(read(&cg.join("cpuset/kubelet/cpuset.cpus")), "1");
}

#[test]
fn v1_setup_warns_what_it_cannot_do() {
    let tmp = tempfile::tempdir().unwrap();
    let none = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "",
        mountinfo: "1 0 0:1 / / rw - overlay overlay rw\n",
    };
    let out = setup(&none, &Recorder::default()).unwrap();
    assert!(
        out.warnings[0].contains("no cgroup v1 hierarchy"),
        "{out:?}"
    );
    let text = v1_mountinfo();
    let host = Host {
        mountinfo: &text,
        ..none
    };
    let failing = Recorder {
        fail_binds: true,
        ..Recorder::default()
    };
    let out = setup(&host, &failing).unwrap();
    assert!(out.binds.is_empty());
    assert_eq!(out.warnings.len(), 3, "{out:?}");
    assert!(
        out.warnings[0].contains("cannot bind /sys/fs/cgroup/systemd at"),
        "{out:?}"
    );
}

/// A fake v2 tree: the root of a cgroup namespace with processes in it.
fn v2_tree(root: &Path) {
    fs::create_dir_all(root.join("kubelet")).unwrap();
    fs::write(
        root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    fs::write(root.join("cgroup.procs"), "1\n14\n15\n").unwrap();
    fs::write(root.join("cgroup.subtree_control"), "").unwrap();
    // What the kernel gives a child once its parent enabled them.
    fs::write(root.join("kubelet/cgroup.controllers"), "cpu memory pids\n").unwrap();
}

const V2_MOUNT: &str = "30 20 0:29 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";

#[test]
fn v2_setup_moves_processes_into_a_leaf_and_enables_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("sys/fs/cgroup");
    v2_tree(&cg);
    let host = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "0::/\n",
        mountinfo: V2_MOUNT,
    };
    let rec = Recorder::default();
    let out = setup(&host, &rec).unwrap();
    assert_eq!(out.version, Version::V2);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(rec.remounts.borrow().is_empty(), "its own tree already");
    assert_eq!(read(&cg.join("init/cgroup.procs")), "1\n14\n15\n");
    assert_eq!(
        read(&cg.join("cgroup.subtree_control")),
        "+cpuset\n+cpu\n+io\n+memory\n+pids\n"
    );
    assert_eq!(out.enabled, ["cpuset", "cpu", "io", "memory", "pids"]);
    assert_eq!(
        read(&cg.join("kubelet/cgroup.subtree_control")),
        "+cpu\n+memory\n+pids\n"
    );
}

#[test]
fn v2_setup_remounts_a_tree_mounted_outside_its_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("sys/fs/cgroup");
    v2_tree(&cg);
    let host = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "0::/\n",
        mountinfo: "30 20 0:29 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    };
    let rec = Recorder::default();
    setup(&host, &rec).unwrap();
    assert_eq!(*rec.remounts.borrow(), [cg.as_path()]);
    assert!(cg.join("init/cgroup.procs").is_file());
}

#[test]
fn v2_setup_refuses_the_parents_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("sys/fs/cgroup");
    v2_tree(&cg);
    let host = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-3a.scope\n",
        mountinfo: V2_MOUNT,
    };
    let e = setup(&host, &Recorder::default()).unwrap_err();
    assert!(format!("{e:#}").contains("unshare --cgroup"), "{e:#}");
    assert!(!cg.join("init").exists(), "nothing was touched");
    assert_eq!(read(&cg.join("cgroup.subtree_control")), "");
}

#[test]
fn v2_setup_warns_about_controllers_it_cannot_enable() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("sys/fs/cgroup");
    v2_tree(&cg);
    // A write that fails: a directory where the file should be.
    fs::create_dir(cg.join("kubelet/cgroup.subtree_control")).unwrap();
    let host = Host {
        sysroot: tmp.path(),
        proc_self_cgroup: "0::/\n",
        mountinfo: V2_MOUNT,
    };
    let out = setup(&host, &Recorder::default()).unwrap();
    assert_eq!(out.enabled.len(), 5, "the root's went on");
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    let w = &out.warnings[0];
    assert!(
        w.contains("/sys/fs/cgroup/kubelet: cannot enable cpu (") && w.contains("pids ("),
        "{w}"
    );
}
