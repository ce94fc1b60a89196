use super::*;

#[test]
fn parses_with_and_without_v() {
    assert_eq!(
        "v1.20.2".parse::<KubeVersion>().unwrap(),
        KubeVersion::new(1, 20, 2)
    );
    assert_eq!(
        "1.37.0".parse::<KubeVersion>().unwrap(),
        KubeVersion::new(1, 37, 0)
    );
}

#[test]
fn rejects_bad_text_and_old_releases() {
    for bad in [
        "",
        "v1",
        "v1.20",
        "1.20.x",
        "v2.0.0",
        "v1.19.9",
        "v1.20.2.1",
        "v1.20.-1",
    ] {
        let err = bad.parse::<KubeVersion>().unwrap_err().to_string();
        assert!(err.contains(bad), "{bad}: {err}");
    }
}

#[test]
fn kubeadm_api_by_release() {
    let api = |s: &str| s.parse::<KubeVersion>().unwrap().kubeadm_api();
    assert_eq!(api("v1.20.2"), KubeadmApi::V1beta2);
    assert_eq!(api("v1.21.14"), KubeadmApi::V1beta2);
    assert_eq!(api("v1.22.0"), KubeadmApi::V1beta3);
    assert_eq!(api("v1.30.9"), KubeadmApi::V1beta3);
    assert_eq!(api("v1.31.0"), KubeadmApi::V1beta4);
    assert_eq!(api("v1.37.0"), KubeadmApi::V1beta4);
}

#[test]
fn refusals_say_what_is_supported() {
    let why = |s: &str| s.parse::<KubeVersion>().unwrap_err().to_string();
    let major = why("v2.0.0");
    assert!(major.contains("releases are v1.x"), "{major}");
    assert!(!major.contains("oldest"), "{major}");
    let newer = why("v1.99.0");
    assert!(
        newer.contains("newest release") && newer.contains("v1.37"),
        "{newer}"
    );
    let old = why("v1.19.9");
    assert!(old.contains("oldest supported release is v1.20.0"), "{old}");
    assert!(
        "v1.37.9".parse::<KubeVersion>().is_ok(),
        "any patch of the newest"
    );
}
