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
