use std::time::UNIX_EPOCH;

use super::*;

fn token() -> BootstrapToken {
    BootstrapToken::parse("abcdef.0123456789abcdef").unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn the_secret_is_the_one_kubeadm_makes() {
    let s = token().secret(at(1_700_000_000)).unwrap();
    assert_eq!(s.metadata.name.as_deref(), Some("bootstrap-token-abcdef"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("kube-system"));
    assert_eq!(s.type_.as_deref(), Some("bootstrap.kubernetes.io/token"));
    let data: BTreeMap<String, String> = s
        .data
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    let want = [
        ("auth-extra-groups", TOKEN_GROUP),
        (
            "description",
            "made by kubectl-inception for workers joining",
        ),
        ("expiration", "2023-11-15T22:13:20Z"),
        ("token-id", "abcdef"),
        ("token-secret", "0123456789abcdef"),
        ("usage-bootstrap-authentication", "true"),
        ("usage-bootstrap-signing", "true"),
    ];
    let got: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
    // 24 h after.
    assert_eq!(rfc3339(at(1_700_000_000)).unwrap(), "2023-11-14T22:13:20Z");
}

#[test]
fn expiry_is_read_back() {
    let t = at(1_700_086_400);
    assert_eq!(parse_rfc3339(&rfc3339(t).unwrap()), Some(t));
    assert_eq!(parse_rfc3339("2023-11-15T23:13:20+01:00"), Some(t));
    assert_eq!(parse_rfc3339("tomorrow"), None);
}

#[test]
fn a_token_is_replaced_when_missing_unreadable_or_nearly_expired() {
    let now = at(1_700_000_000);
    let found = |e: &'static str| TokenState::Found {
        expiration: Some(e),
    };
    assert!(needs_new_token(TokenState::Missing, now));
    assert!(needs_new_token(found("soon"), now));
    // Expired, 11 h left, 13 h left.
    assert!(needs_new_token(found("2023-11-14T21:13:20Z"), now));
    assert!(needs_new_token(found("2023-11-15T09:13:20Z"), now));
    assert!(!needs_new_token(found("2023-11-15T11:13:20Z"), now));
    // One that never expires is kept.
    assert!(!needs_new_token(
        TokenState::Found { expiration: None },
        now
    ));
}

#[test]
fn debug_still_hides_the_secret() {
    let d = format!("{:?}", token());
    assert!(!d.contains("0123456789abcdef"), "{d}");
}
