//! Removing what `connect` and `kubeconfig --merge` added for a cluster
//! from a user's kubeconfig: when they end, and by `disconnect PATH`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use nesting::ClusterPath;

use super::update;

/// The entries removed from a kubeconfig, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub contexts: Vec<String>,
    pub clusters: Vec<String>,
    pub users: Vec<String>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }
}

/// The `name`s of the entries of list `key` in a kubeconfig's text.
fn names(text: &str, key: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_saphyr::from_str(text).unwrap_or_default();
    doc[key]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the marked entries `connect` added for cluster `path` from a
/// kubeconfig's text: the new text (`None`: nothing to remove) and what
/// went. Contexts the user made, even named alike, stay.
pub fn remove_from_text(
    text: &str,
    path: &ClusterPath,
) -> Result<(Option<String>, Removed), nesting::Error> {
    let (new, contexts) = nesting::kubeconfig::remove_from_text(text, |m| m.path == *path)?;
    if contexts.is_empty() {
        return Ok((None, Removed::default()));
    }
    let gone = |key: &str| -> Vec<String> {
        let after = names(&new, key);
        names(text, key)
            .into_iter()
            .filter(|n| !after.contains(n))
            .collect()
    };
    let removed = Removed {
        clusters: gone("clusters"),
        users: gone("users"),
        contexts,
    };
    Ok((Some(new), removed))
}

/// Removes what was added for `path` from the kubeconfig `file`.
pub fn remove_from_file(file: &Path, path: &ClusterPath) -> Result<Removed> {
    update(file, |text| {
        remove_from_text(text, path).with_context(|| format!("cannot update {}", file.display()))
    })
}

/// Says what `remove_from_file` removed, or that there was nothing.
pub fn report(
    out: &mut (impl Write + ?Sized),
    file: &Path,
    path: &ClusterPath,
    removed: &Removed,
) -> Result<()> {
    if removed.is_empty() {
        writeln!(
            out,
            "nothing to remove: {} has no context added for cluster {path}",
            file.display()
        )?;
        return Ok(());
    }
    for (kind, names) in [
        ("context", &removed.contexts),
        ("cluster", &removed.clusters),
        ("user", &removed.users),
    ] {
        for name in names {
            writeln!(out, "{kind} {name} removed from {}", file.display())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nesting::kubeconfig::{Kubeconfig, merge_into_text};

    const USER: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod:6443\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: me\n- name: inception-lab-0\n  context:\n    cluster: prod\n    user: me\nusers:\n- name: me\n  user:\n    token: t\ncurrent-context: prod\n";

    fn added(name: &str) -> Kubeconfig {
        super::super::test_admin(name)
    }

    fn p(s: &str) -> ClusterPath {
        s.parse().unwrap()
    }

    /// USER with the contexts `connect` adds for lab and lab/0.
    fn connected(switch_to_lab: bool) -> String {
        let t = merge_into_text(
            USER,
            &added("inception-lab"),
            &p("lab"),
            "prod",
            switch_to_lab,
        )
        .unwrap();
        merge_into_text(&t, &added("inception-lab-0"), &p("lab/0"), "prod", false).unwrap()
    }

    #[test]
    fn only_the_entries_added_for_the_path_go() {
        let (new, removed) = remove_from_text(&connected(false), &p("lab")).unwrap();
        let new = new.unwrap();
        assert_eq!(removed.contexts, ["inception-lab"]);
        assert_eq!(removed.clusters, ["inception-lab"]);
        assert_eq!(removed.users, ["inception-lab"]);
        assert_eq!(names(&new, "contexts"), ["prod", "inception-lab-0"]);
        assert_eq!(names(&new, "clusters"), ["prod", "inception-lab-0"]);
        assert_eq!(names(&new, "users"), ["me", "inception-lab-0"]);
        let doc: serde_json::Value = serde_saphyr::from_str(&new).unwrap();
        assert_eq!(doc["current-context"], "prod");
    }

    #[test]
    fn a_context_the_user_made_with_the_same_look_stays() {
        // USER's own unmarked "inception-lab-0" context is not ours; the
        // marked one that `connect` wrote replaced it, and only that goes.
        let (new, removed) = remove_from_text(USER, &p("lab/0")).unwrap();
        assert_eq!((new, removed), (None, Removed::default()));
    }

    #[test]
    fn the_current_context_is_cleared_when_it_goes() {
        let (new, _) = remove_from_text(&connected(true), &p("lab")).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&new.unwrap()).unwrap();
        assert_eq!(doc["current-context"], "");
    }

    #[test]
    fn nothing_to_remove_is_said_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER).unwrap();
        let removed = remove_from_file(&file, &p("other")).unwrap();
        assert!(removed.is_empty());
        let mut out = Vec::new();
        report(&mut out, &file, &p("other"), &removed).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("nothing to remove:"), "{out}");
        assert!(out.contains("cluster other"), "{out}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), USER);
    }

    #[test]
    fn removal_from_a_file_keeps_it_private_and_says_what_went() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, connected(false)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let removed = remove_from_file(&file, &p("lab/0")).unwrap();
        let mut out = Vec::new();
        report(&mut out, &file, &p("lab/0"), &removed).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(
            out.starts_with("context inception-lab-0 removed from "),
            "{out}"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(names(&text, "contexts"), ["prod", "inception-lab"]);
    }
}
