//! Where node Pods keep their state: a claim each (etcd, `/etc/kubernetes`,
//! kubelet, containerd, the cluster's local volumes), so a deleted or
//! evicted node Pod comes back as the same node; or emptyDirs, lost with
//! the Pod.

use crate::Error;
use crate::manifests::StateClaim;

/// The claims of every level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStorage {
    /// The class of the top level's claims, in the cluster `up` runs
    /// against (`--storage-class`, else its default class); `None`:
    /// emptyDirs at the top level.
    pub top_class: Option<String>,
    /// Claims at nested levels too, from the default class every
    /// cluster of the tree has ([`crate::storage::CLASS`]).
    pub nested: bool,
    /// What each claim asks for (`--node-storage`).
    pub size: String,
}

impl Default for NodeStorage {
    /// No class known at the top, claims below it.
    fn default() -> Self {
        NodeStorage {
            top_class: None,
            nested: true,
            size: "10Gi".into(),
        }
    }
}

impl NodeStorage {
    /// emptyDirs at every level (`--ephemeral`).
    pub fn ephemeral() -> Self {
        NodeStorage {
            top_class: None,
            nested: false,
            ..NodeStorage::default()
        }
    }

    /// The claim of a node Pod at the top level or below it.
    pub fn claim(&self, nested: bool) -> Option<StateClaim<'_>> {
        let class = if nested {
            self.nested.then_some(crate::storage::CLASS)
        } else {
            self.top_class.as_deref()
        }?;
        Some(StateClaim {
            class,
            size: &self.size,
        })
    }

    pub fn validate(&self) -> Result<(), Error> {
        super::requests::check(
            "--node-storage",
            &self.size,
            &["Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T", ""],
        )?;
        if let Some(c) = &self.top_class {
            let ok = !c.is_empty()
                && c.len() <= 253
                && c.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                        && !part.starts_with('-')
                        && !part.ends_with('-')
                });
            if !ok {
                return Err(Error::BadStorageClass(c.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_per_level() {
        let s = NodeStorage {
            top_class: Some("gp3".into()),
            ..NodeStorage::default()
        };
        assert_eq!(s.claim(false).unwrap().class, "gp3");
        assert_eq!(s.claim(true).unwrap().class, crate::storage::CLASS);
        assert_eq!(s.claim(true).unwrap().size, "10Gi");
        let none_at_top = NodeStorage::default();
        assert_eq!(none_at_top.claim(false), None);
        assert!(none_at_top.claim(true).is_some());
        let e = NodeStorage::ephemeral();
        assert_eq!((e.claim(false), e.claim(true)), (None, None));
    }

    #[test]
    fn bad_sizes_and_classes_are_refused() {
        NodeStorage::default().validate().unwrap();
        let size = NodeStorage {
            size: "10GB".into(),
            ..NodeStorage::default()
        };
        assert!(
            size.validate()
                .unwrap_err()
                .to_string()
                .contains("--node-storage")
        );
        for bad in ["Fast", "-x", "a..b", "with space"] {
            let s = NodeStorage {
                top_class: Some(bad.into()),
                ..NodeStorage::default()
            };
            let e = s.validate().unwrap_err().to_string();
            assert!(
                e.contains("--storage-class") && e.contains(bad),
                "{bad}: {e}"
            );
        }
    }
}
