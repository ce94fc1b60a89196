use super::*;
use hickory_server::proto::op::MessageType;
use serde_json::json;

const ZONE: &str = "cluster.local";

#[test]
fn resolv_conf_nameservers() {
    let text = "# generated\nsearch default.svc.cluster.local svc.cluster.local\n\
                    nameserver 10.96.0.10\nnameserver  fd00::a  # second\n\
                    nameserver fe80::1%eth0\nnameserver bogus\n;nameserver 1.1.1.1\n\
                    options ndots:5\n";
    assert_eq!(
        upstreams_from_resolv_conf(text),
        vec![
            "10.96.0.10:53".parse::<SocketAddr>().unwrap(),
            "[fd00::a]:53".parse().unwrap(),
        ]
    );
    assert!(upstreams_from_resolv_conf("").is_empty());
}

fn records(domain: &str, services: serde_json::Value, endpoints: serde_json::Value) -> Records {
    let services: Vec<Service> = serde_json::from_value(services).unwrap();
    let endpoints: Vec<Endpoints> = serde_json::from_value(endpoints).unwrap();
    Records::new(domain, &services, &endpoints)
}

/// UDP and TCP on the same loopback port.
async fn sockets() -> (UdpSocket, TcpListener, SocketAddr) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp, addr);
        }
    }
    panic!("no free loopback port for UDP and TCP");
}

async fn start(store: Store, upstream: Vec<SocketAddr>) -> SocketAddr {
    let (udp, tcp, addr) = sockets().await;
    tokio::spawn(serve_on(udp, tcp, store, upstream));
    addr
}

/// The upstream: a server with its own zone, `upstream.test`.
async fn upstream() -> SocketAddr {
    let store = Store::new("upstream.test");
    store.set(records(
        "upstream.test",
        json!([{"metadata": {"name": "a", "namespace": "b"},
                    "spec": {"clusterIP": "192.0.2.7"}}]),
        json!([]),
    ));
    start(store, Vec::new()).await
}

/// The server under test, forwarding to `upstream`.
async fn cluster(upstream: Vec<SocketAddr>) -> SocketAddr {
    let store = Store::new(ZONE);
    store.set(records(
        ZONE,
        json!([
            {"metadata": {"name": "kubernetes", "namespace": "default"},
             "spec": {"clusterIP": "10.96.0.1",
                      "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
            {"metadata": {"name": "db", "namespace": "prod"},
             "spec": {"clusterIP": "None"}},
            {"metadata": {"name": "ext", "namespace": "prod"},
             "spec": {"type": "ExternalName", "externalName": "a.b.svc.upstream.test"}}
        ]),
        json!([{"metadata": {"name": "db", "namespace": "prod"},
                    "subsets": [{"addresses": [{"ip": "10.1.0.10", "hostname": "db-0"},
                                               {"ip": "10.1.0.11", "hostname": "db-1"}],
                                 "ports": [{"name": "pg", "port": 5432}]}]}]),
    ));
    start(store, upstream).await
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    message.metadata.recursion_desired = true;
    message.to_vec().unwrap()
}

async fn ask_udp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let q = query(name, qtype);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&q, server).await.unwrap();
    let mut buf = vec![0; 65535];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("no UDP answer in 5 s")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(answer.metadata.id, query_id(&q).unwrap());
    answer
}

async fn ask_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let q = query(name, qtype);
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange_tcp(server, &q))
        .await
        .expect("no TCP answer in 5 s")
        .unwrap();
    assert_eq!(answer.metadata.message_type, MessageType::Response);
    answer
}

fn addresses(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn dns_answers_a_over_udp_and_tcp() {
    let server = cluster(Vec::new()).await;
    for answer in [
        ask_udp(
            server,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
        )
        .await,
        ask_tcp(
            server,
            "Kubernetes.Default.svc.cluster.local.",
            RecordType::A,
        )
        .await,
    ] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.authoritative);
        assert!(answer.metadata.recursion_available);
        assert_eq!(addresses(&answer), vec!["10.96.0.1"]);
        assert_eq!(answer.answers[0].ttl, 5);
    }
    let headless = ask_udp(server, "db.prod.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&headless), vec!["10.1.0.10", "10.1.0.11"]);
}

#[tokio::test]
async fn dns_answers_srv_with_additional_addresses() {
    let server = cluster(Vec::new()).await;
    let answer = ask_tcp(
        server,
        "_pg._tcp.db.prod.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    let mut targets: Vec<(String, u16)> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some((srv.target.to_ascii(), srv.port)),
            _ => None,
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            ("db-0.db.prod.svc.cluster.local.".to_string(), 5432),
            ("db-1.db.prod.svc.cluster.local.".to_string(), 5432),
        ]
    );
    assert_eq!(answer.additionals.len(), 2);
    let answer = ask_udp(
        server,
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    let RData::SRV(srv) = &answer.answers[0].data else {
        panic!("{answer:?}")
    };
    assert_eq!(srv.port, 443);
    assert_eq!(
        srv.target.to_ascii(),
        "kubernetes.default.svc.cluster.local."
    );
}

#[tokio::test]
async fn dns_nxdomain_and_nodata_carry_the_soa() {
    let server = cluster(Vec::new()).await;
    for answer in [
        ask_udp(server, "nope.default.svc.cluster.local.", RecordType::A).await,
        ask_tcp(server, "nope.default.svc.cluster.local.", RecordType::A).await,
    ] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
        assert!(answer.metadata.authoritative);
        assert!(answer.answers.is_empty());
        assert_eq!(answer.authorities[0].record_type(), RecordType::SOA);
    }
    let nodata = ask_udp(
        server,
        "kubernetes.default.svc.cluster.local.",
        RecordType::AAAA,
    )
    .await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
    let ptr = ask_udp(server, "1.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    let RData::PTR(target) = &ptr.answers[0].data else {
        panic!("{ptr:?}")
    };
    assert_eq!(target.0.to_ascii(), "kubernetes.default.svc.cluster.local.");
}

#[tokio::test]
async fn dns_forwards_other_names_upstream() {
    let upstream = upstream().await;
    let server = cluster(vec![upstream]).await;
    for answer in [
        ask_udp(server, "a.b.svc.upstream.test.", RecordType::A).await,
        ask_tcp(server, "a.b.svc.upstream.test.", RecordType::A).await,
    ] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addresses(&answer), vec!["192.0.2.7"]);
    }
    // Upstream's NXDOMAIN is relayed as is.
    let missing = ask_udp(server, "x.b.svc.upstream.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    // The upstream server itself has no upstream: SERVFAIL.
    let failed = ask_udp(
        upstream,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    // ExternalName: the CNAME, then its target's address from upstream.
    let ext = ask_udp(server, "ext.prod.svc.cluster.local.", RecordType::A).await;
    let RData::CNAME(target) = &ext.answers[0].data else {
        panic!("{ext:?}")
    };
    assert_eq!(target.0.to_ascii(), "a.b.svc.upstream.test.");
    assert_eq!(addresses(&ext), vec!["192.0.2.7"]);
}

#[tokio::test]
async fn dns_servfail_when_upstream_is_silent() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = cluster(vec![silent.local_addr().unwrap()]).await;
    let started = std::time::Instant::now();
    let answer = ask_udp(server, "example.test.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() >= Duration::from_millis(1900));
    let mut buf = [0; 512];
    let (n, _) = silent.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        Message::from_vec(&buf[..n]).unwrap().queries[0]
            .name()
            .to_ascii(),
        "example.test."
    );
}

#[tokio::test]
async fn store_updates_are_served() {
    let store = Store::new(ZONE);
    let server = start(store.clone(), Vec::new()).await;
    let before = ask_udp(server, "late.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(before.metadata.response_code, ResponseCode::NXDomain);
    store.set(records(
        ZONE,
        json!([{"metadata": {"name": "late", "namespace": "default"},
                    "spec": {"clusterIP": "10.96.0.77"}}]),
        json!([]),
    ));
    let after = ask_udp(server, "late.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&after), vec!["10.96.0.77"]);
}
