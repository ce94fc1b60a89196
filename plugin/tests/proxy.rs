//! HTTPS_PROXY and the kubeconfig's proxy-url, with a local proxy that
//! records every request and refuses it: parent traffic goes to the
//! proxy, what needs no cluster does not touch it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

const PARENT: &str = "parent.inception.invalid:6443";

/// A proxy on 127.0.0.1 answering every request with 403; the first line
/// of each request is recorded.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                log.lock().unwrap().push(line.trim_end().to_string());
                let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
            }
        });
        Proxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A kubeconfig for a parent no one can reach directly.
fn parent_kubeconfig(dir: &tempfile::TempDir, proxy_url: Option<&str>) -> String {
    let proxy = proxy_url
        .map(|p| format!("    proxy-url: {p}\n"))
        .unwrap_or_default();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: parent\n  cluster:\n    \
         server: https://{PARENT}\n    insecure-skip-tls-verify: true\n{proxy}\
         users:\n- name: me\n  user:\n    token: not-a-real-token\n\
         contexts:\n- name: parent\n  context:\n    cluster: parent\n    user: me\n\
         current-context: parent\n"
    );
    let file = dir.path().join("config");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn run(args: &[&str], kubeconfig: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-inception"));
    cmd.args(args).env("KUBECONFIG", kubeconfig);
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dry_run_needs_no_proxy_and_touches_none() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = parent_kubeconfig(&dir, None);
    let o = run(
        &["up", "lab", "--depth", "2", "--dry-run"],
        &kc,
        &[("HTTPS_PROXY", &proxy.url)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("kind: StatefulSet"));
    assert_eq!(proxy.seen(), Vec::<String>::new());
}

#[test]
fn parent_traffic_goes_through_https_proxy() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = parent_kubeconfig(&dir, None);
    let o = run(&["tree"], &kc, &[("HTTPS_PROXY", &proxy.url)]);
    assert!(!o.status.success(), "the proxy refuses everything");
    let err = text(&o);
    assert!(err.contains("cannot reach the cluster"), "{err}");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("CONNECT {PARENT} "))),
        "the proxy saw {seen:?}; stderr: {err}"
    );
}

#[test]
fn the_kubeconfig_proxy_url_is_used_without_the_environment() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = parent_kubeconfig(&dir, Some(&proxy.url));
    let o = run(&["tree"], &kc, &[]);
    assert!(!o.status.success());
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("CONNECT {PARENT} "))),
        "the proxy saw {seen:?}; stderr: {}",
        text(&o)
    );
}

#[test]
fn no_proxy_sends_the_parent_traffic_around_the_proxy() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = parent_kubeconfig(&dir, None);
    let o = run(
        &["tree"],
        &kc,
        &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", ".invalid")],
    );
    // Straight to a name that does not resolve: fails without the proxy.
    assert!(!o.status.success());
    assert_eq!(proxy.seen(), Vec::<String>::new(), "{}", text(&o));
}

#[test]
fn a_no_proxy_kube_cannot_read_is_told_plainly() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = parent_kubeconfig(&dir, None);
    let o = run(
        &["tree"],
        &kc,
        &[
            ("HTTPS_PROXY", &proxy.url),
            ("NO_PROXY", "localhost,,10.0.0.0/8"),
        ],
    );
    assert!(!o.status.success());
    let err = text(&o);
    assert!(err.contains("cannot read NO_PROXY"), "{err}");
    assert!(err.contains("remove empty or malformed entries"), "{err}");
}
