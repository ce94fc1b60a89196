//! Keys and certificates as kubeadm makes them.

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SanType, SerialNumber,
};

use super::PkiError;

/// Certificate parameters with a random serial, the given subject and
/// validity (both as durations since the Unix epoch), and key identifiers.
pub(super) fn base_params(
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

pub(super) fn new_key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Key { what, source })
}

/// A self-signed CA, like kubeadm's: CA:true, keyCertSign, digitalSignature,
/// keyEncipherment.
pub(super) fn new_ca(
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
pub(super) struct Leaf<'a> {
    pub(super) what: &'static str,
    pub(super) common_name: &'static str,
    pub(super) organization: Option<&'static str>,
    pub(super) usage: ExtendedKeyUsagePurpose,
    pub(super) sans: Vec<SanType>,
    pub(super) issuer: &'a CertifiedIssuer<'static, KeyPair>,
    /// Secret data keys of the certificate and the private key.
    pub(super) files: (&'static str, &'static str),
}

impl Leaf<'_> {
    /// Returns the certificate PEM and the private key PEM.
    pub(super) fn sign(
        self,
        not_before: Duration,
        not_after: Duration,
    ) -> Result<(String, String), PkiError> {
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
