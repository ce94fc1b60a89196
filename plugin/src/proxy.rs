//! Which proxy the requests to a cluster go through, decided as kubectl
//! decides: the kubeconfig's `proxy-url` when set, else the environment
//! the way Go's `http.ProxyFromEnvironment` reads it (HTTPS_PROXY for
//! https servers, HTTP_PROXY for http ones, NO_PROXY, and never a proxy for
//! localhost or a loopback address). Pure: the environment is passed in.

use std::net::IpAddr;

use http::Uri;
use ipnet::IpNet;

/// The proxy for requests to `server`: `proxy_url` (the kubeconfig
/// cluster's `proxy-url`) if set, else what `env` says.
pub fn choose(
    server: &Uri,
    proxy_url: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Uri>, String> {
    if let Some(p) = proxy_url.filter(|p| !p.trim().is_empty()) {
        return parse(p).map(Some);
    }
    let any = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|n| env(n).filter(|v| !v.is_empty()))
    };
    let https = server.scheme_str() != Some("http");
    let proxy = if https {
        any(["HTTPS_PROXY", "https_proxy"])
    } else {
        any(["HTTP_PROXY", "http_proxy"])
    };
    let Some(proxy) = proxy else {
        return Ok(None);
    };
    let host = server
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = server.port_u16().unwrap_or(if https { 443 } else { 80 });
    let no_proxy = any(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    if !use_proxy(&host, port, &no_proxy) {
        return Ok(None);
    }
    parse(&proxy).map(Some)
}

/// Explains kube's refusal of a kubeconfig: with a proxy in play, kube
/// reads NO_PROXY itself and refuses entries Go skips (an empty one
/// between commas, say).
pub fn explain(e: kube::config::KubeconfigError) -> anyhow::Error {
    match e {
        kube::config::KubeconfigError::ParseNoProxy(why) => anyhow::anyhow!(
            "cannot read NO_PROXY (or no_proxy): {why}; remove empty or \
             malformed entries (a comma-separated list of hosts, .domains, \
             addresses and CIDRs), or unset it"
        ),
        other => other.into(),
    }
}

/// A proxy address; without a scheme it is an http proxy, as in Go.
fn parse(p: &str) -> Result<Uri, String> {
    let p = p.trim();
    let text = if p.contains("://") {
        p.to_string()
    } else {
        format!("http://{p}")
    };
    text.parse::<Uri>()
        .map_err(|e| format!("invalid proxy address {p:?}: {e}"))
}

/// False for localhost, loopback addresses and what NO_PROXY names.
fn use_proxy(host: &str, port: u16, no_proxy: &str) -> bool {
    let ip = host.parse::<IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    !no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| excludes(&e, host, ip, port))
}

/// Whether one NO_PROXY entry (`*`, a CIDR, an address or a domain, the
/// last two with an optional port) covers `host:port`.
fn excludes(entry: &str, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if entry.contains('/') {
        return match (entry.parse::<IpNet>(), ip) {
            (Ok(net), Some(ip)) => net.contains(&ip),
            _ => false,
        };
    }
    let (name, want_port) = split_port(entry);
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    if let Ok(addr) = name.parse::<IpAddr>() {
        return ip == Some(addr);
    }
    // "foo.com" covers foo.com and its subdomains, ".foo.com" (or
    // "*.foo.com") only the subdomains.
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

/// `host:port`, `[v6]:port` or a bare host (a bare IPv6 address too).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(server: &str, proxy_url: Option<&str>, vars: &[(&str, &str)]) -> Option<String> {
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        choose(&server.parse().unwrap(), proxy_url, env)
            .unwrap()
            .map(|u| u.to_string())
    }

    const P: &str = "http://proxy:3128";

    #[test]
    fn the_kubeconfig_proxy_url_wins_over_the_environment() {
        let vars = [("HTTPS_PROXY", P), ("NO_PROXY", "*")];
        assert_eq!(
            with("https://k8s:6443", Some("socks5://s:1080"), &vars).as_deref(),
            Some("socks5://s:1080/")
        );
    }

    #[test]
    fn https_servers_use_https_proxy_in_either_case() {
        let got = |vars: &[(&str, &str)]| with("https://k8s.example:6443", None, vars);
        assert_eq!(
            got(&[("HTTPS_PROXY", P)]).as_deref(),
            Some("http://proxy:3128/")
        );
        assert_eq!(
            got(&[("https_proxy", P)]).as_deref(),
            Some("http://proxy:3128/")
        );
        // HTTP_PROXY is for http servers only, as in Go.
        assert_eq!(got(&[("HTTP_PROXY", P)]), None);
        assert_eq!(
            with("http://k8s:8080", None, &[("http_proxy", P)]).as_deref(),
            Some("http://proxy:3128/")
        );
        assert_eq!(got(&[]), None);
        assert_eq!(got(&[("HTTPS_PROXY", "")]), None);
        // No scheme: an http proxy.
        assert_eq!(
            got(&[("HTTPS_PROXY", "proxy:3128")]).as_deref(),
            Some("http://proxy:3128/")
        );
    }

    #[test]
    fn loopback_servers_never_use_the_environment_proxy() {
        for server in [
            "https://127.0.0.1:41000",
            "https://localhost:6443",
            "https://[::1]:6443",
            "https://127.3.4.5",
        ] {
            assert_eq!(with(server, None, &[("HTTPS_PROXY", P)]), None, "{server}");
        }
        assert!(with("https://10.0.0.1:6443", None, &[("HTTPS_PROXY", P)]).is_some());
    }

    #[test]
    fn no_proxy_is_read_as_go_reads_it() {
        let skips = |server: &str, no_proxy: &str| {
            with(server, None, &[("HTTPS_PROXY", P), ("no_proxy", no_proxy)]).is_none()
        };
        assert!(skips("https://k8s.example.com:6443", "*"));
        assert!(skips("https://k8s.example.com:6443", "example.com"));
        assert!(skips("https://example.com:6443", "example.com"));
        assert!(skips("https://k8s.example.com:6443", ".example.com"));
        assert!(!skips("https://example.com:6443", ".example.com"));
        assert!(skips("https://a.example.com", "*.example.com"));
        assert!(!skips("https://notexample.com:6443", "example.com"));
        assert!(skips("https://10.1.2.3:6443", "foo, 10.0.0.0/8"));
        assert!(!skips("https://11.1.2.3:6443", "10.0.0.0/8"));
        assert!(skips("https://10.1.2.3:6443", "10.1.2.3"));
        assert!(skips("https://10.1.2.3:6443", "10.1.2.3:6443"));
        assert!(!skips("https://10.1.2.3:6443", "10.1.2.3:443"));
        assert!(skips("https://k8s.example.com", "k8s.example.com:443"));
        assert!(skips("https://[fd00::1]:6443", "fd00::/8"));
        assert!(skips("https://[fd00::1]:6443", "[fd00::1]:6443"));
        assert!(!skips("https://k8s.example.com:6443", ""));
        assert!(!skips("https://K8S.example.com:6443", "other.com"));
        assert!(skips("https://K8S.example.com:6443", "EXAMPLE.com"));
    }

    #[test]
    fn a_bad_proxy_address_is_an_error_naming_it() {
        let e = choose(
            &"https://k8s:6443".parse().unwrap(),
            Some("http://bad host"),
            |_| None,
        )
        .unwrap_err();
        assert!(e.contains("\"http://bad host\""), "{e}");
    }
}
