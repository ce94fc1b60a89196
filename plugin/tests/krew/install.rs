//! An archive built by scripts/krew-package from this build's binary, and an
//! install from it done the way krew does it: pick the platform, check the
//! sha256, extract, apply the `files` rules, run `bin`.

use crate::manifest::manifest;
use crate::rules::{installed_names, selects};
use crate::{root, tag, yaml};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs scripts/krew-package with `args` into `dist`, updating `manifest`.
fn package(args: &[&str], dist: &Path, manifest: &Path) -> String {
    let out = Command::new(root().join("scripts/krew-package"))
        .args(args)
        .arg("--dist")
        .arg(dist)
        .arg("--manifest")
        .arg(manifest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "krew-package {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn this_machine() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        arch => arch,
    };
    (os, arch)
}

#[test]
fn an_archive_of_this_build_installs_the_way_krew_does_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("inception.yaml");
    std::fs::copy(root().join("plugins/inception.yaml"), &manifest_path).unwrap();
    let dist = dir.path().join("dist");
    let bin = env!("CARGO_BIN_EXE_kubectl-inception");
    package(&["--binary", bin], &dist, &manifest_path);

    // krew picks the one platform whose selector matches this machine.
    let (os, arch) = this_machine();
    let written = std::fs::read_to_string(&manifest_path).unwrap();
    let m = yaml(&written, "the updated manifest");
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    let chosen: Vec<_> = platforms
        .iter()
        .filter(|p| selects(&p["selector"], os, arch))
        .collect();
    let [p] = chosen[..] else {
        panic!("{os}/{arch}: {} platforms match", chosen.len())
    };
    let uri = p["uri"].as_str().unwrap();
    let name = uri.rsplit('/').next().unwrap();
    assert_eq!(
        name,
        format!("kubectl-inception-{}-{os}-{arch}.tar.gz", tag())
    );
    let archive = dist.join(name);
    assert_eq!(
        p["sha256"].as_str().unwrap(),
        sha256_of(&archive),
        "the sum written is the archive's"
    );
    // Only that platform's sum changed.
    let committed = manifest();
    for (old, new) in committed["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .zip(platforms)
    {
        if new["uri"] != p["uri"] {
            assert_eq!(old, new);
        }
    }

    // Extract, then move each `from` to `to` in a fresh install directory.
    let extract = dir.path().join("extract");
    std::fs::create_dir(&extract).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&extract)
        .status()
        .unwrap();
    assert!(tar.success());
    let install = dir.path().join("store/inception").join(tag());
    std::fs::create_dir_all(&install).unwrap();
    for op in p["files"].as_array().unwrap() {
        let from = op["from"].as_str().unwrap();
        assert!(!from.contains(['*', '?', '[']), "no globs here: {from}");
        let src = extract.join(from);
        assert!(src.exists(), "files: {from} is not in the archive");
        let to = op["to"].as_str().unwrap();
        let dst: PathBuf = if to == "." || to.ends_with('/') {
            install.join(to).join(src.file_name().unwrap())
        } else {
            install.join(to)
        };
        std::fs::rename(&src, &dst).unwrap();
    }
    let mut left: Vec<_> = std::fs::read_dir(&extract)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "the archive holds files the manifest does not install: {left:?}"
    );
    assert_eq!(installed_names(p).len(), 3);
    let complete = install.join("kubectl_complete-inception");
    let mode = std::fs::metadata(&complete).unwrap().permissions().mode();
    assert!(
        mode & 0o111 != 0,
        "the completion script is not executable: {mode:o}"
    );

    let bin_path = install.join(p["bin"].as_str().unwrap());
    let mode = std::fs::metadata(&bin_path).unwrap().permissions().mode();
    assert!(
        mode & 0o111 != 0,
        "bin {} is not executable: {mode:o}",
        bin_path.display()
    );
    assert!(
        std::fs::read_to_string(install.join("LICENSE"))
            .unwrap()
            .contains("Apache License")
    );
    let out = Command::new(&bin_path).arg("--version").output().unwrap();
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
}

#[test]
fn archives_are_reproducible_and_named_after_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("inception.yaml");
    std::fs::copy(root().join("plugins/inception.yaml"), &manifest_path).unwrap();
    // A small executable stands for the binary: packing it twice, a second
    // apart, gives the same bytes.
    let fake = dir.path().join("kubectl-inception");
    std::fs::write(&fake, "#!/bin/sh\necho v0\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = fake.to_str().unwrap();
    let mut sums = Vec::new();
    for (i, (triple, os, arch)) in crate::TARGETS.iter().enumerate() {
        let dist = dir.path().join(format!("dist{i}"));
        let said = package(
            &["--target", triple, "--binary", fake],
            &dist,
            &manifest_path,
        );
        let name = format!("kubectl-inception-{}-{os}-{arch}.tar.gz", tag());
        let archive = dist.join(&name);
        assert!(said.contains(&name), "{said}");
        sums.push(sha256_of(&archive));
        if i == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let again = dir.path().join("again");
            package(
                &["--target", triple, "--binary", fake],
                &again,
                &manifest_path,
            );
            assert_eq!(
                sha256_of(&again.join(&name)),
                sums[0],
                "the archive is not reproducible"
            );
        }
    }
    let m = yaml(
        &std::fs::read_to_string(&manifest_path).unwrap(),
        "manifest",
    );
    for (p, sum) in m["spec"]["platforms"].as_array().unwrap().iter().zip(&sums) {
        assert_eq!(p["sha256"].as_str().unwrap(), sum, "{}", p["uri"]);
    }
    // Unknown targets are refused.
    let out = Command::new(root().join("scripts/krew-package"))
        .args(["--target", "x86_64-pc-windows-msvc", "--binary", fake])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported target"));
}
