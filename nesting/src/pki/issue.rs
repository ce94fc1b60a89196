//! Keys and certificates as kubeadm makes them.

use std::net::IpAddr;
use std::time::Duration;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
    SanType, SerialNumber, SignatureAlgorithm, SigningKey,
};

use super::PkiError;
use crate::Entropy;

/// An ECDSA P-256 key made from entropy. It signs deterministically
/// (RFC 6979), so the same key and message give the same signature.
pub(super) struct EcKey {
    key: p256::ecdsa::SigningKey,
    /// The uncompressed public point, as X.509 carries it.
    public: Vec<u8>,
}

impl EcKey {
    /// The key named `what`, from `entropy`.
    pub(super) fn generate(what: &'static str, entropy: &Entropy) -> Result<Self, PkiError> {
        let mut rng = entropy.derive(&format!("{what} key")).rng();
        // A 32-byte draw is a valid scalar but for odds of about 2^-32.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            rng.fill(&mut bytes);
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                let public = key
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                return Ok(EcKey { key, public });
            }
        }
        Err(PkiError::Key {
            what,
            reason: "no valid P-256 scalar drawn".into(),
        })
    }

    /// The key named `what` from its PKCS#8 PEM.
    pub(super) fn from_pem(what: &'static str, pem: &str) -> Result<Self, PkiError> {
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| PkiError::Key {
            what,
            reason: e.to_string(),
        })?;
        let public = key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        Ok(EcKey { key, public })
    }

    /// The private key as PKCS#8 PEM.
    pub(super) fn private_pem(&self, what: &'static str) -> Result<String, PkiError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| PkiError::Key {
                what,
                reason: e.to_string(),
            })
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub(super) fn public_pem(&self, what: &'static str) -> Result<String, PkiError> {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| PkiError::Key {
                what,
                reason: e.to_string(),
            })
    }
}

impl PublicKeyData for EcKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for EcKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let signature: p256::ecdsa::Signature = self.key.sign(msg);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// Certificate parameters with a random serial from `entropy`, the given
/// subject and validity (both as durations since the Unix epoch), and key
/// identifiers.
fn base_params(
    common_name: &str,
    organization: Option<&str>,
    (not_before, not_after): (Duration, Duration),
    entropy: &Entropy,
) -> CertificateParams {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let mut params = CertificateParams::default();
    params.not_before = epoch + not_before;
    params.not_after = epoch + not_after;
    params.serial_number = Some(random_serial(entropy));
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
fn random_serial(entropy: &Entropy) -> SerialNumber {
    let mut bytes = [0u8; 16];
    entropy.rng().fill(&mut bytes);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// A self-signed CA, like kubeadm's: CA:true, keyCertSign, digitalSignature,
/// keyEncipherment.
pub(super) fn new_ca(
    what: &'static str,
    common_name: &str,
    validity: (Duration, Duration),
    entropy: &Entropy,
) -> Result<CertifiedIssuer<'static, EcKey>, PkiError> {
    let key = EcKey::generate(what, entropy)?;
    let mut params = base_params(common_name, None, validity, &entropy.derive(what));
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
pub(super) struct Leaf<'a> {
    pub(super) what: &'static str,
    pub(super) common_name: &'static str,
    pub(super) organization: Option<&'static str>,
    pub(super) usage: ExtendedKeyUsagePurpose,
    pub(super) sans: Vec<SanType>,
    pub(super) issuer: &'a Issuer<'static, EcKey>,
    /// Secret data keys of the certificate and the private key.
    pub(super) files: (&'static str, &'static str),
}

impl Leaf<'_> {
    /// Returns the certificate PEM and the private key PEM.
    pub(super) fn sign(
        self,
        validity: (Duration, Duration),
        entropy: &Entropy,
    ) -> Result<(String, String), PkiError> {
        let what = self.what;
        let key = EcKey::generate(what, entropy)?;
        let mut params = base_params(
            self.common_name,
            self.organization,
            validity,
            &entropy.derive(what),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![self.usage];
        params.subject_alt_names = self.sans;
        let cert = params
            .signed_by(&key, self.issuer)
            .map_err(|source| PkiError::Certificate { what, source })?;
        Ok((cert.pem(), key.private_pem(what)?))
    }
}

pub(super) fn to_san_type(san: &str) -> Result<SanType, PkiError> {
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
