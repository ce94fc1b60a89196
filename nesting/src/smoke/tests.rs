use super::*;

#[test]
fn objects_have_explicit_protocols_and_match() {
    let d = daemon_set("img");
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].ports.as_ref().unwrap()[0]
            .protocol
            .as_deref(),
        Some("TCP")
    );
    let s = service();
    let spec = s.spec.as_ref().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        spec.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
    let sel = spec.selector.as_ref().unwrap();
    let labels = d
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert!(sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
}

#[test]
fn answers_name_their_pod_and_names_follow_the_dns_spec() {
    let r = format!("HTTP/1.0 200 OK\r\n\r\n{BODY} from web-x7k2p\n");
    assert_eq!(answered_by(&r), Some("web-x7k2p"));
    assert_eq!(answered_by(&format!("{BODY}\n")), None);
    let v4 = pod_dns_name("10.1.2.3".parse().unwrap(), "ns", "cluster.local");
    assert_eq!(v4, "10-1-2-3.ns.pod.cluster.local");
    let v6 = pod_dns_name("fd00::1".parse().unwrap(), "ns", "cluster.local");
    assert_eq!(v6, "fd00--1.ns.pod.cluster.local");
    assert_eq!(service_dns_name("c.l"), "web.inception-smoke.svc.c.l");
    assert_eq!(ping_payload(1400, "10.0.0.1".parse().unwrap()), 1372);
    assert_eq!(ping_payload(1400, "fd00::1".parse().unwrap()), 1352);
}

#[test]
fn answered_needs_200_and_the_body() {
    assert!(answered(&format!("HTTP/1.0 200 OK\r\n\r\n{BODY}\n")));
    assert!(!answered(&format!("HTTP/1.0 503 Busy\r\n\r\n{BODY}\n")));
    assert!(!answered("HTTP/1.0 200 OK\r\n\r\nsomething else"));
    assert!(!answered(""));
}

#[test]
fn the_volume_check_uses_the_default_class_on_one_node() {
    let claim = volume_claim("w-1");
    let spec = claim.spec.unwrap();
    assert_eq!(
        spec.storage_class_name, None,
        "the default class must take it"
    );
    assert_eq!(claim.metadata.name.as_deref(), Some("data-w-1"));
    let pod = volume_pod("w-1", "img");
    let ps = pod.spec.unwrap();
    assert_eq!(
        ps.node_selector.unwrap()["kubernetes.io/hostname"],
        "w-1",
        "by selector, not nodeName: the scheduler must bind the claim"
    );
    assert_eq!(ps.node_name, None);
    assert_ne!(
        pod.metadata.labels.as_ref().unwrap()["app"],
        NAME,
        "the web DaemonSet would adopt it"
    );
    let vol = &ps.volumes.unwrap()[0];
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-w-1"
    );
    let cmd = ps.containers[0].command.as_ref().unwrap().join(" ");
    assert!(
        cmd.contains(&volume_token("w-1")) && cmd.contains("cat /data/check"),
        "{cmd}"
    );
}
