use super::*;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PersistentVolumeStatus,
    VolumeResourceRequirements,
};

fn claim(node: Option<&str>, provisioner: &str, phase: &str) -> PersistentVolumeClaim {
    let mut annotations = BTreeMap::from([(
        "volume.beta.kubernetes.io/storage-provisioner".to_string(),
        provisioner.to_string(),
    )]);
    if let Some(n) = node {
        annotations.insert(SELECTED_NODE.into(), n.into());
    }
    PersistentVolumeClaim {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("data".into()),
            namespace: Some("web".into()),
            uid: Some("0f6c6d1e-2b7a-4c1d-9e55-1a2b3c4d5e6f".into()),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some(CLASS.into()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity("2Gi".into()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

#[test]
fn the_class_is_the_default_and_waits_for_a_consumer() {
    let c = storage_class();
    assert_eq!(c.metadata.name.as_deref(), Some(CLASS));
    assert_eq!(
        c.metadata.annotations.unwrap()[DEFAULT_CLASS],
        "true",
        "users' claims without a class must get this one"
    );
    assert_eq!(c.provisioner, PROVISIONER);
    assert_eq!(
        c.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );
    assert_eq!(c.reclaim_policy.as_deref(), Some("Delete"));
}

#[test]
fn a_claim_scheduled_here_gets_a_directory_on_this_node() {
    let pv = volume_for(
        &claim(Some("w1"), PROVISIONER, "Pending"),
        "w1",
        VOLUMES_DIR,
    )
    .unwrap();
    let name = "pvc-0f6c6d1e-2b7a-4c1d-9e55-1a2b3c4d5e6f";
    assert_eq!(pv.metadata.name.as_deref(), Some(name));
    assert_eq!(pv.metadata.labels.as_ref().unwrap()[NODE_LABEL], "w1");
    let spec = pv.spec.unwrap();
    assert_eq!(spec.capacity.unwrap()["storage"], Quantity("2Gi".into()));
    let hp = spec.host_path.unwrap();
    assert_eq!(hp.path, format!("{VOLUMES_DIR}/{name}"));
    let claim_ref = spec.claim_ref.unwrap();
    assert_eq!(
        (claim_ref.namespace.as_deref(), claim_ref.name.as_deref()),
        (Some("web"), Some("data"))
    );
    assert_eq!(
        claim_ref.uid.as_deref(),
        Some("0f6c6d1e-2b7a-4c1d-9e55-1a2b3c4d5e6f")
    );
    let terms = spec
        .node_affinity
        .unwrap()
        .required
        .unwrap()
        .node_selector_terms;
    let req = &terms[0].match_expressions.as_ref().unwrap()[0];
    assert_eq!(req.key, HOSTNAME);
    assert_eq!(req.values.as_deref(), Some(&["w1".to_string()][..]));
    assert_eq!(spec.storage_class_name.as_deref(), Some(CLASS));
    assert_eq!(spec.access_modes.unwrap(), ["ReadWriteOnce"]);
}

#[test]
fn other_nodes_other_provisioners_and_bound_claims_are_left_alone() {
    assert!(
        volume_for(
            &claim(Some("w1"), PROVISIONER, "Pending"),
            "w2",
            VOLUMES_DIR
        )
        .is_none()
    );
    assert!(volume_for(&claim(None, PROVISIONER, "Pending"), "w1", VOLUMES_DIR).is_none());
    assert!(
        volume_for(
            &claim(Some("w1"), "other.io/disk", "Pending"),
            "w1",
            VOLUMES_DIR
        )
        .is_none()
    );
    assert!(volume_for(&claim(Some("w1"), PROVISIONER, "Bound"), "w1", VOLUMES_DIR).is_none());
    let mut named = claim(Some("w1"), PROVISIONER, "Pending");
    named.spec.as_mut().unwrap().volume_name = Some("pvc-x".into());
    assert!(volume_for(&named, "w1", VOLUMES_DIR).is_none());
    let mut newer = claim(Some("w1"), "", "Pending");
    newer.metadata.annotations.as_mut().unwrap().insert(
        "volume.kubernetes.io/storage-provisioner".into(),
        PROVISIONER.into(),
    );
    assert!(
        volume_for(&newer, "w1", VOLUMES_DIR).is_some(),
        "the annotation's GA name counts too"
    );
}

#[test]
fn directories_never_leave_the_volumes_dir() {
    assert_eq!(
        volume_dir("pvc-ab-12", VOLUMES_DIR).as_deref(),
        Some("/var/lib/inception/volumes/pvc-ab-12")
    );
    assert_eq!(
        volume_dir("pvc-ab-12", "/srv/lab/volumes/").as_deref(),
        Some("/srv/lab/volumes/pvc-ab-12"),
        "another volumes directory (the lab's)"
    );
    for bad in ["pvc-", "pvc-../../etc", "data", "pvc-a/b", "pvc-zz"] {
        assert_eq!(volume_dir(bad, VOLUMES_DIR), None, "{bad}");
    }
}

#[test]
fn only_released_volumes_of_this_node_are_removed() {
    let mut pv = volume_for(
        &claim(Some("w1"), PROVISIONER, "Pending"),
        "w1",
        VOLUMES_DIR,
    )
    .unwrap();
    assert_eq!(released_dir(&pv, "w1", VOLUMES_DIR), None, "no status yet");
    let status = |phase: &str| {
        Some(PersistentVolumeStatus {
            phase: Some(phase.into()),
            ..Default::default()
        })
    };
    pv.status = status("Bound");
    assert_eq!(released_dir(&pv, "w1", VOLUMES_DIR), None);
    pv.status = status("Released");
    assert_eq!(
        released_dir(&pv, "w1", VOLUMES_DIR).as_deref(),
        Some("/var/lib/inception/volumes/pvc-0f6c6d1e-2b7a-4c1d-9e55-1a2b3c4d5e6f")
    );
    assert_eq!(released_dir(&pv, "w2", VOLUMES_DIR), None, "another node's");
    let mut going = pv.clone();
    going.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Default::default(),
    ));
    assert_eq!(
        released_dir(&going, "w1", VOLUMES_DIR),
        None,
        "deleted already"
    );
    let mut retained = pv.clone();
    retained
        .spec
        .as_mut()
        .unwrap()
        .persistent_volume_reclaim_policy = Some("Retain".into());
    assert_eq!(released_dir(&retained, "w1", VOLUMES_DIR), None);
    let mut foreign = pv.clone();
    foreign.metadata.annotations = None;
    assert_eq!(released_dir(&foreign, "w1", VOLUMES_DIR), None);
}

#[test]
fn every_node_may_provision() {
    let (role, binding) = storage_rbac();
    let rules = role.rules.unwrap();
    let pv = rules
        .iter()
        .find(|r| r.resources.as_deref() == Some(&["persistentvolumes".to_string()][..]))
        .unwrap();
    assert!(pv.verbs.iter().any(|v| v == "create") && pv.verbs.iter().any(|v| v == "delete"));
    assert_eq!(binding.subjects.unwrap()[0].name, "system:nodes");
    assert_eq!(binding.role_ref.name, ROLE);
}
