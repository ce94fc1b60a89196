use super::*;

#[test]
fn request_timeout_reads_as_kubectl_reads_it() {
    let p = |t: &str| parse_request_timeout(t);
    assert_eq!(p("0"), Ok(Duration::ZERO));
    assert_eq!(p("30"), Ok(Duration::from_secs(30)));
    assert_eq!(p("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(p("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(p("500ms"), Ok(Duration::from_millis(500)));
    for bad in ["", "soon", "-1", "5x"] {
        let e = p(bad).unwrap_err();
        assert!(e.contains("0 for no timeout"), "{bad:?}: {e}");
    }
}

#[test]
fn request_timeout_sets_the_client_timeouts() {
    let fresh = || Config::new("https://k8s:6443".parse().unwrap());
    let mut c = fresh();
    assert_eq!(
        apply_timeouts(&mut c, None, Duration::from_secs(60)),
        Duration::from_secs(15)
    );
    assert_eq!(c.read_timeout, Some(Duration::from_secs(60)));
    let mut c = fresh();
    apply_timeouts(&mut c, Some(Duration::ZERO), Duration::from_secs(60));
    assert_eq!((c.read_timeout, c.write_timeout), (None, None));
    let mut c = fresh();
    let d = Duration::from_secs(2);
    assert_eq!(apply_timeouts(&mut c, Some(d), Duration::from_secs(60)), d);
    assert_eq!((c.read_timeout, c.write_timeout), (Some(d), Some(d)));
    assert_eq!(c.connect_timeout, Some(d));
    let mut c = fresh();
    apply_timeouts(
        &mut c,
        Some(Duration::from_secs(300)),
        Duration::from_secs(60),
    );
    assert_eq!(c.connect_timeout, Some(Duration::from_secs(5)));
    assert_eq!(c.read_timeout, Some(Duration::from_secs(300)));
}

const TWO: &str = "apiVersion: v1
kind: Config
clusters:
- name: a
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
- name: b
  cluster:
    server: https://b.example:7443
    insecure-skip-tls-verify: true
    proxy-url: socks5://127.0.0.1:1080
users:
- name: ua
  user:
    token: token-a
- name: ub
  user:
    username: bob
    password: not-shown
contexts:
- name: ctx
  context:
    cluster: a
    user: ua
current-context: ctx
";

fn global(dir: &tempfile::TempDir, cluster: Option<&str>, user: Option<&str>) -> Global {
    let file = dir.path().join("config");
    std::fs::write(&file, TWO).unwrap();
    Global {
        kubeconfig: Some(file.display().to_string()),
        cluster: cluster.map(str::to_string),
        user: user.map(str::to_string),
        ..Global::default()
    }
}

#[tokio::test]
async fn cluster_and_user_override_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let (c, ctx) = config(&global(&dir, None, None)).await.unwrap();
    assert_eq!(ctx, "ctx");
    assert_eq!(c.cluster_url.to_string(), "https://127.0.0.1:6443/");
    assert_eq!(c.proxy_url, None, "a loopback server takes no proxy");
    assert_eq!(c.auth_info.username, None);
    let (c, _) = config(&global(&dir, Some("b"), Some("ub"))).await.unwrap();
    assert_eq!(c.cluster_url.to_string(), "https://b.example:7443/");
    // The proxy-url of the cluster --cluster names.
    assert_eq!(
        c.proxy_url.map(|u| u.to_string()).as_deref(),
        Some("socks5://127.0.0.1:1080/")
    );
    assert_eq!(c.auth_info.username.as_deref(), Some("bob"));
}

#[tokio::test]
async fn an_unknown_cluster_or_user_is_named_with_what_there_is() {
    let dir = tempfile::tempdir().unwrap();
    let e = config(&global(&dir, Some("zz"), None)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "cluster \"zz\" not found in the kubeconfig (it has: a, b): check --cluster"
    );
    let e = config(&global(&dir, None, Some("nobody")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("user \"nobody\""), "{e}");
    assert!(e.to_string().contains("ua, ub"), "{e}");
}

#[test]
fn no_kubeconfig_tells_a_user_with_a_cluster_what_to_do() {
    assert!(NO_KUBECONFIG.contains("KUBECONFIG or --kubeconfig"));
    assert!(NO_KUBECONFIG.contains("kind create cluster"));
    assert!(NO_KUBECONFIG.contains("from a checkout of this repository"));
}
