//! images/node/Dockerfile, checked as far as it can be without docker: the
//! files it copies, the build arguments it uses, its entrypoint and default
//! version.

use crate::{node_versions, read, root};
use std::collections::BTreeSet;

/// The instructions, continuation lines joined, comments left out.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur += part;
                cur.push(' ');
            }
            None => {
                cur += t;
                let (op, rest) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
                out.push((op.to_ascii_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    assert!(
        cur.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    out
}

/// Upper-case variables referenced as `$NAME` or `${NAME...}`.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let body = rest.strip_prefix('{').unwrap_or(rest);
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            out.insert(name);
        }
    }
    out
}

/// The names a `NAME=value ...` or `NAME` list declares.
fn declared(rest: &str) -> Vec<String> {
    rest.split_whitespace()
        .filter_map(|w| w.split('=').next())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(String::from)
        .collect()
}

#[test]
fn the_node_dockerfile_is_consistent() {
    let text = read("images/node/Dockerfile");
    let mut global: BTreeSet<String> = BTreeSet::new();
    let mut stage: Option<BTreeSet<String>> = None;
    let mut stages: Vec<String> = Vec::new();
    let mut copied: Vec<(String, String)> = Vec::new();
    let mut entrypoint = None;
    let mut kube_default = None;
    for (op, rest) in instructions(&text) {
        let known = stage.as_ref().unwrap_or(&global).clone();
        let mut allowed = if op == "FROM" { global.clone() } else { known };
        if op == "RUN" {
            // Variables the RUN sets itself (export X=..., X=...).
            allowed.extend(rest.split([';', ' ']).filter_map(|w| {
                let (n, _) = w.split_once('=')?;
                Some(n.to_string())
            }));
        }
        for name in references(&rest) {
            assert!(
                allowed.contains(&name),
                "{op} {rest}: ${name} is not a declared ARG or ENV here"
            );
        }
        match op.as_str() {
            "ARG" => {
                if rest.starts_with("KUBERNETES_VERSION=") {
                    kube_default = rest.split_once('=').map(|(_, v)| v.to_string());
                }
                let target = stage.as_mut().unwrap_or(&mut global);
                target.extend(declared(&rest));
            }
            "ENV" => stage
                .as_mut()
                .expect("ENV after FROM")
                .extend(declared(&rest)),
            "FROM" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if let [_, as_, name] = words[..] {
                    assert!(as_.eq_ignore_ascii_case("as"), "FROM {rest}");
                    stages.push(name.to_string());
                }
                stage = Some(BTreeSet::new());
            }
            "COPY" | "ADD" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let from = words.iter().find_map(|w| w.strip_prefix("--from="));
                let paths: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let (dest, sources) = paths.split_last().expect("COPY SRC... DEST");
                assert!(!sources.is_empty(), "COPY {rest}");
                match from {
                    Some(st) => assert!(
                        stages.iter().any(|s| s == st),
                        "COPY --from={st}: no such stage"
                    ),
                    None => {
                        for s in sources {
                            assert!(root().join(s).exists(), "COPY {s}: not in the repository");
                            copied.push((s.to_string(), dest.to_string()));
                        }
                    }
                }
            }
            "ENTRYPOINT" => {
                let exec: Vec<String> =
                    serde_json::from_str(&rest).expect("ENTRYPOINT in exec form");
                entrypoint = exec.first().cloned();
            }
            _ => {}
        }
    }
    // The entrypoint is a script of this repository copied to that path.
    let entry = entrypoint.expect("an ENTRYPOINT");
    let (src, _) = copied
        .iter()
        .find(|(_, dest)| *dest == entry)
        .unwrap_or_else(|| {
            panic!("ENTRYPOINT {entry} is not a file the Dockerfile copies: {copied:?}")
        });
    assert!(read(src).starts_with("#!"), "{src} has no #! line");
    // A bare `docker build` makes the newest published version.
    let newest = node_versions().pop().unwrap();
    assert_eq!(
        kube_default.as_deref(),
        Some(newest.as_str()),
        "KUBERNETES_VERSION default"
    );
}

#[test]
fn the_checks_find_what_they_look_for() {
    let refs = references("a ${KUBERNETES_VERSION%.*} $PAUSE_IMAGE ${minor} $t");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["KUBERNETES_VERSION", "PAUSE_IMAGE"]
    );
    let ins = instructions("# c\nFROM x AS y\nRUN a \\\n  b\n");
    assert_eq!(ins[1], ("RUN".to_string(), "a  b".to_string()));
    assert_eq!(declared("A=1 B=\"x\""), ["A", "B"]);
}
