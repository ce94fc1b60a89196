//! What each node Pod requests from its parent, so node Pods are not
//! BestEffort (the first evicted) and the scheduler counts them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::Error;

/// CPU and memory requests of every node Pod, as Kubernetes quantities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRequests {
    pub cpu: String,
    pub memory: String,
}

impl Default for NodeRequests {
    /// About what an idle node of a level uses (see the README's benchmarks).
    fn default() -> Self {
        NodeRequests {
            cpu: "100m".into(),
            memory: "256Mi".into(),
        }
    }
}

impl NodeRequests {
    pub fn validate(&self) -> Result<(), Error> {
        check("--node-cpu", &self.cpu, &["m", ""])?;
        check(
            "--node-memory",
            &self.memory,
            &["Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T", ""],
        )
    }

    /// The node container's requests; no limits, so a busy level can use
    /// what its parent has free.
    pub fn resources(&self) -> ResourceRequirements {
        ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity(self.cpu.clone())),
                ("memory".to_string(), Quantity(self.memory.clone())),
            ])),
            ..ResourceRequirements::default()
        }
    }
}

/// A positive decimal number followed by one of `units`.
pub(super) fn check(flag: &'static str, value: &str, units: &[&str]) -> Result<(), Error> {
    let ok = units.iter().any(|u| {
        value.strip_suffix(u).is_some_and(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                && n.parse::<f64>().is_ok_and(|v| v > 0.0)
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::BadQuantity {
            flag,
            value: value.to_string(),
            units: units
                .iter()
                .filter(|u| !u.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_checked() {
        NodeRequests::default().validate().unwrap();
        for (cpu, mem) in [("0.5", "1Gi"), ("2", "512M"), ("250m", "1073741824")] {
            NodeRequests {
                cpu: cpu.into(),
                memory: mem.into(),
            }
            .validate()
            .unwrap();
        }
        for (cpu, mem, flag) in [
            ("-1", "1Gi", "--node-cpu"),
            ("1x", "1Gi", "--node-cpu"),
            ("0", "1Gi", "--node-cpu"),
            ("1", "1GB", "--node-memory"),
            ("1", "", "--node-memory"),
        ] {
            let e = NodeRequests {
                cpu: cpu.into(),
                memory: mem.into(),
            }
            .validate()
            .unwrap_err();
            assert!(e.to_string().contains(flag), "{cpu} {mem}: {e}");
        }
    }

    #[test]
    fn requests_without_limits() {
        let r = NodeRequests::default().resources();
        assert_eq!(r.requests.unwrap()["memory"], Quantity("256Mi".into()));
        assert_eq!(r.limits, None);
    }
}
