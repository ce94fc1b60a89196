//! The tunnels `kubeconfig PATH --write FILE --detach` left running in the
//! background: one state file each, `<pid>.json` (mode 0600) in
//! `$XDG_RUNTIME_DIR/kubectl-inception/tunnels` (else
//! `~/.cache/kubectl-inception/tunnels`), written by the tunnel's process
//! and removed when it ends; `disconnect PATH` stops them.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nesting::ClusterPath;
use serde::{Deserialize, Serialize};

/// One tunnel running in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detached {
    pub pid: u32,
    /// The cluster path, as `lab/0`.
    pub path: String,
    /// The kubeconfig written, pointing at the tunnel.
    pub file: PathBuf,
    /// The tunnel's local port on 127.0.0.1.
    pub port: u16,
    /// The kubeconfig context the cluster was reached from.
    pub context: String,
}

impl Detached {
    pub fn to_text(&self) -> String {
        let mut t = serde_json::to_string_pretty(self).unwrap_or_default();
        t.push('\n');
        t
    }

    pub fn parse(text: &str) -> Result<Detached> {
        serde_json::from_str(text).context("not a tunnel state file")
    }

    /// True when this tunnel is to cluster `path`, and made from `context`
    /// when one is named.
    pub fn is_for(&self, path: &ClusterPath, context: Option<&str>) -> bool {
        self.path == path.to_string() && context.is_none_or(|c| c == self.context)
    }
}

/// Where the state files are, from XDG_RUNTIME_DIR and HOME.
fn dir_from(runtime: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = match set(runtime) {
        Some(r) => r.join("kubectl-inception"),
        None => set(home)?.join(".cache").join("kubectl-inception"),
    };
    Some(base.join("tunnels"))
}

/// The directory of the state files.
pub fn dir() -> Result<PathBuf> {
    dir_from(
        std::env::var_os("XDG_RUNTIME_DIR"),
        std::env::var_os("HOME"),
    )
    .context("neither XDG_RUNTIME_DIR nor HOME is set: set one to keep tunnels in the background")
}

/// The directory of the state files, made (0700) when missing.
pub fn make_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The state file of process `pid`.
pub fn state_file(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.json"))
}

/// The log (stderr) of process `pid`.
pub fn log_file(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.log"))
}

/// The state in `file`; `None` when there is no such file.
pub fn read(file: &Path) -> Result<Option<Detached>> {
    match std::fs::read_to_string(file) {
        Ok(t) => Detached::parse(&t)
            .map(Some)
            .with_context(|| format!("cannot read {}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// A state file this process wrote; removed, with its log, on drop.
pub struct Record {
    dir: PathBuf,
    pid: u32,
}

impl Drop for Record {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(state_file(&self.dir, self.pid));
        let _ = std::fs::remove_file(log_file(&self.dir, self.pid));
    }
}

/// Writes `state` at once (a temporary file renamed), readable by its
/// owner only.
pub fn record(state: &Detached) -> Result<Record> {
    record_in(make_dir()?, state)
}

fn record_in(dir: PathBuf, state: &Detached) -> Result<Record> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".state-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(state.to_text().as_bytes())?;
    let file = state_file(&dir, state.pid);
    tmp.persist(&file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Record {
        dir,
        pid: state.pid,
    })
}

/// True when a process's command line (`/proc/PID/cmdline`: arguments
/// ending in NUL) is that of a tunnel `--detach` started.
pub fn is_detached_tunnel(cmdline: &[u8]) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let Some(exe) = args.first() else {
        return false;
    };
    Path::new(OsStr::from_bytes(exe)).file_name() == Some(OsStr::new("kubectl-inception"))
        && args.contains(&&b"kubeconfig"[..])
        && args.contains(&&b"--detached"[..])
}

/// True when `pid` runs a tunnel `--detach` started (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| is_detached_tunnel(&c))
}

/// How long a stopped tunnel has to end.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Stops the background tunnels to cluster `path` (made from `context`
/// when one is named) and removes their state files, saying what it did
/// on `out`. Records of processes gone, or that are not such tunnels,
/// are removed without stopping anything.
pub fn stop(path: &ClusterPath, context: Option<&str>, out: &mut dyn Write) -> Result<()> {
    // Without a directory, none could be recorded.
    let Ok(dir) = dir() else {
        return Ok(());
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut stuck = Vec::new();
    for entry in entries {
        let file = entry?.path();
        if file.extension() != Some(OsStr::new("json")) {
            continue;
        }
        let state = match read(&file) {
            Ok(Some(s)) if s.is_for(path, context) => s,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("{e:#}");
                continue;
            }
        };
        let (pid, port) = (state.pid, state.port);
        if !running(pid) {
            writeln!(
                out,
                "tunnel to cluster {path} on port {port} (pid {pid}) was not running any more: {} removed",
                file.display()
            )?;
        } else if terminate(pid)? {
            writeln!(
                out,
                "tunnel to cluster {path} on 127.0.0.1:{port} (pid {pid}, for {}) stopped",
                state.file.display()
            )?;
        } else {
            stuck.push(pid);
            continue;
        }
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(log_file(&dir, pid));
    }
    if !stuck.is_empty() {
        let pids: Vec<String> = stuck.iter().map(u32::to_string).collect();
        bail!(
            "the tunnel process {} did not end within {} s of SIGTERM: `kill -KILL {}`, then run disconnect again",
            pids.join(", "),
            STOP_WAIT.as_secs(),
            pids.join(" ")
        );
    }
    Ok(())
}

/// Sends SIGTERM to `pid` and waits for it to end: false if it did not.
fn terminate(pid: u32) -> Result<bool> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() && running(pid) {
        bail!("kill -TERM {pid} failed ({status})");
    }
    let start = Instant::now();
    while running(pid) {
        if start.elapsed() > STOP_WAIT {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Detached {
        Detached {
            pid: 4242,
            path: "lab/0".into(),
            file: "/home/me/lab-0.kubeconfig".into(),
            port: 40123,
            context: "kind-kind".into(),
        }
    }

    #[test]
    fn a_state_file_reads_back_as_written() {
        let s = state();
        let text = s.to_text();
        assert!(text.contains("\"pid\": 4242"), "{text}");
        assert_eq!(Detached::parse(&text).unwrap(), s);
        assert!(Detached::parse("{\"pid\": 1}").is_err());
        assert!(Detached::parse("").is_err());
    }

    #[test]
    fn a_tunnel_matches_its_path_and_the_context_if_named() {
        let s = state();
        let p = |t: &str| t.parse::<ClusterPath>().unwrap();
        assert!(s.is_for(&p("lab/0"), None));
        assert!(s.is_for(&p("lab/0"), Some("kind-kind")));
        assert!(!s.is_for(&p("lab/0"), Some("prod")));
        assert!(!s.is_for(&p("lab"), None), "not the cluster above");
        assert!(!s.is_for(&p("lab/0/1"), None), "nor one below");
    }

    #[test]
    fn the_directory_is_under_the_runtime_directory_else_home() {
        let d = |r: Option<&str>, h: Option<&str>| dir_from(r.map(Into::into), h.map(Into::into));
        assert_eq!(
            d(Some("/run/user/1000"), Some("/home/me")),
            Some("/run/user/1000/kubectl-inception/tunnels".into())
        );
        assert_eq!(
            d(Some(""), Some("/home/me")),
            Some("/home/me/.cache/kubectl-inception/tunnels".into())
        );
        assert_eq!(d(None, None), None);
    }

    #[test]
    fn only_a_detached_tunnel_process_is_ours() {
        let ours = b"/usr/local/bin/kubectl-inception\0kubeconfig\0lab\0--write\0f\0--detached\0";
        assert!(is_detached_tunnel(ours));
        let foreground = b"/usr/local/bin/kubectl-inception\0kubeconfig\0lab\0--write\0f\0";
        assert!(!is_detached_tunnel(foreground));
        assert!(!is_detached_tunnel(b"sleep\0kubeconfig\0--detached\0"));
        assert!(!is_detached_tunnel(
            b"/bin/kubectl-inception-old\0kubeconfig\0--detached\0"
        ));
        assert!(!is_detached_tunnel(b""), "a zombie's command line is empty");
    }

    #[test]
    fn a_record_is_private_and_goes_with_its_log_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tunnels");
        std::fs::create_dir(&dir).unwrap();
        let s = state();
        let file = state_file(&dir, s.pid);
        std::fs::write(log_file(&dir, s.pid), "log").unwrap();
        let rec = record_in(dir.clone(), &s).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(&file).unwrap(), Some(s.clone()));
        drop(rec);
        assert_eq!(read(&file).unwrap(), None);
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    }
}
