use thiserror::Error;

/// Why a plan cannot be made. Messages say what was wrong and what to change.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid cluster name {value:?}: {reason}")]
    BadName { value: String, reason: String },
    #[error("invalid cluster path {value:?}: {reason}")]
    BadPath { value: String, reason: String },
    #[error("{0}")]
    BadShape(String),
    #[error("invalid Kubernetes version {value:?}: {reason}")]
    BadVersion { value: String, reason: String },
    #[error("invalid CIDR {value:?} for {flag}: {reason}")]
    BadCidr {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("{0}")]
    Prefix(String),
    #[error("{0}")]
    Pool(String),
    #[error("invalid image {value:?}: {reason}")]
    BadImage { value: String, reason: String },
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("cannot render {what}: {reason}")]
    Render { what: String, reason: String },
}
