//! `connect PATH [-- CMD...]` and `kubeconfig PATH --merge`: open the chain
//! of tunnels to a cluster, then run a command against it, or add its
//! context to your kubeconfig and keep the tunnels open.

use std::io::Write;

use anyhow::{Context, Result, bail};
use nesting::ClusterPath;

use crate::cli::{ConnectArgs, Global};
use crate::kubeconfig_file::{self, write_private};
use crate::{CommandFailed, client, reach};

pub async fn connect(global: &Global, args: &ConnectArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    if args.command.is_empty() {
        return kubeconfig_file::merge_and_hold(global, &path, args.port, out).await;
    }
    let root = client::connect(global).await?;
    let chain = reach::reach(&root.client, &path).await?;
    let (kc, _tunnel) =
        reach::tunnel_kubeconfig(&chain.parent, &path, &chain.namespace, args.port).await?;
    // A private directory for the kubeconfig, removed when done.
    let dir = tempfile::Builder::new()
        .prefix("kubectl-inception-")
        .tempdir()
        .context("cannot make a temporary directory")?;
    let file = dir.path().join("kubeconfig");
    write_private(&file, &kc.to_yaml()?)?;
    let (program, rest) = args.command.split_first().unwrap_or_else(|| unreachable!());
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env("KUBECONFIG", &file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program:?}"))?;
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = tokio::signal::ctrl_c() => {
            let _ = child.kill().await;
            child.wait().await?
        }
    };
    drop(dir);
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CommandFailed(code).into()),
        None => bail!("{program:?} was killed by a signal"),
    }
}
