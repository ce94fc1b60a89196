use super::*;

fn spec(depth: u32, width: u32) -> TreeSpec {
    TreeSpec {
        name: "lab".into(),
        depth,
        width,
        workers: 1,
    }
}

#[test]
fn paths_are_breadth_first() {
    let p: Vec<String> = spec(3, 2).paths().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        p,
        [
            "lab", "lab/0", "lab/1", "lab/0/0", "lab/0/1", "lab/1/0", "lab/1/1"
        ]
    );
    assert_eq!(spec(3, 2).cluster_count(), 7);
    assert_eq!(spec(1, 5).paths().len(), 1);
}

#[test]
fn path_round_trip_and_forms() {
    let p: ClusterPath = "lab/0/12".parse().unwrap();
    assert_eq!(p.depth(), 3);
    assert_eq!(p.dashed(), "lab-0-12");
    assert_eq!(p.dotted(), "lab.0.12");
    assert_eq!(p.to_string(), "lab/0/12");
    assert_eq!(p.parent().unwrap().to_string(), "lab/0");
    assert!(p.is_within(&"lab/0".parse().unwrap()));
    assert!(!p.is_within(&"lab/1".parse().unwrap()));
    assert!(ClusterPath::root("lab").parent().is_none());
}

#[test]
fn bad_paths_say_why() {
    for bad in ["", "Lab", "lab/", "lab/x", "lab/+1", "lab//0", "-lab"] {
        assert!(bad.parse::<ClusterPath>().is_err(), "{bad}");
    }
}

#[test]
fn names_must_be_dns_labels() {
    assert!(validate_name("lab-1").is_ok());
    for bad in [
        "",
        "1lab",
        "lab_",
        "Lab",
        "lab-",
        "a.b",
        &"a".repeat(MAX_NAME_LEN + 1),
    ] {
        let err = validate_name(bad).unwrap_err().to_string();
        assert!(err.contains("name"), "{err}");
    }
}

#[test]
fn shape_bounds() {
    assert!(
        spec(0, 1)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--depth 0")
    );
    assert!(spec(9, 1).validate().is_err());
    assert!(
        spec(2, 0)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--width 0")
    );
    assert!(
        spec(8, 16)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("clusters")
    );
    assert!(spec(8, 2).validate().is_ok());
    let mut s = spec(1, 1);
    s.workers = 101;
    assert!(s.validate().is_err());
}
