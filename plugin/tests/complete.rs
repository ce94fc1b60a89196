//! kubectl's plugin completion: `__complete` and the
//! `kubectl_complete-inception` script kubectl 1.26+ runs.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-inception");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/kubectl_complete-inception");

/// No kubeconfig anywhere: what needs no cluster must not wait for one.
fn no_cluster(cmd: &mut Command, home: &Path) -> Output {
    cmd.env_remove("KUBECONFIG")
        .env("HOME", home)
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn candidates(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect()
}

#[test]
fn hidden_complete_gives_verbs_and_flags_in_cobra_format() {
    let home = tempfile::tempdir().unwrap();
    let verbs = lines(&no_cluster(
        Command::new(BIN).args(["__complete", "d"]),
        home.path(),
    ));
    assert_eq!(
        candidates(&verbs),
        ["down", "disconnect", "doctor", ":4"],
        "{verbs:?}"
    );
    assert!(verbs[0].starts_with("down\t"), "{verbs:?}");
    let flags = lines(&no_cluster(
        Command::new(BIN).args(["__complete", "up", "--d"]),
        home.path(),
    ));
    let got = candidates(&flags);
    for f in ["--depth", "--dry-run", "--dns", ":4"] {
        assert!(got.contains(&f), "{f} in {got:?}");
    }
    assert!(
        got.iter().all(|c| c.starts_with("--d") || *c == ":4"),
        "{got:?}"
    );
    // Not in the help.
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("__complete"));
}

#[test]
fn a_path_without_a_cluster_is_only_the_directive() {
    let home = tempfile::tempdir().unwrap();
    let out = lines(&no_cluster(
        Command::new(BIN).args(["__complete", "down", ""]),
        home.path(),
    ));
    assert_eq!(out, [":4"]);
}

#[test]
fn the_script_runs_the_binary_next_to_it_or_on_path() {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(SCRIPT).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "kubectl runs it: it must be executable"
    );
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BIN, bin.path().join("kubectl-inception")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // With bash, and as kubectl runs it.
    let by_bash = lines(&no_cluster(
        Command::new("bash")
            .args([SCRIPT, "up", "--de"])
            .env("PATH", &path),
        home.path(),
    ));
    assert_eq!(candidates(&by_bash), ["--depth", ":4"], "{by_bash:?}");
    let direct = lines(&no_cluster(
        Command::new(SCRIPT)
            .args(["completion", ""])
            .env("PATH", &path),
        home.path(),
    ));
    assert!(direct.contains(&"bash".to_string()), "{direct:?}");
    assert_eq!(direct.last().map(String::as_str), Some(":4"));
    // A copy next to the binary needs nothing on PATH.
    std::fs::copy(SCRIPT, bin.path().join("kubectl_complete-inception")).unwrap();
    let beside = lines(&no_cluster(
        Command::new(bin.path().join("kubectl_complete-inception"))
            .args(["connect", "lab", "--", ""])
            .env("PATH", "/usr/bin:/bin"),
        home.path(),
    ));
    assert_eq!(beside, [":0"], "file names after --");
}
