use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn cert(file: &str, cn: &str, days: u64) -> CertExpiry {
    CertExpiry {
        file: file.into(),
        common_name: cn.into(),
        not_after: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + days * 86_400),
    }
}

fn report() -> CertsReport {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let certs = [
        cert("admin.crt", "kubernetes-admin", 12),
        cert("ca.crt", "kubernetes", 3650),
        cert("front-proxy-client.crt", "front-proxy-client", 0),
    ];
    let mut certificates = rows(&certs, now);
    certificates[2].days_left = -1;
    CertsReport {
        path: "lab".into(),
        certificates,
        token: Some(TokenRow {
            id: "abcdef".into(),
            expiration: Some("2023-11-15T22:13:20Z".into()),
            found: true,
        }),
    }
}

#[test]
fn one_line_per_certificate_marking_those_under_thirty_days() {
    assert_eq!(
        table(&report()),
        "\
CERTIFICATE             SUBJECT             NOT AFTER             DAYS LEFT
admin.crt               kubernetes-admin    2023-11-26T22:13:20Z  12  under 30 days
ca.crt                  kubernetes          2033-11-11T22:13:20Z  3650
front-proxy-client.crt  front-proxy-client  2023-11-14T22:13:20Z  -1  EXPIRED
bootstrap token abcdef: expires 2023-11-15T22:13:20Z
"
    );
}

#[test]
fn json_names_fields_in_camel_case() {
    let v = serde_json::to_value(report()).unwrap();
    assert_eq!(v["certificates"][0]["daysLeft"], 12);
    assert_eq!(v["certificates"][0]["expiring"], true);
    assert_eq!(v["certificates"][1]["notAfter"], "2033-11-11T22:13:20Z");
    assert_eq!(v["token"]["id"], "abcdef");
}

#[test]
fn a_token_gone_from_the_cluster_says_so() {
    let mut r = report();
    r.certificates.clear();
    r.token = Some(TokenRow {
        id: "abcdef".into(),
        expiration: None,
        found: false,
    });
    assert!(
        table(&r)
            .ends_with("bootstrap token abcdef: not in the cluster (expired and cleaned up?)\n")
    );
}
