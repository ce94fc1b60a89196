//! A paused cluster: its node Pods scaled to zero, its state kept on their
//! claims. The control plane's StatefulSet carries how many workers to
//! bring back.

use std::collections::BTreeMap;

/// On the control plane's StatefulSet of a paused cluster: its workers
/// before the pause.
pub const PAUSED_ANNOTATION: &str = "kubectl-inception.dev/paused-workers";

/// The workers to bring back, if the annotations say the cluster is paused.
pub fn paused_workers(annotations: Option<&BTreeMap<String, String>>) -> Option<u32> {
    annotations?.get(PAUSED_ANNOTATION)?.parse().ok()
}

/// What `resume` scales to: the control plane, then the workers.
pub fn resume_replicas(workers: u32) -> [(&'static str, u32); 2] {
    [
        (crate::manifests::CONTROL_PLANE, 1),
        (crate::manifests::WORKERS, workers),
    ]
}

/// What `pause` scales to zero: the workers first, then the control plane.
pub const PAUSE_ORDER: [&str; 2] = [crate::manifests::WORKERS, crate::manifests::CONTROL_PLANE];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_is_read_from_the_annotation() {
        let a = BTreeMap::from([(PAUSED_ANNOTATION.to_string(), "2".to_string())]);
        assert_eq!(paused_workers(Some(&a)), Some(2));
        assert_eq!(paused_workers(None), None);
        let bad = BTreeMap::from([(PAUSED_ANNOTATION.to_string(), "x".to_string())]);
        assert_eq!(paused_workers(Some(&bad)), None);
        assert_eq!(resume_replicas(2)[1], ("workers", 2));
        assert_eq!(PAUSE_ORDER[1], "control-plane");
    }
}
