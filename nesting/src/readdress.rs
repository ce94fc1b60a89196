//! A node Pod that comes back with another IP (a deleted or evicted Pod,
//! recreated on its old state volume): what kubeadm wrote with the old
//! address is rewritten to the new one before kubelet starts, as kind's
//! entrypoint does for a restarted container. Only the static Pod
//! manifests and kubelet's flags name it: kubeconfigs and certificates use
//! the apiserver Service's name and ClusterIP, which do not change.

use std::net::IpAddr;

/// Where the address the node last started with is kept (on the state
/// volume, beside what kubeadm wrote).
pub const NODE_IP_RECORD: &str = "/etc/kubernetes/.inception-node-ip";
/// Directory of the static Pod manifests (the control plane's).
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// kubelet's flags as kubeadm wrote them.
pub const KUBELET_FLAGS: &str = "/var/lib/kubelet/kubeadm-flags.env";
/// The kubeconfigs kubeadm points at the node's own address (its local API
/// endpoint): the controller manager's and the scheduler's.
pub const LOCAL_KUBECONFIGS: [&str; 2] = [
    "/etc/kubernetes/controller-manager.conf",
    "/etc/kubernetes/scheduler.conf",
];

/// A kubeconfig whose server is the node's former address `old`, pointed
/// at 127.0.0.1 instead: the apiserver's certificate names 127.0.0.1, not
/// the node's new address.
pub fn to_loopback(text: &str, old: IpAddr) -> String {
    let host = match old {
        IpAddr::V4(_) => old.to_string(),
        IpAddr::V6(_) => format!("[{old}]"),
    };
    let prefix = format!("server: https://{host}:");
    let mut out: String = text
        .lines()
        .map(|l| {
            let body = l.trim_start();
            match body.strip_prefix(&prefix) {
                Some(port) => format!(
                    "{}server: https://127.0.0.1:{port}",
                    &l[..l.len() - body.len()]
                ),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `text` with every whole occurrence of `old` replaced by `new`: an
/// occurrence counts only where no character of an address of its family
/// touches it (digits and `.` for IPv4, so 10.0.0.5 never matches inside
/// 10.0.0.51 and `10.0.0.5:2379` does; hex digits and `:` for IPv6).
pub fn readdress(text: &str, old: IpAddr, new: IpAddr) -> String {
    let v4 = old.is_ipv4();
    let old = old.to_string();
    let new = new.to_string();
    let part = |c: Option<char>| {
        c.is_some_and(|c| {
            if v4 {
                c.is_ascii_digit() || c == '.'
            } else {
                c.is_ascii_hexdigit() || c == ':'
            }
        })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&old) {
        // The character before: in what is left, or else the last written.
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[at + old.len()..].chars().next();
        out.push_str(&rest[..at]);
        if part(before) || part(after) {
            out.push_str(&old);
        } else {
            out.push_str(&new);
        }
        rest = &rest[at + old.len()..];
    }
    out.push_str(rest);
    out
}

/// The address recorded by the last start, if the record holds one.
pub fn read_record(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn whole_addresses_only() {
        let etcd = "- --advertise-client-urls=https://10.244.0.5:2379\n\
                    - --listen-client-urls=https://127.0.0.1:2379,https://10.244.0.5:2379\n\
                    - --initial-cluster=cp=https://10.244.0.5:2380\n\
                    host: 10.244.0.51\n    host: 110.244.0.5\n";
        let out = readdress(etcd, ip("10.244.0.5"), ip("10.244.1.9"));
        assert_eq!(out.matches("10.244.1.9").count(), 3, "{out}");
        assert!(
            out.contains("host: 10.244.0.51"),
            "a longer address stays: {out}"
        );
        assert!(out.contains("host: 110.244.0.5"), "{out}");
        assert!(out.contains("https://127.0.0.1:2379"), "{out}");
    }

    #[test]
    fn at_the_edges_and_in_ipv6() {
        assert_eq!(
            readdress("10.0.0.5", ip("10.0.0.5"), ip("10.0.0.7")),
            "10.0.0.7"
        );
        let apiserver = "--advertise-address=fd00::5\nhost: fd00::5a\nurl: https://[fd00::5]:6443";
        let out = readdress(apiserver, ip("fd00::5"), ip("fd00::9"));
        assert_eq!(
            out,
            "--advertise-address=fd00::9\nhost: fd00::5a\nurl: https://[fd00::9]:6443"
        );
    }

    #[test]
    fn nothing_to_do_changes_nothing() {
        let t = "kind: Pod\nhostNetwork: true\n";
        assert_eq!(readdress(t, ip("10.0.0.5"), ip("10.0.0.6")), t);
    }

    #[test]
    fn local_kubeconfigs_go_to_loopback() {
        let kc = "clusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://10.0.0.5:6443\n  name: k\n";
        assert_eq!(
            to_loopback(kc, ip("10.0.0.5")),
            "clusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://127.0.0.1:6443\n  name: k\n"
        );
        assert_eq!(to_loopback(kc, ip("10.0.0.6")), kc, "another address stays");
        let v6 = "    server: https://[fd00::5]:6443\n";
        assert_eq!(
            to_loopback(v6, ip("fd00::5")),
            "    server: https://127.0.0.1:6443\n"
        );
    }

    #[test]
    fn the_record() {
        assert_eq!(read_record("10.0.0.5\n"), Some(ip("10.0.0.5")));
        assert_eq!(read_record(""), None);
        assert_eq!(read_record("garbage"), None);
    }
}
