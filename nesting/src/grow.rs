//! Growing a tree that exists: the ranges its clusters keep, the clusters a
//! smaller request would leave out, and the clusters a request would change.
//!
//! `up` finds what exists of a tree (each cluster's path and the plan digest
//! on its namespace), then plans around it: a deeper or wider tree adds
//! clusters and keeps every existing one as it is; a smaller one is refused,
//! since `up` never removes clusters; a cluster this run would plan
//! differently is refused before anything is written.

use std::collections::BTreeMap;

use crate::cidr::Kept;
use crate::error::ShapeError;
use crate::plan::PlanDigest;
use crate::{ClusterPath, Error, Plan, PlanRequest, TreeSpec};

/// What exists of one tree: each cluster found, with the plan digest
/// recorded on its namespace (`None` when it has none).
pub type Found = BTreeMap<ClusterPath, Option<String>>;

impl TreeSpec {
    /// True when `path` is a cluster of this tree.
    pub fn holds(&self, path: &ClusterPath) -> bool {
        path.tree == self.name
            && path.depth() <= self.depth
            && path.indexes.iter().all(|&i| i < self.width)
    }
}

/// The topmost clusters of `found` that `spec` does not hold, sorted:
/// removing them, and so everything below them, leaves a tree it holds.
pub fn beyond<'a>(
    spec: &TreeSpec,
    found: impl IntoIterator<Item = &'a ClusterPath>,
) -> Vec<ClusterPath> {
    let mut out: Vec<ClusterPath> = found
        .into_iter()
        .filter(|p| !spec.holds(p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    // Sorted, a path comes right after the ones it is within.
    let mut top: Vec<ClusterPath> = Vec::new();
    for p in out {
        if !top.iter().any(|t| p.is_within(t)) {
            top.push(p);
        }
    }
    top
}

impl PlanDigest {
    /// The ranges the cluster holds.
    pub fn kept(&self) -> Kept {
        Kept {
            pod_cidr: self.pod_cidr,
            service_cidr: self.service_cidr,
        }
    }
}

/// Plans `req` around the clusters `found`: refuses a tree that would
/// leave some of them out, keeps their ranges where they fit the request
/// (see [`crate::cidr`]), and refuses a plan that differs for any of them.
pub fn plan_around(req: &PlanRequest, found: &Found) -> Result<Plan, Error> {
    let outside = beyond(&req.tree, found.keys());
    if !outside.is_empty() {
        return Err(ShapeError::Shrinks {
            tree: req.tree.name.clone(),
            depth: req.tree.depth,
            width: req.tree.width,
            outside,
        }
        .into());
    }
    let mut req = req.clone();
    req.kept = found
        .iter()
        .filter_map(|(path, digest)| {
            let digest: PlanDigest = digest.as_deref()?.parse().ok()?;
            Some((path.clone(), digest.kept()))
        })
        .collect();
    let plan = Plan::new(&req)?;
    for (path, have) in found {
        let (Some(have), Some(c)) = (have, plan.find(path)) else {
            continue;
        };
        let want = plan.digest(c);
        if *have != want {
            return Err(Error::DifferentPlan {
                path: path.clone(),
                have: have.clone(),
                want,
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
