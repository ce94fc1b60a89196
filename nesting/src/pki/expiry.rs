//! When the certificates of a PKI expire, and renewing the leaves the
//! plugin made.
//!
//! Only what the `pki` Secret holds is seen here. kubeadm makes more inside
//! the control-plane node, from the CAs given: its own apiserver serving
//! certificate (it must name the Pod's IP), the etcd leaves (server, peer,
//! healthcheck-client, apiserver-etcd-client) and the kubeconfigs of the
//! controller manager, scheduler and kubelet, all for one year. The control
//! plane's node agent renews them (`kubeadm certs renew all`, see the
//! agent's `renew.rs`); each kubelet rotates its own client certificate
//! (kubeadm enables rotation). The apiserver-kubelet-client and
//! front-proxy-client files are copied into the node at its first
//! bootstrap, so a renewal here reaches only a node bootstrapped afterwards.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::Issuer;
use x509_parser::extensions::GeneralName;

use super::issue::{EcKey, to_san_type};
use super::{
    ADMIN_CERT, APISERVER_CERT, APISERVER_KUBELET_CLIENT_CERT, CA_CERT, CA_KEY, CLOCK_SKEW,
    ClusterPki, DAY, FRONT_PROXY_CA_CERT, FRONT_PROXY_CA_KEY, FRONT_PROXY_CLIENT_CERT,
    LEAF_VALIDITY, PkiError, leaves, since_epoch,
};
use crate::Entropy;

/// Leaves with less than this left are renewed by `up`, and flagged by `certs`.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * DAY);

/// The leaf certificates the plugin makes, which it can make again.
const LEAVES: [&str; 4] = [
    APISERVER_CERT,
    APISERVER_KUBELET_CLIENT_CERT,
    FRONT_PROXY_CLIENT_CERT,
    ADMIN_CERT,
];

/// One certificate of a PKI and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiry {
    /// Its Secret data key, e.g. `admin.crt`.
    pub file: String,
    /// Its subject's common name.
    pub common_name: String,
    pub not_after: SystemTime,
}

impl CertExpiry {
    /// Whether it has less than [`RENEW_BEFORE`] left at `now`.
    pub fn expiring(&self, now: SystemTime) -> bool {
        self.not_after
            .duration_since(now)
            .map_or(true, |left| left < RENEW_BEFORE)
    }
}

/// Whole days from `now` to `until`, negative once past.
pub fn days_left(until: SystemTime, now: SystemTime) -> i64 {
    let secs = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    (secs(until) - secs(now)).div_euclid(DAY as i64)
}

fn unreadable(file: &str, reason: &'static str) -> PkiError {
    PkiError::Unreadable {
        file: file.to_owned(),
        reason,
    }
}

/// Reads the first certificate of `pem` (stored under `file`) and hands it
/// to `read`.
fn with_cert<R>(
    file: &str,
    pem: &str,
    read: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> Result<R, PkiError>,
) -> Result<R, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| unreadable(file, "not PEM"))?;
    let cert = pem
        .parse_x509()
        .map_err(|_| unreadable(file, "not an X.509 certificate"))?;
    read(&cert)
}

/// The expiry of the certificate `pem`, stored under `file`.
pub fn cert_expiry(file: &str, pem: &str) -> Result<CertExpiry, PkiError> {
    with_cert(file, pem, |cert| {
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let secs = cert.validity().not_after.timestamp();
        let not_after = u64::try_from(secs)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .map_err(|_| unreadable(file, "it expires before 1970"))?;
        Ok(CertExpiry {
            file: file.to_owned(),
            common_name,
            not_after,
        })
    })
}

/// Every certificate (`*.crt`) of a PKI's Secret data, by key.
pub fn certificates<'a>(
    files: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<CertExpiry>, PkiError> {
    files
        .into_iter()
        .filter(|(k, _)| k.ends_with(".crt"))
        .map(|(k, v)| cert_expiry(k, v))
        .collect()
}

/// The subject alternative names of a certificate, as text.
fn sans(file: &str, pem: &str) -> Result<Vec<String>, PkiError> {
    with_cert(file, pem, |cert| {
        let ext = cert
            .subject_alternative_name()
            .map_err(|_| unreadable(file, "bad subject alternative names"))?;
        let names = ext
            .map(|e| e.value.general_names.clone())
            .unwrap_or_default();
        Ok(names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => <[u8; 4]>::try_from(*b)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(*b)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect())
    })
}

impl ClusterPki {
    /// Renews the leaf certificates the plugin made (apiserver,
    /// apiserver-kubelet-client, front-proxy-client, admin) that have less
    /// than [`RENEW_BEFORE`] left at the time of `entropy`: a new key, the
    /// same subject, names and CA, valid for a year from then. The CAs, the
    /// service-account key and the token are kept. Returns the Secret keys
    /// of the certificates renewed.
    pub fn renew_expiring(&mut self, entropy: &Entropy) -> Result<Vec<&'static str>, PkiError> {
        let now = entropy.now();
        let mut due = Vec::new();
        for leaf in LEAVES {
            let pem = self
                .files
                .get(leaf)
                .ok_or_else(|| PkiError::MissingFile(leaf.to_owned()))?;
            if cert_expiry(leaf, pem)?.expiring(now) {
                due.push(leaf);
            }
        }
        if due.is_empty() {
            return Ok(due);
        }
        let since = since_epoch(entropy)?;
        let validity = (since.saturating_sub(CLOCK_SKEW), since + LEAF_VALIDITY);
        let file = |key: &str| {
            self.files
                .get(key)
                .ok_or_else(|| PkiError::MissingFile(key.to_owned()))
        };
        let issuer = |what: &'static str, cert: &str, key: &str| -> Result<_, PkiError> {
            let key = EcKey::from_pem(what, file(key)?)?;
            Issuer::from_ca_cert_pem(file(cert)?, key)
                .map_err(|source| PkiError::Certificate { what, source })
        };
        let ca = issuer("ca", CA_CERT, CA_KEY)?;
        let front_proxy_ca = issuer("front-proxy-ca", FRONT_PROXY_CA_CERT, FRONT_PROXY_CA_KEY)?;
        let apiserver_sans = sans(APISERVER_CERT, file(APISERVER_CERT)?)?
            .iter()
            .map(|s| to_san_type(s))
            .collect::<Result<Vec<_>, _>>()?;
        for leaf in leaves(apiserver_sans, &ca, &front_proxy_ca) {
            let (cert_name, key_name) = leaf.files;
            if !due.contains(&cert_name) {
                continue;
            }
            let (cert, key) = leaf.sign(validity, &entropy.derive("renewal"))?;
            self.files.insert(cert_name.to_owned(), cert);
            self.files.insert(key_name.to_owned(), key);
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests;
