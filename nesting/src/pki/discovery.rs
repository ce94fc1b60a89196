//! kubeadm's `discovery-token-ca-cert-hash`: the SHA-256 of the CA
//! certificate's SubjectPublicKeyInfo.

use sha2::{Digest as _, Sha256};
use yasna::{ASN1Error, ASN1ErrorKind, Tag};

use super::PkiError;

/// `sha256:<hex>` of the SubjectPublicKeyInfo of the first certificate in
/// `ca_cert_pem`: the value kubeadm expects in `discovery-token-ca-cert-hash`.
pub fn discovery_hash(ca_cert_pem: &str) -> Result<String, PkiError> {
    let der = first_certificate(ca_cert_pem)?;
    let spki = subject_public_key_info(&der)?;
    let hex: String = Sha256::digest(spki)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

/// The DER of the first `CERTIFICATE` block of a PEM text.
fn first_certificate(text: &str) -> Result<Vec<u8>, PkiError> {
    let blocks = pem::parse_many(text).map_err(|_| PkiError::InvalidPem("malformed PEM"))?;
    blocks
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .ok_or(PkiError::InvalidPem("no CERTIFICATE block"))
}

/// The DER of the SubjectPublicKeyInfo of an X.509 certificate (RFC 5280,
/// 4.1): the seventh field of the tbsCertificate, counting the optional
/// version.
fn subject_public_key_info(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    yasna::parse_der(der, |cert| {
        cert.read_sequence(|cert| {
            let spki = cert.next().read_sequence(|tbs| {
                tbs.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                // serial number, signature algorithm, issuer, validity, subject
                for _ in 0..5 {
                    tbs.next().read_der()?;
                }
                let spki = tbs.next().read_der()?;
                // issuerUniqueID, subjectUniqueID, extensions
                while tbs.read_optional(|r| r.read_der())?.is_some() {}
                Ok(spki)
            })?;
            // signature algorithm, signature
            cert.next().read_der()?;
            cert.next().read_der()?;
            Ok(spki)
        })
    })
    .map_err(|e: ASN1Error| {
        PkiError::InvalidCertificate(match e.kind() {
            ASN1ErrorKind::Eof => "truncated DER",
            ASN1ErrorKind::Extra => "trailing data after the certificate",
            _ => "not an X.509 certificate",
        })
    })
}
