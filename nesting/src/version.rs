//! Kubernetes versions and the kubeadm config API each one expects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The oldest release the plans are written for (the local lab runs it).
pub const OLDEST: KubeVersion = KubeVersion::new(1, 20, 0);

/// Default release for new trees: the newest stable release that k8s-openapi
/// (0.29, feature `latest` = v1_37) knows about.
pub const DEFAULT: KubeVersion = KubeVersion::new(1, 37, 0);

/// The newest minor release the plans are written for: the one k8s-openapi
/// knows (its configs and APIs for later ones are unknown here).
pub const NEWEST_MINOR: u32 = DEFAULT.minor;

/// A Kubernetes release, `v1.MINOR.PATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// The `kubeadm.k8s.io` API version a release reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KubeadmApi {
    /// Up to 1.21 (removed in 1.26).
    V1beta2,
    /// From 1.22.
    V1beta3,
    /// From 1.31.
    V1beta4,
}

impl KubeadmApi {
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => "kubeadm.k8s.io/v1beta2",
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

impl KubeVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KubeVersion {
            major,
            minor,
            patch,
        }
    }

    /// The kubeadm config API this release expects.
    pub fn kubeadm_api(self) -> KubeadmApi {
        match self.minor {
            0..=21 => KubeadmApi::V1beta2,
            22..=30 => KubeadmApi::V1beta3,
            _ => KubeadmApi::V1beta4,
        }
    }

    /// True when this release is at least `1.minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self.minor >= minor
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for KubeVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadVersion {
            value: s.to_string(),
            reason: "expected a release like v1.33.2".to_string(),
        };
        let rest = s.strip_prefix('v').unwrap_or(s);
        let mut parts = rest.split('.');
        let mut next = || -> Result<u32, Error> {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4 {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = KubeVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        let refuse = |reason: String| Error::BadVersion {
            value: s.to_string(),
            reason,
        };
        let range = format!("v1.{}.0 to v1.{}.x", OLDEST.minor, NEWEST_MINOR);
        if v.major != 1 {
            return Err(refuse(format!(
                "Kubernetes releases are v1.x; supported are {range}"
            )));
        }
        if v < OLDEST {
            return Err(refuse(format!(
                "the oldest supported release is {OLDEST} (supported: {range})"
            )));
        }
        if v.minor > NEWEST_MINOR {
            return Err(refuse(format!(
                "the newest release this kubectl-inception knows is v1.{NEWEST_MINOR}: use a newer kubectl-inception for it (supported: {range})"
            )));
        }
        Ok(v)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
