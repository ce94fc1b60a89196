//! PKI for one nested cluster, generated at plan time.
//!
//! The plugin generates the cluster CA, the front-proxy CA, the etcd CA, the
//! service-account key pair, the apiserver serving certificate, the
//! apiserver-to-kubelet and front-proxy client certificates, and an admin
//! client certificate (used by the plugin to write kubeconfigs). They end up in
//! a Secret whose data keys are kubeadm's pki file names, with `etcd/` written
//! as `etcd-` (see [`kubeadm_pki_path`]); kubeadm then finds them in
//! `/etc/kubernetes/pki` and uses them instead of generating its own.
//!
//! The etcd leaf certificates (etcd server, peer, healthcheck-client and
//! apiserver-etcd-client) are deliberately left to kubeadm: they need the
//! control-plane Pod's IP and hostname, which are unknown at plan time.
//! kubeadm derives them from the etcd CA given here.
//!
//! All keys are ECDSA P-256;
//! Kubernetes and kubeadm accept ECDSA for CAs, leaf certificates and the
//! service-account key. Every certificate is valid from five minutes ago (to
//! absorb clock skew between nesting levels); CAs for ten years, leaves for
//! one year. Keys, serial numbers and the token are drawn from the plan's
//! [`Entropy`](crate::Entropy), and signatures are deterministic (RFC 6979):
//! the same request and entropy give the same files.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use rcgen::{ExtendedKeyUsagePurpose, Issuer};

mod discovery;
mod expiry;
mod issue;
pub mod token;

pub use discovery::discovery_hash;
pub use expiry::{CertExpiry, RENEW_BEFORE, cert_expiry, certificates, days_left};
pub use token::BootstrapToken;

use issue::{EcKey, Leaf, new_ca, to_san_type};

use crate::Entropy;

/// Secret data key of the cluster CA certificate.
pub const CA_CERT: &str = "ca.crt";
/// Secret data key of the cluster CA private key.
pub const CA_KEY: &str = "ca.key";
/// Secret data key of the front-proxy CA certificate.
pub const FRONT_PROXY_CA_CERT: &str = "front-proxy-ca.crt";
/// Secret data key of the front-proxy CA private key.
pub const FRONT_PROXY_CA_KEY: &str = "front-proxy-ca.key";
/// Secret data key of the etcd CA certificate (kubeadm path `etcd/ca.crt`).
pub const ETCD_CA_CERT: &str = "etcd-ca.crt";
/// Secret data key of the etcd CA private key (kubeadm path `etcd/ca.key`).
pub const ETCD_CA_KEY: &str = "etcd-ca.key";
/// Secret data key of the service-account signing key (PKCS#8 PEM).
pub const SA_KEY: &str = "sa.key";
/// Secret data key of the service-account public key (PEM `PUBLIC KEY`).
pub const SA_PUB: &str = "sa.pub";
/// Secret data key of the apiserver serving certificate.
pub const APISERVER_CERT: &str = "apiserver.crt";
/// Secret data key of the apiserver serving key.
pub const APISERVER_KEY: &str = "apiserver.key";
/// Secret data key of the apiserver-to-kubelet client certificate.
pub const APISERVER_KUBELET_CLIENT_CERT: &str = "apiserver-kubelet-client.crt";
/// Secret data key of the apiserver-to-kubelet client key.
pub const APISERVER_KUBELET_CLIENT_KEY: &str = "apiserver-kubelet-client.key";
/// Secret data key of the front-proxy client certificate.
pub const FRONT_PROXY_CLIENT_CERT: &str = "front-proxy-client.crt";
/// Secret data key of the front-proxy client key.
pub const FRONT_PROXY_CLIENT_KEY: &str = "front-proxy-client.key";
/// Secret data key of the admin client certificate (not a kubeadm file).
pub const ADMIN_CERT: &str = "admin.crt";
/// Secret data key of the admin client key (not a kubeadm file).
pub const ADMIN_KEY: &str = "admin.key";

/// Every Secret data key [`ClusterPki::generate`] fills, sorted.
pub const SECRET_KEYS: [&str; 16] = [
    ADMIN_CERT,
    ADMIN_KEY,
    APISERVER_KUBELET_CLIENT_CERT,
    APISERVER_KUBELET_CLIENT_KEY,
    APISERVER_CERT,
    APISERVER_KEY,
    CA_CERT,
    CA_KEY,
    ETCD_CA_CERT,
    ETCD_CA_KEY,
    FRONT_PROXY_CA_CERT,
    FRONT_PROXY_CA_KEY,
    FRONT_PROXY_CLIENT_CERT,
    FRONT_PROXY_CLIENT_KEY,
    SA_KEY,
    SA_PUB,
];

/// The path, relative to kubeadm's pki directory, for a Secret data key:
/// `etcd-ca.crt` becomes `etcd/ca.crt`, anything else is unchanged.
pub fn kubeadm_pki_path(secret_key: &str) -> String {
    match secret_key.strip_prefix("etcd-") {
        Some(rest) => format!("etcd/{rest}"),
        None => secret_key.to_owned(),
    }
}

const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
const DAY: u64 = 24 * 60 * 60;
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * DAY);
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * DAY);

/// What the apiserver certificate must be valid for.
#[derive(Debug, Clone, Copy)]
pub struct PkiRequest<'a> {
    /// The apiserver Service in the parent cluster, e.g. `lab-apiserver`.
    pub service_name: &'a str,
    /// The parent namespace the Service lives in, e.g. `inception-lab`.
    pub namespace: &'a str,
    /// The parent cluster's DNS domain, e.g. `cluster.local`.
    pub parent_domain: &'a str,
    /// This (inner) cluster's DNS domain.
    pub cluster_domain: &'a str,
    /// The first IP of the inner service CIDR.
    pub kubernetes_service_ip: IpAddr,
    /// Extra DNS names or IPs (an entry is an IP if it parses as one).
    pub extra_sans: &'a [String],
}

/// Something in PKI generation failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Generating or encoding a private key failed.
    #[error("cannot generate the {what} key: {reason}")]
    Key { what: &'static str, reason: String },
    /// Building or signing a certificate failed.
    #[error("cannot generate the {what} certificate: {source}")]
    Certificate {
        what: &'static str,
        source: rcgen::Error,
    },
    /// A subject alternative name is not a valid DNS name or IP.
    #[error("invalid subject alternative name {san:?}: {source}")]
    InvalidSan { san: String, source: rcgen::Error },
    /// A bootstrap token does not match `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[error("invalid bootstrap token: {0}")]
    InvalidToken(&'static str),
    /// A certificate PEM could not be read.
    #[error("cannot read the certificate PEM: {0}")]
    InvalidPem(&'static str),
    /// A certificate's DER could not be parsed.
    #[error("cannot parse the certificate: {0}")]
    InvalidCertificate(&'static str),
    /// A stored certificate cannot be read.
    #[error("cannot read certificate {file}: {reason}")]
    Unreadable { file: String, reason: &'static str },
    /// A stored PKI lacks a file.
    #[error("the stored PKI has no {0}: delete the cluster and create it again")]
    MissingFile(String),
    /// The time to make certificates at is before 1970.
    #[error("cannot date certificates: {0}")]
    Clock(String),
}

/// Everything secret a nested cluster needs before kubeadm runs.
///
/// `Debug` prints only the file names, the token id and the discovery hash.
#[derive(Clone)]
pub struct ClusterPki {
    /// Secret data keys (see [`SECRET_KEYS`]) to PEM text.
    pub files: BTreeMap<String, String>,
    /// The kubeadm bootstrap token.
    pub token: BootstrapToken,
    /// `sha256:<64 lowercase hex>` of the CA certificate's SubjectPublicKeyInfo,
    /// for kubeadm's `discovery-token-ca-cert-hash`.
    pub discovery_hash: String,
}

impl fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPki")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("token", &self.token)
            .field("discovery_hash", &self.discovery_hash)
            .finish()
    }
}

impl ClusterPki {
    /// Rebuilds the PKI of an existing cluster from its Secret data and token.
    pub fn from_files(files: BTreeMap<String, String>, token: &str) -> Result<Self, PkiError> {
        let token = BootstrapToken::parse(token.trim())?;
        if let Some(missing) = SECRET_KEYS.iter().find(|k| !files.contains_key(**k)) {
            return Err(PkiError::MissingFile(missing.to_string()));
        }
        let discovery_hash = discovery_hash(&files[CA_CERT])?;
        Ok(ClusterPki {
            files,
            token,
            discovery_hash,
        })
    }

    /// Generates all keys, certificates and the bootstrap token from
    /// `entropy`: the same request and entropy give the same PKI.
    pub fn generate(req: &PkiRequest, entropy: &Entropy) -> Result<Self, PkiError> {
        let now = since_epoch(entropy)?;
        let not_before = now.saturating_sub(CLOCK_SKEW);
        let ca_until = now + CA_VALIDITY;
        let leaf_until = now + LEAF_VALIDITY;

        let mut files = BTreeMap::new();

        let ca_validity = (not_before, ca_until);
        let ca = new_ca("ca", "kubernetes", ca_validity, entropy)?;
        let front_proxy_ca = new_ca("front-proxy-ca", "front-proxy-ca", ca_validity, entropy)?;
        let etcd_ca = new_ca("etcd-ca", "etcd-ca", ca_validity, entropy)?;
        for (what, ca, cert_name, key_name) in [
            ("ca", &ca, CA_CERT, CA_KEY),
            (
                "front-proxy-ca",
                &front_proxy_ca,
                FRONT_PROXY_CA_CERT,
                FRONT_PROXY_CA_KEY,
            ),
            ("etcd-ca", &etcd_ca, ETCD_CA_CERT, ETCD_CA_KEY),
        ] {
            files.insert(cert_name.to_owned(), ca.pem());
            files.insert(key_name.to_owned(), ca.key().private_pem(what)?);
        }

        let sa = EcKey::generate("service-account", entropy)?;
        files.insert(SA_KEY.to_owned(), sa.private_pem("service-account")?);
        files.insert(SA_PUB.to_owned(), sa.public_pem("service-account")?);

        let sans = Self::apiserver_sans(req)
            .into_iter()
            .map(|san| to_san_type(&san))
            .collect::<Result<Vec<_>, _>>()?;
        for leaf in leaves(sans, &ca, &front_proxy_ca) {
            let (cert_name, key_name) = leaf.files;
            let (cert, key) = leaf.sign((not_before, leaf_until), entropy)?;
            files.insert(cert_name.to_owned(), cert);
            files.insert(key_name.to_owned(), key);
        }

        let discovery_hash = discovery_hash(&files[CA_CERT])?;
        Ok(Self {
            files,
            token: BootstrapToken::generate(&entropy.derive("bootstrap token")),
            discovery_hash,
        })
    }

    /// The cluster CA certificate (PEM); empty if removed from `files`.
    pub fn ca_cert(&self) -> &str {
        self.file(CA_CERT)
    }

    /// The admin client certificate (PEM); empty if removed from `files`.
    pub fn admin_cert(&self) -> &str {
        self.file(ADMIN_CERT)
    }

    /// The admin client private key (PKCS#8 PEM); empty if removed from `files`.
    pub fn admin_key(&self) -> &str {
        self.file(ADMIN_KEY)
    }

    fn file(&self, key: &str) -> &str {
        self.files.get(key).map_or("", String::as_str)
    }

    /// The apiserver certificate's subject alternative names, as text, in
    /// order and without duplicates; also meant for kubeadm's `certSANs`.
    ///
    /// IPs are written in canonical form, so `::0001` and `::1` are one entry.
    /// Empty extra entries are skipped.
    pub fn apiserver_sans(req: &PkiRequest) -> Vec<String> {
        let svc = req.service_name;
        let ns = req.namespace;
        let candidates = [
            svc.to_owned(),
            format!("{svc}.{ns}"),
            format!("{svc}.{ns}.svc"),
            format!("{svc}.{ns}.svc.{}", req.parent_domain),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            format!("kubernetes.default.svc.{}", req.cluster_domain),
            req.kubernetes_service_ip.to_string(),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ]
        .into_iter()
        .chain(req.extra_sans.iter().map(|s| s.trim().to_owned()));

        let mut sans: Vec<String> = Vec::new();
        for san in candidates {
            if san.is_empty() {
                continue;
            }
            let san = match san.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => san,
            };
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        sans
    }
}

/// The leaf certificates the plugin makes: the apiserver's (with `sans`),
/// apiserver-kubelet-client and admin from `ca`, front-proxy-client from
/// `front_proxy_ca`.
fn leaves<'a>(
    sans: Vec<rcgen::SanType>,
    ca: &'a Issuer<'static, EcKey>,
    front_proxy_ca: &'a Issuer<'static, EcKey>,
) -> [Leaf<'a>; 4] {
    [
        Leaf {
            what: "apiserver",
            common_name: "kube-apiserver",
            organization: None,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
            sans,
            issuer: ca,
            files: (APISERVER_CERT, APISERVER_KEY),
        },
        Leaf {
            what: "apiserver-kubelet-client",
            common_name: "kube-apiserver-kubelet-client",
            organization: Some("system:masters"),
            usage: ExtendedKeyUsagePurpose::ClientAuth,
            sans: Vec::new(),
            issuer: ca,
            files: (APISERVER_KUBELET_CLIENT_CERT, APISERVER_KUBELET_CLIENT_KEY),
        },
        Leaf {
            what: "front-proxy-client",
            common_name: "front-proxy-client",
            organization: None,
            usage: ExtendedKeyUsagePurpose::ClientAuth,
            sans: Vec::new(),
            issuer: front_proxy_ca,
            files: (FRONT_PROXY_CLIENT_CERT, FRONT_PROXY_CLIENT_KEY),
        },
        Leaf {
            what: "admin",
            common_name: "kubernetes-admin",
            organization: Some("system:masters"),
            usage: ExtendedKeyUsagePurpose::ClientAuth,
            sans: Vec::new(),
            issuer: ca,
            files: (ADMIN_CERT, ADMIN_KEY),
        },
    ]
}

/// The time of `entropy` as a duration since the Unix epoch.
fn since_epoch(entropy: &Entropy) -> Result<Duration, PkiError> {
    entropy
        .now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| PkiError::Clock(e.to_string()))
}

#[cfg(test)]
mod tests;
