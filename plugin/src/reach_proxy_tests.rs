//! Tunnel clients go straight to 127.0.0.1 even with HTTPS_PROXY set,
//! while the parent's client takes the proxy. A test cannot change its
//! own environment (no unsafe code), so it runs itself again in a child
//! process with HTTPS_PROXY set, and checks there.

use std::process::Command;
use std::time::Duration;

use kube::Client;
use tokio::net::TcpListener;

use super::local_config;
use crate::cli::Global;

const CHILD: &str = "INCEPTION_PROXY_TEST_CHILD";

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\n\
         contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    )
}

#[test]
fn tunnel_clients_bypass_https_proxy_and_the_parent_takes_it() {
    if std::env::var_os(CHILD).is_some() {
        return in_child();
    }
    // A proxy that only records whether anything came to it.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let name = module_path!()
        .split_once("::")
        .map(|(_, m)| format!("{m}::tunnel_clients_bypass_https_proxy_and_the_parent_takes_it"))
        .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(
            "HTTPS_PROXY",
            format!("http://{}", proxy.local_addr().unwrap()),
        )
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran the test: {text}");
    assert!(
        proxy.accept().is_err(),
        "the proxy was contacted: tunnel traffic went through it"
    );
}

fn in_child() {
    let proxy = std::env::var("HTTPS_PROXY").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The local end of a tunnel: no TLS, it only sees who connects.
        let tunnel = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("https://{}", tunnel.local_addr().unwrap());
        let kc = || kube::config::Kubeconfig::from_yaml(&kubeconfig(&server)).unwrap();
        // kube alone would send it through the proxy.
        let raw = kube::Config::from_custom_kubeconfig(kc(), &Default::default())
            .await
            .unwrap();
        assert!(raw.proxy_url.is_some(), "kube reads HTTPS_PROXY itself");
        let config = local_config(kc()).await.unwrap();
        assert_eq!(config.proxy_url, None);
        assert_eq!(config.read_timeout, Some(Duration::from_secs(30)));
        let client = Client::try_from(config).unwrap();
        let call = tokio::spawn(async move { client.apiserver_version().await });
        let came = tokio::time::timeout(Duration::from_secs(10), tunnel.accept()).await;
        call.abort();
        assert!(
            matches!(came, Ok(Ok(_))),
            "the tunnel got no connection: {came:?}"
        );

        // The parent's client: through the proxy, unless it is local.
        let dir = tempfile::tempdir().unwrap();
        let parent = |server: &str| {
            let file = dir.path().join("config");
            std::fs::write(&file, kubeconfig(server)).unwrap();
            Global {
                kubeconfig: Some(file.display().to_string()),
                ..Global::default()
            }
        };
        let (far, _) = crate::client::config(&parent("https://parent.invalid:6443"))
            .await
            .unwrap();
        assert_eq!(
            far.proxy_url.map(|u| u.to_string()),
            Some(format!("{proxy}/"))
        );
        let (near, _) = crate::client::config(&parent("https://127.0.0.1:6443"))
            .await
            .unwrap();
        assert_eq!(near.proxy_url, None);
    });
}
