//! What `certs PATH` shows: each certificate of a cluster's PKI with its
//! expiry, and the bootstrap token's. Never a key or a token's secret.

use std::time::SystemTime;

use serde::Serialize;

use crate::pki::token::rfc3339;
use crate::pki::{CertExpiry, days_left};

/// One certificate, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertRow {
    /// Its Secret data key, e.g. `admin.crt`.
    pub name: String,
    pub subject: String,
    /// RFC 3339.
    pub not_after: String,
    pub days_left: i64,
    /// Under 30 days left (or expired).
    pub expiring: bool,
}

/// The bootstrap token, as shown: its public id and expiry only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    pub id: String,
    /// RFC 3339; `None` when it never expires.
    pub expiration: Option<String>,
    /// Whether the cluster has a Secret for it.
    pub found: bool,
}

/// Everything `certs` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertsReport {
    pub path: String,
    pub certificates: Vec<CertRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenRow>,
}

/// The rows of `certs`, in Secret key order.
pub fn rows(certs: &[CertExpiry], now: SystemTime) -> Vec<CertRow> {
    certs
        .iter()
        .map(|c| CertRow {
            name: c.file.clone(),
            subject: c.common_name.clone(),
            not_after: rfc3339(c.not_after).unwrap_or_else(|_| "before 1970".into()),
            days_left: days_left(c.not_after, now),
            expiring: c.expiring(now),
        })
        .collect()
}

/// The report as a table, one line per certificate, then the token.
pub fn table(report: &CertsReport) -> String {
    let width = |f: fn(&CertRow) -> usize, title: &str| {
        report
            .certificates
            .iter()
            .map(f)
            .chain([title.len()])
            .max()
            .unwrap_or_default()
    };
    let (n, s) = (
        width(|r| r.name.len(), "CERTIFICATE"),
        width(|r| r.subject.len(), "SUBJECT"),
    );
    let mut out = format!(
        "{:<n$}  {:<s$}  {:<20}  DAYS LEFT\n",
        "CERTIFICATE", "SUBJECT", "NOT AFTER"
    );
    for r in &report.certificates {
        let mark = match (r.expiring, r.days_left < 0) {
            (_, true) => "  EXPIRED",
            (true, false) => "  under 30 days",
            _ => "",
        };
        out.push_str(&format!(
            "{:<n$}  {:<s$}  {:<20}  {}{mark}\n",
            r.name, r.subject, r.not_after, r.days_left
        ));
    }
    if let Some(t) = &report.token {
        let line = match (t.found, &t.expiration) {
            (false, _) => "not in the cluster (expired and cleaned up?)".to_owned(),
            (true, None) => "never expires".to_owned(),
            (true, Some(e)) => format!("expires {e}"),
        };
        out.push_str(&format!("bootstrap token {}: {line}\n", t.id));
    }
    out
}

#[cfg(test)]
mod tests;
