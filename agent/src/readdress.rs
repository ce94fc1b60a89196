//! `inception-agent readdress`: run by the entrypoint before kubelet. A node
//! Pod recreated on its old state volume has a new IP; what kubeadm wrote
//! with the old one is rewritten (see `nesting::readdress`).

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use nesting::readdress::{
    KUBELET_FLAGS, LOCAL_KUBECONFIGS, MANIFESTS_DIR, NODE_IP_RECORD, read_record, readdress,
    to_loopback,
};

pub fn run(now: IpAddr) -> Result<()> {
    let before = std::fs::read_to_string(NODE_IP_RECORD)
        .ok()
        .and_then(|t| read_record(&t));
    rewrite(
        Path::new(NODE_IP_RECORD),
        Path::new(MANIFESTS_DIR),
        Path::new(KUBELET_FLAGS),
        now,
    )?;
    if let Some(old) = before.filter(|old| *old != now) {
        for f in LOCAL_KUBECONFIGS {
            to_loopback_in(Path::new(f), old)?;
        }
    }
    Ok(())
}

/// Points kubeconfig `path` at 127.0.0.1 where it named `old`.
pub fn to_loopback_in(path: &Path, old: IpAddr) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(()); // a worker, or not bootstrapped yet
    };
    let new = to_loopback(&text, old);
    if new != text {
        write(path, &new)?;
        tracing::info!("{}: {old} is now 127.0.0.1", path.display());
    }
    Ok(())
}

/// Rewrites the manifests in `manifests` and the `flags` file if `record`
/// names another address than `now`, then records `now`. Returns the files
/// it changed.
pub fn rewrite(record: &Path, manifests: &Path, flags: &Path, now: IpAddr) -> Result<()> {
    let before = std::fs::read_to_string(record)
        .ok()
        .and_then(|t| read_record(&t));
    if let Some(old) = before.filter(|old| *old != now) {
        let mut files: Vec<_> = std::fs::read_dir(manifests)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.push(flags.to_path_buf());
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let new = readdress(&text, old, now);
            if new != text {
                write(&f, &new)?;
                tracing::info!("{}: {old} is now {now}", f.display());
            }
        }
    }
    if before != Some(now) {
        if let Some(dir) = record.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot make {}", dir.display()))?;
        }
        write(record, &format!("{now}\n"))?;
    }
    Ok(())
}

/// Replaces `path` whole (a temp file renamed over it): kubelet watching
/// the manifests never reads half a file.
fn write(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("inception-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_kubeconfig_goes_to_loopback() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("scheduler.conf");
        std::fs::write(&kc, "    server: https://10.1.0.5:6443\n").unwrap();
        to_loopback_in(&kc, "10.1.0.5".parse().unwrap()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&kc).unwrap(),
            "    server: https://127.0.0.1:6443\n"
        );
        to_loopback_in(&d.path().join("missing.conf"), "10.1.0.5".parse().unwrap()).unwrap();
    }

    #[test]
    fn a_new_address_is_written_where_the_old_one_was() {
        let d = tempfile::tempdir().unwrap();
        let record = d.path().join("k/.ip");
        let manifests = d.path().join("k/manifests");
        let flags = d.path().join("flags.env");
        std::fs::create_dir_all(&manifests).unwrap();
        let etcd = manifests.join("etcd.yaml");
        let old: IpAddr = "10.1.0.5".parse().unwrap();
        let new: IpAddr = "10.1.0.8".parse().unwrap();

        // First start: nothing recorded, nothing rewritten.
        std::fs::write(&etcd, "--listen-client-urls=https://10.1.0.5:2379\n").unwrap();
        rewrite(&record, &manifests, &flags, old).unwrap();
        assert_eq!(std::fs::read_to_string(&record).unwrap(), "10.1.0.5\n");
        assert!(std::fs::read_to_string(&etcd).unwrap().contains("10.1.0.5"));

        // Recreated with another address.
        std::fs::write(&flags, "KUBELET_KUBEADM_ARGS=\"--node-ip=10.1.0.5\"\n").unwrap();
        rewrite(&record, &manifests, &flags, new).unwrap();
        assert_eq!(
            std::fs::read_to_string(&etcd).unwrap(),
            "--listen-client-urls=https://10.1.0.8:2379\n"
        );
        assert!(
            std::fs::read_to_string(&flags)
                .unwrap()
                .contains("--node-ip=10.1.0.8")
        );
        assert_eq!(std::fs::read_to_string(&record).unwrap(), "10.1.0.8\n");
        let left: Vec<_> = std::fs::read_dir(&manifests).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temp file left");
    }
}
