use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::*;
use crate::pki::{ADMIN_KEY, ETCD_CA_CERT, PkiRequest, SA_KEY};

const CREATED: u64 = 1_700_000_000;

fn at(days: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(CREATED + days * DAY)
}

fn entropy(days: u64) -> Entropy {
    Entropy::new([7; 32], at(days))
}

fn pki() -> ClusterPki {
    let extra = ["api.example.com".to_owned(), "192.0.2.7".to_owned()];
    let req = PkiRequest {
        service_name: "apiserver",
        namespace: "inception-lab",
        parent_domain: "cluster.local",
        cluster_domain: "lab.local",
        kubernetes_service_ip: "10.112.0.1".parse().unwrap(),
        extra_sans: &extra,
    };
    ClusterPki::generate(&req, &entropy(0)).unwrap()
}

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

#[test]
fn every_certificate_is_listed_with_its_name_and_expiry() {
    let pki = pki();
    let certs = certificates(&pki.files).unwrap();
    let names: Vec<(&str, &str)> = certs
        .iter()
        .map(|c| (c.file.as_str(), c.common_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("admin.crt", "kubernetes-admin"),
            (
                "apiserver-kubelet-client.crt",
                "kube-apiserver-kubelet-client"
            ),
            ("apiserver.crt", "kube-apiserver"),
            ("ca.crt", "kubernetes"),
            ("etcd-ca.crt", "etcd-ca"),
            ("front-proxy-ca.crt", "front-proxy-ca"),
            ("front-proxy-client.crt", "front-proxy-client"),
        ]
    );
    let admin = &certs[0];
    assert_eq!(admin.not_after, at(365));
    assert_eq!(days_left(admin.not_after, at(0)), 365);
    assert!(!admin.expiring(at(335)));
    assert!(admin.expiring(at(336)));
    assert_eq!(days_left(at(0), at(2)), -2);
    assert_eq!(days_left(at(0), at(1) + Duration::from_secs(1)), -2);
    let ca = certs.iter().find(|c| c.file == ETCD_CA_CERT).unwrap();
    assert_eq!(days_left(ca.not_after, at(0)), 3650);
}

#[test]
fn an_unreadable_certificate_is_named() {
    let files = BTreeMap::from([("admin.crt".to_owned(), "garbage".to_owned())]);
    let e = certificates(&files).unwrap_err().to_string();
    assert_eq!(e, "cannot read certificate admin.crt: not PEM");
    // Keys are not looked at.
    let files = BTreeMap::from([("admin.key".to_owned(), "garbage".to_owned())]);
    assert!(certificates(&files).unwrap().is_empty());
}

#[test]
fn leaves_with_more_than_thirty_days_left_are_kept() {
    let mut pki = pki();
    let before = pki.files.clone();
    assert!(pki.renew_expiring(&entropy(335)).unwrap().is_empty());
    assert_eq!(pki.files, before);
}

#[test]
fn expiring_leaves_are_renewed_from_the_same_cas() {
    let mut pki = pki();
    let before = pki.clone();
    let renewed = pki.renew_expiring(&entropy(340)).unwrap();
    assert_eq!(
        renewed,
        [
            APISERVER_CERT,
            APISERVER_KUBELET_CLIENT_CERT,
            FRONT_PROXY_CLIENT_CERT,
            ADMIN_CERT
        ]
    );
    // CAs, the service-account key, the token and the hash stay.
    for key in [CA_CERT, CA_KEY, FRONT_PROXY_CA_KEY, SA_KEY] {
        assert_eq!(pki.files[key], before.files[key], "{key}");
    }
    assert_eq!(pki.token, before.token);
    assert_eq!(pki.discovery_hash, before.discovery_hash);
    // A new key, a year from the renewal.
    assert_ne!(pki.files[ADMIN_KEY], before.files[ADMIN_KEY]);
    let admin = cert_expiry(ADMIN_CERT, &pki.files[ADMIN_CERT]).unwrap();
    assert_eq!(admin.not_after, at(340 + 365));
    assert_eq!(admin.common_name, "kubernetes-admin");

    for (leaf, ca) in [
        (ADMIN_CERT, CA_CERT),
        (APISERVER_CERT, CA_CERT),
        (APISERVER_KUBELET_CLIENT_CERT, CA_CERT),
        (FRONT_PROXY_CLIENT_CERT, FRONT_PROXY_CA_CERT),
    ] {
        let (new_der, old_der, ca_der) = (
            der(&pki.files[leaf]),
            der(&before.files[leaf]),
            der(&pki.files[ca]),
        );
        let (_, new) = X509Certificate::from_der(&new_der).unwrap();
        let (_, old) = X509Certificate::from_der(&old_der).unwrap();
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        assert!(
            new.verify_signature(Some(ca.public_key())).is_ok(),
            "{leaf}"
        );
        assert_eq!(new.issuer(), ca.subject(), "{leaf}");
        assert_eq!(new.subject(), old.subject(), "{leaf}");
        // Same names, usages and authority key identifier.
        let ext = |c: &X509Certificate<'_>| {
            c.extensions()
                .iter()
                .filter(|e| e.oid.to_id_string() != "2.5.29.14")
                .map(|e| (e.oid.to_id_string(), e.value.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ext(&new), ext(&old), "{leaf}");
    }
    // Renewed once: a second run keeps them.
    assert!(pki.renew_expiring(&entropy(341)).unwrap().is_empty());
}

#[test]
fn a_pki_without_a_leaf_says_which() {
    let mut pki = pki();
    pki.files.remove(ADMIN_CERT);
    let e = pki.renew_expiring(&entropy(340)).unwrap_err().to_string();
    assert!(e.contains("has no admin.crt"), "{e}");
}
