//! The krew manifest follows the rules krew's index checks.

use serde_json::Value;

fn manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../krew-manifest.yaml");
    let text = std::fs::read_to_string(path).expect("krew-manifest.yaml at the repository root");
    serde_saphyr::from_str(&text).expect("krew-manifest.yaml is valid YAML")
}

#[test]
fn names_and_version() {
    let m = manifest();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "inception");
    assert_eq!(
        m["spec"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "spec.version must be the crate version with a leading v"
    );
    let short = m["spec"]["shortDescription"].as_str().unwrap();
    assert!(
        !short.is_empty() && short.len() <= 50,
        "shortDescription: {short:?}"
    );
    assert!(!short.ends_with('.'));
    assert!(m["spec"]["description"].as_str().unwrap().len() > short.len());
    assert!(
        m["spec"]["homepage"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

#[test]
fn platforms_ship_the_binary_and_the_license() {
    let m = manifest();
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let mut seen = Vec::new();
    for p in platforms {
        let labels = p["selector"]["matchLabels"]
            .as_object()
            .expect("selector.matchLabels");
        assert_eq!(labels["os"], "linux");
        let arch = labels["arch"].as_str().unwrap();
        assert!(!seen.contains(&arch), "platform {arch} listed twice");
        seen.push(arch);
        let uri = p["uri"].as_str().unwrap();
        assert!(uri.starts_with("https://"), "{uri}");
        assert!(uri.contains(&version), "uri {uri} must name {version}");
        assert!(uri.ends_with(&format!("linux-{arch}.tar.gz")), "{uri}");
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64
                && sha
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{sha}"
        );
        assert_eq!(p["bin"], "kubectl-inception");
        let files: Vec<&str> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["from"].as_str().unwrap())
            .collect();
        assert!(files.contains(&"kubectl-inception"), "{files:?}");
        assert!(
            files.contains(&"LICENSE"),
            "krew's index wants the LICENSE shipped: {files:?}"
        );
    }
    let license = concat!(env!("CARGO_MANIFEST_DIR"), "/../LICENSE");
    assert!(
        std::fs::read_to_string(license)
            .unwrap()
            .contains("Apache License")
    );
}
