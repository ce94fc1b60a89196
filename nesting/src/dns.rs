//! Cluster DNS records from Services and Endpoints, following the Kubernetes
//! DNS specification 1.1.0 (kubernetes/dns docs/specification.md). Pure: the
//! agent's server turns an [`Answer`] into a DNS message.
//!
//! Names are compared case-insensitively, with or without the trailing dot.
//! Endpoints (not EndpointSlices) so that it works from Kubernetes 1.20 on.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service, ServiceSpec};

/// TTL of every record, as CoreDNS' kubernetes plugin.
pub const TTL: u32 = 5;
/// Answered in TXT at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.1.0";
const TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// The asked type, as far as this index cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    A,
    Aaaa,
    Srv,
    Ptr,
    Txt,
    Other,
}

/// Record data. Names in it are absolute (trailing dot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Ptr(String),
    /// ExternalName Services: answered whatever the asked type.
    Cname(String),
    Txt(String),
}

impl RData {
    fn answers(&self, qtype: QType) -> bool {
        matches!(
            (self, qtype),
            (RData::A(_), QType::A)
                | (RData::Aaaa(_), QType::Aaaa)
                | (RData::Srv { .. }, QType::Srv)
                | (RData::Ptr(_), QType::Ptr)
                | (RData::Txt(_), QType::Txt)
                | (RData::Cname(_), _)
        )
    }

    fn of_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => RData::A(v4),
            IpAddr::V6(v6) => RData::Aaaa(v6),
        }
    }
}

/// One resource record; `name` is absolute (trailing dot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not in the zone, nor a reverse name we know: forward it upstream.
    NotOurs,
    NxDomain,
    /// The name exists but has no record of the asked type.
    NoData,
    Records(Vec<Rr>),
}

/// Every record of the zone, plus the PTR records of the addresses it knows.
#[derive(Clone, Debug, Default)]
pub struct Records {
    /// Lowercase, no trailing dot.
    zone: String,
    /// Lowercase names without trailing dot.
    names: HashMap<String, Vec<RData>>,
    /// Names in the zone that exist only because a name below them does.
    parents: HashSet<String>,
}

impl Records {
    /// Indexes `services` and their `endpoints` for the cluster domain
    /// `domain` (e.g. `cluster.local`, must not be empty).
    pub fn new<'a>(
        domain: &str,
        services: impl IntoIterator<Item = &'a Service>,
        endpoints: impl IntoIterator<Item = &'a Endpoints>,
    ) -> Self {
        let zone = normalize(domain);
        let mut records = Records {
            zone: zone.clone(),
            ..Records::default()
        };
        let endpoints: HashMap<(&str, &str), &Endpoints> = endpoints
            .into_iter()
            .filter_map(|e| {
                let m = &e.metadata;
                Some(((m.namespace.as_deref()?, m.name.as_deref()?), e))
            })
            .collect();
        records.add(
            format!("dns-version.{zone}"),
            RData::Txt(SCHEMA_VERSION.into()),
        );
        for below in ["svc", "pod"] {
            records.parents.insert(format!("{below}.{zone}"));
        }
        for service in services {
            let m = &service.metadata;
            let (Some(ns), Some(name), Some(spec)) =
                (m.namespace.as_deref(), m.name.as_deref(), &service.spec)
            else {
                continue;
            };
            let base = format!("{name}.{ns}.svc.{zone}").to_ascii_lowercase();
            if spec.type_.as_deref() == Some("ExternalName") {
                if let Some(target) = spec.external_name.as_deref().filter(|t| !t.is_empty()) {
                    records.add(base, RData::Cname(absolute(&normalize(target))));
                }
                continue;
            }
            let ips: Vec<&str> = match (&spec.cluster_ips, &spec.cluster_ip) {
                (Some(ips), _) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
                (_, Some(ip)) => vec![ip.as_str()],
                _ => continue,
            };
            if ips.contains(&"None") {
                if let Some(endpoints) = endpoints.get(&(ns, name)) {
                    let tolerate = spec.publish_not_ready_addresses == Some(true)
                        || m.annotations.as_ref().and_then(|a| a.get(TOLERATE_UNREADY))
                            == Some(&"true".to_string());
                    records.add_headless(&base, endpoints, tolerate);
                }
            } else {
                records.add_cluster_ips(&base, spec, &ips);
            }
        }
        records.balance_srv();
        records
    }

    /// `<service>` A/AAAA with every cluster IP, their PTR, and an SRV per
    /// named port pointing at the Service name.
    fn add_cluster_ips(&mut self, base: &str, spec: &ServiceSpec, ips: &[&str]) {
        let ips: Vec<IpAddr> = ips.iter().filter_map(|ip| ip.parse().ok()).collect();
        if ips.is_empty() {
            return;
        }
        for &ip in &ips {
            self.add(base.to_string(), RData::of_ip(ip));
            self.add(reverse_name(ip), RData::Ptr(absolute(base)));
        }
        for port in spec.ports.iter().flatten() {
            if let (Some(name), Ok(number)) = (port.name.as_deref(), u16::try_from(port.port)) {
                self.add_srv(base, name, port.protocol.as_deref(), number, base);
            }
        }
    }

    /// Headless: `<service>` and `<hostname>.<service>` per ready address,
    /// the hostname being the endpoint's or its dashed IP; their PTR; an SRV
    /// per address and named endpoint port pointing at that hostname.
    fn add_headless(&mut self, base: &str, endpoints: &Endpoints, tolerate: bool) {
        for subset in endpoints.subsets.iter().flatten() {
            let unready = subset.not_ready_addresses.iter().flatten();
            let addresses: Vec<&EndpointAddress> = subset
                .addresses
                .iter()
                .flatten()
                .chain(unready.filter(|_| tolerate))
                .collect();
            for address in addresses {
                let Ok(ip) = address.ip.parse::<IpAddr>() else {
                    continue;
                };
                let host = match address.hostname.as_deref() {
                    Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
                    _ => dashed(ip),
                };
                let host = format!("{host}.{base}");
                self.add(base.to_string(), RData::of_ip(ip));
                self.add(host.clone(), RData::of_ip(ip));
                self.add(reverse_name(ip), RData::Ptr(absolute(&host)));
                for port in subset.ports.iter().flatten() {
                    if let (Some(name), Ok(number)) =
                        (port.name.as_deref(), u16::try_from(port.port))
                    {
                        self.add_srv(base, name, port.protocol.as_deref(), number, &host);
                    }
                }
            }
        }
    }

    fn add_srv(&mut self, base: &str, port: &str, proto: Option<&str>, number: u16, target: &str) {
        if port.is_empty() {
            return;
        }
        let proto = proto.unwrap_or("TCP");
        let name = format!("_{port}._{proto}.{base}").to_ascii_lowercase();
        let data = RData::Srv {
            priority: 0,
            weight: 100,
            port: number,
            target: absolute(target),
        };
        self.add(name, data);
    }

    /// Equal shares summing to about 100, as CoreDNS.
    fn balance_srv(&mut self) {
        for data in self.names.values_mut() {
            let count = data
                .iter()
                .filter(|d| matches!(d, RData::Srv { .. }))
                .count();
            let share = u16::try_from(100 / count.max(1)).unwrap_or(1).max(1);
            for d in data.iter_mut() {
                if let RData::Srv { weight, .. } = d {
                    *weight = share;
                }
            }
        }
    }

    /// Adds a record (once) to `name` (lowercase, no trailing dot); names
    /// between it and the zone now exist.
    fn add(&mut self, name: String, data: RData) {
        if !is_reverse(&name) {
            let mut rest = name.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if !in_zone(parent, &self.zone) {
                    break;
                }
                self.parents.insert(parent.to_string());
                rest = parent;
            }
        }
        let data_of_name = self.names.entry(name).or_default();
        if !data_of_name.contains(&data) {
            data_of_name.push(data);
        }
    }

    /// The cluster domain, lowercase, without trailing dot.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Whether `name` is in the cluster domain (the zone this index is
    /// authoritative for).
    pub fn is_in_zone(&self, name: &str) -> bool {
        in_zone(&normalize(name), &self.zone)
    }

    /// The answer to `name` `qtype`. Answer records are owned by `name` as
    /// asked (case kept, made absolute).
    pub fn lookup(&self, name: &str, qtype: QType) -> Answer {
        let key = normalize(name);
        let owner = absolute(name.trim_end_matches('.'));
        let answer = |data: &mut dyn Iterator<Item = RData>| {
            let rrs: Vec<Rr> = data
                .filter(|d| d.answers(qtype))
                .map(|data| Rr {
                    name: owner.clone(),
                    ttl: TTL,
                    data,
                })
                .collect();
            if rrs.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(rrs)
            }
        };
        if let Some(data) = self.names.get(&key) {
            return answer(&mut data.iter().cloned());
        }
        if is_reverse(&key) || !in_zone(&key, &self.zone) {
            return Answer::NotOurs;
        }
        if self.parents.contains(&key) {
            return Answer::NoData;
        }
        // Pods, "insecure" mode: `<dashed ip>.<ns>.pod.<zone>`, any namespace.
        if let Some(rest) = key.strip_suffix(&format!(".pod.{}", self.zone)) {
            match rest.split('.').collect::<Vec<_>>()[..] {
                [_namespace] => return Answer::NoData,
                [ip, _namespace] => {
                    if let Some(ip) = undash(ip) {
                        return answer(&mut std::iter::once(RData::of_ip(ip)));
                    }
                }
                _ => {}
            }
        }
        Answer::NxDomain
    }

    /// The A/AAAA records of in-zone SRV targets in `answers`, for the
    /// additional section.
    pub fn additional(&self, answers: &[Rr]) -> Vec<Rr> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for rr in answers {
            let RData::Srv { target, .. } = &rr.data else {
                continue;
            };
            let key = normalize(target);
            if !seen.insert(key.clone()) {
                continue;
            }
            for data in self.names.get(&key).into_iter().flatten() {
                if matches!(data, RData::A(_) | RData::Aaaa(_)) {
                    out.push(Rr {
                        name: target.clone(),
                        ttl: TTL,
                        data: data.clone(),
                    });
                }
            }
        }
        out
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn absolute(name: &str) -> String {
    format!("{name}.")
}

fn in_zone(name: &str, zone: &str) -> bool {
    name.strip_suffix(zone)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

fn is_reverse(name: &str) -> bool {
    in_zone(name, "in-addr.arpa") || in_zone(name, "ip6.arpa")
}

/// `d.c.b.a.in-addr.arpa` or the 32 reversed nibbles `.ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
    }
}

/// `10-0-0-1`, `fd00--1`: an address as one DNS label.
fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

fn undash(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(v4.into());
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(Into::into)
}

#[cfg(test)]
mod tests {
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
}
