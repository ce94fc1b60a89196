//! `kubeconfig PATH --write FILE --detach` and `disconnect PATH` with the
//! tunnels it leaves, without a cluster: one that refuses connections, one
//! that never answers.

use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-inception");

/// A kubeconfig whose only cluster is https://127.0.0.1:`port`.
fn kubeconfig(dir: &Path, port: u16) -> PathBuf {
    let file = dir.join("config");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: c\n"
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn tunnels(runtime: &Path) -> PathBuf {
    runtime.join("kubectl-inception").join("tunnels")
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

fn alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

#[test]
fn a_detached_tunnel_that_cannot_start_fails_with_its_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let kc = kubeconfig(dir.path(), port);
    let out = dir.path().join("lab.kubeconfig");
    let start = Instant::now();
    let o = Command::new(BIN)
        .args([
            "kubeconfig",
            "lab",
            "--write",
            out.to_str().unwrap(),
            "--detach",
        ])
        .env("KUBECONFIG", &kc)
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(o.stdout.is_empty());
    // The background process's own error, relayed.
    assert!(
        stderr.contains(&format!(
            "cannot reach the cluster at https://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("not written"), "{stderr}");
    let pid: u32 = stderr
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {stderr}"));
    assert!(!alive(pid), "pid {pid} is left running");
    assert!(!out.exists());
    assert_eq!(names(&tunnels(dir.path())), Vec::<String>::new());
}

#[test]
fn detach_needs_write_and_is_not_for_merge() {
    let o = Command::new(BIN)
        .args(["kubeconfig", "lab", "--detach"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--write"));
    let o = Command::new(BIN)
        .args(["kubeconfig", "lab", "--detach", "--merge"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// A state file as the background process writes it.
fn state(dir: &Path, name: &str, pid: u32, path: &str) -> PathBuf {
    let file = dir.join(name);
    let text = serde_json::json!({
        "pid": pid, "path": path, "file": "/tmp/k", "port": 40123, "context": "c",
    });
    std::fs::write(&file, text.to_string()).unwrap();
    file
}

#[test]
fn disconnect_stops_the_detached_tunnels_of_a_path_and_forgets_dead_ones() {
    let dir = tempfile::tempdir().unwrap();
    // A server that never answers: the tunnel's process waits for it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let kc = kubeconfig(dir.path(), silent.local_addr().unwrap().port());
    let out = dir.path().join("lab.kubeconfig");
    let mut ours = Command::new(BIN)
        .args([
            "kubeconfig",
            "lab",
            "--write",
            out.to_str().unwrap(),
            "--detached",
        ])
        .env("KUBECONFIG", &kc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait().unwrap();

    let t = tunnels(dir.path());
    std::fs::create_dir_all(&t).unwrap();
    state(&t, &format!("{}.json", ours.id()), ours.id(), "lab");
    std::fs::write(t.join(format!("{}.log", ours.id())), "log").unwrap();
    state(&t, &format!("{}.json", ended.id()), ended.id(), "lab");
    state(&t, &format!("{}.json", other.id()), other.id(), "lab");
    let kept = state(&t, "1.json", other.id(), "lab/1");

    let o = Command::new(BIN)
        .args(["disconnect", "lab"])
        .env("KUBECONFIG", &kc)
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains(&format!(
            "tunnel to cluster lab on 127.0.0.1:40123 (pid {}, for /tmp/k) stopped",
            ours.id()
        )),
        "{stdout}"
    );
    for pid in [ended.id(), other.id()] {
        assert!(
            stdout.contains(&format!("(pid {pid}) was not running any more")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("nothing to remove:"), "{stdout}");
    assert_eq!(ours.wait().unwrap().signal(), Some(15), "SIGTERM");
    assert!(other.try_wait().unwrap().is_none(), "not ours: left alone");
    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(names(&t), ["1.json"], "only lab/1's record is left");
    assert!(kept.exists());
    drop(silent);
}
