//! `kubeconfig PATH --write FILE --detach`: the same command, without
//! `--detach`, as a background process of its own; this one returns once
//! that process has written FILE and recorded itself.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nesting::ClusterPath;

use super::tunnels::{self, Detached};

/// How long the background process has to open its tunnel.
const START_WAIT: Duration = Duration::from_secs(60);

/// How many of its last log lines a failed start shows.
const TAIL: usize = 10;

/// The background process's arguments: ours, `--detach` replaced by the
/// hidden `--detached`, which records the tunnel.
pub fn child_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = args.into_iter().filter(|a| a != "--detach").collect();
    out.push("--detached".into());
    out
}

/// The line said once the tunnel runs in the background.
pub fn started(s: &Detached) -> String {
    format!(
        "wrote {}: its tunnel to cluster {} on 127.0.0.1:{} runs in the background (pid {}); \
         `kubectl inception disconnect {}` stops it",
        s.file.display(),
        s.path,
        s.port,
        s.pid,
        s.path
    )
}

/// The last `n` lines of a log, for an error message.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts the tunnel to `path` writing `file` in the background and
/// waits until it has (or failed, or START_WAIT passed).
pub async fn detach(path: &ClusterPath, file: &Path) -> Result<()> {
    let dir = tunnels::make_dir()?;
    let exe = std::env::current_exe().context("cannot find this program's executable")?;
    let (log, starting) = tempfile::Builder::new()
        .prefix(".starting-")
        .suffix(".log")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?
        .keep()
        .context("cannot keep the log file")?;
    let spawned = Command::new(&exe)
        // The name `disconnect` knows it by, whatever the file is called.
        .arg0("kubectl-inception")
        .args(child_args(std::env::args_os().skip(1)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: a closing terminal or Ctrl-C here does
        // not reach it.
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&starting);
            return Err(e).with_context(|| format!("cannot start {}", exe.display()));
        }
    };
    let pid = child.id();
    let named = tunnels::log_file(&dir, pid);
    let log = match std::fs::rename(&starting, &named) {
        Ok(()) => named,
        Err(e) => {
            tracing::debug!("cannot rename {}: {e}", starting.display());
            starting
        }
    };
    let state = tunnels::state_file(&dir, pid);
    let start = Instant::now();
    let failed = loop {
        if let Some(status) = child.try_wait()? {
            break format!("the background process (pid {pid}) ended ({status})");
        }
        match tunnels::read(&state) {
            Ok(Some(s)) => {
                eprintln!("{}", started(&s));
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("{e:#}"),
        }
        if start.elapsed() > START_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            break format!(
                "the background process (pid {pid}) did not open its tunnel within {} s: stopped",
                START_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&state);
    let _ = std::fs::remove_file(&log);
    bail!(
        "no tunnel to cluster {path} in the background, {} not written: {failed}; it said:\n{}",
        file.display(),
        tail(&said, TAIL)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_process_runs_the_same_command_recording_itself() {
        let args = ["kubeconfig", "lab/0", "--detach", "--write", "f", "-v"].map(OsString::from);
        assert_eq!(
            child_args(args),
            ["kubeconfig", "lab/0", "--write", "f", "-v", "--detached"].map(OsString::from)
        );
    }

    #[test]
    fn the_line_names_the_file_port_pid_and_how_to_stop_it() {
        let s = Detached {
            pid: 4242,
            path: "lab/0".into(),
            file: "/tmp/lab-0.kubeconfig".into(),
            port: 40123,
            context: "kind-kind".into(),
        };
        let line = started(&s);
        assert!(!line.contains('\n'), "{line}");
        for part in [
            "wrote /tmp/lab-0.kubeconfig",
            "127.0.0.1:40123",
            "pid 4242",
            "`kubectl inception disconnect lab/0` stops it",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
    }

    #[test]
    fn a_failure_shows_the_last_lines_said() {
        let log: String = (1..=15).map(|i| format!("line {i}\n\n")).collect();
        let t = tail(&log, 3);
        assert_eq!(t, "line 13\nline 14\nline 15");
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("only\n", 3), "only");
    }
}
