//! `down --all` removes every tree: its own test binary, so it never races
//! the other lab tests (cargo runs test binaries one after another).

use inception_tests::Lab;

#[test]
fn down_all_removes_every_tree() {
    let lab = Lab::get();
    lab.ok(&["up", "alla", "--wait=false"]);
    lab.ok(&["up", "allb", "--wait=false", "-n", "sandbox-allb"]);
    let tree: serde_json::Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
    let paths: Vec<&str> = tree["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"alla") && paths.contains(&"allb"),
        "{paths:?}"
    );
    let out = lab.ok(&["down", "--all"]);
    assert!(
        out.contains("cluster alla deleted (namespace inception-alla)"),
        "{out}"
    );
    assert!(
        out.contains("cluster allb deleted (namespace sandbox-allb)"),
        "{out}"
    );
    let tree: serde_json::Value = serde_json::from_str(&lab.ok(&["tree", "-o", "json"])).unwrap();
    assert_eq!(tree["clusters"], serde_json::json!([]));
    assert!(lab.ok(&["down", "--all"]).contains("nothing to delete"));
    let err = lab.fails(&["down"]);
    assert!(err.contains("--all") || err.contains("PATH"), "{err}");
}
