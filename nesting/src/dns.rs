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
mod tests;
