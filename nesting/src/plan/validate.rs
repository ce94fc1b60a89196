//! Checks of the request a plan is made from, beyond the tree's shape.

use crate::Error;

pub(super) fn validate_image(image: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::BadImage {
        value: image.to_string(),
        reason: reason.to_string(),
    };
    if image.is_empty() {
        return Err(bad("it is empty"));
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains white space"));
    }
    if image.starts_with(['-', '/', ':', '@']) {
        return Err(bad("expected a reference like registry/name:tag"));
    }
    Ok(())
}

pub(super) fn validate_namespace(ns: &str) -> Result<(), Error> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::BadName {
            value: ns.to_string(),
            reason: "a namespace must be a DNS label: lowercase letters, digits and '-', at most 63 characters".into(),
        })
    }
}

/// Host directories a node Pod must never mount (they or anything in them):
/// the host's own state, devices and credentials.
const HOST_STATE: [&str; 13] = [
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/var/lib/etcd",
    "/var/log",
    "/lib/modules",
];
/// Directories too broad to mount as they are (their subdirectories are fine).
const TOO_BROAD: [&str; 14] = [
    "/", "/root", "/home", "/var", "/var/lib", "/usr", "/opt", "/tmp", "/srv", "/mnt", "/bin",
    "/sbin", "/lib", "/lib64",
];

pub(super) fn validate_images_dir(dir: &str) -> Result<(), Error> {
    let bad = |reason: &'static str| Error::BadImagesDir {
        value: dir.to_string(),
        reason,
    };
    if !dir.starts_with('/') {
        return Err(bad("is not an absolute path"));
    }
    if dir.split('/').any(|c| c == "." || c == "..") {
        return Err(bad("has '.' or '..' in it"));
    }
    let clean = dir.trim_end_matches('/');
    let clean = if clean.is_empty() { "/" } else { clean };
    if TOO_BROAD.contains(&clean) {
        return Err(bad("would expose a whole tree of the host"));
    }
    let under = |root: &str| clean == root || clean.starts_with(&format!("{root}/"));
    if HOST_STATE.iter().any(|r| under(r)) {
        return Err(bad("is host state (devices, config, runtimes, logs)"));
    }
    Ok(())
}

/// Refuses a worker count the cluster's pod CIDR cannot give a range each.
pub(super) fn validate_workers(
    path: &crate::ClusterPath,
    pod_cidr: &ipnet::IpNet,
    workers: u32,
) -> Result<(), Error> {
    crate::scale::check_workers(path, pod_cidr, workers)
}

/// A RuntimeClass name: a DNS-1123 subdomain.
pub(super) fn validate_runtime_class(name: &str) -> Result<(), Error> {
    if crate::naming::is_dns_subdomain(name) {
        Ok(())
    } else {
        Err(Error::BadRuntimeClass {
            value: name.to_string(),
        })
    }
}
