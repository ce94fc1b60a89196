//! plugins/inception.yaml passes krew's index rules, and is the rendering of
//! the krew-release-bot template .krew.yaml.

use crate::rules::*;
use crate::{TARGETS, read, root, tag, yaml};
use serde_json::Value;

const MANIFEST: &str = "plugins/inception.yaml";

pub fn manifest() -> Value {
    yaml(&read(MANIFEST), MANIFEST)
}

#[test]
fn the_manifest_passes_krews_index_rules() {
    let m = manifest();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    let name = m["metadata"]["name"].as_str().unwrap();
    assert!(safe_plugin_name(name), "plugin name {name:?}");
    assert_eq!(name, "inception");
    // krew-index stores it as plugins/<name>.yaml, and checks that name.
    assert_eq!(MANIFEST, format!("plugins/{name}.yaml"));
    let version = m["spec"]["version"].as_str().unwrap();
    assert!(semver_with_v(version), "spec.version {version:?}");
    assert_eq!(version, tag(), "spec.version is the crate version with a v");
    let short = m["spec"]["shortDescription"].as_str().unwrap();
    assert!(!short.is_empty() && !short.contains(['\r', '\n']));
    assert!(short.len() <= 50 && !short.ends_with('.'), "{short:?}");
    assert!(m["spec"]["description"].as_str().unwrap().len() > short.len());
    let homepage = m["spec"]["homepage"].as_str().unwrap();
    assert!(homepage.starts_with("https://"), "{homepage}");
    let caveats = m["spec"]["caveats"].as_str().unwrap();
    for word in [nesting::plan::IMAGE_REPOSITORY, "--image", "--images-dir"] {
        assert!(
            caveats.contains(word),
            "caveats must name {word}: {caveats}"
        );
    }

    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    for p in platforms {
        let bad = platform_problems(p);
        assert!(bad.is_empty(), "platform {p}: {bad:?}");
        let names = installed_names(p);
        let bin = p["bin"].as_str().unwrap();
        assert!(
            names.iter().any(|n| n == bin),
            "bin {bin} is not among the files {names:?}"
        );
        assert!(
            names.iter().any(|n| n == "LICENSE"),
            "krew-index wants the LICENSE shipped: {names:?}"
        );
    }
    // Each machine krew runs on gets at most one platform, and ours exactly one.
    for (os, arch) in KREW_PLATFORMS {
        let chosen: Vec<&Value> = platforms
            .iter()
            .filter(|p| selects(&p["selector"], os, arch))
            .collect();
        let ours = TARGETS.iter().any(|t| (t.1, t.2) == (os, arch));
        assert_eq!(
            chosen.len(),
            usize::from(ours),
            "{os}/{arch} is selected by {chosen:?}"
        );
        if let [p] = chosen[..] {
            let uri = p["uri"].as_str().unwrap();
            let want = format!(
                "{homepage}/releases/download/{version}/kubectl-inception-{version}-{os}-{arch}.tar.gz"
            );
            assert_eq!(uri, want, "{os}/{arch}");
            assert_eq!(p["bin"], "kubectl-inception");
        }
    }
    assert!(read("LICENSE").contains("Apache License"));
}

/// krew-release-bot's rendering: `{{ .TagName }}` is the tag, and each
/// `{{ addURIAndSha "URL" .TagName }}` line becomes `uri: URL` and
/// `sha256: SUM` at four spaces; the sum here is the given one.
fn render(template: &str, tag: &str, sum: &str) -> String {
    let mut out = String::new();
    for line in template.lines().skip_while(|l| l.starts_with('#')) {
        let t = line.trim_start();
        if let Some(call) = t.strip_prefix("{{ addURIAndSha \"") {
            let (url, rest) = call.split_once('"').expect("addURIAndSha \"URL\"");
            assert_eq!(
                rest, " .TagName }}",
                "addURIAndSha takes the URL and .TagName: {line}"
            );
            assert_eq!(
                line.len() - t.len(),
                4,
                "the bot writes sha256 at four spaces, so addURIAndSha sits there: {line}"
            );
            let url = url.replace("{{ .TagName }}", tag);
            out += &format!("    uri: {url}\n    sha256: {sum}\n");
        } else {
            out += &line.replace("{{ .TagName }}", tag);
            out.push('\n');
        }
    }
    assert!(
        !out.contains("{{"),
        "an action the bot would not render is left:\n{out}"
    );
    out
}

fn without_sums(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once("sha256: ") {
            Some((indent, _)) => format!("{indent}sha256: SUM"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_template_renders_to_the_committed_manifest_but_for_the_sums() {
    let template = read(".krew.yaml");
    let rendered = render(&template, &tag(), "SUM");
    let committed = read(MANIFEST);
    assert_eq!(
        rendered,
        without_sums(&committed) + "\n",
        ".krew.yaml and {MANIFEST} differ: run scripts/krew-render --keep"
    );
    // A rendering for another tag is a valid manifest for that tag.
    let other = yaml(
        &render(&template, "v9.8.7", &"a".repeat(64)),
        "the rendered template",
    );
    assert_eq!(other["spec"]["version"], "v9.8.7");
    for p in other["spec"]["platforms"].as_array().unwrap() {
        assert!(platform_problems(p).is_empty(), "{p}");
        assert!(
            p["uri"]
                .as_str()
                .unwrap()
                .contains("/v9.8.7/kubectl-inception-v9.8.7-")
        );
    }
}

#[test]
fn krew_render_writes_the_committed_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("inception.yaml");
    std::fs::copy(root().join(MANIFEST), &out).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(root().join("scripts/krew-render"))
            .args(args)
            .args([
                "--out",
                out.to_str().unwrap(),
                "--dist",
                dir.path().to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    // Without archives it refuses, naming what is missing.
    let refused = run(&[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("darwin-arm64.tar.gz") && err.contains("krew-package"),
        "{err}"
    );
    // With --keep it keeps the sums it has: the committed file again.
    let kept = run(&["--keep"]);
    assert!(
        kept.status.success(),
        "{}",
        String::from_utf8_lossy(&kept.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), read(MANIFEST));
}
