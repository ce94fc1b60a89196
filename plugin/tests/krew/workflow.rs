//! .github/workflows/release.yml: its jobs, matrices and the files it names,
//! and images/node/versions, which its node-images matrix reads.

use crate::{TARGETS, node_versions, read, root, yaml};
use nesting::version::KubeVersion;
use serde_json::Value;

fn workflow() -> Value {
    yaml(&read(".github/workflows/release.yml"), "release.yml")
}

/// The step of `job` that uses the action `action` (without its version).
fn uses<'a>(job: &'a Value, action: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.split('@').next() == Some(action))
        })
        .unwrap_or_else(|| panic!("no step uses {action}"))
}

fn runs(job: &Value) -> String {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_workflow_has_the_release_jobs() {
    let w = workflow();
    let on = &w["on"];
    assert_eq!(on["push"]["tags"], serde_json::json!(["v*"]), "on: {on}");
    assert!(on.get("workflow_dispatch").is_some(), "on: {on}");
    let jobs = &w["jobs"];

    // Node images: each version of images/node/versions, both arches, one name.
    let images = &jobs["node-images"];
    assert!(images["needs"].to_string().contains("versions"));
    assert_eq!(
        images["strategy"]["matrix"]["version"],
        "${{ fromJSON(needs.versions.outputs.list) }}"
    );
    assert_eq!(images["permissions"]["packages"], "write");
    let build = &uses(images, "docker/build-push-action")["with"];
    assert_eq!(build["context"], ".");
    assert_eq!(build["file"], "images/node/Dockerfile");
    assert_eq!(build["platforms"], "linux/amd64,linux/arm64");
    assert_eq!(
        build["build-args"],
        "KUBERNETES_VERSION=${{ matrix.version }}"
    );
    assert_eq!(build["push"], true);
    assert_eq!(
        build["tags"].as_str().unwrap(),
        format!(
            "{}:${{{{ matrix.version }}}}",
            nesting::plan::IMAGE_REPOSITORY
        )
    );
    uses(images, "docker/setup-buildx-action");
    uses(images, "docker/setup-qemu-action");
    assert_eq!(
        uses(images, "docker/login-action")["with"]["registry"],
        "ghcr.io"
    );

    // Binaries: exactly the four targets, packed by krew-package.
    let bins = &jobs["binaries"];
    let mut targets: Vec<&str> = bins["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target"].as_str().unwrap())
        .collect();
    targets.sort();
    let mut want: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
    want.sort();
    assert_eq!(targets, want);
    assert!(runs(bins).contains("scripts/krew-package --target ${{ matrix.target }}"));
    assert_eq!(
        uses(bins, "actions/upload-artifact")["with"]["path"],
        "dist/*.tar.gz"
    );

    // The manifest: rendered with the sums, on the release, sent to krew-index.
    let krew = &jobs["krew"];
    let needs = krew["needs"].to_string();
    assert!(
        needs.contains("binaries") && needs.contains("node-images"),
        "{needs}"
    );
    assert_eq!(krew["permissions"]["contents"], "write");
    let run = runs(krew);
    assert!(
        run.contains("scripts/krew-render --tag \"$GITHUB_REF_NAME\" --dist dist"),
        "{run}"
    );
    assert!(
        run.contains("plugins/inception.yaml") && run.contains("dist/*.tar.gz"),
        "{run}"
    );
    let bot = uses(krew, "rajatjindal/krew-release-bot");
    assert!(bot["if"].as_str().unwrap().contains("refs/tags/v"));
}

/// Every string in the workflow, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn every_file_the_workflow_names_exists() {
    let mut all = Vec::new();
    strings(&workflow(), &mut all);
    let mut named = Vec::new();
    for s in &all {
        for word in s.split(|c: char| c.is_whitespace() || "\"'(),=".contains(c)) {
            let word = word.trim_end_matches([';', ':']);
            let repo_path = [
                "scripts/",
                "images/",
                "plugins/",
                ".krew.yaml",
                "LICENSE",
                "Cargo",
            ]
            .iter()
            .any(|p| word.starts_with(p));
            if repo_path && !word.contains(['*', '$', '{']) {
                named.push(word.to_string());
            }
        }
    }
    for must in [
        "scripts/krew-package",
        "scripts/krew-render",
        "images/node/versions",
        "images/node/Dockerfile",
    ] {
        assert!(
            named.iter().any(|n| n == must),
            "the workflow does not name {must}: {named:?}"
        );
    }
    for n in &named {
        assert!(
            root().join(n).exists(),
            "release.yml names {n}, which is not in the repository"
        );
    }
    // The bot reads .krew.yaml at the root.
    assert!(root().join(".krew.yaml").is_file());
}

#[test]
fn the_versions_job_reads_the_versions_file() {
    // Run the job's script as the runner would, and read its output.
    let w = workflow();
    let script = runs(&w["jobs"]["versions"]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let status = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root())
        .env("GITHUB_OUTPUT", &output)
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::fs::read_to_string(&output).unwrap();
    let list = out.trim().strip_prefix("list=").expect("list=JSON");
    let list: Vec<String> = serde_json::from_str(list).unwrap();
    assert_eq!(list, node_versions());
}

#[test]
fn the_versions_file_lists_one_patch_per_minor_up_to_the_default() {
    let versions = node_versions();
    assert!(versions.len() >= 3, "{versions:?}");
    let parsed: Vec<KubeVersion> = versions
        .iter()
        .map(|v| {
            assert!(
                v.starts_with('v') && v.matches('.').count() == 2,
                "{v}: write vMAJOR.MINOR.PATCH"
            );
            v.parse().unwrap_or_else(|e| panic!("{v}: {e}"))
        })
        .collect();
    for pair in parsed.windows(2) {
        assert_eq!(
            pair[1].minor,
            pair[0].minor + 1,
            "one version per minor, in order: {versions:?}"
        );
    }
    // The default cluster's default image is one the workflow publishes.
    assert_eq!(*parsed.last().unwrap(), nesting::version::DEFAULT);
    assert_eq!(
        nesting::plan::default_image(nesting::version::DEFAULT),
        format!(
            "ghcr.io/kubectl-inception/node:{}",
            versions.last().unwrap()
        )
    );
}
