//! `load PATH ARCHIVE...`: image archives into every node of a cluster at
//! any depth, like `kind load image-archive`. Each archive is streamed on
//! the stdin of `ctr images import -` exec'd in each node Pod, through the
//! parent's API (reached through the tunnels of the levels above).
//!
//! Archives are checked before any cluster is contacted, by reading their
//! tar headers here rather than with the `tar` crate: the walk also proves
//! that every entry's data is in the file, and the plugin's manifest stays
//! as it is. The stream sent to each node always ends with the tar
//! end-of-archive marker: ctr stops reading there, so stdin never has to be
//! closed, which the exec protocol of Kubernetes before 1.29 cannot do
//! without closing the whole exec, status included.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, ListParams};
use nesting::manifests::NODE_CONTAINER;
use nesting::{ClusterPath, labels};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod archive;

use self::archive::{Archive, check_archive};
use crate::cli::{Global, LoadArgs};
use crate::progress::Progress;
use crate::{client, reach};

/// The command run in the node container; the archive comes on stdin.
pub const IMPORT: [&str; 6] = ["ctr", "-n", "k8s.io", "images", "import", "-"];
/// Node Pods importing one archive at once.
const PARALLEL: usize = 4;
/// The last line of a successful load.
pub const LATER_NODES: &str =
    "nodes added later do not have these images: run load again after scale";

/// The images `ctr images import` brought, from its output: one
/// `unpacking NAME (sha256:...)...done` line each.
pub fn imported_images(ctr_stdout: &str) -> Vec<String> {
    ctr_stdout
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("unpacking ")?;
            let (name, rest) = rest.split_once(" (")?;
            let (digest, rest) = rest.split_once(")...")?;
            (digest.contains(':') && rest.trim() == "done" && !name.is_empty())
                .then(|| name.to_string())
        })
        .collect()
}

/// The exit code in an exec's failure status, when the process ran.
pub fn exit_code(status: &Status) -> Option<i32> {
    let causes = status.details.as_ref()?.causes.as_ref()?;
    causes
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.trim().parse().ok())
}

/// The last `n` non-empty lines of `text`, joined with " / ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

pub async fn load(global: &Global, args: &LoadArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    // Every archive, before any cluster is contacted; all bad ones at once.
    let mut archives = Vec::new();
    let mut bad = Vec::new();
    for a in &args.archives {
        match check_archive(a) {
            Ok(a) => archives.push(a),
            Err(e) => bad.push(format!("{e:#}")),
        }
    }
    if !bad.is_empty() {
        bail!("{}\nnothing was imported", bad.join("\n"));
    }
    for a in &archives {
        tracing::info!(archive = %a.path.display(), kind = ?a.kind, bytes = a.size, "archive checked");
    }
    let root = client::connect(global).await?;
    let chain = reach::reach(&root.client, &path).await?;
    let ns = &chain.namespace;
    load_into(
        &Api::namespaced(chain.parent.clone(), ns),
        &path,
        ns,
        &archives,
        args.timeout,
        out,
    )
    .await
}

/// The Running node Pods of cluster `path`, by name; writes a line for
/// each one that is not running.
async fn node_pods(
    pods: &Api<Pod>,
    path: &ClusterPath,
    ns: &str,
    out: &mut impl Write,
) -> Result<Vec<String>> {
    let selector = format!("{},{}={}", labels::ROLE, labels::PATH, path.dotted());
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .with_context(|| format!("cannot list the node Pods of cluster {path} (namespace {ns})"))?
        .items;
    let mut running = Vec::new();
    let mut others = Vec::new();
    for p in list {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = p.metadata.name.unwrap_or_default();
        let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Running" {
            running.push(name);
        } else {
            others.push((name, phase));
        }
    }
    running.sort();
    others.sort();
    if running.is_empty() {
        let found = if others.is_empty() {
            "none at all".to_string()
        } else {
            others
                .iter()
                .map(|(n, p)| format!("{n} {p}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "cluster {path} has no Running node Pods in namespace {ns} ({found}): \
             wait for `kubectl inception up` to finish (`kubectl inception tree` shows the cluster); nothing was imported"
        );
    }
    for (n, phase) in &others {
        writeln!(
            out,
            "{path} {n}: skipped (Pod is {phase}): run load again once it runs"
        )?;
    }
    Ok(running)
}

async fn load_into(
    pods: &Api<Pod>,
    path: &ClusterPath,
    ns: &str,
    archives: &[Archive],
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let nodes = node_pods(pods, path, ns, out).await?;
    let several = archives.len() > 1;
    let mut failures = Vec::new();
    let mut imported = 0;
    for archive in archives {
        let bars: Vec<_> = nodes
            .iter()
            .map(|n| {
                Progress::new(
                    n.clone(),
                    &format!(
                        "importing {} ({:.1} MiB)",
                        archive.file_name(),
                        archive.size as f64 / 1048576.0
                    ),
                )
            })
            .collect();
        let results: Vec<Result<(Vec<String>, Duration)>> =
            futures::stream::iter(nodes.iter().zip(&bars).map(|(node, pb)| async move {
                let r = import(pods, node, archive, timeout).await;
                pb.finish_and_clear();
                r
            }))
            .buffered(PARALLEL)
            .collect()
            .await;
        let from = if several {
            format!(" from {}", archive.file_name())
        } else {
            String::new()
        };
        for (node, r) in nodes.iter().zip(results) {
            match r {
                Ok((images, took)) => {
                    imported += 1;
                    writeln!(
                        out,
                        "{path} {node}: imported {}{from} ({:.1}s)",
                        images.join(", "),
                        took.as_secs_f64()
                    )?;
                }
                Err(e) => {
                    failures.push(format!("{path} {node}: {}: {e:#}", archive.path.display()))
                }
            }
        }
        out.flush()?;
    }
    if imported > 0 {
        writeln!(out, "{LATER_NODES}")?;
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} imports into cluster {path} failed:\n  {}",
            failures.len(),
            nodes.len() * archives.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Imports `archive` in node Pod `pod`: the images it brought and the time.
async fn import(
    pods: &Api<Pod>,
    pod: &str,
    archive: &Archive,
    timeout: Duration,
) -> Result<(Vec<String>, Duration)> {
    let start = Instant::now();
    let images = tokio::time::timeout(timeout, import_once(pods, pod, archive))
        .await
        .map_err(|_| {
            anyhow!(
                "ctr did not finish in {} (--timeout)",
                humantime::format_duration(timeout)
            )
        })??;
    Ok((images, start.elapsed()))
}

async fn import_once(pods: &Api<Pod>, pod: &str, archive: &Archive) -> Result<Vec<String>> {
    let ap = AttachParams::default()
        .container(NODE_CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .max_stdin_buf_size(1 << 20)
        .max_stdout_buf_size(64 << 10)
        .max_stderr_buf_size(64 << 10);
    let mut proc = pods
        .exec(pod, IMPORT, &ap)
        .await
        .with_context(|| format!("cannot run ctr in container {NODE_CONTAINER}"))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr), Some(status)) = (
        proc.stdin(),
        proc.stdout(),
        proc.stderr(),
        proc.take_status(),
    ) else {
        bail!("the exec gave no stdin, stdout, stderr or status");
    };
    let file = archive.path.clone();
    let feed = async move {
        let mut f = tokio::fs::File::open(&file).await?;
        tokio::io::copy(&mut f, &mut stdin).await?;
        // The end-of-archive marker, in case the file has none: ctr stops
        // there. stdin stays open until ctr has exited (see the module doc).
        stdin.write_all(&[0u8; 1024]).await?;
        stdin.flush().await?;
        Ok::<_, std::io::Error>(stdin)
    };
    let read_out = async {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).await.map(|_| b)
    };
    let read_err = async {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).await.map(|_| b)
    };
    // stdout and stderr end when the exec does, so stdin is held until then.
    let (fed, out, err) = tokio::join!(feed, read_out, read_err);
    let status = status.await;
    let fed = fed.map(drop);
    let _ = proc.join().await;
    let out = String::from_utf8_lossy(&out.unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err.unwrap_or_default()).into_owned();
    let said = if err.trim().is_empty() { &out } else { &err };
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => {}
        Some(s) => match exit_code(&s) {
            Some(code) => bail!("ctr exited with code {code}: {}", last_lines(said, 3)),
            None => bail!(
                "ctr failed: {} {}",
                s.message.unwrap_or_default(),
                last_lines(said, 3)
            ),
        },
        None => {
            let why = match fed {
                Err(e) => format!(" (sending the archive: {e})"),
                Ok(()) => String::new(),
            };
            bail!(
                "the exec ended without an exit status{why}: {}",
                last_lines(said, 3)
            );
        }
    }
    let images = imported_images(&out);
    if images.is_empty() {
        bail!(
            "ctr imported no named image: the archive names none (tag the image before saving it); ctr said: {}",
            last_lines(&format!("{out}\n{err}"), 3)
        );
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctr_output_names_the_images() {
        let out = "unpacking localhost/foo:1 (sha256:0123abcd)...done\n\
                   unpacking docker.io/library/busybox:latest (sha256:ffee)...done\n";
        assert_eq!(
            imported_images(out),
            ["localhost/foo:1", "docker.io/library/busybox:latest"]
        );
        // An unpack that did not finish brought nothing usable.
        assert!(imported_images("unpacking localhost/foo:1 (sha256:0123)...").is_empty());
        assert!(imported_images("").is_empty());
        assert!(imported_images("ctr: unrecognized image format").is_empty());
    }

    #[test]
    fn exit_codes_and_last_lines() {
        let s: Status = serde_json::from_value(serde_json::json!({
            "metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [ctr], exit code 1",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "1"}]}
        }))
        .unwrap();
        assert_eq!(exit_code(&s), Some(1));
        assert_eq!(exit_code(&Status::default()), None);
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b / c");
        assert_eq!(last_lines("", 3), "");
    }
}
