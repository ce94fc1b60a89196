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

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
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

use crate::cli::{Global, LoadArgs};
use crate::{client, reach, wait};

/// The command run in the node container; the archive comes on stdin.
pub const IMPORT: [&str; 6] = ["ctr", "-n", "k8s.io", "images", "import", "-"];
/// Node Pods importing one archive at once.
const PARALLEL: usize = 4;
/// Ways to make an archive, for error messages.
const HOW_TO_MAKE: &str = "make one with `docker save -o FILE IMAGE`, \
    `ctr images export FILE IMAGE` or `skopeo copy docker://IMAGE oci-archive:FILE:NAME`";
/// The last line of a successful load.
pub const LATER_NODES: &str =
    "nodes added later do not have these images: run load again after scale";

/// The two layouts `ctr images import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// An OCI image layout: `oci-layout` and `index.json`.
    Oci,
    /// `docker save`: `manifest.json`.
    Docker,
}

/// Which image archive a tar holding regular files `names` is, as
/// containerd reads it: an `oci-layout` file makes it an OCI layout (which
/// then needs `index.json`), else `manifest.json` a `docker save` archive.
pub fn archive_kind<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<ArchiveKind> {
    let (mut layout, mut index, mut manifest) = (false, false, false);
    for n in names {
        match n {
            "oci-layout" => layout = true,
            "index.json" => index = true,
            "manifest.json" => manifest = true,
            _ => {}
        }
    }
    match (layout, index, manifest) {
        (true, true, _) => Some(ArchiveKind::Oci),
        (true, false, _) => None,
        (false, _, true) => Some(ArchiveKind::Docker),
        _ => None,
    }
}

/// Why a tar is no image archive, in words, for `names` with no kind.
fn missing_files<'a>(names: impl IntoIterator<Item = &'a str>) -> &'static str {
    let names: Vec<&str> = names.into_iter().collect();
    let has = |f: &str| names.contains(&f);
    if has("oci-layout") {
        "oci-layout but no index.json"
    } else if has("index.json") {
        "index.json but no oci-layout"
    } else {
        "no index.json or manifest.json"
    }
}

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

/// The compression a file starting with `head` has, if any: ctr reads
/// plain tar only.
pub fn compression(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(("gzip", "gunzip -k"))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(("zstd", "zstd -d"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(("xz", "xz -dk"))
    } else if head.starts_with(b"BZh") {
        Some(("bzip2", "bunzip2 -k"))
    } else {
        None
    }
}

/// Tar paths as containerd compares them (Go's `path.Clean`, without `..`).
fn clean(name: &str) -> String {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if name.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Paths of the regular files in a tar, cleaned, read with the `tar`
/// crate (headers checked, data skipped); an error in words when it is no
/// tar or is cut short. A tar may end without its end-of-archive marker:
/// the stream sent to the nodes always gets one.
pub fn tar_file_names<R: Read>(r: R) -> Result<Vec<String>, String> {
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| format!("cannot read it: {e}"))?;
    let mut names = Vec::new();
    let mut any = false;
    for entry in entries {
        let entry = entry.map_err(|e| {
            if any {
                format!("cut short or damaged after {} files: {e}", names.len())
            } else {
                "not a tar file".to_string()
            }
        })?;
        any = true;
        if entry.header().entry_type().is_file() {
            let path = entry
                .path()
                .map_err(|e| format!("a file name it holds is not valid: {e}"))?;
            names.push(clean(&path.to_string_lossy()));
        }
    }
    if !any {
        return Err("not a tar file".into());
    }
    Ok(names)
}

/// An archive that passed the checks.
#[derive(Debug)]
struct Archive {
    path: PathBuf,
    kind: ArchiveKind,
    size: u64,
}

impl Archive {
    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Exists, is a readable regular file, and is a tar `ctr` can import.
fn check_archive(path: &Path) -> Result<Archive> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "archive {shown}: no such file: give the path of an image archive ({HOW_TO_MAKE})"
            )
        }
        Err(e) => bail!("archive {shown}: cannot read it: {e}"),
    };
    if meta.is_dir() {
        bail!(
            "archive {shown} is a directory: give a tar file (for an OCI layout directory: `tar -cf {}.tar -C {shown} .`)",
            shown.to_string().trim_end_matches('/')
        );
    }
    if !meta.is_file() {
        bail!(
            "archive {shown} is not a regular file: every node gets the whole file, so save the image to a file first ({HOW_TO_MAKE})"
        );
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    let len = meta.len();
    let mut head = [0u8; 8];
    let n = file
        .read(&mut head)
        .map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    if let Some((what, undo)) = compression(&head[..n]) {
        bail!(
            "archive {shown} is {what}-compressed: ctr imports plain tar archives only; decompress it first (`{undo} {shown}`)"
        );
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| anyhow!("archive {shown}: cannot read it: {e}"))?;
    let names = tar_file_names(std::io::BufReader::new(file))
        .map_err(|why| anyhow!("archive {shown} is not an image archive ({why}): {HOW_TO_MAKE}"))?;
    let kind = archive_kind(names.iter().map(String::as_str)).ok_or_else(|| {
        anyhow!(
            "archive {shown} is not an image archive ({}): {HOW_TO_MAKE}",
            missing_files(names.iter().map(String::as_str))
        )
    })?;
    Ok(Archive {
        path: path.to_path_buf(),
        kind,
        size: len,
    })
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
    let multi = indicatif::MultiProgress::new();
    for archive in archives {
        let bars: Vec<_> = nodes
            .iter()
            .map(|n| {
                wait::bar(
                    &multi,
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

    /// A ustar archive of regular files.
    fn tar(entries: &[(&str, &[u8])], end: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        let mut out = b.into_inner().unwrap();
        if !end {
            out.truncate(out.len() - 1024);
        }
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<String>, String> {
        tar_file_names(std::io::Cursor::new(bytes))
    }

    #[test]
    fn kinds_as_containerd_reads_them() {
        use ArchiveKind::*;
        assert_eq!(
            archive_kind(["oci-layout", "index.json", "blobs/sha256/ab"]),
            Some(Oci)
        );
        assert_eq!(
            archive_kind(["manifest.json", "abc/layer.tar"]),
            Some(Docker)
        );
        // Docker 25+ writes both: containerd prefers the OCI layout.
        assert_eq!(
            archive_kind(["manifest.json", "index.json", "oci-layout"]),
            Some(Oci)
        );
        assert_eq!(archive_kind(["oci-layout", "manifest.json"]), None);
        assert_eq!(archive_kind(["index.json"]), None);
        assert_eq!(archive_kind(["etc/passwd"]), None);
        assert_eq!(archive_kind([]), None);
        assert_eq!(
            missing_files(["index.json"]),
            "index.json but no oci-layout"
        );
        assert_eq!(missing_files(["a"]), "no index.json or manifest.json");
    }

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

    #[test]
    fn compressed_archives_are_named() {
        assert_eq!(compression(&[0x1f, 0x8b, 8]).unwrap().0, "gzip");
        assert_eq!(compression(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap().0, "zstd");
        assert_eq!(compression(b"index.json"), None);
    }

    #[test]
    fn tar_headers_list_the_files() {
        let t = tar(
            &[
                ("./oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}"),
                ("./index.json", b"{}"),
                ("blobs/sha256/00", &[7u8; 700]),
            ],
            true,
        );
        assert_eq!(
            names(&t).unwrap(),
            ["oci-layout", "index.json", "blobs/sha256/00"]
        );
        // No end marker: the stream sent to the nodes gets one.
        let t = tar(&[("manifest.json", b"[]")], false);
        assert_eq!(names(&t).unwrap(), ["manifest.json"]);
    }

    #[test]
    fn not_tars_and_cut_tars_are_refused() {
        assert_eq!(names(b"").unwrap_err(), "not a tar file");
        let text = b"hello, this is not a tar file\n".repeat(40);
        assert_eq!(names(&text).unwrap_err(), "not a tar file");
        assert_eq!(names(&[0u8; 2048]).unwrap_err(), "not a tar file");
        let t = tar(&[("manifest.json", &[b'x'; 2000])], true);
        let cut = &t[..1024];
        assert!(names(cut).unwrap_err().contains("cut short"), "{cut:?}");
        let mut bad = t.clone();
        bad[10] ^= 1;
        assert_eq!(names(&bad).unwrap_err(), "not a tar file");
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean("./a//b/./c"), "a/b/c");
        assert_eq!(clean("/index.json"), "/index.json");
    }
}
