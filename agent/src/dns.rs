//! The cluster DNS server of a node: answers the cluster domain from the
//! cluster's Services and Endpoints (records from `nesting::dns`), forwards
//! every other name to the node's own resolvers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_server::proto::rr::{Name, RData, Record, RecordType, rdata};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use nesting::dns::{self as k8sdns, Answer, QType, Records, Rr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// How long upstream servers have, all together, to answer a query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle TCP client connections are closed after this.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The records being served; cheap to clone, updated by [`watch`].
#[derive(Clone)]
pub struct Store(Arc<RwLock<Arc<Records>>>);

impl Store {
    /// An empty zone for `domain` (e.g. `cluster.local`).
    pub fn new(domain: &str) -> Self {
        Store(Arc::new(RwLock::new(Arc::new(Records::new(
            domain,
            [],
            [],
        )))))
    }

    pub fn set(&self, records: Records) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(records);
    }

    pub fn get(&self) -> Arc<Records> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Keeps `store` up to date with the Services and Endpoints of all
/// namespaces. Returns only if the watches end.
pub async fn watch(client: kube::Client, domain: String, store: Store) -> Result<()> {
    let (services, services_writer) = reflector::store::<Service>();
    let (endpoints, endpoints_writer) = reflector::store::<Endpoints>();
    let service_events = watcher(Api::<Service>::all(client.clone()), Default::default())
        .default_backoff()
        .reflect(services_writer)
        .map(|event| event.map(|e| changes(&e)));
    let endpoint_events = watcher(Api::<Endpoints>::all(client), Default::default())
        .default_backoff()
        .reflect(endpoints_writer)
        .map(|event| event.map(|e| changes(&e)));
    // Events that come together make one rebuild.
    let mut events =
        std::pin::pin!(futures::stream::select(service_events, endpoint_events).ready_chunks(512));
    while let Some(batch) = events.next().await {
        let mut rebuild = false;
        for event in batch {
            match event {
                Ok(changed) => rebuild |= changed,
                Err(error) => tracing::warn!("cluster DNS: watching Services/Endpoints: {error}"),
            }
        }
        if rebuild {
            let (services, endpoints) = (services.state(), endpoints.state());
            let records = Records::new(
                &domain,
                services.iter().map(|s| &**s),
                endpoints.iter().map(|e| &**e),
            );
            store.set(records);
        }
    }
    bail!("the cluster DNS watches of Services and Endpoints ended")
}

/// Whether the reflector's store changed (it swaps in a relist at InitDone).
fn changes<K>(event: &watcher::Event<K>) -> bool {
    !matches!(event, watcher::Event::Init | watcher::Event::InitApply(_))
}

/// Serves DNS on UDP and TCP `listen`: the store's zone and reverse names,
/// everything else forwarded to `upstream` (tried in order).
pub async fn serve(listen: SocketAddr, store: Store, upstream: Vec<SocketAddr>) -> Result<()> {
    let udp = UdpSocket::bind(listen)
        .await
        .with_context(|| format!("cannot bind UDP {listen} for cluster DNS"))?;
    let tcp = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind TCP {listen} for cluster DNS"))?;
    serve_on(udp, tcp, store, upstream).await
}

/// [`serve`] on sockets already bound.
pub async fn serve_on(
    udp: UdpSocket,
    tcp: TcpListener,
    store: Store,
    upstream: Vec<SocketAddr>,
) -> Result<()> {
    let mut server = Server::new(Handler {
        store,
        upstream: upstream.into(),
    });
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, 32);
    server
        .block_until_done()
        .await
        .map_err(|e| anyhow!("the cluster DNS server stopped: {e}"))
}

/// The `nameserver` lines of a resolv.conf, port 53 (scoped link-local
/// addresses are skipped).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

struct Handler {
    store: Store,
    upstream: Arc<[SocketAddr]>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        match self.respond(request, &mut response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::warn!("cluster DNS: {error:#}");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

impl Handler {
    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        response: &mut R,
    ) -> Result<ResponseInfo> {
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let queries = request.queries.queries();
        if request.metadata.op_code != OpCode::Query || queries.len() != 1 {
            metadata.response_code = match request.metadata.op_code {
                OpCode::Query => ResponseCode::FormErr,
                _ => ResponseCode::NotImp,
            };
            return send(response, builder.build_no_records(metadata)).await;
        }
        let query = &queries[0];
        let (name, qtype) = (query.original().name().to_ascii(), query.query_type());
        let records = self.store.get();
        let mut answers = Vec::new();
        let mut authorities = Vec::new();
        let mut additionals = Vec::new();
        match records.lookup(&name, qtype_of(qtype)) {
            Answer::NotOurs => return self.relay(request, builder, metadata, response).await,
            Answer::NoData if qtype == RecordType::SOA && name_eq(&name, records.zone()) => {
                answers.push(soa(records.zone())?);
            }
            Answer::NxDomain => {
                metadata.response_code = ResponseCode::NXDomain;
                authorities.push(soa(records.zone())?);
            }
            Answer::NoData => authorities.push(soa(records.zone())?),
            Answer::Records(rrs) => {
                for rr in records.additional(&rrs) {
                    additionals.push(record(&rr)?);
                }
                for rr in &rrs {
                    answers.push(record(rr)?);
                }
                // ExternalName: add what its target resolves to.
                if let [
                    Rr {
                        data: k8sdns::RData::Cname(target),
                        ..
                    },
                ] = rrs.as_slice()
                    && qtype != RecordType::CNAME
                {
                    answers.extend(
                        self.chase(&records, target, qtype, request.protocol())
                            .await,
                    );
                }
            }
        }
        metadata.authoritative = true;
        let message = builder.build(
            metadata,
            &answers,
            &authorities,
            std::iter::empty(),
            &additionals,
        );
        send(response, message).await
    }

    /// Sends the client's query upstream and relays the answer, or SERVFAIL.
    async fn relay<R: ResponseHandler>(
        &self,
        request: &Request,
        builder: MessageResponseBuilder<'_>,
        mut metadata: Metadata,
        response: &mut R,
    ) -> Result<ResponseInfo> {
        match self.forward(request.as_slice(), request.protocol()).await {
            Ok(upstream) => {
                let mut relayed = upstream.metadata;
                relayed.id = request.metadata.id;
                let message = builder.build(
                    relayed,
                    &upstream.answers,
                    &upstream.authorities,
                    std::iter::empty(),
                    &upstream.additionals,
                );
                send(response, message).await
            }
            Err(error) => {
                tracing::warn!("cluster DNS: forwarding: {error:#}");
                metadata.response_code = ResponseCode::ServFail;
                send(response, builder.build_no_records(metadata)).await
            }
        }
    }

    /// The records of a CNAME target: from the store when in the zone, else
    /// from upstream. None when it does not resolve.
    async fn chase(
        &self,
        records: &Records,
        target: &str,
        qtype: RecordType,
        protocol: Protocol,
    ) -> Vec<Record> {
        if records.is_in_zone(target) {
            return match records.lookup(target, qtype_of(qtype)) {
                Answer::Records(rrs) => rrs.iter().filter_map(|rr| record(rr).ok()).collect(),
                _ => Vec::new(),
            };
        }
        let Ok(name) = Name::from_ascii(target) else {
            return Vec::new();
        };
        let mut query = Message::query();
        query.add_query(Query::query(name, qtype));
        query.metadata.recursion_desired = true;
        let Ok(bytes) = query.to_vec() else {
            return Vec::new();
        };
        match self.forward(&bytes, protocol).await {
            Ok(answer) => answer.answers,
            Err(error) => {
                tracing::debug!("cluster DNS: resolving {target}: {error:#}");
                Vec::new()
            }
        }
    }

    /// Asks the upstream servers in turn, within [`UPSTREAM_TIMEOUT`] in all.
    async fn forward(&self, query: &[u8], protocol: Protocol) -> Result<Message> {
        let deadline = tokio::time::Instant::now() + UPSTREAM_TIMEOUT;
        let mut last = anyhow!("no upstream DNS server");
        for (i, &server) in self.upstream.iter().enumerate() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let share = left / u32::try_from(self.upstream.len() - i).unwrap_or(u32::MAX);
            let exchange = async {
                if protocol == Protocol::Tcp {
                    exchange_tcp(server, query).await
                } else {
                    exchange_udp(server, query).await
                }
            };
            match tokio::time::timeout(share, exchange).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(error)) => last = error,
                Err(_) => last = anyhow!("upstream DNS {server} did not answer in {share:?}"),
            }
        }
        Err(last)
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    message: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<ResponseInfo> {
    response
        .send_response(message)
        .await
        .map_err(|e| anyhow!("cannot send a DNS response: {e}"))
}

async fn exchange_udp(server: SocketAddr, query: &[u8]) -> Result<Message> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .context("cannot bind a UDP socket to forward DNS")?;
    socket
        .connect(server)
        .await
        .with_context(|| format!("cannot reach upstream DNS {server}"))?;
    socket
        .send(query)
        .await
        .with_context(|| format!("cannot send to upstream DNS {server}"))?;
    let id = query_id(query)?;
    let mut buf = vec![0; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .with_context(|| format!("no answer from upstream DNS {server}"))?;
        // Stray or malformed datagrams are skipped; the timeout bounds this.
        if let Ok(answer) = Message::from_vec(&buf[..n])
            && answer.metadata.id == id
            && answer.metadata.message_type == MessageType::Response
        {
            return Ok(answer);
        }
    }
}

async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> Result<Message> {
    let mut stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("cannot connect to upstream DNS {server}"))?;
    let len = u16::try_from(query.len()).context("DNS query too long")?;
    let mut out = Vec::with_capacity(query.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(query);
    stream
        .write_all(&out)
        .await
        .with_context(|| format!("cannot send to upstream DNS {server}"))?;
    let mut len = [0; 2];
    stream
        .read_exact(&mut len)
        .await
        .with_context(|| format!("no answer from upstream DNS {server}"))?;
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .with_context(|| format!("short answer from upstream DNS {server}"))?;
    let answer = Message::from_vec(&buf)
        .with_context(|| format!("bad answer from upstream DNS {server}"))?;
    if answer.metadata.id != query_id(query)? {
        bail!("upstream DNS {server} answered another query");
    }
    Ok(answer)
}

fn query_id(query: &[u8]) -> Result<u16> {
    match query {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => bail!("DNS query too short"),
    }
}

fn qtype_of(qtype: RecordType) -> QType {
    match qtype {
        RecordType::A => QType::A,
        RecordType::AAAA => QType::Aaaa,
        RecordType::SRV => QType::Srv,
        RecordType::PTR => QType::Ptr,
        RecordType::TXT => QType::Txt,
        _ => QType::Other,
    }
}

fn name_eq(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn name(text: &str) -> Result<Name> {
    Name::from_ascii(text).with_context(|| format!("{text:?} is not a DNS name"))
}

fn record(rr: &Rr) -> Result<Record> {
    let data = match &rr.data {
        k8sdns::RData::A(ip) => RData::A(rdata::A(*ip)),
        k8sdns::RData::Aaaa(ip) => RData::AAAA(rdata::AAAA(*ip)),
        k8sdns::RData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(rdata::SRV::new(*priority, *weight, *port, name(target)?)),
        k8sdns::RData::Ptr(target) => RData::PTR(rdata::PTR(name(target)?)),
        k8sdns::RData::Cname(target) => RData::CNAME(rdata::CNAME(name(target)?)),
        k8sdns::RData::Txt(text) => RData::TXT(rdata::TXT::new(vec![text.clone()])),
    };
    Ok(Record::from_rdata(name(&rr.name)?, rr.ttl, data))
}

/// The zone's SOA, as CoreDNS makes it (negative answers are cached for
/// the TTL).
fn soa(zone: &str) -> Result<Record> {
    let data = rdata::SOA::new(
        name(&format!("ns.dns.{zone}."))?,
        name(&format!("hostmaster.{zone}."))?,
        1,
        7200,
        1800,
        86400,
        k8sdns::TTL,
    );
    Ok(Record::from_rdata(
        name(&format!("{zone}."))?,
        k8sdns::TTL,
        RData::SOA(data),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
