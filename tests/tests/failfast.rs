//! `up` stops within seconds, naming the cause, when its node Pods cannot
//! come up by waiting: an image no node has and none can pull, a node Pod
//! no node can take, and Pods the parent's admission refuses.

use std::time::{Duration, Instant};

use inception_tests::Lab;

/// `up NAME --workers 0 ... EXTRA --timeout 5m` on the lab with a node,
/// which must fail: its stderr. Not a speed measure: it checks that `up`
/// stopped on the cause instead of waiting out its 5-minute --timeout.
fn up_fails(name: &str, extra: &[&str]) -> String {
    let lab = Lab::with_node();
    lab.ok(&["down", name]);
    let version = lab.fact("LAB_K8S_VERSION");
    let image = format!("localhost/kubectl-inception/node:{version}");
    let mut args = vec![
        "up",
        name,
        "--workers",
        "0",
        "--kubernetes-version",
        version,
        "--images-dir",
        lab.fact("LAB_IMAGES_DIR"),
    ];
    if !extra.contains(&"--image") {
        args.extend_from_slice(&["--image", &image]);
    }
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--timeout", "5m"]);
    let start = Instant::now();
    let o = lab.run(&args);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    eprintln!("up {extra:?} stopped after {took:?}");
    assert!(!o.status.success(), "up {extra:?} should fail: {err}");
    assert!(
        took < Duration::from_secs(60),
        "up {extra:?} waited {took:?} for what cannot come: {err}"
    );
    lab.ok(&["down", name]);
    err
}

#[test]
fn a_missing_image_stops_up_in_seconds() {
    let err = up_fails(
        "failfast",
        &["--image", "localhost/kubectl-inception/no-such-node:v0.0.1"],
    );
    assert!(
        err.contains("cannot get its image localhost/kubectl-inception/no-such-node:v0.0.1")
            && err.contains("--image"),
        "{err}"
    );
}

/// A node Pod that asks for more than any node has: unschedulable, said
/// with the scheduler's reason.
#[test]
fn an_unschedulable_node_pod_stops_up_in_seconds() {
    let err = up_fails("failfast-cpu", &["--node-cpu", "500"]);
    assert!(
        err.contains("cannot be scheduled") && err.contains("Insufficient cpu"),
        "{err}"
    );
    assert!(err.contains("--node-cpu"), "says what to change: {err}");
}

/// Admission refuses every Pod of the StatefulSet (FailedCreate): here the
/// RuntimeClass admission plugin, for a class the lab does not have. (The
/// lab's 1.20 has no Pod Security admission to refuse privileged Pods.)
#[test]
fn pods_refused_by_admission_stop_up_in_seconds() {
    let err = up_fails("failfast-rc", &["--runtime-class", "no-such-runtime"]);
    assert!(
        err.contains("cannot create its Pods")
            && err.contains("RuntimeClass \"no-such-runtime\" not found")
            && err.contains("kubectl get runtimeclass"),
        "{err}"
    );
}
