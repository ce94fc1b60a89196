//! The cluster DNS server of a node: answers the cluster domain from the
//! cluster's Services and Endpoints (records from `nesting::dns`), forwards
//! every other name to the node's own resolvers.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, Message, Metadata, OpCode, Query, ResponseCode,
};
use hickory_server::proto::rr::{Name, RData, Record, RecordType, rdata};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use nesting::dns::{self as k8sdns, Answer, QType, Records, Rr};
use tokio::net::{TcpListener, UdpSocket};

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
mod tests;
mod upstream;

#[cfg(test)]
use upstream::query_id;
pub use upstream::upstreams_from_resolv_conf;
use upstream::{exchange_tcp, exchange_udp};
