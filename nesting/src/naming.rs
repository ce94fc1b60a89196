//! Names derived from a cluster's path, written once.

use crate::manifests::SERVICE;
use crate::tree::ClusterPath;

/// What namespaces and kubeconfig contexts of a tree start with.
pub const PREFIX: &str = "inception-";

/// `inception-lab-0-1`: a cluster's namespace in its parent (unless `-n`
/// names the top one).
pub fn namespace(path: &ClusterPath) -> String {
    format!("{PREFIX}{}", path.dashed())
}

/// `inception-lab-0-1`: a cluster's context, cluster and user name in a
/// kubeconfig.
pub fn context(path: &ClusterPath) -> String {
    format!("{PREFIX}{}", path.dashed())
}

/// `apiserver.inception-lab.svc`: the cluster's apiserver Service, as the
/// parent's pods and the cluster's nodes reach it.
pub fn service_host(namespace: &str) -> String {
    format!("{SERVICE}.{namespace}.svc")
}

/// A DNS-1123 subdomain: dot-separated labels of lower-case letters,
/// digits and '-', neither starting nor ending with '-' (a cluster domain,
/// a RuntimeClass name).
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_path() {
        let p: ClusterPath = "lab/0/1".parse().unwrap();
        assert_eq!(namespace(&p), "inception-lab-0-1");
        assert_eq!(context(&p), "inception-lab-0-1");
        assert_eq!(service_host("inception-lab"), "apiserver.inception-lab.svc");
    }
}
