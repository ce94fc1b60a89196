//! The certificates kubeadm makes inside the control-plane node (its
//! apiserver serving certificate, the etcd leaves, the kubeconfigs of the
//! controller manager, scheduler and admin) last a year, and nothing else
//! renews them: the control plane's agent runs `kubeadm certs renew all`
//! once the apiserver's has less than `nesting::pki::RENEW_BEFORE` left,
//! then restarts the static Pods (their manifests moved out and back, as
//! kubeadm's documentation says) so they read the new files.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

const APISERVER_CERT: &str = "/etc/kubernetes/pki/apiserver.crt";
const MANIFESTS: &str = "/etc/kubernetes/manifests";
const PARKED: &str = "/etc/kubernetes/manifests-renewing";
/// How often the expiry is looked at.
const EVERY: Duration = Duration::from_secs(12 * 3600);
/// How long kubelet gets to stop the static Pods whose manifests went.
const STOPPED_IN: Duration = Duration::from_secs(20);

/// Whether the certificate in `pem` is due for renewal at `now`.
pub fn due(pem: &str, now: SystemTime) -> Result<bool> {
    let e = nesting::pki::cert_expiry("apiserver.crt", pem)?;
    Ok(e.expiring(now))
}

/// Checks now and every [`EVERY`]; never returns but on an error that
/// stops the agent (none: failures are logged and tried again).
pub async fn run() -> Result<()> {
    loop {
        if let Err(e) = renew_if_due().await {
            tracing::warn!("certificate renewal: {e:#}");
        }
        tokio::time::sleep(EVERY).await;
    }
}

async fn renew_if_due() -> Result<()> {
    let Ok(pem) = tokio::fs::read_to_string(APISERVER_CERT).await else {
        return Ok(()); // not bootstrapped yet
    };
    if !due(&pem, SystemTime::now())? {
        return Ok(());
    }
    tracing::info!("the apiserver certificate expires within 30 days: kubeadm certs renew all");
    let mut renewed = false;
    for args in [
        &["certs", "renew", "all"][..],
        &["alpha", "certs", "renew", "all"],
    ] {
        let out = tokio::process::Command::new("kubeadm")
            .args(args)
            .output()
            .await
            .context("cannot run kubeadm")?;
        if out.status.success() {
            renewed = true;
            break;
        }
    }
    anyhow::ensure!(renewed, "kubeadm certs renew all failed");
    restart_static_pods(Path::new(MANIFESTS), Path::new(PARKED), STOPPED_IN).await?;
    tracing::info!("certificates renewed; the control plane restarted with them");
    Ok(())
}

/// Moves every manifest of `manifests` into `parked`, waits `stopped_in`
/// (kubelet stops their Pods), and moves them back (kubelet starts them).
pub async fn restart_static_pods(
    manifests: &Path,
    parked: &Path,
    stopped_in: Duration,
) -> Result<()> {
    tokio::fs::create_dir_all(parked)
        .await
        .with_context(|| format!("cannot make {}", parked.display()))?;
    let mut names = Vec::new();
    let mut dir = tokio::fs::read_dir(manifests)
        .await
        .with_context(|| format!("cannot read {}", manifests.display()))?;
    while let Some(e) = dir.next_entry().await? {
        names.push(e.file_name());
    }
    for n in &names {
        tokio::fs::rename(manifests.join(n), parked.join(n)).await?;
    }
    tokio::time::sleep(stopped_in).await;
    for n in &names {
        tokio::fs::rename(parked.join(n), manifests.join(n)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_pods_go_and_come_back() {
        let d = tempfile::tempdir().unwrap();
        let (m, p) = (d.path().join("manifests"), d.path().join("parked"));
        std::fs::create_dir_all(&m).unwrap();
        for f in ["etcd.yaml", "kube-apiserver.yaml"] {
            std::fs::write(m.join(f), f).unwrap();
        }
        restart_static_pods(&m, &p, Duration::ZERO).await.unwrap();
        let mut back: Vec<_> = std::fs::read_dir(&m)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        back.sort();
        assert_eq!(back, ["etcd.yaml", "kube-apiserver.yaml"]);
        assert_eq!(std::fs::read_dir(&p).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_to_string(m.join("etcd.yaml")).unwrap(),
            "etcd.yaml"
        );
    }

    #[test]
    fn due_within_thirty_days() {
        let mut params = rcgen::CertificateParams::new(vec!["x".into()]).unwrap();
        let now = SystemTime::now();
        let in_days = |d: u64| now + Duration::from_secs(d * 86400);
        let at = |t: SystemTime| {
            rcgen::date_time_ymd(1970, 1, 1) + t.duration_since(SystemTime::UNIX_EPOCH).unwrap()
        };
        params.not_before = at(now - Duration::from_secs(86400));
        params.not_after = at(in_days(10));
        let key = rcgen::KeyPair::generate().unwrap();
        let soon = params.self_signed(&key).unwrap().pem();
        assert!(due(&soon, now).unwrap());
        params.not_after = at(in_days(200));
        let later = params.self_signed(&key).unwrap().pem();
        assert!(!due(&later, now).unwrap());
        assert!(due("not a certificate", now).is_err());
    }
}
