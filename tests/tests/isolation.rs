//! Isolation between levels: nothing of a level ever reaches its parent's
//! API. Two levels on the lab; in every node Pod of each, the iptables chain
//! INCEPTION-PARENT-API rejects the parent's `kubernetes` Service and the
//! parent apiserver's own endpoints, and its packet counters show that no
//! connection to them was ever tried while both levels booted and passed
//! the smoke test. Then positive controls: a connection to each of those
//! addresses from a node Pod (OUTPUT), and from a level-2 node Pod to the
//! lab's API through its level-1 node (FORWARD), fails and is counted.
//! The node Pods hold no ServiceAccount credentials either.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use inception_tests::Lab;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Pod, Service};
use kube::api::{AttachParams, ListParams};
use kube::{Api, Client};
use tokio::io::AsyncReadExt;

const NAME: &str = "iso";
const CHAIN: &str = "INCEPTION-PARENT-API";
const NODE_CONTAINER: &str = "node";
const BACKENDS: [&str; 4] = [
    "iptables-legacy",
    "iptables-nft",
    "ip6tables-legacy",
    "ip6tables-nft",
];

/// Runs `script` with sh in the node container of `pod`; stdout and stderr
/// together, and whether it exited 0.
async fn sh(pods: &Api<Pod>, pod: &str, script: &str) -> (String, bool) {
    let ap = AttachParams::default()
        .container(NODE_CONTAINER)
        .stdin(false)
        .stdout(true)
        .stderr(false);
    let wrapped = format!("exec 2>&1\n{script}");
    let mut proc = pods
        .exec(pod, ["sh", "-c", wrapped.as_str()], &ap)
        .await
        .unwrap_or_else(|e| panic!("exec in {pod}: {e}"));
    let status = proc.take_status().unwrap();
    let mut stdout = proc.stdout().unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stdout.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("exec in {pod}: no end in 60 s"))
        .unwrap();
    drop(stdout);
    let status = status.await;
    let _ = proc.join().await;
    let ok = status.as_ref().and_then(|s| s.status.as_deref()) == Some("Success");
    (String::from_utf8_lossy(&buf).into_owned(), ok)
}

/// What one node Pod's iptables say about the chain, per backend.
#[derive(Debug, Default)]
struct Guard {
    /// Backend -> (address, packets) of each REJECT rule of the chain.
    rules: BTreeMap<String, Vec<(SocketAddr, u64)>>,
    /// Backend -> chains jumping to it (OUTPUT, FORWARD).
    jumps: BTreeMap<String, BTreeSet<String>>,
}

impl Guard {
    /// Packets rejected by the rule for `addr`, all backends together.
    fn packets(&self, addr: SocketAddr) -> u64 {
        (self.rules.values().flatten())
            .filter(|(a, _)| *a == addr)
            .map(|(_, p)| p)
            .sum()
    }

    fn total(&self) -> u64 {
        self.rules.values().flatten().map(|(_, p)| p).sum()
    }
}

/// `[pkts:bytes] -A CHAIN ...` lines of `*-save -c`, under `# backend`.
fn parse_guard(text: &str) -> Guard {
    let mut g = Guard::default();
    let mut backend = String::new();
    for line in text.lines() {
        if let Some(b) = line.strip_prefix("# backend ") {
            backend = b.trim().to_string();
            continue;
        }
        let Some((counters, rule)) = line.split_once(' ') else {
            continue;
        };
        let Some(packets) = counters
            .strip_prefix('[')
            .and_then(|c| c.split_once(':'))
            .and_then(|(p, _)| p.parse::<u64>().ok())
        else {
            continue;
        };
        let words: Vec<&str> = rule.split_whitespace().collect();
        let value = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        match (value("-A"), value("-j")) {
            (Some(chain), Some(CHAIN)) => {
                g.jumps
                    .entry(backend.clone())
                    .or_default()
                    .insert(chain.to_string());
            }
            (Some(CHAIN), Some("REJECT")) => {
                let ip: IpAddr = value("-d")
                    .and_then(|d| d.split('/').next())
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("rule without -d: {line}"));
                let port: u16 = value("--dport")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("rule without --dport: {line}"));
                assert!(
                    words.contains(&"tcp"),
                    "the rule is not for TCP only: {line}"
                );
                g.rules
                    .entry(backend.clone())
                    .or_default()
                    .push((SocketAddr::new(ip, port), packets));
            }
            _ => panic!("unexpected line in {CHAIN}: {line}"),
        }
    }
    g
}

async fn read_guard(pods: &Api<Pod>, pod: &str) -> Guard {
    let script = format!(
        "for b in {}; do echo \"# backend $b\"; \"$b-save\" -c -t filter 2>/dev/null | grep -e ' -A {CHAIN} ' -e ' -j {CHAIN}$' || true; done",
        BACKENDS.join(" ")
    );
    let (out, ok) = sh(pods, pod, &script).await;
    assert!(ok, "reading iptables in {pod} failed: {out}");
    parse_guard(&out)
}

/// The `kubernetes` Service of the cluster `client` reaches, as node Pods
/// see it in their environment.
async fn kubernetes_service(client: &Client) -> SocketAddr {
    let svc = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    let spec = svc.spec.unwrap();
    let ip: IpAddr = spec.cluster_ip.unwrap().parse().unwrap();
    let port = spec.ports.unwrap()[0].port;
    SocketAddr::new(ip, u16::try_from(port).unwrap())
}

/// The apiserver endpoints of the cluster `client` reaches.
async fn apiserver_endpoints(client: &Client) -> BTreeSet<SocketAddr> {
    let ep = Api::<Endpoints>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for s in ep.subsets.unwrap_or_default() {
        for a in s.addresses.unwrap_or_default() {
            for p in s.ports.iter().flatten() {
                let port = u16::try_from(p.port).unwrap();
                out.insert(SocketAddr::new(a.ip.parse().unwrap(), port));
            }
        }
    }
    assert!(!out.is_empty(), "no apiserver endpoint");
    out
}

/// One level: its node Pods (in the parent) and what they must reject.
struct Level {
    name: &'static str,
    /// The parent, holding the node Pods.
    parent: Client,
    pods: Api<Pod>,
    namespace: String,
    pod_names: Vec<String>,
    service: SocketAddr,
    endpoints: BTreeSet<SocketAddr>,
}

impl Level {
    async fn new(name: &'static str, parent: &Client, namespace: &str) -> Level {
        let pods: Api<Pod> = Api::namespaced(parent.clone(), namespace);
        let pod_names: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect();
        assert!(!pod_names.is_empty(), "no node Pod in {namespace}");
        Level {
            name,
            parent: parent.clone(),
            pods,
            namespace: namespace.to_string(),
            pod_names,
            service: kubernetes_service(parent).await,
            endpoints: apiserver_endpoints(parent).await,
        }
    }

    fn expected(&self) -> BTreeSet<SocketAddr> {
        let mut all = self.endpoints.clone();
        all.insert(self.service);
        all
    }

    /// Every node Pod: the chain names exactly the parent's API, is
    /// jumped to from OUTPUT and FORWARD, and has rejected nothing yet;
    /// the node Pods see the parent's Service and hold no token.
    async fn check_untouched(&self) {
        // The plugin handed the endpoints down in the bootstrap ConfigMap.
        let cm = Api::<ConfigMap>::namespaced(self.parent.clone(), &self.namespace)
            .get("bootstrap")
            .await
            .unwrap();
        let listed: BTreeSet<SocketAddr> = (cm.data.unwrap_or_default())
            .get("parent-apiservers")
            .unwrap_or_else(|| {
                panic!(
                    "{}: no parent-apiservers in the bootstrap ConfigMap",
                    self.name
                )
            })
            .lines()
            .map(|l| {
                let (ip, port) = l.split_once(' ').unwrap();
                SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap())
            })
            .collect();
        assert_eq!(listed, self.endpoints, "{}: bootstrap ConfigMap", self.name);

        let want = self.expected();
        for pod in &self.pod_names {
            let g = read_guard(&self.pods, pod).await;
            eprintln!("{} {pod}: {g:?}", self.name);
            let mut complete = 0;
            for (backend, rules) in &g.rules {
                let addrs: BTreeSet<SocketAddr> = rules.iter().map(|(a, _)| *a).collect();
                assert_eq!(addrs.len(), rules.len(), "{pod} {backend}: a rule twice");
                let v4: BTreeSet<SocketAddr> = want
                    .iter()
                    .filter(|a| a.is_ipv4() == backend.starts_with("iptables"))
                    .copied()
                    .collect();
                assert_eq!(addrs, v4, "{pod} {backend}: rules for other addresses");
                let jumps = g.jumps.get(backend).cloned().unwrap_or_default();
                assert_eq!(
                    jumps,
                    BTreeSet::from(["FORWARD".to_string(), "OUTPUT".to_string()]),
                    "{pod} {backend}: {CHAIN} not jumped to from OUTPUT and FORWARD"
                );
                complete += 1;
            }
            assert!(complete > 0, "{pod}: no {CHAIN} rules in any backend");
            for a in &want {
                assert!(
                    g.rules.values().flatten().any(|(r, _)| r == a),
                    "{pod}: {a} not rejected"
                );
            }
            assert_eq!(
                g.total(),
                0,
                "{pod}: something of level {} tried to reach its parent's API: {g:?}",
                self.name
            );

            // The rules came before kubelet ever started.
            let logs = self.pods.logs(pod, &Default::default()).await.unwrap();
            let guarded = logs
                .find(&format!(
                    "inception-bootstrap: parent API rejected in {CHAIN}"
                ))
                .unwrap_or_else(|| panic!("{pod}: no guard in the logs: {logs}"));
            let kubelet = logs
                .find("inception-node: starting kubelet")
                .unwrap_or_else(|| panic!("{pod}: kubelet never started: {logs}"));
            assert!(guarded < kubelet, "{pod}: kubelet started before the guard");

            // PID 1 (and bootstrap.sh after it) knows the parent's Service.
            let (env, ok) = sh(
                &self.pods,
                pod,
                "tr '\\0' '\\n' </proc/1/environ | grep '^KUBERNETES_SERVICE_'",
            )
            .await;
            assert!(ok, "{pod}: {env}");
            assert!(
                env.contains(&format!("KUBERNETES_SERVICE_HOST={}\n", self.service.ip()))
                    && env.contains(&format!(
                        "KUBERNETES_SERVICE_PORT={}\n",
                        self.service.port()
                    )),
                "{pod}: entrypoint environment {env}"
            );

            // No ServiceAccount credentials of the parent in the node Pod.
            let (out, ok) = sh(
                &self.pods,
                pod,
                "ls -d /var/run/secrets/kubernetes.io /run/secrets/kubernetes.io 2>&1; \
                 test ! -e /var/run/secrets/kubernetes.io && test ! -e /run/secrets/kubernetes.io",
            )
            .await;
            assert!(ok, "{pod}: ServiceAccount secrets present: {out}");
        }
    }
}

/// Tries a TCP connection to each of `addrs` from `pod`; every one must
/// fail at once (the REJECT answers with a reset).
async fn try_connect(pods: &Api<Pod>, pod: &str, addrs: &[SocketAddr]) {
    for a in addrs {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => v6.to_string(),
        };
        let script = format!(
            "if timeout 5 bash -c 'echo >/dev/tcp/{ip}/{}'; then echo CONNECTED; else echo FAILED; fi",
            a.port()
        );
        let (out, _) = sh(pods, pod, &script).await;
        eprintln!("{pod} -> {a}: {}", out.trim());
        assert!(
            out.contains("FAILED") && !out.contains("CONNECTED"),
            "{pod} reached {a}: {out}"
        );
    }
}

#[tokio::test]
async fn no_level_reaches_its_parents_api() {
    let lab = Lab::with_node();
    lab.ok(&["down", NAME]);
    let out = lab.up_booting(NAME, &["--depth", "2", "--workers", "0"]);
    assert!(out.contains("cluster iso Ready: 1 nodes"), "{out}");
    assert!(out.contains("cluster iso/0 Ready: 1 nodes"), "{out}");
    // Work at both levels: Pods scheduled, started and answering at level 2.
    let out = lab.ok(&["test", "iso/0"]);
    assert!(out.contains("smoke test passed on cluster iso/0"), "{out}");

    let root = lab.client().await;
    let (level1_api, tunnel) = lab.inner_client(NAME).await;
    let level1 = Level::new("iso", &root, "inception-iso").await;
    let level2 = Level::new("iso/0", &level1_api, "inception-iso-0").await;

    // The addresses are the right ones, known independently of the plugin.
    assert_eq!(level1.service.ip().to_string(), lab.fact("LAB_SERVICE_IP"));
    let lab_api: SocketAddr = format!(
        "{}:{}",
        lab.fact("LAB_ADVERTISE_ADDRESS"),
        lab.fact("LAB_API_PORT")
    )
    .parse()
    .unwrap();
    assert_eq!(level1.endpoints, BTreeSet::from([lab_api]));
    let cp1 = Api::<Pod>::namespaced(root.clone(), "inception-iso")
        .get("control-plane-0")
        .await
        .unwrap();
    let cp1_ip: IpAddr = cp1.status.unwrap().pod_ip.unwrap().parse().unwrap();
    assert_eq!(
        level2.endpoints,
        BTreeSet::from([SocketAddr::new(cp1_ip, 6443)]),
        "level 1's apiserver is its control-plane node Pod"
    );
    assert_ne!(level2.service, level1.service);

    level1.check_untouched().await;
    level2.check_untouched().await;

    // FORWARD: from level 2's node Pod to the lab's API, through level 1's
    // node (its only one: no workers). Level 1's rules count it; level 2's
    // own rules do not name the lab.
    let cp = "control-plane-0";
    let lab_addrs: Vec<SocketAddr> = level1.expected().into_iter().collect();
    try_connect(&level2.pods, cp, &lab_addrs).await;
    let g1 = read_guard(&level1.pods, cp).await;
    let g2 = read_guard(&level2.pods, cp).await;
    eprintln!("after level 2 -> lab: level 1 {g1:?}, level 2 {g2:?}");
    for a in &lab_addrs {
        assert!(g1.packets(*a) > 0, "level 1 did not count {a}: {g1:?}");
    }
    assert_eq!(g2.total(), 0, "level 2 rejected the lab's API itself");

    // OUTPUT: from each level's node Pod to its parent's API.
    for level in [&level2, &level1] {
        let before = read_guard(&level.pods, cp).await;
        let addrs: Vec<SocketAddr> = level.expected().into_iter().collect();
        try_connect(&level.pods, cp, &addrs).await;
        // The Service as the node Pod knows it, from its environment.
        let (out, _) = sh(
            &level.pods,
            cp,
            "if timeout 5 bash -c 'echo >/dev/tcp/$KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT'; \
             then echo CONNECTED; else echo FAILED; fi",
        )
        .await;
        assert!(out.contains("FAILED"), "{}: {out}", level.name);
        let after = read_guard(&level.pods, cp).await;
        eprintln!("{} {cp} after: {after:?}", level.name);
        for a in &addrs {
            assert!(
                after.packets(*a) > before.packets(*a),
                "{}: the rule for {a} did not count: {after:?}",
                level.name
            );
        }
        assert!(after.packets(level.service) >= before.packets(level.service) + 2);
    }

    // A rerun of bootstrap.sh (as after a failed attempt or a container
    // restart) adds no rule twice and keeps the counters.
    for level in [&level1, &level2] {
        let before = read_guard(&level.pods, cp).await;
        let (out, ok) = sh(
            &level.pods,
            cp,
            "/etc/inception/bootstrap/bootstrap.sh control-plane",
        )
        .await;
        assert!(ok, "{}: bootstrap.sh again: {out}", level.name);
        let after = read_guard(&level.pods, cp).await;
        assert_eq!(
            format!("{:?}", after.rules),
            format!("{:?}", before.rules),
            "{}: rules or counters changed by a rerun",
            level.name
        );
        assert_eq!(after.jumps, before.jumps);
    }
    // kubeadm's patch gave every level's apiserver its GC target.
    for level in [&level1, &level2] {
        let (out, ok) = sh(
            &level.pods,
            cp,
            "for p in $(pgrep -x kube-apiserver); do \
               grep -qzx GOGC=50 /proc/$p/environ && echo GOGC50 || echo NOGOGC; done",
        )
        .await;
        assert!(
            ok && out.contains("GOGC50") && !out.contains("NOGOGC"),
            "{}: {out}",
            level.name
        );
    }
    drop(tunnel);

    let uids = lab.node_pod_uids("inception-iso").await;
    lab.ok(&["down", NAME]);
    let namespaces: Api<Namespace> = Api::all(root);
    assert!(
        namespaces.get_opt("inception-iso").await.unwrap().is_none(),
        "namespace inception-iso left after down"
    );
    lab.assert_nothing_left("inception-iso", &uids);
}

#[test]
fn reads_counters_from_save_output() {
    let text = "# backend iptables-legacy
[0:0] -A FORWARD -j INCEPTION-PARENT-API
[3:180] -A OUTPUT -j INCEPTION-PARENT-API
[2:120] -A INCEPTION-PARENT-API -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j REJECT --reject-with tcp-reset
[0:0] -A INCEPTION-PARENT-API -d 192.0.2.2/32 -p tcp -m tcp --dport 27345 -j REJECT --reject-with tcp-reset
# backend iptables-nft
[1:60] -A INCEPTION-PARENT-API -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j REJECT --reject-with tcp-reset
# backend ip6tables-legacy
[0:0] -A INCEPTION-PARENT-API -d fd00::5/128 -p tcp -m tcp --dport 6443 -j REJECT --reject-with tcp-reset
# backend ip6tables-nft
";
    let g = parse_guard(text);
    assert_eq!(g.packets("10.96.0.1:443".parse().unwrap()), 3);
    assert_eq!(g.packets("192.0.2.2:27345".parse().unwrap()), 0);
    assert_eq!(g.packets("[fd00::5]:6443".parse().unwrap()), 0);
    assert_eq!(g.total(), 3);
    assert_eq!(g.jumps["iptables-legacy"].len(), 2);
    assert!(!g.jumps.contains_key("iptables-nft"));
}
