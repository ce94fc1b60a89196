//! `doctor` against the labs: what passes, what fails and why, and that
//! the exit status follows the failures.

use std::time::{Duration, Instant};

use inception_tests::Lab;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

/// `doctor ARGS -o json`: the report, whether it exited 0, its stderr.
fn doctor(lab: &Lab, args: &[&str]) -> (Value, bool, String) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let o = lab.run(&all);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("doctor {args:?} printed no JSON report ({e}):\n{stderr}"));
    (report, o.status.success(), stderr)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"].as_str().unwrap()
}

fn text<'a>(report: &'a Value, name: &str, field: &str) -> &'a str {
    check(report, name)[field].as_str().unwrap_or_default()
}

/// The exit status and the error line follow the failing checks.
fn assert_exit_follows_failures(report: &Value, ok: bool, stderr: &str) {
    let fails = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .count();
    assert_eq!(report["problems"], json!(fails), "{report:#}");
    assert_eq!(ok, fails == 0, "exit status vs {fails} failures: {stderr}");
    if fails > 0 {
        let want = if fails == 1 {
            "doctor found 1 problem".to_string()
        } else {
            format!("doctor found {fails} problems")
        };
        assert!(stderr.contains(&want), "{stderr}");
    }
}

/// The doctor's own namespaces are gone once it has exited.
async fn assert_no_doctor_namespace(client: &Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    let lp = ListParams::default().labels("kubectl-inception.dev/doctor=true");
    let start = Instant::now();
    loop {
        let left: Vec<String> = api
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "doctor left namespaces: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_gone(api: &Api<Namespace>, name: &str) {
    let start = Instant::now();
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "namespace {name} not gone"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn api_lab_passes_rbac_and_cidrs_and_the_exit_status_follows_failures() {
    let lab = Lab::get();
    let (r, ok, stderr) = doctor(&lab, &["docok"]);
    for name in [
        "api",
        "rbac",
        "cidrs",
        "pod-security",
        "privileged-pods",
        "namespace",
    ] {
        assert_eq!(status(&r, name), "ok", "{name}: {r:#}");
    }
    assert!(
        text(&r, "api", "detail").contains(lab.fact("LAB_K8S_VERSION")),
        "{r:#}"
    );
    let service = lab.fact("LAB_SERVICE_CIDR");
    assert!(
        text(&r, "cidrs", "detail").contains(&format!("avoiding service CIDR {service}")),
        "{r:#}"
    );
    // No node in this lab: node Pods could never run.
    assert_eq!(status(&r, "nodes"), "fail", "{r:#}");
    assert!(text(&r, "nodes", "detail").contains("no nodes"), "{r:#}");
    // Nowhere to pull the node image: not tried, and said so.
    assert_eq!(status(&r, "image"), "warn", "{r:#}");
    assert!(text(&r, "image", "detail").contains("not tried"), "{r:#}");
    // No probe unless asked.
    assert!(r.get("probe").is_none(), "{r:#}");
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "cgroup"),
        "{r:#}"
    );
    assert_exit_follows_failures(&r, ok, &stderr);

    // The table says the same.
    let o = lab.run(&["doctor", "docok"]);
    assert!(!o.status.success());
    let table = String::from_utf8(o.stdout).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["CHECK", "STATUS", "DETAIL"], "{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(row("rbac"), "ok", "{table}");
    assert_eq!(row("nodes"), "fail", "{table}");
    assert!(table.contains("\nnodes: "), "the hint for nodes:\n{table}");
    assert!(!table.contains("BEGIN"), "no key material in the output");
    assert_no_doctor_namespace(&lab.client().await).await;
}

#[test]
fn a_tree_that_cannot_fit_fails_the_cidr_check() {
    let lab = Lab::get();
    // The pool is the lab's own service range: nothing fits.
    let service = lab.fact("LAB_SERVICE_CIDR");
    let (r, ok, stderr) = doctor(&lab, &["docfit", "--cidr-pool", service]);
    assert_eq!(status(&r, "cidrs"), "fail", "{r:#}");
    let detail = text(&r, "cidrs", "detail");
    assert!(detail.contains("holds 0 clusters"), "{detail}");
    assert!(
        detail.contains(&format!("overlaps service CIDR {service}")),
        "{detail}"
    );
    assert!(
        text(&r, "cidrs", "hint").contains("--cidr-pool 10.0.0.0/8"),
        "{r:#}"
    );
    // The other checks still ran, on a plan shaped the same.
    assert_eq!(status(&r, "rbac"), "ok", "{r:#}");
    assert_eq!(status(&r, "privileged-pods"), "ok", "{r:#}");
    assert!(!ok);
    assert_exit_follows_failures(&r, ok, &stderr);

    // Too deep for the pool: 7 clusters, room for 3.
    let (r, ok, stderr) = doctor(
        &lab,
        &[
            "docfit",
            "--depth",
            "3",
            "--width",
            "2",
            "--cidr-pool",
            "172.16.0.0/14",
        ],
    );
    assert_eq!(status(&r, "cidrs"), "fail", "{r:#}");
    let detail = text(&r, "cidrs", "detail");
    assert!(
        detail.contains("holds 3 clusters") && detail.contains("needs 7"),
        "{detail}"
    );
    assert!(!ok);
    assert_exit_follows_failures(&r, ok, &stderr);

    // The same depth in the default pool fits.
    let (r, _, _) = doctor(&lab, &["docfit", "--depth", "3", "--width", "2"]);
    assert_eq!(status(&r, "cidrs"), "ok", "{r:#}");
    assert!(
        text(&r, "cidrs", "detail").starts_with("7 clusters fit"),
        "{r:#}"
    );
}

#[tokio::test]
async fn existing_foreign_and_stuck_namespaces_are_reported() {
    let lab = Lab::get();
    let client = lab.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());

    // A namespace of someone else's, enforcing baseline.
    let foreign = "inception-docforeign";
    if namespaces.get_opt(foreign).await.unwrap().is_none() {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {
                "name": foreign,
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"}
            }
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let (r, ok, stderr) = doctor(&lab, &["docforeign"]);
    assert_eq!(status(&r, "namespace"), "fail", "{r:#}");
    assert!(
        text(&r, "namespace", "detail").contains("not made by kubectl-inception"),
        "{r:#}"
    );
    assert_eq!(status(&r, "pod-security"), "warn", "{r:#}");
    assert!(
        text(&r, "pod-security", "detail").contains("enforces baseline"),
        "{r:#}"
    );
    assert_exit_follows_failures(&r, ok, &stderr);
    namespaces
        .delete(foreign, &DeleteParams::default())
        .await
        .unwrap();

    // A namespace stuck Terminating on a finalizer.
    let stuck = "inception-docstuck";
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), stuck);
    let release = || async {
        let _ = cms
            .patch(
                "hold",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
    };
    release().await;
    wait_gone(&namespaces, stuck).await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": stuck}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "hold", "finalizers": ["kubectl-inception.dev/test-hold"]}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    namespaces
        .delete(stuck, &DeleteParams::default())
        .await
        .unwrap();
    let (r, ok, stderr) = doctor(&lab, &["docstuck"]);
    release().await;
    assert_eq!(status(&r, "namespace"), "fail", "{r:#}");
    assert!(
        text(&r, "namespace", "detail").contains("inception-docstuck is stuck Terminating"),
        "{r:#}"
    );
    assert!(
        text(&r, "namespace", "hint").contains("finalizers"),
        "{r:#}"
    );
    assert_exit_follows_failures(&r, ok, &stderr);
    wait_gone(&namespaces, stuck).await;
    wait_gone(&namespaces, foreign).await;
}

#[tokio::test]
async fn an_existing_tree_is_converged_unless_its_plan_differs() {
    let lab = Lab::get();
    lab.ok(&["down", "docup"]); // leftovers of an earlier run
    lab.ok(&["up", "docup", "--wait=false"]);
    let (r, _, _) = doctor(&lab, &["docup"]);
    assert_eq!(status(&r, "namespace"), "ok", "{r:#}");
    assert!(
        text(&r, "namespace", "detail").contains("up converges it"),
        "{r:#}"
    );
    assert_eq!(status(&r, "pod-security"), "ok", "{r:#}");
    // Other networks: up would refuse, and so does doctor.
    let (r, ok, stderr) = doctor(&lab, &["docup", "--pod-prefix", "17"]);
    assert_eq!(status(&r, "namespace"), "fail", "{r:#}");
    assert!(
        text(&r, "namespace", "hint").contains("kubectl inception down docup"),
        "{r:#}"
    );
    assert_exit_follows_failures(&r, ok, &stderr);
    lab.ok(&["down", "docup"]);
    assert_no_doctor_namespace(&lab.client().await).await;
}

fn host(cmd: &str) -> String {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd} failed");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// `doctor --probe` with the node image `image`.
fn probe(lab: &Lab, version: &str, image: &str) -> (Value, bool, String) {
    let args = [
        "docprobe",
        "--probe",
        "--kubernetes-version",
        version,
        "--image",
        image,
    ];
    doctor(lab, &args)
}

#[tokio::test]
async fn probe_reports_what_this_machine_has() {
    let lab = Lab::with_node();
    let version = lab.fact("LAB_K8S_VERSION").to_string();
    let image = format!("localhost/kubectl-inception/node:{version}");
    let (r, ok, stderr) = probe(&lab, &version, &image);
    assert_eq!(status(&r, "probe"), "ok", "{r:#}");
    assert_eq!(status(&r, "nodes"), "ok", "{r:#}");
    assert_eq!(
        text(&r, "image", "detail"),
        format!("node {} has {image}", lab.fact("LAB_NODE_NAME")),
        "{r:#}"
    );
    assert_eq!(status(&r, "privileged-pods"), "ok", "{r:#}");
    let facts = &r["probe"];
    assert_eq!(facts["node"], json!(lab.fact("LAB_NODE_NAME")), "{r:#}");

    // The same machine, seen from the host.
    let cgroup = host("stat -fc %T /sys/fs/cgroup");
    assert_eq!(facts["cgroupFs"], json!(cgroup), "{r:#}");
    let v = if cgroup == "cgroup2fs" { "v2" } else { "v1" };
    assert!(
        text(&r, "cgroup", "detail").starts_with(&format!("cgroup {v}")),
        "{r:#}"
    );
    let instances: u64 = host("cat /proc/sys/fs/inotify/max_user_instances")
        .parse()
        .unwrap();
    let watches: u64 = host("cat /proc/sys/fs/inotify/max_user_watches")
        .parse()
        .unwrap();
    assert_eq!(facts["inotifyMaxUserInstances"], json!(instances), "{r:#}");
    assert_eq!(facts["inotifyMaxUserWatches"], json!(watches), "{r:#}");
    let inotify = text(&r, "inotify", "detail");
    assert!(
        inotify.contains(&format!("max_user_instances {instances}"))
            && inotify.contains(&format!("max_user_watches {watches}")),
        "{inotify}"
    );
    let want = if instances < 512 || watches < 524_288 {
        "warn"
    } else {
        "ok"
    };
    assert_eq!(status(&r, "inotify"), want, "{r:#}");
    let kmsg = std::path::Path::new("/dev/kmsg").exists();
    assert_eq!(facts["kmsg"], json!(kmsg), "{r:#}");
    let modules = std::path::Path::new(&format!("/lib/modules/{}", host("uname -r"))).is_dir();
    assert_eq!(facts["modules"], json!(modules), "{r:#}");
    assert_exit_follows_failures(&r, ok, &stderr);
    assert_no_doctor_namespace(&lab.client().await).await;

    // An image the node does not have: the probe fails at once and says why.
    let start = Instant::now();
    let (r, ok, stderr) = probe(
        &lab,
        &version,
        "localhost/kubectl-inception/no-such-image:v0",
    );
    assert_eq!(status(&r, "probe"), "fail", "{r:#}");
    assert!(
        text(&r, "probe", "detail").contains("the node image is not there"),
        "{r:#}"
    );
    // The image check (run with or without --probe) names the image and why.
    assert_eq!(status(&r, "image"), "fail", "{r:#}");
    let detail = text(&r, "image", "detail");
    assert!(
        detail.contains("cannot get localhost/kubectl-inception/no-such-image:v0")
            && (detail.contains("ErrImagePull") || detail.contains("ImagePullBackOff")),
        "{r:#}"
    );
    assert!(text(&r, "probe", "hint").contains("--image"), "{r:#}");
    assert!(r.get("probe").is_none(), "{r:#}");
    assert!(!ok);
    assert_exit_follows_failures(&r, ok, &stderr);
    assert!(
        start.elapsed() < Duration::from_secs(100),
        "the probe waited {:?} for an image it could not get",
        start.elapsed()
    );
    assert_no_doctor_namespace(&lab.client().await).await;
}
