use super::*;
use serde_json::json;

const ZONE: &str = "cluster.local";

fn service(value: serde_json::Value) -> Service {
    serde_json::from_value(value).unwrap()
}

fn endpoints(value: serde_json::Value) -> Endpoints {
    serde_json::from_value(value).unwrap()
}

/// kubernetes (ClusterIP, dual stack), db (headless, 2 ready with
/// hostnames, 1 without, 1 not ready), web (headless, publishes not
/// ready), ext (ExternalName), empty (headless, no endpoints), v6only.
fn records() -> Records {
    let services = [
        service(json!({
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1", "fd00:96::1"],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP"},
                               {"name": "dns", "port": 53, "protocol": "UDP"}]}
        })),
        service(json!({
            "metadata": {"name": "db", "namespace": "prod"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
        })),
        service(json!({
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}
        })),
        service(json!({
            "metadata": {"name": "ext", "namespace": "prod"},
            "spec": {"type": "ExternalName", "externalName": "www.Example.com"}
        })),
        service(json!({
            "metadata": {"name": "empty", "namespace": "prod"},
            "spec": {"clusterIP": "None"}
        })),
        service(json!({
            "metadata": {"name": "v6only", "namespace": "prod"},
            "spec": {"clusterIP": "fd00:96::a", "ports": [{"port": 80}]}
        })),
    ];
    let endpoints = [
        endpoints(json!({
            "metadata": {"name": "db", "namespace": "prod"},
            "subsets": [{
                "addresses": [{"ip": "10.1.0.10", "hostname": "db-0"},
                              {"ip": "10.1.0.11", "hostname": "db-1"},
                              {"ip": "10.1.0.12"}],
                "notReadyAddresses": [{"ip": "10.1.0.13", "hostname": "db-2"}],
                "ports": [{"name": "pg", "port": 15432, "protocol": "TCP"}]
            }]
        })),
        endpoints(json!({
            "metadata": {"name": "web", "namespace": "prod"},
            "subsets": [{"notReadyAddresses": [{"ip": "fd00:1::5"}],
                         "ports": [{"port": 80}]}]
        })),
        endpoints(json!({
            "metadata": {"name": "empty", "namespace": "prod"},
            "subsets": [{"notReadyAddresses": [{"ip": "10.1.0.20"}]}]
        })),
    ];
    Records::new(ZONE, &services, &endpoints)
}

fn data(answer: Answer) -> Vec<RData> {
    match answer {
        Answer::Records(rrs) => {
            assert!(rrs.iter().all(|rr| rr.ttl == TTL));
            rrs.into_iter().map(|rr| rr.data).collect()
        }
        other => panic!("expected records, got {other:?}"),
    }
}

fn sorted(mut data: Vec<RData>) -> Vec<String> {
    let mut out: Vec<String> = data.drain(..).map(|d| format!("{d:?}")).collect();
    out.sort();
    out
}

fn a(ip: &str) -> RData {
    RData::A(ip.parse().unwrap())
}

fn aaaa(ip: &str) -> RData {
    RData::Aaaa(ip.parse().unwrap())
}

fn srv(port: u16, weight: u16, target: &str) -> RData {
    RData::Srv {
        priority: 0,
        weight,
        port,
        target: target.into(),
    }
}

#[test]
fn cluster_ip_service_a() {
    let r = records();
    let answer = r.lookup("kubernetes.default.svc.cluster.local.", QType::A);
    let Answer::Records(rrs) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        rrs,
        vec![Rr {
            name: "kubernetes.default.svc.cluster.local.".into(),
            ttl: 5,
            data: a("10.96.0.1"),
        }]
    );
}

#[test]
fn dual_stack_service_aaaa() {
    let r = records();
    assert_eq!(
        data(r.lookup("kubernetes.default.svc.cluster.local", QType::Aaaa)),
        vec![aaaa("fd00:96::1")]
    );
    assert_eq!(
        data(r.lookup("v6only.prod.svc.cluster.local", QType::Aaaa)),
        vec![aaaa("fd00:96::a")]
    );
    assert_eq!(
        r.lookup("v6only.prod.svc.cluster.local", QType::A),
        Answer::NoData
    );
}

#[test]
fn headless_one_record_per_ready_address() {
    let r = records();
    assert_eq!(
        sorted(data(r.lookup("db.prod.svc.cluster.local", QType::A))),
        sorted(vec![a("10.1.0.10"), a("10.1.0.11"), a("10.1.0.12")])
    );
}

#[test]
fn not_ready_addresses_excluded() {
    let r = records();
    assert_eq!(
        r.lookup("db-2.db.prod.svc.cluster.local", QType::A),
        Answer::NxDomain
    );
    assert_eq!(
        r.lookup("13.0.1.10.in-addr.arpa", QType::Ptr),
        Answer::NotOurs
    );
    // No ready endpoint: NXDOMAIN, as the specification says.
    assert_eq!(
        r.lookup("empty.prod.svc.cluster.local", QType::A),
        Answer::NxDomain
    );
}

#[test]
fn not_ready_addresses_published_when_asked() {
    let r = records();
    assert_eq!(
        data(r.lookup("web.prod.svc.cluster.local", QType::Aaaa)),
        vec![aaaa("fd00:1::5")]
    );
    assert_eq!(
        data(r.lookup("fd00-1--5.web.prod.svc.cluster.local", QType::Aaaa)),
        vec![aaaa("fd00:1::5")]
    );
}

#[test]
fn tolerate_unready_annotation() {
    let svc = service(json!({
        "metadata": {"name": "s", "namespace": "n", "annotations":
            {"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}},
        "spec": {"clusterIP": "None"}
    }));
    let eps = endpoints(json!({
        "metadata": {"name": "s", "namespace": "n"},
        "subsets": [{"notReadyAddresses": [{"ip": "10.1.0.30"}]}]
    }));
    let r = Records::new(ZONE, [&svc], [&eps]);
    assert_eq!(
        data(r.lookup("s.n.svc.cluster.local", QType::A)),
        vec![a("10.1.0.30")]
    );
}

#[test]
fn endpoint_hostname_records() {
    let r = records();
    assert_eq!(
        data(r.lookup("db-1.db.prod.svc.cluster.local", QType::A)),
        vec![a("10.1.0.11")]
    );
    // Without hostname the address has its dashed form as hostname.
    assert_eq!(
        data(r.lookup("10-1-0-12.db.prod.svc.cluster.local", QType::A)),
        vec![a("10.1.0.12")]
    );
    assert_eq!(
        r.lookup("db-1.db.prod.svc.cluster.local", QType::Aaaa),
        Answer::NoData
    );
}

#[test]
fn cluster_ip_srv_targets_service() {
    let r = records();
    assert_eq!(
        data(r.lookup(
            "_https._tcp.kubernetes.default.svc.cluster.local",
            QType::Srv
        )),
        vec![srv(443, 100, "kubernetes.default.svc.cluster.local.")]
    );
    assert_eq!(
        data(r.lookup("_dns._udp.kubernetes.default.svc.cluster.local", QType::Srv)),
        vec![srv(53, 100, "kubernetes.default.svc.cluster.local.")]
    );
    assert_eq!(
        r.lookup("_dns._tcp.kubernetes.default.svc.cluster.local", QType::Srv),
        Answer::NxDomain
    );
    // Unnamed ports have no SRV; the service name has no SRV itself.
    assert_eq!(
        r.lookup("v6only.prod.svc.cluster.local", QType::Srv),
        Answer::NoData
    );
}

#[test]
fn headless_srv_per_ready_endpoint_with_endpoint_port() {
    let r = records();
    let answer = r.lookup("_pg._tcp.db.prod.svc.cluster.local", QType::Srv);
    let Answer::Records(rrs) = answer.clone() else {
        panic!("{answer:?}")
    };
    assert_eq!(
        sorted(data(answer)),
        sorted(vec![
            srv(15432, 33, "db-0.db.prod.svc.cluster.local."),
            srv(15432, 33, "db-1.db.prod.svc.cluster.local."),
            srv(15432, 33, "10-1-0-12.db.prod.svc.cluster.local."),
        ])
    );
    // Every target resolves, and comes as additional records.
    assert_eq!(
        sorted(r.additional(&rrs).into_iter().map(|rr| rr.data).collect()),
        sorted(vec![a("10.1.0.10"), a("10.1.0.11"), a("10.1.0.12")])
    );
    let extra = r.additional(&rrs);
    assert!(
        extra
            .iter()
            .any(|rr| rr.name == "db-0.db.prod.svc.cluster.local." && rr.data == a("10.1.0.10"))
    );
}

#[test]
fn ptr_for_cluster_ips_and_headless_endpoints() {
    let r = records();
    assert_eq!(
        data(r.lookup("1.0.96.10.in-addr.arpa.", QType::Ptr)),
        vec![RData::Ptr("kubernetes.default.svc.cluster.local.".into())]
    );
    assert_eq!(
        data(r.lookup("10.0.1.10.in-addr.arpa", QType::Ptr)),
        vec![RData::Ptr("db-0.db.prod.svc.cluster.local.".into())]
    );
    assert_eq!(
        data(r.lookup("12.0.1.10.in-addr.arpa", QType::Ptr)),
        vec![RData::Ptr("10-1-0-12.db.prod.svc.cluster.local.".into())]
    );
    let v6 = reverse_name("fd00:96::1".parse().unwrap());
    assert_eq!(
        v6,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa"
    );
    assert_eq!(
        data(r.lookup(&v6.to_uppercase(), QType::Ptr)),
        vec![RData::Ptr("kubernetes.default.svc.cluster.local.".into())]
    );
    assert_eq!(r.lookup("1.0.96.10.in-addr.arpa", QType::A), Answer::NoData);
    // Unknown reverse names and reverse zones go upstream.
    assert_eq!(
        r.lookup("2.0.96.10.in-addr.arpa", QType::Ptr),
        Answer::NotOurs
    );
    assert_eq!(r.lookup("96.10.in-addr.arpa", QType::Ptr), Answer::NotOurs);
}

#[test]
fn pod_names_v4_and_v6() {
    let r = records();
    assert_eq!(
        data(r.lookup("10-1-2-3.anyns.pod.cluster.local", QType::A)),
        vec![a("10.1.2.3")]
    );
    assert_eq!(
        data(r.lookup("fd00-1--7.anyns.pod.cluster.local.", QType::Aaaa)),
        vec![aaaa("fd00:1::7")]
    );
    assert_eq!(
        r.lookup("10-1-2-3.anyns.pod.cluster.local", QType::Aaaa),
        Answer::NoData
    );
    assert_eq!(
        r.lookup("10-1-2.anyns.pod.cluster.local", QType::A),
        Answer::NxDomain
    );
    assert_eq!(
        r.lookup("x.10-1-2-3.anyns.pod.cluster.local", QType::A),
        Answer::NxDomain
    );
    assert_eq!(
        r.lookup("anyns.pod.cluster.local", QType::A),
        Answer::NoData
    );
}

#[test]
fn case_insensitive_and_owner_as_asked() {
    let r = records();
    let answer = r.lookup("KuberNetes.DEFAULT.svc.Cluster.Local", QType::A);
    let Answer::Records(rrs) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(rrs[0].name, "KuberNetes.DEFAULT.svc.Cluster.Local.");
    assert_eq!(rrs[0].data, a("10.96.0.1"));
    assert_eq!(
        data(r.lookup("_PG._TCP.db.prod.svc.cluster.local", QType::Srv)).len(),
        3
    );
    assert_eq!(
        data(r.lookup("DB-0.db.prod.SVC.cluster.local", QType::A)),
        vec![a("10.1.0.10")]
    );
}

#[test]
fn external_name_is_cname_for_any_type() {
    let r = records();
    for qtype in [QType::A, QType::Aaaa, QType::Other] {
        assert_eq!(
            data(r.lookup("ext.prod.svc.cluster.local", qtype)),
            vec![RData::Cname("www.example.com.".into())]
        );
    }
}

#[test]
fn nxdomain_nodata_notours() {
    let r = records();
    assert_eq!(
        r.lookup("missing.default.svc.cluster.local", QType::A),
        Answer::NxDomain
    );
    assert_eq!(
        r.lookup("nons.svc.cluster.local", QType::A),
        Answer::NxDomain
    );
    assert_eq!(r.lookup("foo.cluster.local", QType::A), Answer::NxDomain);
    // Names that exist only as parents, and the apex: NOERROR, no data.
    assert_eq!(
        r.lookup("default.svc.cluster.local", QType::A),
        Answer::NoData
    );
    assert_eq!(r.lookup("svc.cluster.local", QType::A), Answer::NoData);
    assert_eq!(r.lookup("cluster.local.", QType::A), Answer::NoData);
    assert_eq!(
        r.lookup("_tcp.kubernetes.default.svc.cluster.local", QType::Srv),
        Answer::NoData
    );
    assert_eq!(
        r.lookup("kubernetes.default.svc.cluster.local", QType::Other),
        Answer::NoData
    );
    assert_eq!(r.lookup("example.com", QType::A), Answer::NotOurs);
    assert_eq!(r.lookup("notcluster.local", QType::A), Answer::NotOurs);
    assert_eq!(r.lookup("local", QType::A), Answer::NotOurs);
}

#[test]
fn dns_version_txt() {
    let r = records();
    assert_eq!(
        data(r.lookup("dns-version.cluster.local", QType::Txt)),
        vec![RData::Txt("1.1.0".into())]
    );
}

#[test]
fn other_domain_and_rebuild_reflect_changes() {
    let svc = service(json!({
        "metadata": {"name": "a", "namespace": "b"},
        "spec": {"clusterIP": "10.0.0.9"}
    }));
    let r = Records::new("inner.example.", [&svc], []);
    assert_eq!(r.zone(), "inner.example");
    assert!(r.is_in_zone("X.Inner.Example."));
    assert_eq!(
        data(r.lookup("a.b.svc.inner.example", QType::A)),
        vec![a("10.0.0.9")]
    );
    assert_eq!(r.lookup("a.b.svc.cluster.local", QType::A), Answer::NotOurs);
    let empty = Records::new("inner.example", [], []);
    assert_eq!(
        empty.lookup("a.b.svc.inner.example", QType::A),
        Answer::NxDomain
    );
}
