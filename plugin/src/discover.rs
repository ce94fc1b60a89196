//! What networks the current cluster already uses, and where that was found.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Node, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube::{Api, Client};
use nesting::ranges::ParentNetworks;
use serde_json::Value;

/// CIDR-looking words in a text.
pub fn cidrs_in(text: &str) -> Vec<IpNet> {
    text.split(|c: char| {
        c.is_whitespace() || c == ',' || c == '"' || c == '[' || c == ']' || c == ';'
    })
    .map(|w| w.trim_end_matches(['.', ')']))
    .filter_map(|w| w.parse::<IpNet>().ok())
    .collect()
}

/// Asks the apiserver for a Service with an address outside any sane range:
/// its refusal names the valid range (the approach vcluster takes).
async fn service_cidr_from_error(client: &Client, out: &mut ParentNetworks) {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let probe = Service {
        metadata: kube::api::ObjectMeta {
            generate_name: Some("inception-cidr-probe-".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("1.1.1.1".into()),
            ports: Some(vec![ServicePort {
                port: 80,
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    for dry_run in [true, false] {
        let pp = PostParams {
            dry_run,
            ..PostParams::default()
        };
        match api.create(&pp, &probe).await {
            Err(kube::Error::Api(s)) => {
                let found = s
                    .message
                    .split_once("valid IPs")
                    .map(|(_, rest)| cidrs_in(rest))
                    .unwrap_or_default();
                if found.is_empty() {
                    out.notes.push(format!(
                        "the service probe was refused without naming a range: {}",
                        s.message
                    ));
                } else {
                    for c in found {
                        ParentNetworks::add(
                            &mut out.service_cidrs,
                            c,
                            "apiserver (out-of-range ClusterIP)",
                        );
                    }
                }
                return;
            }
            Err(e) => {
                out.notes.push(format!("the service probe failed: {e}"));
                return;
            }
            Ok(created) if !dry_run => {
                // 1.1.1.1 was in range: remove the probe at once.
                if let Some(name) = created.metadata.name {
                    let _ = api.delete(&name, &Default::default()).await;
                }
                out.notes.push(
                    "the service probe was accepted: 1.1.1.1 is inside the service range".into(),
                );
                return;
            }
            Ok(_) => continue, // dry run allocated nothing: try for real
        }
    }
}

async fn service_cidr_objects(client: &Client, out: &mut ParentNetworks) {
    for version in ["v1", "v1beta1"] {
        let ar = ApiResource {
            group: "networking.k8s.io".into(),
            version: version.into(),
            api_version: format!("networking.k8s.io/{version}"),
            kind: "ServiceCIDR".into(),
            plural: "servicecidrs".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        if let Ok(list) = api.list(&ListParams::default()).await {
            for o in list.items {
                for c in o.data["spec"]["cidrs"].as_array().into_iter().flatten() {
                    if let Some(net) = c.as_str().and_then(|s| s.parse().ok()) {
                        ParentNetworks::add(
                            &mut out.service_cidrs,
                            net,
                            &format!("ServiceCIDR {}", o.metadata.name.as_deref().unwrap_or("?")),
                        );
                    }
                }
            }
            return;
        }
    }
}

async fn kube_system(client: &Client, out: &mut ParentNetworks) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    if let Ok(Some(cm)) = api.get_opt("kubeadm-config").await {
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get("ClusterConfiguration"))
            .cloned()
            .unwrap_or_default();
        if let Ok(cfg) = serde_saphyr::from_str::<Value>(&text) {
            let net = &cfg["networking"];
            for c in cidrs_in(net["podSubnet"].as_str().unwrap_or_default()) {
                ParentNetworks::add(&mut out.pod_cidrs, c, "kubeadm-config");
            }
            for c in cidrs_in(net["serviceSubnet"].as_str().unwrap_or_default()) {
                ParentNetworks::add(&mut out.service_cidrs, c, "kubeadm-config");
            }
            out.dns_domain = net["dnsDomain"].as_str().map(str::to_string);
        }
    }
    if let Ok(Some(cm)) = api.get_opt("kube-proxy").await {
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get("config.conf"))
            .cloned()
            .unwrap_or_default();
        if let Ok(cfg) = serde_saphyr::from_str::<Value>(&text) {
            for c in cidrs_in(cfg["clusterCIDR"].as_str().unwrap_or_default()) {
                ParentNetworks::add(&mut out.pod_cidrs, c, "kube-proxy config");
            }
        }
    }
}

async fn nodes(client: &Client, out: &mut ParentNetworks) {
    let api: Api<Node> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let mut ips = BTreeSet::new();
            for n in list.items {
                let name = n.metadata.name.clone().unwrap_or_default();
                for c in n
                    .spec
                    .as_ref()
                    .and_then(|s| s.pod_cidrs.clone())
                    .unwrap_or_default()
                {
                    if let Ok(net) = c.parse() {
                        ParentNetworks::add(&mut out.pod_cidrs, net, &format!("node {name}"));
                    }
                }
                for a in n.status.and_then(|s| s.addresses).unwrap_or_default() {
                    if let Ok(ip) = a.address.parse::<IpAddr>() {
                        ips.insert(ip);
                    }
                }
            }
            out.node_ips = ips.into_iter().collect();
        }
        Err(e) => out.notes.push(format!("cannot list nodes: {e}")),
    }
}

/// Looks everywhere it can; never fails, but says what it could not find.
pub async fn discover(client: &Client) -> ParentNetworks {
    let (mut a, mut b, mut c, mut d) = Default::default();
    tokio::join!(
        service_cidr_from_error(client, &mut a),
        service_cidr_objects(client, &mut b),
        kube_system(client, &mut c),
        nodes(client, &mut d),
    );
    let mut out: ParentNetworks = ParentNetworks::default();
    for part in [a, b, c, d] {
        for f in part.service_cidrs {
            ParentNetworks::add(&mut out.service_cidrs, f.cidr, &f.source);
        }
        for f in part.pod_cidrs {
            ParentNetworks::add(&mut out.pod_cidrs, f.cidr, &f.source);
        }
        out.node_ips.extend(part.node_ips);
        out.dns_domain = out.dns_domain.or(part.dns_domain);
        out.notes.extend(part.notes);
    }
    if out.service_cidrs.is_empty() {
        out.notes.push(
            "no service CIDR found: give --parent-service-cidr if the default pool overlaps it"
                .into(),
        );
    }
    if out.pod_cidrs.is_empty() {
        out.notes.push("no pod CIDR found (no node has one and no kubeadm or kube-proxy config was readable): give --parent-pod-cidr if the pool overlaps it".into());
    }
    for f in out.service_cidrs.iter().chain(&out.pod_cidrs) {
        tracing::info!(cidr = %f.cidr, source = %f.source, "found parent range");
    }
    for n in &out.notes {
        tracing::info!("{n}");
    }
    out
}

/// Addresses × ports of EndpointSlices, whatever their readiness.
fn slice_addrs(slices: &[EndpointSlice]) -> Vec<SocketAddr> {
    let mut out = BTreeSet::new();
    for s in slices {
        let ports: Vec<u16> = (s.ports.iter().flatten())
            .filter_map(|p| p.port.and_then(|p| u16::try_from(p).ok()))
            .collect();
        for e in &s.endpoints {
            for a in &e.addresses {
                if let Ok(ip) = a.parse::<IpAddr>() {
                    out.extend(ports.iter().map(|&p| SocketAddr::new(ip, p)));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Addresses × ports of an Endpoints object, ready or not.
fn endpoints_addrs(ep: &Endpoints) -> Vec<SocketAddr> {
    let mut out = BTreeSet::new();
    for s in ep.subsets.iter().flatten() {
        let ports: Vec<u16> = (s.ports.iter().flatten())
            .filter_map(|p| u16::try_from(p.port).ok())
            .collect();
        let addrs = s.addresses.iter().flatten();
        for a in addrs.chain(s.not_ready_addresses.iter().flatten()) {
            if let Ok(ip) = a.ip.parse::<IpAddr>() {
                out.extend(ports.iter().map(|&p| SocketAddr::new(ip, p)));
            }
        }
    }
    out.into_iter().collect()
}

/// The cluster's own apiserver endpoints: those of its `default/kubernetes`
/// Service, from its EndpointSlices (discovery.k8s.io/v1, 1.21 on) or else
/// its Endpoints. Node Pods of the clusters made in it reject every
/// connection to them. Never fails: empty (and logged) when not readable.
pub async fn parent_apiservers(client: &Client) -> Vec<SocketAddr> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels("kubernetes.io/service-name=kubernetes");
    let mut notes = Vec::new();
    match slices.list(&lp).await {
        Ok(list) => {
            let found = slice_addrs(&list.items);
            if !found.is_empty() {
                return found;
            }
        }
        Err(e) => notes.push(format!("EndpointSlices: {e}")),
    }
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    match endpoints.get_opt("kubernetes").await {
        Ok(Some(ep)) => {
            let found = endpoints_addrs(&ep);
            if !found.is_empty() {
                return found;
            }
            notes.push("Endpoints default/kubernetes lists no address".into());
        }
        Ok(None) => notes.push("no Endpoints default/kubernetes".into()),
        Err(e) => notes.push(format!("Endpoints: {e}")),
    }
    tracing::warn!(
        "the parent apiserver's endpoints are unknown ({}): node Pods reject only its kubernetes Service",
        notes.join("; ")
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ranges_from_apiserver_messages() {
        let msg = r#"Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"#;
        let (_, rest) = msg.split_once("valid IPs").unwrap();
        assert_eq!(
            cidrs_in(rest),
            vec!["10.96.0.0/12".parse::<IpNet>().unwrap()]
        );
        let dual = "The range of valid IPs is 10.96.0.0/16,fd00:10:96::/112.";
        assert_eq!(cidrs_in(dual).len(), 2);
        assert!(cidrs_in("no range here 1.1.1.1").is_empty());
    }

    #[test]
    fn apiserver_endpoints_from_slices_and_endpoints() {
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubernetes"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.0.2.2"]}, {"addresses": ["192.0.2.3"]}],
            "ports": [{"name": "https", "port": 27345, "protocol": "TCP"}]
        }))
        .unwrap();
        let want: Vec<SocketAddr> = vec![
            "192.0.2.2:27345".parse().unwrap(),
            "192.0.2.3:27345".parse().unwrap(),
        ];
        assert_eq!(slice_addrs(&[slice.clone(), slice]), want);
        let ep: Endpoints = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubernetes"},
            "subsets": [{
                "addresses": [{"ip": "192.0.2.3"}],
                "notReadyAddresses": [{"ip": "192.0.2.2"}],
                "ports": [{"name": "https", "port": 27345, "protocol": "TCP"}]
            }]
        }))
        .unwrap();
        assert_eq!(endpoints_addrs(&ep), want);
        assert!(endpoints_addrs(&Endpoints::default()).is_empty());
    }
}
