//! The release: the krew manifest and its template, the archive
//! scripts/krew-package builds and an install from it done the way krew does
//! it, the release workflow and the node image's Dockerfile.

#[path = "krew/dockerfile.rs"]
mod dockerfile;
#[path = "krew/install.rs"]
mod install;
#[path = "krew/manifest.rs"]
mod manifest;
#[path = "krew/rules.rs"]
mod rules;
#[path = "krew/workflow.rs"]
mod workflow;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

/// The release tag of this version.
pub fn tag() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The versions images/node/versions lists, in its order.
pub fn node_versions() -> Vec<String> {
    read("images/node/versions")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The four platforms of a release: (target triple, krew os, krew arch).
pub const TARGETS: [(&str, &str, &str); 4] = [
    ("x86_64-unknown-linux-musl", "linux", "amd64"),
    ("aarch64-unknown-linux-musl", "linux", "arm64"),
    ("x86_64-apple-darwin", "darwin", "amd64"),
    ("aarch64-apple-darwin", "darwin", "arm64"),
];
