use super::*;

fn p(s: &str) -> ClusterPath {
    s.parse().unwrap()
}

fn cluster_ns(path: &str) -> ListedNamespace {
    let cp = p(path);
    ListedNamespace {
        name: format!("inception-{}", cp.dashed()),
        labels: labels::cluster_labels(&cp),
        annotations: BTreeMap::from([(labels::PATH_ANNOTATION.into(), path.into())]),
        age_secs: Some(3600),
        ..ListedNamespace::default()
    }
}

fn smoke_ns(age: u64) -> ListedNamespace {
    ListedNamespace {
        name: smoke::NAMESPACE.into(),
        labels: BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
            ("app".into(), smoke::NAME.into()),
        ]),
        age_secs: Some(age),
        ..ListedNamespace::default()
    }
}

fn level(own: &[&str], current: bool, nss: Vec<ListedNamespace>) -> Level {
    Level {
        place: "ctx".into(),
        own: own.iter().map(|s| p(s)).collect(),
        current_context: current,
        namespaces: nss,
    }
}

fn removed(j: &Judged) -> Vec<&str> {
    j.findings
        .iter()
        .filter(|f| f.action == Action::Remove)
        .map(|f| f.name.as_str())
        .collect()
}

fn kept(j: &Judged) -> Vec<String> {
    j.kept.iter().map(|(_, p)| p.to_string()).collect()
}

#[test]
fn the_current_context_keeps_tops_and_what_hangs_below_them() {
    let j = judge(&level(
        &[],
        true,
        vec![
            cluster_ns("lab"),
            cluster_ns("lab/0"),
            cluster_ns("lab/0/1"),
            cluster_ns("t/0/0"),
            cluster_ns("u/1"),
        ],
    ));
    assert_eq!(removed(&j), ["inception-u-1", "inception-t-0-0"]);
    assert_eq!(kept(&j), ["lab", "lab/0", "lab/0/1"]);
    let f = &j.findings[1];
    assert_eq!(f.kind, Kind::Namespace);
    assert_eq!(f.place, "ctx");
    assert!(
        f.reason.contains("parent cluster t/0 is not found"),
        "{f:?}"
    );
}

#[test]
fn an_orphan_takes_its_children_here_with_it() {
    // u/0 is an orphan, so u/0/0 hangs below nothing in place.
    let j = judge(&level(
        &[],
        true,
        vec![cluster_ns("u/0/0"), cluster_ns("u/0")],
    ));
    assert_eq!(removed(&j), ["inception-u-0", "inception-u-0-0"]);
    assert!(j.kept.is_empty());
}

#[test]
fn inside_a_cluster_only_its_own_children_and_tops_belong() {
    let j = judge(&level(
        &["lab/0"],
        false,
        vec![
            cluster_ns("lab/0/0"),
            cluster_ns("lab/1/0"),
            cluster_ns("lab/0/0/0"),
            cluster_ns("other"),
        ],
    ));
    assert_eq!(removed(&j), ["inception-lab-1-0", "inception-lab-0-0-0"]);
    assert_eq!(kept(&j), ["other", "lab/0/0"]);
    assert!(
        j.findings[0]
            .reason
            .contains("belongs inside cluster lab/1, not lab/0"),
        "{:?}",
        j.findings[0]
    );
}

#[test]
fn a_cluster_known_by_two_paths_keeps_the_children_of_both() {
    // Reached as lab/0, recording itself as lab/9: inconsistent, so
    // nothing either path claims is collected.
    let j = judge(&level(
        &["lab/0", "lab/9"],
        false,
        vec![cluster_ns("lab/0/0"), cluster_ns("lab/9/0")],
    ));
    assert!(j.findings.is_empty(), "{:?}", j.findings);
}

#[test]
fn a_marked_current_context_is_the_parent_of_its_children() {
    let j = judge(&level(
        &["lab"],
        true,
        vec![
            cluster_ns("lab/0"),
            cluster_ns("lab/0/0"),
            cluster_ns("x/3"),
        ],
    ));
    assert_eq!(removed(&j), ["inception-x-3"]);
    assert_eq!(kept(&j), ["lab/0", "lab/0/0"]);
}

#[test]
fn the_path_label_is_enough() {
    let mut ns = cluster_ns("t/0/0");
    ns.annotations.clear();
    assert_eq!(ns.cluster_path(), Some(p("t/0/0")));
    let j = judge(&level(&[], true, vec![ns]));
    assert_eq!(removed(&j), ["inception-t-0-0"]);
}

#[test]
fn unmanaged_namespaces_are_never_touched() {
    let mut ns = cluster_ns("t/0/0");
    ns.labels.remove(labels::MANAGED_BY);
    let j = judge(&level(&[], true, vec![ns]));
    assert!(j.findings.is_empty() && j.kept.is_empty());
}

#[test]
fn old_smoke_namespaces_go_young_ones_stay() {
    let j = judge(&level(&["lab"], false, vec![smoke_ns(SMOKE_MAX_AGE_SECS)]));
    assert_eq!(removed(&j), [smoke::NAMESPACE]);
    assert!(j.findings[0].reason.contains("smoke test"));
    let j = judge(&level(&["lab"], false, vec![smoke_ns(30)]));
    assert!(j.findings.is_empty());
    let mut unknown_age = smoke_ns(0);
    unknown_age.age_secs = None;
    assert!(
        judge(&level(&[], true, vec![unknown_age]))
            .findings
            .is_empty()
    );
}

#[test]
fn terminating_namespaces_are_reported_when_stuck_never_removed() {
    let mut stuck = cluster_ns("t/0/0");
    stuck.deleting_secs = Some(STUCK_AFTER_SECS + 60);
    stuck.finalizers = vec!["kubernetes".into()];
    stuck.conditions =
        vec!["NamespaceContentRemaining: Some resources are remaining: pods. has 2".into()];
    let mut going = cluster_ns("lab");
    going.deleting_secs = Some(5);
    let mut smoke = smoke_ns(SMOKE_MAX_AGE_SECS * 2);
    smoke.deleting_secs = Some(10);
    let j = judge(&level(&[], true, vec![stuck, going, smoke]));
    assert_eq!(j.findings.len(), 1, "{:?}", j.findings);
    let f = &j.findings[0];
    assert_eq!(f.action, Action::Stuck);
    assert_eq!(f.name, "inception-t-0-0");
    assert!(f.reason.contains("terminating for 3m"), "{}", f.reason);
    assert!(f.reason.contains("finalizers: kubernetes"), "{}", f.reason);
    assert!(
        f.reason.contains("NamespaceContentRemaining"),
        "{}",
        f.reason
    );
    assert_eq!(
        f.line(true),
        format!("stuck  namespace inception-t-0-0 (ctx)  {}", f.reason)
    );
    // Both still count as existing clusters.
    assert_eq!(kept(&j), ["t/0/0", "lab"]);
}

#[test]
fn lines_say_what_was_done() {
    let f = Finding {
        action: Action::Remove,
        kind: Kind::Context,
        name: "inception-t-0".into(),
        place: "/home/u/.kube/config".into(),
        reason: "gone".into(),
    };
    assert_eq!(
        f.line(false),
        "would remove  context inception-t-0 (/home/u/.kube/config)  gone"
    );
    assert_eq!(
        f.line(true),
        "removed  context inception-t-0 (/home/u/.kube/config)  gone"
    );
}

#[test]
fn a_cluster_is_gone_only_when_its_place_was_seen() {
    let survey = Survey {
        live: ["lab", "lab/0", "lab/1"].into_iter().map(p).collect(),
        explored: ["lab"].into_iter().map(p).collect(),
    };
    assert!(!survey.is_gone(&p("lab/0")));
    // lab was looked inside: lab/2 is not there.
    assert!(survey.is_gone(&p("lab/2")));
    assert!(survey.is_gone(&p("lab/2/0")));
    // lab/0 could not be looked inside: its children may exist.
    assert!(!survey.is_gone(&p("lab/0/0")));
    assert!(!survey.is_gone(&p("lab/0/0/1")));
    // No cluster of tree ghost here.
    assert!(survey.is_gone(&p("ghost")));
    assert!(survey.is_gone(&p("ghost/0")));
}

#[test]
fn marked_contexts_are_read_and_the_stale_ones_found() {
    let text = r#"
apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: lab
  context: {cluster: lab, user: lab}
- name: inception-ghost-0
  context:
    cluster: inception-ghost-0
    user: inception-ghost-0
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/0, from: lab}
- name: inception-ghost-1
  context:
    cluster: inception-ghost-1
    user: inception-ghost-1
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/1, from: elsewhere}
- name: inception-old
  context:
    cluster: inception-old
    user: inception-old
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: ghost/2}
- name: inception-keep
  context:
    cluster: inception-keep
    user: inception-keep
    extensions:
    - name: kubectl-inception.dev/path
      extension: {path: keep, from: lab}
- name: other-ext
  context:
    cluster: x
    user: x
    extensions:
    - name: example.com/thing
      extension: {path: keep}
"#;
    let marked = marked_contexts(text).unwrap();
    let names: Vec<(&str, String)> = (marked.iter())
        .map(|(n, m)| (n.as_str(), m.path.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            ("inception-ghost-0", "ghost/0".into()),
            ("inception-ghost-1", "ghost/1".into()),
            ("inception-old", "ghost/2".into()),
            ("inception-keep", "keep".into()),
        ]
    );
    let survey = Survey {
        live: [p("keep")].into(),
        explored: BTreeSet::new(),
    };
    let f = stale_contexts(&marked, &survey, "/k", "lab");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].name, "inception-ghost-0");
    assert_eq!(f[0].kind, Kind::Context);
    assert!(f[0].reason.contains("cluster ghost/0 no longer exists"));
    assert!(marked_contexts("").unwrap().is_empty());
    assert!(marked_contexts("contexts: 3\n").unwrap().is_empty());
}
