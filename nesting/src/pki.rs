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
//! All keys are ECDSA P-256 (the `ring` backend cannot generate RSA keys);
//! Kubernetes and kubeadm accept ECDSA for CAs, leaf certificates and the
//! service-account key. Every certificate is valid from five minutes ago (to
//! absorb clock skew between nesting levels); CAs for ten years, leaves for
//! one year. Serial numbers are random.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SanType, SerialNumber,
};
use sha2::{Digest as _, Sha256};

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
    /// Generating a private key failed.
    #[error("cannot generate the {what} key: {source}")]
    Key {
        what: &'static str,
        source: rcgen::Error,
    },
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
    /// A stored PKI lacks a file.
    #[error("the stored PKI has no {0}: delete the cluster and create it again")]
    MissingFile(String),
    /// The system clock is unusable.
    #[error("cannot read the system clock: {0}")]
    Clock(String),
}

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
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
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

    /// Generates all keys, certificates and the bootstrap token.
    pub fn generate(req: &PkiRequest) -> Result<Self, PkiError> {
        let now = since_epoch()?;
        let not_before = now.saturating_sub(CLOCK_SKEW);
        let ca_until = now + CA_VALIDITY;
        let leaf_until = now + LEAF_VALIDITY;

        let mut files = BTreeMap::new();

        let ca = new_ca("ca", "kubernetes", not_before, ca_until)?;
        let front_proxy_ca = new_ca("front-proxy-ca", "front-proxy-ca", not_before, ca_until)?;
        let etcd_ca = new_ca("etcd-ca", "etcd-ca", not_before, ca_until)?;
        for (ca, cert_name, key_name) in [
            (&ca, CA_CERT, CA_KEY),
            (&front_proxy_ca, FRONT_PROXY_CA_CERT, FRONT_PROXY_CA_KEY),
            (&etcd_ca, ETCD_CA_CERT, ETCD_CA_KEY),
        ] {
            files.insert(cert_name.to_owned(), ca.pem());
            files.insert(key_name.to_owned(), ca.key().serialize_pem());
        }

        let sa = new_key("service-account")?;
        files.insert(SA_KEY.to_owned(), sa.serialize_pem());
        files.insert(SA_PUB.to_owned(), sa.public_key_pem());

        let sans = Self::apiserver_sans(req)
            .into_iter()
            .map(|san| to_san_type(&san))
            .collect::<Result<Vec<_>, _>>()?;
        let leaves = [
            Leaf {
                what: "apiserver",
                common_name: "kube-apiserver",
                organization: None,
                usage: ExtendedKeyUsagePurpose::ServerAuth,
                sans,
                issuer: &ca,
                files: (APISERVER_CERT, APISERVER_KEY),
            },
            Leaf {
                what: "apiserver-kubelet-client",
                common_name: "kube-apiserver-kubelet-client",
                organization: Some("system:masters"),
                usage: ExtendedKeyUsagePurpose::ClientAuth,
                sans: Vec::new(),
                issuer: &ca,
                files: (APISERVER_KUBELET_CLIENT_CERT, APISERVER_KUBELET_CLIENT_KEY),
            },
            Leaf {
                what: "front-proxy-client",
                common_name: "front-proxy-client",
                organization: None,
                usage: ExtendedKeyUsagePurpose::ClientAuth,
                sans: Vec::new(),
                issuer: &front_proxy_ca,
                files: (FRONT_PROXY_CLIENT_CERT, FRONT_PROXY_CLIENT_KEY),
            },
            Leaf {
                what: "admin",
                common_name: "kubernetes-admin",
                organization: Some("system:masters"),
                usage: ExtendedKeyUsagePurpose::ClientAuth,
                sans: Vec::new(),
                issuer: &ca,
                files: (ADMIN_CERT, ADMIN_KEY),
            },
        ];
        for leaf in leaves {
            let (cert_name, key_name) = leaf.files;
            let (cert, key) = leaf.sign(not_before, leaf_until)?;
            files.insert(cert_name.to_owned(), cert);
            files.insert(key_name.to_owned(), key);
        }

        let discovery_hash = discovery_hash(&files[CA_CERT])?;
        Ok(Self {
            files,
            token: BootstrapToken::generate(),
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

/// `sha256:<hex>` of the SubjectPublicKeyInfo of the first certificate in
/// `ca_cert_pem`: the value kubeadm expects in `discovery-token-ca-cert-hash`.
pub fn discovery_hash(ca_cert_pem: &str) -> Result<String, PkiError> {
    let der = pem_certificate_der(ca_cert_pem)?;
    let spki = certificate_spki(&der)?;
    let digest = Sha256::digest(spki);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The current time as a duration since the Unix epoch.
fn since_epoch() -> Result<Duration, PkiError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| PkiError::Clock(e.to_string()))
}

/// Certificate parameters with a random serial, the given subject and
/// validity (both as durations since the Unix epoch), and key identifiers.
fn base_params(
    common_name: &str,
    organization: Option<&str>,
    not_before: Duration,
    not_after: Duration,
) -> CertificateParams {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let mut params = CertificateParams::default();
    params.not_before = epoch + not_before;
    params.not_after = epoch + not_after;
    params.serial_number = Some(random_serial());
    let mut dn = DistinguishedName::new();
    if let Some(organization) = organization {
        dn.push(DnType::OrganizationName, organization);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.use_authority_key_identifier_extension = true;
    params
}

/// A positive 127-bit random serial number.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn new_key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Key { what, source })
}

/// A self-signed CA, like kubeadm's: CA:true, keyCertSign, digitalSignature,
/// keyEncipherment.
fn new_ca(
    what: &'static str,
    common_name: &str,
    not_before: Duration,
    not_after: Duration,
) -> Result<CertifiedIssuer<'static, KeyPair>, PkiError> {
    let key = new_key(what)?;
    let mut params = base_params(common_name, None, not_before, not_after);
    // A self-signed certificate's authority key identifier would only repeat
    // its subject key identifier.
    params.use_authority_key_identifier_extension = false;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    CertifiedIssuer::self_signed(params, key)
        .map_err(|source| PkiError::Certificate { what, source })
}

/// A leaf certificate to issue.
struct Leaf<'a> {
    what: &'static str,
    common_name: &'static str,
    organization: Option<&'static str>,
    usage: ExtendedKeyUsagePurpose,
    sans: Vec<SanType>,
    issuer: &'a CertifiedIssuer<'static, KeyPair>,
    /// Secret data keys of the certificate and the private key.
    files: (&'static str, &'static str),
}

impl Leaf<'_> {
    /// Returns the certificate PEM and the private key PEM.
    fn sign(self, not_before: Duration, not_after: Duration) -> Result<(String, String), PkiError> {
        let what = self.what;
        let key = new_key(what)?;
        let mut params = base_params(self.common_name, self.organization, not_before, not_after);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![self.usage];
        params.subject_alt_names = self.sans;
        let issuer: &Issuer<'_, KeyPair> = self.issuer;
        let cert = params
            .signed_by(&key, issuer)
            .map_err(|source| PkiError::Certificate { what, source })?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn to_san_type(san: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = san.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    san.to_owned()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|source| PkiError::InvalidSan {
            san: san.to_owned(),
            source,
        })
}

/// The DER of the first `CERTIFICATE` block of a PEM text.
fn pem_certificate_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem
        .find(BEGIN)
        .ok_or(PkiError::InvalidPem("no BEGIN CERTIFICATE line"))?
        + BEGIN.len();
    let len = pem[start..]
        .find(END)
        .ok_or(PkiError::InvalidPem("no END CERTIFICATE line"))?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| PkiError::InvalidPem("invalid base64"))
}

/// One DER element: its tag, its content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

/// Splits the first DER element (single-byte tag, definite length) off `input`.
fn next_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), PkiError> {
    let truncated = PkiError::InvalidCertificate("truncated DER");
    let (&tag, rest) = input.split_first().ok_or(truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(PkiError::InvalidCertificate("unsupported DER tag"));
    }
    let (&first, mut rest) = rest
        .split_first()
        .ok_or(PkiError::InvalidCertificate("truncated DER"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(PkiError::InvalidCertificate("invalid DER length"));
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return Err(PkiError::InvalidCertificate("truncated DER"));
    }
    let header = input.len() - rest.len();
    let (content, rest) = rest.split_at(len);
    let tlv = Tlv {
        tag,
        content,
        raw: &input[..header + len],
    };
    Ok((tlv, rest))
}

/// The DER of the SubjectPublicKeyInfo of an X.509 certificate.
fn certificate_spki(der: &[u8]) -> Result<&[u8], PkiError> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const VERSION: u8 = 0xa0;
    let expect = |tlv: &Tlv<'_>, tag: u8, what: &'static str| {
        if tlv.tag == tag {
            Ok(())
        } else {
            Err(PkiError::InvalidCertificate(what))
        }
    };

    let (cert, _) = next_tlv(der)?;
    expect(&cert, SEQUENCE, "not a certificate")?;
    let (tbs, _) = next_tlv(cert.content)?;
    expect(&tbs, SEQUENCE, "no tbsCertificate")?;

    let (mut field, mut rest) = next_tlv(tbs.content)?;
    if field.tag == VERSION {
        (field, rest) = next_tlv(rest)?;
    }
    expect(&field, INTEGER, "no serial number")?;
    // signature algorithm, issuer, validity, subject
    for what in [
        "no signature algorithm",
        "no issuer",
        "no validity",
        "no subject",
    ] {
        (field, rest) = next_tlv(rest)?;
        expect(&field, SEQUENCE, what)?;
    }
    let (spki, _) = next_tlv(rest)?;
    expect(&spki, SEQUENCE, "no subject public key info")?;
    Ok(spki.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let extra = ["api.example.com".to_owned(), "192.0.2.7".to_owned()];
        ClusterPki::generate(&request(&extra)).unwrap()
    }

    fn pem(text: &str) -> Pem {
        let (rest, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).unwrap();
        assert!(rest.iter().all(u8::is_ascii_whitespace));
        pem
    }

    /// Parses the certificate stored under `key` and hands it to `check`.
    fn with_cert<R>(
        pki: &ClusterPki,
        key: &str,
        check: impl FnOnce(&X509Certificate<'_>) -> R,
    ) -> R {
        let pem = pem(&pki.files[key]);
        assert_eq!(pem.label, "CERTIFICATE", "{key}");
        let cert = pem.parse_x509().unwrap();
        check(&cert)
    }

    fn spki_der(pki: &ClusterPki, key: &str) -> Vec<u8> {
        with_cert(pki, key, |c| c.tbs_certificate.subject_pki.raw.to_vec())
    }

    fn now_unix() -> i64 {
        i64::try_from(since_epoch().unwrap().as_secs()).unwrap()
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
        let pki = ClusterPki::generate(&req).unwrap();
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
        let token = BootstrapToken::generate();
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
    fn invalid_extra_san_is_an_error() {
        let extra = ["bad\u{e9}name".to_owned()];
        let err = ClusterPki::generate(&request(&extra)).unwrap_err();
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
}
