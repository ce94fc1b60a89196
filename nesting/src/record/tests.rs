use super::*;
use crate::{PlanRequest, TreeSpec};

fn plan() -> Plan {
    let spec = TreeSpec {
        name: "lab".into(),
        depth: 3,
        width: 2,
        workers: 1,
    };
    Plan::new(&PlanRequest::new(spec, crate::Entropy::from_system())).unwrap()
}

#[test]
fn records_the_place_of_each_cluster() {
    let plan = plan();
    let mid = plan.find(&"lab/1".parse().unwrap()).unwrap();
    let r = plan.record(mid);
    assert_eq!(r.path, "lab/1");
    assert_eq!(r.depth, 2);
    assert_eq!(r.parent.as_deref(), Some("lab"));
    assert_eq!(r.children, ["lab/1/0", "lab/1/1"]);
    assert_eq!(r.pod_cidr, mid.networks.pod_cidr.to_string());
    assert_eq!(r.plan, plan.digest(mid));
    assert!(r.kubeconfig_secret.starts_with(&mid.namespace));
    let top = plan.record(plan.find(&"lab".parse().unwrap()).unwrap());
    assert_eq!(top.parent, None);
    let leaf = plan.record(plan.find(&"lab/0/1".parse().unwrap()).unwrap());
    assert!(leaf.children.is_empty());
}

#[test]
fn round_trips_through_its_config_map() {
    let plan = plan();
    for c in &plan.clusters {
        let r = plan.record(c);
        let cm = r.to_config_map().unwrap();
        assert_eq!(cm.metadata.namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(
            cm.metadata.labels.as_ref().unwrap()[labels::PATH],
            c.path.dotted()
        );
        assert_eq!(LevelRecord::from_config_map(&cm).unwrap(), Some(r));
    }
}

#[test]
fn a_foreign_config_map_is_an_error_or_nothing() {
    let empty = ConfigMap::default();
    assert_eq!(LevelRecord::from_config_map(&empty).unwrap(), None);
    let junk = ConfigMap {
        data: Some(BTreeMap::from([(
            KEY.to_string(),
            "- 1\n- 2\n".to_string(),
        )])),
        ..ConfigMap::default()
    };
    let err = LevelRecord::from_config_map(&junk).unwrap_err().to_string();
    assert!(err.contains("not a level record"), "{err}");
}
