use super::*;
use base64::Engine as _;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

const YEAR: i64 = 365 * 24 * 3600;

fn request<'a>(extra: &'a [String]) -> PkiRequest<'a> {
    PkiRequest {
        service_name: "lab-apiserver",
        namespace: "inception-lab",
        parent_domain: "cluster.local",
        cluster_domain: "lab.local",
        kubernetes_service_ip: "10.112.0.1".parse().unwrap(),
        extra_sans: extra,
    }
}

fn generate() -> ClusterPki {
    generate_from(&Entropy::from_system())
}

fn generate_from(entropy: &Entropy) -> ClusterPki {
    let extra = ["api.example.com".to_owned(), "192.0.2.7".to_owned()];
    ClusterPki::generate(&request(&extra), entropy).unwrap()
}

fn pem(text: &str) -> Pem {
    let (rest, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).unwrap();
    assert!(rest.iter().all(u8::is_ascii_whitespace));
    pem
}

/// Parses the certificate stored under `key` and hands it to `check`.
fn with_cert<R>(pki: &ClusterPki, key: &str, check: impl FnOnce(&X509Certificate<'_>) -> R) -> R {
    let pem = pem(&pki.files[key]);
    assert_eq!(pem.label, "CERTIFICATE", "{key}");
    let cert = pem.parse_x509().unwrap();
    check(&cert)
}

fn spki_der(pki: &ClusterPki, key: &str) -> Vec<u8> {
    with_cert(pki, key, |c| c.tbs_certificate.subject_pki.raw.to_vec())
}

fn now_unix() -> i64 {
    i64::try_from(since_epoch(&Entropy::from_system()).unwrap().as_secs()).unwrap()
}

fn common_names(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn organizations(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[test]
fn files_are_exactly_the_documented_keys() {
    let pki = generate();
    let keys: Vec<&str> = pki.files.keys().map(String::as_str).collect();
    assert_eq!(keys, SECRET_KEYS);
    for (key, text) in &pki.files {
        let label = pem(text).label;
        let expected = if key.ends_with(".crt") {
            "CERTIFICATE"
        } else if key.ends_with(".pub") {
            "PUBLIC KEY"
        } else {
            "PRIVATE KEY"
        };
        assert_eq!(label, expected, "{key}");
    }
    assert_eq!(pki.ca_cert(), pki.files[CA_CERT]);
    assert_eq!(pki.admin_cert(), pki.files[ADMIN_CERT]);
    assert_eq!(pki.admin_key(), pki.files[ADMIN_KEY]);
}

#[test]
fn kubeadm_paths() {
    assert_eq!(kubeadm_pki_path(ETCD_CA_CERT), "etcd/ca.crt");
    assert_eq!(kubeadm_pki_path(ETCD_CA_KEY), "etcd/ca.key");
    assert_eq!(kubeadm_pki_path(CA_CERT), "ca.crt");
    assert_eq!(kubeadm_pki_path(FRONT_PROXY_CA_KEY), "front-proxy-ca.key");
}

#[test]
fn apiserver_sans_order_and_dedup() {
    let extra = [
        "localhost".to_owned(),
        "10.112.0.1".to_owned(),
        "api.example.com".to_owned(),
        " ".to_owned(),
        "fd00::0001".to_owned(),
        "fd00::1".to_owned(),
        "api.example.com".to_owned(),
    ];
    let sans = ClusterPki::apiserver_sans(&request(&extra));
    assert_eq!(
        sans,
        [
            "lab-apiserver",
            "lab-apiserver.inception-lab",
            "lab-apiserver.inception-lab.svc",
            "lab-apiserver.inception-lab.svc.cluster.local",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.lab.local",
            "10.112.0.1",
            "localhost",
            "127.0.0.1",
            "api.example.com",
            "fd00::1",
        ]
    );
}

#[test]
fn apiserver_cert_covers_exactly_the_sans() {
    let extra = ["api.example.com".to_owned(), "2001:db8::5".to_owned()];
    let req = request(&extra);
    let pki = ClusterPki::generate(&req, &Entropy::from_system()).unwrap();
    let expected = ClusterPki::apiserver_sans(&req);
    let (dns, ips) = with_cert(&pki, APISERVER_CERT, |cert| {
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap()),
                        16 => IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap()),
                        n => panic!("IP SAN of {n} bytes"),
                    };
                    ips.push(ip.to_string());
                }
                other => panic!("unexpected SAN {other:?}"),
            }
        }
        (dns, ips)
    });
    let expected_ips: Vec<String> = expected
        .iter()
        .filter(|s| s.parse::<IpAddr>().is_ok())
        .cloned()
        .collect();
    let expected_dns: Vec<String> = expected
        .iter()
        .filter(|s| s.parse::<IpAddr>().is_err())
        .cloned()
        .collect();
    assert_eq!(dns, expected_dns);
    assert_eq!(ips, expected_ips);
    assert!(ips.contains(&"10.112.0.1".to_owned()));
    assert!(ips.contains(&"127.0.0.1".to_owned()));
    assert!(ips.contains(&"2001:db8::5".to_owned()));
}

#[test]
fn signatures_chain_to_the_right_ca() {
    let pki = generate();
    let cas = [CA_CERT, FRONT_PROXY_CA_CERT, ETCD_CA_CERT];
    let issuer_of = [
        (CA_CERT, CA_CERT),
        (FRONT_PROXY_CA_CERT, FRONT_PROXY_CA_CERT),
        (ETCD_CA_CERT, ETCD_CA_CERT),
        (APISERVER_CERT, CA_CERT),
        (APISERVER_KUBELET_CLIENT_CERT, CA_CERT),
        (ADMIN_CERT, CA_CERT),
        (FRONT_PROXY_CLIENT_CERT, FRONT_PROXY_CA_CERT),
    ];
    for (leaf, issuer) in issuer_of {
        for ca in cas {
            let ca_der = pem(&pki.files[ca]).contents;
            let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
            let verified = with_cert(&pki, leaf, |cert| {
                cert.verify_signature(Some(ca_cert.public_key())).is_ok()
            });
            assert_eq!(verified, ca == issuer, "{leaf} verified by {ca}");
            if ca == issuer {
                with_cert(&pki, leaf, |cert| {
                    assert_eq!(cert.issuer(), ca_cert.subject(), "{leaf} issuer name");
                });
            }
        }
    }
}

#[test]
fn cas_are_cas() {
    let pki = generate();
    let now = now_unix();
    for (key, cn) in [
        (CA_CERT, "kubernetes"),
        (FRONT_PROXY_CA_CERT, "front-proxy-ca"),
        (ETCD_CA_CERT, "etcd-ca"),
    ] {
        with_cert(&pki, key, |cert| {
            assert_eq!(common_names(cert), [cn], "{key}");
            let bc = cert.basic_constraints().unwrap().unwrap();
            assert!(bc.critical, "{key}");
            assert!(bc.value.ca, "{key}");
            let ku = cert.key_usage().unwrap().unwrap().value;
            assert!(ku.key_cert_sign(), "{key}");
            assert!(ku.digital_signature(), "{key}");
            assert!(ku.key_encipherment(), "{key}");
            let validity = cert.validity();
            let from = validity.not_before.timestamp();
            let until = validity.not_after.timestamp();
            assert!(from < now, "{key} not yet valid");
            assert!(from >= now - 6 * 60, "{key} backdated too far");
            assert!((until - now - 10 * YEAR).abs() < 3600, "{key} not 10 years");
        });
    }
}

#[test]
fn leaves_have_the_kubeadm_profiles() {
    let pki = generate();
    let now = now_unix();
    let cases = [
        (APISERVER_CERT, "kube-apiserver", None, true),
        (
            APISERVER_KUBELET_CLIENT_CERT,
            "kube-apiserver-kubelet-client",
            Some("system:masters"),
            false,
        ),
        (FRONT_PROXY_CLIENT_CERT, "front-proxy-client", None, false),
        (
            ADMIN_CERT,
            "kubernetes-admin",
            Some("system:masters"),
            false,
        ),
    ];
    for (key, cn, org, server) in cases {
        with_cert(&pki, key, |cert| {
            assert_eq!(common_names(cert), [cn], "{key}");
            assert_eq!(
                organizations(cert),
                org.into_iter().collect::<Vec<_>>(),
                "{key}"
            );
            let bc = cert.basic_constraints().unwrap().unwrap();
            assert!(!bc.value.ca, "{key} must not be a CA");
            let ku = cert.key_usage().unwrap().unwrap().value;
            assert!(ku.digital_signature() && ku.key_encipherment(), "{key}");
            assert!(!ku.key_cert_sign(), "{key}");
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert_eq!(eku.server_auth, server, "{key} serverAuth");
            assert_eq!(eku.client_auth, !server, "{key} clientAuth");
            assert!(!eku.any && eku.other.is_empty(), "{key}");
            let validity = cert.validity();
            let from = validity.not_before.timestamp();
            let until = validity.not_after.timestamp();
            assert!(from < now, "{key} not yet valid");
            assert!(from >= now - 6 * 60, "{key} backdated too far");
            assert!((until - now - YEAR).abs() < 3600, "{key} not 1 year");
            // Serial numbers are random, not derived from the key.
            assert!(cert.tbs_certificate.raw_serial().len() >= 15, "{key}");
        });
    }
}

#[test]
fn serials_differ() {
    let pki = generate();
    let serials: BTreeSet<Vec<u8>> = SECRET_KEYS
        .iter()
        .filter(|k| k.ends_with(".crt"))
        .map(|k| with_cert(&pki, k, |c| c.tbs_certificate.raw_serial().to_vec()))
        .collect();
    assert_eq!(serials.len(), 7);
}

#[test]
fn discovery_hash_matches_an_independent_computation() {
    let pki = generate();
    let expected = sha256_hex(&spki_der(&pki, CA_CERT));
    assert_eq!(pki.discovery_hash, expected);
    assert_eq!(discovery_hash(pki.ca_cert()).unwrap(), expected);
    let hex = pki.discovery_hash.strip_prefix("sha256:").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );

    // Another key gives another hash.
    let sa_pub = pem(&pki.files[SA_PUB]).contents;
    assert_ne!(sha256_hex(&sa_pub), expected);
    // Hashing a different certificate gives that certificate's hash.
    let apiserver = discovery_hash(&pki.files[APISERVER_CERT]).unwrap();
    assert_eq!(apiserver, sha256_hex(&spki_der(&pki, APISERVER_CERT)));
    assert_ne!(apiserver, expected);
}

/// Certificates made by another tool, hashed as kubeadm's documentation
/// says: `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
/// sha256sum`.
#[test]
fn discovery_hash_matches_fixed_certificates() {
    for (pem, hash) in [
        (
            include_str!("testdata/ca-ecdsa.crt"),
            "sha256:ecf5725f78fe00d0aa76855c554fea01e6fcce7f6d36acddb640d5043c6328ae",
        ),
        (
            include_str!("testdata/ca-rsa.crt"),
            "sha256:6dfd4ee6e24e92a9adbc1006455b8cda92e60457ce5bc9b6dc63d47806c51e80",
        ),
    ] {
        assert_eq!(discovery_hash(pem).unwrap(), hash);
        // The first certificate counts, whatever comes before or after it.
        let bundle = format!("junk\n{pem}{}", include_str!("testdata/ca-rsa.crt"));
        assert_eq!(discovery_hash(&bundle).unwrap(), hash);
    }
}

#[test]
fn discovery_hash_rejects_garbage() {
    assert!(matches!(discovery_hash(""), Err(PkiError::InvalidPem(_))));
    assert!(matches!(
        discovery_hash("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
        Err(PkiError::InvalidPem(_))
    ));
    assert!(matches!(
        discovery_hash("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"),
        Err(PkiError::InvalidCertificate(_))
    ));
    // A truncated certificate.
    let pki = generate();
    let der = pem(pki.ca_cert()).contents;
    let truncated = base64::engine::general_purpose::STANDARD.encode(&der[..40]);
    let text = format!("-----BEGIN CERTIFICATE-----\n{truncated}\n-----END CERTIFICATE-----\n");
    assert!(matches!(
        discovery_hash(&text),
        Err(PkiError::InvalidCertificate(_))
    ));
}

#[test]
fn sa_key_and_pub_match() {
    let pki = generate();
    let key = KeyPair::from_pem(&pki.files[SA_KEY]).unwrap();
    assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
    let pub_der = pem(&pki.files[SA_PUB]).contents;
    let (rest, spki) = SubjectPublicKeyInfo::from_der(&pub_der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(&*spki.subject_public_key.data, key.public_key_raw());
    // The CA's key is another key.
    let ca_key = KeyPair::from_pem(&pki.files[CA_KEY]).unwrap();
    assert_ne!(&*spki.subject_public_key.data, ca_key.public_key_raw());
}

#[test]
fn private_keys_match_their_certificates() {
    let pki = generate();
    for cert_key in SECRET_KEYS.iter().filter(|k| k.ends_with(".crt")) {
        let key_key = cert_key.replace(".crt", ".key");
        let key = KeyPair::from_pem(&pki.files[&key_key]).unwrap();
        with_cert(&pki, cert_key, |cert| {
            assert_eq!(
                &*cert.public_key().subject_public_key.data,
                key.public_key_raw(),
                "{cert_key}"
            );
        });
    }
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[test]
fn token_format_and_parse() {
    let token = BootstrapToken::generate(&Entropy::from_system());
    assert!(is_token_part(&token.id, 6), "{:?}", token.id);
    assert!(is_token_part(&token.secret, 16));
    let text = token.token();
    assert_eq!(text.len(), 23);
    assert_eq!(text.as_bytes()[6], b'.');
    assert_eq!(BootstrapToken::parse(&text).unwrap(), token);

    let good = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
    assert_eq!(good.id, "abcdef");
    assert_eq!(good.secret, "0123456789abcdef");
    for bad in [
        "",
        "abcdef0123456789abcdef",
        "abcdef:0123456789abcdef",
        "abcde.0123456789abcdef",
        "abcdefg.0123456789abcdef",
        "abcdef.0123456789abcde",
        "abcdef.0123456789abcdef0",
        "Abcdef.0123456789abcdef",
        "abcdef.0123456789ABCDEF",
        "abc-ef.0123456789abcdef",
        "abcdef.0123456789abcde.",
        "abcdef.0123456789abcdé",
        " abcdef.0123456789abcdef",
        "abcdef.0123456789abcdef\n",
    ] {
        let err = BootstrapToken::parse(bad).unwrap_err();
        assert!(matches!(err, PkiError::InvalidToken(_)), "{bad:?}");
    }
}

#[test]
fn token_error_does_not_echo_the_input() {
    let err = BootstrapToken::parse("abcdef.0123456789ABCDEF").unwrap_err();
    assert!(!err.to_string().contains("0123456789"), "{err}");
}

#[test]
fn debug_output_is_redacted() {
    let pki = generate();
    let debug = format!("{pki:?} {:?} {pki:#?}", pki.token);
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(!debug.contains("BEGIN"), "{debug}");
    assert!(!debug.contains(&pki.token.secret), "{debug}");
    assert!(debug.contains(&pki.token.id), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains(&pki.discovery_hash), "{debug}");
    assert_eq!(
        format!(
            "{:?}",
            BootstrapToken::parse("abcdef.0123456789abcdef").unwrap()
        ),
        r#"BootstrapToken { id: "abcdef", secret: "<redacted>" }"#
    );
}

#[test]
fn generations_differ() {
    let a = generate();
    let b = generate();
    assert_ne!(a.token, b.token);
    assert_ne!(a.token.secret, b.token.secret);
    assert_ne!(a.discovery_hash, b.discovery_hash);
    for key in SECRET_KEYS {
        assert_ne!(a.files[key], b.files[key], "{key}");
    }
}

#[test]
fn the_same_entropy_gives_the_same_pki() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let a = generate_from(&Entropy::new([7; 32], now));
    let b = generate_from(&Entropy::new([7; 32], now));
    assert_eq!(a.files, b.files);
    assert_eq!(a.token, b.token);
    assert_eq!(a.discovery_hash, b.discovery_hash);
    with_cert(&a, CA_CERT, |c| {
        let from = c.validity().not_before.timestamp();
        assert_eq!(from, 1_800_000_000 - 5 * 60);
    });
    // Another seed changes every key and the token, not the dates.
    let c = generate_from(&Entropy::new([8; 32], now));
    for key in SECRET_KEYS {
        assert_ne!(a.files[key], c.files[key], "{key}");
    }
    assert_ne!(a.token, c.token);
    // Every key is its own.
    let keys: BTreeSet<&String> = SECRET_KEYS
        .iter()
        .filter(|k| k.ends_with(".key"))
        .map(|k| &a.files[*k])
        .collect();
    assert_eq!(keys.len(), 8);
}

#[test]
fn invalid_extra_san_is_an_error() {
    let extra = ["bad\u{e9}name".to_owned()];
    let err = ClusterPki::generate(&request(&extra), &Entropy::from_system()).unwrap_err();
    assert!(matches!(err, PkiError::InvalidSan { .. }), "{err}");
}

proptest::proptest! {
    #[test]
    fn parse_roundtrips(id in "[a-z0-9]{6}", secret in "[a-z0-9]{16}") {
        let text = format!("{id}.{secret}");
        let token = BootstrapToken::parse(&text).unwrap();
        proptest::prop_assert_eq!(token.token(), text);
    }

    #[test]
    fn parse_accepts_only_the_format(s in "\\PC{0,30}") {
        let ok = s.len() == 23
            && s.as_bytes()[6] == b'.'
            && is_token_part(&s[..6], 6)
            && is_token_part(&s[7..], 16);
        proptest::prop_assert_eq!(BootstrapToken::parse(&s).is_ok(), ok);
    }
}

#[test]
fn from_files_round_trips_and_checks() {
    let pki = generate();
    let back = ClusterPki::from_files(pki.files.clone(), &pki.token.token()).unwrap();
    assert_eq!(back.discovery_hash, pki.discovery_hash);
    assert_eq!(back.token, pki.token);
    let mut files = pki.files.clone();
    files.remove(CA_KEY);
    let e = ClusterPki::from_files(files, &pki.token.token()).unwrap_err();
    assert!(e.to_string().contains("ca.key"), "{e}");
    assert!(ClusterPki::from_files(pki.files.clone(), "nope").is_err());
}
