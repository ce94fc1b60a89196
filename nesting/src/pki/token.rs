//! The kubeadm bootstrap token nodes join with.

use std::fmt;

use rand::Rng as _;

use super::PkiError;
use crate::Entropy;

const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const TOKEN_ID_LEN: usize = 6;
const TOKEN_SECRET_LEN: usize = 16;

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
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}
