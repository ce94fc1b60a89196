//! `disconnect PATH` on a kubeconfig `connect` added contexts to.

use std::process::{Command, Output};

use nesting::ClusterPath;
use nesting::kubeconfig::{Kubeconfig, KubeconfigInput, merge_into_text};

const USER: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod:6443\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: me\nusers:\n- name: me\n  user:\n    token: t\ncurrent-context: prod\n";

fn added(text: &str, path: &str) -> String {
    let path: ClusterPath = path.parse().unwrap();
    let name = format!("inception-{}", path.dashed());
    let kc = Kubeconfig::admin(&KubeconfigInput {
        name: &name,
        server: "https://127.0.0.1:7443",
        ca_pem: "CA",
        cert_pem: "CERT",
        key_pem: "KEY",
        tls_server_name: None,
        proxy_url: None,
    });
    merge_into_text(text, &kc, &path, "prod", false).unwrap()
}

fn disconnect(kubeconfig: &std::path::Path, path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-inception"))
        .args(["disconnect", path])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap()
}

#[test]
fn disconnect_removes_what_connect_added_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, added(&added(USER, "lab"), "lab/1")).unwrap();

    let o = disconnect(&file, "lab/1");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kind in ["context", "cluster", "user"] {
        assert!(
            stdout.contains(&format!(
                "{kind} inception-lab-1 removed from {}",
                file.display()
            )),
            "{stdout}"
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("inception-lab-1"), "{text}");
    assert!(text.contains("name: inception-lab\n"), "{text}");
    assert!(text.contains("name: prod"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Again: nothing left to remove, said, and no error.
    let o = disconnect(&file, "lab/1");
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("nothing to remove:"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn disconnect_needs_a_valid_path_and_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, USER).unwrap();
    let o = disconnect(&file, "Lab");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid cluster name"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), USER);
}
