use clap::CommandFactory;

use super::*;
use crate::cli::Cli;

fn want_of(words: &[&str]) -> Want {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    want(&Cli::command(), &words)
}

fn words(w: Want) -> Vec<String> {
    match w {
        Want::Words(w) => w.into_iter().map(|(w, _)| w).collect(),
        other => panic!("not words: {other:?}"),
    }
}

#[test]
fn verbs_without_the_hidden_one() {
    let v = words(want_of(&[""]));
    for verb in ["up", "tree", "down", "connect", "disconnect", "completion"] {
        assert!(v.contains(&verb.to_string()), "{verb} in {v:?}");
    }
    assert!(!v.iter().any(|w| w.starts_with("__")), "{v:?}");
    assert_eq!(words(want_of(&[])), v);
    // Flags before the verb do not hide it.
    assert_eq!(words(want_of(&["--context", "kind", ""])), v);
}

#[test]
fn verbs_have_their_description() {
    let Want::Words(v) = want_of(&["u"]) else {
        panic!()
    };
    let up = v.iter().find(|(w, _)| w == "up").unwrap();
    assert_eq!(up.1, "create a tree of nested clusters");
}

#[test]
fn flags_of_the_verb_and_the_global_ones() {
    let f = words(want_of(&["up", "--de"]));
    for flag in [
        "--depth",
        "--dry-run",
        "--kubeconfig",
        "--context",
        "--help",
    ] {
        assert!(f.contains(&flag.to_string()), "{flag} in {f:?}");
    }
    assert!(!f.contains(&"--plan".to_string()), "a flag of tree: {f:?}");
    let t = words(want_of(&["tree", "-"]));
    assert!(t.contains(&"--plan".to_string()));
    assert!(!t.contains(&"--depth".to_string()), "hidden in tree: {t:?}");
}

#[test]
fn flag_values_from_their_choices() {
    let v = words(want_of(&["up", "lab", "-o", ""]));
    assert_eq!(v, ["yaml", "json"]);
    let v = words(want_of(&["up", "--dns", "b"]));
    assert_eq!(v, ["builtin", "coredns"]);
    assert_eq!(
        words(want_of(&["completion", ""])),
        ["bash", "elvish", "fish", "powershell", "zsh"]
    );
    // A value given with = needs no next word.
    assert_eq!(
        want_of(&["tree", "--output=json", ""]),
        Want::Words(Vec::new())
    );
}

#[test]
fn files_where_files_go() {
    assert_eq!(want_of(&["--kubeconfig", ""]), Want::Files);
    assert_eq!(want_of(&["kubeconfig", "lab", "--write", ""]), Want::Files);
    assert_eq!(want_of(&["load", "lab", ""]), Want::Files);
    assert_eq!(want_of(&["load", "lab", "a.tar", ""]), Want::Files);
    assert_eq!(want_of(&["connect", "lab", "--", "k"]), Want::Files);
}

#[test]
fn cluster_paths_where_a_path_goes() {
    for w in [
        &["down", ""][..],
        &["connect", "lab/"],
        &["-n", "x", "kubeconfig", "--port", "7443", "l"],
        &["load", ""],
        &["disconnect", ""],
    ] {
        assert_eq!(want_of(w), Want::ClusterPath, "{w:?}");
    }
    // `up NAME` names a new tree: nothing to offer.
    assert_eq!(want_of(&["up", ""]), Want::Words(Vec::new()));
    assert_eq!(want_of(&["nosuchverb", ""]), Want::Words(Vec::new()));
}

#[tokio::test]
async fn without_a_cluster_only_the_directive_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        silent.local_addr().unwrap()
    );
    std::fs::write(&file, kc).unwrap();
    let global = Global {
        kubeconfig: Some(file.display().to_string()),
        ..Global::default()
    };
    let words = vec!["down".to_string(), String::new()];
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    complete(&Cli::command(), &global, &words, &mut out)
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(String::from_utf8(out).unwrap(), ":4\n");
}

#[tokio::test]
async fn the_output_is_filtered_by_what_is_typed() {
    let mut out = Vec::new();
    let words = vec!["up".to_string(), "--dr".to_string()];
    complete(&Cli::command(), &Global::default(), &words, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "--dry-run\tPrint every object of every level instead of creating them\n:4\n"
    );
}
