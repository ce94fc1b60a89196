//! The user's kubeconfig file: where it is, reading and writing it,
//! adding a cluster's context (`connect`, `kubeconfig --merge`) and
//! removing the contexts added for clusters that are gone.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nesting::ClusterPath;

use crate::cli::Global;
use crate::{client, reach};

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

/// The file's text, empty when it does not exist.
pub fn read_or_empty(file: &Path) -> Result<String> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode on open: set it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Removes the contexts `connect` added for clusters `doomed` picks among
/// those reached from the context `from`.
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

/// Opens the tunnels to `path`, adds context `inception-PATH` to the
/// user's kubeconfig, and keeps the tunnels open until Ctrl-C.
pub async fn merge_and_hold(
    global: &Global,
    path: &ClusterPath,
    port: u16,
    out: &mut impl Write,
) -> Result<()> {
    let root = client::connect(global).await?;
    let chain = reach::reach(&root.client, path).await?;
    let (kc, tunnel) =
        reach::tunnel_kubeconfig(&chain.parent, path, &chain.namespace, port).await?;
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
    reach::hold(path, tunnel).await;
    Ok(())
}
