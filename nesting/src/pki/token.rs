//! The kubeadm bootstrap token nodes join with.
//!
//! A token lives [`TOKEN_TTL`] in the inner cluster (kubeadm init makes the
//! first one; the controller manager's token cleaner deletes it once it
//! expired). Nodes only need it to join: a joined kubelet has its own
//! certificate. A worker joining later (scale, `up` with more workers) gets
//! a fresh token, made as [`BootstrapToken::secret`] and put where the
//! worker Pods read it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rand::Rng as _;

use super::PkiError;
use crate::Entropy;

const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const TOKEN_ID_LEN: usize = 6;
const TOKEN_SECRET_LEN: usize = 16;

/// How long a bootstrap token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// [`TOKEN_TTL`] as kubeadm's `ttl` reads it.
pub const TOKEN_TTL_TEXT: &str = "24h0m0s";
/// A token with less left than this is replaced before workers join.
pub const TOKEN_RENEW_BEFORE: Duration = Duration::from_secs(12 * 60 * 60);

/// Namespace and type of bootstrap token Secrets.
pub const TOKEN_NAMESPACE: &str = "kube-system";
pub const TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The group kubeadm's node tokens authenticate as (besides
/// `system:bootstrappers`); kubeadm binds it to node bootstrapping.
pub const TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// Key of a bootstrap token Secret holding its expiry (RFC 3339).
pub const TOKEN_EXPIRATION_KEY: &str = "expiration";

/// A kubeadm bootstrap token, `<id>.<secret>`.
///
/// `Debug` redacts the secret; use [`BootstrapToken::token`] to get it.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// `[a-z0-9]{6}`, public.
    pub id: String,
    /// `[a-z0-9]{16}`, secret.
    pub secret: String,
}

impl BootstrapToken {
    /// A random token from `entropy`.
    pub fn generate(entropy: &Entropy) -> Self {
        let mut rng = entropy.rng();
        let mut pick = |len: usize| -> String {
            (0..len)
                .map(|_| char::from(TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())]))
                .collect()
        };
        let id = pick(TOKEN_ID_LEN);
        let secret = pick(TOKEN_SECRET_LEN);
        Self { id, secret }
    }

    /// Parses `<id>.<secret>`; the error never contains the input.
    pub fn parse(s: &str) -> Result<Self, PkiError> {
        let (id, secret) = s
            .split_once('.')
            .ok_or(PkiError::InvalidToken("expected <id>.<secret>"))?;
        if id.len() != TOKEN_ID_LEN {
            return Err(PkiError::InvalidToken("the id must be 6 characters"));
        }
        if secret.len() != TOKEN_SECRET_LEN {
            return Err(PkiError::InvalidToken("the secret must be 16 characters"));
        }
        let valid = |part: &str| part.bytes().all(|b| TOKEN_ALPHABET.contains(&b));
        if !valid(id) || !valid(secret) {
            return Err(PkiError::InvalidToken(
                "only lowercase letters and digits are allowed",
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The full token, `<id>.<secret>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The name of its Secret in the inner cluster's kube-system.
    pub fn secret_name(&self) -> String {
        secret_name(&self.id)
    }

    /// Its Secret in the inner cluster, as `kubeadm token create` makes
    /// it, expiring [`TOKEN_TTL`] after `now`.
    pub fn secret(&self, now: SystemTime) -> Result<Secret, PkiError> {
        let expiration = rfc3339(now + TOKEN_TTL)?;
        let data = [
            ("token-id", self.id.as_str()),
            ("token-secret", self.secret.as_str()),
            (TOKEN_EXPIRATION_KEY, expiration.as_str()),
            ("usage-bootstrap-authentication", "true"),
            ("usage-bootstrap-signing", "true"),
            ("auth-extra-groups", TOKEN_GROUP),
            (
                "description",
                "made by kubectl-inception for workers joining",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect::<BTreeMap<_, _>>();
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(self.secret_name()),
                namespace: Some(TOKEN_NAMESPACE.to_owned()),
                ..ObjectMeta::default()
            },
            type_: Some(TOKEN_SECRET_TYPE.to_owned()),
            data: Some(data),
            ..Secret::default()
        })
    }
}

/// The name of the Secret of token `id` in kube-system.
pub fn secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

/// What is known of a token in the inner cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState<'a> {
    /// No Secret of it: never made, or expired and cleaned up.
    Missing,
    /// Its Secret, with its `expiration` if it has one.
    Found { expiration: Option<&'a str> },
}

/// Whether workers about to join need a new token: when the current one is
/// missing, has an unreadable expiry, or less than [`TOKEN_RENEW_BEFORE`]
/// left at `now`. A token without expiry (made by older versions) is kept.
pub fn needs_new_token(state: TokenState<'_>, now: SystemTime) -> bool {
    match state {
        TokenState::Missing => true,
        TokenState::Found { expiration: None } => false,
        TokenState::Found {
            expiration: Some(text),
        } => match parse_rfc3339(text) {
            Some(until) => until
                .duration_since(now)
                .map_or(true, |left| left < TOKEN_RENEW_BEFORE),
            None => true,
        },
    }
}

/// `2026-01-02T03:04:05Z`, to the second.
pub fn rfc3339(t: SystemTime) -> Result<String, PkiError> {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| PkiError::Clock(e.to_string()))?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|e| PkiError::Clock(e.to_string()))?;
    jiff::Timestamp::from_second(secs)
        .map(|ts| ts.to_string())
        .map_err(|e| PkiError::Clock(e.to_string()))
}

/// An RFC 3339 time, as a bootstrap token's `expiration`; `None` if unreadable.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(SystemTime::from)
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests;
