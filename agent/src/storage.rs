//! Local volumes: for each claim the scheduler puts on this node, a
//! directory here and the PersistentVolume that points at it; once the
//! claim is gone, both are removed. What to do is decided by
//! `nesting::storage`; this module watches claims and volumes and does it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use nesting::storage;

/// Makes and removes this node's volumes.
pub struct Provisioner {
    pub volumes: Api<PersistentVolume>,
    pub node: String,
    /// The volumes directory as the node's kubelet sees it (the paths in
    /// the volumes): `storage::VOLUMES_DIR` in a node Pod.
    pub dir: String,
    /// Where `dir` is on this agent's file system (the same place in a
    /// node Pod and in the lab; a scratch directory in tests).
    pub root: PathBuf,
}

impl Provisioner {
    fn local(&self, dir: &str) -> PathBuf {
        let rel = dir
            .strip_prefix(self.dir.as_str())
            .unwrap_or(dir)
            .trim_start_matches('/');
        self.root.join(rel)
    }

    /// Makes the volume `claim` waits for on this node, if it waits for
    /// one here. Returns whether the claim is settled (nothing to do, or
    /// done); false means try again later.
    pub async fn provision(&self, claim: &PersistentVolumeClaim) -> bool {
        let Some(pv) = storage::volume_for(claim, &self.node, &self.dir) else {
            return true;
        };
        let name = pv.name_any();
        let claim_name = format!(
            "{}/{}",
            claim.namespace().unwrap_or_default(),
            claim.name_any()
        );
        let Some(dir) = pv
            .spec
            .as_ref()
            .and_then(|s| s.host_path.as_ref())
            .map(|h| self.local(&h.path))
        else {
            return true;
        };
        if let Err(e) = make_dir(&dir) {
            tracing::warn!("volume {name} for claim {claim_name}: {e:#}");
            return false;
        }
        match self.volumes.create(&PostParams::default(), &pv).await {
            Ok(_) => {
                tracing::info!("volume {name} for claim {claim_name} in {}", dir.display());
                true
            }
            Err(kube::Error::Api(s)) if s.code == 409 => true,
            Err(e) => {
                tracing::warn!("cannot create volume {name} for claim {claim_name}: {e}");
                false
            }
        }
    }

    /// Removes a released volume of this node: its directory, then the
    /// object. Returns whether it is settled.
    pub async fn release(&self, volume: &PersistentVolume) -> bool {
        let Some(dir) = storage::released_dir(volume, &self.node, &self.dir) else {
            return true;
        };
        let name = volume.name_any();
        let dir = self.local(&dir);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!("volume {name}: cannot remove {}: {e}", dir.display());
                return false;
            }
        }
        match self.volumes.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!("volume {name} removed");
                true
            }
            // Removed already: the watch saw it again before its deletion.
            Err(kube::Error::Api(s)) if s.code == 404 => true,
            Err(e) => {
                tracing::warn!("cannot delete volume {name}: {e}");
                false
            }
        }
    }
}

/// A directory any Pod's user may write in, as kind's provisioner makes.
fn make_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .with_context(|| format!("cannot open up {}", dir.display()))
}

/// Watches claims (all) and this node's volumes, and settles each; what
/// failed is tried again every few seconds. `dir` is the volumes directory,
/// the same path for the agent and the node's kubelet.
pub async fn run(client: Client, node: String, dir: String) -> Result<()> {
    let claims = Api::<PersistentVolumeClaim>::all(client.clone());
    let volumes = Api::<PersistentVolume>::all(client);
    let own = watcher::Config::default().labels(&format!("{}={node}", storage::NODE_LABEL));
    let claim_events = watcher(claims, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let volume_events = watcher(volumes.clone(), own)
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(claim_events, volume_events);
    let p = Provisioner {
        volumes,
        node,
        root: PathBuf::from(&dir),
        dir,
    };
    let mut claims_left: BTreeMap<String, PersistentVolumeClaim> = BTreeMap::new();
    let mut volumes_left: BTreeMap<String, PersistentVolume> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            c = claim_events.next() => match c {
                Some(Ok(c)) => {
                    let key = c.uid().unwrap_or_default();
                    if p.provision(&c).await { claims_left.remove(&key); } else { claims_left.insert(key, c); }
                }
                Some(Err(e)) => tracing::warn!("watching claims: {e}"),
                None => anyhow::bail!("the claim watch ended"),
            },
            v = volume_events.next() => match v {
                Some(Ok(v)) => {
                    let key = v.name_any();
                    if p.release(&v).await { volumes_left.remove(&key); } else { volumes_left.insert(key, v); }
                }
                Some(Err(e)) => tracing::warn!("watching volumes: {e}"),
                None => anyhow::bail!("the volume watch ended"),
            },
            _ = tick.tick() => {
                for (k, c) in std::mem::take(&mut claims_left) {
                    if !p.provision(&c).await { claims_left.insert(k, c); }
                }
                for (k, v) in std::mem::take(&mut volumes_left) {
                    if !p.release(&v).await { volumes_left.insert(k, v); }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
