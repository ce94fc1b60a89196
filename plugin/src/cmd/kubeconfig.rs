//! `kubeconfig PATH`: an admin kubeconfig for a cluster, from the PKI the
//! plugin made. By default it points at a local tunnel that this command
//! keeps open: each connection is carried by a port-forward through the
//! parent's API to the control-plane Pod. A tunnel needs only a client for
//! the parent, so the next level can be reached through this one. With
//! `--detach` that tunnel is kept by a background process.

use std::io::Write;

use anyhow::Result;
use nesting::kubeadm::APISERVER_PORT;
use nesting::kubeconfig::Kubeconfig;
use nesting::{ClusterPath, naming};

use crate::cli::{Global, KubeconfigArgs};
use crate::kubeconfig_file::{self, write_private};
use crate::{client, reach};

mod detach;
pub mod tunnels;

pub async fn kubeconfig(
    global: &Global,
    args: &KubeconfigArgs,
    out: &mut impl Write,
) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    if args.merge {
        return kubeconfig_file::merge_and_hold(global, &path, args.port, out).await;
    }
    if args.detach
        && let Some(file) = &args.write
    {
        return detach::detach(&path, file).await;
    }
    let root = client::connect(global).await?;
    let chain = reach::reach(&root.client, &path).await?;
    let (parent, ns) = (&chain.parent, chain.namespace.as_str());
    let emit = |kc: &Kubeconfig, out: &mut dyn Write| -> Result<()> {
        let text = kc.to_yaml()?;
        match &args.write {
            Some(file) => {
                write_private(file, &text)?;
                eprintln!("wrote {}", file.display());
            }
            None => out.write_all(text.as_bytes())?,
        }
        Ok(())
    };
    if args.internal {
        let server = format!("https://{}:{APISERVER_PORT}", naming::service_host(ns));
        let kc = reach::admin_kubeconfig(parent, &path, ns, &server).await?;
        return emit(&kc, out);
    }
    let (kc, tunnel) = reach::tunnel_kubeconfig(parent, &path, ns, args.port).await?;
    emit(&kc, out)?;
    out.flush()?;
    // The background process of --detach: on record until it ends.
    let _record = match (&args.write, args.detached) {
        (Some(file), true) => Some(tunnels::record(&tunnels::Detached {
            pid: std::process::id(),
            path: path.to_string(),
            file: std::path::absolute(file)?,
            port: tunnel.addr().port(),
            context: root.context.clone(),
        })?),
        _ => None,
    };
    reach::hold(&path, tunnel).await;
    Ok(())
}
