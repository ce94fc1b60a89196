//! The user's kubeconfig file: where it is, reading and writing it,
//! adding a cluster's context (`connect`, `kubeconfig --merge`) and
//! removing the contexts added for clusters that are gone.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nesting::ClusterPath;

use crate::cli::Global;
use crate::{client, reach};

pub mod remove;

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

/// The file a path names: symbolic links followed to their target, so
/// that a link stays a link when the target is replaced.
pub fn target(file: &Path) -> Result<PathBuf> {
    let mut p = file.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)
                    .with_context(|| format!("cannot read the link {}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    bail!("{}: too many levels of symbolic links", file.display())
}

/// Another program is changing the kubeconfig.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot change {file}: {lock} exists (waited 5 s), so another program is changing it; \
     try again, or remove {lock} if none is"
)]
pub struct Locked {
    file: String,
    lock: String,
}

/// `<file>.lock`, created exclusively as kubectl does, removed on drop.
struct Lock(PathBuf);

/// How long to wait for another program's lock: each change holds it for
/// milliseconds, so a lock held longer is most likely left behind.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Lock {
    fn take(file: &Path) -> Result<Lock> {
        Lock::take_within(file, LOCK_WAIT)
    }

    fn take_within(file: &Path, wait: std::time::Duration) -> Result<Lock> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(Lock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if start.elapsed() >= wait {
                        return Err(Locked {
                            file: file.display().to_string(),
                            lock: lock.display().to_string(),
                        }
                        .into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", lock.display()));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Replaces a file's text at once, readable by its owner only: a
/// temporary file in the same directory, renamed over it.
fn replace_private(file: &Path, text: &str) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeconfig-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(file)
        .with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

/// Changes the kubeconfig `file` under its lock: `change` gets its text
/// (empty when there is no file) and gives the new text, `None` to leave
/// it as it is.
pub fn update<T>(
    file: &Path,
    change: impl FnOnce(&str) -> Result<(Option<String>, T)>,
) -> Result<T> {
    let file = target(file)?;
    // No directory, no file: nothing to lock, and only nothing to write.
    if file
        .parent()
        .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        let (new, done) = change("")?;
        if new.is_some() {
            bail!(
                "cannot write {}: its directory does not exist",
                file.display()
            );
        }
        return Ok(done);
    }
    let _lock = Lock::take(&file)?;
    let (new, done) = change(&read_or_empty(&file)?)?;
    if let Some(text) = new {
        replace_private(&file, &text)?;
    }
    Ok(done)
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
    let gone = update(&file, |text| {
        let (new, gone) = nesting::kubeconfig::remove_from_text(text, |m| {
            m.from.as_deref().is_none_or(|f| f == from) && doomed(&m.path)
        })
        .with_context(|| format!("cannot update {}", file.display()))?;
        Ok(((!gone.is_empty()).then_some(new), gone))
    })?;
    for name in gone {
        writeln!(out, "context {name} removed from {}", file.display())?;
    }
    Ok(())
}

/// Opens the tunnels to `path`, adds context `inception-PATH` to the
/// user's kubeconfig, keeps the tunnels open until Ctrl-C (or SIGTERM,
/// SIGHUP), then removes the context again: it would point at a dead port.
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
    update(&file, |text| {
        let new = nesting::kubeconfig::merge_into_text(text, &kc, path, &root.context, false)
            .with_context(|| format!("cannot merge into {}", file.display()))?;
        Ok((Some(new), ()))
    })?;
    writeln!(
        out,
        "context {} added to {}: use it with --context {}",
        kc.current_context,
        file.display(),
        kc.current_context
    )?;
    out.flush()?;
    reach::hold(path, tunnel).await;
    let removed = remove::remove_from_file(&file, path)?;
    remove::report(out, &file, path, &removed)?;
    Ok(())
}

/// An admin kubeconfig `name` for a local tunnel, with placeholder keys:
/// what `connect` merges, for the tests of merging and removing.
#[cfg(test)]
pub(crate) fn test_admin(name: &str) -> nesting::kubeconfig::Kubeconfig {
    nesting::kubeconfig::Kubeconfig::admin(&nesting::kubeconfig::KubeconfigInput {
        name,
        server: "https://127.0.0.1:7443",
        ca_pem: "CA",
        cert_pem: "CERT",
        key_pem: "KEY",
        tls_server_name: None,
        proxy_url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "kind: Config\napiVersion: v1\nclusters: []\nx-mine: 1\n";

    fn append(file: &Path, line: &str) -> Result<()> {
        update(file, |text| Ok((Some(format!("{text}{line}\n")), ())))
    }

    #[test]
    fn update_replaces_the_file_and_leaves_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER).unwrap();
        append(&file, "y: 2").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("{USER}y: 2\n")
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config"], "no lock or temporary file is left");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn nothing_to_remove_from_a_file_in_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("none/config");
        let n = update(&file, |text| Ok((None, text.len()))).unwrap();
        assert_eq!(n, 0);
        assert!(append(&file, "y: 2").is_err());
        assert!(!dir.path().join("none").exists());
    }

    #[test]
    fn a_held_lock_is_a_clear_error_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER).unwrap();
        std::fs::write(dir.path().join("config.lock"), "").unwrap();
        let e = append(&file, "y: 2").unwrap_err();
        assert!(e.downcast_ref::<Locked>().is_some(), "{e:#}");
        let text = e.to_string();
        assert!(text.contains("config.lock exists"), "{text}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), USER);
        assert!(
            dir.path().join("config.lock").exists(),
            "not ours to remove"
        );
    }

    #[test]
    fn a_lock_let_go_soon_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let held = dir.path().join("config.lock");
        std::fs::write(&held, "").unwrap();
        let gone = held.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::remove_file(gone).unwrap();
        });
        let lock = Lock::take_within(&file, std::time::Duration::from_secs(3)).unwrap();
        t.join().unwrap();
        assert!(held.exists(), "ours now");
        drop(lock);
        assert!(!held.exists());
    }

    #[test]
    fn a_symlink_stays_and_its_target_is_updated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/config");
        std::fs::write(&real, USER).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink("real/config", &link).unwrap();
        append(&link, "y: 2").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            format!("{USER}y: 2\n")
        );
    }

    #[test]
    fn merging_keeps_order_and_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER).unwrap();
        let kc = test_admin("inception-lab");
        let path: ClusterPath = "lab".parse().unwrap();
        update(&file, |text| {
            let new = nesting::kubeconfig::merge_into_text(text, &kc, &path, "me", false)?;
            Ok((Some(new), ()))
        })
        .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let at = |k: &str| text.find(k).unwrap_or_else(|| panic!("{k} in {text}"));
        assert!(at("kind:") < at("apiVersion:"), "{text}");
        assert!(at("apiVersion:") < at("clusters:"), "{text}");
        assert!(at("clusters:") < at("x-mine: 1"), "{text}");
        assert!(text.contains("inception-lab"), "{text}");
    }
}
