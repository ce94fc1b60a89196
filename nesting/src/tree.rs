//! The shape of a tree of nested clusters and the paths users type.
//!
//! The root cluster is named by the user (`lab`) and lives at depth 1 inside
//! the current cluster. Its children are numbered from 0: `lab/0`, `lab/1`;
//! their children `lab/0/0`, and so on. Depth is the number of path parts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::ShapeError;

/// Deepest tree accepted.
pub const MAX_DEPTH: u32 = 8;
/// Most children per cluster.
pub const MAX_WIDTH: u32 = 16;
/// Most clusters in one tree.
pub const MAX_CLUSTERS: usize = 512;
/// Most worker pods per cluster.
pub const MAX_WORKERS: u32 = 100;
/// Longest tree name: the namespace `inception-<path>` must stay a DNS label.
pub const MAX_NAME_LEN: usize = 24;

/// Where a cluster sits in its tree: the tree name, then child indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterPath {
    pub tree: String,
    pub indexes: Vec<u32>,
}

impl ClusterPath {
    pub fn root(tree: &str) -> Self {
        ClusterPath {
            tree: tree.to_string(),
            indexes: Vec::new(),
        }
    }

    pub fn child(&self, index: u32) -> Self {
        let mut indexes = self.indexes.clone();
        indexes.push(index);
        ClusterPath {
            tree: self.tree.clone(),
            indexes,
        }
    }

    pub fn parent(&self) -> Option<Self> {
        let mut indexes = self.indexes.clone();
        indexes.pop()?;
        Some(ClusterPath {
            tree: self.tree.clone(),
            indexes,
        })
    }

    /// 1 for the root.
    pub fn depth(&self) -> u32 {
        self.indexes.len() as u32 + 1
    }

    /// True when `self` is `other` or below it.
    pub fn is_within(&self, other: &ClusterPath) -> bool {
        self.tree == other.tree && self.indexes.starts_with(&other.indexes)
    }

    /// `lab-0-1`: usable in DNS labels.
    pub fn dashed(&self) -> String {
        self.join('-')
    }

    /// `lab.0.1`: usable as a label value.
    pub fn dotted(&self) -> String {
        self.join('.')
    }

    fn join(&self, sep: char) -> String {
        let mut s = self.tree.clone();
        for i in &self.indexes {
            s.push(sep);
            s.push_str(&i.to_string());
        }
        s
    }
}

impl fmt::Display for ClusterPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join('/'))
    }
}

impl FromStr for ClusterPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts = s.split('/');
        let tree = parts.next().unwrap_or_default();
        validate_name(tree)?;
        let mut indexes = Vec::new();
        for p in parts {
            let i = p
                .parse::<u32>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| Error::BadPath {
                    value: s.to_string(),
                    reason: format!("{p:?} is not a child number (paths look like lab/0/1)"),
                })?;
            indexes.push(i);
        }
        Ok(ClusterPath {
            tree: tree.to_string(),
            indexes,
        })
    }
}

impl Serialize for ClusterPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClusterPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a tree name: a DNS-1123 label short enough for every derived name.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::BadName {
        value: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(&format!("it is longer than {MAX_NAME_LEN} characters")));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("use only lowercase letters, digits and '-'"));
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return Err(bad("it must start with a lowercase letter"));
    }
    if name.ends_with('-') {
        return Err(bad("it must end with a letter or digit"));
    }
    Ok(())
}

/// The requested shape of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSpec {
    pub name: String,
    pub depth: u32,
    pub width: u32,
    pub workers: u32,
}

impl TreeSpec {
    pub fn validate(&self) -> Result<(), Error> {
        validate_name(&self.name)?;
        let range = |flag: &'static str, value: u32, min: u32, max: u32| {
            if value < min || value > max {
                Err(ShapeError::OutOfRange {
                    flag,
                    value,
                    min,
                    max,
                })
            } else {
                Ok(())
            }
        };
        range("--depth", self.depth, 1, MAX_DEPTH)?;
        range("--width", self.width, 1, MAX_WIDTH)?;
        range("--workers", self.workers, 0, MAX_WORKERS)?;
        let clusters = self.cluster_count();
        if clusters > MAX_CLUSTERS as u64 {
            return Err(ShapeError::TooManyClusters {
                depth: self.depth,
                width: self.width,
                clusters,
                max: MAX_CLUSTERS,
            }
            .into());
        }
        Ok(())
    }

    /// 1 + w + w^2 + ... + w^(depth-1), saturating.
    pub fn cluster_count(&self) -> u64 {
        let mut total: u64 = 0;
        let mut level: u64 = 1;
        for _ in 0..self.depth {
            total = total.saturating_add(level);
            level = level.saturating_mul(u64::from(self.width));
        }
        total
    }

    /// Every path of the tree, level by level (breadth first), children in order.
    pub fn paths(&self) -> Vec<ClusterPath> {
        let mut out = vec![ClusterPath::root(&self.name)];
        let mut start = 0;
        for _ in 1..self.depth {
            let end = out.len();
            for i in start..end {
                for c in 0..self.width {
                    let child = out[i].child(c);
                    out.push(child);
                }
            }
            start = end;
        }
        out
    }
}

#[cfg(test)]
mod tests;
