//! The binary as users run it: output on stdout, errors on stderr, exit codes.

use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-inception"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("INCEPTION_KUBERNETES_VERSION")
        .env_remove("INCEPTION_IMAGE")
        .env_remove("INCEPTION_IMAGES_DIR")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} should fail");
    assert!(o.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(o.stderr).unwrap()
}

fn yaml_docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

#[test]
fn help_names_the_plugin() {
    let h = ok(&["--help"]);
    assert!(h.starts_with("kubectl inception"), "{h}");
    assert!(ok(&["up", "--help"]).contains("kubectl inception up"));
}

#[test]
fn dry_run_yaml_plans_every_level() {
    let out = ok(&[
        "up",
        "lab",
        "--depth",
        "3",
        "--width",
        "2",
        "--dry-run",
        "-o",
        "yaml",
    ]);
    let docs = yaml_docs(&out);
    assert_eq!(docs.len(), 7 * 10, "10 objects for each of 7 clusters");
    for level in 1..=3 {
        assert!(
            out.contains(&format!("# level {level}: ")),
            "no header for level {level}"
        );
    }
    assert!(
        out.contains(
            "# level 2: cluster lab/1 (namespace inception-lab-1), applied in cluster lab"
        )
    );
    for d in &docs {
        let l = &d["metadata"]["labels"];
        assert_eq!(l["kubectl-inception.dev/tree"], "lab", "{d}");
        assert!(
            l["kubectl-inception.dev/path"]
                .as_str()
                .unwrap()
                .starts_with("lab")
        );
        assert!(d["apiVersion"].is_string() && d["kind"].is_string());
    }
    // No private material unless asked for.
    let decoded: String = docs
        .iter()
        .filter(|d| d["kind"] == "Secret")
        .flat_map(|d| {
            d["data"]
                .as_object()
                .unwrap()
                .values()
                .cloned()
                .collect::<Vec<_>>()
        })
        .map(|v| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            String::from_utf8(b).unwrap()
        })
        .collect();
    assert!(!decoded.contains("PRIVATE KEY"));
    assert!(decoded.contains("BEGIN CERTIFICATE"));
}

#[test]
fn show_secrets_prints_keys() {
    let out = ok(&["up", "lab", "--dry-run", "--show-secrets", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let pki = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "pki")
        .unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(pki["data"]["ca.key"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8(key).unwrap().contains("PRIVATE KEY"));
}

#[test]
fn dns_flag_chooses_who_serves_cluster_dns() {
    let config_maps = |dns: &str| {
        let out = ok(&["up", "lab", "--dns", dns, "--dry-run", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        let find = |name: &str| {
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
                .unwrap()["data"]
                .clone()
        };
        let agent: Value =
            serde_json::from_str(find("bootstrap")["agent.json"].as_str().unwrap()).unwrap();
        (find("kubeadm")["skip-phases"].clone(), agent["dns"].clone())
    };
    assert_eq!(
        config_maps("builtin"),
        ("preflight,addon/coredns".into(), "builtin".into())
    );
    assert_eq!(
        config_maps("coredns"),
        ("preflight".into(), "coredns".into())
    );
}

#[test]
fn dry_run_json_is_one_list_per_level() {
    let out = ok(&[
        "up",
        "lab",
        "--depth",
        "3",
        "--width",
        "2",
        "--dry-run",
        "-o",
        "json",
    ]);
    let lists: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lists.len(), 3);
    let counts: Vec<usize> = lists
        .iter()
        .map(|l| l["items"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [10, 20, 40]);
    assert!(lists.iter().all(|l| l["kind"] == "List"));
}

#[test]
fn tree_plan_json_fields() {
    let out = ok(&[
        "tree", "--plan", "lab", "--depth", "3", "--width", "2", "-o", "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let root = &v[0];
    for f in [
        "path",
        "depth",
        "podCIDR",
        "serviceCIDR",
        "namespace",
        "children",
    ] {
        assert!(root.get(f).is_some(), "missing {f}");
    }
    assert_eq!(root["children"][1]["children"][0]["path"], "lab/1/0");
    assert_eq!(
        root["children"][1]["children"][0]["namespace"],
        "inception-lab-1-0"
    );
    let table = ok(&["tree", "--plan", "lab", "--depth", "2"]);
    assert!(table.starts_with("PATH"));
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn flags_shape_the_plan() {
    let out = ok(&[
        "tree",
        "--plan",
        "lab",
        "--cidr-pool",
        "172.16.0.0/12",
        "--pod-prefix",
        "20",
        "--service-prefix",
        "24",
        "--parent-pod-cidr",
        "172.16.0.0/16",
        "--parent-service-cidr",
        "172.17.0.0/16",
        "--parent-node-ip",
        "172.18.0.1",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["podCIDR"], "172.18.16.0/20");
    // Only 172.18.0.0/24 holds the node: the service block fits right after it.
    assert_eq!(v[0]["serviceCIDR"], "172.18.1.0/24");
    let v6: Value = serde_json::from_str(&ok(&[
        "tree",
        "--plan",
        "lab",
        "--cidr-pool",
        "fd00:42::/32",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v6[0]["podCIDR"], "fd00:42::/56");
    let ver = ok(&[
        "up",
        "lab",
        "--kubernetes-version",
        "v1.20.2",
        "--dry-run",
        "--workers",
        "0",
    ]);
    assert!(ver.contains("kubeadm.k8s.io/v1beta2"));
    assert!(ver.contains("ghcr.io/kubectl-inception/node:v1.20.2"));
    let ns = ok(&["up", "lab", "-n", "sandbox", "--dry-run"]);
    assert!(ns.contains("namespace sandbox"));
}

#[test]
fn logs_go_to_stderr() {
    let o = run(&["-v", "up", "lab", "--dry-run", "-o", "json"]);
    assert!(o.status.success());
    serde_json::from_slice::<Value>(&o.stdout).expect("stdout stays clean JSON");
    assert!(String::from_utf8_lossy(&o.stderr).contains("planned"));
}

#[test]
fn bad_input_says_what_to_change() {
    let cases: &[(&[&str], &str)] = &[
        (&["up", "Lab", "--dry-run"], "invalid cluster name \"Lab\""),
        (
            &["up", "lab", "--depth", "0", "--dry-run"],
            "--depth 0 is out of range",
        ),
        (&["up", "lab", "--depth", "9", "--dry-run"], "use 1 to 8"),
        (
            &["up", "lab", "--width", "17", "--depth", "2", "--dry-run"],
            "--width 17",
        ),
        (
            &["up", "lab", "--depth", "8", "--width", "3", "--dry-run"],
            "at most 512",
        ),
        (
            &["up", "lab", "--cidr-pool", "10.0.0.0/33", "--dry-run"],
            "--cidr-pool",
        ),
        (
            &["up", "lab", "--cidr-pool", "10.0.0.1/8", "--dry-run"],
            "did you mean 10.0.0.0/8",
        ),
        (
            &["up", "lab", "--cidr-pool", "10.0.0.0/24", "--dry-run"],
            "larger than every pool",
        ),
        (
            &[
                "up",
                "lab",
                "--depth",
                "3",
                "--width",
                "2",
                "--cidr-pool",
                "10.0.0.0/14",
                "--dry-run",
            ],
            "holds 3 clusters",
        ),
        (
            &["up", "lab", "--kubernetes-version", "1.19.0", "--dry-run"],
            "oldest supported",
        ),
        (
            &["up", "lab", "--kubernetes-version", "v1.99.0", "--dry-run"],
            "newest release",
        ),
        (
            &["up", "lab", "--kubernetes-version", "v2.0.0", "--dry-run"],
            "releases are v1.x",
        ),
        (
            &["up", "lab", "--cidr-pool", "0.0.0.0/0", "--dry-run"],
            "covers every address",
        ),
        (
            &["up", "lab", "--cidr-pool", "127.0.0.0/8", "--dry-run"],
            "loopback",
        ),
        (
            &["up", "lab", "--images-dir", "/", "--dry-run"],
            "would expose a whole tree of the host",
        ),
        (
            &["up", "lab", "--images-dir", "/etc/ssl", "--dry-run"],
            "is host state",
        ),
        (
            &[
                "up",
                "lab",
                "--pod-prefix",
                "24",
                "--workers",
                "3",
                "--dry-run",
            ],
            "cannot hold 3 workers",
        ),
        (
            &["up", "lab", "--node-memory", "lots", "--dry-run"],
            "invalid --node-memory \"lots\"",
        ),
        (
            &["up", "lab", "--parent-node-ip", "nope", "--dry-run"],
            "--parent-node-ip",
        ),
        (
            &["up", "lab", "--cluster-domain", "Bad_Domain", "--dry-run"],
            "--cluster-domain",
        ),
        (&["up", "lab", "--image", "", "--dry-run"], "invalid image"),
        (
            &["up", "lab", "--dns", "kube-dns", "--dry-run"],
            "invalid value 'kube-dns' for '--dns <DNS>'",
        ),
        (
            &["up", "lab", "-n", "NS", "--dry-run"],
            "namespace must be a DNS label",
        ),
        (
            &[
                "tree",
                "--plan",
                "lab",
                "--cidr-pool",
                "10.0.0.0/8",
                "--cidr-pool",
                "fd00::/8",
            ],
            "dual-stack",
        ),
    ];
    for (args, want) in cases {
        let err = fails(args);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
    }
}

/// A ustar archive of regular files, with its end-of-archive marker.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn load_checks_archives_before_any_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let missing = dir.path().join("missing.tar");
    let missing = missing.to_str().unwrap();
    let text = file("notes.tar", &b"not an archive, just some text\n".repeat(50));
    let plain = file(
        "plain.tar",
        &tar_of(&[("etc/hosts", b"127.0.0.1 localhost\n")]),
    );
    let gzip = file("image.tar.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    let oci = file(
        "oci.tar",
        &tar_of(&[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
        ]),
    );
    // No cluster is ever asked: the kubeconfig does not even exist.
    let load = |archives: &[&str]| {
        let mut args = vec!["--kubeconfig", "/nonexistent/kubeconfig", "load", "lab/0"];
        args.extend_from_slice(archives);
        fails(&args)
    };
    let cases: &[(&str, &str)] = &[
        (missing, "no such file"),
        (&text, "is not an image archive (not a tar file)"),
        (
            &plain,
            "is not an image archive (no index.json or manifest.json)",
        ),
        (&gzip, "is gzip-compressed"),
    ];
    for (archive, want) in cases {
        let err = load(&[archive]);
        assert!(err.starts_with("error: archive "), "{archive}: {err}");
        assert!(err.contains(archive), "{archive}: {err}");
        assert!(err.contains(want), "{archive}: expected {want:?} in {err}");
        assert!(err.contains("nothing was imported"), "{err}");
        assert!(
            !err.contains("kubeconfig"),
            "a cluster was contacted: {err}"
        );
    }
    for (archive, _) in &cases[1..3] {
        assert!(
            load(&[archive]).contains("docker save"),
            "says how to make one"
        );
    }
    // Every bad archive at once, a good one beside them changes nothing.
    let err = load(&[&oci, missing, &plain]);
    assert!(err.contains("missing.tar: no such file"), "{err}");
    assert!(err.contains("plain.tar is not an image archive"), "{err}");
    assert!(!err.contains("oci.tar"), "{err}");
    // Good archives pass the check: only then is the cluster looked for.
    let err = load(&[&oci]);
    assert!(err.contains("cannot read kubeconfig"), "{err}");
    // An archive is required.
    let o = run(&["load", "lab"]);
    assert!(!o.status.success());
}

#[test]
fn load_help_says_what_later_nodes_miss() {
    let h = ok(&["load", "--help"]);
    assert!(h.contains("kubectl inception load"), "{h}");
    assert!(h.contains("nodes added later"), "{h}");
    assert!(h.contains("--timeout"), "{h}");
}

#[test]
fn completion_scripts_for_each_shell() {
    let bash = ok(&["completion", "bash"]);
    assert!(bash.contains("_kubectl__inception()"), "{bash}");
    assert!(bash.contains("complete -F _kubectl__inception"), "{bash}");
    for verb in ["up", "tree", "down", "connect", "load", "completion"] {
        assert!(bash.contains(verb), "bash completion lacks {verb}");
    }
    let zsh = ok(&["completion", "zsh"]);
    assert!(zsh.starts_with("#compdef kubectl-inception"), "{zsh}");
    let fish = ok(&["completion", "fish"]);
    assert!(
        fish.contains("complete -c kubectl-inception") && fish.contains("allow-restart"),
        "{fish}"
    );
    let e = fails(&["completion", "tcsh"]);
    assert!(e.contains("invalid value 'tcsh'"), "{e}");
}

/// What `tests/lab/lab up --with-node` exports makes the defaults fit that
/// lab; a flag still wins over its variable.
#[test]
fn defaults_follow_the_inception_variables() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-inception"))
        .args(["up", "lab", "--workers", "0", "--dry-run", "-o", "json"])
        .env_remove("KUBECONFIG")
        .env("INCEPTION_KUBERNETES_VERSION", "v1.20.2")
        .env("INCEPTION_IMAGE", "localhost/lab/node:v1.20.2")
        .env("INCEPTION_IMAGES_DIR", "/var/lib/lab-images")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("kubeadm.k8s.io/v1beta2"),
        "release from the variable"
    );
    assert!(
        text.contains("localhost/lab/node:v1.20.2"),
        "image from the variable"
    );
    assert!(
        text.contains("/var/lib/lab-images"),
        "images dir from the variable"
    );
    let flag = Command::new(env!("CARGO_BIN_EXE_kubectl-inception"))
        .args(["up", "lab", "--dry-run", "--image", "example/node:v1"])
        .env_remove("KUBECONFIG")
        .env("INCEPTION_IMAGE", "localhost/lab/node:v1.20.2")
        .output()
        .unwrap();
    let text = String::from_utf8(flag.stdout).unwrap();
    assert!(text.contains("example/node:v1") && !text.contains("localhost/lab/node"));
}

/// deploy/rbac.yaml is what `doctor --print-rbac` prints, which needs no
/// cluster: the file cannot drift from the rights doctor checks.
#[test]
fn print_rbac_is_the_cluster_role_in_the_repository() {
    let printed = ok(&["doctor", "--print-rbac"]);
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml"))
        .expect("deploy/rbac.yaml");
    assert_eq!(
        printed, file,
        "regenerate: kubectl-inception doctor --print-rbac > deploy/rbac.yaml"
    );
    let role: Value = serde_saphyr::from_str(&printed).unwrap();
    assert_eq!(role["kind"], "ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    let grants = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
        })
    };
    assert!(grants("pods/portforward", "create") && grants("statefulsets/scale", "patch"));
    assert!(!grants("pods", "deletecollection") && !grants("*", "*"));
}

#[test]
fn wide_is_for_tree_alone() {
    for args in [
        &["certs", "lab", "-o", "wide"][..],
        &["doctor", "-o", "wide"],
    ] {
        let err = fails(args);
        assert!(err.contains("-o wide is for tree"), "{args:?}: {err}");
        // Refused before any cluster is looked for.
        assert!(!err.contains("kubeconfig"), "{args:?}: {err}");
    }
    // The planned tree's table has all it knows already.
    let wide = ok(&["tree", "--plan", "lab", "--depth", "2", "-o", "wide"]);
    assert_eq!(wide, ok(&["tree", "--plan", "lab", "--depth", "2"]));
}

#[test]
fn logs_to_a_pipe_have_no_colour() {
    let o = run(&["up", "lab", "--dry-run", "-v"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("planned"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}
