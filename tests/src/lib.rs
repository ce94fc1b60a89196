//! Harness for tests against the local lab (`tests/lab/lab`).
//!
//! `tests/run` starts the lab and builds the plugin, then sets
//! `INCEPTION_LAB_KUBECONFIG`, `INCEPTION_LAB_ENV` and `INCEPTION_BIN`.
//! Without them these tests fail: they never pass by skipping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use kube::config::{KubeConfigOptions, Kubeconfig};

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: these tests need the local lab and the built plugin. \
             Run them through tests/run, which starts the lab and sets it"
        )
    })
}

/// The lab the suite runs against.
pub struct Lab {
    pub kubeconfig: PathBuf,
    /// Facts from the lab's lab.env (LAB_SERVICE_CIDR, ...).
    pub facts: BTreeMap<String, String>,
    pub bin: PathBuf,
}

impl Lab {
    /// The lab without a node: API objects only, nothing runs.
    pub fn get() -> Lab {
        Lab::load("INCEPTION_LAB_KUBECONFIG", "INCEPTION_LAB_ENV")
    }

    /// The lab with a real node (containerd + kubelet on this machine).
    pub fn with_node() -> Lab {
        Lab::load("INCEPTION_NODE_LAB_KUBECONFIG", "INCEPTION_NODE_LAB_ENV")
    }

    fn load(kubeconfig_var: &str, env_var: &str) -> Lab {
        let kubeconfig = PathBuf::from(required(kubeconfig_var));
        assert!(
            kubeconfig.exists(),
            "lab kubeconfig {} is missing",
            kubeconfig.display()
        );
        let env = required(env_var);
        let text =
            std::fs::read_to_string(&env).unwrap_or_else(|e| panic!("cannot read {env}: {e}"));
        let facts = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        let bin = PathBuf::from(required("INCEPTION_BIN"));
        assert!(
            bin.exists(),
            "plugin binary {} is missing: build it first",
            bin.display()
        );
        Lab {
            kubeconfig,
            facts,
            bin,
        }
    }

    pub fn fact(&self, key: &str) -> &str {
        self.facts
            .get(key)
            .unwrap_or_else(|| panic!("lab.env has no {key}"))
    }

    /// `up NAME ARGS...` on the lab with a node: its release, its node image
    /// and its image archives, waiting up to 5 minutes a level.
    pub fn up_booting(&self, name: &str, args: &[&str]) -> String {
        let version = self.fact("LAB_K8S_VERSION").to_string();
        let image = format!("localhost/kubectl-inception/node:{version}");
        let images = self.fact("LAB_IMAGES_DIR").to_string();
        let mut all = vec![
            "up",
            name,
            "--kubernetes-version",
            &version,
            "--image",
            &image,
        ];
        all.extend_from_slice(&["--images-dir", &images, "--timeout", "5m"]);
        all.extend_from_slice(args);
        self.ok(&all)
    }

    /// Runs the plugin against the lab.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("run the plugin")
    }

    /// Runs the plugin and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kubectl-inception {args:?} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs the plugin and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "kubectl-inception {args:?} should have failed"
        );
        String::from_utf8(o.stderr).unwrap()
    }

    /// `tree` finds no cluster, and says so on stderr: stdout holds a
    /// table, or nothing.
    pub fn assert_no_clusters(&self) {
        let o = self.run(&["tree"]);
        let notes = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{notes}");
        assert!(
            o.stdout.is_empty() && notes.contains("no inception clusters"),
            "{notes}"
        );
    }

    pub async fn client(&self) -> kube::Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

/// A `kubectl-inception kubeconfig PATH` process keeping its tunnel open;
/// killed on drop.
pub struct Tunnel {
    child: std::process::Child,
    dir: PathBuf,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// A client for cluster `path`, reached from this machine through the
    /// plugin's tunnel; keep the `Tunnel` while using the client.
    pub async fn inner_client(&self, path: &str) -> (kube::Client, Tunnel) {
        use std::time::{Duration, Instant};
        let dir = std::env::temp_dir().join(format!(
            "inception-{}-{}",
            path.replace('/', "-"),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kubeconfig");
        let child = Command::new(&self.bin)
            .args(["kubeconfig", path, "--write", file.to_str().unwrap()])
            .env("KUBECONFIG", &self.kubeconfig)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let tunnel = Tunnel { child, dir };
        let start = Instant::now();
        while !file.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "kubeconfig {path} not written"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let kc = Kubeconfig::read_from(&file).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        (kube::Client::try_from(config).unwrap(), tunnel)
    }
}

/// A node's pod CIDR; panics when it has none.
pub fn pod_cidr(n: &k8s_openapi::api::core::v1::Node) -> ipnet::IpNet {
    let text = n.spec.as_ref().and_then(|s| s.pod_cidr.as_deref());
    text.unwrap_or_else(|| panic!("node {:?} has no podCIDR", n.metadata.name))
        .parse()
        .unwrap()
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Lab {
    /// UIDs of the node Pods of the cluster in `namespace` of the lab.
    pub async fn node_pod_uids(&self, namespace: &str) -> Vec<String> {
        use k8s_openapi::api::core::v1::Pod;
        let pods: kube::Api<Pod> = kube::Api::namespaced(self.client().await, namespace);
        pods.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.metadata.uid)
            .collect()
    }

    /// Asserts that the lab's node holds nothing of the node Pods `uids`
    /// and of `namespace` any more: no mounts, containers, tasks or
    /// iptables rules (waiting up to a minute for the kubelet to clean up).
    pub fn assert_nothing_left(&self, namespace: &str, uids: &[String]) {
        use std::time::{Duration, Instant};
        let start = Instant::now();
        loop {
            let mounts = sh("cat /proc/self/mountinfo");
            let left: Vec<&String> = uids
                .iter()
                .filter(|u| mounts.contains(u.as_str()))
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mounts of deleted node Pods left: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let rules = sh("iptables-save 2>/dev/null; iptables-legacy-save 2>/dev/null");
        assert!(
            !rules.contains(namespace),
            "iptables rules of {namespace} left"
        );
        let sock = self.fact("LAB_CONTAINERD_SOCKET");
        let containers = sh(&format!("ctr -a {sock} -n k8s.io containers ls 2>&1"));
        let tasks = sh(&format!("ctr -a {sock} -n k8s.io tasks ls 2>&1"));
        for u in uids {
            assert!(
                !containers.contains(u.as_str()) && !tasks.contains(u.as_str()),
                "containers of node Pod {u} left"
            );
        }
    }
}
