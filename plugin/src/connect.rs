//! `connect PATH [-- CMD...]` and `kubeconfig PATH --merge`: open the chain
//! of tunnels to a cluster, then run a command against it, or add its
//! context to your kubeconfig and keep the tunnels open.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use nesting::ClusterPath;
use nesting::kubeadm::APISERVER_PORT;
use nesting::manifests::CONTROL_PLANE;

use crate::cli::{ConnectArgs, Global};
use crate::kubeconfig_cmd::{self, write_private};
use crate::{CommandFailed, client};

pub async fn connect(global: &Global, args: &ConnectArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    if args.command.is_empty() {
        return merge_and_hold(global, &path, args.port, out).await;
    }
    let root = client::connect(global).await?;
    let (parent, ns, _tunnels) = kubeconfig_cmd::reach(&root.client, &path).await?;
    let (addr, _task) = kubeconfig_cmd::open_tunnel(
        parent.clone(),
        ns.clone(),
        format!("{CONTROL_PLANE}-0"),
        APISERVER_PORT,
        args.port,
    )
    .await?;
    let kc = kubeconfig_cmd::build(&parent, &path, &ns, &format!("https://{addr}")).await?;
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

/// The kubeconfig file `--merge` writes to: the first of --kubeconfig or
/// KUBECONFIG, else ~/.kube/config (what kubectl writes to).
pub fn user_kubeconfig(global: &Global) -> Result<PathBuf> {
    if let Some(first) = global
        .kubeconfig
        .as_deref()
        .and_then(|k| k.split(':').find(|p| !p.is_empty()))
    {
        return Ok(PathBuf::from(first));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: pass --kubeconfig FILE")?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

fn read_or_empty(file: &std::path::Path) -> Result<String> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Opens the tunnels to `path`, adds context `inception-PATH` to the
/// user's kubeconfig, and keeps the tunnels open until Ctrl-C.
pub async fn merge_and_hold(
    global: &Global,
    path: &ClusterPath,
    port: u16,
    out: &mut impl Write,
) -> Result<()> {
    let root = client::connect(global).await?;
    let (parent, ns, _tunnels) = kubeconfig_cmd::reach(&root.client, path).await?;
    let (addr, task) = kubeconfig_cmd::open_tunnel(
        parent.clone(),
        ns.clone(),
        format!("{CONTROL_PLANE}-0"),
        APISERVER_PORT,
        port,
    )
    .await?;
    let kc = kubeconfig_cmd::build(&parent, path, &ns, &format!("https://{addr}")).await?;
    let file = user_kubeconfig(global)?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = nesting::kubeconfig::merge_into_text(
        &read_or_empty(&file)?,
        &kc,
        path,
        &root.context,
        false,
    )
    .with_context(|| format!("cannot merge into {}", file.display()))?;
    write_private(&file, &text)?;
    writeln!(
        out,
        "context {} added to {}: use it with --context {}",
        kc.current_context,
        file.display(),
        kc.current_context
    )?;
    out.flush()?;
    kubeconfig_cmd::hold(path, addr, task).await;
    Ok(())
}

/// Removes the contexts `merge_and_hold` added for clusters `doomed` picks
/// among those reached from the context `from`.
pub fn forget(
    global: &Global,
    from: &str,
    doomed: impl Fn(&ClusterPath) -> bool,
    out: &mut (impl Write + ?Sized),
) -> Result<()> {
    let file = user_kubeconfig(global)?;
    let text = read_or_empty(&file)?;
    let (new, gone) = nesting::kubeconfig::remove_from_text(&text, |m| {
        m.from.as_deref().is_none_or(|f| f == from) && doomed(&m.path)
    })
    .with_context(|| format!("cannot update {}", file.display()))?;
    if gone.is_empty() {
        return Ok(());
    }
    write_private(&file, &new)?;
    for name in gone {
        writeln!(out, "context {name} removed from {}", file.display())?;
    }
    Ok(())
}
