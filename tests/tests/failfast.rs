//! `up` stops within seconds, naming the cause, when its node Pods cannot
//! come up by waiting: an image no node has and none can pull, a node Pod
//! no node can take, and Pods the parent's admission refuses.

use std::time::{Duration, Instant};

use inception_tests::Lab;

#[test]
fn a_missing_image_stops_up_in_seconds() {
    let lab = Lab::with_node();
    lab.ok(&["down", "failfast"]);
    let version = lab.fact("LAB_K8S_VERSION");
    let start = Instant::now();
    let err = lab.fails(&[
        "up",
        "failfast",
        "--workers",
        "0",
        "--kubernetes-version",
        version,
        "--image",
        "localhost/kubectl-inception/no-such-node:v0.0.1",
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
        "--timeout",
        "5m",
    ]);
    let took = start.elapsed();
    eprintln!("up stopped after {took:?}");
    assert!(
        err.contains("cannot get its image localhost/kubectl-inception/no-such-node:v0.0.1")
            && err.contains("--image"),
        "{err}"
    );
    // Not a speed measure: that `up` stopped on the cause instead of
    // waiting out its 5-minute --timeout.
    assert!(
        took < Duration::from_secs(60),
        "up waited {took:?} for an image that cannot come"
    );
    lab.ok(&["down", "failfast"]);
}

/// A node Pod that asks for more than any node has: unschedulable, said
/// with the scheduler's reason.
#[test]
fn an_unschedulable_node_pod_stops_up_in_seconds() {
    let lab = Lab::with_node();
    lab.ok(&["down", "failfast-cpu"]);
    let start = Instant::now();
    let o = lab.run(&[
        "up",
        "failfast-cpu",
        "--workers",
        "0",
        "--kubernetes-version",
        lab.fact("LAB_K8S_VERSION"),
        "--image",
        &format!(
            "localhost/kubectl-inception/node:{}",
            lab.fact("LAB_K8S_VERSION")
        ),
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
        "--node-cpu",
        "500",
        "--timeout",
        "5m",
    ]);
    let took = start.elapsed();
    eprintln!("up stopped after {took:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "up should fail: {err}");
    assert!(
        err.contains("cannot be scheduled") && err.contains("Insufficient cpu"),
        "{err}"
    );
    assert!(err.contains("--node-cpu"), "says what to change: {err}");
    assert!(
        took < Duration::from_secs(60),
        "up waited {took:?} for a Pod no node can take"
    );
    lab.ok(&["down", "failfast-cpu"]);
}

/// Admission refuses every Pod of the StatefulSet (FailedCreate): here the
/// RuntimeClass admission plugin, for a class the lab does not have. (The
/// lab's 1.20 has no Pod Security admission to refuse privileged Pods.)
#[test]
fn pods_refused_by_admission_stop_up_in_seconds() {
    let lab = Lab::with_node();
    lab.ok(&["down", "failfast-rc"]);
    let start = Instant::now();
    let o = lab.run(&[
        "up",
        "failfast-rc",
        "--workers",
        "0",
        "--kubernetes-version",
        lab.fact("LAB_K8S_VERSION"),
        "--image",
        &format!(
            "localhost/kubectl-inception/node:{}",
            lab.fact("LAB_K8S_VERSION")
        ),
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
        "--runtime-class",
        "no-such-runtime",
        "--timeout",
        "5m",
    ]);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "up should fail: {err}");
    assert!(
        err.contains("cannot create its Pods")
            && err.contains("RuntimeClass \"no-such-runtime\" not found")
            && err.contains("kubectl get runtimeclass"),
        "{err}"
    );
    eprintln!("up stopped after {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "up waited {took:?} for Pods admission refuses"
    );
    lab.ok(&["down", "failfast-rc"]);
}
