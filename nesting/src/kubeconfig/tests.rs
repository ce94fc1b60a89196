use super::*;

fn sample(name: &str, server: &str) -> Kubeconfig {
    Kubeconfig::admin(&KubeconfigInput {
        name,
        server,
        ca_pem: "CA",
        cert_pem: "CERT",
        key_pem: "-----BEGIN PRIVATE KEY-----",
        tls_server_name: Some("apiserver.inception-lab.svc"),
        proxy_url: None,
    })
}

#[test]
fn round_trips_with_kubectl_field_names() {
    let k = sample("inception-lab", "https://127.0.0.1:7443");
    let y = k.to_yaml().unwrap();
    assert!(y.contains("current-context: inception-lab"), "{y}");
    assert!(
        y.contains("tls-server-name: apiserver.inception-lab.svc"),
        "{y}"
    );
    assert!(y.contains("certificate-authority-data: Q0E="), "{y}");
    assert!(!y.contains("proxy-url"), "{y}");
    assert_eq!(Kubeconfig::from_yaml(&y).unwrap(), k);
}

#[test]
fn debug_hides_the_key() {
    let k = sample("a", "https://x");
    assert!(!format!("{k:?}").contains("LS0tLS1CRUdJTi")); // base64 of "-----BEGIN"
}

#[test]
fn merge_replaces_by_name() {
    let mut a = sample("a", "https://one");
    a.merge(&sample("b", "https://two"));
    a.merge(&sample("a", "https://three"));
    assert_eq!(a.clusters.len(), 2);
    assert_eq!(a.clusters[0].cluster.server, "https://three");
    assert_eq!(a.current_context, "a");
}

const USER: &str = "apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n- name: prod\n  cluster:\n    server: https://prod:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: me\n    namespace: apps\nusers:\n- name: me\n  user:\n    exec:\n      command: login\ncurrent-context: prod\n";

fn path(p: &str) -> ClusterPath {
    p.parse().unwrap()
}

#[test]
fn merge_keeps_what_it_does_not_know() {
    let kc = sample("inception-lab-1-0", "https://127.0.0.1:7443");
    let out = merge_into_text(USER, &kc, &path("lab/1/0"), "lab", false).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(doc["current-context"], "prod");
    assert_eq!(doc["users"][0]["user"]["exec"]["command"], "login");
    assert_eq!(doc["contexts"][0]["context"]["namespace"], "apps");
    assert_eq!(
        doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"],
        true
    );
    assert_eq!(doc["contexts"].as_array().unwrap().len(), 2);
    let mark = Mark {
        path: path("lab/1/0"),
        from: Some("lab".into()),
    };
    assert_eq!(mark_of(&doc["contexts"][1]), Some(mark));
    assert_eq!(mark_of(&doc["contexts"][0]), None);
    // Merging again replaces, and can switch.
    let kc2 = sample("inception-lab-1-0", "https://127.0.0.1:9443");
    let again = merge_into_text(&out, &kc2, &path("lab/1/0"), "lab", true).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&again).unwrap();
    assert_eq!(doc["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["clusters"][1]["cluster"]["server"],
        "https://127.0.0.1:9443"
    );
    assert_eq!(doc["current-context"], "inception-lab-1-0");
}

#[test]
fn merge_into_nothing_makes_a_kubeconfig() {
    let kc = sample("inception-lab", "https://127.0.0.1:7443");
    let out = merge_into_text("", &kc, &path("lab"), "lab", true).unwrap();
    let back = Kubeconfig::from_yaml(&out).unwrap();
    assert_eq!(back.current_context, "inception-lab");
    assert_eq!(back.clusters[0].cluster.server, "https://127.0.0.1:7443");
}

#[test]
fn remove_takes_exactly_the_marked_subtree() {
    let mut text = USER.to_string();
    for p in ["lab", "lab/0", "lab/1", "lab/1/0", "lab-10"] {
        let kc = sample(&format!("inception-{}", path(p).dashed()), "https://x");
        text = merge_into_text(&text, &kc, &path(p), "lab", p == "lab/1/0").unwrap();
    }
    // Tree `lab-10` has a name starting like `inception-lab-1`: it stays.
    let within = path("lab/1");
    let (out, gone) = remove_from_text(&text, |m| m.path.is_within(&within)).unwrap();
    assert_eq!(gone, ["inception-lab-1", "inception-lab-1-0"]);
    let doc: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
    let names = |k: &str| -> Vec<String> {
        doc[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("contexts"),
        [
            "prod",
            "inception-lab",
            "inception-lab-0",
            "inception-lab-10"
        ]
    );
    assert_eq!(
        names("users"),
        ["me", "inception-lab", "inception-lab-0", "inception-lab-10"]
    );
    assert_eq!(doc["current-context"], "");
    let (same, none) = remove_from_text(&out, |m| m.path.is_within(&within)).unwrap();
    assert!(none.is_empty());
    assert_eq!(same, out);
}

#[test]
fn merge_and_remove_keep_key_order_and_unknown_fields() {
    let user = "\
kind: Config
apiVersion: v1
preferences: {}
clusters:
- name: me
  cluster:
    server: https://example.invalid
    x-unknown: kept
contexts:
- name: me
  context:
    user: me
    cluster: me
    namespace: work
current-context: me
users:
- name: me
  user:
    token: abc
x-tool-setting: 3
";
    let kc = sample("inception-lab", "https://127.0.0.1:7443");
    let merged = merge_into_text(user, &kc, &path("lab"), "me", false).unwrap();
    let keys = |t: &str| -> Vec<String> {
        let Node::Map(m) = serde_saphyr::from_str::<Node>(t).unwrap() else {
            panic!("{t}")
        };
        m.into_iter().map(|(k, _)| k).collect()
    };
    let order = [
        "kind",
        "apiVersion",
        "preferences",
        "clusters",
        "contexts",
        "current-context",
        "users",
        "x-tool-setting",
    ];
    assert_eq!(keys(&merged), order, "{merged}");
    assert!(merged.contains("x-unknown: kept"), "{merged}");
    // The user's own context keeps its keys in their order.
    let (u, c) = (
        merged.find("user: me").unwrap(),
        merged.find("cluster: me").unwrap(),
    );
    assert!(u < c, "{merged}");
    let (back, gone) = remove_from_text(&merged, |_| true).unwrap();
    assert_eq!(gone, ["inception-lab"]);
    assert_eq!(keys(&back), order, "{back}");
    assert_eq!(
        serde_saphyr::from_str::<Node>(&back).unwrap(),
        serde_saphyr::from_str::<Node>(user).unwrap()
    );
}

#[test]
fn removing_a_context_keeps_what_another_context_still_names() {
    let user = "apiVersion: v1
kind: Config
clusters: []
users: []
contexts:
- name: alias
  context:
    cluster: inception-lab
    user: inception-lab
current-context: alias
";
    let kc = sample("inception-lab", "https://127.0.0.1:7443");
    let merged = merge_into_text(user, &kc, &path("lab"), "me", false).unwrap();
    let (back, gone) = remove_from_text(&merged, |_| true).unwrap();
    assert_eq!(gone, ["inception-lab"]);
    let doc: Kubeconfig = Kubeconfig::from_yaml(&back).unwrap();
    assert_eq!(doc.contexts.len(), 1, "{back}");
    assert_eq!(doc.clusters.len(), 1, "the alias still names it: {back}");
    assert_eq!(doc.users.len(), 1, "the alias still names it: {back}");
}
